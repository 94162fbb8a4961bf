// Put strategy 1: the whole file in one PutObject with Content-MD5, for files up to the part size. Small files
// are read into one buffer; larger ones are hashed first, then streamed from disk (two passes, no big buffer).
// Must not: retry (transferFile does), write the state DB, or hold more memory than it charged to the budget.

import type fs from 'node:fs';
import { IntegrityError } from '../errors.js';
import { hashRange, readWithMd5 } from '../local/hash.js';
import type { TransferContext } from './outcome.js';
import { sendRange } from './send.js';
import { expectBytes } from './unchanged.js';

/** Files up to this size are read into one buffer and sent with one PutObject. */
export const BUFFERED_PUT_MAX = 1024 * 1024;

/** The object an upload writes. */
export interface PutTarget {
  readonly key: string;
  readonly size: number;
  readonly contentType: string;
  readonly metadata: Record<string, string>;
}

/** What the server holds after an upload: its ETag, the file's MD5 (single PUTs) and the part size (0: one PUT). */
export interface Sent {
  readonly etag: string;
  readonly md5: string | null;
  readonly partSize: number;
  /** Bytes of a resumed multipart upload that were already on the server and not sent again. */
  readonly resumedBytes?: number | undefined;
}

/** One buffer, one PutObject: for files up to {@link BUFFERED_PUT_MAX}. */
export async function putBuffered(handle: fs.promises.FileHandle, t: PutTarget, ctx: TransferContext): Promise<Sent> {
  const release = await ctx.budget.acquire(t.size, ctx.signal);
  let sent: { etag: string; md5: string };
  try {
    const { body, md5: digest } = await readWithMd5(handle, ctx.signal, t.size);
    expectBytes(body.length, t.size);
    const etag = await ctx.bucket.put({ key: t.key, body, length: t.size, md5: digest, contentType: t.contentType, metadata: t.metadata, signal: ctx.signal });
    sent = { etag, md5: digest.toString('hex') };
  } finally {
    release();
  }
  return confirmed(sent.etag, sent.md5, t.size, ctx);
}

/**
 * Two passes instead of a buffer as large as the file: hash, then stream with Content-MD5. A file that changed
 * between the passes makes the server refuse the body (BadDigest), and the retry starts over.
 */
export async function putStreamed(handle: fs.promises.FileHandle, t: PutTarget, ctx: TransferContext): Promise<Sent> {
  // Counted at its full size: measured peak RSS grows by about the body size per streamed PUT in flight
  // (16 transfers of 8 MiB files: +64 MiB over the 200 MiB target), so the budget must bound them.
  const release = await ctx.budget.acquire(t.size, ctx.signal);
  let sent: { etag: string; md5: string };
  try {
    const { bytes, md5: digest } = await hashRange(handle, 0, t.size, ctx.signal);
    expectBytes(bytes, t.size);
    const etag = await sendRange(handle, 0, t.size, ctx, (body, signal) =>
      ctx.bucket.put({ key: t.key, body, length: t.size, md5: digest, contentType: t.contentType, metadata: t.metadata, signal }));
    sent = { etag, md5: digest.toString('hex') };
  } finally {
    release();
  }
  return confirmed(sent.etag, sent.md5, t.size, ctx);
}

/** Content-MD5 made the server check the body; an MD5-shaped ETag must also agree. */
function confirmed(etag: string, md5: string, size: number, ctx: TransferContext): Sent {
  if (/^[0-9a-f]{32}$/.test(etag) && etag !== md5) throw new IntegrityError(`server stored ETag ${etag}, but the file's MD5 is ${md5}`);
  ctx.onBytes?.(size);
  return { etag: etag || md5, md5, partSize: 0 };
}
