// Put strategy 3's part: one multipart part hashed, then streamed from disk, for files whose parts do not fit the
// memory budget (a 1 TiB file needs 105 MiB parts). A hash pass, a send pass, an fstat; a part that meets a
// transient error is sent again on its own, so a reset near the end does not start the file over.
// Must not: hold more than a few MiB whatever the part size, retry a changed file (transferFile starts over).

import type fs from 'node:fs';
import { FileChangedError } from '../errors.js';
import { hashRange } from '../local/hash.js';
import type { FileVersion } from '../local/scan.js';
import { withRetry } from '../retry.js';
import type { TransferContext } from './outcome.js';
import { sendRange, STREAM_CHUNK } from './send.js';
import { expectBytes, expectSameHandle } from './unchanged.js';

/** One part to send: its number, where it starts and how long it is. */
export interface PartSpan {
  readonly n: number;
  readonly start: number;
  readonly length: number;
}

/**
 * What a multipart upload sent part by part from disk holds from the budget: a hash buffer and the stream's
 * chunks in flight, whatever the part size.
 */
export const STREAMED_PART_CHARGE = 4 * STREAM_CHUNK;
// (Streamed chunks become garbage as they are sent; V8 collects them in batches of about 32 MiB, whatever the
// part size: measured in test/integration/io.test.ts.)
/**
 * Retries of one part streamed from disk after a transient error (the SDK retries only buffered bodies), so a
 * reset near the end of a 1 TiB file does not start it over. Like the SDK's 3 attempts for a buffered part.
 */
const PART_RETRIES = 2;

/**
 * One part streamed from disk: a hash pass over its byte range (its MD5 for Content-MD5 and the ETag), then a
 * send pass of the same range, then an fstat that the file is still the version the scan saw. Memory: a few MiB
 * whatever the part size; the price is reading the file twice.
 */
export async function partFromDisk(handle: fs.promises.FileHandle, s0: FileVersion, key: string, uploadId: string, span: PartSpan,
  ctx: TransferContext): Promise<{ md5: Buffer; etag: string }> {
  const { bytes, md5 } = await hashRange(handle, span.start, span.length, ctx.signal);
  expectBytes(bytes, span.length);
  // A changed file starts over from a fresh stat (transferFile's retry); so does anything but a transient error.
  const etag = await withRetry(() => sendRange(handle, span.start, span.length, ctx, (body, signal) =>
    ctx.bucket.uploadPart(key, uploadId, { partNumber: span.n, body, length: span.length, md5, signal })), {
    retries: PART_RETRIES, baseMs: ctx.backoffMs, signal: ctx.signal, what: 'part', retryable: (err) => !(err instanceof FileChangedError),
  });
  await expectSameHandle(handle, s0);
  return { md5, etag };
}
