// One mirrored folder: health check, scan + list, plan, guards, run the actions, commit rows after success.
// Reconciles of one folder never overlap (the caller serialises them); rows are written only from outcomes.
// The decisions are pure (plan.ts, policy.ts); the actions run in folder/execute.ts, the listing in folder/list.ts.
// Must not: write a row for anything the server did not confirm, or act on a root that is missing or empty.

import fsp from 'node:fs/promises';
import type { MaxDelete } from './config.js';
import { FolderUnsafeError, explainS3Error } from './errors.js';
import { partCount, choosePartSize, toKey } from './keys.js';
import { excludedPath, hasRegularFile, makeMatcher, scanFolder, type ScanResult } from './local/scan.js';
import type { Logger } from './log.js';
import { plan, type Action } from './plan.js';
import { checkDeletes, checksDevices, estimate, mustCheckRoot, rootEmptied, withoutDeletes } from './policy.js';
import { SpillList } from './state/spool.js';
import type { ObjectRow } from './state/store.js';
import { deviceMoves, reportDeviceMoves } from './folder/devices.js';
import { resolveForDryRun } from './folder/dry-run.js';
import { ActionRunner } from './folder/execute.js';
import { addError, describeAction, emptyReport } from './folder/report.js';
import { reconcileWhole } from './folder/whole.js';

export { newProgress } from './folder/report.js';
export type { FolderDeps, FolderReport, PlannedAction, Progress, ReconcileOptions, Scope, Tally } from './folder/types.js';
import type { FolderDeps, FolderReport, PlannedAction, ReconcileOptions } from './folder/types.js';

/** What a scoped reconcile saw: the rows of its paths and their scan. */
interface Survey {
  readonly stored: ReadonlyMap<string, ObjectRow>;
  readonly scan: ScanResult;
  readonly report: FolderReport;
}

/** A mirrored folder. */
export class Folder {
  readonly name: string;
  private readonly log: Logger;
  constructor(private readonly deps: FolderDeps) {
    this.name = deps.config.name;
    this.log = deps.log.child({ folder: deps.config.name });
  }

  /** Reconcile the folder once (whole, or the paths of the scope). Throws FatalError (stop everything) and abort; everything else is in the report. */
  async reconcile(opts: ReconcileOptions): Promise<FolderReport> {
    const report = emptyReport(this.deps.config);
    try {
      await this.checkRoot();
      if (opts.scope.kind === 'paths') await this.reconcilePaths(opts.scope.paths, opts, report);
      else await reconcileWhole(this.deps, opts, report, this.log);
      if (report.failed.length > 0) report.ok = false;
      return report;
    } catch (err) {
      if (err instanceof FolderUnsafeError) {
        this.log.error({ err }, 'folder not reconciled');
        report.ok = false;
        report.error = err.message;
        return report;
      }
      throw this.explainFatal(err);
    }
  }

  /** The daemon's reconcile of the paths its watcher named, against their rows: small, so in memory (plan.ts). */
  private async reconcilePaths(paths: readonly string[], opts: ReconcileOptions, report: FolderReport): Promise<void> {
    const { config, partSize } = this.deps;
    const seen = await this.survey(paths, opts.signal, report);
    const { actions, total } = this.decide(seen, opts);
    // The guard runs once the copies are settled: only then is it known which renames really were renames.
    const guard = (settled: Action[]) => this.guardDeletes(settled, total, opts.maxDelete, report);
    if (opts.dryRun) {
      const resolved = guard(await resolveForDryRun(actions, { root: config.path, followSymlinks: config.followSymlinks, partSize, signal: opts.signal }));
      const planned = new SpillList<PlannedAction>();
      for (const a of resolved) planned.push(describeAction(a));
      report.planned = planned;
      report.estimate = estimate(resolved, partSize, (size) => partCount(size, choosePartSize(size, partSize)));
      return;
    }
    await new ActionRunner(this.deps, this.log).run(actions, opts, report, guard);
  }

  /** Read the rows of the paths and stat them; scan problems go in the report. */
  private async survey(paths: readonly string[], signal: AbortSignal | undefined, report: FolderReport): Promise<Survey> {
    const { config, store } = this.deps;
    if (store.moved(config.name, config.bucket, config.prefix)) throw new Error('a scoped reconcile does not follow a moved bucket');
    store.folder(config.name, config.bucket, config.prefix);
    const scopeKeys = paths.map((rel) => toKey(config.prefix, rel));
    const stored = store.rowsIn(config.name, scopeKeys, scopeKeys.map((k) => k + '/'));
    const scan = await scanFolder({
      root: config.path, prefix: config.prefix, exclude: config.exclude, followSymlinks: config.followSymlinks,
      alwaysExclude: this.deps.alwaysExclude, signal, only: paths, oneFileSystem: config.oneFileSystem,
    });
    for (const p of scan.problems) (p.kind === 'failed' ? report.failed : report.skipped).push({ rel: p.rel, reason: p.reason });
    for (const p of scan.problems) this.log[p.kind === 'failed' ? 'error' : 'info']({ rel: p.rel, reason: p.reason }, p.kind === 'failed' ? 'cannot mirror' : 'skipped');
    return { stored, scan, report };
  }

  /** Plan, behind the empty-root and device guards. `total`: the objects the folder holds, for the delete guard. */
  private decide(seen: Survey, opts: ReconcileOptions): { actions: Action[]; total: number } {
    const { config, store } = this.deps;
    const { stored, scan } = seen;
    const moves = checksDevices(config.deletes, opts.allowEmpty) ? deviceMoves(config, store, scan, stored) : [];
    const ig = makeMatcher(config.exclude);
    const { actions, unchanged } = plan({
      local: scan.files, stored, remote: undefined, prefix: config.prefix, deletes: config.deletes, trashPrefix: config.trashPrefix,
      unknownPrefixes: [...scan.unknownPrefixes, ...moves.map((c) => toKey(config.prefix, c.rel ? c.rel + '/' : ''))], unknownKeys: scan.unknownKeys,
      excluded: (rel) => excludedPath(ig, rel), deleteExcluded: config.deleteExcluded,
    });
    seen.report.unchanged = unchanged;
    const total = store.count(config.name).files;
    // A scoped reconcile that would delete while the root holds nothing at all: the disk went away under us.
    if (mustCheckRoot(actions, total, opts.allowEmpty) &&
      !hasRegularFile({ root: config.path, exclude: config.exclude, followSymlinks: config.followSymlinks, alwaysExclude: this.deps.alwaysExclude })) {
      throw new FolderUnsafeError(rootEmptied(total, config));
    }
    if (moves.length) reportDeviceMoves(config, moves, seen.report, this.log);
    return { actions, total };
  }

  /** A missing or non-directory root is an error, never an empty folder (unmounted disks). */
  private async checkRoot(): Promise<void> {
    const p = this.deps.config.path;
    let st;
    try {
      st = await fsp.stat(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new FolderUnsafeError(code === 'ENOENT'
        ? `folder path ${p} does not exist (unmounted disk?); nothing was uploaded or deleted`
        : `folder path ${p} cannot be read: ${(err as Error).message}; nothing was uploaded or deleted`);
    }
    if (!st.isDirectory()) throw new FolderUnsafeError(`folder path ${p} is not a directory; nothing was uploaded or deleted`);
    try {
      await fsp.access(p, fsp.constants.R_OK | fsp.constants.X_OK);
    } catch (err) {
      throw new FolderUnsafeError(`folder path ${p} cannot be read: ${(err as Error).message}; nothing was uploaded or deleted`);
    }
  }

  /** The delete guard (policy.ts): when it refuses, the report says why and every delete is dropped. */
  private guardDeletes(actions: Action[], total: number, max: MaxDelete, report: FolderReport): Action[] {
    const verdict = checkDeletes(actions, total, max, this.deps.config);
    if (!verdict.refused) return actions;
    addError(report, verdict.message);
    this.log.error({ removals: verdict.removals, limit: verdict.limit, reason: verdict.message }, 'deletes refused');
    return withoutDeletes(actions);
  }

  /** Turn a fatal S3 error into a message a user can act on, naming the folder and the bucket (errors.ts's table). */
  private explainFatal(err: unknown): unknown {
    return explainS3Error(err, { folder: this.name, bucket: this.deps.config.bucket, endpoint: this.deps.endpoint });
  }
}
