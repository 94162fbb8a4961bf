// Put strategy 2 and 3: a multipart upload of our own (CreateMultipartUpload, UploadPart with Content-MD5 for each
// part, CompleteMultipartUpload), recorded in the journal part by part so an interrupted upload resumes instead of
// starting over. Parts are read into a few reused buffers and sent in parallel (strategy 2), or, when a part does
// not fit the memory budget twice, hashed and then streamed from disk one at a time (strategy 3, multipart-disk.ts).
// Checks the completed object's ETag against the one the parts give.
// Must not: retry the whole upload (transferFile does), write the state DB other than through the journal, abort
// an upload that an interruption may resume, or exceed what it charged the budget.

import type fs from 'node:fs';
import { FileChangedError, IntegrityError, classify } from '../errors.js';
import { choosePartSize, etagParts, partCount } from '../keys.js';
import { multipartEtag, readPart } from '../local/hash.js';
import type { FileVersion } from '../local/scan.js';
import { partFromDisk, STREAMED_PART_CHARGE, type PartSpan } from './multipart-disk.js';
import type { TransferContext } from './outcome.js';
import type { PutTarget, Sent } from './put.js';
import { openUpload, type OpenUpload } from './resume.js';
import { expectBytes, expectSameHandle } from './unchanged.js';

/** Parts of one file in flight at once, each in its own buffer. */
const PARTS_IN_FLIGHT = 4;

const MD5_HEX = /^[0-9a-f]{32}$/;

/** Upload a file larger than the part size in parts, resuming the journal's upload of it when it fits. */
export async function putMultipart(handle: fs.promises.FileHandle, s0: FileVersion, t: PutTarget, ctx: TransferContext): Promise<Sent> {
  const partSize = choosePartSize(t.size, ctx.partSize);
  const count = partCount(t.size, partSize);
  // Two whole parts must fit the budget for buffers to pay (a 1 TiB file needs 105 MiB parts); else from disk.
  const fromDisk = 2 * partSize > ctx.budget.total;
  const buffers = fromDisk ? 0 : Math.max(1, Math.min(PARTS_IN_FLIGHT, count, Math.floor(ctx.budget.total / partSize)));
  const release = await ctx.budget.acquire(fromDisk ? STREAMED_PART_CHARGE : buffers * partSize, ctx.signal);
  let up: OpenUpload | undefined;
  let keep = false;
  try {
    up = await openUpload(handle, s0, t, partSize, ctx);
    if (up.resumedBytes) ctx.onResumed?.(up.resumedBytes);
    const todo: PartSpan[] = [];
    for (let n = 1; n <= count; n++) if (!up.done.has(n)) todo.push({ n, start: (n - 1) * partSize, length: Math.min(partSize, t.size - (n - 1) * partSize) });
    const record = recorder(t, up, ctx);
    if (fromDisk) for (const span of todo) record(span, await partFromDisk(handle, s0, t.key, up.uploadId, span, ctx));
    else await inParallel(todo, buffers, partSize, ctx.signal, (span, buf, signal) => sendBuffered(handle, s0, t.key, up!.uploadId, span, buf, ctx, signal), record);
    const digests = Array.from({ length: count }, (_, i) => up!.done.get(i + 1)!.md5);
    const reported = await ctx.bucket.completeUpload(t.key, up.uploadId, [...up.done].map(([n, p]) => ({ partNumber: n, etag: p.etag })), ctx.signal);
    ctx.journal.end(t.key, up.uploadId);
    const expected = multipartEtag(digests);
    // Some servers (RGW) return an empty ETag from CompleteMultipartUpload: ask the object itself.
    const etag = reported || (await ctx.bucket.head(t.key, ctx.signal))?.etag || '';
    if (etagParts(etag) > 0 && etag !== expected) throw new IntegrityError(`server stored ETag ${etag}, but the uploaded parts give ${expected}`);
    if (!etag) throw new IntegrityError('server reported no ETag for the completed upload');
    return { etag, md5: null, partSize, resumedBytes: up.resumedBytes };
  } catch (err) {
    // An interruption (a stop, a reset, a timeout, a server that is down) keeps the upload to resume it; wrong bytes
    // (a changed file, a mismatched part) or a refused request end it. An upload already completed is gone either way.
    if (up && !(keep = resumable(err, ctx.signal))) {
      await ctx.bucket.abortUpload(t.key, up.uploadId);
      ctx.journal.end(t.key, up.uploadId);
    }
    throw err;
  } finally {
    release();
    await ctx.bucket.settle(t.key, ctx.signal, keep ? up?.uploadId : undefined);
  }
}

/** True when an upload that failed with `err` is worth resuming later (its parts are the file's bytes). */
function resumable(err: unknown, signal: AbortSignal | undefined): boolean {
  if (err instanceof FileChangedError || err instanceof IntegrityError) return false;
  if (signal?.aborted) return true;
  const c = classify(err);
  return c === 'retry' || c === 'abort' || c === 'fatal';
}

/** Notes one confirmed part: in the open upload, in the journal, and in the progress count. */
function recorder(t: PutTarget, up: OpenUpload, ctx: TransferContext): (span: PartSpan, sent: { md5: Buffer; etag: string }) => void {
  return (span, sent) => {
    const md5 = sent.md5.toString('hex');
    if (MD5_HEX.test(sent.etag) && sent.etag !== md5) throw new IntegrityError(`server stored part ${span.n} with ETag ${sent.etag}, but its MD5 is ${md5}`);
    const etag = sent.etag || md5;
    up.done.set(span.n, { md5: sent.md5, etag });
    ctx.journal.part(t.key, up.uploadId, span.n, { size: span.length, md5, etag });
    ctx.onBytes?.(span.length);
  };
}

/** One part read into `buf` (hashed as it is read), checked against the scanned version, sent with Content-MD5. */
async function sendBuffered(handle: fs.promises.FileHandle, s0: FileVersion, key: string, uploadId: string, span: PartSpan, buf: Buffer,
  ctx: TransferContext, signal: AbortSignal): Promise<{ md5: Buffer; etag: string }> {
  const body = buf.subarray(0, span.length);
  const { bytes, md5 } = await readPart(handle, body, span.start, signal);
  expectBytes(bytes, span.length);
  await expectSameHandle(handle, s0);
  const etag = await ctx.bucket.uploadPart(key, uploadId, { partNumber: span.n, body, length: span.length, md5, signal });
  return { md5, etag };
}

/**
 * Send `todo` with `width` workers, each with its own reused buffer of `size` bytes; the first failure stops the
 * others (their requests are cut) and is thrown once all have stopped.
 */
async function inParallel(todo: readonly PartSpan[], width: number, size: number, outer: AbortSignal | undefined,
  send: (span: PartSpan, buf: Buffer, signal: AbortSignal) => Promise<{ md5: Buffer; etag: string }>,
  record: (span: PartSpan, sent: { md5: Buffer; etag: string }) => void): Promise<void> {
  const cut = new AbortController();
  const signal = outer ? AbortSignal.any([outer, cut.signal]) : cut.signal;
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async () => {
    const buf = Buffer.allocUnsafeSlow(size);
    while (!failed && next < todo.length) {
      const span = todo[next++]!;
      try {
        record(span, await send(span, buf, signal));
      } catch (err) {
        if (!failed) [failed, failure] = [true, err];
        cut.abort(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, todo.length) }, worker));
  if (failed) throw failure;
}
