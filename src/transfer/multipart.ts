// Put strategy 2: multipart through lib-storage (one read of the file, hashed as it flows, a few whole parts
// in memory), and the choice between it and strategy 3 (parts streamed from disk) when parts do not fit the
// memory budget. Checks the completed object's ETag against the one the parts give.
// Must not: retry the whole upload (transferFile does), write the state DB, or exceed what it charged the budget.

import type fs from 'node:fs';
import { IntegrityError } from '../errors.js';
import { choosePartSize, etagParts } from '../keys.js';
import { EtagStream } from '../local/hash.js';
import { rangeStream } from '../local/open.js';
import { multipartFromDisk, STREAMED_PART_CHARGE } from './multipart-disk.js';
import type { MultipartSent, TransferContext } from './outcome.js';
import type { PutTarget, Sent } from './put.js';
import { STREAM_CHUNK } from './send.js';
import { expectBytes } from './unchanged.js';
import type { FileVersion } from '../local/scan.js';

/** Upload a file larger than the part size in parts, by whichever strategy fits the budget. */
export async function putMultipart(handle: fs.promises.FileHandle, s0: FileVersion, t: PutTarget, ctx: TransferContext): Promise<Sent> {
  const partSize = choosePartSize(t.size, ctx.partSize);
  const queueSize = Math.max(1, Math.min(4, Math.floor(ctx.budget.total / partSize) - 1));
  // lib-storage holds queueSize + 1 whole parts in memory; when they do not fit the budget (parts larger than
  // half of it: a 1 TiB file needs 105 MiB parts), send the parts one by one, streamed from disk.
  const fromDisk = (queueSize + 1) * partSize > ctx.budget.total;
  const release = await ctx.budget.acquire(fromDisk ? STREAMED_PART_CHARGE : (queueSize + 1) * partSize, ctx.signal);
  try {
    const sent = fromDisk
      ? await multipartFromDisk(handle, s0, t, partSize, ctx)
      : await multipartBuffered(handle, t, partSize, queueSize, ctx);
    // Some servers (RGW) return an empty ETag from CompleteMultipartUpload: ask the object itself.
    const etag = sent.reported || (await ctx.bucket.head(t.key, ctx.signal))?.etag || '';
    if (etagParts(etag) > 0 && etag !== sent.expected) throw new IntegrityError(`server stored ETag ${etag}, but the uploaded parts give ${sent.expected}`);
    if (!etag) throw new IntegrityError('server reported no ETag for the completed upload');
    return { etag, md5: null, partSize };
  } finally {
    release();
  }
}

/** Multipart through lib-storage: one read of the file, hashed as it flows, `queueSize` whole parts in flight. */
async function multipartBuffered(handle: fs.promises.FileHandle, t: PutTarget, partSize: number, queueSize: number, ctx: TransferContext): Promise<MultipartSent> {
  const hasher = new EtagStream(partSize);
  // Read exactly the bytes the stat saw; growth beyond them is caught by the re-stat after the upload.
  const src = rangeStream(handle, 0, t.size, STREAM_CHUNK);
  src.on('error', (e) => hasher.destroy(e));
  // A file that shrinks while it is read ends the stream early: fail the body, so lib-storage aborts the upload
  // and the retry sees a change, instead of an SDK part-count error or an object completed from a short read.
  let read = 0;
  src.on('data', (chunk: Buffer | string) => {
    read += chunk.length;
  });
  src.on('end', () => {
    try {
      expectBytes(read, t.size);
      hasher.end();
    } catch (err) {
      hasher.destroy(err as Error);
    }
  });
  src.pipe(hasher, { end: false });
  let sent = 0;
  try {
    const reported = await ctx.bucket.multipart({
      key: t.key, body: hasher, size: t.size, partSize, queueSize, contentType: t.contentType, metadata: t.metadata, signal: ctx.signal,
      onProgress: (loaded) => {
        ctx.onBytes?.(loaded - sent);
        sent = loaded;
      },
    });
    expectBytes(hasher.bytes, t.size);
    return { reported, expected: hasher.etag() };
  } finally {
    src.destroy();
  }
}
