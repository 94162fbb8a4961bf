// One mirrored folder: health check, scan + list, plan, guards, run the actions, commit rows after success.
// Reconciles of one folder never overlap (the caller serialises them); rows are written only from outcomes.

import { setMaxListeners } from 'node:events';
import { lstatSync, statSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type PQueue from 'p-queue';
import type { FolderConfig, MaxDelete } from './config.js';
import { FatalError, FolderUnsafeError, LOCAL_REQUEST_CODES, classify, describeError, errorCode, httpStatus, ExitCode } from './errors.js';
import { partCount, choosePartSize, toKey } from './keys.js';
import { deviceChanges, deviceName, excludedPath, hasRegularFile, makeMatcher, scanFolder, type DeviceChange, type ScanResult } from './local/scan.js';
import type { Logger } from './log.js';
import { plan, type Action } from './plan.js';
import { deleteLimit, isDelete, isRemoval, settleRenames } from './policy.js';
import type { Bucket, RemoteObject } from './remote/bucket.js';
import { withRetry, type RetryOptions } from './retry.js';
import type { ObjectRow, Store } from './state/store.js';
import { matchesExisting, transferFile, type ByteBudget, type Outcome } from './transfer.js';

/** Counters shown on the progress line, shared by all folders of a run. */
export interface Progress {
  filesTotal: number;
  filesDone: number;
  bytesTotal: number;
  bytesDone: number;
}

/** Files and bytes of one kind of result. */
export interface Tally {
  files: number;
  bytes: number;
}

/** One planned action as `--dry-run` shows it. */
export interface PlannedAction {
  readonly action: 'upload' | 'adopt' | 'copy' | 'delete' | 'trash' | 'forget';
  readonly key: string;
  readonly reason?: string;
  readonly size?: number;
  readonly from?: string;
  readonly to?: string;
  /** A delete or trash that removes the old name of a rename (the copy to this key): not counted as a delete. */
  readonly renamedTo?: string;
}

/** What one reconcile of one folder did (or, in a dry run, would do). */
export interface FolderReport {
  readonly name: string;
  readonly path: string;
  ok: boolean;
  /** Why the folder was not reconciled, or why deletes were refused. */
  error?: string;
  uploaded: Tally;
  adopted: Tally;
  copied: Tally;
  /** Objects deleted (or trashed) because their file was deleted; a rename's old name is counted in `copied`. */
  deleted: number;
  trashed: number;
  unchanged: number;
  skipped: { rel: string; reason: string }[];
  failed: { rel: string; reason: string }[];
  /** Dry runs only: the plan and what it would cost. */
  planned?: PlannedAction[];
  estimate?: { classA: number; classB: number; free: number };
}

/**
 * What one reconcile looks at.
 * - `paths`: only these paths (relative to the root): the daemon's reconcile of what its watcher saw. No listing;
 *   the stored rows of these paths (and of everything under them, for removed directories) are the other side.
 * - `local`: the whole folder against the state DB, without listing the bucket.
 * - `listing`: the whole folder against the DB and a listing of the bucket prefix (finds drift, adopts objects).
 */
export type Scope =
  | { readonly kind: 'paths'; readonly paths: readonly string[] }
  | { readonly kind: 'local' }
  | { readonly kind: 'listing' };

/** Options for one reconcile. */
export interface ReconcileOptions {
  readonly scope: Scope;
  readonly dryRun: boolean;
  readonly maxDelete: MaxDelete;
  readonly allowEmpty: boolean;
  readonly signal?: AbortSignal | undefined;
  readonly progress: Progress;
  /** Once aborted, start no new transfer; running ones finish (a graceful stop). `signal` aborts them too. */
  readonly drain?: AbortSignal | undefined;
}

/** Shared parts a folder needs, wired by the engine. */
export interface FolderDeps {
  readonly config: FolderConfig;
  readonly store: Store;
  readonly bucket: Bucket;
  readonly queue: PQueue;
  readonly budget: ByteBudget;
  readonly log: Logger;
  readonly partSize: number;
  readonly retries: number;
  readonly transfers: number;
  readonly alwaysExclude: readonly string[];
  readonly backoffMs?: number | undefined;
  /** The S3 endpoint URL, named in "did not answer" errors. */
  readonly endpoint?: string | undefined;
}

const COMMIT_EVERY = 200;
const LIST_PAGE = 1000;
const LIST_PARALLEL = 8;

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
    const { config, store } = this.deps;
    const report: FolderReport = {
      name: config.name, path: config.path, ok: true, uploaded: { files: 0, bytes: 0 }, adopted: { files: 0, bytes: 0 },
      copied: { files: 0, bytes: 0 }, deleted: 0, trashed: 0, unchanged: 0, skipped: [], failed: [],
    };
    try {
      await this.checkRoot();
      // A changed bucket or prefix makes the stored rows describe other keys, and store.folder() forgets them:
      // only once the new bucket answered the listing, so a typo in "bucket" does not cost the real one's rows.
      const moved = store.moved(config.name, config.bucket, config.prefix);
      if (!moved) store.folder(config.name, config.bucket, config.prefix);
      const t0 = performance.now();
      let listMs = 0;
      const list = opts.scope.kind === 'listing';
      const scope = opts.scope.kind === 'paths' ? opts.scope.paths : undefined;
      if (scope && moved) throw new Error('a scoped reconcile does not follow a moved bucket');
      const scopeKeys = scope?.map((rel) => toKey(config.prefix, rel));
      const stored = moved ? new Map<string, ObjectRow>()
        : scopeKeys ? store.rowsIn(config.name, scopeKeys, scopeKeys.map((k) => k + '/')) : store.rows(config.name);
      const listing = list ? this.listRemote([...stored.keys()], opts.signal).then((m) => ((listMs = performance.now() - t0), m)) : undefined;
      listing?.catch(() => undefined); // awaited below; avoid an unhandled rejection if the scan throws first
      const scan = await scanFolder({
        root: config.path, prefix: config.prefix, exclude: config.exclude, followSymlinks: config.followSymlinks,
        alwaysExclude: this.deps.alwaysExclude, signal: opts.signal, only: scope, oneFileSystem: config.oneFileSystem,
      });
      const scanMs = performance.now() - t0;
      const remote = await listing;
      if (moved) store.folder(config.name, config.bucket, config.prefix);
      this.log.debug({ files: scan.files.size, dirs: scan.dirs, scanMs: Math.round(scanMs), listMs: Math.round(listMs), objects: remote?.size, rows: stored.size }, 'scanned and listed');
      for (const p of scan.problems) (p.kind === 'failed' ? report.failed : report.skipped).push({ rel: p.rel, reason: p.reason });
      for (const p of scan.problems) this.log[p.kind === 'failed' ? 'error' : 'info']({ rel: p.rel, reason: p.reason }, p.kind === 'failed' ? 'cannot mirror' : 'skipped');
      if (!scope) this.checkNotSuddenlyEmpty(scan, stored.size, remote?.size ?? 0, opts.allowEmpty);

      const moves = opts.allowEmpty || config.deletes === 'keep' ? [] : this.deviceMoves(scan, stored);
      const ig = makeMatcher(config.exclude);
      const { actions, unchanged } = plan({
        local: scan.files, stored, remote, prefix: config.prefix, deletes: config.deletes, trashPrefix: config.trashPrefix,
        unknownPrefixes: [...scan.unknownPrefixes, ...moves.map((c) => toKey(config.prefix, c.rel ? c.rel + '/' : ''))], unknownKeys: scan.unknownKeys,
        excluded: (rel) => excludedPath(ig, rel), deleteExcluded: config.deleteExcluded,
      });
      report.unchanged = unchanged;
      const total = scope ? store.count(config.name).files : Math.max(stored.size, remote?.size ?? 0);
      if (scope && !opts.allowEmpty && actions.some(isRemoval)) this.checkRootNotEmptied(total);
      if (moves.length) this.reportDeviceMoves(moves, report);
      // The guard runs once the copies are settled: only then is it known which renames really were renames.
      const guard = (settled: Action[]) => this.guardDeletes(settled, total, opts.maxDelete, report);

      if (opts.dryRun) {
        const resolved = guard(await this.resolveForDryRun(actions, opts.signal));
        report.planned = resolved.map(describeAction);
        report.estimate = this.estimate(resolved);
        return report;
      }
      await this.execute(actions, opts, report, guard);
      // A listing whose deletes a guard held back has not converged: a listing owed since a crash stays owed.
      if (!scope) store.markSynced(config.name, Date.now(), list, list && !report.error);
      if (report.failed.length > 0) report.ok = false;
      return report;
    } catch (err) {
      if (err instanceof FolderUnsafeError) {
        this.log.error({ reason: err.message }, 'folder not reconciled');
        report.ok = false;
        report.error = err.message;
        return report;
      }
      throw this.explainFatal(err);
    }
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

  private checkNotSuddenlyEmpty(scan: ScanResult, storedCount: number, remoteCount: number, allowEmpty: boolean): void {
    // Only regular files are evidence of a mounted disk: a bare mount point may hold a dangling link or a FIFO.
    if (allowEmpty || scan.regularFiles > 0) return;
    const known = Math.max(storedCount, remoteCount);
    if (known === 0) return;
    throw new FolderUnsafeError(
      `folder path ${this.deps.config.path} is empty, but ${storedCount >= remoteCount ? `the state DB recorded ${storedCount} files from it` : `the bucket holds ${remoteCount} objects under its prefix`} ` +
        `(unmounted disk?); nothing was deleted. If the folder really is empty now, run: r2mirror sync --folder ${this.name} --allow-empty`);
  }

  /** A scoped reconcile that would delete while the root holds nothing at all: the disk went away under us. */
  private checkRootNotEmptied(recorded: number): void {
    const { config } = this.deps;
    if (recorded === 0 || hasRegularFile({ root: config.path, exclude: config.exclude, followSymlinks: config.followSymlinks, alwaysExclude: this.deps.alwaysExclude })) return;
    throw new FolderUnsafeError(`folder path ${this.deps.config.path} is empty, but the state DB recorded ${recorded} files from it ` +
      `(unmounted disk?); nothing was deleted. If the folder really is empty now, run: r2mirror sync --folder ${this.name} --allow-empty`);
  }

  /**
   * Directories whose recorded files are missing and which are on another device now than those files were
   * recorded on: a disk that was mounted there is not (any more). Nothing under them may be removed. A device
   * that was only renumbered (a USB disk after a reboot) is recognised by files still there with their inode.
   */
  private deviceMoves(scan: ScanResult, stored: ReadonlyMap<string, ObjectRow>): DeviceChange[] {
    const unknown = (k: string) => scan.unknownKeys.has(k) || scan.unknownPrefixes.some((p) => k.startsWith(p));
    const missing: ObjectRow[] = []; // a loop, not a copy of every row: only the missing ones are kept
    for (const r of stored.values()) if (r.dev && !scan.files.has(r.key) && !unknown(r.key)) missing.push(r);
    if (missing.length === 0) return [];
    const missingKeys = new Set(missing.map((r) => r.key));
    const renumbered = new Map<string, boolean>();
    return deviceChanges(this.deps.config.path, missing, this.deps.config.followSymlinks).filter((c) => {
      const id = `${c.was}>${c.now}`;
      if (!renumbered.has(id)) renumbered.set(id, this.renumbered(c.was, c.now, missingKeys));
      return !renumbered.get(id);
    });
  }

  /** True when files recorded on device `was` are still here, same inode, on device `now` (checks at most 32). */
  private renumbered(was: string, now: string, missingKeys: ReadonlySet<string>): boolean {
    const { config, store } = this.deps;
    let checked = 0;
    let found = false;
    store.forEachOnDevice(config.name, was, (row) => {
      if (missingKeys.has(row.key)) return true;
      try {
        const abs = path.join(config.path, row.rel);
        const st = config.followSymlinks ? statSync(abs, { bigint: true }) : lstatSync(abs, { bigint: true });
        found = st.isFile() && st.ino.toString() === row.ino && st.dev.toString() === now;
      } catch {
        // gone as well: no evidence either way
      }
      return !found && ++checked < 32;
    });
    return found;
  }

  private reportDeviceMoves(moves: DeviceChange[], report: FolderReport): void {
    const { config } = this.deps;
    const parts = moves.map((c) => {
      const dir = c.rel ? path.join(config.path, c.rel) : config.path;
      this.log.error({ dir, files: c.files, recordedDevice: deviceName(c.was), device: deviceName(c.now) }, 'files recorded on another device are missing: not deleted');
      return `${c.files} file(s) under ${dir} were recorded on device ${deviceName(c.was)}, but ${dir} is on device ${deviceName(c.now)} now ` +
        '(the disk they are on is not mounted there?); nothing under it was deleted';
    });
    const msg = `${parts.join('; ')}. Mount the disk again; if those files are really gone, confirm with: r2mirror sync --folder ${this.name} --allow-empty`;
    report.ok = false;
    report.error = report.error ? `${report.error}; ${msg}` : msg;
  }

  /**
   * Refuse every delete when there are more than the limit; the rest of the plan goes ahead. The removal of a
   * rename's old name is not a delete (its content is at the new key): settleRenames() has made every removal
   * whose copy did not happen a plain one, so a wrong disk of same-size files is still counted in full.
   */
  private guardDeletes(actions: Action[], total: number, max: MaxDelete, report: FolderReport): Action[] {
    const removals = actions.filter(isDelete).length;
    const limit = deleteLimit(max, total);
    if (removals <= limit) return actions;
    const shown = max.kind === 'count' ? String(max.count) : `${max.percent}%`;
    const msg = `refusing to delete ${removals} of ${total} objects under ${this.deps.config.bucket}/${this.deps.config.prefix} ` +
      `(maxDelete ${shown} allows ${limit}); nothing was deleted. Check that ${this.deps.config.path} is the right disk; ` +
      `to allow it once: r2mirror sync --folder ${this.name} --max-delete ${removals}`;
    report.ok = false;
    report.error = report.error ? `${report.error}; ${msg}` : msg; // after a device hold, keep both
    this.log.error({ removals, limit }, msg);
    return actions.filter((a) => !isDelete(a));
  }

  /**
   * List the prefix. The keys we stored split the key space into ranges of ~1,000 keys, listed in parallel:
   * the same number of LIST requests as one sequential walk, in the time of about one.
   */
  private async listRemote(storedKeys: string[], signal?: AbortSignal): Promise<Map<string, RemoteObject>> {
    const { config, bucket } = this.deps;
    const out = new Map<string, RemoteObject>();
    const sorted = storedKeys.map((k) => Buffer.from(k, 'utf8')).sort(Buffer.compare).map((b) => b.toString('utf8'));
    const bounds: (string | undefined)[] = [undefined];
    for (let i = LIST_PAGE - 1; i < sorted.length - 1; i += LIST_PAGE) bounds.push(sorted[i]);
    const ranges = bounds.map((startAfter, i) => ({ startAfter, endAt: bounds[i + 1] }));
    let next = 0;
    const worker = async () => {
      while (next < ranges.length) {
        const r = { ...ranges[next++]! };
        // A failed page resumes the range after the last key already seen.
        await withRetry(async () => {
          for await (const page of bucket.list(config.prefix, signal, r)) {
            for (const o of page) if (!o.key.startsWith(config.trashPrefix)) out.set(o.key, o);
            if (page.length) r.startAfter = page.at(-1)!.key;
          }
        }, this.retryOpts('list', signal));
      }
    };
    await Promise.all(Array.from({ length: Math.min(LIST_PARALLEL, ranges.length) }, worker));
    return out;
  }

  /** Hash the files of check/copy actions so a dry run shows what will really happen (adopt, copy or upload). */
  private async resolveForDryRun(actions: Action[], signal?: AbortSignal): Promise<Action[]> {
    const { config, partSize } = this.deps;
    const ctx = { root: config.path, followSymlinks: config.followSymlinks, partSize, signal };
    const out: Action[] = [];
    const copies = new Map<string, string>();
    for (const a of actions) {
      if (a.type !== 'check' && a.type !== 'copy') {
        out.push(a);
        continue;
      }
      const same = await matchesExisting(a, ctx).catch(() => false);
      if (a.type === 'copy') copies.set(a.key, same ? 'copied' : 'uploaded');
      if (same) out.push(a);
      else out.push({ type: 'upload', key: a.key, file: a.file, reason: a.type === 'copy' ? 'new' : 'changed' });
    }
    return settleRenames(out, copies);
  }

  private estimate(actions: Action[]): { classA: number; classB: number; free: number } {
    let classA = 0;
    let removals = 0;
    for (const a of actions) {
      if (a.type === 'upload') classA += a.file.size <= this.deps.partSize ? 1 : 2 + partCount(a.file.size, choosePartSize(a.file.size, this.deps.partSize));
      else if (a.type === 'copy' || a.type === 'trash') classA += 1;
      if (isRemoval(a)) removals++;
    }
    return { classA, classB: 0, free: Math.ceil(removals / 1000) };
  }

  private async execute(planned: Action[], opts: ReconcileOptions, report: FolderReport, guard: (settled: Action[]) => Action[]): Promise<void> {
    const { store, queue, config, bucket } = this.deps;
    const files = planned.filter((a): a is Extract<Action, { type: 'upload' | 'check' | 'copy' }> => a.type === 'upload' || a.type === 'check' || a.type === 'copy');
    opts.progress.filesTotal += files.length;
    opts.progress.bytesTotal += files.reduce((n, a) => n + a.file.size, 0);

    const pending: Outcome[] = [];
    const flush = () => {
      if (pending.length === 0) return;
      const batch = pending.splice(0);
      store.batch(() => {
        for (const o of batch) if (o.kind === 'uploaded' || o.kind === 'adopted' || o.kind === 'copied') store.put(config.name, o.row);
      });
    };
    // A fatal error (access denied, endpoint gone) stops this folder's queued and running transfers at once,
    // instead of letting each of them meet the same error.
    const stop = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    // p-queue adds one abort listener per queued task; the queue is bounded (backpressure), not leaking.
    setMaxListeners(this.deps.transfers * 4 + 16, signal);
    const ctx = {
      bucket, root: config.path, followSymlinks: config.followSymlinks, partSize: this.deps.partSize, budget: this.deps.budget,
      retries: this.deps.retries, deleteVanished: config.deletes === 'mirror', log: this.log, signal,
      backoffMs: this.deps.backoffMs, onBytes: (n: number) => { opts.progress.bytesDone += n; },
    };
    const running: Promise<void>[] = [];
    const copies = new Map<string, string>(); // outcome of each rename's copy, by the key it copies to
    let fatal: unknown;
    for (const a of files) {
      if (fatal || opts.drain?.aborted) break;
      // Backpressure: never more than a few queued tasks per transfer slot.
      await queue.onSizeLessThan(this.deps.transfers * 2);
      if (fatal) break;
      opts.signal?.throwIfAborted();
      running.push(queue.add(async () => {
        if (opts.drain?.aborted) return; // stopping: queued, not started
        const started = Date.now();
        const o = await transferFile(a, ctx);
        opts.progress.filesDone++;
        this.record(o, a, report, Date.now() - started);
        if (a.type === 'copy') copies.set(a.key, o.kind);
        pending.push(o);
        if (pending.length >= COMMIT_EVERY) flush();
      }, { signal }).catch((err: unknown) => {
        if (fatal) return;
        fatal = err;
        stop.abort(err);
      }));
    }
    await Promise.all(running);
    flush();
    if (fatal) throw fatal;
    if (opts.drain?.aborted) return; // removals wait for the next run: a rename must not lose its source first

    // Removals after every upload and copy, so a rename never leaves a moment with neither key.
    const actions = guard(settleRenames(planned, copies));
    const renames = new Set(actions.filter((a) => isRemoval(a) && a.renamedTo !== undefined).map((a) => a.key));
    const forgets = actions.filter((a) => a.type === 'forget');
    if (forgets.length) store.batch(() => forgets.forEach((a) => store.delete(config.name, a.key)));
    const trash = actions.filter((a): a is Extract<Action, { type: 'trash' }> => a.type === 'trash');
    const trashed: string[] = [];
    await Promise.all(trash.map((a) => queue.add(async () => {
      try {
        await withRetry(() => bucket.copy(a.key, a.to, opts.signal), this.retryOpts('copy to trash', opts.signal));
        trashed.push(a.key);
      } catch (err) {
        this.failRemoval(err, a.key, report);
      }
    }, { signal: opts.signal })));
    const deletes = [...actions.filter((a) => a.type === 'delete').map((a) => a.key), ...trashed];
    for (let i = 0; i < deletes.length; i += 1000) {
      const chunk = deletes.slice(i, i + 1000);
      let errors: { key: string; reason: string }[];
      try {
        errors = await withRetry(() => bucket.deleteMany(chunk, opts.signal), this.retryOpts('delete', opts.signal));
      } catch (err) {
        chunk.forEach((k) => this.failRemoval(err, k, report));
        continue;
      }
      const bad = new Set(errors.map((e) => e.key));
      errors.forEach((e) => report.failed.push({ rel: e.key, reason: `delete failed: ${e.reason}` }));
      const done = chunk.filter((k) => !bad.has(k));
      store.batch(() => done.forEach((k) => store.delete(config.name, k)));
      const trashedSet = new Set(trashed);
      for (const k of done) {
        if (renames.has(k)) {
          this.log.debug({ key: k }, 'removed the old name of a renamed file'); // counted (and logged) as renamed
          continue;
        }
        if (trashedSet.has(k)) report.trashed++;
        else report.deleted++;
        this.log.info({ key: k }, trashedSet.has(k) ? 'moved to trash' : 'deleted');
      }
    }
  }

  private retryOpts(what: string, signal?: AbortSignal): RetryOptions {
    return { retries: this.deps.retries, baseMs: this.deps.backoffMs, signal, log: this.log, what };
  }

  private failRemoval(err: unknown, key: string, report: FolderReport): void {
    const c = classify(err);
    if (c === 'fatal' || c === 'abort') throw err;
    report.failed.push({ rel: key, reason: `delete failed: ${describeError(err)}` });
    this.log.error({ key, reason: describeError(err) }, 'delete failed');
  }

  private record(o: Outcome, a: Action, report: FolderReport, ms: number): void {
    switch (o.kind) {
      case 'uploaded':
        report.uploaded.files++;
        report.uploaded.bytes += o.bytes;
        this.log.info({ key: o.key, bytes: o.bytes, ms, reason: a.type === 'upload' ? a.reason : 'changed' }, 'uploaded');
        break;
      case 'adopted':
        report.adopted.files++;
        report.adopted.bytes += o.bytes;
        this.log.info({ key: o.key, bytes: o.bytes }, 'already in the bucket; recorded without upload');
        break;
      case 'copied':
        report.copied.files++;
        report.copied.bytes += o.bytes;
        this.log.info({ key: o.key, from: a.type === 'copy' ? a.from : undefined }, 'renamed (server-side copy)');
        break;
      case 'failed':
        report.failed.push({ rel: o.rel, reason: o.reason });
        break;
      case 'gone':
        break;
    }
  }

  /** Turn a fatal S3 error into a message a user can act on, naming the bucket and the folder. */
  private explainFatal(err: unknown): unknown {
    if (err instanceof FatalError || classify(err) === 'abort') return err;
    const { bucket, name } = { bucket: this.deps.config.bucket, name: this.name };
    const code = errorCode(err);
    const status = httpStatus(err);
    const where = `folder ${name}, bucket ${bucket}`;
    switch (code) {
      case 'NoSuchBucket':
        return new FatalError(`${where}: the bucket does not exist; create it (wrangler r2 bucket create ${bucket}) or fix "bucket" in the config`, ExitCode.CONFIG, { cause: err });
      case 'InvalidAccessKeyId':
        return new FatalError(`${where}: the server does not know the access key id (InvalidAccessKeyId); check the credentials`, ExitCode.CONFIG, { cause: err });
      case 'SignatureDoesNotMatch':
        return new FatalError(`${where}: the secret access key is wrong (SignatureDoesNotMatch); check the credentials`, ExitCode.CONFIG, { cause: err });
      case 'RequestTimeTooSkewed':
        return new FatalError(`${where}: this machine's clock differs too much from the server's (RequestTimeTooSkewed); fix the time (NTP)`, ExitCode.CONFIG, { cause: err });
      default:
        if (code && LOCAL_REQUEST_CODES.has(code)) {
          return new FatalError(`${where}: the request could not be sent (${describeError(err)}); check the credentials for spaces, newlines or other characters that do not belong in an access key`, ExitCode.CONFIG, { cause: err });
        }
    }
    if (code === 'AccessDenied' || status === 403) {
      return new FatalError(`${where}: access denied (${describeError(err)}); the token needs read and write access to this bucket`, ExitCode.CONFIG, { cause: err });
    }
    if (classify(err) === 'retry') {
      const endpoint = this.deps.endpoint ? `the endpoint ${this.deps.endpoint}` : 'the endpoint';
      return new FatalError(`${where}: ${endpoint} did not answer usefully after retries: ${describeError(err)}`, ExitCode.TEMPFAIL, { cause: err });
    }
    return err;
  }
}

function describeAction(a: Action): PlannedAction {
  switch (a.type) {
    case 'upload':
      return { action: 'upload', key: a.key, reason: a.reason, size: a.file.size };
    case 'check':
      return { action: 'adopt', key: a.key, reason: a.reason === 'adopt' ? 'already in the bucket' : 'touched, same content', size: a.file.size };
    case 'copy':
      return { action: 'copy', key: a.key, from: a.from, size: a.file.size };
    case 'trash':
      return { action: 'trash', key: a.key, to: a.to, ...(a.renamedTo !== undefined ? { renamedTo: a.renamedTo } : {}) };
    case 'delete':
      return { action: 'delete', key: a.key, ...(a.renamedTo !== undefined ? { renamedTo: a.renamedTo } : {}) };
    default:
      return { action: a.type, key: a.key };
  }
}
