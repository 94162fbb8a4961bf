// Unit tests for src/keys.ts: object keys (prefix, NFC, R2's 1,024-byte limit, control characters) and the
// multipart rules (part size choice at every boundary, part counts, ETag parsing, candidate part sizes).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_PART, GiB, MAX_KEY_BYTES, MAX_PART, MAX_PARTS, MIN_PART, MiB, candidatePartSizes, choosePartSize, etagParts,
  compareKeys, keyProblem, normalizeEtag, partCount, toKey,
} from '../../src/keys.js';

test('constants are R2/S3 limits', () => {
  assert.equal(MAX_KEY_BYTES, 1024);
  assert.equal(MIN_PART, 5 * 1024 * 1024);
  assert.equal(MAX_PART, 5 * 1024 * 1024 * 1024);
  assert.equal(MAX_PARTS, 10_000);
  assert.equal(DEFAULT_PART, 8 * 1024 * 1024);
});

test('toKey joins prefix and relative path', () => {
  assert.equal(toKey('photos/', '2024/a b.jpg'), 'photos/2024/a b.jpg');
  assert.equal(toKey('', 'x/y'), 'x/y');
});

test('toKey normalises to NFC: a decomposed é becomes one code point', () => {
  const nfd = 'caf' + 'e\u0301' + '.txt';
  assert.equal(nfd.length, 9);
  const key = toKey('p/', nfd);
  assert.equal(key, 'p/caf\u00e9.txt');
  assert.equal(key.length, 10);
  assert.equal(toKey('p/', 'caf\u00e9.txt'), key, 'NFC and NFD names map to the same key');
  assert.equal(toKey('pre\u0301/', 'x'), 'pr\u00e9/x', 'the prefix is normalised too');
});

test('keyProblem: exactly 1,024 UTF-8 bytes is allowed, 1,025 is refused', () => {
  assert.equal(keyProblem('a'.repeat(1024)), undefined);
  const msg = keyProblem('a'.repeat(1025));
  assert.match(msg ?? '', /1025 bytes/);
  assert.match(msg ?? '', /1024/);
});

test('keyProblem counts bytes, not characters', () => {
  // 'é' is 2 bytes, '€' is 3, '😀' is 4 (2 UTF-16 units).
  assert.equal(keyProblem('\u00e9'.repeat(512)), undefined, '512 x 2 = 1,024 bytes');
  assert.match(keyProblem('\u00e9'.repeat(512) + 'a') ?? '', /1025 bytes/);
  assert.equal(keyProblem('\u20ac'.repeat(341) + 'a'), undefined, '341 x 3 + 1 = 1,024 bytes');
  assert.match(keyProblem('\u20ac'.repeat(341) + 'ab') ?? '', /1025 bytes/);
  assert.equal(keyProblem('\u{1F600}'.repeat(256)), undefined, '256 x 4 = 1,024 bytes');
  assert.match(keyProblem('\u{1F600}'.repeat(256) + 'a') ?? '', /1025 bytes/);
  // 400 characters, 1,200 bytes: a length check in characters would let it through.
  assert.match(keyProblem('\u20ac'.repeat(400)) ?? '', /1200 bytes/);
});

test('keyProblem refuses control characters, accepts other unusual names', () => {
  for (const c of ['\u0000', '\u0001', '\t', '\n', '\r', '\u001f', '\u007f']) {
    assert.match(keyProblem(`a${c}b`) ?? '', /control character/, JSON.stringify(c));
  }
  for (const ok of ['a b', 'ümlaut/ß', '\u{1F600}.png', 'a\\b', '#%?&=+', '.hidden', 'x\u0080y' /* C1, not refused */]) {
    assert.equal(keyProblem(ok), undefined, ok);
  }
});

test('choosePartSize: small and empty files get the default part size', () => {
  assert.equal(choosePartSize(0), 8 * MiB);
  assert.equal(choosePartSize(1), 8 * MiB);
  assert.equal(choosePartSize(8 * MiB), 8 * MiB);
});

test('choosePartSize: 10,000 parts of 8 MiB still fit, one byte more raises to the next whole MiB', () => {
  const limit = MAX_PARTS * 8 * MiB;
  assert.equal(choosePartSize(limit), 8 * MiB);
  assert.equal(partCount(limit, 8 * MiB), 10_000);
  const p = choosePartSize(limit + 1);
  assert.equal(p, 9 * MiB);
  assert.equal(p % MiB, 0);
  assert.ok(partCount(limit + 1, p) <= MAX_PARTS, `${partCount(limit + 1, p)} parts`);
});

test('choosePartSize: the raised size is the smallest whole MiB that fits in 10,000 parts', () => {
  for (const size of [100 * GiB, 123_456_789_012, 500 * GiB + 7, 1024 * GiB]) {
    const p = choosePartSize(size);
    assert.equal(p % MiB, 0, `${size}`);
    assert.ok(Math.ceil(size / p) <= MAX_PARTS, `${size}: ${p}`);
    assert.ok(Math.ceil(size / (p - MiB)) > MAX_PARTS, `${size}: ${p - MiB} would have fitted`);
  }
});

test('choosePartSize: configured sizes are honoured, clamped to [5 MiB, 5 GiB]', () => {
  assert.equal(choosePartSize(100 * MiB, 5 * MiB), 5 * MiB);
  assert.equal(choosePartSize(100 * MiB, 64 * MiB), 64 * MiB);
  assert.equal(choosePartSize(100 * MiB, 1 * MiB), 5 * MiB, 'below the S3 minimum');
  assert.equal(choosePartSize(100 * MiB, 0), 5 * MiB);
  assert.equal(choosePartSize(100 * MiB, 6 * GiB), 5 * GiB, 'above the S3 maximum');
  // a configured 5 MiB is raised only when 10,000 parts are not enough
  assert.equal(choosePartSize(MAX_PARTS * 5 * MiB, 5 * MiB), 5 * MiB);
  assert.equal(choosePartSize(MAX_PARTS * 5 * MiB + 1, 5 * MiB), 6 * MiB);
});

test('choosePartSize: the largest file is 10,000 parts of 5 GiB; one byte more throws', () => {
  const largest = MAX_PARTS * MAX_PART;
  assert.equal(choosePartSize(largest), MAX_PART);
  assert.equal(partCount(largest, MAX_PART), MAX_PARTS);
  assert.throws(() => choosePartSize(largest + 1), (err: unknown) => {
    assert.ok(err instanceof RangeError, String(err));
    assert.match(err.message, new RegExp(`${largest + 1} bytes`));
    assert.match(err.message, /10000 parts of 5 GiB/);
    return true;
  });
});

test('partCount: at least one part; exact multiples do not get an empty last part', () => {
  assert.equal(partCount(0, 8 * MiB), 1);
  assert.equal(partCount(1, 8 * MiB), 1);
  assert.equal(partCount(8 * MiB, 8 * MiB), 1);
  assert.equal(partCount(8 * MiB + 1, 8 * MiB), 2);
  assert.equal(partCount(24 * MiB, 8 * MiB), 3);
});

test('normalizeEtag strips quotes and W/, lower-cases and trims', () => {
  const md5 = '9e107d9d372bb6826bd81d3542a419d6';
  assert.equal(normalizeEtag(`"${md5}"`), md5);
  assert.equal(normalizeEtag(md5), md5);
  assert.equal(normalizeEtag(`W/"${md5}"`), md5);
  assert.equal(normalizeEtag(`"${md5.toUpperCase()}-12"`), `${md5}-12`);
  assert.equal(normalizeEtag(` "${md5}" `), md5);
  assert.equal(normalizeEtag(undefined), '');
  assert.equal(normalizeEtag(null), '');
});

test('etagParts reads the part count of multipart ETags, 0 for a plain MD5', () => {
  const md5 = '9e107d9d372bb6826bd81d3542a419d6';
  assert.equal(etagParts(md5), 0);
  assert.equal(etagParts(`${md5}-1`), 1);
  assert.equal(etagParts(`${md5}-10000`), 10000);
  assert.equal(etagParts(normalizeEtag(`"${md5.toUpperCase()}-3"`)), 3);
  assert.equal(etagParts('not-an-etag-3'), 0);
  assert.equal(etagParts(`${md5}-`), 0);
  assert.equal(etagParts(`${md5.slice(1)}-2`), 0, 'only 31 hex digits');
});

test('candidatePartSizes: 8 MiB (ours) and 5 MiB first when both give the part count', () => {
  const size = 20 * MiB; // 3 parts of 8 MiB, 4 parts of 5 MiB
  assert.deepEqual(candidatePartSizes(size, 3).slice(0, 1), [8 * MiB]);
  assert.ok(!candidatePartSizes(size, 3).includes(5 * MiB), '5 MiB would give 4 parts');
  assert.equal(candidatePartSizes(size, 4)[0], 5 * MiB);
  const both = candidatePartSizes(15 * MiB, 2); // 8 MiB -> 2 parts, 5 MiB -> 3 parts
  assert.ok(both.includes(8 * MiB), String(both));
  const size40 = 40 * MiB - 1; // 8 MiB -> 5 parts, 5 MiB -> 8 parts
  assert.ok(candidatePartSizes(size40, 5).includes(8 * MiB), '8 MiB parts: 5');
  assert.ok(candidatePartSizes(size40, 8).includes(5 * MiB), '5 MiB parts: 8');
});

test('candidatePartSizes: every candidate yields exactly the given part count and is a legal part size', () => {
  const cases: [number, number][] = [
    [20 * MiB, 3], [20 * MiB, 4], [100 * MiB + 5, 7], [1 * GiB, 128], [1 * GiB, 13], [3 * GiB + 12345, 40],
    [777 * MiB, 2], [6 * MiB, 1], [123 * MiB, 1],
  ];
  for (const [size, parts] of cases) {
    const c = candidatePartSizes(size, parts);
    assert.ok(c.length > 0, `${size}/${parts}: no candidate`);
    assert.equal(new Set(c).size, c.length, 'no duplicates');
    for (const p of c) {
      assert.equal(Math.ceil(size / p), parts, `${size} bytes in ${p}-byte parts`);
      assert.ok(p >= MIN_PART && p <= MAX_PART, `${p} is not a legal part size`);
    }
  }
});

test('candidatePartSizes: whole-MiB sizes of other tools are found (e.g. 17 MiB parts)', () => {
  const size = 17 * MiB * 9 + 3; // an uploader with 17 MiB parts made 10 parts
  assert.ok(candidatePartSizes(size, 10, 20).includes(17 * MiB), String(candidatePartSizes(size, 10, 20)));
});

test('candidatePartSizes: respects max (default 6)', () => {
  const size = 3 * MiB; // one part: every listed size and every MiB from 3 fits
  assert.equal(candidatePartSizes(size, 1).length, 6);
  for (const max of [1, 2, 3, 9]) assert.equal(candidatePartSizes(size, 1, max).length, max);
  assert.deepEqual(candidatePartSizes(size, 1, 2), [8 * MiB, 5 * MiB], 'ours first, then the most common');
  assert.equal(candidatePartSizes(size, 1, 0).length, 0);
});

test('candidatePartSizes: one part means any part size at least the file size', () => {
  const size = 3 * MiB;
  const c = candidatePartSizes(size, 1);
  assert.ok(c.includes(8 * MiB) && c.includes(5 * MiB), String(c));
  for (const p of c) assert.ok(p >= size, `${p} < ${size}`);
  const big = 20 * MiB;
  for (const p of candidatePartSizes(big, 1)) assert.ok(p >= big, `${p} < ${big}`);
});

test('candidatePartSizes: nothing fits an impossible part count', () => {
  assert.deepEqual(candidatePartSizes(10 * MiB, 3), [], '3 parts of 10 MiB need parts < 5 MiB');
  assert.deepEqual(candidatePartSizes(MAX_PARTS * MAX_PART + 1, MAX_PARTS), [], 'larger than any upload');
  assert.deepEqual(candidatePartSizes(1 * GiB, 100), [], 'would need parts of 10.24 to 10.34 MiB: no whole MiB');
  assert.deepEqual(candidatePartSizes(1 * GiB, 1), [1 * GiB], 'one part of a 1 GiB file: only 1 GiB parts or more');
});

test('compareKeys is UTF-8 byte order (ListObjectsV2, SQLite), not UTF-16 order', () => {
  const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  const alphabet = ['a', 'b', '/', '.', '-', '0', '\u00e9', '\u0301', '\u4e2d', '\ud7ff', '\ue000', '\uffee', '\u{1f600}', '\u{10000}', '\u{10ffff}'];
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const word = () => Array.from({ length: 1 + rnd(5) }, () => alphabet[rnd(alphabet.length)]).join('');
  for (let i = 0; i < 5000; i++) {
    const a = word();
    const b = rnd(4) === 0 ? a + word() : word();
    assert.equal(Math.sign(compareKeys(a, b)), Math.sign(byBytes(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
  // the case UTF-16 order gets wrong: U+FFEE is 3 bytes (EF BF AE), U+1F600 is 4 (F0 9F 98 80)
  assert.ok('\u{1f600}' < '\uffee', 'JS compares code units');
  assert.ok(compareKeys('\uffee', '\u{1f600}') < 0);
  assert.equal(compareKeys('a/b', 'a/b'), 0);
  assert.ok(compareKeys('a.txt', 'a/') < 0 && compareKeys('a/', 'a0') < 0, 'a directory sorts as name/');
});
