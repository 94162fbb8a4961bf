// Ordered migrations for the state DB, keyed to PRAGMA user_version; a new one is appended.
// Must not: edit or reorder a migration that has shipped; import anything.

/** Each entry moves the schema from version i to i + 1. */
export const MIGRATIONS: readonly string[] = [
  // 1: what we mirrored, per folder.
  `
  CREATE TABLE folders (
    name        TEXT PRIMARY KEY,
    bucket      TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    last_sync   INTEGER,           -- ms since epoch of the last completed reconcile
    last_list   INTEGER            -- ms since epoch of the last full remote listing
  ) STRICT;

  -- A row says: this key holds an object with this ETag, made from a file with this size/mtime/inode.
  -- Written only after the server confirmed the object and a re-stat showed the file unchanged.
  CREATE TABLE objects (
    folder      TEXT NOT NULL REFERENCES folders(name) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    rel         TEXT NOT NULL,      -- path relative to the folder root, '/' separated, as on disk
    size        INTEGER NOT NULL,
    mtime_ns    TEXT NOT NULL,      -- decimal nanoseconds (exceeds double precision)
    ino         TEXT NOT NULL,      -- decimal inode (may exceed 2^53)
    etag        TEXT NOT NULL,      -- as the server reported it, without quotes
    md5         TEXT,               -- hex MD5 of the whole content, when we computed it
    part_size   INTEGER NOT NULL,   -- 0 for a single PUT
    synced_at   INTEGER NOT NULL,
    PRIMARY KEY (folder, key)
  ) STRICT, WITHOUT ROWID;

  CREATE INDEX objects_md5 ON objects(folder, size, md5);

  -- One row per run, for 'status' and for the operation bill.
  CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    summary     TEXT                -- JSON
  ) STRICT;
  `,
  // 2: what `r2mirror status` shows: operations spent per folder, files that failed, the running daemon's state.
  `
  ALTER TABLE folders ADD COLUMN ops_a INTEGER NOT NULL DEFAULT 0;     -- Class A requests, cumulative
  ALTER TABLE folders ADD COLUMN ops_b INTEGER NOT NULL DEFAULT 0;     -- Class B requests, cumulative
  ALTER TABLE folders ADD COLUMN ops_free INTEGER NOT NULL DEFAULT 0;  -- free requests (DELETE, abort)

  -- Files the last reconcile covering them could not mirror, with the reason; cleared when they succeed.
  CREATE TABLE failures (
    folder      TEXT NOT NULL REFERENCES folders(name) ON DELETE CASCADE,
    rel         TEXT NOT NULL,
    reason      TEXT NOT NULL,
    first_at    INTEGER NOT NULL,
    last_at     INTEGER NOT NULL,
    attempts    INTEGER NOT NULL,
    PRIMARY KEY (folder, rel)
  ) STRICT, WITHOUT ROWID;

  -- The running daemon's live state (one row, rewritten every few seconds while it runs).
  CREATE TABLE live (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    pid         INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    state       TEXT NOT NULL       -- JSON
  ) STRICT;
  `,
  // 3: trust after crashes and remounts, and `r2mirror verify` (one migration; columns stay NULL/0 until used).
  `
  -- The folders a run reconciles (JSON array of names). A run that never finished has each of them swept of
  -- open multipart uploads and listed on its next reconcile; the run is marked finished once all are swept.
  ALTER TABLE runs ADD COLUMN folders TEXT;
  -- 1 when an unclean stop may have left the DB behind the bucket: the next reconcile of the folder lists it
  -- (adopting complete objects, deleting orphans) whatever verifyInterval says; a completed listing clears it.
  ALTER TABLE folders ADD COLUMN needs_list INTEGER NOT NULL DEFAULT 0;
  -- The last r2mirror verify of the folder: when, and what it found (JSON).
  ALTER TABLE folders ADD COLUMN verified_at INTEGER;
  ALTER TABLE folders ADD COLUMN verify_result TEXT;
  -- st_dev of the file when its row was written (decimal; NULL for rows from before v3). A missing file whose
  -- directory is now on another device lived on a disk that is not mounted: never a delete.
  ALTER TABLE objects ADD COLUMN dev TEXT;
  `,
  // 4: the trash of a folder with trashRetention: its expiry rule and its size at the last listing (JSON).
  `
  ALTER TABLE folders ADD COLUMN trash TEXT;
  `,
  // 5: multipart uploads in progress and their confirmed parts, so an interrupted upload resumes where it stopped.
  `
  -- One row per open multipart upload of ours: written right after CreateMultipartUpload answered, removed once the
  -- upload is completed or aborted. The file's identity when it began: a file that changed since starts over.
  CREATE TABLE uploads (
    folder      TEXT NOT NULL REFERENCES folders(name) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    upload_id   TEXT NOT NULL,
    bucket      TEXT NOT NULL,
    part_size   INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    TEXT NOT NULL,
    ctime_ns    TEXT NOT NULL,
    ino         TEXT NOT NULL,
    started_at  INTEGER NOT NULL,     -- ms since epoch of CreateMultipartUpload
    touched_at  INTEGER NOT NULL,     -- ms since epoch of the last attempt to send or resume it
    PRIMARY KEY (folder, key)
  ) STRICT, WITHOUT ROWID;

  -- A part the server confirmed (UploadPart answered with this ETag for bytes whose MD5 we computed).
  CREATE TABLE upload_parts (
    folder      TEXT NOT NULL,
    key         TEXT NOT NULL,
    upload_id   TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    md5         TEXT NOT NULL,        -- hex MD5 of the part's bytes
    etag        TEXT NOT NULL,        -- as the server reported it, without quotes
    PRIMARY KEY (folder, key, part_number),
    FOREIGN KEY (folder, key) REFERENCES uploads(folder, key) ON DELETE CASCADE
  ) STRICT, WITHOUT ROWID;
  `,
];

/** The schema version this build writes. A DB with a higher version comes from a newer r2mirror. */
export const SCHEMA_VERSION = MIGRATIONS.length;
