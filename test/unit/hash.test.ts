// Unit tests for src/local/hash.ts: hashFile, EtagStream, multipartEtag and readWithMd5 against ETags computed
// independently here (node:crypto over slices of the file's bytes). Temp files only under os.tmpdir().

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EtagStream, hashFile, multipartEtag, readWithMd5 } from '../../src/local/hash.js';

const MiB = 1024 * 1024;
const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest();
const md5hex = (b: Buffer): string => createHash('md5').update(b).digest('hex');

/** The S3/R2 multipart ETag, computed the slow obvious way: md5(concat(md5(part_i)))-N. */
function expectedMultipart(data: Buffer, partSize: number): string {
  const digests: Buffer[] = [];
  for (let off = 0; off < data.length; off += partSize) digests.push(md5(data.subarray(off, off + partSize)));
  return `${md5hex(Buffer.concat(digests))}-${digests.length}`;
}

let dir = '';
const files = new Map<string, { path: string; data: Buffer }>();
const SIZES: Record<string, number> = { empty: 0, one: 1, five: 5 * MiB, fivePlus: 5 * MiB + 1, twelve: 12 * MiB };

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'r2mirror-hash-'));
  for (const [name, size] of Object.entries(SIZES)) {
    const data = randomBytes(size);
    const path = join(dir, name);
    writeFileSync(path, data);
    files.set(name, { path, data });
  }
});

after(() => rmSync(dir, { recursive: true, force: true }));

const get = (name: string) => files.get(name)!;

test('multipartEtag is md5 of the concatenated binary digests, then -N', () => {
  const parts = [Buffer.from('hello '), Buffer.from('world')];
  const digests = parts.map(md5);
  assert.equal(multipartEtag(digests), `${md5hex(Buffer.concat(digests))}-2`);
  assert.match(multipartEtag(digests), /^[0-9a-f]{32}-2$/);
  assert.notEqual(multipartEtag(digests), md5hex(Buffer.from('hello world')) + '-2', 'not the MD5 of the content');
});

test('hashFile with part size 0 gives the plain MD5 of the whole file', async () => {
  for (const name of Object.keys(SIZES)) {
    const { path, data } = get(name);
    const r = await hashFile(path, [0]);
    assert.equal(r.bytes, data.length, name);
    assert.equal(r.etags.get(0), md5hex(data), name);
  }
  assert.equal((await hashFile(get('empty').path, [0])).etags.get(0), 'd41d8cd98f00b204e9800998ecf8427e');
});

test('hashFile multipart ETag with 5 MiB parts equals the slice-by-slice computation', async () => {
  for (const name of ['one', 'five', 'fivePlus', 'twelve']) {
    const { path, data } = get(name);
    const r = await hashFile(path, [5 * MiB]);
    assert.equal(r.etags.get(5 * MiB), expectedMultipart(data, 5 * MiB), name);
  }
  // the part counts a user would see in the bucket
  assert.match((await hashFile(get('one').path, [5 * MiB])).etags.get(5 * MiB)!, /-1$/);
  assert.match((await hashFile(get('five').path, [5 * MiB])).etags.get(5 * MiB)!, /-1$/, 'exactly one full part, no empty second part');
  assert.match((await hashFile(get('fivePlus').path, [5 * MiB])).etags.get(5 * MiB)!, /-2$/, 'a 1-byte last part');
  assert.match((await hashFile(get('twelve').path, [5 * MiB])).etags.get(5 * MiB)!, /-3$/);
});

test('hashFile computes several part sizes in one pass', async () => {
  const { path, data } = get('twelve');
  const sizes = [0, 5 * MiB, 6 * MiB, 8 * MiB, 12 * MiB, 16 * MiB, 5 * MiB + 123];
  const r = await hashFile(path, sizes);
  assert.equal(r.bytes, data.length);
  assert.equal(r.etags.size, sizes.length);
  assert.equal(r.etags.get(0), md5hex(data));
  for (const p of sizes.slice(1)) assert.equal(r.etags.get(p), expectedMultipart(data, p), `part size ${p}`);
  assert.match(r.etags.get(6 * MiB)!, /-2$/);
  assert.match(r.etags.get(8 * MiB)!, /-2$/);
  assert.match(r.etags.get(16 * MiB)!, /-1$/);
});

test('hashFile ignores duplicate part sizes', async () => {
  const { path, data } = get('fivePlus');
  const r = await hashFile(path, [5 * MiB, 5 * MiB, 0, 0]);
  assert.equal(r.etags.size, 2);
  assert.equal(r.etags.get(5 * MiB), expectedMultipart(data, 5 * MiB));
});

test('hashFile rejects a missing file with ENOENT', async () => {
  await assert.rejects(hashFile(join(dir, 'nope'), [0]), { code: 'ENOENT' });
});

test('hashFile of a path that is a FIFO refuses at once instead of waiting for a writer', { timeout: 10_000 }, async () => {
  // restore and verify hash files by path; a plain open of a FIFO blocks until someone writes (forever).
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  await assert.rejects(hashFile(fifo, [0]), /no longer a regular file \(now a FIFO\)/);
  await assert.rejects(readWithMd5(fifo), /no longer a regular file \(now a FIFO\)/);
});

test('hashFile honours an aborted signal', async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(hashFile(get('twelve').path, [0], ac.signal), { name: 'AbortError' });
});

/** Pipe a file through an EtagStream into a sink, as the uploader does; returns the stream and what came out. */
async function throughEtagStream(path: string, partSize: number, highWaterMark?: number): Promise<{ s: EtagStream; out: Buffer }> {
  const s = new EtagStream(partSize);
  const chunks: Buffer[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { chunks.push(chunk); cb(); } });
  await pipeline(createReadStream(path, highWaterMark ? { highWaterMark } : {}), s, sink);
  return { s, out: Buffer.concat(chunks) };
}

test('EtagStream passes every byte through unchanged and computes the same ETag as hashFile', async () => {
  for (const name of Object.keys(SIZES)) {
    const { path, data } = get(name);
    for (const partSize of [0, 5 * MiB]) {
      if (name === 'empty' && partSize !== 0) continue; // an empty file is never a multipart upload
      const { s, out } = await throughEtagStream(path, partSize);
      assert.ok(out.equals(data), `${name}: bytes changed in transit`);
      assert.equal(s.bytes, data.length);
      assert.equal(s.etag(), partSize === 0 ? md5hex(data) : expectedMultipart(data, partSize), `${name} / ${partSize}`);
    }
  }
  const { path } = get('fivePlus');
  const viaStream = (await throughEtagStream(path, 5 * MiB)).s.etag();
  assert.equal(viaStream, (await hashFile(path, [5 * MiB])).etags.get(5 * MiB));
});

test('EtagStream gives the same ETag whatever the chunk boundaries', async () => {
  // odd chunk sizes make parts end in the middle of chunks
  for (const [name, hwm] of [['fivePlus', 4099], ['twelve', 65_537], ['twelve', 3 * MiB + 1]] as const) {
    const { path, data } = get(name);
    const { s } = await throughEtagStream(path, 5 * MiB, hwm);
    assert.equal(s.etag(), expectedMultipart(data, 5 * MiB), `${name}, highWaterMark ${hwm}`);
  }
});

test('readWithMd5 returns the content and its raw 16-byte MD5', async () => {
  for (const name of ['empty', 'one', 'fivePlus']) {
    const { path, data } = get(name);
    const r = await readWithMd5(path);
    assert.ok(r.body.equals(data), name);
    assert.equal(r.md5.length, 16);
    assert.ok(r.md5.equals(md5(data)), name);
    assert.equal(r.md5.toString('base64'), createHash('md5').update(data).digest('base64'), 'usable as Content-MD5');
  }
  await assert.rejects(readWithMd5(join(dir, 'nope')), { code: 'ENOENT' });
});

test('readWithMd5 gives the same result whichever read strategy the size hint picks', async () => {
  const { path, data } = get('one');
  for (const hint of [1, 256 * 1024, 256 * 1024 + 1, Infinity]) {
    const r = await readWithMd5(path, undefined, hint);
    assert.ok(r.body.equals(data) && r.md5.equals(md5(data)), `size hint ${hint}`);
  }
  const big = get('fivePlus');
  assert.ok((await readWithMd5(big.path, undefined, 1)).body.equals(big.data), 'a wrong (small) hint still reads everything');
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(readWithMd5(path, ac.signal, 1), { name: 'AbortError' });
  await assert.rejects(readWithMd5(path, ac.signal), { name: 'AbortError' });
});
