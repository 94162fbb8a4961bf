// Content hashes of local files as S3/R2 ETags: plain MD5, or md5(concat(part md5s))-N for multipart.
// Must not: write or rename a file; open one other than through open.ts; import from state/, remote/ or any layer
// above local/.

import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { openScanned } from './open.js';

/** The multipart ETag rule shared by S3 and R2. */
export function multipartEtag(partDigests: readonly Buffer[]): string {
  const h = createHash('md5');
  for (const d of partDigests) h.update(d);
  return `${h.digest('hex')}-${partDigests.length}`;
}

/** Splits a byte stream into parts of `partSize` (0 = one part) and keeps an MD5 per part. */
class PartHasher {
  readonly digests: Buffer[] = [];
  private hash: Hash = createHash('md5');
  private inPart = 0;
  constructor(readonly partSize: number) {}

  update(chunk: Buffer): void {
    if (this.partSize === 0) {
      this.hash.update(chunk);
      return;
    }
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(chunk.length - off, this.partSize - this.inPart);
      this.hash.update(off === 0 && take === chunk.length ? chunk : chunk.subarray(off, off + take));
      this.inPart += take;
      off += take;
      if (this.inPart === this.partSize) {
        this.digests.push(this.hash.digest());
        this.hash = createHash('md5');
        this.inPart = 0;
      }
    }
  }

  /** Plain MD5 hex for partSize 0, else the multipart ETag. */
  finish(): string {
    if (this.partSize === 0) return this.hash.digest('hex');
    if (this.inPart > 0 || this.digests.length === 0) this.digests.push(this.hash.digest());
    return multipartEtag(this.digests);
  }
}

/** A pass-through stream that counts bytes and computes the ETag for one part size as data flows to the uploader. */
export class EtagStream extends Transform {
  bytes = 0;
  private readonly hasher: PartHasher;
  constructor(partSize: number) {
    super();
    this.hasher = new PartHasher(partSize);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.hasher.update(chunk);
    cb(null, chunk);
  }
  /** The ETag of everything that passed through. Call once, after the stream ended. */
  etag(): string {
    return this.hasher.finish();
  }
}

/**
 * A file to read: a handle from openScanned(), or a path (restore's targets, verify's files), which is opened
 * the same non-blocking way and must be a regular file: a path that became a FIFO never blocks a read.
 */
export type FileSource = string | fs.promises.FileHandle;

const READ_CHUNK = 1024 * 1024;

/**
 * Read `length` bytes (or to the end) from `start` through one reused buffer, handing each chunk to `onChunk`
 * before the next read overwrites it. Positional reads: the handle's offset is left alone. Returns the count.
 */
async function readRange(fh: fs.promises.FileHandle, start: number, length: number, signal: AbortSignal | undefined, onChunk: (b: Buffer) => void): Promise<number> {
  const buf = Buffer.allocUnsafe(Math.max(1, Math.min(READ_CHUNK, length)));
  let done = 0;
  while (done < length) {
    signal?.throwIfAborted();
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - done), start + done);
    if (bytesRead === 0) break;
    onChunk(buf.subarray(0, bytesRead));
    done += bytesRead;
  }
  return done;
}

async function withHandle<T>(src: FileSource, fn: (fh: fs.promises.FileHandle) => Promise<T>): Promise<T> {
  if (typeof src !== 'string') return fn(src);
  const { handle: fh } = await openScanned(src, undefined, true);
  try {
    return await fn(fh);
  } finally {
    await fh.close();
  }
}

/**
 * Read a file once and compute its ETag for each part size (0 = plain MD5). Used to prove a local file equals
 * an object already in the bucket (adoption, touched files, renames) without uploading it.
 */
export async function hashFile(src: FileSource, partSizes: readonly number[], signal?: AbortSignal): Promise<{ bytes: number; etags: Map<number, string> }> {
  const hashers = [...new Set(partSizes)].map((p) => new PartHasher(p));
  const bytes = await withHandle(src, (fh) => readRange(fh, 0, Infinity, signal, (chunk) => {
    for (const h of hashers) h.update(chunk);
  }));
  return { bytes, etags: new Map(hashers.map((h) => [h.partSize, h.finish()])) };
}

/** The raw MD5 of `length` bytes from `start` (one multipart part), and how many bytes there were. */
export async function hashRange(fh: fs.promises.FileHandle, start: number, length: number, signal?: AbortSignal): Promise<{ bytes: number; md5: Buffer }> {
  const h = createHash('md5');
  const bytes = await readRange(fh, start, length, signal, (chunk) => h.update(chunk));
  return { bytes, md5: h.digest() };
}

/**
 * Read `buf.length` bytes from `start` into `buf` (one multipart part, in chunks of 1 MiB), hashing as they come.
 * Returns how many bytes there were (fewer when the file shrank) and their raw MD5.
 */
export async function readPart(fh: fs.promises.FileHandle, buf: Buffer, start: number, signal?: AbortSignal): Promise<{ bytes: number; md5: Buffer }> {
  const h = createHash('md5');
  let done = 0;
  while (done < buf.length) {
    signal?.throwIfAborted();
    const { bytesRead } = await fh.read(buf, done, Math.min(READ_CHUNK, buf.length - done), start + done);
    if (bytesRead === 0) break;
    h.update(buf.subarray(done, done + bytesRead));
    done += bytesRead;
  }
  return { bytes: done, md5: h.digest() };
}

/** Files up to this size are read synchronously: four thread-pool round trips cost more than the read. */
const SYNC_READ_MAX = 256 * 1024;

/** Read a small file whole, with its raw MD5 digest (for Content-MD5). `sizeHint` picks the read strategy. */
export async function readWithMd5(src: FileSource, signal?: AbortSignal, sizeHint = Infinity): Promise<{ body: Buffer; md5: Buffer }> {
  signal?.throwIfAborted();
  const sync = sizeHint <= SYNC_READ_MAX;
  const body = await withHandle(src, async (fh) => (sync ? fs.readFileSync(fh.fd) : await fh.readFile({ signal })));
  return { body, md5: createHash('md5').update(body).digest() };
}
