// Unit tests for src/state/store.ts: schema version, typed round-trips, folder resets, run records, the errors a
// user sees for foreign or newer DBs, and the single-writer lock across processes (including kill -9).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Database } from '../../src/state/sqlite.js';
import { ExitCode, FatalError } from '../../src/errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/state/schema.js';
import { compareKeys } from '../../src/keys.js';
import { Store, type ObjectRow } from '../../src/state/store.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dirs: string[] = [];
const open: Store[] = [];
after(() => {
  for (const s of open) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'r2mirror-store-'));
  dirs.push(d);
  return d;
}

function openStore(file: string, opts?: Parameters<typeof Store.open>[1]): Store {
  const s = Store.open(file, opts);
  open.push(s);
  return s;
}

const row = (key: string, over: Partial<ObjectRow> = {}): ObjectRow => ({
  key, rel: key.replace(/^p\//, ''), size: 10, mtimeNs: '1700000000123456789', ino: '12345', etag: '0123456789abcdef0123456789abcdef',
  md5: null, partSize: 0, syncedAt: 1_700_000_000_000, ...over,
});

/** Expect a FatalError whose message matches every pattern; returns it. */
function fatal(fn: () => unknown, ...patterns: RegExp[]): FatalError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof FatalError, `expected a FatalError, got ${String(caught)}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

test('open creates the directory and a DB at the current schema version, in WAL mode', () => {
  const file = join(tempDir(), 'deep', 'er', 'state.db');
  const s = openStore(file);
  assert.equal(s.path, file);
  assert.ok(existsSync(file), 'the DB file exists');
  s.close();
  const raw = new Database(file, { readonly: true });
  try {
    assert.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    const tables = raw.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((t) => t.name);
    assert.deepEqual(tables, ['failures', 'folders', 'live', 'objects', 'runs', 'upload_parts', 'uploads']);
  } finally {
    raw.close();
  }
  assert.ok(SCHEMA_VERSION >= 1, `schema version ${SCHEMA_VERSION}`);
});

test('put / rows / delete / count round-trip, per folder, with big numbers preserved exactly', () => {
  const s = openStore(join(tempDir(), 'state.db'));
  s.folder('photos', 'bkt', 'p/');
  s.folder('docs', 'bkt', 'd/');
  const big = row('p/big.bin', {
    size: 5 * 1024 ** 4, // 5 TiB: beyond 32 bits
    mtimeNs: '1700000000123456789', // beyond double precision: 1700000000123456800 as a number
    ino: '18446744073709551615', // 2^64 - 1
    etag: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-640', md5: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', partSize: 8 * 1024 * 1024,
  });
  const small = row('p/dir/caf\u00e9.txt', { rel: 'dir/cafe\u0301.txt' });
  s.put('photos', big);
  s.put('photos', small);
  s.put('docs', row('d/x'));
  const rows = s.rows('photos');
  assert.deepEqual([...rows.keys()].sort(), ['p/big.bin', 'p/dir/caf\u00e9.txt']);
  assert.deepEqual(rows.get('p/big.bin'), big);
  assert.deepEqual(rows.get('p/dir/caf\u00e9.txt'), small, 'rel keeps the on-disk (NFD) form');
  assert.deepEqual(s.count('photos'), { files: 2, bytes: big.size + 10 });
  assert.deepEqual(s.count('docs'), { files: 1, bytes: 10 });
  assert.deepEqual(s.count('nothing'), { files: 0, bytes: 0 });

  // put replaces the row for a key
  const changed = { ...small, size: 99, etag: 'cccccccccccccccccccccccccccccccc', mtimeNs: '1800000000000000001' };
  s.put('photos', changed);
  assert.deepEqual(s.rows('photos').get(small.key), changed);
  assert.equal(s.count('photos').files, 2);

  s.delete('photos', big.key);
  assert.deepEqual([...s.rows('photos').keys()], [small.key]);
  s.delete('photos', 'p/not-there'); // no error
  assert.equal(s.rows('docs').size, 1, 'other folders untouched');
});

test('rowsIn: exact keys and everything under key prefixes, nothing else', () => {
  const s = openStore(join(tempDir(), 'state.db'));
  s.folder('f', 'b', 'p/');
  for (const k of ['p/a', 'p/dir/x', 'p/dir/sub/y', 'p/dirt', 'p/dir', 'p/é/z']) s.put('f', row(k));
  s.folder('g', 'b', 'p/');
  s.put('g', row('p/dir/x'));
  assert.deepEqual([...s.rowsIn('f', ['p/a'], []).keys()], ['p/a']);
  assert.deepEqual([...s.rowsIn('f', [], ['p/dir/']).keys()].sort(), ['p/dir/sub/y', 'p/dir/x']);
  assert.deepEqual([...s.rowsIn('f', ['p/dir', 'p/none'], ['p/dir/', 'p/é/']).keys()].sort(), ['p/dir', 'p/dir/sub/y', 'p/dir/x', 'p/é/z']);
  assert.equal(s.rowsIn('f', [], ['p/nothing/']).size, 0);
  // the ends of a prefix's range: the keys right after it in key order are not under it, the last ones under it are
  for (const k of ['p/dir0', 'p/dir/\u{10FFFF}', 'p/dir/\u{10FFFF}/z', 'p/é0', 'p/é/\uFFFF', 'p/ê', 'p/\uD7FF', 'p/\uD7FFx', 'p/\uD800']) s.put('f', row(k));
  assert.deepEqual([...s.rowsIn('f', [], ['p/dir/']).keys()].sort(), ['p/dir/sub/y', 'p/dir/x', 'p/dir/\u{10FFFF}', 'p/dir/\u{10FFFF}/z'].sort());
  assert.deepEqual([...s.rowsIn('f', [], ['p/é/']).keys()].sort(), ['p/é/z', 'p/é/\uFFFF'].sort());
  assert.deepEqual([...s.rowsIn('f', [], ['p/é']).keys()].sort(), ['p/é/z', 'p/é/\uFFFF', 'p/é0'].sort(), 'a prefix ending in a non-ASCII character');
  assert.deepEqual([...s.rowsIn('f', [], ['p/\uD7FF']).keys()].sort(), ['p/\uD7FF', 'p/\uD7FFx'].sort(), 'a prefix ending in U+D7FF (no plain successor)');
});

// Keys whose UTF-16 order (JS `<`, Array.sort) differs from their UTF-8 byte order: an astral character (a
// surrogate pair, 0xD8xx..) against U+E000..U+FFFF (U+FFEE, U+E000), plus ASCII, NFC Latin, CJK, a space, '~'.
const AWKWARD = ['p/a', 'p/A', 'p/a b', 'p/a/b', 'p/a~', 'p/caf\u00e9', 'p/\u4e2d\u6587', 'p/\u{1f600}', 'p/\u{10000}x',
  'p/\uffee', 'p/\ue000', 'p/\uffee\u{1f600}', 'p/\u{1f600}\uffee', 'p/z', 'p/\u007e', 'p/-', 'p/0'];

/** `count` keys with awkward characters mixed in, unsorted. */
function awkwardKeys(count: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) out.push(`${AWKWARD[i % AWKWARD.length]}/${(i * 7919) % 100_003}`);
  return out;
}

const pagesOf = (s: Store, folder: string, page?: number) => [...s.rowsInKeyOrder(folder, page)];

test('rowsInKeyOrder: every row once, in compareKeys (UTF-8 byte) order, in pages of the size asked', () => {
  const s = openStore(join(tempDir(), 'state.db'));
  s.folder('f', 'b', 'p/');
  s.folder('g', 'b', 'p/');
  const keys = awkwardKeys(2_345);
  s.batch(() => { for (const k of keys) s.put('f', row(k, { size: k.length })); });
  s.put('g', row('p/other-folder'));
  const sorted = [...keys].sort(compareKeys);
  assert.notDeepEqual(sorted, [...keys].sort(), 'the keys are ones where UTF-16 order and byte order differ');
  assert.ok(sorted.indexOf('p/\uffee/0') < sorted.findIndex((k) => k.startsWith('p/\u{1f600}')), 'U+FFEE before an emoji');

  for (const page of [1000, 7, 2_345, 5_000]) {
    const pages = pagesOf(s, 'f', page);
    assert.deepEqual(pages.map((p) => p.length), [...Array(Math.floor(2_345 / page)).fill(page), ...(2_345 % page ? [2_345 % page] : [])],
      `pages of ${page}`);
    assert.deepEqual(pages.flat().map((r) => r.key), sorted, `pages of ${page}: compareKeys order`);
  }
  const first = pagesOf(s, 'f')[0]![0]!;
  assert.deepEqual(first, row(first.key, { size: first.key.length }), 'whole rows');
  assert.equal(pagesOf(s, 'f').length, 3, 'default page: 1000');
  assert.deepEqual(pagesOf(s, 'nothing'), [], 'an unknown folder has no pages');
  assert.throws(() => s.rowsInKeyOrder('f', 0), RangeError);
  assert.throws(() => s.rowsInKeyOrder('f', 1.5), RangeError);
});

test('rowsInKeyOrder: writes between pages are allowed, and no key that exists throughout is skipped or repeated', () => {
  const s = openStore(join(tempDir(), 'state.db'));
  s.folder('f', 'b', 'p/');
  const keys = awkwardKeys(1_000).sort(compareKeys);
  s.batch(() => { for (const k of keys) s.put('f', row(k)); });
  const deleted = new Set<string>();
  const inserted: string[] = [];
  const seen: string[] = [];
  let n = 0;
  for (const page of s.rowsInKeyOrder('f', 100)) {
    seen.push(...page.map((r) => r.key));
    const last = page.at(-1)!.key;
    // The caller writes between pages (the merge commits rows as it goes): delete keys on both sides of the
    // page boundary, insert keys before it (not seen: already passed) and after it (seen), rewrite a row.
    s.batch(() => {
      for (const k of [keys[n * 100 + 50]!, keys[n * 100 + 150]]) {
        if (k !== undefined) {
          s.delete('f', k);
          deleted.add(k);
        }
      }
      if (n < 3) { // a few only: a key inserted ahead on every page would make the pages endless
        s.put('f', row(`${last}+after`));
        inserted.push(`${last}+after`);
      }
      s.put('f', row(`${page[0]!.key}+before`));
      s.put('f', row(last, { size: 99 }));
    });
    n++;
  }
  const throughout = keys.filter((k) => !deleted.has(k));
  assert.deepEqual(seen.filter((k) => keys.includes(k)), keys.filter((k) => seen.includes(k)), 'order kept');
  assert.equal(new Set(seen).size, seen.length, 'no key repeated');
  for (const k of throughout) assert.ok(seen.includes(k), `seen: ${k}`);
  for (const k of seen) assert.ok(!k.endsWith('+before'), `a key inserted behind the reader is not seen: ${k}`);
  assert.deepEqual(inserted.filter((k) => !seen.includes(k)), [], 'keys inserted ahead of the reader are seen');
  assert.ok(n >= 10, `${n} pages`);
  assert.ok(!seen.includes(keys[150]!), 'a key deleted before its page was read is not seen');
});

test('splitKeys: every 1000th key in key order, never the last; none for 1000 rows or fewer', () => {
  const s = openStore(join(tempDir(), 'state.db'));
  s.folder('f', 'b', 'p/');
  s.folder('g', 'b', 'p/');
  const keys = awkwardKeys(3_000);
  s.batch(() => { for (const k of keys.slice(0, 1000)) s.put('f', row(k)); });
  s.batch(() => { for (const k of keys) s.put('g', row(k)); });
  assert.deepEqual(s.splitKeys('f'), [], '1000 rows: one range');
  s.put('f', row(keys[1000]!));
  const f = [...keys.slice(0, 1001)].sort(compareKeys);
  assert.deepEqual(s.splitKeys('f'), [f[999]], '1001 rows: two ranges, split at the 1000th key');
  const g = [...keys].sort(compareKeys);
  assert.deepEqual(s.splitKeys('g'), [g[999], g[1999]], '3000 rows: the last key is no split point');
  s.put('g', row('p/\u{10ffff}')); // sorts after every other key
  assert.deepEqual(s.splitKeys('g'), [g[999], g[1999], g[2999]]);
  assert.deepEqual(s.splitKeys('g', 700), [g[699], g[1399], g[2099], g[2799]], 'every 700th');
  assert.deepEqual(s.splitKeys('nothing'), []);
  assert.throws(() => s.splitKeys('g', 0), RangeError);
});

test('rowsInKeyOrder and splitKeys: a stale folder (moved in a read-only store) reads as empty', () => {
  const file = join(tempDir(), 'state.db');
  const w = openStore(file);
  w.folder('f', 'b', 'p/');
  w.batch(() => { for (const k of awkwardKeys(1_500)) w.put('f', row(k)); });
  const r = openStore(file, { readonly: true });
  assert.equal(pagesOf(r, 'f').flat().length, 1_500);
  assert.equal(r.splitKeys('f').length, 1);
  r.folder('f', 'b', 'other/');
  assert.deepEqual(pagesOf(r, 'f'), []);
  assert.deepEqual(r.splitKeys('f'), []);
  // Turning stale between pages ends the pages.
  const r2 = openStore(file, { readonly: true });
  const it = r2.rowsInKeyOrder('f', 500);
  assert.equal(it.next().value?.length, 500);
  r2.folder('f', 'b', 'other/');
  assert.equal(it.next().done, true);
  r.close();
  r2.close();
});

test('failures: a full record replaces the list, a scoped one only its paths; ops add up per folder', () => {
  const s = openStore(join(tempDir(), 'state.db'));
  s.folder('f', 'b', 'p/');
  s.recordFailures('f', [{ rel: 'a', reason: 'unreadable' }, { rel: 'd/x', reason: 'bad name' }, { rel: 'e', reason: 'x' }], undefined, 1000);
  s.recordFailures('f', [{ rel: 'a', reason: 'still unreadable' }], ['a', 'd'], 2000);
  assert.deepEqual(s.failures('f').map((r) => [r.rel, r.reason, r.firstAt, r.lastAt, r.attempts]), [
    ['a', 'still unreadable', 1000, 2000, 2], ['e', 'x', 1000, 1000, 1],
  ]);
  s.recordFailures('f', [], undefined, 3000);
  assert.deepEqual(s.failures('f'), []);
  s.addOps('f', { classA: 3, classB: 1, free: 0 });
  s.addOps('f', { classA: 2, classB: 0, free: 5 });
  s.put('f', row('p/a', { size: 7 }));
  const [f] = s.folders();
  assert.deepEqual({ files: f!.files, bytes: f!.bytes, ops: f!.ops }, { files: 1, bytes: 7, ops: { classA: 5, classB: 1, free: 5 } });
});

test('live state round-trips and clears', () => {
  const s = openStore(join(tempDir(), 'state.db'));
  assert.equal(s.live(), undefined);
  s.setLive(42, 1000, { folders: [{ name: 'f', pending: 3 }] });
  const l = s.live()!;
  assert.equal(l.pid, 42);
  assert.deepEqual(l.state, { folders: [{ name: 'f', pending: 3 }] });
  s.clearLive();
  assert.equal(s.live(), undefined);
});

test('a version 1 DB is migrated in place and keeps its rows', () => {
  const file = join(tempDir(), 'state.db');
  const raw = new Database(file);
  raw.exec(MIGRATIONS[0]!);
  raw.pragma('user_version = 1');
  raw.prepare("INSERT INTO folders (name, bucket, prefix) VALUES ('f', 'b', 'p/')").run();
  raw.close();
  const s = openStore(file);
  assert.equal(s.folders()[0]!.name, 'f');
  assert.deepEqual(s.folders()[0]!.ops, { classA: 0, classB: 0, free: 0 });
  s.recordFailures('f', [{ rel: 'x', reason: 'y' }], undefined, 1);
  assert.equal(s.failures('f').length, 1);
});

test('rows survive close and reopen', () => {
  const file = join(tempDir(), 'state.db');
  const a = openStore(file);
  a.folder('f', 'b', '');
  a.put('f', row('k1'));
  a.close();
  a.close(); // idempotent
  const b = openStore(file);
  assert.deepEqual(b.rows('f').get('k1'), row('k1'));
});

test('batch commits all writes together, or none when it throws', () => {
  const s = openStore(join(tempDir(), 'state.db'));
  s.folder('f', 'b', '');
  s.batch(() => {
    for (let i = 0; i < 500; i++) s.put('f', row(`k${i}`));
  });
  assert.equal(s.count('f').files, 500);
  assert.throws(() => s.batch(() => {
    s.put('f', row('extra'));
    s.delete('f', 'k0');
    throw new Error('upload failed midway');
  }), /upload failed midway/);
  assert.equal(s.count('f').files, 500);
  assert.ok(s.rows('f').has('k0'), 'the delete was rolled back');
  assert.ok(!s.rows('f').has('extra'), 'the put was rolled back');
});

test('folder(): new folders start empty; markSynced records the sync and listing times', () => {
  const s = openStore(join(tempDir(), 'state.db'));
  assert.deepEqual(s.folder('f', 'bkt', 'p/'), { name: 'f', bucket: 'bkt', prefix: 'p/', lastSync: null, lastList: null });
  s.markSynced('f', 1000, false);
  assert.deepEqual(s.folder('f', 'bkt', 'p/'), { name: 'f', bucket: 'bkt', prefix: 'p/', lastSync: 1000, lastList: null });
  s.markSynced('f', 2000, true);
  assert.deepEqual(s.folder('f', 'bkt', 'p/'), { name: 'f', bucket: 'bkt', prefix: 'p/', lastSync: 2000, lastList: 2000 },
    'a listed sync records both times');
});

test('folder() with a changed bucket or prefix forgets that folder\'s rows (they describe other keys)', () => {
  const s = openStore(join(tempDir(), 'state.db'));
  s.folder('f', 'bkt', 'p/');
  s.folder('g', 'bkt', 'g/');
  s.put('f', row('p/a'));
  s.put('g', row('g/a'));
  s.markSynced('f', 1000, true);

  assert.equal(s.folder('f', 'bkt', 'p/').lastSync, 1000, 'same bucket and prefix: kept');
  assert.equal(s.rows('f').size, 1);

  assert.deepEqual(s.folder('f', 'bkt', 'q/'), { name: 'f', bucket: 'bkt', prefix: 'q/', lastSync: null, lastList: null });
  assert.equal(s.rows('f').size, 0, 'prefix changed');
  assert.equal(s.rows('g').size, 1, 'other folder kept');

  s.put('f', row('q/a'));
  s.folder('f', 'other-bucket', 'q/');
  assert.equal(s.rows('f').size, 0, 'bucket changed');
  assert.equal(s.folder('f', 'other-bucket', 'q/').bucket, 'other-bucket');
});

test('run records: every unfinished run but the current one, with its folders', () => {
  const file = join(tempDir(), 'state.db');
  const s = openStore(file);
  assert.deepEqual(s.unfinishedRuns(), [], 'no runs yet');
  const id = s.runStarted('sync', 1000, ['a', 'b']);
  assert.deepEqual(s.unfinishedRuns(), [{ id, kind: 'sync', startedAt: 1000, folders: ['a', 'b'] }]);
  assert.deepEqual(s.unfinishedRuns(id), [], 'the current run is not an interrupted one');
  s.runFinished(id, 2000, { uploaded: 3, failed: [] });
  assert.deepEqual(s.unfinishedRuns(), []);
  const id2 = s.runStarted('daemon', 3000, ['a']);
  assert.notEqual(id2, id);
  s.close();
  // a killed process never finishes its run: the next open sees it, and every other one not yet closed
  const again = openStore(file);
  const id3 = again.runStarted('sync', 4000, ['b']);
  const id4 = again.runStarted('sync', 5000);
  assert.deepEqual(again.unfinishedRuns(id4).map((r) => [r.id, r.folders]), [[id2, ['a']], [id3, ['b']]]);
  assert.equal(again.unfinishedRuns(id3).find((r) => r.id === id4)!.folders, null, 'no folders recorded: every folder');
  again.runsInterrupted([id2, id3], 6000);
  assert.deepEqual(again.unfinishedRuns(id4), []);
  again.close();
  const raw = new Database(file, { readonly: true });
  try {
    const runs = raw.prepare('SELECT kind, started_at, finished_at, summary, folders FROM runs ORDER BY id').all();
    assert.deepEqual(runs, [
      { kind: 'sync', started_at: 1000, finished_at: 2000, summary: '{"uploaded":3,"failed":[]}', folders: '["a","b"]' },
      { kind: 'daemon', started_at: 3000, finished_at: 6000, summary: '{"crashed":true}', folders: '["a"]' },
      { kind: 'sync', started_at: 4000, finished_at: 6000, summary: '{"crashed":true}', folders: '["b"]' },
      { kind: 'sync', started_at: 5000, finished_at: null, summary: null, folders: null },
    ]);
  } finally {
    raw.close();
  }
});

test('needs_list: set for folders after an unclean stop, cleared only by a listing that converged', () => {
  const s = openStore(join(tempDir(), 'state.db'));
  s.folder('f', 'bkt', 'p/');
  s.folder('g', 'bkt', 'q/');
  assert.equal(s.needsList('f'), false);
  s.setNeedsList(['f', 'g', 'not-a-folder']);
  assert.deepEqual(s.folders().map((r) => [r.name, r.needsList]), [['f', true], ['g', true]]);
  s.markSynced('f', 1000, false);
  assert.equal(s.needsList('f'), true, 'a reconcile without a listing does not clear it');
  s.markSynced('f', 2000, true, false);
  assert.equal(s.needsList('f'), true, 'a listing whose deletes a guard held back does not clear it');
  s.markSynced('f', 3000, true);
  assert.equal(s.needsList('f'), false);
  assert.equal(s.needsList('g'), true, 'other folders keep theirs');
  s.close();
});

test('a DB from a newer r2mirror is refused with a message naming the file', () => {
  const file = join(tempDir(), 'newer.db');
  const raw = new Database(file);
  raw.pragma('user_version = 99');
  raw.close();
  const err = fatal(() => Store.open(file), new RegExp(file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')), /schema version 99/, /newer r2mirror/);
  assert.equal(err.exitCode, ExitCode.CONFIG);
  // the lock was released: a second attempt fails the same way, not with "in use"
  fatal(() => Store.open(file), /newer r2mirror/);
  fatal(() => Store.open(file, { readonly: true }), /newer r2mirror/);
});

test('a file that is not a SQLite DB is refused as not a state DB, and is not modified', () => {
  const file = join(tempDir(), 'garbage.db');
  const bytes = randomBytes(8192);
  writeFileSync(file, bytes);
  const err = fatal(() => Store.open(file), /garbage\.db/, /not an r2mirror state DB \(corrupt or another kind of file\)/, /move it away/);
  assert.equal(err.exitCode, ExitCode.CONFIG);
  fatal(() => Store.open(file), /not an r2mirror state DB/);
  fatal(() => Store.open(file, { readonly: true }), /not an r2mirror state DB/);
  assert.ok(readFileSync(file).equals(bytes), 'the foreign file was left as it was');
});

test('a state path whose directory cannot be created is a fatal config error', () => {
  const d = tempDir();
  writeFileSync(join(d, 'a-file'), 'x');
  const err = fatal(() => Store.open(join(d, 'a-file', 'state.db')), /cannot create directory/, /a-file/);
  assert.equal(err.exitCode, ExitCode.CONFIG);
});

test('readonly open of a missing DB works in memory and writes nothing to disk', () => {
  const d = tempDir();
  const file = join(d, 'sub', 'state.db');
  const s = openStore(file, { readonly: true });
  assert.equal(s.folder('f', 'b', 'p/').lastSync, null);
  assert.equal(s.rows('f').size, 0);
  assert.deepEqual(s.unfinishedRuns(), []);
  s.close();
  assert.deepEqual(readdirSync(d), [], 'no directory, DB or lock file created');
});

test('readonly open with no writer around creates no -wal/-shm beside the DB (they would lock the daemon out)', () => {
  const d = tempDir();
  const file = join(d, 'state.db');
  const w = openStore(file);
  w.folder('f', 'b', 'p/');
  w.put('f', row('p/a'));
  w.close();
  const before = readdirSync(d).sort();
  assert.ok(!before.includes('state.db-wal'), `a clean close leaves no WAL: ${before}`);
  const bytes = readFileSync(file);
  const r = openStore(file, { readonly: true });
  assert.deepEqual([...r.rows('f').keys()], ['p/a']);
  assert.equal(r.folder('f', 'b', 'other/').prefix, 'other/', 'a changed prefix reads as empty');
  assert.equal(r.rows('f').size, 0);
  assert.deepEqual(readdirSync(d).sort(), before, 'nothing created beside the DB while open');
  r.close();
  assert.deepEqual(readdirSync(d).sort(), before, 'nothing left beside the DB');
  assert.ok(readFileSync(file).equals(bytes), 'the DB file is untouched');
});

test('readonly open of an existing DB reads it, writes nothing and does not take the lock', () => {
  const file = join(tempDir(), 'state.db');
  const w = openStore(file);
  w.folder('f', 'b', 'p/');
  w.put('f', row('p/a'));
  const r = openStore(file, { readonly: true }); // while the writer holds the lock (a dry run next to a daemon)
  assert.deepEqual([...r.rows('f').keys()], ['p/a']);
  // a changed prefix in a dry run: the rows describe other keys, but the DB is not touched
  assert.equal(r.folder('f', 'b', 'other/').prefix, 'other/');
  assert.equal(r.rows('f').size, 0);
  r.close();
  assert.equal(w.rows('f').size, 1, 'the readonly store did not delete anything');
  w.close();
});

// --- the single-writer lock across processes -------------------------------------------------------------

const STORE_URL = pathToFileURL(join(REPO, 'src/state/store.ts')).href;

/** A child that opens the store and reports {ok} or {message, exitCode} as JSON. */
const OPENER = `
import { Store } from ${JSON.stringify(STORE_URL)};
try {
  Store.open(process.argv[2]).close();
  process.stdout.write(JSON.stringify({ ok: true }));
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, message: err.message, exitCode: err.exitCode }));
}
`;

/** A child that opens the store, says "ready" and holds it until killed. */
const HOLDER = `
import { Store } from ${JSON.stringify(STORE_URL)};
globalThis.held = Store.open(process.argv[2]); // referenced: a collected Database closes and drops its lock
process.stdout.write('ready\\n');
setInterval(() => {}, 1000);
`;

function script(dir: string, name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

function openInChild(opener: string, file: string): { ok: boolean; message?: string; exitCode?: number } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', opener, file], { cwd: REPO, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, `opener crashed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { ok: boolean; message?: string; exitCode?: number };
}

test('a second writer in another process is refused while the first holds the DB, and may open after close', () => {
  const d = tempDir();
  const file = join(d, 'state.db');
  const opener = script(d, 'opener.mjs', OPENER);
  const first = openStore(file);

  const refused = openInChild(opener, file);
  assert.equal(refused.ok, false);
  assert.match(refused.message ?? '', /in use by another r2mirror process/);
  assert.ok(refused.message?.includes(file), refused.message);
  assert.equal(refused.exitCode, ExitCode.TEMPFAIL);

  // a second writer in this same process is refused too
  fatal(() => Store.open(file), /in use by another r2mirror process/);
  // a reader without the lock is fine
  openStore(file, { lock: false }).close();

  first.close();
  assert.deepEqual(openInChild(opener, file), { ok: true });
});

test('killing the holder with SIGKILL releases the lock', async () => {
  const d = tempDir();
  const file = join(d, 'state.db');
  const holderScript = script(d, 'holder.mjs', HOLDER);
  const holder = spawn(process.execPath, ['--import', 'tsx', holderScript, file], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  holder.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
      holder.once('exit', (code) => reject(new Error(`holder exited with ${code}: ${stderr}`)));
    });
    fatal(() => Store.open(file), /in use by another r2mirror process/);
  } finally {
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    holder.kill('SIGKILL');
    await exited;
  }
  const s = openStore(file);
  assert.equal(s.rows('x').size, 0);
  s.close();
});
