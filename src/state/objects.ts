// The `objects` table: one row per mirrored object, saying "this key holds an object with this ETag, made from a
// file with this size/mtime/inode". Read whole, by scope, by device, or in key order page by page (the streamed
// reconcile: each page one short read, so the caller may write between pages); written one row at a time.
// Must not: write a row on its own account (callers do, only after the server confirmed the object); return rows
// of a folder whose bucket or prefix changed (they describe other keys); import from commands/ or above state/.

import type { StateDb } from './db.js';
import type { RawRow, RawTuple } from './statements.js';

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

const toRow = (r: RawRow): ObjectRow => ({
  key: r.key, rel: r.rel, size: r.size, mtimeNs: r.mtime_ns, ino: r.ino, etag: r.etag, md5: r.md5,
  partSize: r.part_size, syncedAt: r.synced_at, ...(r.dev !== null ? { dev: r.dev } : {}),
});

const tupleRow = ([key, rel, size, mtimeNs, ino, etag, md5, partSize, syncedAt, dev]: RawTuple): ObjectRow => ({
  key, rel, size, mtimeNs, ino, etag, md5, partSize, syncedAt, ...(dev !== null ? { dev } : {}),
});

/**
 * The first string after every string that starts with `p` (in SQLite's BINARY order, which for UTF-8 text is code
 * point order): `p` with its last character incremented. Undefined when that is not one plain character (empty
 * prefix, a surrogate, or U+D7FF whose successor is one); the prefixes of a scope end in '/', which always has one.
 */
function prefixEnd(p: string): string | undefined {
  const last = p.charCodeAt(p.length - 1);
  if (!(last < 0xd7ff)) return undefined;
  return p.slice(0, -1) + String.fromCharCode(last + 1);
}

/** The objects table of one open DB. */
export class ObjectTable {
  /** `stale`: folders whose rows describe other keys (see FolderTable.stale); they read as empty. */
  constructor(private readonly sdb: StateDb, private readonly stale: ReadonlySet<string>) {}

  /** All rows of a folder, by key. */
  rows(folder: string): Map<string, ObjectRow> {
    const out = new Map<string, ObjectRow>();
    if (this.stale.has(folder)) return out;
    this.sdb.guard(() => {
      for (const r of this.sdb.stmts.rows.iterate(folder)) out.set(r.key, toRow(r));
    });
    return out;
  }

  /** The rows of these keys and of every key under these key prefixes (a scoped reconcile). */
  rowsIn(folder: string, keys: readonly string[], prefixes: readonly string[]): Map<string, ObjectRow> {
    const out = new Map<string, ObjectRow>();
    if (this.stale.has(folder)) return out;
    const { stmts } = this.sdb;
    this.sdb.guard(() => {
      for (const k of keys) {
        const r = stmts.row.get(folder, k);
        if (r) out.set(r.key, toRow(r));
      }
      for (const p of prefixes) {
        const end = prefixEnd(p);
        const rows = end === undefined ? stmts.rowsFrom.iterate({ folder, p }) : stmts.rowsUnder.iterate({ folder, p, end });
        for (const r of rows) out.set(r.key, toRow(r));
      }
    });
    return out;
  }

  /**
   * A folder's rows in key order (UTF-8 bytes, SQLite's BINARY collation, compareKeys), in pages of `page`, never
   * all at once. Stale folders read as empty. Each page is one read that ends before it is yielded (keyset
   * pagination: key > last ORDER BY key LIMIT page), so the caller may write between pages (better-sqlite3
   * forbids writes while a statement iterates), and a key that exists throughout is seen exactly once whatever
   * is written or deleted meanwhile; a key inserted after the last one yielded is seen too.
   */
  rowsInKeyOrder(folder: string, page = 1000): Generator<ObjectRow[]> {
    positive('page', page); // at the call, not at the first next()
    return this.pages(folder, page);
  }

  private *pages(folder: string, page: number): Generator<ObjectRow[]> {
    let after = '';
    for (;;) {
      // Checked each page: a folder can turn stale (moved while read-only) between pages.
      if (this.stale.has(folder)) return;
      const raw = this.sdb.guard(() => this.sdb.stmts.rowsPage.all({ folder, after, n: page }));
      if (raw.length === 0) return;
      after = raw[raw.length - 1]![0];
      yield raw.map(tupleRow);
    }
  }

  /**
   * Every `every`-th key of the folder in key order (the split points of a parallel listing: ranges of `every`
   * keys), leaving out the last key (a range after it would be empty); [] for `every` rows or fewer and for a
   * stale folder. Steps through the folder's index once (no sort), holding only the keys it returns.
   */
  splitKeys(folder: string, every = 1000): string[] {
    positive('every', every);
    const out: string[] = [];
    if (this.stale.has(folder)) return out;
    this.sdb.guard(() => {
      for (let after = ''; ;) {
        const hop = this.sdb.stmts.splitHop.all({ folder, after, skip: every - 1 });
        if (hop.length < 2) return;
        after = hop[0]!.key;
        out.push(after);
      }
    });
    return out;
  }

  /** Show `visit` the rows recorded on device `dev` (in no particular order) until it returns false. */
  forEachOnDevice(folder: string, dev: string, visit: (row: ObjectRow) => boolean): void {
    if (this.stale.has(folder)) return;
    this.sdb.guard(() => {
      for (const r of this.sdb.stmts.onDevice.iterate(folder, dev)) if (!visit(toRow(r))) break;
    });
  }

  /** Number of rows and bytes recorded for a folder. */
  count(folder: string): { files: number; bytes: number } {
    const r = this.sdb.guard(() => this.sdb.stmts.count.get(folder)!);
    return { files: r.n, bytes: r.bytes ?? 0 };
  }

  /** Record (insert or replace) one mirrored object. Call only after the server confirmed it. */
  put(folder: string, row: ObjectRow): void {
    this.sdb.guard(() => this.sdb.stmts.put.run({
      folder, key: row.key, rel: row.rel, size: row.size, mtime_ns: row.mtimeNs, ino: row.ino, etag: row.etag,
      md5: row.md5, part_size: row.partSize, synced_at: row.syncedAt, dev: row.dev ?? null,
    }));
  }

  /** Forget one object (it was deleted, or it is gone from the bucket). */
  delete(folder: string, key: string): void {
    this.sdb.guard(() => this.sdb.stmts.del.run(folder, key));
  }
}

/** Page sizes are whole numbers from 1. */
function positive(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be a whole number from 1, got ${n}`);
}
