// A restore run: check and create the target directory, read the recorded rows (without the lock), list the
// folder's objects under the prefix and restore each on a p-queue with backpressure; the first fatal error stops
// every download at once. The entry point of `r2mirror restore`.
// Must not: write into the user's folders except through local/place.ts; write the state DB or take its lock;
// print anything (the command formats the report).

import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import PQueue from 'p-queue';
import type { Config, FolderConfig } from '../config.js';
import { classify, errorCode, explainS3Error } from '../errors.js';
import type { Progress } from '../folder.js';
import { newProgress } from '../folder/report.js';
import { DEFAULT_PART } from '../keys.js';
import { makeDir, syncDirs } from '../local/place.js';
import type { Logger } from '../log.js';
import type { Bucket } from '../remote/bucket.js';
import { Store, type ObjectRow } from '../state/store.js';
import { restoreOne, type Job } from './object.js';
import { closeReport, newReport, type RestoreReport } from './report.js';

/** What to restore, and how. */
export interface RestoreRequest {
  /** Absolute. */
  readonly to: string;
  /** Key prefix under the folder's prefix ('' = everything). */
  readonly prefix: string;
  /** Replace existing files whose content differs. */
  readonly force: boolean;
  /** Plan only: write nothing. */
  readonly dryRun: boolean;
  /** From the folder's trash (deletes: trash) instead of its prefix: files deleted on disk, brought back. */
  readonly fromTrash?: boolean | undefined;
}

/** What a run is given. */
export interface RestoreDeps {
  readonly bucket: Bucket;
  /** prepareTarget()'s answer. */
  readonly toReal: string | undefined;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Shown the live counters while the run goes (the command's progress line). */
  readonly progress?: { start(p: Progress): void; stop(): void } | undefined;
}

/** The target directory cannot be used (the command reports it as a usage error). */
export class TargetError extends Error {}

/** Check the target directory and create it (not in a dry run); returns its real path, or undefined when it does not exist yet. */
export async function prepareTarget(to: string, dryRun: boolean): Promise<string | undefined> {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(to);
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw new TargetError(`restore: --to ${to}: ${(err as Error).message}`);
  }
  if (st && !st.isDirectory()) throw new TargetError(`restore: --to ${to} exists and is not a directory`);
  if (!st) {
    if (dryRun) return undefined;
    try {
      await makeDir(to);
    } catch (err) {
      throw new TargetError(`restore: cannot create --to ${to}: ${(err as Error).message}`);
    }
  }
  return fs.realpathSync(to);
}

/**
 * The recorded rows of the folder, without the lock (a daemon may hold it) and without writing anything
 * (Store's read-only mode leaves no trace beside the DB); empty without a DB.
 */
function recordedRows(config: Config, folder: FolderConfig, log: Logger): Map<string, ObjectRow> {
  if (!fs.existsSync(config.state)) return new Map();
  let store: Store | undefined;
  try {
    store = Store.open(config.state, { readonly: true, lock: false });
    // A folder recorded with another bucket or prefix has rows that describe other keys: folder() says so.
    store.folder(folder.name, folder.bucket, folder.prefix);
    return store.rows(folder.name);
  } catch (err) {
    log.warn({ state: config.state, err }, 'cannot read the state DB; restoring without it (every file is still checked against its ETag)');
    return new Map();
  } finally {
    store?.close();
  }
}

/** The first fatal error of a run; noting it aborts the run's signal, so queued and running downloads end. */
class Stop {
  private readonly ctl = new AbortController();
  private first: { readonly err: unknown } | undefined;
  readonly signal: AbortSignal;
  constructor(outer: AbortSignal) {
    this.signal = AbortSignal.any([outer, this.ctl.signal]);
  }
  get stopped(): boolean {
    return this.first !== undefined;
  }
  /** The error that stopped the run (when stopped). */
  get err(): unknown {
    return this.first?.err;
  }
  /** Note a failure that ends the run (an abort is the outer signal's doing, not a failure). */
  fail(err: unknown): void {
    if (this.first !== undefined || classify(err) === 'abort') return;
    this.first = { err };
    this.ctl.abort(err);
  }
}

/** Restore `folder` (its keys under `req.prefix`) into `req.to`; throws on a fatal error, else returns the report. */
export async function restore(config: Config, folder: FolderConfig, req: RestoreRequest, deps: RestoreDeps): Promise<RestoreReport> {
  // From the trash, the keys are trashPrefix + the file's path, as the mirror's are prefix + path.
  const base = req.fromTrash ? folder.trashPrefix : folder.prefix;
  const listPrefix = base + req.prefix;
  const report = newReport({ folder: folder.name, bucket: folder.bucket, prefix: listPrefix, to: req.to, dryRun: req.dryRun });
  const progress: Progress = newProgress();
  progress.merging = 1; // until the listing ended
  const stop = new Stop(deps.signal);
  setMaxListeners(config.transfers * 8 + 16, stop.signal);
  const job: Job = {
    bucket: deps.bucket, folderPrefix: base, to: req.to, toReal: deps.toReal, rows: req.fromTrash ? new Map() : recordedRows(config, folder, deps.log),
    partSize: config.partSize ?? DEFAULT_PART, force: req.force, dryRun: req.dryRun, retries: config.retries,
    signal: stop.signal, log: deps.log, report, progress, dirs: new Set(),
  };
  deps.progress?.start(progress);
  try {
    await restoreListed(config, folder, listPrefix, job, stop, !!req.fromTrash);
    await syncDirs(job.dirs);
  } finally {
    deps.progress?.stop();
  }
  deps.signal.throwIfAborted();
  if (stop.stopped) throw explainS3Error(stop.err, { bucket: folder.bucket, endpoint: config.remote.endpoint });
  return closeReport(report);
}

/** List the objects under `listPrefix` and restore each on a queue of `transfers` at once; returns when all are done. */
async function restoreListed(config: Config, folder: FolderConfig, listPrefix: string, job: Job, stop: Stop, fromTrash: boolean): Promise<void> {
  // Trash prefixes of this bucket's folders: never restored with the mirror (config keeps them outside every folder
  // prefix; this is the belt to those braces).
  const trash = config.folders.filter((g) => g.bucket === folder.bucket && g.deletes === 'trash' && !(fromTrash && g.name === folder.name)).map((g) => g.trashPrefix);
  const queue = new PQueue({ concurrency: config.transfers });
  try {
    for await (const page of job.bucket.list(listPrefix, job.signal)) {
      for (const o of page) {
        if (stop.stopped) break;
        if (trash.some((t) => o.key.startsWith(t))) continue;
        job.progress.listed++;
        job.progress.filesTotal++;
        job.progress.bytesTotal += o.size;
        await queue.onSizeLessThan(config.transfers * 4);
        queue.add(() => restoreOne(o, job), { signal: job.signal }).catch((err: unknown) => stop.fail(err));
      }
      if (stop.stopped) break;
    }
  } catch (err) {
    stop.fail(err);
  }
  job.progress.merging = 0;
  await queue.onIdle();
}
