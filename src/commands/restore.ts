// `r2mirror restore`: parse the arguments, run the restore pipeline (src/restore/run.ts), print its report
// (human or --json) and return its exit code. Every file is checked against its ETag; see src/restore/.
// Must not: hold the pipeline (queue, retries, ETag checks, file placement), write files, or open the state DB.

import path from 'node:path';
import type { BandwidthEntry } from '../config.js';
import { UsageError, printable, scrub } from '../errors.js';
import { Bucket } from '../remote/bucket.js';
import type { RestoreReport } from '../restore/report.js';
import { prefixProblem } from '../restore/rules.js';
import { TargetError, prepareTarget, restore } from '../restore/run.js';
import { billLine, bwlimitOption, withBandwidth, checkFolderNames, clientFor, configPath, formatBytes, logLevelOption, num, parseCommand, reportError, setup, wrap } from './common.js';
import type { Command, CommandContext } from './context.js';
import { writeJson } from './json-out.js';
import { PROGRESS_OPTIONS, progressLine, progressOption } from './progress.js';

/** Parsed `restore` options. */
export interface RestoreArgs {
  config: string;
  folder: string;
  /** Absolute. */
  to: string;
  /** Key prefix under the folder's prefix ('' = everything). */
  prefix: string;
  force: boolean;
  dryRun: boolean;
  json: boolean;
  logLevel?: string | undefined;
  /** -1 quiet, 0, or the number of -v. */
  verbosity: number;
  progress?: boolean | undefined;
  /** --bwlimit, in place of the config's bandwidth. */
  bandwidth?: readonly BandwidthEntry[] | undefined;
  /** --from-trash: from the folder's trash prefix instead of its mirror. */
  fromTrash: boolean;
}

/** Parse the arguments after `restore`; relative --to is taken from `cwd`. Throws UsageError. */
export function parseRestoreArgs(argv: readonly string[], env: CommandContext['env'], cwd: string): RestoreArgs {
  const { values: v, verbosity } = parseCommand('restore', argv, {
    config: { type: 'string', short: 'c' }, folder: { type: 'string', short: 'f' }, to: { type: 'string' },
    prefix: { type: 'string' }, force: { type: 'boolean' }, 'dry-run': { type: 'boolean', short: 'n' },
    json: { type: 'boolean' }, 'log-level': { type: 'string' }, bwlimit: { type: 'string' }, 'from-trash': { type: 'boolean' }, ...PROGRESS_OPTIONS,
  }, 0);
  const missing = [v.folder === undefined && '--folder NAME', v.to === undefined && '--to DIR'].filter(Boolean);
  if (missing.length) throw new UsageError(`restore: missing ${missing.join(' and ')}`);
  if (v.to === '') throw new UsageError('restore: --to must not be empty');
  const prefix = v.prefix ?? '';
  const problem = prefixProblem(prefix);
  if (problem) throw new UsageError(`restore: --prefix ${JSON.stringify(prefix)} ${problem}`);
  return {
    config: configPath(v.config, env), folder: v.folder!, to: path.resolve(cwd, v.to!), prefix, force: !!v.force,
    dryRun: !!v['dry-run'], json: !!v.json, logLevel: logLevelOption(v['log-level']),
    verbosity, progress: progressOption('restore', v), fromTrash: !!v['from-trash'], ...(v.bwlimit !== undefined ? { bandwidth: bwlimitOption(v.bwlimit) } : {}),
  };
}

export const restoreCommand: Command = {
  name: 'restore',
  run: runRestore,
};

async function runRestore(ctx: CommandContext): Promise<number> {
  const secrets: string[] = [];
  const t0 = Date.now();
  try {
    const args = parseRestoreArgs(ctx.args, ctx.env, ctx.cwd);
    const line = progressLine(ctx.stderr, args, 'r2mirror restore');
    const { config, credentials, log } = setup(ctx, {
      config: args.config, logLevel: args.logLevel, verbosity: args.verbosity, secrets,
      out: { write: (s: string) => (line ? line.log(s) : ctx.stderr.write(s)) },
      check: (c) => {
        checkFolderNames(c, [args.folder]);
        const f = c.folders.find((x) => x.name === args.folder)!;
        if (args.fromTrash && f.deletes !== 'trash') throw new UsageError(`restore --from-trash: folder ${f.name} keeps no trash (deletes: ${f.deletes}; only deletes: trash moves deleted files to ${f.trashPrefix})`);
      },
    });
    const folder = config.folders.find((f) => f.name === args.folder)!;
    const toReal = await targetOf(args);
    const { client, ops } = clientFor(withBandwidth(config, args.bandwidth), credentials);
    try {
      const report = await restore(config, folder, args, { bucket: new Bucket(client, folder.bucket), toReal, log, signal: ctx.signal, progress: line });
      report.ops = ops.snapshot();
      report.durationMs = Date.now() - t0;
      if (args.json) writeJson(ctx.stdout, report, secrets);
      else if (args.verbosity >= 0 || report.exitCode !== 0) ctx.stdout.write(scrub(formatRestoreReport(report, ctx.stdout.columns), secrets));
      if (!ctx.stderr.isTTY) log.info({ restored: report.restored, bytes: report.bytes, skipped: report.skipped, conflicts: report.conflicts.length,
        failed: report.failed.length, changed: report.changed.length, ops: report.ops, dryRun: report.dryRun }, 'restore finished');
      return report.exitCode;
    } finally {
      client.destroy();
    }
  } catch (err) {
    return reportError(ctx, err, secrets);
  }
}

/** Check --to and create it (not in a dry run): its real path; a target that cannot be used is a usage error. */
async function targetOf(args: RestoreArgs): Promise<string | undefined> {
  try {
    return await prepareTarget(args.to, args.dryRun);
  } catch (err) {
    throw err instanceof TargetError ? new UsageError(err.message) : err;
  }
}

/** The human summary printed at the end of `restore`. */
export function formatRestoreReport(r: RestoreReport, columns?: number): string {
  const lines: string[] = [];
  const verb = r.dryRun ? 'would restore' : 'restored';
  lines.push(`r2mirror restore${r.dryRun ? ' --dry-run' : ''}: folder ${r.folder} (${r.bucket}/${r.prefix}) -> ${r.to}: ` +
    `${verb} ${num(r.restored)} file(s) (${formatBytes(r.bytes)}), ${num(r.skipped)} already identical, ` +
    `${num(r.conflicts.length)} conflict(s), ${num(r.failed.length)} failed, in ${(r.durationMs / 1000).toFixed(1)} s`);
  for (const p of (r.planned ?? []).slice(0, 1000)) lines.push(`    ${p.action.padEnd(7)} ${p.key} -> ${p.path} (${formatBytes(p.size)})`);
  if ((r.planned?.length ?? 0) > 1000) lines.push(`    ... and ${num(r.planned!.length - 1000)} more (use --json for all)`);
  const list = (label: string, items: { key: string; reason: string }[]) => {
    for (const x of items.slice(0, 50)) lines.push(`  ${label}: ${x.key}: ${x.reason}`);
    if (items.length > 50) lines.push(`  ... and ${num(items.length - 50)} more (use --json for all)`);
  };
  list('conflict', r.conflicts);
  list('failed', r.failed);
  list('changed', r.changed);
  lines.push(billLine(r.ops));
  return lines.flatMap((l) => wrap(printable(l), columns)).join('\n') + '\n';
}
