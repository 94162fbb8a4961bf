// Unit tests for src/plan.ts: the planner walked as a table of (local x stored x remote) cases, each with the
// exact actions expected, plus deleteLimit, isFresh and isRemoval. Pure: no files, no server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeleteMode } from '../../src/config.js';
import type { LocalFile } from '../../src/local/scan.js';
import { MAX_COPY, isFresh, plan, type Action, type PlanInput } from '../../src/plan.js';
import { deleteLimit, isDelete, isRemoval, settleRenames } from '../../src/policy.js';
import type { RemoteObject } from '../../src/remote/bucket.js';
import type { ObjectRow } from '../../src/state/store.js';

const PREFIX = 'p/';
const TRASH = '.r2mirror-trash/p/';
const E1 = '0123456789abcdef0123456789abcdef';
const E2 = 'fedcba9876543210fedcba9876543210';
const EM = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-3';

/** A file on disk as the scan would report it; key = PREFIX + rel. */
function file(rel: string, size: number, mtimeNs = '1700000000000000000', ino = '42'): LocalFile {
  return { rel, key: PREFIX + rel, size, mtimeNs, mtimeMs: Number(BigInt(mtimeNs) / 1_000_000n), ctimeNs: mtimeNs, ino };
}

/** The stored row that says `f` was mirrored with `etag` (fresh unless overridden). */
function row(f: LocalFile, etag = E1, over: Partial<ObjectRow> = {}): ObjectRow {
  return { key: f.key, rel: f.rel, size: f.size, mtimeNs: f.mtimeNs, ino: f.ino, etag, md5: null, partSize: 0, syncedAt: 1, ...over };
}

const obj = (key: string, size: number, etag = E1): RemoteObject => ({ key, size, etag });

interface Case {
  readonly name: string;
  readonly local?: LocalFile[];
  readonly stored?: ObjectRow[];
  /** undefined: this reconcile does not list the bucket. */
  readonly remote?: RemoteObject[];
  readonly deletes?: DeleteMode;
  readonly unknownPrefixes?: string[];
  readonly unknownKeys?: string[];
  /** Exclude patterns as a predicate on rel (the folder builds it from `exclude`). */
  readonly excluded?: (rel: string) => boolean;
  readonly deleteExcluded?: boolean;
  readonly actions: Action[];
  readonly unchanged?: number;
}

function input(c: Case): PlanInput {
  return {
    local: new Map((c.local ?? []).map((f) => [f.key, f])),
    stored: new Map((c.stored ?? []).map((r) => [r.key, r])),
    remote: c.remote ? new Map(c.remote.map((o) => [o.key, o])) : undefined,
    prefix: PREFIX,
    deletes: c.deletes ?? 'mirror',
    trashPrefix: TRASH,
    unknownPrefixes: c.unknownPrefixes ?? [],
    unknownKeys: new Set(c.unknownKeys ?? []),
    excluded: c.excluded,
    deleteExcluded: c.deleteExcluded,
  };
}

// Shared fixtures. `a` is a 100-byte file; `aTouched` is the same file with a new mtime (same size, same inode).
const a = file('a.txt', 100);
const aTouched = file('a.txt', 100, '1700000000999999999');
const aGrown = file('a.txt', 150, '1700000000999999999');
const aNewInode = file('a.txt', 100, a.mtimeNs, '43');
const big = file('big.bin', 3 * 8 * 1024 * 1024);
const renamed = file('dir/renamed.txt', 100, '1700000001000000000', '77');
const empty = file('empty', 0);
const emptyRenamed = file('empty2', 0, '1700000001000000000', '78');
const old = file('old.txt', 100); // only as a stored row: the file is gone
const gone = file('gone.txt', 5);
const isLog = (rel: string) => rel.endsWith('.log');

const CASES: Case[] = [
  // --- unchanged files
  { name: 'fresh row, remote not listed: nothing to do', local: [a], stored: [row(a)], actions: [], unchanged: 1 },
  { name: 'fresh row, remote listed with the same ETag: nothing to do', local: [a], stored: [row(a)], remote: [obj(a.key, 100)], actions: [], unchanged: 1 },
  { name: 'fresh multipart row, remote listed with the same ETag: nothing to do', local: [big], stored: [row(big, EM, { partSize: 8 * 1024 * 1024 })], remote: [obj(big.key, big.size, EM)], actions: [], unchanged: 1 },
  { name: 'fresh row but the object is gone from the bucket: upload missing-remote', local: [a], stored: [row(a)], remote: [],
    actions: [{ type: 'upload', key: a.key, file: a, reason: 'missing-remote' }], unchanged: 0 },
  { name: 'fresh row but someone replaced the object: upload remote-differs', local: [a], stored: [row(a)], remote: [obj(a.key, 100, E2)],
    actions: [{ type: 'upload', key: a.key, file: a, reason: 'remote-differs' }] },
  { name: 'fresh row but the remote object has another size: upload remote-differs', local: [a], stored: [row(a)], remote: [obj(a.key, 7, E2)],
    actions: [{ type: 'upload', key: a.key, file: a, reason: 'remote-differs' }] },

  // --- touched and changed files
  { name: 'touched file (same size, new mtime), remote unknown: check against the stored row', local: [aTouched], stored: [row(a, E1, { partSize: 0 })],
    actions: [{ type: 'check', key: a.key, file: aTouched, against: { etag: E1, size: 100, partSize: 0 }, reason: 'touched' }] },
  { name: 'touched multipart file, remote unknown: check with the stored part size', local: [file('big.bin', big.size, '5')], stored: [row(big, EM, { partSize: 8 * 1024 * 1024 })],
    actions: [{ type: 'check', key: big.key, file: file('big.bin', big.size, '5'), against: { etag: EM, size: big.size, partSize: 8 * 1024 * 1024 }, reason: 'touched' }] },
  { name: 'same size and mtime but a new inode (file replaced): check touched', local: [aNewInode], stored: [row(a)],
    actions: [{ type: 'check', key: a.key, file: aNewInode, against: { etag: E1, size: 100, partSize: 0 }, reason: 'touched' }] },
  { name: 'touched file, remote listed with our ETag: check against the object, keeping our part size', local: [aTouched], stored: [row(a, E1, { partSize: 5 })], remote: [obj(a.key, 100, E1)],
    actions: [{ type: 'check', key: a.key, file: aTouched, against: { etag: E1, size: 100, partSize: 5 }, reason: 'touched' }] },
  { name: 'touched file, remote holds another ETag of that size: check against the object, part size unknown', local: [aTouched], stored: [row(a, E1, { partSize: 5 })], remote: [obj(a.key, 100, E2)],
    actions: [{ type: 'check', key: a.key, file: aTouched, against: { etag: E2, size: 100, partSize: undefined }, reason: 'touched' }] },
  { name: 'touched file whose object is gone (remote listed): upload changed', local: [aTouched], stored: [row(a)], remote: [],
    actions: [{ type: 'upload', key: a.key, file: aTouched, reason: 'changed' }] },
  { name: 'size changed, remote unknown: upload changed', local: [aGrown], stored: [row(a)],
    actions: [{ type: 'upload', key: a.key, file: aGrown, reason: 'changed' }] },
  { name: 'size changed, remote still holds the old size: upload changed', local: [aGrown], stored: [row(a)], remote: [obj(a.key, 100)],
    actions: [{ type: 'upload', key: a.key, file: aGrown, reason: 'changed' }] },

  // --- new files
  { name: 'new file, object of the same size already there: check adopt', local: [a], remote: [obj(a.key, 100, EM)],
    actions: [{ type: 'check', key: a.key, file: a, against: { etag: EM, size: 100, partSize: undefined }, reason: 'adopt' }] },
  { name: 'new file, object of another size there: upload changed (overwrite)', local: [a], remote: [obj(a.key, 99)],
    actions: [{ type: 'upload', key: a.key, file: a, reason: 'changed' }] },
  { name: 'new file, bucket listed and empty: upload new', local: [a], remote: [],
    actions: [{ type: 'upload', key: a.key, file: a, reason: 'new' }] },
  { name: 'new file, remote not listed and no row: upload new', local: [a],
    actions: [{ type: 'upload', key: a.key, file: a, reason: 'new' }] },

  // --- renames
  { name: 'rename, remote not listed: copy from the vanished row, then delete the old key', local: [renamed], stored: [row(old, E1, { partSize: 0 })],
    actions: [
      { type: 'copy', key: renamed.key, file: renamed, from: old.key, against: { etag: E1, size: 100, partSize: 0 } },
      { type: 'delete', key: old.key, renamedTo: renamed.key },
    ] },
  { name: 'rename, remote lists the source with the stored ETag: copy, then delete', local: [renamed], stored: [row(old)], remote: [obj(old.key, 100)],
    actions: [
      { type: 'copy', key: renamed.key, file: renamed, from: old.key, against: { etag: E1, size: 100, partSize: 0 } },
      { type: 'delete', key: old.key, renamedTo: renamed.key },
    ] },
  { name: 'rename in trash mode: copy, then trash the old key', local: [renamed], stored: [row(old)], deletes: 'trash',
    actions: [
      { type: 'copy', key: renamed.key, file: renamed, from: old.key, against: { etag: E1, size: 100, partSize: 0 } },
      { type: 'trash', key: old.key, to: TRASH + 'old.txt', renamedTo: renamed.key },
    ] },
  { name: 'rename in keep mode: copy, and only forget the old row', local: [renamed], stored: [row(old)], deletes: 'keep',
    actions: [
      { type: 'copy', key: renamed.key, file: renamed, from: old.key, against: { etag: E1, size: 100, partSize: 0 } },
      { type: 'forget', key: old.key },
    ] },
  { name: 'rename candidate not taken when the listing lacks the source: upload new, forget the row', local: [renamed], stored: [row(old)], remote: [],
    actions: [{ type: 'upload', key: renamed.key, file: renamed, reason: 'new' }, { type: 'forget', key: old.key }] },
  { name: 'rename candidate not taken when the source ETag differs: upload new, delete the old object', local: [renamed], stored: [row(old)], remote: [obj(old.key, 100, E2)],
    actions: [{ type: 'upload', key: renamed.key, file: renamed, reason: 'new' }, { type: 'delete', key: old.key }] },
  { name: 'rename candidate not taken for empty files (every empty file would match)', local: [emptyRenamed], stored: [row(empty, 'd41d8cd98f00b204e9800998ecf8427e')],
    actions: [{ type: 'upload', key: emptyRenamed.key, file: emptyRenamed, reason: 'new' }, { type: 'delete', key: empty.key }] },
  { name: 'rename candidate not taken when the size differs', local: [file('x', 101, '9', '9')], stored: [row(old)],
    actions: [{ type: 'upload', key: PREFIX + 'x', file: file('x', 101, '9', '9'), reason: 'new' }, { type: 'delete', key: old.key }] },
  { name: 'rename candidate not taken above the CopyObject limit (5 GiB)', local: [file('huge2', MAX_COPY + 1, '9', '9')], stored: [row(file('huge', MAX_COPY + 1))],
    actions: [{ type: 'upload', key: PREFIX + 'huge2', file: file('huge2', MAX_COPY + 1, '9', '9'), reason: 'new' }, { type: 'delete', key: PREFIX + 'huge' }] },
  { name: 'one vanished row is the source of at most one copy', local: [file('n1', 100, '9', '91'), file('n2', 100, '9', '92')], stored: [row(old)],
    actions: [
      { type: 'copy', key: PREFIX + 'n1', file: file('n1', 100, '9', '91'), from: old.key, against: { etag: E1, size: 100, partSize: 0 } },
      { type: 'upload', key: PREFIX + 'n2', file: file('n2', 100, '9', '92'), reason: 'new' },
      { type: 'delete', key: old.key, renamedTo: PREFIX + 'n1' },
    ] },
  { name: 'a new file with an object at its key adopts rather than copies', local: [renamed], stored: [row(old)], remote: [obj(old.key, 100), obj(renamed.key, 100, E2)],
    actions: [
      { type: 'check', key: renamed.key, file: renamed, against: { etag: E2, size: 100, partSize: undefined }, reason: 'adopt' },
      { type: 'delete', key: old.key },
    ] },

  // --- deleted files
  { name: 'deleted file, mirror mode: delete', stored: [row(gone)], actions: [{ type: 'delete', key: gone.key }], unchanged: 0 },
  { name: 'deleted file, mirror mode, object listed: delete', stored: [row(gone)], remote: [obj(gone.key, 5)], actions: [{ type: 'delete', key: gone.key }] },
  { name: 'deleted file, trash mode: trash to trashPrefix + key minus prefix', stored: [row(file('d/e/gone.txt', 5))], deletes: 'trash',
    actions: [{ type: 'trash', key: PREFIX + 'd/e/gone.txt', to: TRASH + 'd/e/gone.txt' }] },
  { name: 'deleted file, keep mode: forget the row, keep the object', stored: [row(gone)], remote: [obj(gone.key, 5)], deletes: 'keep',
    actions: [{ type: 'forget', key: gone.key }] },
  { name: 'deleted file whose object is gone too: forget (no request)', stored: [row(gone)], remote: [], actions: [{ type: 'forget', key: gone.key }] },
  { name: 'deleted file whose object is gone, trash mode: forget, not trash', stored: [row(gone)], remote: [], deletes: 'trash', actions: [{ type: 'forget', key: gone.key }] },

  // --- remote-only objects
  { name: 'remote-only object, mirror mode: delete', remote: [obj(PREFIX + 'stray', 3)], actions: [{ type: 'delete', key: PREFIX + 'stray' }] },
  { name: 'remote-only object, trash mode: trash', remote: [obj(PREFIX + 'sub/stray', 3)], deletes: 'trash',
    actions: [{ type: 'trash', key: PREFIX + 'sub/stray', to: TRASH + 'sub/stray' }] },
  { name: 'remote-only object, keep mode: nothing', remote: [obj(PREFIX + 'stray', 3)], deletes: 'keep', actions: [] },

  // --- what the scan could not see is never removed
  { name: 'stored row under an unknown prefix (unreadable dir): no delete', stored: [row(file('locked/x', 5))], unknownPrefixes: [PREFIX + 'locked/'], actions: [] },
  { name: 'stored row under an unknown prefix whose object is gone: not even forgotten', stored: [row(file('locked/x', 5))], remote: [], unknownPrefixes: [PREFIX + 'locked/'], actions: [] },
  { name: 'remote-only object under an unknown prefix: no delete', remote: [obj(PREFIX + 'locked/y', 5)], unknownPrefixes: [PREFIX + 'locked/'], actions: [] },
  { name: 'remote-only object under an unknown prefix, trash mode: no trash', remote: [obj(PREFIX + 'locked/y', 5)], unknownPrefixes: [PREFIX + 'locked/'], deletes: 'trash', actions: [] },
  { name: 'unreadable folder root (prefix itself unknown): nothing removed', stored: [row(gone)], remote: [obj(gone.key, 5), obj(PREFIX + 'z', 1)], unknownPrefixes: [PREFIX], actions: [] },
  { name: 'stored row of an unknown key (NFC twin / unstattable): no delete, no forget', stored: [row(gone)], remote: [], unknownKeys: [gone.key], actions: [] },
  { name: 'remote-only object at an unknown key: no delete', remote: [obj(gone.key, 5)], unknownKeys: [gone.key], actions: [] },
  { name: 'unknown rows are not rename sources', local: [renamed], stored: [row(file('locked/old', 100))], unknownPrefixes: [PREFIX + 'locked/'],
    actions: [{ type: 'upload', key: renamed.key, file: renamed, reason: 'new' }] },
  { name: 'a sibling prefix is not under the unknown prefix', stored: [row(file('lockedness', 5))], unknownPrefixes: [PREFIX + 'locked/'],
    actions: [{ type: 'delete', key: PREFIX + 'lockedness' }] },

  { name: 'a renamed directory of same-size files: each file pairs with its own old name (same inode)',
    local: [file('b/1', 100, '9', '501'), file('b/2', 100, '9', '502')], stored: [row(file('a/2', 100, '9', '502')), row(file('a/1', 100, '9', '501'), E2)],
    actions: [
      { type: 'copy', key: PREFIX + 'b/1', file: file('b/1', 100, '9', '501'), from: PREFIX + 'a/1', against: { etag: E2, size: 100, partSize: 0 } },
      { type: 'copy', key: PREFIX + 'b/2', file: file('b/2', 100, '9', '502'), from: PREFIX + 'a/2', against: { etag: E1, size: 100, partSize: 0 } },
      { type: 'delete', key: PREFIX + 'a/2', renamedTo: PREFIX + 'b/2' },
      { type: 'delete', key: PREFIX + 'a/1', renamedTo: PREFIX + 'b/1' },
    ] },
  { name: 'same-size rename candidates with new inodes (moved across file systems): the same file name pairs first',
    local: [file('b/x', 100, '9', '601'), file('b/y', 100, '9', '602')], stored: [row(file('a/y', 100, '9', '2')), row(file('a/x', 100, '9', '1'), E2)],
    actions: [
      { type: 'copy', key: PREFIX + 'b/x', file: file('b/x', 100, '9', '601'), from: PREFIX + 'a/x', against: { etag: E2, size: 100, partSize: 0 } },
      { type: 'copy', key: PREFIX + 'b/y', file: file('b/y', 100, '9', '602'), from: PREFIX + 'a/y', against: { etag: E1, size: 100, partSize: 0 } },
      { type: 'delete', key: PREFIX + 'a/y', renamedTo: PREFIX + 'b/y' },
      { type: 'delete', key: PREFIX + 'a/x', renamedTo: PREFIX + 'b/x' },
    ] },
  { name: 'an inode match of another size is not a rename candidate', local: [file('n', 101, '9', '42')], stored: [row(old)],
    actions: [{ type: 'upload', key: PREFIX + 'n', file: file('n', 101, '9', '42'), reason: 'new' }, { type: 'delete', key: old.key }] },

  // --- renames settle into deletes only when their copy did not happen (settleRenames, tested below)
  { name: 'a directory rename: every copy source is a rename, the other vanished rows are plain deletes',
    local: [file('b/1', 100, '9', '91'), file('b/2', 100, '9', '92')], stored: [row(file('a/1', 100)), row(file('a/2', 100)), row(gone)],
    actions: [
      { type: 'copy', key: PREFIX + 'b/1', file: file('b/1', 100, '9', '91'), from: PREFIX + 'a/1', against: { etag: E1, size: 100, partSize: 0 } },
      { type: 'copy', key: PREFIX + 'b/2', file: file('b/2', 100, '9', '92'), from: PREFIX + 'a/2', against: { etag: E1, size: 100, partSize: 0 } },
      { type: 'delete', key: PREFIX + 'a/1', renamedTo: PREFIX + 'b/1' },
      { type: 'delete', key: PREFIX + 'a/2', renamedTo: PREFIX + 'b/2' },
      { type: 'delete', key: gone.key },
    ] },

  // --- excluded paths: what the scan does not see because of `exclude` is not deleted (unless deleteExcluded)
  { name: 'excluded row, file gone from the scan: no delete, row kept', stored: [row(file('x.log', 5))], remote: [obj(PREFIX + 'x.log', 5)], excluded: isLog,
    actions: [] },
  { name: 'excluded row, remote not listed: no delete', stored: [row(file('a/x.log', 5))], excluded: isLog, actions: [] },
  { name: 'excluded row, trash mode: no trash', stored: [row(file('x.log', 5))], deletes: 'trash', excluded: isLog, actions: [] },
  { name: 'excluded row, keep mode: the row is kept, not forgotten', stored: [row(file('x.log', 5))], deletes: 'keep', excluded: isLog, actions: [] },
  { name: 'excluded row whose object is gone too: forget the row (no request)', stored: [row(file('x.log', 5))], remote: [], excluded: isLog,
    actions: [{ type: 'forget', key: PREFIX + 'x.log' }] },
  { name: 'excluded remote-only object: no delete', remote: [obj(PREFIX + 'sub/y.log', 3)], excluded: isLog, actions: [] },
  { name: 'excluded directory: rows and objects under it are not deleted, siblings are',
    stored: [row(file('build/out.bin', 5)), row(file('buildx', 5))], remote: [obj(PREFIX + 'build/out.bin', 5), obj(PREFIX + 'build/deep/o', 1), obj(PREFIX + 'buildx', 5)],
    excluded: (rel) => rel === 'build' || rel.startsWith('build/'),
    actions: [{ type: 'delete', key: PREFIX + 'buildx' }] },
  { name: 'excluded rows are not rename sources (their object stays, so a copy would not be a rename)', local: [renamed], stored: [row(file('old.log', 100))], excluded: isLog,
    actions: [{ type: 'upload', key: renamed.key, file: renamed, reason: 'new' }] },
  { name: 'the predicate sees the rel as on disk for rows and the key minus the prefix for objects',
    stored: [row(file('d/cafe\u0301.log', 5))], remote: [obj(PREFIX + 'd/cafe\u0301.log', 5), obj(PREFIX + 'k/caf\u00e9.log', 5)],
    excluded: (rel) => rel === 'd/cafe\u0301.log' || rel === 'k/caf\u00e9.log', actions: [] },
  { name: 'deleteExcluded: an excluded row is deleted', stored: [row(file('x.log', 5))], remote: [obj(PREFIX + 'x.log', 5)], excluded: isLog, deleteExcluded: true,
    actions: [{ type: 'delete', key: PREFIX + 'x.log' }] },
  { name: 'deleteExcluded: an excluded remote-only object is deleted', remote: [obj(PREFIX + 'y.log', 3)], excluded: isLog, deleteExcluded: true,
    actions: [{ type: 'delete', key: PREFIX + 'y.log' }] },
  { name: 'deleteExcluded, trash mode: an excluded row is trashed', stored: [row(file('x.log', 5))], deletes: 'trash', excluded: isLog, deleteExcluded: true,
    actions: [{ type: 'trash', key: PREFIX + 'x.log', to: TRASH + 'x.log' }] },
  { name: 'deleteExcluded never reaches under an unknown prefix', stored: [row(file('locked/x.log', 5))], unknownPrefixes: [PREFIX + 'locked/'], excluded: isLog, deleteExcluded: true,
    actions: [] },

  // --- a mixed folder
  { name: 'mixed: unchanged, new, deleted and remote-only in one plan', local: [a, file('n', 1, '9', '9')], stored: [row(a), row(gone)], remote: [obj(a.key, 100), obj(gone.key, 5), obj(PREFIX + 'stray', 2)],
    actions: [
      { type: 'upload', key: PREFIX + 'n', file: file('n', 1, '9', '9'), reason: 'new' },
      { type: 'delete', key: gone.key },
      { type: 'delete', key: PREFIX + 'stray' },
    ], unchanged: 1 },
];

test('the table has at least 25 cases with unique names', () => {
  assert.ok(CASES.length >= 25, `only ${CASES.length} cases`);
  assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length);
});

for (const c of CASES) {
  test(`plan: ${c.name}`, () => {
    const result = plan(input(c));
    assert.deepStrictEqual(result.actions, c.actions);
    if (c.unchanged !== undefined) assert.equal(result.unchanged, c.unchanged);
  });
}

test('plan does not mutate its inputs and is deterministic', () => {
  const c = CASES.find((x) => x.name.startsWith('mixed'))!;
  const inp = input(c);
  const snapshot = JSON.stringify([[...inp.local], [...inp.stored], [...inp.remote!]]);
  const first = plan(inp);
  const second = plan(inp);
  assert.deepStrictEqual(second, first);
  assert.equal(JSON.stringify([[...inp.local], [...inp.stored], [...inp.remote!]]), snapshot);
});

test('isFresh: size, mtime and inode must all match a row', () => {
  assert.equal(isFresh(a, row(a)), true);
  assert.equal(isFresh(a, undefined), false);
  assert.equal(isFresh(aTouched, row(a)), false, 'mtime changed');
  assert.equal(isFresh(aGrown, row(a)), false, 'size changed');
  assert.equal(isFresh(aNewInode, row(a)), false, 'inode changed');
  // mtimes are compared as exact nanosecond strings: 1 ns apart is a change double precision would lose.
  assert.equal(isFresh(file('a.txt', 100, '1700000000000000001'), row(a)), false);
});

test('settleRenames: a rename source stays a rename only when its copy happened', () => {
  const copy = (n: string): Action => ({ type: 'copy', key: PREFIX + 'b/' + n, file: file('b/' + n, 100), from: PREFIX + 'a/' + n, against: { etag: E1, size: 100 } });
  const del = (n: string): Action => ({ type: 'delete', key: PREFIX + 'a/' + n, renamedTo: PREFIX + 'b/' + n });
  const planned: Action[] = [copy('1'), copy('2'), copy('3'), copy('4'), copy('5'), del('1'), del('2'), del('3'), del('4'), del('5'),
    { type: 'trash', key: PREFIX + 'a/6', to: TRASH + 'a/6', renamedTo: PREFIX + 'b/6' }, { type: 'delete', key: gone.key }, { type: 'forget', key: 'f' }];
  const outcomes = new Map([
    [PREFIX + 'b/1', 'copied'],
    [PREFIX + 'b/2', 'uploaded'], // content differed: the old name's removal is a delete now
    [PREFIX + 'b/3', 'gone'], // the new file vanished: its old name is gone for good, a delete
    [PREFIX + 'b/4', 'failed'], // the copy failed: keep the old name for the next run
    // b/5: the copy never ran: keep the old name
    [PREFIX + 'b/6', 'uploaded'],
  ]);
  assert.deepStrictEqual(settleRenames(planned, outcomes), [copy('1'), copy('2'), copy('3'), copy('4'), copy('5'),
    del('1'), { type: 'delete', key: PREFIX + 'a/2' }, { type: 'delete', key: PREFIX + 'a/3' },
    { type: 'trash', key: PREFIX + 'a/6', to: TRASH + 'a/6' }, { type: 'delete', key: gone.key }, { type: 'forget', key: 'f' }]);
  // What the delete guard counts: only the plain deletes.
  assert.deepStrictEqual(settleRenames(planned, outcomes).filter(isDelete).map((x) => x.key), [PREFIX + 'a/2', PREFIX + 'a/3', PREFIX + 'a/6', gone.key]);
});

test('isDelete: a removal that is not the source of a rename', () => {
  assert.equal(isDelete({ type: 'delete', key: 'k' }), true);
  assert.equal(isDelete({ type: 'trash', key: 'k', to: 't' }), true);
  assert.equal(isDelete({ type: 'delete', key: 'k', renamedTo: 'n' }), false);
  assert.equal(isDelete({ type: 'trash', key: 'k', to: 't', renamedTo: 'n' }), false);
  assert.equal(isDelete({ type: 'forget', key: 'k' }), false);
});

test('isRemoval is true for delete and trash only', () => {
  assert.equal(isRemoval({ type: 'delete', key: 'k' }), true);
  assert.equal(isRemoval({ type: 'trash', key: 'k', to: 't' }), true);
  assert.equal(isRemoval({ type: 'forget', key: 'k' }), false);
  assert.equal(isRemoval({ type: 'upload', key: 'k', file: a, reason: 'new' }), false);
});

test('deleteLimit: an absolute count is used as is, whatever the folder size', () => {
  assert.equal(deleteLimit({ kind: 'count', count: 0 }, 1000), 0);
  assert.equal(deleteLimit({ kind: 'count', count: 3 }, 1000), 3);
  assert.equal(deleteLimit({ kind: 'count', count: 500 }, 2), 500);
});

test('deleteLimit: a percentage allows at least 10 deletions', () => {
  assert.equal(deleteLimit({ kind: 'percent', percent: 50 }, 0), 10);
  assert.equal(deleteLimit({ kind: 'percent', percent: 50 }, 4), 10);
  assert.equal(deleteLimit({ kind: 'percent', percent: 0 }, 1_000_000), 10);
  assert.equal(deleteLimit({ kind: 'percent', percent: 10 }, 100), 10);
  assert.equal(deleteLimit({ kind: 'percent', percent: 10 }, 110), 11);
});

test('deleteLimit: a percentage rounds down to whole objects', () => {
  assert.equal(deleteLimit({ kind: 'percent', percent: 25 }, 1000), 250);
  assert.equal(deleteLimit({ kind: 'percent', percent: 5 }, 999), 49, '49.95 -> 49');
  assert.equal(deleteLimit({ kind: 'percent', percent: 2.5 }, 1001), 25, '25.025 -> 25');
  assert.equal(deleteLimit({ kind: 'percent', percent: 100 }, 12345), 12345);
});

test('deleteLimit: exact percentages are not lost to floating point', () => {
  // 18.4% of 375 is exactly 69; 375 * 18.4 / 100 is 68.99999999999999 in doubles.
  assert.equal(deleteLimit({ kind: 'percent', percent: 18.4 }, 375), 69);
  assert.equal(deleteLimit({ kind: 'percent', percent: 32.8 }, 375), 123);
  for (let total = 1; total <= 2000; total += 7) {
    for (let tenths = 1; tenths <= 1000; tenths += 3) {
      const exact = Math.max(10, Math.floor((total * tenths) / 1000)); // integer arithmetic
      assert.equal(deleteLimit({ kind: 'percent', percent: tenths / 10 }, total), exact, `${tenths / 10}% of ${total}`);
    }
  }
});
