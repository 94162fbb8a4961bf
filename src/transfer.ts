// Performs one file action (upload / adopt-check / rename-copy) with per-file retry and jittered backoff.
// Returns the row to record; NEVER writes the DB. A result exists only if the server confirmed the object
// and a re-stat shows the file did not change while it was read.

import type fs from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileChangedError, IntegrityError, classify, describeError } from './errors.js';
import { candidatePartSizes, choosePartSize, etagParts, mtimeToMetadata } from './keys.js';
import { EtagStream, hashFile, hashRange, multipartEtag, readWithMd5 } from './local/hash.js';
import { notRegularReason, openScanned, rangeStream } from './local/open.js';
import { sameVersion, statFile, versionOf, type FileVersion } from './local/scan.js';
import type { Logger } from './log.js';
import type { Action, Against } from './plan.js';
import type { Bucket } from './remote/bucket.js';
import { backoff } from './retry.js';
import type { ObjectRow } from './state/store.js';

/** A byte budget shared by all transfers: upload buffers never exceed it (one oversized holder at a time). */
export class ByteBudget {
  private used = 0;
  private readonly waiters: { n: number; resolve: () => void }[] = [];
  constructor(readonly total: number) {}

  /** Wait until `n` bytes (capped at the total) are free; returns the release function. */
  async acquire(n: number, signal?: AbortSignal): Promise<() => void> {
    const want = Math.min(n, this.total);
    if (this.used + want > this.total || this.waiters.length > 0) {
      await new Promise<void>((resolve, reject) => {
        const w = { n: want, resolve };
        this.waiters.push(w);
        signal?.addEventListener('abort', () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
        }, { once: true });
      });
    } else this.used += want;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= want;
      while (this.waiters.length > 0 && this.used + this.waiters[0]!.n <= this.total) {
        const w = this.waiters.shift()!;
        this.used += w.n;
        w.resolve();
      }
    };
  }
}

/** Files up to this size are read into one buffer and sent with one PutObject. */
const BUFFERED_PUT_MAX = 1024 * 1024;
const STREAM_CHUNK = 1024 * 1024;
/**
 * What a multipart upload sent part by part from disk holds from the budget: a hash buffer and the stream's
 * chunks in flight, whatever the part size.
 */
const STREAMED_PART_CHARGE = 4 * STREAM_CHUNK;
// (Streamed chunks become garbage as they are sent; V8 collects them in batches of about 32 MiB, whatever the
// part size: measured in test/integration/io.test.ts.)
/**
 * Retries of one part streamed from disk after a transient error (the SDK retries only buffered bodies), so a
 * reset near the end of a 1 TiB file does not start it over. Like the SDK's 3 attempts for lib-storage parts.
 */
const PART_RETRIES = 2;

// Loaded on the first upload, not at start-up: a no-change sync never needs it.
let mimeModule: Promise<typeof import('mime-types')> | undefined;
const mimeTypes = () => (mimeModule ??= import('mime-types').then((m) => m.default ?? m));

/** What a transfer needs to know; built by the folder. */
export interface TransferContext {
  readonly bucket: Bucket;
  readonly root: string;
  readonly followSymlinks: boolean;
  /** Configured multipart part size (files larger than it go multipart). */
  readonly partSize: number;
  readonly budget: ByteBudget;
  readonly retries: number;
  /** Delete the object we just uploaded when its file vanished meanwhile (deletes: mirror). */
  readonly deleteVanished: boolean;
  readonly log: Logger;
  readonly signal?: AbortSignal | undefined;
  /** Bytes read and sent, for progress. */
  readonly onBytes?: ((n: number) => void) | undefined;
  /** Backoff base in ms (tests shorten it). */
  readonly backoffMs?: number | undefined;
}

/** The outcome of one file action. */
export type Outcome =
  | { readonly kind: 'uploaded' | 'adopted' | 'copied'; readonly key: string; readonly rel: string; readonly bytes: number; readonly row: ObjectRow }
  | { readonly kind: 'gone'; readonly key: string; readonly rel: string }
  | { readonly kind: 'failed'; readonly key: string; readonly rel: string; readonly reason: string };

type FileAction = Extract<Action, { type: 'upload' | 'check' | 'copy' }>;


/** Run a file action to completion: retry transient errors, return 'failed' for this-file problems, throw fatal/abort. */
export async function transferFile(action: FileAction, ctx: TransferContext): Promise<Outcome> {
  const rel = action.file.rel;
  const log = ctx.log.child({ key: action.key });
  for (let attempt = 0; ; attempt++) {
    try {
      return await attemptOnce(action, ctx, log, attempt);
    } catch (err) {
      const c = classify(err);
      if (c === 'abort' || ctx.signal?.aborted) throw ctx.signal?.reason ?? err;
      // Deleted between the scan and now (or a parent directory became a file: ENOTDIR): nothing to mirror;
      // the next reconcile plans its delete.
      const code = (err as NodeJS.ErrnoException).code;
      if (err instanceof VanishedError || code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'gone', key: action.key, rel };
      if (c === 'fatal') throw err;
      const reason = describeError(err);
      if (c === 'retry' && attempt < ctx.retries) {
        const delay = backoff(attempt, ctx.backoffMs ?? 500);
        log.warn({ attempt: attempt + 1, delayMs: delay, reason }, 'transfer failed, retrying');
        await sleep(delay, undefined, { signal: ctx.signal });
        continue;
      }
      const final = err instanceof FileChangedError ? `${reason} (still changing after ${attempt + 1} attempts; will retry on the next run)` : reason;
      log.error({ rel, reason: final }, 'transfer failed');
      return { kind: 'failed', key: action.key, rel, reason: final };
    }
  }
}

async function attemptOnce(action: FileAction, ctx: TransferContext, log: Logger, attempt: number): Promise<Outcome> {
  const abs = path.join(ctx.root, ...action.file.rel.split('/'));
  // The first attempt trusts the scan's stat (one syscall less per file): the re-stat after the upload must
  // still match it, so a change in between is caught all the same. Retries stat afresh.
  let s0: FileVersion = action.file;
  if (attempt > 0) {
    const st = await statFile(abs, ctx.followSymlinks);
    if (!st) return { kind: 'gone', key: action.key, rel: action.file.rel };
    if (!st.isFile()) return { kind: 'failed', key: action.key, rel: action.file.rel, reason: notRegularReason(st) };
    s0 = versionOf(st);
  }

  if (action.type === 'check' || action.type === 'copy') {
    const match = await matches(abs, s0, action.against, ctx);
    if (match !== undefined) {
      await confirmUnchanged(abs, s0, ctx);
      if (action.type === 'check') {
        log.debug({ reason: action.reason }, 'matches the object already there; recorded without upload');
        return { kind: 'adopted', key: action.key, rel: action.file.rel, bytes: s0.size, row: rowFor(action, s0, action.against.etag, match) };
      }
      let etag = await ctx.bucket.copy(action.from, action.key, ctx.signal);
      if (!etag) etag = (await ctx.bucket.head(action.key, ctx.signal))?.etag ?? action.against.etag;
      log.debug({ from: action.from }, 'renamed: copied server-side');
      const partSize = etagParts(etag) > 0 ? match : 0;
      return { kind: 'copied', key: action.key, rel: action.file.rel, bytes: s0.size, row: rowFor(action, s0, etag, partSize) };
    }
  }
  return upload(action, abs, s0, ctx, log);
}

/**
 * Dry runs: whether the file of a check/copy action already matches the object it names, so the plan can say
 * "adopt" or "copy" rather than "upload". Reads the file; sends nothing.
 */
export async function matchesExisting(action: Extract<Action, { type: 'check' | 'copy' }>, ctx: Pick<TransferContext, 'root' | 'followSymlinks' | 'partSize' | 'signal'>): Promise<boolean> {
  const abs = path.join(ctx.root, ...action.file.rel.split('/'));
  const st = await statFile(abs, ctx.followSymlinks);
  return !!st && st.isFile() && (await matches(abs, versionOf(st), action.against, ctx)) !== undefined;
}

/** The part size under which the file hashes to `against.etag`, or undefined. */
async function matches(abs: string, s0: FileVersion, against: Against, ctx: Pick<TransferContext, 'followSymlinks' | 'partSize' | 'signal'>): Promise<number | undefined> {
  const size = Number(s0.size);
  if (size !== against.size) return undefined;
  const parts = etagParts(against.etag);
  const sizes = against.partSize !== undefined ? [against.partSize] : parts === 0 ? [0] : candidatePartSizes(size, parts, 6, ctx.partSize);
  if (sizes.length === 0) return undefined;
  const { handle } = await openScanned(abs, s0, ctx.followSymlinks);
  try {
    const { bytes, etags } = await hashFile(handle, sizes, ctx.signal);
    checkRead(bytes, size);
    for (const [p, etag] of etags) if (etag === against.etag) return p;
    return undefined;
  } finally {
    await handle.close();
  }
}

/** The one "file changed while it was read" check: `read` bytes came where the stat promised `expected`. */
function checkRead(read: number, expected: number): void {
  if (read !== expected) throw new FileChangedError(`file changed while it was read (${read} bytes read, ${expected} expected)`);
}

/** Throws FileChangedError when the open file's descriptor no longer has the version `s0` (checked between parts). */
async function checkHandle(handle: fs.promises.FileHandle, s0: FileVersion): Promise<void> {
  if (!sameVersion(s0, versionOf(await handle.stat({ bigint: true })))) throw new FileChangedError('file changed while it was being uploaded');
}

/**
 * Stream `length` bytes from `start` of an open file as the body of one request made by `send`. A file that
 * shrinks while it is sent would leave the request short of its Content-Length, and the server waiting for the
 * missing bytes until a timeout: the bytes are counted and the request cut at once, to be retried as a change.
 */
async function sendRange<T>(handle: fs.promises.FileHandle, start: number, length: number, ctx: TransferContext, send: (body: Readable, signal: AbortSignal) => Promise<T>): Promise<T> {
  const file = rangeStream(handle, start, length, STREAM_CHUNK);
  const cut = new AbortController();
  let read = 0;
  const body = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      read += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      try {
        checkRead(read, length);
      } catch (err) {
        cut.abort(err);
      }
      cb();
    },
  });
  // Errors go through the signal, not as stream 'error' events: the SDK pipes the body without listening for them.
  file.on('error', (e) => {
    cut.abort(e);
    body.destroy();
  });
  file.pipe(body);
  try {
    return await send(body, ctx.signal ? AbortSignal.any([ctx.signal, cut.signal]) : cut.signal);
  } catch (err) {
    if (cut.signal.aborted && !ctx.signal?.aborted) throw cut.signal.reason;
    throw err;
  } finally {
    file.destroy();
    body.destroy();
  }
}

async function upload(action: FileAction, abs: string, s0: FileVersion, ctx: TransferContext, log: Logger): Promise<Outcome> {
  const size = Number(s0.size);
  const contentType = (await mimeTypes()).lookup(action.file.rel) || 'application/octet-stream';
  // rclone's convention: mtime as seconds with a fraction, so other tools restore it.
  const metadata = { mtime: mtimeToMetadata(BigInt(s0.mtimeNs)) };
  let etag: string | undefined;
  let partSize = 0;
  let md5: string | null = null;

  // Every read below goes through this descriptor, checked against the scan (never a FIFO, never blocking).
  const { handle } = await openScanned(abs, s0, ctx.followSymlinks);
  try {
    if (size <= BUFFERED_PUT_MAX) {
      const release = await ctx.budget.acquire(size, ctx.signal);
      try {
        const { body, md5: digest } = await readWithMd5(handle, ctx.signal, size);
        checkRead(body.length, size);
        md5 = digest.toString('hex');
        etag = await ctx.bucket.put({ key: action.key, body, length: size, md5: digest, contentType, metadata, signal: ctx.signal });
      } finally {
        release();
      }
    } else if (size <= ctx.partSize) {
      // Two passes instead of a buffer as large as the file: hash, then stream with Content-MD5. A file that
      // changed between the passes makes the server refuse the body (BadDigest), and the retry starts over.
      // Counted at its full size: measured peak RSS grows by about the body size per streamed PUT in flight
      // (16 transfers of 8 MiB files: +64 MiB over the 200 MiB target), so the budget must bound them.
      const release = await ctx.budget.acquire(size, ctx.signal);
      try {
        const { bytes, md5: digest } = await hashRange(handle, 0, size, ctx.signal);
        checkRead(bytes, size);
        md5 = digest.toString('hex');
        etag = await sendRange(handle, 0, size, ctx, (body, signal) =>
          ctx.bucket.put({ key: action.key, body, length: size, md5: digest, contentType, metadata, signal }));
      } finally {
        release();
      }
    }
    if (md5 !== null) {
      // Content-MD5 made the server check the body; an MD5-shaped ETag must also agree.
      if (/^[0-9a-f]{32}$/.test(etag!) && etag! !== md5) throw new IntegrityError(`server stored ETag ${etag!}, but the file's MD5 is ${md5}`);
      if (!etag!) etag = md5;
      ctx.onBytes?.(size);
    } else {
      partSize = choosePartSize(size, ctx.partSize);
      const queueSize = Math.max(1, Math.min(4, Math.floor(ctx.budget.total / partSize) - 1));
      // lib-storage holds queueSize + 1 whole parts in memory; when they do not fit the budget (parts larger than
      // half of it: a 1 TiB file needs 105 MiB parts), send the parts one by one, streamed from disk.
      const fromDisk = (queueSize + 1) * partSize > ctx.budget.total;
      const release = await ctx.budget.acquire(fromDisk ? STREAMED_PART_CHARGE : (queueSize + 1) * partSize, ctx.signal);
      try {
        const sent = fromDisk
          ? await multipartFromDisk(action.key, handle, s0, size, partSize, contentType, metadata, ctx)
          : await multipartBuffered(action.key, handle, size, partSize, queueSize, contentType, metadata, ctx);
        // Some servers (RGW) return an empty ETag from CompleteMultipartUpload: ask the object itself.
        etag = sent.reported || (await ctx.bucket.head(action.key, ctx.signal))?.etag || '';
        if (etagParts(etag) > 0 && etag !== sent.expected) throw new IntegrityError(`server stored ETag ${etag}, but the uploaded parts give ${sent.expected}`);
        if (!etag) throw new IntegrityError('server reported no ETag for the completed upload');
      } finally {
        release();
      }
    }
  } finally {
    await handle.close();
  }

  try {
    await confirmUnchanged(abs, s0, ctx);
  } catch (err) {
    if (err instanceof VanishedError) {
      if (ctx.deleteVanished) await ctx.bucket.deleteMany([action.key], ctx.signal);
      log.info('file was deleted while it was uploaded; not recorded');
      return { kind: 'gone', key: action.key, rel: action.file.rel };
    }
    throw err;
  }
  return { kind: 'uploaded', key: action.key, rel: action.file.rel, bytes: size, row: { ...rowFor(action, s0, etag!, partSize), md5 } };
}

/** A completed multipart upload: the ETag the server reported (may be empty) and the one the parts give. */
interface MultipartSent {
  readonly reported: string;
  readonly expected: string;
}

/** Multipart through lib-storage: one read of the file, hashed as it flows, `queueSize` whole parts in flight. */
async function multipartBuffered(key: string, handle: fs.promises.FileHandle, size: number, partSize: number, queueSize: number, contentType: string, metadata: Record<string, string>, ctx: TransferContext): Promise<MultipartSent> {
  const hasher = new EtagStream(partSize);
  // Read exactly the bytes the stat saw; growth beyond them is caught by the re-stat after the upload.
  const src = rangeStream(handle, 0, size, STREAM_CHUNK);
  src.on('error', (e) => hasher.destroy(e));
  // A file that shrinks while it is read ends the stream early: fail the body, so lib-storage aborts the upload
  // and the retry sees a change, instead of an SDK part-count error or an object completed from a short read.
  let read = 0;
  src.on('data', (chunk: Buffer | string) => {
    read += chunk.length;
  });
  src.on('end', () => {
    try {
      checkRead(read, size);
      hasher.end();
    } catch (err) {
      hasher.destroy(err as Error);
    }
  });
  src.pipe(hasher, { end: false });
  let sent = 0;
  try {
    const reported = await ctx.bucket.multipart({
      key, body: hasher, size, partSize, queueSize, contentType, metadata, signal: ctx.signal,
      onProgress: (loaded) => {
        ctx.onBytes?.(loaded - sent);
        sent = loaded;
      },
    });
    checkRead(hasher.bytes, size);
    return { reported, expected: hasher.etag() };
  } finally {
    src.destroy();
  }
}

/**
 * Multipart with parts streamed from disk, one at a time: for each part a hash pass over its byte range (its
 * MD5 for Content-MD5 and the ETag), then a send pass of the same range, then an fstat that the file is still
 * the version the scan saw. Memory: a few MiB whatever the part size; the price is reading the file twice.
 */
async function multipartFromDisk(key: string, handle: fs.promises.FileHandle, s0: FileVersion, size: number, partSize: number, contentType: string, metadata: Record<string, string>, ctx: TransferContext): Promise<MultipartSent> {
  const digests: Buffer[] = [];
  const reported = await ctx.bucket.multipartByPart({ key, contentType, metadata, signal: ctx.signal }, async (send) => {
    for (let start = 0, n = 1; start < size; start += partSize, n++) {
      const length = Math.min(partSize, size - start);
      const { bytes, md5 } = await hashRange(handle, start, length, ctx.signal);
      checkRead(bytes, length);
      for (let attempt = 0; ; attempt++) {
        try {
          await sendRange(handle, start, length, ctx, (body, signal) => send({ partNumber: n, body, length, md5, signal }));
          break;
        } catch (err) {
          // A changed file starts over from a fresh stat (transferFile's retry); so does anything but a transient error.
          if (ctx.signal?.aborted || err instanceof FileChangedError || classify(err) !== 'retry' || attempt >= PART_RETRIES) throw err;
          await sleep(backoff(attempt, ctx.backoffMs ?? 500), undefined, { signal: ctx.signal });
        }
      }
      await checkHandle(handle, s0);
      digests.push(md5);
      ctx.onBytes?.(length);
    }
  });
  return { reported, expected: multipartEtag(digests) };
}

class VanishedError extends Error {}

async function confirmUnchanged(abs: string, s0: FileVersion, ctx: TransferContext): Promise<void> {
  const s1 = await statFile(abs, ctx.followSymlinks);
  if (!s1) throw new VanishedError('file vanished');
  if (!s1.isFile() || !sameVersion(s0, versionOf(s1))) throw new FileChangedError('file changed while it was being uploaded');
}

function rowFor(action: FileAction, st: FileVersion, etag: string, partSize: number): ObjectRow {
  return {
    key: action.key, rel: action.file.rel, size: st.size, mtimeNs: st.mtimeNs, ino: st.ino, etag, md5: partSize === 0 && /^[0-9a-f]{32}$/.test(etag) ? etag : null,
    partSize, syncedAt: Date.now(), dev: st.dev ?? null,
  };
}
