// The state DB (better-sqlite3): WAL, prepared statements, a small typed API, one writer at a time.
// Knows nothing about disks or buckets; callers decide when a row may be written (only after success).
// Store is the one front door: it opens the DB (db.ts) and hands each call to the module of its table
// (folders.ts, objects.ts, failures.ts, runs.ts), all sharing one handle and one set of prepared statements.
// Must not: write a row on its own account; import from local/, remote/, commands/ or any layer above state/.

import { StateDb, type StoreOptions } from './db.js';
import { FailureTable, type FailureRow } from './failures.js';
import { FolderTable, type FolderRow, type FolderStatus, type TrashState } from './folders.js';
import { lockTakenElsewhere } from './lock.js';
import { ObjectTable, type ObjectRow } from './objects.js';
import { LiveTable, RunTable, type LiveRow, type UnfinishedRun } from './runs.js';
import { UploadTable, type UploadPartRow, type UploadRow } from './uploads.js';

export type { StoreOptions } from './db.js';
export type { FailureRow } from './failures.js';
export type { FolderRow, FolderStatus, TrashState } from './folders.js';
export type { ObjectRow } from './objects.js';
export type { LiveRow, UnfinishedRun } from './runs.js';
export type { UploadPartRow, UploadRow } from './uploads.js';

/** The SQLite state DB. One instance per process; close() is idempotent. Each method is its table's (see there). */
export class Store {
  readonly path: string;
  private readonly sdb: StateDb;
  private readonly foldersT: FolderTable;
  private readonly objects: ObjectTable;
  private readonly failuresT: FailureTable;
  private readonly runs: RunTable;
  private readonly liveT: LiveTable;
  private readonly uploadsT: UploadTable;

  private constructor(sdb: StateDb) {
    this.sdb = sdb;
    this.path = sdb.path;
    this.foldersT = new FolderTable(sdb);
    this.objects = new ObjectTable(sdb, this.foldersT.stale);
    this.failuresT = new FailureTable(sdb);
    this.runs = new RunTable(sdb);
    this.liveT = new LiveTable(sdb);
    this.uploadsT = new UploadTable(sdb);
  }

  /**
   * Open (creating and migrating as needed) the DB at `file`. Throws FatalError with a message that names
   * the file for: a DB locked by another r2mirror (exit 75), a corrupt file, a DB from a newer r2mirror,
   * a directory that cannot be created or written (exit 78).
   */
  static open(file: string, opts: StoreOptions = {}): Store {
    return new Store(StateDb.open(file, opts));
  }

  /**
   * True when another process holds the writer lock of the DB at `file` (a running daemon or sync). Probes the
   * lock for an instant; false when there is no lock file or it cannot be probed.
   */
  static inUse(file: string): boolean {
    return lockTakenElsewhere(file);
  }

  // --- folders ---------------------------------------------------------------------------------------------

  /** The folder's bookkeeping row. A changed bucket or prefix forgets the folder's rows (they describe other keys). */
  folder(name: string, bucket: string, prefix: string): FolderRow { return this.foldersT.folder(name, bucket, prefix); }
  /** True when the folder was recorded with another bucket or prefix (folder() will forget its rows). */
  moved(name: string, bucket: string, prefix: string): boolean { return this.foldersT.moved(name, bucket, prefix); }
  /** Mark a completed reconcile (and, when listed, a completed listing; `converged` pays an owed listing). */
  markSynced(folder: string, at: number, listed: boolean, converged = listed): void { this.foldersT.markSynced(folder, at, listed, converged); }
  /** These folders' next full reconcile must list the bucket. */
  setNeedsList(folders: readonly string[]): void { this.foldersT.setNeedsList(folders); }
  /** True while the folder owes a listing since an unclean stop. */
  needsList(folder: string): boolean { return this.foldersT.needsList(folder); }
  /** Every folder the DB knows, with its counts and the operations spent on it. */
  folders(): FolderStatus[] { return this.foldersT.folders(); }
  /** Add requests spent on a folder to its running total. */
  addOps(folder: string, ops: { classA: number; classB: number; free: number }): void { this.foldersT.addOps(folder, ops); }
  /** Record the result of an `r2mirror verify`; false when the DB knows the folder under another bucket or prefix. */
  recordVerify(name: string, bucket: string, prefix: string, at: number, result: unknown): boolean {
    return this.foldersT.recordVerify(name, bucket, prefix, at, result);
  }
  /** Record what the folder's trash holds and how it expires. */
  recordTrash(name: string, trash: TrashState): void { this.foldersT.recordTrash(name, trash); }
  /** Forget the folder's trash record. */
  clearTrash(name: string): void { this.foldersT.clearTrash(name); }
  /** What was last recorded of the folder's trash. */
  trash(name: string): TrashState | undefined { return this.foldersT.trash(name); }
  /** The last recorded verification of a folder; undefined if none. */
  verification(name: string): { bucket: string; prefix: string; at: number; result: unknown } | undefined { return this.foldersT.verification(name); }

  // --- objects ---------------------------------------------------------------------------------------------

  /** All rows of a folder, by key. */
  rows(folder: string): Map<string, ObjectRow> { return this.objects.rows(folder); }
  /** The rows of these keys and of every key under these key prefixes (a scoped reconcile). */
  rowsIn(folder: string, keys: readonly string[], prefixes: readonly string[]): Map<string, ObjectRow> { return this.objects.rowsIn(folder, keys, prefixes); }
  /** A folder's rows in key order, in pages of `page` (keyset pagination: key > last ORDER BY key LIMIT page), never all at once. Stale folders read as empty. */
  rowsInKeyOrder(folder: string, page?: number): Generator<ObjectRow[]> { return this.objects.rowsInKeyOrder(folder, page); }
  /** Every `every`-th key of the folder in key order (the split points of a parallel listing); [] for fewer rows. */
  splitKeys(folder: string, every?: number): string[] { return this.objects.splitKeys(folder, every); }
  /** Show `visit` the rows recorded on device `dev` (in no particular order) until it returns false. */
  forEachOnDevice(folder: string, dev: string, visit: (row: ObjectRow) => boolean): void { this.objects.forEachOnDevice(folder, dev, visit); }
  /** Number of rows and bytes recorded for a folder. */
  count(folder: string): { files: number; bytes: number } { return this.objects.count(folder); }
  /** Record (insert or replace) one mirrored object. Call only after the server confirmed it. */
  put(folder: string, row: ObjectRow): void { this.objects.put(folder, row); }
  /** Forget one object (it was deleted, or it is gone from the bucket). */
  delete(folder: string, key: string): void { this.objects.delete(folder, key); }

  /** Run `fn` in one transaction (batched commits during a reconcile). */
  batch(fn: () => void): void { this.sdb.transaction(fn); }

  // --- multipart uploads in progress ------------------------------------------------------------------------

  /** The open multipart upload recorded for `key`, with its confirmed parts. */
  upload(folder: string, key: string): UploadRow | undefined { return this.uploadsT.find(folder, key); }
  /** Every open multipart upload recorded for the folder (without parts). */
  uploads(folder: string): Omit<UploadRow, 'parts'>[] { return this.uploadsT.list(folder); }
  /** Record a multipart upload the server just created. */
  uploadBegun(folder: string, u: Omit<UploadRow, 'parts' | 'touchedAt'>): void { this.uploadsT.begin(folder, u); }
  /** Record one part the server confirmed. */
  uploadPart(folder: string, key: string, uploadId: string, n: number, p: UploadPartRow): void { this.uploadsT.part(folder, key, uploadId, n, p); }
  /** Note an attempt on a recorded upload. */
  uploadTouched(folder: string, key: string, uploadId: string, at: number): void { this.uploadsT.touch(folder, key, uploadId, at); }
  /** Forget a completed or aborted upload. */
  uploadEnded(folder: string, key: string, uploadId: string): void { this.uploadsT.end(folder, key, uploadId); }

  // --- failures, runs, live --------------------------------------------------------------------------------

  /** Record the failures of a reconcile (a full one replaces the folder's list, a scoped one its scope's entries). */
  recordFailures(folder: string, failed: readonly { rel: string; reason: string }[], scope: readonly string[] | undefined, at: number): void {
    this.failuresT.recordFailures(folder, failed, scope, at);
  }
  /** The files of a folder that failed, with their reasons. */
  failures(folder: string): FailureRow[] { return this.failuresT.failures(folder); }

  /** Publish the running daemon's state (for `status`). */
  setLive(pid: number, startedAt: number, state: unknown): void { this.liveT.setLive(pid, startedAt, state); }
  /** The daemon's last published state, if any (it may be stale: check the pid and updatedAt). */
  live(): LiveRow | undefined { return this.liveT.live(); }
  /** The daemon stopped: remove its live state. */
  clearLive(): void { this.liveT.clearLive(); }

  /** Every run other than `except` that never finished (each was killed while it ran). */
  unfinishedRuns(except = -1): UnfinishedRun[] { return this.runs.unfinishedRuns(except); }
  /** Start a run record with the folders it reconciles; returns its id. */
  runStarted(kind: string, at: number, folders?: readonly string[]): number { return this.runs.runStarted(kind, at, folders); }
  /** Finish a run record with its JSON summary. */
  runFinished(id: number, at: number, summary: unknown): void { this.runs.runFinished(id, at, summary); }
  /** Close the records of killed runs once what they left behind was swept. */
  runsInterrupted(ids: readonly number[], at: number): void { this.runs.runsInterrupted(ids, at); }

  /** Close the DB and release the lock. Idempotent. */
  close(): void { this.sdb.close(); }
}
