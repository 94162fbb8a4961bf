// One mirrored folder: health check, scan + list, plan, guards, run the actions, commit rows after success.
// Reconciles of one folder never overlap (the caller serialises them); rows are written only from outcomes.
// The decisions are pure (plan.ts, policy.ts); the actions run in folder/execute.ts, the listing in folder/list.ts.
// Must not: write a row for anything the server did not confirm, or act on a root that is missing or empty.

import fsp from 'node:fs/promises';
import type { MaxDelete } from './config.js';
import { FolderUnsafeError, classify, describeError, explainS3Error } from './errors.js';
import { partCount, choosePartSize, toKey } from './keys.js';
import { excludedPath, hasRegularFile, makeMatcher, scanFolder, type ScanResult } from './local/scan.js';
import type { Logger } from './log.js';
import { plan, type Action } from './plan.js';
import { checkDeletes, checksDevices, estimate, mustCheckRoot, rootEmptied, suddenlyEmpty, withoutDeletes } from './policy.js';
import type { RemoteObject } from './remote/bucket.js';
import type { ObjectRow } from './state/store.js';
import { deviceMoves, reportDeviceMoves } from './folder/devices.js';
import { resolveForDryRun } from './folder/dry-run.js';
import { ActionRunner } from './folder/execute.js';
import { listRemote } from './folder/list.js';
import { addError, describeAction, emptyReport } from './folder/report.js';

export type { FolderDeps, FolderReport, PlannedAction, Progress, ReconcileOptions, Scope, Tally } from './folder/types.js';
import type { FolderDeps, FolderReport, ReconcileOptions, Scope } from './folder/types.js';

/** What a reconcile saw: the rows, the listing (when it lists) and the scan. */
interface Survey {
  /** The paths of a scoped reconcile; undefined for the whole folder. */
  readonly paths: readonly string[] | undefined;
  readonly list: boolean;
  readonly stored: ReadonlyMap<string, ObjectRow>;
  readonly remote: ReadonlyMap<string, RemoteObject> | undefined;
  readonly scan: ScanResult;
}

/** A mirrored folder. */
export class Folder {
  readonly name: string;
  private readonly log: Logger;
  constructor(private readonly deps: FolderDeps) {
    this.name = deps.config.name;
    this.log = deps.log.child({ folder: deps.config.name });
  }

  /** Reconcile the whole folder once. Throws FatalError (stop everything) and abort; everything else is in the report. */
  async reconcile(opts: ReconcileOptions): Promise<FolderReport> {
    const { config, store, partSize } = this.deps;
    const report = emptyReport(config);
    try {
      await this.checkRoot();
      const seen = await this.survey(opts.scope, opts.signal, report);
      const { actions, total } = this.decide(seen, opts, report);
      // The guard runs once the copies are settled: only then is it known which renames really were renames.
      const guard = (settled: Action[]) => this.guardDeletes(settled, total, opts.maxDelete, report);

      if (opts.dryRun) {
        const resolved = guard(await resolveForDryRun(actions, { root: config.path, followSymlinks: config.followSymlinks, partSize, signal: opts.signal }));
        report.planned = resolved.map(describeAction);
        report.estimate = estimate(resolved, partSize, (size) => partCount(size, choosePartSize(size, partSize)));
        return report;
      }
      await new ActionRunner(this.deps, this.log).run(actions, opts, report, guard);
      // A listing whose deletes a guard held back has not converged: a listing owed since a crash stays owed.
      if (!seen.paths) store.markSynced(config.name, Date.now(), seen.list, seen.list && !report.error);
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

  /** Read the rows, list the bucket (a `listing` scope) while scanning the disk; scan problems go in the report. */
  private async survey(scope: Scope, signal: AbortSignal | undefined, report: FolderReport): Promise<Survey> {
    const { config, store } = this.deps;
    // A changed bucket or prefix makes the stored rows describe other keys, and store.folder() forgets them:
    // only once the new bucket answered the listing, so a typo in "bucket" does not cost the real one's rows.
    const moved = store.moved(config.name, config.bucket, config.prefix);
    if (!moved) store.folder(config.name, config.bucket, config.prefix);
    const t0 = performance.now();
    let listMs = 0;
    const list = scope.kind === 'listing';
    const paths = scope.kind === 'paths' ? scope.paths : undefined;
    if (paths && moved) throw new Error('a scoped reconcile does not follow a moved bucket');
    const scopeKeys = paths?.map((rel) => toKey(config.prefix, rel));
    const stored = moved ? new Map<string, ObjectRow>()
      : scopeKeys ? store.rowsIn(config.name, scopeKeys, scopeKeys.map((k) => k + '/')) : store.rows(config.name);
    const retry = { retries: this.deps.retries, baseMs: this.deps.backoffMs, signal, log: this.log };
    const listing = list ? listRemote(this.deps.bucket, config, [...stored.keys()], retry).then((m) => ((listMs = performance.now() - t0), m)) : undefined;
    listing?.catch(() => undefined); // awaited below; avoid an unhandled rejection if the scan throws first
    const scan = await scanFolder({
      root: config.path, prefix: config.prefix, exclude: config.exclude, followSymlinks: config.followSymlinks,
      alwaysExclude: this.deps.alwaysExclude, signal, only: paths, oneFileSystem: config.oneFileSystem,
    });
    const scanMs = performance.now() - t0;
    const remote = await listing;
    if (moved) store.folder(config.name, config.bucket, config.prefix);
    this.log.debug({ files: scan.files.size, dirs: scan.dirs, scanMs: Math.round(scanMs), listMs: Math.round(listMs), objects: remote?.size, rows: stored.size }, 'scanned and listed');
    for (const p of scan.problems) (p.kind === 'failed' ? report.failed : report.skipped).push({ rel: p.rel, reason: p.reason });
    for (const p of scan.problems) this.log[p.kind === 'failed' ? 'error' : 'info']({ rel: p.rel, reason: p.reason }, p.kind === 'failed' ? 'cannot mirror' : 'skipped');
    return { paths, list, stored, remote, scan };
  }

  /** Plan, behind the empty-root and device guards. `total`: the objects the folder holds, for the delete guard. */
  private decide(seen: Survey, opts: ReconcileOptions, report: FolderReport): { actions: Action[]; total: number } {
    const { config, store } = this.deps;
    const { paths, stored, remote, scan } = seen;
    if (!paths) {
      const refusal = suddenlyEmpty({ regularFiles: scan.regularFiles, stored: stored.size, remote: remote?.size ?? 0, allowEmpty: opts.allowEmpty }, config);
      if (refusal) throw new FolderUnsafeError(refusal);
    }
    const moves = checksDevices(config.deletes, opts.allowEmpty) ? deviceMoves(config, store, scan, stored) : [];
    const ig = makeMatcher(config.exclude);
    const { actions, unchanged } = plan({
      local: scan.files, stored, remote, prefix: config.prefix, deletes: config.deletes, trashPrefix: config.trashPrefix,
      unknownPrefixes: [...scan.unknownPrefixes, ...moves.map((c) => toKey(config.prefix, c.rel ? c.rel + '/' : ''))], unknownKeys: scan.unknownKeys,
      excluded: (rel) => excludedPath(ig, rel), deleteExcluded: config.deleteExcluded,
    });
    report.unchanged = unchanged;
    const total = paths ? store.count(config.name).files : Math.max(stored.size, remote?.size ?? 0);
    // A scoped reconcile that would delete while the root holds nothing at all: the disk went away under us.
    if (paths && mustCheckRoot(actions, total, opts.allowEmpty) &&
      !hasRegularFile({ root: config.path, exclude: config.exclude, followSymlinks: config.followSymlinks, alwaysExclude: this.deps.alwaysExclude })) {
      throw new FolderUnsafeError(rootEmptied(total, config));
    }
    if (moves.length) reportDeviceMoves(config, moves, report, this.log);
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
