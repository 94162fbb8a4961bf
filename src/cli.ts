#!/usr/bin/env node
// The command line: argv -> commands, signals, output and exit codes. The only module that touches `process`.

import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULTS, loadConfig, loadCredentials, type Config, type MaxDelete } from './config.js';
import { ConfigError, ExitCode, FatalError, describeError, scrub } from './errors.js';
import { Engine, type SyncReport } from './engine.js';
import type { Progress } from './folder.js';
import { createLogger, type Logger } from './log.js';

const VERSION = (JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The text of `r2mirror --help`; test/unit/cli.test.ts keeps it in step with the parser. */
export const HELP = `r2mirror ${VERSION}: mirror local folders to Cloudflare R2 (or any S3-compatible bucket)

Usage:
  r2mirror sync [options]      reconcile every folder once, then exit with a summary
  r2mirror help                show this help
  r2mirror --version           print the version

Options:
  -c, --config FILE        config file (default: $R2MIRROR_CONFIG, else /etc/r2mirror/config.yaml)
  -f, --folder NAME        only this folder (repeat for several)
  -n, --dry-run            print the plan and the R2 operations it would spend; change nothing
      --json               print the summary as one JSON object on stdout
      --max-delete N|P%    override maxDelete for this run (e.g. 5000 or 100%)
      --allow-empty        allow deleting when a folder is empty but objects exist (a disk you really emptied)
      --log-level LEVEL    fatal|error|warn|info|debug|trace|silent (default: config logLevel, ${DEFAULTS.logLevel})
  -h, --help               show this help
  -V, --version            print the version

Credentials: R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY),
remote.credentialsFile, or systemd's $CREDENTIALS_DIRECTORY/credentials.

Output: a progress line on a terminal; JSON log lines (pino) on stderr otherwise; the summary on stdout.
Exit codes: 0 all done, 1 some files failed or deletes were refused, 2 usage, 75 endpoint unreachable or
state DB busy, 78 configuration (bad file, credentials rejected, missing bucket, unusable state DB).
`;

/** Parsed command line. */
export interface CliArgs {
  command: 'sync' | 'help' | 'version';
  config: string;
  folders: string[];
  dryRun: boolean;
  json: boolean;
  maxDelete?: MaxDelete | undefined;
  allowEmpty: boolean;
  logLevel?: string | undefined;
}

class UsageError extends Error {}

/** Parse argv (without node and script). Throws UsageError with a message for the user. */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv], allowPositionals: true, strict: true,
      options: {
        config: { type: 'string', short: 'c' }, folder: { type: 'string', short: 'f', multiple: true },
        'dry-run': { type: 'boolean', short: 'n' }, json: { type: 'boolean' }, 'max-delete': { type: 'string' },
        'allow-empty': { type: 'boolean' }, 'log-level': { type: 'string' }, help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  const [cmd, ...rest] = parsed.positionals;
  let command: CliArgs['command'];
  if (v.version) command = 'version';
  else if (v.help || cmd === 'help' || cmd === undefined) command = 'help';
  else if (cmd === 'sync') command = 'sync';
  else throw new UsageError(`unknown command "${cmd}" (commands: sync, help)`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  let maxDelete: MaxDelete | undefined;
  if (v['max-delete'] !== undefined) {
    const m = /^(\d+)(%?)$/.exec(v['max-delete'].trim());
    if (!m || (m[2] && Number(m[1]) > 100)) throw new UsageError(`--max-delete takes a count (5000) or a percentage up to 100% (got "${v['max-delete']}")`);
    maxDelete = m[2] ? { kind: 'percent', percent: Number(m[1]) } : { kind: 'count', count: Number(m[1]) };
  }
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (v['log-level'] !== undefined && !levels.includes(v['log-level'])) throw new UsageError(`--log-level must be one of ${levels.join(', ')}`);
  return {
    command, config: v.config ?? env.R2MIRROR_CONFIG ?? '/etc/r2mirror/config.yaml', folders: v.folder ?? [],
    dryRun: !!v['dry-run'], json: !!v.json, maxDelete, allowEmpty: !!v['allow-empty'], logLevel: v['log-level'],
  };
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  // The SDK warns on Node 20 about its releases after January 2027; package-lock.json pins the SDK we test.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let args: CliArgs;
  try {
    args = parseCli(argv, process.env);
  } catch (err) {
    process.stderr.write(`r2mirror: ${(err as Error).message}\nTry "r2mirror --help".\n`);
    return ExitCode.USAGE;
  }
  if (args.command === 'help') {
    process.stdout.write(HELP);
    return ExitCode.OK;
  }
  if (args.command === 'version') {
    process.stdout.write(`r2mirror ${VERSION}\n`);
    return ExitCode.OK;
  }
  let secrets: string[] = [];
  const fail = (err: unknown): number => {
    const code = err instanceof ConfigError || err instanceof FatalError ? err.exitCode : ExitCode.SOFTWARE;
    const text = code === ExitCode.SOFTWARE ? `internal error: ${(err as Error)?.stack ?? String(err)}` : describeError(err);
    process.stderr.write(`r2mirror: ${scrub(text, secrets)}\n`);
    return code;
  };
  let config: Config;
  let engine: Engine | undefined;
  try {
    config = loadConfig(args.config, process.env);
    // A --folder typo is a usage error: refuse it before credentials are needed or the state DB is created.
    const unknown = args.folders.find((n) => !config.folders.some((f) => f.name === n));
    if (unknown !== undefined) {
      throw new FatalError(`no folder named "${unknown}" in ${config.file} (folders: ${config.folders.map((f) => f.name).join(', ')})`, ExitCode.USAGE);
    }
    const credentials = loadCredentials(config, process.env);
    secrets = [credentials.secretAccessKey, credentials.accessKeyId];
    const tty = !!process.stderr.isTTY;
    const level = (args.logLevel ?? (tty ? 'warn' : config.logLevel)) as 'info';
    const progress = tty ? new ProgressLine(process.stderr) : undefined;
    const log = createLogger({
      level, secrets, pretty: tty,
      out: { write: (s: string) => (progress ? progress.log(s) : process.stderr.write(s)) },
    });
    engine = Engine.open(config, credentials, log, { dryRun: args.dryRun });
    const controller = new AbortController();
    const onSignal = (sig: NodeJS.Signals) => {
      if (controller.signal.aborted) process.exit(130);
      log.warn({ signal: sig }, 'stopping: finishing nothing new, aborting transfers (send again to exit at once)');
      controller.abort(new Error(`interrupted by ${sig}`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    progress?.start(engine.progress);
    let report: SyncReport;
    try {
      report = await engine.syncOnce({
        folders: args.folders, dryRun: args.dryRun, maxDelete: args.maxDelete, allowEmpty: args.allowEmpty, signal: controller.signal,
      });
    } finally {
      progress?.stop();
    }
    process.stdout.write(scrub(args.json ? JSON.stringify(report) + '\n' : formatReport(report), secrets));
    logSummary(log, report);
    return report.exitCode;
  } catch (err) {
    if ((err as Error)?.message?.startsWith('interrupted by')) {
      process.stderr.write(`r2mirror: ${(err as Error).message}\n`);
      return 130;
    }
    return fail(err);
  } finally {
    engine?.close();
  }
}

function logSummary(log: Logger, r: SyncReport): void {
  log.info({ ...r.totals, ops: r.ops, durationMs: r.durationMs, dryRun: r.dryRun }, 'sync finished');
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
/** 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** 1234567 -> "1,234,567" (without Intl, whose first use costs ~15 ms of start-up). */
const num = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** The human summary printed at the end of `sync`. */
export function formatReport(r: SyncReport): string {
  const lines: string[] = [];
  lines.push(`r2mirror sync${r.dryRun ? ' --dry-run' : ''}: ${r.ok ? 'done' : 'finished with problems'} in ${(r.durationMs / 1000).toFixed(1)} s`);
  for (const f of r.folders) {
    if (r.dryRun && f.planned) {
      lines.push(`  ${f.name} (${f.path}): would do ${f.planned.length} action(s), ${num(f.unchanged)} unchanged`);
      for (const p of f.planned.slice(0, 1000)) {
        const extra = p.from ? ` (renamed from ${p.from})` : p.to ? ` -> ${p.to}` : p.reason ? ` (${p.reason}${p.size !== undefined ? `, ${formatBytes(p.size)}` : ''})` : '';
        lines.push(`    ${p.action.padEnd(6)} ${p.key}${extra}`);
      }
      if (f.planned.length > 1000) lines.push(`    ... and ${num(f.planned.length - 1000)} more (use --json for all)`);
    } else {
      lines.push(`  ${f.name} (${f.path}): uploaded ${num(f.uploaded.files)} (${formatBytes(f.uploaded.bytes)}), adopted ${num(f.adopted.files)}, ` +
        `renamed ${num(f.copied.files)}, deleted ${num(f.deleted)}, trashed ${num(f.trashed)}, unchanged ${num(f.unchanged)}, ` +
        `skipped ${num(f.skipped.length)}, failed ${num(f.failed.length)}`);
    }
    if (f.error) lines.push(`    ERROR: ${f.error}`);
    for (const x of f.failed.slice(0, 50)) lines.push(`    failed: ${x.rel}: ${x.reason}`);
    if (f.failed.length > 50) lines.push(`    ... and ${num(f.failed.length - 50)} more failures (use --json for all)`);
    for (const x of f.skipped.slice(0, 20)) lines.push(`    skipped: ${x.rel}: ${x.reason}`);
    if (f.skipped.length > 20) lines.push(`    ... and ${num(f.skipped.length - 20)} more skipped`);
  }
  const ops = Object.entries(r.ops.byOp).map(([k, v]) => `${k} ${num(v)}`).join(', ');
  lines.push(`R2 operations spent: Class A ${num(r.ops.classA)}, Class B ${num(r.ops.classB)}, free ${num(r.ops.free)}${ops ? ` (${ops})` : ''}`);
  if (r.estimate) lines.push(`R2 operations the plan would spend: Class A ${num(r.estimate.classA)}, Class B ${num(r.estimate.classB)}, free ${num(r.estimate.free)}`);
  return lines.join('\n') + '\n';
}

/** A single redrawn status line on a terminal: files, bytes, rate, ETA. Log lines print above it. */
class ProgressLine {
  private timer: NodeJS.Timeout | undefined;
  private progress: Progress | undefined;
  private shown = false;
  private readonly t0 = Date.now();
  constructor(private readonly out: NodeJS.WriteStream) {}

  start(p: Progress): void {
    this.progress = p;
    this.timer = setInterval(() => this.draw(), 250);
    this.timer.unref();
  }
  log(s: string): void {
    this.clear();
    this.out.write(s);
    this.draw();
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.clear();
  }
  private clear(): void {
    if (this.shown) this.out.write('\r\x1b[2K');
    this.shown = false;
  }
  private draw(): void {
    const p = this.progress;
    if (!p || p.filesTotal === 0) return;
    const secs = (Date.now() - this.t0) / 1000;
    const rate = p.bytesDone / Math.max(secs, 0.001);
    const eta = rate > 0 ? Math.max(0, (p.bytesTotal - p.bytesDone) / rate) : 0;
    const line = `r2mirror: ${num(p.filesDone)}/${num(p.filesTotal)} files, ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}, ` +
      `${formatBytes(rate)}/s, ETA ${eta < 1 ? '<1' : Math.round(eta)} s`;
    this.out.write('\r\x1b[2K' + line.slice(0, (this.out.columns || 120) - 1));
    this.shown = true;
  }
}

// Run when executed directly (bin or `node dist/cli.js`), not when imported by tests.
const invoked = process.argv[1] ? fs.realpathSync(process.argv[1]) : '';
if (invoked && new URL(import.meta.url).pathname === invoked) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (err: unknown) => {
    process.stderr.write(`r2mirror: internal error: ${String((err as Error)?.stack ?? err)}\n`);
    process.exitCode = ExitCode.SOFTWARE;
  });
}
