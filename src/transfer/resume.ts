// Opening a multipart upload: resume the one the journal recorded for the key when the file is the version it
// began from (ListParts, each part checked against the recorded MD5 and ETag or, when its answer was lost, against
// a hash of the file's bytes), or abort it and create a new one, recorded before any part is sent.
// Must not: send a part, or resume an upload for a file that changed, for another part size or bucket, or one
// older than RESUME_MAX_AGE_MS.

import type fs from 'node:fs';
import { hashRange } from '../local/hash.js';
import { sameVersion, type FileVersion } from '../local/scan.js';
import { Bucket } from '../remote/bucket.js';
import type { UploadRow } from '../state/store.js';
import type { TransferContext } from './outcome.js';
import type { PutTarget } from './put.js';
import { expectSameHandle } from './unchanged.js';

/**
 * An upload recorded longer ago than this is started over, not resumed: R2 aborts incomplete multipart uploads
 * after 7 days by default, and a resume must not race that.
 */
export const RESUME_MAX_AGE_MS = 5 * 24 * 3600 * 1000;

/** A part the server holds for the upload: its raw MD5 (for the multipart ETag) and its ETag (for the completion). */
export interface DonePart {
  readonly md5: Buffer;
  readonly etag: string;
}

/** A multipart upload ready for parts: new, or resumed with the parts the server already holds. */
export interface OpenUpload {
  readonly uploadId: string;
  readonly done: Map<number, DonePart>;
  /** Bytes of the parts that were already on the server (not sent again). */
  readonly resumedBytes: number;
}

const MD5_HEX = /^[0-9a-f]{32}$/;

/** Resume the recorded upload of `t.key` if it still fits the file at version `s0`, else start a new one. */
export async function openUpload(handle: fs.promises.FileHandle, s0: FileVersion, t: PutTarget, partSize: number, ctx: TransferContext): Promise<OpenUpload> {
  const rec = ctx.journal.find(t.key);
  if (rec) {
    const why = unfit(rec, s0, t, partSize, ctx.bucket.name, Date.now());
    const log = ctx.log.child({ key: t.key, uploadId: rec.uploadId });
    if (why === undefined) {
      const resumed = await resume(handle, s0, rec, t, partSize, ctx);
      if (resumed) return resumed;
      log.info('the interrupted multipart upload is gone from the server; starting over');
    } else {
      log.info({ reason: why }, 'not resuming the interrupted multipart upload; starting over');
      await (rec.bucket === ctx.bucket.name ? ctx.bucket : new Bucket(ctx.bucket.client, rec.bucket)).abortUpload(t.key, rec.uploadId);
    }
    ctx.journal.end(t.key, rec.uploadId);
  }
  const uploadId = await ctx.bucket.createUpload({ key: t.key, contentType: t.contentType, metadata: t.metadata, signal: ctx.signal });
  ctx.journal.begin({
    key: t.key, uploadId, bucket: ctx.bucket.name, partSize, size: t.size, mtimeNs: s0.mtimeNs, ctimeNs: s0.ctimeNs, ino: s0.ino, startedAt: Date.now(),
  });
  return { uploadId, done: new Map(), resumedBytes: 0 };
}

/** Why the recorded upload cannot be resumed for this file, or undefined when it can. */
export function unfit(rec: Omit<UploadRow, 'parts' | 'touchedAt'>, s0: FileVersion, t: Pick<PutTarget, 'size'>, partSize: number, bucket: string, now: number): string | undefined {
  if (rec.bucket !== bucket) return `it went to bucket ${rec.bucket}`;
  if (!sameVersion(s0, { size: rec.size, mtimeNs: rec.mtimeNs, ctimeNs: rec.ctimeNs, ino: rec.ino }) || t.size !== rec.size) return 'the file changed since it began';
  if (rec.partSize !== partSize) return `it used ${rec.partSize}-byte parts, now ${partSize}`;
  if (now - rec.startedAt > RESUME_MAX_AGE_MS) return 'it began more than 5 days ago';
  return undefined;
}

/**
 * The parts the server holds that are ours: a recorded part whose ETag the server shows; a part it holds that was
 * never recorded (the interruption lost its answer) when its ETag is the MD5 of our bytes for it. Undefined when
 * the server no longer knows the upload.
 */
async function resume(handle: fs.promises.FileHandle, s0: FileVersion, rec: UploadRow, t: PutTarget, partSize: number, ctx: TransferContext): Promise<OpenUpload | undefined> {
  const listed = await ctx.bucket.listParts(t.key, rec.uploadId, ctx.signal);
  if (!listed) return undefined;
  ctx.journal.touch(t.key, rec.uploadId);
  const done = new Map<number, DonePart>();
  let bytes = 0;
  let rehashed = 0;
  for (const p of listed) {
    const start = (p.partNumber - 1) * partSize;
    const length = Math.min(partSize, t.size - start);
    if (p.partNumber < 1 || length <= 0 || p.size !== length) continue; // re-sent under its number
    const mine = rec.parts.get(p.partNumber);
    let md5: Buffer | undefined;
    if (mine && mine.size === length && (mine.etag === p.etag || (!mine.etag && mine.md5 === p.etag))) md5 = Buffer.from(mine.md5, 'hex');
    else if (MD5_HEX.test(p.etag)) {
      const h = await hashRange(handle, start, length, ctx.signal);
      if (h.bytes === length && h.md5.toString('hex') === p.etag) {
        md5 = h.md5;
        rehashed++;
        ctx.journal.part(t.key, rec.uploadId, p.partNumber, { size: length, md5: p.etag, etag: p.etag });
      }
    }
    if (!md5) continue;
    done.set(p.partNumber, { md5, etag: p.etag || md5.toString('hex') });
    bytes += length;
  }
  if (rehashed) await expectSameHandle(handle, s0);
  ctx.log.info({ key: t.key, uploadId: rec.uploadId, parts: done.size, bytes, rehashed }, 'resuming an interrupted multipart upload');
  return { uploadId: rec.uploadId, done, resumedBytes: bytes };
}
