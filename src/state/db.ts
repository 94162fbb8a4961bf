// One open state DB: the file opened (created and migrated as needed, or read-only, or as a private copy), the
// writer lock, the prepared statements, and guard(), which turns SQLite failing under us into a FatalError.
// Must not: know what the tables mean (the table modules do); import from commands/ or any layer above state/.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ExitCode, FatalError } from '../errors.js';
import { takeLock } from './lock.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import { Database, describeSqlite } from './sqlite.js';
import { prepareStatements, type Statements } from './statements.js';

/** Options for {@link StateDb.open} (and Store.open). */
export interface StoreOptions {
  /** Take the single-writer lock (default true). Readers such as `status` pass false. */
  readonly lock?: boolean;
  /** Open without creating or migrating anything (dry runs). */
  readonly readonly?: boolean;
}

/** The DB handle and statement set that every table module of one Store shares. */
export class StateDb {
  readonly path: string;
  readonly db: Database;
  readonly stmts: Statements;
  /** Opened read-only (directly, or as a private copy): nothing is ever written. */
  readonly ro: boolean;
  private lockDb: Database | undefined;
  /** A private copy read instead of the DB (see open()); removed by close(). */
  private readonly snapshotDir: string | undefined;
  private closed = false;

  private constructor(file: string, db: Database, lockDb: Database | undefined, ro: boolean, snapshotDir?: string) {
    this.path = file;
    this.ro = ro;
    this.db = db;
    this.lockDb = lockDb;
    this.snapshotDir = snapshotDir;
    this.stmts = prepareStatements(db);
  }

  /**
   * Open (creating and migrating as needed) the DB at `file`. Throws FatalError with a message that names
   * the file for: a DB locked by another r2mirror (exit 75), a corrupt file, a DB from a newer r2mirror,
   * a directory that cannot be created or written (exit 78).
   */
  static open(file: string, opts: StoreOptions = {}): StateDb {
    const lock = opts.lock ?? true;
    if (!opts.readonly) {
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
      } catch (err) {
        throw new FatalError(`state DB ${file}: cannot create directory ${path.dirname(file)}: ${(err as Error).message}`, ExitCode.CONFIG, { cause: err });
      }
    }
    const lockDb = lock && !opts.readonly ? takeLock(file) : undefined;
    // SQLite creates the -wal and -shm files of a WAL database even for a read-only connection, and leaves them;
    // made by another user (root running `status`), they would lock the daemon out of its own DB. Without a
    // -wal no writer is active and the main file holds everything: read a private copy of it instead.
    let snapshotDir: string | undefined;
    let db: Database;
    try {
      if (opts.readonly && fs.existsSync(file) && !fs.existsSync(file + '-wal')) {
        snapshotDir = fs.mkdtempSync(path.join(os.tmpdir(), 'r2mirror-state-'));
        db = openCopy(file, snapshotDir);
      } else {
        db = openFile(file, !!opts.readonly);
      }
    } catch (err) {
      lockDb?.close();
      if (snapshotDir) fs.rmSync(snapshotDir, { recursive: true, force: true });
      if (err instanceof FatalError) throw err;
      throw new FatalError(`state DB ${file}: ${describeSqlite(err)}`, ExitCode.CONFIG, { cause: err });
    }
    return new StateDb(file, db, lockDb, !!opts.readonly, snapshotDir);
  }

  /**
   * Run one DB call. SQLite failing under us (disk full, read-only file system, I/O error, corruption found
   * late) becomes a FatalError that names the file (exit 78), not an internal error.
   */
  guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof Database.SqliteError) throw new FatalError(`state DB ${this.path}: ${describeSqlite(err)}`, ExitCode.CONFIG, { cause: err });
      throw err;
    }
  }

  /** Run `fn` in one transaction, guarded. */
  transaction(fn: () => void): void {
    this.guard(() => this.db.transaction(fn)());
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

/** Read a private copy of `file` in `dir`: it may be migrated; the original is never written. */
function openCopy(file: string, dir: string): Database {
  const copy = path.join(dir, 'state.db');
  fs.copyFileSync(file, copy);
  const db = new Database(copy);
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db, file, false); // the copy may be migrated; the original is never written
  db.pragma('query_only = ON');
  return db;
}

/** Open `file` itself (read-only: must exist; a missing one is an empty DB in memory). */
function openFile(file: string, readonly: boolean): Database {
  const db = readonly && !fs.existsSync(file) ? new Database(':memory:') : new Database(file, { readonly, fileMustExist: readonly });
  db.pragma('busy_timeout = 5000');
  if (!readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.pragma('foreign_keys = ON');
  migrate(db, file, readonly);
  return db;
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
