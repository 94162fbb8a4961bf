// The pure parts of `r2mirror restore`: which keys may become which paths (nothing escapes the target), the
// --prefix rules, temp names, the part sizes a multipart ETag is checked with, and the stored mtime.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRestoreArgs } from '../../src/commands/restore.js';
import { tempName } from '../../src/local/place.js';
import { partSizesFor, prefixProblem, restorePath } from '../../src/restore/rules.js';
import { mtimeFromMetadata, mtimeToMetadata } from '../../src/keys.js';

const MiB = 1024 * 1024;

test('restorePath: a key under the prefix becomes its relative path', () => {
  assert.deepEqual(restorePath('host1/data/a.txt', 'host1/data/'), { kind: 'file', rel: 'a.txt' });
  assert.deepEqual(restorePath('host1/data/dir one/日本.txt', 'host1/data/'), { kind: 'file', rel: 'dir one/日本.txt' });
  assert.deepEqual(restorePath('a/b', ''), { kind: 'file', rel: 'a/b' });
  assert.deepEqual(restorePath('p/..hidden/x..y', 'p/'), { kind: 'file', rel: '..hidden/x..y' }, 'dots inside names are fine');
  assert.deepEqual(restorePath('p/photos/', 'p/'), { kind: 'dir', rel: 'photos' });
});

test('restorePath: keys that could escape the target or name one file twice are refused with a reason', () => {
  const bad = (key: string, prefix = 'p/') => {
    const r = restorePath(key, prefix);
    assert.equal(r.kind, 'bad', `${JSON.stringify(key)} was accepted: ${JSON.stringify(r)}`);
    return (r as { reason: string }).reason;
  };
  assert.match(bad('p/..'), /"\.\." segment, which would write outside the target directory/);
  assert.match(bad('p/../x'), /"\.\." segment/);
  assert.match(bad('p/a/../../etc/passwd'), /"\.\." segment/);
  assert.match(bad('p/a/..'), /"\.\." segment/);
  assert.match(bad('p/../'), /"\.\." segment/);
  assert.match(bad('../x', ''), /"\.\." segment/);
  assert.match(bad('p//etc/passwd'), /would be absolute/);
  assert.match(bad('/etc/passwd', ''), /would be absolute/);
  assert.match(bad('p/a\0b'), /NUL/);
  assert.match(bad('p/./a'), /"\." segment/);
  assert.match(bad('p/a//b'), /empty segment/);
  assert.match(bad('p/'), /the folder prefix itself/);
  assert.match(bad('q/a'), /not under the folder prefix/);
});

test('prefixProblem and parseRestoreArgs', () => {
  assert.equal(prefixProblem(''), undefined);
  assert.equal(prefixProblem('photos/2024/'), undefined);
  assert.equal(prefixProblem('photos/2024-'), undefined);
  assert.match(prefixProblem('/photos')!, /must not start with "\/"/);
  assert.match(prefixProblem('a/../b')!, /"\.\."/);
  assert.match(prefixProblem('a\nb')!, /control characters/);
  const a = parseRestoreArgs(['-c', '/c.yaml', '-f', 'data', '--to', 'out', '--prefix', 'docs/', '--force', '-n', '--json'], {}, '/home/u');
  assert.deepEqual(a, { config: '/c.yaml', folder: 'data', to: '/home/u/out', prefix: 'docs/', force: true, dryRun: true, json: true, logLevel: undefined, verbosity: 0, progress: undefined, fromTrash: false });
  assert.throws(() => parseRestoreArgs([], {}, '/'), /restore: missing --folder NAME and --to DIR/);
  assert.throws(() => parseRestoreArgs(['--folder', 'x'], {}, '/'), /restore: missing --to DIR$/);
  assert.throws(() => parseRestoreArgs(['--folder', 'x', '--to', 'y', '--prefix', '/a'], {}, '/'), /--prefix "\/a" must not start/);
  assert.throws(() => parseRestoreArgs(['--folder', 'x', '--to', 'y', 'extra'], {}, '/'), /unexpected argument "extra"/);
});

test('tempName: hidden, beside the target, unique, and short enough for long names', () => {
  assert.match(tempName('photo.jpg'), /^\.photo\.jpg\.r2mirror-tmp-[0-9a-f]{8}$/);
  assert.notEqual(tempName('a'), tempName('a'));
  const long = 'é'.repeat(120); // 240 bytes
  assert.match(tempName(long), /^\.r2mirror-tmp-[0-9a-f]{8}$/);
  assert.ok(Buffer.byteLength(tempName('x'.repeat(200))) <= 255);
});

test('partSizesFor: plain MD5, the recorded part size first, candidates, and what cannot be verified', () => {
  const md5 = '0123456789abcdef0123456789abcdef';
  assert.deepEqual(partSizesFor({ size: 10, etag: md5 }, undefined, 8 * MiB), [0]);
  const mp = `${md5}-3`;
  const size = 20 * MiB + 123;
  const c = partSizesFor({ size, etag: mp }, undefined, 8 * MiB) as number[];
  assert.equal(c[0], 8 * MiB, 'our own part size first');
  assert.ok(c.every((p) => Math.ceil(size / p) === 3));
  // a row for the same ETag puts its part size first; a row for another ETag is ignored
  assert.equal((partSizesFor({ size, etag: mp }, { etag: mp, partSize: 10 * MiB }, 8 * MiB) as number[])[0], 10 * MiB);
  assert.equal((partSizesFor({ size, etag: mp }, { etag: `${md5.replace('0', 'f')}-3`, partSize: 10 * MiB }, 8 * MiB) as number[])[0], 8 * MiB);
  assert.match(String(partSizesFor({ size: 10, etag: 'not-an-md5' }, undefined, 8 * MiB)), /neither an MD5 nor a multipart ETag/);
  assert.match(String(partSizesFor({ size: 1000, etag: `${md5}-3` }, undefined, 8 * MiB)), /no part size splits 1000 bytes into the 3 parts/);
});

test('mtimeFromMetadata: rclone-style seconds with a fraction, any sign, to the nanosecond', () => {
  assert.equal(mtimeFromMetadata('1718000000.123456789'), 1718000000123456789n);
  assert.equal(mtimeFromMetadata('1718000000'), 1718000000000000000n);
  assert.equal(mtimeFromMetadata('1718000000.5'), 1718000000500000000n, 'rclone drops trailing zeros');
  assert.equal(mtimeFromMetadata('-5'), -5000000000n);
  assert.equal(mtimeFromMetadata('-0.5'), -500000000n, 'the sign applies to the whole value, as in rclone');
  assert.equal(mtimeFromMetadata('-315619199.500000000'), -315619199500000000n);
  assert.equal(mtimeFromMetadata('1.1234567899'), 1123456789n, 'digits past the ninth are dropped, as rclone does');
  assert.equal(mtimeFromMetadata(undefined), undefined);
  assert.equal(mtimeFromMetadata(''), undefined);
  assert.equal(mtimeFromMetadata('-'), undefined);
  assert.equal(mtimeFromMetadata('yesterday'), undefined);
  assert.equal(mtimeFromMetadata('1e9'), undefined);
  assert.equal(mtimeFromMetadata('-315619199.-500000000'), undefined, 'the broken form older versions wrote');
  assert.equal(mtimeFromMetadata('99999999999.0'), undefined, 'past what rclone (int64 ns) can hold');
});

test('mtimeToMetadata: the sign in front, 9 fraction digits, and back again exactly', () => {
  assert.equal(mtimeToMetadata(1718000000123456789n), '1718000000.123456789');
  assert.equal(mtimeToMetadata(0n), '0.000000000');
  assert.equal(mtimeToMetadata(-500000000n), '-0.500000000');
  assert.equal(mtimeToMetadata(-315619199500000000n), '-315619199.500000000', '1960-01-01T00:00:00.5Z');
  for (const ns of [0n, 1n, -1n, 999_999_999n, -999_999_999n, -1_000_000_000n, -315619199_999999999n, 1718000000123456789n, -(2n ** 63n), 2n ** 63n - 1n]) {
    assert.equal(mtimeFromMetadata(mtimeToMetadata(ns)), ns, String(ns));
  }
});
