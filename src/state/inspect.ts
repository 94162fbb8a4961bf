// A look at the state DB for `doctor`, without SQLite opening it: whether the file is there, is an SQLite
// database, and its schema version (read from the header); whether a running r2mirror holds its lock; and
// whether the SQLite binding loads (an in-memory database, never the state DB).
// Must not: create, migrate, lock or write anything (no -wal, -shm or lock file may appear); import from
// commands/ or any layer above state/.

import fs from 'node:fs';

import { Database, bindingVersion } from './sqlite.js';

export { lockHeldReadOnly } from './lock.js';

/** Load the SQLite binding and open an in-memory database (`doctor`); throws what the binding throws. */
export function probeSqliteBinding(): { binding: string; sqlite: string } {
  const db = new Database(':memory:');
  try {
    const { v } = db.prepare('SELECT sqlite_version() AS v').get() as { v: string };
    return { binding: bindingVersion(), sqlite: v };
  } finally {
    db.close();
  }
}

/** What the state DB file is, as far as its header tells. `message`: the error of the failed stat or read. */
export type StateFileInfo =
  | { readonly kind: 'missing' }
  | { readonly kind: 'stat-failed'; readonly message: string }
  | { readonly kind: 'not-a-file' }
  | { readonly kind: 'unreadable'; readonly message: string }
  | { readonly kind: 'not-sqlite' }
  /** An SQLite database (an empty file is one too, of version 0) with this PRAGMA user_version. */
  | { readonly kind: 'sqlite'; readonly version: number };

/** Read what the file at `file` is: a plain stat and a read of its first 100 bytes. */
export function inspectState(file: string): StateFileInfo {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'stat-failed', message: (err as Error).message };
  }
  if (!st.isFile()) return { kind: 'not-a-file' };
  // user_version is the 4 bytes at offset 60 of the header: the same value PRAGMA user_version returns, read
  // without SQLite, so nothing is created (no -wal/-shm) and no lock is taken.
  const header = Buffer.alloc(100);
  let n = 0;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      n = fs.readSync(fd, header, 0, 100, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    return { kind: 'unreadable', message: (err as Error).message };
  }
  if (n > 0 && (n < 100 || header.toString('latin1', 0, 16) !== 'SQLite format 3\0')) return { kind: 'not-sqlite' };
  return { kind: 'sqlite', version: n === 0 ? 0 : header.readUInt32BE(60) };
}
