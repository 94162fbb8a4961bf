// What a streamed reconcile must remember until the merge of walk, rows and listing has ended, kept in a private
// SQLite database (a temporary file SQLite unlinks at once; its page cache is capped), not in memory: new files
// that may be renames, keys whose file is gone (the removals the guards must count before any runs, and the
// rename sources, indexed by size and inode / name / size alone), and a dry run's plan (SpillList).
// Must not: touch the state DB or a user's file; hold per-file data in memory.

import type { ObjectRow } from './objects.js';
import { Database } from './sqlite.js';

/** A file as the walk saw it (local/scan.ts's LocalFile, which the spool does not import: state/ is below local/). */
export interface SpooledFile {
  readonly key: string;
  readonly rel: string;
  readonly size: number;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly ino: string;
  readonly dev?: string | undefined;
  readonly mtimeMs: number;
}

/** Rows read or written per statement page. */
const PAGE = 1000;

/** A private, self-deleting database with a small page cache. */
function scratchDb(): Database {
  const db = new Database('');
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -8192'); // 8 MiB; the rest is in the temporary file
  db.pragma('temp_store = FILE');
  return db;
}

/** What happens to a key whose file is gone: forget its row, remove its object, or keep both (an excluded path). */
export type GoneKind = 'forget' | 'remove' | 'keep';

/** A key with no local file, as the spool gives it back. */
export interface GoneEntry {
  readonly key: string;
  readonly kind: GoneKind;
  /** It had a row (else only an object). */
  readonly hasRow: boolean;
  /** The key of the new file this row was claimed for as the old name of a rename. */
  readonly claimedBy: string | null;
  /** The outcome kind of that rename's copy ('copied', 'uploaded', 'gone', 'failed'), or null when it did not run. */
  readonly outcome: string | null;
}

const baseName = (rel: string) => rel.slice(rel.lastIndexOf('/') + 1);

/** One reconcile's spool. Close it when the reconcile ends. */
export class Spool {
  private readonly db = scratchDb();
  private readonly stmts;
  private freshCount = 0;
  private sourceCount = 0;

  constructor() {
    this.db.exec(`
      CREATE TABLE fresh (key TEXT PRIMARY KEY, rel TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns TEXT NOT NULL,
        ctime_ns TEXT NOT NULL, ino TEXT NOT NULL, dev TEXT, mtime_ms REAL NOT NULL) WITHOUT ROWID;
      CREATE TABLE gone (key TEXT PRIMARY KEY, kind TEXT NOT NULL, has_row INTEGER NOT NULL, source INTEGER NOT NULL,
        rel TEXT, size INTEGER, ino TEXT, base TEXT, etag TEXT, part_size INTEGER, dev TEXT,
        claimed_by TEXT, outcome TEXT) WITHOUT ROWID;
      CREATE INDEX gone_ino ON gone(size, ino, key) WHERE source = 1;
      CREATE INDEX gone_name ON gone(size, base, key) WHERE source = 1;
      CREATE INDEX gone_size ON gone(size, key) WHERE source = 1;
    `);
    // One transaction for the spool's life: its writes stay in the page cache (spilling to the temporary file)
    // instead of committing each row; nothing in it outlives the reconcile.
    this.db.exec('BEGIN');
    const db = this.db;
    this.stmts = {
      fresh: db.prepare('INSERT INTO fresh VALUES (@key, @rel, @size, @mtimeNs, @ctimeNs, @ino, @dev, @mtimeMs)'),
      freshPage: db.prepare<[string, number], { key: string; rel: string; size: number; mtime_ns: string; ctime_ns: string; ino: string; dev: string | null; mtime_ms: number }>(
        'SELECT * FROM fresh WHERE key > ? ORDER BY key LIMIT ?'),
      gone: db.prepare('INSERT INTO gone VALUES (@key, @kind, @hasRow, @source, @rel, @size, @ino, @base, @etag, @partSize, @dev, NULL, NULL)'),
      byIno: db.prepare<[number, string], GoneRow>('SELECT * FROM gone WHERE source = 1 AND size = ? AND ino = ? ORDER BY key LIMIT 1'),
      byName: db.prepare<[number, string], GoneRow>('SELECT * FROM gone WHERE source = 1 AND size = ? AND base = ? ORDER BY key LIMIT 1'),
      bySize: db.prepare<[number], GoneRow>('SELECT * FROM gone WHERE source = 1 AND size = ? ORDER BY key LIMIT 1'),
      claim: db.prepare<[string, string]>('UPDATE gone SET source = 0, claimed_by = ? WHERE key = ?'),
      outcome: db.prepare<[string, string]>('UPDATE gone SET outcome = ? WHERE key = ?'),
      isGone: db.prepare<[string], { n: number }>('SELECT 1 AS n FROM gone WHERE key = ?'),
      onDevice: db.prepare<[], { key: string; rel: string; dev: string }>('SELECT key, rel, dev FROM gone WHERE has_row = 1 AND dev IS NOT NULL'),
      holdAll: db.prepare('DELETE FROM gone'),
      holdRange: db.prepare<[string, string]>('DELETE FROM gone WHERE key >= ? AND key < ?'),
      holdPrefix: db.prepare<[{ p: string }]>('DELETE FROM gone WHERE key >= @p AND substr(key, 1, length(@p)) = @p'),
      gonePage: db.prepare<[string, number], GoneRow>('SELECT * FROM gone WHERE key > ? ORDER BY key LIMIT ?'),
      plainRemovals: db.prepare<[], { n: number }>(
        "SELECT count(*) AS n FROM gone WHERE kind = 'remove' AND (claimed_by IS NULL OR (outcome IS NOT NULL AND outcome NOT IN ('copied', 'failed')))"),
    };
  }

  /** A new file (no row, no object) that may turn out to be a rename: decided by claim() once the merge ended. */
  addFresh(file: SpooledFile): void {
    this.freshCount++;
    this.stmts.fresh.run({ key: file.key, rel: file.rel, size: file.size, mtimeNs: file.mtimeNs, ctimeNs: file.ctimeNs, ino: file.ino, dev: file.dev ?? null, mtimeMs: file.mtimeMs });
  }

  /** A key with no local file. `source`: its row may be the old name of a rename. */
  addGone(key: string, kind: GoneKind, row: ObjectRow | undefined, source: boolean): void {
    if (source) this.sourceCount++;
    this.stmts.gone.run({
      key, kind, hasRow: row ? 1 : 0, source: source ? 1 : 0, rel: row?.rel ?? null, size: row?.size ?? null, ino: row?.ino ?? null,
      base: row ? baseName(row.rel) : null, etag: row?.etag ?? null, partSize: row?.partSize ?? null, dev: row?.dev ?? null,
    });
  }

  /** Whether any new file was held back, and whether any row could be a rename's source. */
  get hasFresh(): boolean { return this.freshCount > 0; }
  get hasSources(): boolean { return this.sourceCount > 0; }

  /** The held-back new files in key order, a page at a time. */
  *freshFiles(): Generator<SpooledFile[]> {
    let after = '';
    for (;;) {
      const page = this.stmts.freshPage.all(after, PAGE);
      if (page.length === 0) return;
      after = page.at(-1)!.key;
      yield page.map((r) => ({ key: r.key, rel: r.rel, size: r.size, mtimeNs: r.mtime_ns, ctimeNs: r.ctime_ns, ino: r.ino, mtimeMs: r.mtime_ms, ...(r.dev !== null ? { dev: r.dev } : {}) }));
    }
  }

  /**
   * The row a new file of this size is most likely a rename of, claimed for it (plan.ts's rule): same inode first,
   * then the same file name, then any of the same size; each in key order.
   */
  claim(file: SpooledFile): ObjectRow | undefined {
    if (this.sourceCount === 0) return undefined;
    const s = this.stmts;
    const r = s.byIno.get(file.size, file.ino) ?? s.byName.get(file.size, baseName(file.rel)) ?? s.bySize.get(file.size);
    if (!r) return undefined;
    s.claim.run(file.key, r.key);
    this.sourceCount--;
    return { key: r.key, rel: r.rel!, size: r.size!, mtimeNs: '', ino: r.ino!, etag: r.etag!, md5: null, partSize: r.part_size!, syncedAt: 0 };
  }

  /** The outcome of the copy that renamed `source`. */
  settle(source: string, kind: string): void {
    this.stmts.outcome.run(kind, source);
  }

  isGone(key: string): boolean {
    return this.stmts.isGone.get(key) !== undefined;
  }

  /** Rows whose file is gone that recorded a device (the evidence for an unmounted disk). */
  recordedOnDevice(): Iterable<{ key: string; rel: string; dev: string }> {
    return this.stmts.onDevice.iterate(); // read to the end before any other statement of the spool runs
  }

  /** Nothing at or under this key prefix is removed or forgotten: its disk is not mounted where it was. */
  hold(prefix: string): void {
    const last = prefix.charCodeAt(prefix.length - 1);
    if (prefix === '') this.stmts.holdAll.run();
    else if (last < 0xd800) this.stmts.holdRange.run(prefix, prefix.slice(0, -1) + String.fromCharCode(last + 1));
    else this.stmts.holdPrefix.run({ p: prefix });
  }

  /** How many removals are deletes of their own (not a rename's old name whose copy happened, nor one held back). */
  plainRemovals(): number {
    return this.stmts.plainRemovals.get()!.n;
  }

  /** Every key whose file is gone, in key order, a page at a time. */
  *goneEntries(): Generator<GoneEntry[]> {
    let after = '';
    for (;;) {
      const page = this.stmts.gonePage.all(after, PAGE);
      if (page.length === 0) return;
      after = page.at(-1)!.key;
      yield page.map((r) => ({ key: r.key, kind: r.kind as GoneKind, hasRow: r.has_row === 1, claimedBy: r.claimed_by, outcome: r.outcome }));
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

interface GoneRow {
  key: string;
  kind: string;
  has_row: number;
  rel: string | null;
  size: number | null;
  ino: string | null;
  etag: string | null;
  part_size: number | null;
  claimed_by: string | null;
  outcome: string | null;
}

/**
 * An append-only list that keeps its first `keep` items in memory and the rest in a private temporary database,
 * a page of PAGE items (one JSON array) per row: a dry run's plan of a million actions costs a file, not the heap.
 * Iterable; `length` counts all items; `head(n)` reads the first n (n <= keep) without touching the disk.
 */
export class SpillList<T> implements Iterable<T> {
  private readonly first: T[] = [];
  private db: Database | undefined;
  private pending: T[] = [];
  private pages = 0;
  length = 0;

  constructor(private readonly keep = 1000) {}

  push(item: T): void {
    this.length++;
    if (this.first.length < this.keep) this.first.push(item);
    else if (this.pending.push(item) >= PAGE) this.flush();
  }

  head(n: number): T[] {
    return this.first.slice(0, n);
  }

  *[Symbol.iterator](): Iterator<T> {
    yield* this.first;
    const tail = this.pending; // the last, partial page: read after the pages written before it
    if (this.db) {
      const page = this.db.prepare<[number], { json: string }>('SELECT json FROM items WHERE seq = ?');
      for (let seq = 1; seq <= this.pages; seq++) yield* JSON.parse(page.get(seq)!.json) as T[];
    }
    yield* tail;
  }

  toArray(): T[] {
    return [...this];
  }

  /** JSON shows it as an array (commands/json-out.ts writes it piece by piece instead). */
  toJSON(): T[] {
    return this.toArray();
  }

  private flush(): void {
    if (!this.db) {
      this.db = scratchDb();
      this.db.exec('CREATE TABLE items (seq INTEGER PRIMARY KEY, json TEXT NOT NULL)');
    }
    this.db.prepare<[number, string]>('INSERT INTO items VALUES (?, ?)').run(++this.pages, JSON.stringify(this.pending));
    this.pending = [];
  }
}
