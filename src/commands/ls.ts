// `r2mirror ls [bucket[/prefix]]` and `r2mirror buckets`: list objects (size, date, ETag, key) or buckets, like
// `aws s3 ls`. Output is written page by page, never after collecting the whole listing. Read-only.
// Must not: write to the bucket; hold a whole listing in memory; explain S3 errors itself (errors.ts does).

import { formatBytes, num, clientFor, configPath, parseCommand, reportError, setup } from './common.js';
import type { Command, CommandContext, Output } from './context.js';
import { UsageError, explainS3Error, printable, scrub } from '../errors.js';
import { listBuckets, listPages, type ListedObject } from '../remote/listing.js';

/** One bucket + prefix to list. */
export interface ListTarget {
  readonly bucket: string;
  readonly prefix: string;
}

/** Parsed `ls` options. */
export interface LsArgs {
  config: string;
  /** undefined: the configured folders' bucket/prefix. */
  target?: ListTarget | undefined;
  recursive: boolean;
  json: boolean;
  /** -1 quiet, 0, or the number of -v (common.ts levelFor). */
  verbosity: number;
}

/** Parse the arguments after `ls`. Throws UsageError. */
export function parseLsArgs(argv: readonly string[], env: CommandContext['env']): LsArgs {
  const { values: v, positionals, verbosity } = parseCommand('ls', argv, {
    config: { type: 'string', short: 'c' }, recursive: { type: 'boolean', short: 'r' }, json: { type: 'boolean' },
  }, 1);
  return {
    config: configPath(v.config, env), target: positionals[0] === undefined ? undefined : parseTarget(positionals[0]),
    recursive: !!v.recursive, json: !!v.json, verbosity,
  };
}

/** "bucket", "bucket/prefix" or "s3://bucket/prefix" -> bucket and prefix (kept as typed: "a/b" lists a/b*). */
export function parseTarget(s: string): ListTarget {
  const rest = s.replace(/^(?:s3|r2):\/\//, '');
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1);
  if (bucket === '') throw new UsageError(`ls: "${s}" names no bucket (ls BUCKET or ls BUCKET/PREFIX)`);
  return { bucket, prefix };
}

export const lsCommand: Command = {
  name: 'ls',
  run: runLs,
};

export const bucketsCommand: Command = {
  name: 'buckets',
  run: runBuckets,
};

/** "2026-03-01 12:34:56" in UTC (as `aws s3 ls` prints, without depending on the machine's time zone). */
export function formatDate(d: Date | undefined): string {
  return d ? d.toISOString().replace('T', ' ').slice(0, 19) : '-'.padEnd(19);
}

/** A key printed on one line: keys with control characters are shown JSON-quoted. */
function showKey(key: string): string {
  return printable(key) === key ? key : printable(JSON.stringify(key));
}

/** One `ls` line for an object: date, size in bytes, ETag, key. */
export function objectLine(o: ListedObject): string {
  return `${formatDate(o.lastModified)}  ${String(o.size).padStart(12)}  ${o.etag.padEnd(34)}  ${showKey(o.key)}\n`;
}

/** One `ls` line for a common prefix ("directory"). */
export function prefixLine(prefix: string): string {
  return `${''.padEnd(19)}  ${'PRE'.padStart(12)}  ${''.padEnd(34)}  ${showKey(prefix)}\n`;
}

/** Writes one JSON array, entry by entry, so a long listing is never held in memory. */
class JsonArrayWriter {
  private count = 0;
  constructor(private readonly out: (s: string) => void) {}
  add(entry: unknown): void {
    this.out((this.count++ === 0 ? '[\n' : ',\n') + JSON.stringify(entry));
  }
  end(): void {
    this.out(this.count === 0 ? '[]\n' : '\n]\n');
  }
}

async function runLs(ctx: CommandContext): Promise<number> {
  const secrets: string[] = [];
  let client: { destroy(): void } | undefined;
  try {
    const args = parseLsArgs(ctx.args, ctx.env);
    const { config, credentials } = setup(ctx, { config: args.config, verbosity: args.verbosity, secrets });
    const targets = args.target ? [args.target] : unique(config.folders.map((f) => ({ bucket: f.bucket, prefix: f.prefix })));
    const s3 = clientFor(config, credentials, 2);
    client = s3.client;
    const out = (s: string) => ctx.stdout.write(scrub(s, secrets));
    const json = args.json ? new JsonArrayWriter(out) : undefined;
    const totals = { objects: 0, bytes: 0, prefixes: 0 };
    for (const t of targets) {
      if (!json && targets.length > 1) out(`${printable(`${t.bucket}/${t.prefix}`)}:\n`);
      try {
        for await (const page of listPages(s3.client, t.bucket, t.prefix, { recursive: args.recursive, signal: ctx.signal })) {
          // Objects and prefixes come back in separate lists; merge them back into the server's key order.
          const entries: ({ key: string; o: ListedObject } | { key: string; o?: undefined })[] = [
            ...page.objects.map((o) => ({ key: o.key, o })), ...page.prefixes.map((p) => ({ key: p })),
          ].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
          let text = '';
          for (const e of entries) {
            if (e.o) {
              totals.objects++;
              totals.bytes += e.o.size;
              if (json) json.add({ bucket: t.bucket, key: e.o.key, size: e.o.size, lastModified: e.o.lastModified?.toISOString() ?? null, etag: e.o.etag });
              else text += objectLine(e.o);
            } else {
              totals.prefixes++;
              if (json) json.add({ bucket: t.bucket, prefix: e.key });
              else text += prefixLine(e.key);
            }
          }
          if (text) out(text);
        }
      } catch (err) {
        throw explainS3Error(err, { bucket: t.bucket, endpoint: config.remote.endpoint, configFile: config.file });
      }
    }
    json?.end();
    if (!json && ctx.stdout.isTTY) summary(ctx.stdout, totals);
    return 0;
  } catch (err) {
    return reportError(ctx, err, secrets);
  } finally {
    client?.destroy();
  }
}

function summary(out: Output, t: { objects: number; bytes: number; prefixes: number }): void {
  out.write(`${num(t.objects)} object${t.objects === 1 ? '' : 's'}, ${formatBytes(t.bytes)}${t.prefixes ? `, ${num(t.prefixes)} prefix${t.prefixes === 1 ? '' : 'es'}` : ''}\n`);
}

function unique(targets: ListTarget[]): ListTarget[] {
  const seen = new Set<string>();
  return targets.filter((t) => !seen.has(`${t.bucket}\n${t.prefix}`) && !!seen.add(`${t.bucket}\n${t.prefix}`));
}

async function runBuckets(ctx: CommandContext): Promise<number> {
  const secrets: string[] = [];
  let client: { destroy(): void } | undefined;
  try {
    const { values: v, verbosity } = parseCommand('buckets', ctx.args, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } }, 0);
    const { config, credentials } = setup(ctx, { config: configPath(v.config, ctx.env), verbosity, secrets });
    const s3 = clientFor(config, credentials, 1);
    client = s3.client;
    let list;
    try {
      list = await listBuckets(s3.client, ctx.signal);
    } catch (err) {
      throw explainS3Error(err, { endpoint: config.remote.endpoint, configFile: config.file, admin: true });
    }
    const out = (s: string) => ctx.stdout.write(scrub(s, secrets));
    if (v.json) {
      out(JSON.stringify(list.map((b) => ({ name: b.name, creationDate: b.creationDate?.toISOString() ?? null }))) + '\n');
    } else {
      out(list.map((b) => `${formatDate(b.creationDate)}  ${printable(b.name)}\n`).join(''));
      if (ctx.stdout.isTTY) out(`${num(list.length)} bucket${list.length === 1 ? '' : 's'}\n`);
    }
    return 0;
  } catch (err) {
    return reportError(ctx, err, secrets);
  } finally {
    client?.destroy();
  }
}
