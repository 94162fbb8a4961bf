// The state DB (better-sqlite3): WAL, prepared statements, a small typed API, one writer at a time.
// Knows nothing about disks or buckets; callers decide when a row may be written (only after success).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Database } from './sqlite.js';
import { ExitCode, FatalError } from '../errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';

/** What we know about one mirrored object. */
export interface ObjectRow {
  readonly key: string;
  readonly rel: string;
  readonly size: number;
  readonly mtimeNs: string;
  readonly ino: string;
  readonly etag: string;
  readonly md5: string | null;
  readonly partSize: number;
  readonly syncedAt: number;
  /** st_dev of the file when the row was written (decimal); null or absent: unknown (a row from before schema 3). */
  readonly dev?: string | null | undefined;
}

/** Per-folder bookkeeping. */
export interface FolderRow {
  readonly name: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly lastSync: number | null;
  readonly lastList: number | null;
}

interface RawRow {
  key: string; rel: string; size: number; mtime_ns: string; ino: string; etag: string; md5: string | null;
  part_size: number; synced_at: number; dev: string | null;
}

const toRow = (r: RawRow): ObjectRow => ({
  key: r.key, rel: r.rel, size: r.size, mtimeNs: r.mtime_ns, ino: r.ino, etag: r.etag, md5: r.md5,
  partSize: r.part_size, syncedAt: r.synced_at, ...(r.dev !== null ? { dev: r.dev } : {}),
});

/** A folder as `status` shows it. */
export interface FolderStatus extends FolderRow {
  readonly files: number;
  readonly bytes: number;
  readonly ops: { classA: number; classB: number; free: number };
  /** An unclean stop may have left the DB behind the bucket: the next full reconcile lists it. */
  readonly needsList: boolean;
}

/** A run that never finished (the process was killed): the folders it reconciled, null for every folder (schema 2). */
export interface UnfinishedRun {
  readonly id: number;
  readonly kind: string;
  readonly startedAt: number;
  readonly folders: string[] | null;
}

/** A file that could not be mirrored. */
export interface FailureRow {
  readonly rel: string;
  readonly reason: string;
  readonly firstAt: number;
  readonly lastAt: number;
  readonly attempts: number;
}

/** The daemon's row in the `live` table. */
export interface LiveRow {
  readonly pid: number;
  readonly startedAt: number;
  readonly updatedAt: number;
  readonly state: unknown;
}

/** Options for {@link Store.open}. */
export interface StoreOptions {
  /** Take the single-writer lock (default true). Readers such as `status` pass false. */
  readonly lock?: boolean;
  /** Open without creating or migrating anything (dry runs). */
  readonly readonly?: boolean;
}

/** The SQLite state DB. One instance per process; close() is idempotent. */
export class Store {
  readonly path: string;
  private readonly db: Database;
  private lockDb: Database | undefined;
  private closed = false;
  /** Folders whose bucket/prefix changed while the DB is read-only: their rows describe other keys. */
  private readonly stale = new Set<string>();
  private readonly stmts;

  /** A private copy read instead of the DB (see open()); removed by close(). */
  private snapshotDir: string | undefined;

  /** Opened read-only (directly, or as a private copy): nothing is ever written. */
  private readonly ro: boolean;

  private constructor(file: string, db: Database, lockDb: Database | undefined, ro: boolean, snapshotDir?: string) {
    this.path = file;
    this.ro = ro;
    this.db = db;
    this.lockDb = lockDb;
    this.snapshotDir = snapshotDir;
    this.stmts = {
      folderGet: db.prepare<[string], { name: string; bucket: string; prefix: string; last_sync: number | null; last_list: number | null }>(
        'SELECT * FROM folders WHERE name = ?'),
      folderInsert: db.prepare('INSERT INTO folders (name, bucket, prefix) VALUES (?, ?, ?)'),
      folderReset: db.prepare('UPDATE folders SET bucket = ?, prefix = ?, last_sync = NULL, last_list = NULL WHERE name = ?'),
      folderDeleteRows: db.prepare('DELETE FROM objects WHERE folder = ?'),
      folderSetSync: db.prepare('UPDATE folders SET last_sync = ? WHERE name = ?'),
      folderSetList: db.prepare('UPDATE folders SET last_list = ? WHERE name = ?'),
      folderNeedsList: db.prepare('UPDATE folders SET needs_list = ? WHERE name = ?'),
      folderGetNeedsList: db.prepare<[string], { needs_list: number }>('SELECT needs_list FROM folders WHERE name = ?'),
      rows: db.prepare<[string], RawRow>('SELECT key, rel, size, mtime_ns, ino, etag, md5, part_size, synced_at, dev FROM objects WHERE folder = ?'),
      row: db.prepare<[string, string], RawRow>('SELECT key, rel, size, mtime_ns, ino, etag, md5, part_size, synced_at, dev FROM objects WHERE folder = ? AND key = ?'),
      // `key >= @p` lets the primary key index find the start; substr() (characters, like length()) ends it.
      rowsUnder: db.prepare<[{ folder: string; p: string }], RawRow>('SELECT key, rel, size, mtime_ns, ino, etag, md5, part_size, synced_at, dev FROM objects WHERE folder = @folder AND key >= @p AND substr(key, 1, length(@p)) = @p'),
      onDevice: db.prepare<[string, string], RawRow>('SELECT key, rel, size, mtime_ns, ino, etag, md5, part_size, synced_at, dev FROM objects WHERE folder = ? AND dev = ?'),
      count: db.prepare<[string], { n: number; bytes: number | null }>('SELECT count(*) AS n, sum(size) AS bytes FROM objects WHERE folder = ?'),
      put: db.prepare(`INSERT INTO objects (folder, key, rel, size, mtime_ns, ino, etag, md5, part_size, synced_at, dev)
        VALUES (@folder, @key, @rel, @size, @mtime_ns, @ino, @etag, @md5, @part_size, @synced_at, @dev)
        ON CONFLICT (folder, key) DO UPDATE SET rel = excluded.rel, size = excluded.size, mtime_ns = excluded.mtime_ns,
          ino = excluded.ino, etag = excluded.etag, md5 = excluded.md5, part_size = excluded.part_size, synced_at = excluded.synced_at,
          dev = excluded.dev`),
      del: db.prepare('DELETE FROM objects WHERE folder = ? AND key = ?'),
      folderAll: db.prepare<[], { name: string; bucket: string; prefix: string; last_sync: number | null; last_list: number | null; ops_a: number; ops_b: number; ops_free: number; needs_list: number }>(
        'SELECT * FROM folders ORDER BY name'),
      folderAddOps: db.prepare('UPDATE folders SET ops_a = ops_a + ?, ops_b = ops_b + ?, ops_free = ops_free + ? WHERE name = ?'),
      failUpsert: db.prepare(`INSERT INTO failures (folder, rel, reason, first_at, last_at, attempts) VALUES (?, ?, ?, ?, ?, 1)
        ON CONFLICT (folder, rel) DO UPDATE SET reason = excluded.reason, last_at = excluded.last_at, attempts = attempts + 1`),
      failClear: db.prepare('DELETE FROM failures WHERE folder = ? AND rel = ?'),
      failList: db.prepare<[string], { rel: string; reason: string; first_at: number; last_at: number; attempts: number }>(
        'SELECT rel, reason, first_at, last_at, attempts FROM failures WHERE folder = ? ORDER BY rel'),
      liveSet: db.prepare(`INSERT INTO live (id, pid, started_at, updated_at, state) VALUES (1, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, started_at = excluded.started_at, updated_at = excluded.updated_at, state = excluded.state`),
      liveGet: db.prepare<[], { pid: number; started_at: number; updated_at: number; state: string }>('SELECT * FROM live WHERE id = 1'),
      liveClear: db.prepare('DELETE FROM live'),
      runStart: db.prepare('INSERT INTO runs (kind, started_at, folders) VALUES (?, ?, ?)'),
      runsUnfinished: db.prepare<[number], { id: number; kind: string; started_at: number; folders: string | null }>(
        'SELECT id, kind, started_at, folders FROM runs WHERE finished_at IS NULL AND id <> ? ORDER BY id'),
      runEnd: db.prepare('UPDATE runs SET finished_at = ?, summary = ? WHERE id = ?'),
      // A verification is recorded only for the bucket and prefix it checked (a moved folder keeps none).
      verifySet: db.prepare(`INSERT INTO folders (name, bucket, prefix, verified_at, verify_result) VALUES (@name, @bucket, @prefix, @at, @result)
        ON CONFLICT (name) DO UPDATE SET verified_at = excluded.verified_at, verify_result = excluded.verify_result
        WHERE folders.bucket = excluded.bucket AND folders.prefix = excluded.prefix`),
      verifyGet: db.prepare<[string], { bucket: string; prefix: string; verified_at: number | null; verify_result: string | null }>(
        'SELECT bucket, prefix, verified_at, verify_result FROM folders WHERE name = ?'),
    };
  }

  /**
   * Open (creating and migrating as needed) the DB at `file`. Throws FatalError with a message that names
   * the file for: a DB locked by another r2mirror (exit 75), a corrupt file, a DB from a newer r2mirror,
   * a directory that cannot be created or written (exit 78).
   */
  static open(file: string, opts: StoreOptions = {}): Store {
    const lock = opts.lock ?? true;
    if (!opts.readonly) {
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
      } catch (err) {
        throw new FatalError(`state DB ${file}: cannot create directory ${path.dirname(file)}: ${(err as Error).message}`, ExitCode.CONFIG, { cause: err });
      }
    }
    // The lock is an exclusive SQLite lock on a side file: the OS drops it when the process dies, even on
    // kill -9, so there is no stale PID file to clean up.
    const lockDb = lock && !opts.readonly ? takeLock(file) : undefined;
    // SQLite creates the -wal and -shm files of a WAL database even for a read-only connection, and leaves them;
    // made by another user (root running `status`), they would lock the daemon out of its own DB. Without a
    // -wal no writer is active and the main file holds everything: read a private copy of it instead.
    let snapshotDir: string | undefined;
    let db: Database;
    try {
      if (opts.readonly && fs.existsSync(file) && !fs.existsSync(file + '-wal')) {
        snapshotDir = fs.mkdtempSync(path.join(os.tmpdir(), 'r2mirror-state-'));
        const copy = path.join(snapshotDir, 'state.db');
        fs.copyFileSync(file, copy);
        db = new Database(copy);
        db.pragma('busy_timeout = 5000');
        db.pragma('foreign_keys = ON');
        migrate(db, file, false); // the copy may be migrated; the original is never written
        db.pragma('query_only = ON');
      } else {
        if (opts.readonly && !fs.existsSync(file)) db = new Database(':memory:');
        else db = new Database(file, { readonly: !!opts.readonly, fileMustExist: !!opts.readonly });
        db.pragma('busy_timeout = 5000');
        if (!opts.readonly) {
          db.pragma('journal_mode = WAL');
          db.pragma('synchronous = NORMAL');
        }
        db.pragma('foreign_keys = ON');
        migrate(db, file, !!opts.readonly);
      }
    } catch (err) {
      lockDb?.close();
      if (snapshotDir) fs.rmSync(snapshotDir, { recursive: true, force: true });
      if (err instanceof FatalError) throw err;
      throw new FatalError(`state DB ${file}: ${describeSqlite(err)}`, ExitCode.CONFIG, { cause: err });
    }
    return new Store(file, db, lockDb, !!opts.readonly, snapshotDir);
  }

  /**
   * True when another process holds the writer lock of the DB at `file` (a running daemon or sync). Probes the
   * lock for an instant; false when there is no lock file or it cannot be probed.
   */
  static inUse(file: string): boolean {
    if (!fs.existsSync(file + '.lock')) return false;
    try {
      takeLock(file).close();
      return false;
    } catch (err) {
      return err instanceof FatalError && err.exitCode === ExitCode.TEMPFAIL;
    }
  }

  /** The folder's bookkeeping row. A changed bucket or prefix forgets the folder's rows (they describe other keys). */
  folder(name: string, bucket: string, prefix: string): FolderRow {
    return this.guard(() => this.folderRow(name, bucket, prefix));
  }

  private folderRow(name: string, bucket: string, prefix: string): FolderRow {
    let r = this.stmts.folderGet.get(name);
    if (!r) {
      if (!this.ro) this.stmts.folderInsert.run(name, bucket, prefix);
      return { name, bucket, prefix, lastSync: null, lastList: null };
    }
    if (r.bucket !== bucket || r.prefix !== prefix) {
      if (this.ro) {
        this.stale.add(name);
        return { name, bucket, prefix, lastSync: null, lastList: null };
      }
      this.db.transaction(() => {
        this.stmts.folderDeleteRows.run(name);
        this.stmts.folderReset.run(bucket, prefix, name);
      })();
      r = this.stmts.folderGet.get(name)!;
    }
    return { name, bucket, prefix, lastSync: r.last_sync, lastList: r.last_list };
  }

  /**
   * True when the folder was recorded with another bucket or prefix: its rows describe other keys, and
   * folder() will forget them. Lets a caller confirm the new bucket answers before that happens.
   */
  moved(name: string, bucket: string, prefix: string): boolean {
    const r = this.guard(() => this.stmts.folderGet.get(name));
    return !!r && (r.bucket !== bucket || r.prefix !== prefix);
  }

  /** All rows of a folder, by key. */
  rows(folder: string): Map<string, ObjectRow> {
    const out = new Map<string, ObjectRow>();
    if (this.stale.has(folder)) return out;
    this.guard(() => {
      for (const r of this.stmts.rows.iterate(folder)) out.set(r.key, toRow(r));
    });
    return out;
  }

  /** The rows of these keys and of every key under these key prefixes (a scoped reconcile). */
  rowsIn(folder: string, keys: readonly string[], prefixes: readonly string[]): Map<string, ObjectRow> {
    const out = new Map<string, ObjectRow>();
    if (this.stale.has(folder)) return out;
    this.guard(() => {
      for (const k of keys) {
        const r = this.stmts.row.get(folder, k);
        if (r) out.set(r.key, toRow(r));
      }
      for (const p of prefixes) {
        for (const r of this.stmts.rowsUnder.iterate({ folder, p })) out.set(r.key, toRow(r));
      }
    });
    return out;
  }

  /** Show `visit` the rows recorded on device `dev` (in no particular order) until it returns false. */
  forEachOnDevice(folder: string, dev: string, visit: (row: ObjectRow) => boolean): void {
    if (this.stale.has(folder)) return;
    this.guard(() => {
      for (const r of this.stmts.onDevice.iterate(folder, dev)) if (!visit(toRow(r))) break;
    });
  }

  /** Number of rows and bytes recorded for a folder. */
  count(folder: string): { files: number; bytes: number } {
    const r = this.guard(() => this.stmts.count.get(folder)!);
    return { files: r.n, bytes: r.bytes ?? 0 };
  }

  /** Record (insert or replace) one mirrored object. Call only after the server confirmed it. */
  put(folder: string, row: ObjectRow): void {
    this.guard(() => this.stmts.put.run({
      folder, key: row.key, rel: row.rel, size: row.size, mtime_ns: row.mtimeNs, ino: row.ino, etag: row.etag,
      md5: row.md5, part_size: row.partSize, synced_at: row.syncedAt, dev: row.dev ?? null,
    }));
  }

  /** Forget one object (it was deleted, or it is gone from the bucket). */
  delete(folder: string, key: string): void {
    this.guard(() => this.stmts.del.run(folder, key));
  }

  /** Run `fn` in one transaction (batched commits during a reconcile). */
  batch(fn: () => void): void {
    this.guard(() => this.db.transaction(fn)());
  }

  /**
   * Mark a completed reconcile (and, when listed, a completed remote listing). `converged` (default: listed):
   * the listing's plan ran whole (no guard held deletes back), so the bucket, the folder and the DB agree and a
   * listing owed since an unclean stop is paid.
   */
  markSynced(folder: string, at: number, listed: boolean, converged = listed): void {
    this.guard(() => {
      this.stmts.folderSetSync.run(at, folder);
      if (listed) this.stmts.folderSetList.run(at, folder);
      if (listed && converged) this.stmts.folderNeedsList.run(0, folder);
    });
  }

  /** These folders' next full reconcile must list the bucket (an unclean stop may have left the DB behind it). */
  setNeedsList(folders: readonly string[]): void {
    this.guard(() => this.db.transaction(() => {
      for (const f of folders) this.stmts.folderNeedsList.run(1, f);
    })());
  }

  /** True while the folder owes a listing since an unclean stop. */
  needsList(folder: string): boolean {
    return !!this.guard(() => this.stmts.folderGetNeedsList.get(folder))?.needs_list;
  }

  /** Every folder the DB knows, with its counts and the operations spent on it. */
  folders(): FolderStatus[] {
    return this.guard(() => this.stmts.folderAll.all().map((r) => {
      const c = this.stmts.count.get(r.name)!;
      return {
        name: r.name, bucket: r.bucket, prefix: r.prefix, lastSync: r.last_sync, lastList: r.last_list, files: c.n, bytes: c.bytes ?? 0,
        ops: { classA: r.ops_a, classB: r.ops_b, free: r.ops_free }, needsList: !!r.needs_list,
      };
    }));
  }

  /** Add requests spent on a folder to its running total. */
  addOps(folder: string, ops: { classA: number; classB: number; free: number }): void {
    if (!ops.classA && !ops.classB && !ops.free) return;
    this.guard(() => this.stmts.folderAddOps.run(ops.classA, ops.classB, ops.free, folder));
  }

  /**
   * Record the result of an `r2mirror verify` of a folder (its JSON summary). Touches only the folder's verify
   * columns (creating its folders row if it has none); false when the DB knows the folder under another bucket
   * or prefix, and nothing was recorded.
   */
  recordVerify(name: string, bucket: string, prefix: string, at: number, result: unknown): boolean {
    return this.guard(() => this.stmts.verifySet.run({ name, bucket, prefix, at, result: JSON.stringify(result) }).changes > 0);
  }

  /** The last recorded verification of a folder (result: its JSON summary, null if unreadable); undefined if none. */
  verification(name: string): { bucket: string; prefix: string; at: number; result: unknown } | undefined {
    const r = this.guard(() => this.stmts.verifyGet.get(name));
    if (!r || r.verified_at === null) return undefined;
    let result: unknown = null;
    try {
      result = r.verify_result === null ? null : JSON.parse(r.verify_result) as unknown;
    } catch {
      // written by us, so never in practice; a damaged value must not stop `status`
    }
    return { bucket: r.bucket, prefix: r.prefix, at: r.verified_at, result };
  }

  /**
   * Record the failures of a reconcile. A full reconcile replaces the folder's list; a scoped one replaces
   * the entries of its scope (paths and everything under them) and leaves the others.
   */
  recordFailures(folder: string, failed: readonly { rel: string; reason: string }[], scope: readonly string[] | undefined, at: number): void {
    const now = new Set(failed.map((f) => f.rel));
    const inScope = (rel: string) => !scope || scope.some((p) => rel === p || rel.startsWith(p + '/'));
    this.guard(() => this.db.transaction(() => {
      for (const r of this.stmts.failList.all(folder)) if (inScope(r.rel) && !now.has(r.rel)) this.stmts.failClear.run(folder, r.rel);
      for (const f of failed) this.stmts.failUpsert.run(folder, f.rel, f.reason, at, at);
    })());
  }

  /** The files of a folder that failed, with their reasons. */
  failures(folder: string): FailureRow[] {
    return this.guard(() => this.stmts.failList.all(folder).map((r) => ({
      rel: r.rel, reason: r.reason, firstAt: r.first_at, lastAt: r.last_at, attempts: r.attempts,
    })));
  }

  /** Publish the running daemon's state (for `status`). */
  setLive(pid: number, startedAt: number, state: unknown): void {
    this.guard(() => this.stmts.liveSet.run(pid, startedAt, Date.now(), JSON.stringify(state)));
  }

  /** The daemon's last published state, if any (it may be stale: check the pid and updatedAt). */
  live(): LiveRow | undefined {
    const r = this.guard(() => this.stmts.liveGet.get());
    return r ? { pid: r.pid, startedAt: r.started_at, updatedAt: r.updated_at, state: JSON.parse(r.state) as unknown } : undefined;
  }

  /** The daemon stopped: remove its live state. */
  clearLive(): void {
    this.guard(() => this.stmts.liveClear.run());
  }

  /**
   * Every run other than `except` that never finished. Only one process holds the DB lock, so each of them was
   * killed (or lost power) while it ran.
   */
  unfinishedRuns(except = -1): UnfinishedRun[] {
    return this.guard(() => this.stmts.runsUnfinished.all(except)).map((r) => ({
      id: r.id, kind: r.kind, startedAt: r.started_at, folders: parseFolders(r.folders),
    }));
  }

  /** Start a run record with the folders it reconciles; returns its id. */
  runStarted(kind: string, at: number, folders?: readonly string[]): number {
    return Number(this.guard(() => this.stmts.runStart.run(kind, at, folders ? JSON.stringify(folders) : null)).lastInsertRowid);
  }

  /** Finish a run record with its JSON summary. */
  runFinished(id: number, at: number, summary: unknown): void {
    this.guard(() => this.stmts.runEnd.run(at, JSON.stringify(summary), id));
  }

  /** Close the records of killed runs once what they left behind was swept: they are no longer unfinished. */
  runsInterrupted(ids: readonly number[], at: number): void {
    this.guard(() => this.db.transaction(() => {
      for (const id of ids) this.stmts.runEnd.run(at, JSON.stringify({ crashed: true }), id);
    })());
  }

  /**
   * Run one DB call. SQLite failing under us (disk full, read-only file system, I/O error, corruption found
   * late) becomes a FatalError that names the file (exit 78), not an internal error.
   */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof Database.SqliteError) throw new FatalError(`state DB ${this.path}: ${describeSqlite(err)}`, ExitCode.CONFIG, { cause: err });
      throw err;
    }
  }

  /** Close the DB and release the lock. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.ro) this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // a checkpoint is an optimisation; the WAL is replayed on the next open
    }
    this.db.close();
    this.lockDb?.close();
    this.lockDb = undefined;
    if (this.snapshotDir) fs.rmSync(this.snapshotDir, { recursive: true, force: true });
  }
}

/** runs.folders: a JSON array of names; anything else (NULL from schema 2, damage) means every folder. */
function parseFolders(s: string | null): string[] | null {
  if (s === null) return null;
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : null;
  } catch {
    return null;
  }
}

function takeLock(file: string): Database {
  const lockFile = file + '.lock';
  let db: Database;
  try {
    db = new Database(lockFile);
  } catch (err) {
    throw new FatalError(`state DB ${file}: cannot open lock file ${lockFile}: ${describeSqlite(err)}`, ExitCode.CONFIG, { cause: err });
  }
  try {
    db.pragma('busy_timeout = 0');
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER); COMMIT;');
    return db;
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new FatalError(
        `state DB ${file} is in use by another r2mirror process (sync or daemon); wait for it to finish or stop it`,
        ExitCode.TEMPFAIL, { cause: err });
    }
    throw new FatalError(`state DB ${file}: cannot lock ${lockFile}: ${describeSqlite(err)}`, ExitCode.CONFIG, { cause: err });
  }
}

function migrate(db: Database, file: string, readonly: boolean): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new FatalError(
      `state DB ${file} has schema version ${version}, but this r2mirror only knows up to ${SCHEMA_VERSION}: ` +
        'it was written by a newer r2mirror; upgrade r2mirror or point "state" at another file', ExitCode.CONFIG);
  }
  if (version === SCHEMA_VERSION) return;
  if (readonly) {
    if (file && db.name !== ':memory:') throw new FatalError(`state DB ${file} needs an upgrade; run without --dry-run once`, ExitCode.CONFIG);
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    return;
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

function describeSqlite(err: unknown): string {
  const e = err as { code?: string; message?: string };
  // Extended codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED) are described by their primary code.
  switch (e.code?.split('_').slice(0, 2).join('_')) {
    case 'SQLITE_NOTADB':
      return 'the file is not an r2mirror state DB (corrupt or another kind of file); move it away to start fresh (the next sync adopts what is already in the bucket)';
    case 'SQLITE_CORRUPT':
      return 'the database is corrupt; move it away to start fresh (the next sync adopts what is already in the bucket)';
    case 'SQLITE_READONLY':
    case 'SQLITE_CANTOPEN':
      return `cannot open it for writing (${e.message}); check the path and its permissions, or that the file system is not read-only`;
    case 'SQLITE_FULL':
      return 'the disk is full; free some space and run again (objects uploaded meanwhile are adopted, not sent again)';
    case 'SQLITE_IOERR':
      return `I/O error (${e.message})`;
    default:
      return e.message ?? String(err);
  }
}
