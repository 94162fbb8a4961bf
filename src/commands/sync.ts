// `r2mirror sync`: reconcile every configured folder once, print a summary, exit with a code that says how it went.
// Must not: reconcile itself (the engine does), touch `process`, or print a credential.

import type { BandwidthEntry, MaxDelete } from '../config.js';
import { parseMaxDelete } from '../config.js';
import { UsageError, printable, scrub } from '../errors.js';
import { Engine, type SyncReport } from '../engine.js';
import type { Logger } from '../log.js';
import { billLine, bwlimitOption, withBandwidth, checkFolderNames, configPath, formatBytes, wrap, logLevelOption, num, parseCommand, reportError, setup, whenAgo } from './common.js';
import type { Command, CommandContext } from './context.js';
import { writeJson } from './json-out.js';
import { PROGRESS_OPTIONS, progressLine, progressOption } from './progress.js';

/** Parsed `sync` options. */
export interface SyncArgs {
  config: string;
  folders: string[];
  dryRun: boolean;
  json: boolean;
  maxDelete?: MaxDelete | undefined;
  allowEmpty: boolean;
  trustState: boolean;
  logLevel?: string | undefined;
  /** -1 quiet, 0, or the number of -v (common.ts levelFor). */
  verbosity: number;
  /** --progress / --no-progress; undefined: a progress line when stderr is a terminal and not -q. */
  progress?: boolean | undefined;
  /** --bwlimit, in place of the config's bandwidth. */
  bandwidth?: readonly BandwidthEntry[] | undefined;
}

/** Parse the arguments after `sync`. Throws UsageError. */
export function parseSyncArgs(argv: readonly string[], env: CommandContext['env']): SyncArgs {
  const { values: v, verbosity } = parseCommand('sync', argv, {
    config: { type: 'string', short: 'c' }, folder: { type: 'string', short: 'f', multiple: true },
    'dry-run': { type: 'boolean', short: 'n' }, json: { type: 'boolean' }, 'max-delete': { type: 'string' },
    'allow-empty': { type: 'boolean' }, 'trust-state': { type: 'boolean' }, 'log-level': { type: 'string' },
    bwlimit: { type: 'string' }, ...PROGRESS_OPTIONS,
  }, 0);
  return {
    config: configPath(v.config, env), folders: [...new Set(v.folder ?? [])], dryRun: !!v['dry-run'], json: !!v.json,
    maxDelete: maxDeleteOption(v['max-delete']), allowEmpty: !!v['allow-empty'], trustState: !!v['trust-state'], logLevel: logLevelOption(v['log-level']),
    verbosity, progress: progressOption('sync', v), ...(v.bwlimit !== undefined ? { bandwidth: bwlimitOption(v.bwlimit) } : {}),
  };
}

/** The --max-delete value in the config's maxDelete grammar (config/units.ts): "5000", "25%", "12.5%". */
export function maxDeleteOption(s: string | undefined): MaxDelete | undefined {
  if (s === undefined) return undefined;
  const m = parseMaxDelete(s);
  if (!m) throw new UsageError(`--max-delete takes a count (5000) or a percentage up to 100% (got "${s}")`);
  return m;
}

export const syncCommand: Command = {
  name: 'sync',
  run: runSync,
};

async function runSync(ctx: CommandContext): Promise<number> {
  const secrets: string[] = [];
  let engine: Engine | undefined;
  try {
    const args = parseSyncArgs(ctx.args, ctx.env);
    const progress = progressLine(ctx.stderr, args, 'r2mirror');
    const { config, credentials, log } = setup(ctx, {
      config: args.config, logLevel: args.logLevel, verbosity: args.verbosity, secrets,
      out: { write: (s: string) => (progress ? progress.log(s) : ctx.stderr.write(s)) },
      // A --folder typo is a usage error: refuse it before credentials are needed or the state DB is created.
      check: (c) => checkFolderNames(c, args.folders),
    });
    engine = Engine.open(withBandwidth(config, args.bandwidth), credentials, log, { dryRun: args.dryRun });
    // SIGTERM/SIGINT end the run within daemon.stopTimeout, however it is stuck.
    ctx.stopDeadline(config.daemon.stopTimeout);
    const onAbort = () => log.warn({ reason: String((ctx.signal.reason as Error)?.message) }, 'stopping: finishing nothing new, aborting transfers (send again to exit at once)');
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    progress?.start(engine.progress);
    let report: SyncReport;
    try {
      report = await engine.syncOnce({
        folders: args.folders, dryRun: args.dryRun, maxDelete: args.maxDelete, allowEmpty: args.allowEmpty, trustState: args.trustState, signal: ctx.signal,
      });
    } finally {
      progress?.stop();
      ctx.signal.removeEventListener('abort', onAbort);
    }
    if (args.json) writeJson(ctx.stdout, report, secrets);
    else if (args.verbosity >= 0 || !report.ok) ctx.stdout.write(scrub(formatReport(report, Date.now(), ctx.stdout.columns), secrets));
    if (!ctx.stderr.isTTY) logSummary(log, report); // on a terminal the summary says it
    return report.exitCode;
  } catch (err) {
    return reportError(ctx, err, secrets);
  } finally {
    engine?.close();
  }
}

function logSummary(log: Logger, r: SyncReport): void {
  log.info({ ...r.totals, ops: r.ops, durationMs: r.durationMs, dryRun: r.dryRun }, 'sync finished');
}



const LISTED_BECAUSE: Record<string, string> = {
  'never listed': 'never listed for this bucket and prefix',
  'listing due': 'the last listing is older than daemon.verifyInterval',
  'unclean stop': 'an unclean stop left the state DB doubtful',
};

/** `--trust-state`: whether the bucket was listed or the state DB trusted, and when it was last listed. */
function listingLine(l: NonNullable<SyncReport['folders'][number]['listing']>, now: number): string {
  const last = `last listed ${whenAgo(l.lastListedAt, now)}`;
  if (!l.listed) return `state DB trusted, bucket not listed (${last})`;
  return `bucket listed: ${LISTED_BECAUSE[l.why ?? ''] ?? l.why}${l.lastListedAt ? ` (${last})` : ''}`;
}

/** The counters of a folder's summary, in the order shown; a row is shown only when its count is not zero. */
const ROWS: readonly [string, (f: SyncReport['folders'][number]) => [number, number?]][] = [
  ['uploaded', (f) => [f.uploaded.files, f.uploaded.bytes]],
  ['resumed', (f) => [f.resumed.files, f.resumed.bytes]],
  ['adopted', (f) => [f.adopted.files, f.adopted.bytes]],
  ['renamed', (f) => [f.copied.files]],
  ['deleted', (f) => [f.deleted]],
  ['trashed', (f) => [f.trashed]],
  ['unchanged', (f) => [f.unchanged]],
  ['skipped', (f) => [f.skipped.length]],
  ['failed', (f) => [f.failed.length]],
];

/** A folder's counters as a short table: `uploaded  1,234  1.2 GiB`, zero counters left out. */
function counterRows(f: SyncReport['folders'][number]): string[] {
  const rows = ROWS.map(([label, get]) => [label, ...get(f)] as const).filter(([, n]) => n > 0);
  if (!rows.length) return ['    nothing to mirror: no files'];
  const width = Math.max(...rows.map(([, n]) => num(n).length));
  return rows.map(([label, n, bytes]) => `    ${label.padEnd(10)}${num(n).padStart(width)}${bytes ? `  ${formatBytes(bytes)}` : ''}`);
}

/** The human summary printed at the end of `sync`, each line wrapped to `columns` (a terminal's width). */
export function formatReport(r: SyncReport, now = Date.now(), columns?: number): string {
  const lines: string[] = [];
  lines.push(`r2mirror sync${r.dryRun ? ' --dry-run' : ''}: ${r.ok ? 'done' : 'finished with problems'} in ${(r.durationMs / 1000).toFixed(1)} s`);
  for (const f of r.folders) {
    if (r.dryRun && f.planned) {
      lines.push(`  ${f.name} (${f.path}): would do ${f.planned.length} action(s), ${num(f.unchanged)} unchanged`);
      for (const p of f.planned.head(1000)) {
        const extra = (p.from ? ` (renamed from ${p.from})` : p.to ? ` -> ${p.to}` : p.reason ? ` (${p.reason}${p.size !== undefined ? `, ${formatBytes(p.size)}` : ''})` : '') +
          (p.renamedTo ? ` (renamed to ${p.renamedTo})` : '');
        lines.push(`    ${p.action.padEnd(6)} ${p.key}${extra}`);
      }
      if (f.planned.length > 1000) lines.push(`    ... and ${num(f.planned.length - 1000)} more (use --json for all)`);
    } else {
      lines.push(`  ${f.name} (${f.path})`, ...counterRows(f));
    }
    if (f.listing) lines.push(`    ${listingLine(f.listing, now)}`);
    if (f.error) lines.push(`    ERROR: ${f.error}`);
    for (const x of f.failed.slice(0, 50)) lines.push(`    failed: ${x.rel}: ${x.reason}`);
    if (f.failed.length > 50) lines.push(`    ... and ${num(f.failed.length - 50)} more failures (use --json for all)`);
    for (const x of f.skipped.slice(0, 20)) lines.push(`    skipped: ${x.rel}: ${x.reason}`);
    if (f.skipped.length > 20) lines.push(`    ... and ${num(f.skipped.length - 20)} more skipped`);
  }
  lines.push(billLine(r.ops));
  if (r.estimate) lines.push(billLine({ ...r.estimate, byOp: {} }, 'R2 operations the plan would spend'));
  // Names and reasons carry whatever a file name holds: escape it per line, so no name can drive the terminal.
  return lines.flatMap((l) => wrap(printable(l), columns)).join('\n') + '\n';
}
