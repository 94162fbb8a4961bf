// Every SQL statement of the state DB, prepared once per open DB and shared by the table modules.
// Grouped by table; the column lists match schema.ts.
// Must not: run a statement; hold state; import from commands/ or any layer above state/.

import type { Database } from './sqlite.js';

/** An objects row as SQLite returns it. */
export interface RawRow {
  key: string; rel: string; size: number; mtime_ns: string; ino: string; etag: string; md5: string | null;
  part_size: number; synced_at: number; dev: string | null;
}
/** A RawRow as a raw statement returns it (rowsPage: the streamed reconcile reads every row, and an array per row costs less than an object). */
export type RawTuple = [key: string, rel: string, size: number, mtime_ns: string, ino: string, etag: string, md5: string | null,
  part_size: number, synced_at: number, dev: string | null];

/** An uploads row as SQLite returns it. */
export interface RawUpload {
  key: string; upload_id: string; bucket: string; part_size: number; size: number; mtime_ns: string; ctime_ns: string; ino: string;
  started_at: number; touched_at: number;
}

/** The prepared statements of one open DB. */
export type Statements = ReturnType<typeof prepareStatements>;

/** Prepare every statement (once, when the DB is opened). */
// long because: a table of SQL statements, one per line; splitting it would only scatter them.
export function prepareStatements(db: Database) {
  return {
    // folders
    folderGet: db.prepare<[string], { name: string; bucket: string; prefix: string; last_sync: number | null; last_list: number | null }>(
      'SELECT * FROM folders WHERE name = ?'),
    folderInsert: db.prepare('INSERT INTO folders (name, bucket, prefix) VALUES (?, ?, ?)'),
    folderReset: db.prepare('UPDATE folders SET bucket = ?, prefix = ?, last_sync = NULL, last_list = NULL WHERE name = ?'),
    folderDeleteRows: db.prepare('DELETE FROM objects WHERE folder = ?'),
    folderSetSync: db.prepare('UPDATE folders SET last_sync = ? WHERE name = ?'),
    folderSetList: db.prepare('UPDATE folders SET last_list = ? WHERE name = ?'),
    folderNeedsList: db.prepare('UPDATE folders SET needs_list = ? WHERE name = ?'),
    folderGetNeedsList: db.prepare<[string], { needs_list: number }>('SELECT needs_list FROM folders WHERE name = ?'),
    folderAll: db.prepare<[], { name: string; bucket: string; prefix: string; last_sync: number | null; last_list: number | null; ops_a: number; ops_b: number; ops_free: number; needs_list: number }>(
      'SELECT * FROM folders ORDER BY name'),
    folderAddOps: db.prepare('UPDATE folders SET ops_a = ops_a + ?, ops_b = ops_b + ?, ops_free = ops_free + ? WHERE name = ?'),
    // A verification is recorded only for the bucket and prefix it checked (a moved folder keeps none).
    verifySet: db.prepare(`INSERT INTO folders (name, bucket, prefix, verified_at, verify_result) VALUES (@name, @bucket, @prefix, @at, @result)
        ON CONFLICT (name) DO UPDATE SET verified_at = excluded.verified_at, verify_result = excluded.verify_result
        WHERE folders.bucket = excluded.bucket AND folders.prefix = excluded.prefix`),
    verifyGet: db.prepare<[string], { bucket: string; prefix: string; verified_at: number | null; verify_result: string | null }>(
      'SELECT bucket, prefix, verified_at, verify_result FROM folders WHERE name = ?'),
    trashSet: db.prepare('UPDATE folders SET trash = ? WHERE name = ?'),
    trashGet: db.prepare<[string], { trash: string | null }>('SELECT trash FROM folders WHERE name = ?'),
    // objects
    rows: db.prepare<[string], RawRow>('SELECT key, rel, size, mtime_ns, ino, etag, md5, part_size, synced_at, dev FROM objects WHERE folder = ?'),
    row: db.prepare<[string, string], RawRow>('SELECT key, rel, size, mtime_ns, ino, etag, md5, part_size, synced_at, dev FROM objects WHERE folder = ? AND key = ?'),
    // A primary-key range: only the rows under the prefix are visited (@end: the first string after all that start
    // with @p). substr() alone does not end the scan: it read on to the folder's last key, ~650 ms on 1M rows.
    rowsUnder: db.prepare<[{ folder: string; p: string; end: string }], RawRow>('SELECT key, rel, size, mtime_ns, ino, etag, md5, part_size, synced_at, dev FROM objects WHERE folder = @folder AND key >= @p AND key < @end AND substr(key, 1, length(@p)) = @p'),
    // A prefix whose last character has no simple successor (see ObjectTable.rowsIn): the open-ended range.
    rowsFrom: db.prepare<[{ folder: string; p: string }], RawRow>('SELECT key, rel, size, mtime_ns, ino, etag, md5, part_size, synced_at, dev FROM objects WHERE folder = @folder AND key >= @p AND substr(key, 1, length(@p)) = @p'),
    // Keyset pages and split-point hops: `key > @after` lets the primary key (folder, key) find the start and give
    // the order (an index range scan, no sort); '' comes before every key (an object key is at least one byte).
    rowsPage: db.prepare<[{ folder: string; after: string; n: number }], RawTuple>('SELECT key, rel, size, mtime_ns, ino, etag, md5, part_size, synced_at, dev FROM objects WHERE folder = @folder AND key > @after ORDER BY key LIMIT @n').raw(true),
    // The key `@skip` rows after `@after`, and the one after it (present unless that key is the folder's last).
    splitHop: db.prepare<[{ folder: string; after: string; skip: number }], { key: string }>('SELECT key FROM objects WHERE folder = @folder AND key > @after ORDER BY key LIMIT 2 OFFSET @skip'),
    onDevice: db.prepare<[string, string], RawRow>('SELECT key, rel, size, mtime_ns, ino, etag, md5, part_size, synced_at, dev FROM objects WHERE folder = ? AND dev = ?'),
    count: db.prepare<[string], { n: number; bytes: number | null }>('SELECT count(*) AS n, sum(size) AS bytes FROM objects WHERE folder = ?'),
    put: db.prepare(`INSERT INTO objects (folder, key, rel, size, mtime_ns, ino, etag, md5, part_size, synced_at, dev)
        VALUES (@folder, @key, @rel, @size, @mtime_ns, @ino, @etag, @md5, @part_size, @synced_at, @dev)
        ON CONFLICT (folder, key) DO UPDATE SET rel = excluded.rel, size = excluded.size, mtime_ns = excluded.mtime_ns,
          ino = excluded.ino, etag = excluded.etag, md5 = excluded.md5, part_size = excluded.part_size, synced_at = excluded.synced_at,
          dev = excluded.dev`),
    del: db.prepare('DELETE FROM objects WHERE folder = ? AND key = ?'),
    // failures
    failUpsert: db.prepare(`INSERT INTO failures (folder, rel, reason, first_at, last_at, attempts) VALUES (?, ?, ?, ?, ?, 1)
        ON CONFLICT (folder, rel) DO UPDATE SET reason = excluded.reason, last_at = excluded.last_at, attempts = attempts + 1`),
    failClear: db.prepare('DELETE FROM failures WHERE folder = ? AND rel = ?'),
    failList: db.prepare<[string], { rel: string; reason: string; first_at: number; last_at: number; attempts: number }>(
      'SELECT rel, reason, first_at, last_at, attempts FROM failures WHERE folder = ? ORDER BY rel'),
    // live
    liveSet: db.prepare(`INSERT INTO live (id, pid, started_at, updated_at, state) VALUES (1, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, started_at = excluded.started_at, updated_at = excluded.updated_at, state = excluded.state`),
    liveGet: db.prepare<[], { pid: number; started_at: number; updated_at: number; state: string }>('SELECT * FROM live WHERE id = 1'),
    liveClear: db.prepare('DELETE FROM live'),
    // runs
    runStart: db.prepare('INSERT INTO runs (kind, started_at, folders) VALUES (?, ?, ?)'),
    runsUnfinished: db.prepare<[number], { id: number; kind: string; started_at: number; folders: string | null }>(
      'SELECT id, kind, started_at, folders FROM runs WHERE finished_at IS NULL AND id <> ? ORDER BY id'),
    runEnd: db.prepare('UPDATE runs SET finished_at = ?, summary = ? WHERE id = ?'),
    // uploads (multipart uploads in progress) and their confirmed parts
    uploads: {
      get: db.prepare<[string, string], RawUpload>('SELECT * FROM uploads WHERE folder = ? AND key = ?'),
      all: db.prepare<[string], RawUpload>('SELECT * FROM uploads WHERE folder = ? ORDER BY key'),
      parts: db.prepare<[string, string, string], { part_number: number; size: number; md5: string; etag: string }>(
        'SELECT part_number, size, md5, etag FROM upload_parts WHERE folder = ? AND key = ? AND upload_id = ? ORDER BY part_number'),
      del: db.prepare('DELETE FROM uploads WHERE folder = ? AND key = ?'),
      delId: db.prepare('DELETE FROM uploads WHERE folder = ? AND key = ? AND upload_id = ?'),
      insert: db.prepare(`INSERT INTO uploads (folder, key, upload_id, bucket, part_size, size, mtime_ns, ctime_ns, ino, started_at, touched_at)
          VALUES (@folder, @key, @upload_id, @bucket, @part_size, @size, @mtime_ns, @ctime_ns, @ino, @started_at, @started_at)`),
      touch: db.prepare('UPDATE uploads SET touched_at = ? WHERE folder = ? AND key = ? AND upload_id = ?'),
      // Only for the upload still recorded: a part that lands after its upload was ended is not recorded.
      part: db.prepare(`INSERT INTO upload_parts (folder, key, upload_id, part_number, size, md5, etag)
          SELECT folder, key, upload_id, @n, @size, @md5, @etag FROM uploads WHERE folder = @folder AND key = @key AND upload_id = @upload_id
          ON CONFLICT (folder, key, part_number) DO UPDATE SET size = excluded.size, md5 = excluded.md5, etag = excluded.etag, upload_id = excluded.upload_id`),
    },
  };
}
