// The SQLite binding (better-sqlite3 13: node-addon-api, prebuilt binaries for Linux, macOS and Windows inside
// the npm package, so no install script and no compiler; Node 22 or later). Everything that opens a database
// imports it from here. Also: SQLite errors in words.
// Must not: open a database itself; import anything of r2mirror's.

import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

const require = createRequire(import.meta.url);

/** The Database class. */
export const Database = require('better-sqlite3') as typeof BetterSqlite3;

/** The binding's version ("13.2.0"), for `doctor`. */
export function bindingVersion(): string {
  return (require('better-sqlite3/package.json') as { version: string }).version;
}

/** An open database. */
export type Database = BetterSqlite3.Database;

/** What a SQLite failure means for the user, and what to do about it (the text after "state DB <file>: "). */
export function describeSqlite(err: unknown): string {
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
