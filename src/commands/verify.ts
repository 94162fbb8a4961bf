// `r2mirror verify`: parse the arguments, run the verification (src/verify/run.ts), print its report (human or
// --json) and return its exit code: 0 only when bucket, state DB and disk agree key by key (size + ETag). The run
// sends only LIST requests, reads no file a fresh row vouches for and records only its own result; see src/verify/.
// Must not: list the bucket, scan or hash files, retry, or open the state DB (the library does all that).

import type { Config, FolderConfig } from '../config.js';
import { scrub } from '../errors.js';
import type { Difference, DifferenceKind } from '../verify/compare.js';
import type { VerifyReport } from '../verify/report.js';
import { verify } from '../verify/run.js';
import { checkFolderNames, clientFor, configPath, formatBytes, logLevelOption, num, parseCommand, reportError, setup } from './common.js';
import type { Command, CommandContext } from './context.js';
import { writeJson } from './json-out.js';

/** Parsed `verify` options. */
export interface VerifyArgs {
  config: string;
  /** Selected folders, deduplicated; empty: all. */
  folders: string[];
  json: boolean;
  logLevel?: string | undefined;
  /** -1 quiet, 0, or the number of -v (common.ts levelFor). */
  verbosity: number;
}

/** Parse the arguments after `verify`. Throws UsageError. */
export function parseVerifyArgs(argv: readonly string[], env: CommandContext['env']): VerifyArgs {
  const { values: v, verbosity } = parseCommand('verify', argv, {
    config: { type: 'string', short: 'c' }, folder: { type: 'string', short: 'f', multiple: true }, json: { type: 'boolean' },
    'log-level': { type: 'string' },
  }, 0);
  return { config: configPath(v.config, env), folders: [...new Set(v.folder ?? [])], json: !!v.json, logLevel: logLevelOption(v['log-level']), verbosity };
}

export const verifyCommand: Command = {
  name: 'verify',
  run: runVerify,
};

/** Differences printed per folder before "... and N more (use --json)". */
const SHOWN = 100;

async function runVerify(ctx: CommandContext): Promise<number> {
  const secrets: string[] = [];
  let client: { destroy(): void } | undefined;
  try {
    const started = Date.now();
    const args = parseVerifyArgs(ctx.args, ctx.env);
    const { config, credentials, log } = setup(ctx, {
      config: args.config, logLevel: args.logLevel, verbosity: args.verbosity, secrets, check: (c) => checkFolderNames(c, args.folders),
    });
    const names = args.folders.length ? args.folders : config.folders.map((f) => f.name);
    const s3 = clientFor(config, credentials, 4);
    client = s3.client;
    const report = await verify(config, names, { client: s3.client, ops: s3.ops, log, signal: ctx.signal, started });
    if (args.json) writeJson(ctx.stdout, report, secrets);
    else if (args.verbosity >= 0 || report.exitCode !== 0) ctx.stdout.write(scrub(formatVerify(report, config), secrets));
    return report.exitCode;
  } catch (err) {
    return reportError(ctx, err, secrets);
  } finally {
    client?.destroy();
  }
}

/** A key or path on one line: JSON-quoted when it holds control characters (a newline, an escape sequence), as `ls` shows keys. */
function show(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(s) ? JSON.stringify(s) : s;
}

const LABEL: Record<DifferenceKind, string> = {
  'missing-object': 'missing in bucket',
  'extra-object': 'extra in bucket',
  'missing-row': 'missing row',
  'row-without-object': 'row without object',
  'object-differs': 'bucket differs from DB',
  changed: 'changed on disk',
  deleted: 'deleted on disk',
  'not-uploaded': 'not uploaded',
  'cannot-check': 'cannot check',
};

const obj = (o: { size: number; etag: string }) => `${formatBytes(o.size)}, ETag ${o.etag}`;

/** One human line for a difference: label, key, what each side holds. */
export function describeDifference(d: Difference, deletes: FolderConfig['deletes']): string {
  const detail = (() => {
    switch (d.kind) {
      case 'missing-object':
        return `the DB recorded ${obj(d.db!)}, the bucket has no object${d.disk ? '; the file is on disk' : ''}`;
      case 'extra-object':
        return `${obj(d.bucket!)} in the bucket, but no file and no row (sync ${deletes === 'trash' ? 'moves it to the trash' : 'deletes it'})`;
      case 'missing-row':
        return `bucket and file agree (${obj(d.bucket!)}), but the state DB has no row (sync records it without uploading)`;
      case 'row-without-object':
        return `the DB recorded ${obj(d.db!)}, but there is no object and no file (sync forgets the row)`;
      case 'object-differs':
        return `the bucket holds ${obj(d.bucket!)}, the DB recorded ${obj(d.db!)}`;
      case 'changed':
        return `${d.disk!.size !== d.db!.size ? `${formatBytes(d.disk!.size)} now, ${formatBytes(d.db!.size)} recorded` : d.disk!.content === 'differs' ? 'same size, other content' : 'modified since recorded'}; not synced yet`;
      case 'deleted':
        return `the file is gone, bucket and DB still hold it (${obj(d.db!)}); not synced yet`;
      case 'not-uploaded':
        return d.bucket ? `the bucket holds other content (${obj(d.bucket)}) and the DB has no row; not synced yet` : `the file (${formatBytes(d.disk!.size)}) is not in the bucket; not synced yet`;
      case 'cannot-check':
        return d.reason ?? '';
    }
  })();
  return `${LABEL[d.kind]}: ${show(d.key)}: ${show(detail)}`;
}

/** The human report of `verify`. */
export function formatVerify(r: VerifyReport, config: Config): string {
  const lines: string[] = [];
  for (const f of r.folders) {
    const c = f.counts;
    const where = `${f.name}: ${f.path} -> ${f.bucket}/${f.prefix}`;
    const extras = [
      c.kept ? `${num(c.kept)} object(s) kept for deleted files (deletes: keep)` : '',
      c.excluded ? `${num(c.excluded)} excluded key(s) not compared` : '',
    ].filter(Boolean).join(', ');
    const reads = `${num(c.vouched)} vouched for by the state DB, ${num(c.hashed)} read`;
    if (f.ok) lines.push(`${where}: ok: ${num(c.agree)} key${c.agree === 1 ? '' : 's'} agree (${reads})${extras ? `; ${extras}` : ''}`);
    else lines.push(`${where}: ${num(f.differences.length + (f.error ? 1 : 0))} difference(s), ${num(c.agree)} key(s) agree (${reads})${extras ? `; ${extras}` : ''}`);
    if (f.error) lines.push(`  ERROR: ${show(f.error)}`);
    if (f.note) lines.push(`  note: ${f.note}`);
    const deletes = config.folders.find((x) => x.name === f.name)?.deletes ?? 'mirror';
    for (const d of f.differences.slice(0, SHOWN)) lines.push(`  ${describeDifference(d, deletes)}`);
    if (f.differences.length > SHOWN) lines.push(`  ... and ${num(f.differences.length - SHOWN)} more (use --json)`);
  }
  const ops = Object.entries(r.ops.byOp).map(([k, v]) => `${k} ${num(v)}`).join(', ');
  lines.push(`r2mirror verify: ${r.ok ? 'bucket, state DB and disk agree' : 'differences found'} in ${(r.durationMs / 1000).toFixed(1)} s; ` +
    `R2 operations spent: Class A ${num(r.ops.classA)}, Class B ${num(r.ops.classB)}, free ${num(r.ops.free)}${ops ? ` (${ops})` : ''}`);
  return lines.join('\n') + '\n';
}
