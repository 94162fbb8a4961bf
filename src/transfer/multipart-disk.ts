// Put strategy 3: multipart with parts streamed from disk one at a time, for files whose parts do not fit the
// memory budget (a 1 TiB file needs 105 MiB parts). Each part: a hash pass, a send pass, an fstat; a part that
// meets a transient error is sent again on its own, so a reset near the end does not start the file over.
// Must not: hold more than a few MiB whatever the part size, retry a changed file (transferFile starts over).

import type fs from 'node:fs';
import { FileChangedError } from '../errors.js';
import { hashRange, multipartEtag } from '../local/hash.js';
import type { FileVersion } from '../local/scan.js';
import { withRetry } from '../retry.js';
import type { MultipartSent, TransferContext } from './outcome.js';
import type { PutTarget } from './put.js';
import { sendRange, STREAM_CHUNK } from './send.js';
import { expectBytes, expectSameHandle } from './unchanged.js';

/**
 * What a multipart upload sent part by part from disk holds from the budget: a hash buffer and the stream's
 * chunks in flight, whatever the part size.
 */
export const STREAMED_PART_CHARGE = 4 * STREAM_CHUNK;
// (Streamed chunks become garbage as they are sent; V8 collects them in batches of about 32 MiB, whatever the
// part size: measured in test/integration/io.test.ts.)
/**
 * Retries of one part streamed from disk after a transient error (the SDK retries only buffered bodies), so a
 * reset near the end of a 1 TiB file does not start it over. Like the SDK's 3 attempts for lib-storage parts.
 */
const PART_RETRIES = 2;

/**
 * Multipart with parts streamed from disk, one at a time: for each part a hash pass over its byte range (its
 * MD5 for Content-MD5 and the ETag), then a send pass of the same range, then an fstat that the file is still
 * the version the scan saw. Memory: a few MiB whatever the part size; the price is reading the file twice.
 */
export async function multipartFromDisk(handle: fs.promises.FileHandle, s0: FileVersion, t: PutTarget, partSize: number, ctx: TransferContext): Promise<MultipartSent> {
  const digests: Buffer[] = [];
  const reported = await ctx.bucket.multipartByPart({ key: t.key, contentType: t.contentType, metadata: t.metadata, signal: ctx.signal }, async (send) => {
    for (let start = 0, n = 1; start < t.size; start += partSize, n++) {
      const length = Math.min(partSize, t.size - start);
      const { bytes, md5 } = await hashRange(handle, start, length, ctx.signal);
      expectBytes(bytes, length);
      // A changed file starts over from a fresh stat (transferFile's retry); so does anything but a transient error.
      await withRetry(() => sendRange(handle, start, length, ctx, (body, signal) => send({ partNumber: n, body, length, md5, signal })), {
        retries: PART_RETRIES, baseMs: ctx.backoffMs, signal: ctx.signal, what: 'part', retryable: (err) => !(err instanceof FileChangedError),
      });
      await expectSameHandle(handle, s0);
      digests.push(md5);
      ctx.onBytes?.(length);
    }
  });
  return { reported, expected: multipartEtag(digests) };
}
