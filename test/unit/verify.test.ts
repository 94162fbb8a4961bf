// The pure comparison behind `r2mirror verify` (src/verify/compare.ts), table by table: every combination of object, row
// and file, which files must be hashed (never one a fresh row vouches for), deletes: keep, excludes, unknown keys.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeleteMode } from '../../src/config.js';
import { candidatePartSizes } from '../../src/keys.js';
import type { LocalFile } from '../../src/local/scan.js';
import type { RemoteObject } from '../../src/remote/bucket.js';
import type { ObjectRow } from '../../src/state/store.js';
import { describeDifference, parseVerifyArgs } from '../../src/commands/verify.js';
import { compareFolder, hashesNeeded, type HashVerdict, type VerifyInput } from '../../src/verify/compare.js';

const MiB = 1024 * 1024;
const E1 = 'a'.repeat(32);
const E2 = 'b'.repeat(32);
const MP = `${'c'.repeat(32)}-2`;

const file = (key: string, size = 10, mtimeNs = '1000', ino = '7'): LocalFile =>
  ({ rel: key.slice(2), key, size, mtimeNs, ctimeNs: mtimeNs, ino, mtimeMs: Number(mtimeNs) / 1e6 });
const row = (key: string, size = 10, etag = E1, partSize = 0, mtimeNs = '1000', ino = '7'): ObjectRow =>
  ({ key, rel: key.slice(2), size, mtimeNs, ino, etag, md5: null, partSize, syncedAt: 1 });
const obj = (key: string, size = 10, etag = E1): RemoteObject => ({ key, size, etag });

function input(parts: { objects?: RemoteObject[]; rows?: ObjectRow[]; files?: LocalFile[] | undefined; deletes?: DeleteMode; excluded?: string[]; unknownPrefixes?: string[]; unknownKeys?: string[] }): VerifyInput {
  return {
    objects: new Map((parts.objects ?? []).map((o) => [o.key, o])),
    rows: new Map((parts.rows ?? []).map((r) => [r.key, r])),
    files: 'files' in parts && parts.files === undefined ? undefined : new Map((parts.files ?? []).map((f) => [f.key, f])),
    unknownPrefixes: parts.unknownPrefixes ?? [], unknownKeys: new Set(parts.unknownKeys ?? []), problems: [],
    excluded: (k) => (parts.excluded ?? []).includes(k), deletes: parts.deletes ?? 'mirror', partSize: 8 * MiB,
  };
}

const kinds = (i: VerifyInput, hashed: [string, HashVerdict][] = []) =>
  compareFolder(i, new Map(hashed)).differences.map((d) => `${d.kind} ${d.key}`);

test('every combination of object, row and file', () => {
  const k = 'p/x';
  const cases: [string, Parameters<typeof input>[0], string[], [string, HashVerdict][]?][] = [
    ['all three, fresh row: agree without reading', { objects: [obj(k)], rows: [row(k)], files: [file(k)] }, []],
    ['all three, stale row, same content', { objects: [obj(k)], rows: [row(k)], files: [file(k, 10, '2000')] }, [], [[k, { same: true }]]],
    ['all three, stale row, other content', { objects: [obj(k)], rows: [row(k)], files: [file(k, 10, '2000')] }, [`changed ${k}`], [[k, { same: false }]]],
    ['all three, other size on disk', { objects: [obj(k)], rows: [row(k)], files: [file(k, 11, '2000')] }, [`changed ${k}`]],
    ['all three, other inode (replaced file), same content', { objects: [obj(k)], rows: [row(k)], files: [file(k, 10, '1000', '8')] }, [], [[k, { same: true }]]],
    ['bucket ETag differs from the row', { objects: [obj(k, 10, E2)], rows: [row(k)], files: [file(k)] }, [`object-differs ${k}`]],
    ['bucket size differs from the row', { objects: [obj(k, 9)], rows: [row(k)], files: [file(k)] }, [`object-differs ${k}`]],
    ['object and row, no file', { objects: [obj(k)], rows: [row(k)], files: [] }, [`deleted ${k}`]],
    ['object and row disagree, no file', { objects: [obj(k, 10, E2)], rows: [row(k)], files: [] }, [`object-differs ${k}`]],
    ['object and file, same content, no row', { objects: [obj(k)], files: [file(k)] }, [`missing-row ${k}`], [[k, { same: true }]]],
    ['object and file, other content, no row', { objects: [obj(k)], files: [file(k)] }, [`not-uploaded ${k}`], [[k, { same: false }]]],
    ['object and file of another size, no row', { objects: [obj(k, 3)], files: [file(k)] }, [`not-uploaded ${k}`]],
    ['object only (deletes: mirror)', { objects: [obj(k)], files: [] }, [`extra-object ${k}`]],
    ['object only (deletes: trash)', { objects: [obj(k)], files: [], deletes: 'trash' }, [`extra-object ${k}`]],
    ['object only (deletes: keep): expected', { objects: [obj(k)], files: [], deletes: 'keep' }, []],
    ['row and file, no object', { rows: [row(k)], files: [file(k)] }, [`missing-object ${k}`]],
    ['row only', { rows: [row(k)], files: [] }, [`row-without-object ${k}`]],
    ['file only', { files: [file(k)] }, [`not-uploaded ${k}`]],
    ['a file that could not be read', { objects: [obj(k)], rows: [row(k)], files: [file(k, 10, '2000')] }, [`cannot-check ${k}`], [[k, { error: 'EACCES' }]]],
    ['excluded: not compared', { objects: [obj(k)], files: [], excluded: [k] }, []],
    ['disk unknown (root missing): bucket and DB still compared', { objects: [obj(k, 10, E2)], rows: [row(k)], files: undefined }, [`object-differs ${k}`]],
    ['disk unknown: a row without object is still missing in the bucket', { rows: [row(k)], files: undefined }, [`missing-object ${k}`]],
    ['disk unknown: an object alone cannot be judged', { objects: [obj(k)], files: undefined }, []],
    ['unreadable directory: its keys are not reported deleted', { objects: [obj(k)], rows: [row(k)], files: [], unknownPrefixes: ['p/'] }, []],
    ['unreadable file: not reported deleted', { objects: [obj(k)], rows: [row(k)], files: [], unknownKeys: [k] }, []],
  ];
  for (const [name, parts, want, hashed] of cases) assert.deepEqual(kinds(input(parts), hashed), want, name);
});

test('counts: agree, vouched, hashed, kept, excluded, unchecked', () => {
  const i = input({
    objects: [obj('p/a'), obj('p/b'), obj('p/kept'), obj('p/ex')], rows: [row('p/a'), row('p/b')],
    files: [file('p/a'), file('p/b', 10, '5')], deletes: 'keep', excluded: ['p/ex'],
  });
  const { counts, differences } = compareFolder(i, new Map([['p/b', { same: true }]]));
  assert.deepEqual(differences, []);
  assert.deepEqual(counts, { keys: 3, agree: 2, differences: 0, objects: 3, rows: 2, files: 2, vouched: 1, hashed: 1, kept: 1, excluded: 1, unchecked: 0 });
  const gone = compareFolder(input({ objects: [obj('p/a')], rows: [row('p/a')], files: undefined }), new Map());
  assert.equal(gone.counts.unchecked, 1);
  assert.equal(gone.counts.agree, 0, 'a key whose disk side is unknown does not agree');
});

test('a difference says what each side holds', () => {
  const { differences } = compareFolder(input({ objects: [obj('p/x', 10, E2)], rows: [row('p/x')], files: [file('p/x')] }), new Map());
  assert.deepEqual(differences, [{
    key: 'p/x', kind: 'object-differs', bucket: { size: 10, etag: E2 }, db: { size: 10, etag: E1 }, disk: { rel: 'x', size: 10, content: 'vouched' },
  }]);
});

test('hashesNeeded: never a file a fresh row vouches for; stale rows with their part size; objects with candidates', () => {
  const i = input({
    objects: [obj('p/fresh'), obj('p/stale'), obj('p/big', 12 * MiB, MP), obj('p/adopt'), obj('p/other-size', 3), obj('p/drift', 10, E2), obj('p/mp-adopt', 12 * MiB, MP)],
    rows: [row('p/fresh'), row('p/stale'), row('p/big', 12 * MiB, MP, 6 * MiB), row('p/drift'), row('p/gone')],
    files: [
      file('p/fresh'), file('p/stale', 10, '9'), file('p/big', 12 * MiB, '9'), file('p/adopt'), file('p/other-size'), file('p/drift', 10, '9'),
      file('p/mp-adopt', 12 * MiB), file('p/new'), file('p/gone', 10, '9'),
    ],
  });
  const got = hashesNeeded(i).map((h) => [h.key, h.etag, h.partSizes]);
  assert.deepEqual(got, [
    ['p/stale', E1, [0]],
    ['p/big', MP, [6 * MiB]], // the part size the row recorded
    ['p/adopt', E1, [0]],
    ['p/mp-adopt', MP, candidatePartSizes(12 * MiB, 2, 6, 8 * MiB)], // sizes that give 2 parts, ours first
  ]);
  assert.equal(got[3]![2]![0], 8 * MiB);
  // Nothing at all without a disk side.
  assert.deepEqual(hashesNeeded(input({ objects: [obj('p/a')], files: undefined })), []);
  // An excluded or unknown key is not read.
  assert.deepEqual(hashesNeeded(input({ objects: [obj('p/a')], files: [file('p/a')], excluded: ['p/a'] })), []);
  assert.deepEqual(hashesNeeded(input({ objects: [obj('p/a')], files: [file('p/a')], unknownKeys: ['p/a'] })), []);
});

test('an ETag that is neither MD5 nor multipart cannot be hashed: the key does not agree', () => {
  const i = input({ objects: [obj('p/x', 10, 'weird')], rows: [row('p/x', 10, 'weird')], files: [file('p/x', 10, '9')] });
  assert.deepEqual(hashesNeeded(i), []);
  assert.deepEqual(kinds(i), ['changed p/x']);
});

test('parseVerifyArgs: options, repeated --folder counted once, usage errors', () => {
  assert.deepEqual(parseVerifyArgs(['-c', '/x.yaml', '-f', 'a', '--folder', 'b', '-f', 'a', '--json', '--log-level', 'debug'], {}),
    { config: '/x.yaml', folders: ['a', 'b'], json: true, logLevel: 'debug', verbosity: 0 });
  assert.deepEqual(parseVerifyArgs([], { R2MIRROR_CONFIG: '/env.yaml' }), { config: '/env.yaml', folders: [], json: false, logLevel: undefined, verbosity: 0 });
  assert.throws(() => parseVerifyArgs(['--fix'], {}), /verify: Unknown option '--fix'/);
  assert.throws(() => parseVerifyArgs(['extra'], {}), /unexpected argument "extra"/);
});

test('a difference line shows a key with control characters quoted', () => {
  const d = compareFolder(input({ objects: [obj('p/a\u001b[2J\nb')], files: [] }), new Map()).differences[0]!;
  const line = describeDifference(d, 'mirror');
  assert.equal(line, `extra in bucket: ${JSON.stringify('p/a\u001b[2J\nb')}: 10 B, ETag ${E1} in the bucket, but no file and no row (sync deletes it)`);
  assert.doesNotMatch(line, /[\u0000-\u001f]/);
});
