// The single-writer lock of the state DB: an exclusive SQLite lock on the side file `<db>.lock`. The OS drops it
// when the process dies, even on kill -9, so there is no stale PID file to clean up. Also two probes of it.
// Must not: touch the state DB itself (only its `.lock` file); import from commands/ or any layer above state/.

import fs from 'node:fs';
import { ExitCode, FatalError } from '../errors.js';
import { Database, describeSqlite } from './sqlite.js';

/** Take the writer lock of the DB at `file`; the returned connection holds it until closed. Throws FatalError (75 when held). */
export function takeLock(file: string): Database {
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

/**
 * True when another process holds the writer lock of the DB at `file`, probed by taking the lock for an instant;
 * false when there is no lock file or it cannot be probed.
 */
export function lockTakenElsewhere(file: string): boolean {
  if (!fs.existsSync(file + '.lock')) return false;
  try {
    takeLock(file).close();
    return false;
  } catch (err) {
    return err instanceof FatalError && err.exitCode === ExitCode.TEMPFAIL;
  }
}

/**
 * True when another process holds the writer lock, probed without writing anything: the lock file is opened
 * read-only (and only if it exists), so a user who may not write it can still ask.
 */
export function lockHeldReadOnly(file: string): boolean {
  const lockFile = `${file}.lock`;
  if (!fs.existsSync(lockFile)) return false;
  let db;
  try {
    db = new Database(lockFile, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 0');
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return false;
  } catch (err) {
    return (err as { code?: string }).code === 'SQLITE_BUSY';
  } finally {
    db?.close();
  }
}
