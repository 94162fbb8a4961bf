// The S3/R2 port: one configured S3Client, an operation counter by R2 billing class, and the few calls the
// engine needs (list, put, multipart, head, copy, delete, abort stale uploads), paced to R2's per-key write rule.
// Must not: import local/, state/ or anything above remote/; read SDK error shapes (errors.ts does); log.

import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand, DeleteObjectsCommand,
  HeadBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand, PutObjectCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { deleteErrorReason, isNoSuchUpload, isNotFound } from '../errors.js';
import { normalizeEtag } from '../keys.js';
import type { Throttle } from './throttle.js';

/** One object as a listing shows it. */
export interface RemoteObject {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  /** ms since the epoch, as the listing says (a trash object's: when it was moved there). */
  readonly lastModified?: number | undefined;
}

/** R2 billing classes. Class A: writes and lists; Class B: reads; free: deletes and aborts. */
export type OpClass = 'A' | 'B' | 'free';

const CLASS_B = new Set(['HeadObjectCommand', 'GetObjectCommand', 'HeadBucketCommand', 'GetBucketCorsCommand', 'GetBucketLocationCommand', 'GetBucketLifecycleConfigurationCommand']);
const FREE = new Set(['DeleteObjectCommand', 'DeleteObjectsCommand', 'DeleteBucketCommand', 'AbortMultipartUploadCommand', 'DeleteBucketCorsCommand']);

/** The R2 billing class of an SDK command name (`PutObjectCommand` -> 'A'). */
export function opClass(commandName: string): OpClass {
  if (FREE.has(commandName)) return 'free';
  if (CLASS_B.has(commandName)) return 'B';
  return 'A';
}

/** Counts every HTTP request the client sends (each retry too), by operation and class. */
export class OpCounter {
  readonly byOp = new Map<string, number>();
  classA = 0;
  classB = 0;
  free = 0;
  /** Requests by the name `attribute` gave them (the engine: folder names, from bucket + key). */
  readonly byOwner = new Map<string, { classA: number; classB: number; free: number }>();
  /** Names the owner of a request from its bucket and key (or listing prefix); unset: no per-owner counts. */
  attribute: ((bucket: string, key: string) => string | undefined) | undefined;

  /** Count one request of the given SDK command (`bucket`/`key` from its input, when it has them). */
  add(commandName: string, bucket?: string, key?: string): void {
    const op = commandName.replace(/Command$/, '');
    this.byOp.set(op, (this.byOp.get(op) ?? 0) + 1);
    const c = opClass(commandName);
    const field = c === 'A' ? 'classA' : c === 'B' ? 'classB' : 'free';
    this[field]++;
    const owner = bucket !== undefined && this.attribute ? this.attribute(bucket, key ?? '') : undefined;
    if (owner !== undefined) {
      const o = this.byOwner.get(owner) ?? { classA: 0, classB: 0, free: 0 };
      o[field]++;
      this.byOwner.set(owner, o);
    }
  }

  /** Take (and reset) the per-owner counts accumulated since the last call, to persist them. */
  takeOwnerCounts(): Map<string, { classA: number; classB: number; free: number }> {
    const out = new Map(this.byOwner);
    this.byOwner.clear();
    return out;
  }

  /** A plain snapshot for summaries and JSON. */
  snapshot(): OpCounts {
    return { classA: this.classA, classB: this.classB, free: this.free, byOp: Object.fromEntries([...this.byOp].sort()) };
  }
}

/** Operation counts as reported in summaries. */
export interface OpCounts {
  classA: number;
  classB: number;
  free: number;
  byOp: Record<string, number>;
}

/** Settings for {@link createClient}. */
export interface ClientOptions {
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
  readonly requestTimeoutMs: number;
  /** Concurrent sockets; at least transfers x part queue. */
  readonly maxSockets: number;
  /** SDK attempts per request (its own retry with backoff for throttling, 5xx and resets). */
  readonly maxAttempts?: number;
  /** The bandwidth limit for request bodies and GetObject bodies; absent: none (nothing in the way). */
  readonly throttle?: Throttle | undefined;
  /** With a throttle: the request timeout is extended by the time this many bytes take at its smallest rate. */
  readonly throttleExtraMs?: number | undefined;
}

/**
 * Every attempt's request body goes out paced, and a GetObject body is read paced: in the deserialize step, which
 * runs once per attempt, so a retry paces its bytes again and the SDK keeps its Buffer to retry with.
 */
function paceRequests(client: S3Client, throttle: Throttle): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const req = args.request as { body?: unknown };
      const body = req?.body === undefined ? undefined : throttle.body(req.body);
      const request = body === undefined || body === req.body ? args.request : Object.assign(Object.create(Object.getPrototypeOf(req) as object) as object, req, { body });
      try {
        const out = await next({ ...args, request });
        const res = out.response as { body?: unknown };
        if (context.commandName === 'GetObjectCommand' && res?.body !== undefined) res.body = throttle.response(res.body);
        return out;
      } finally {
        // An attempt that ended early (timeout, reset, an answer before 100-continue) leaves its paced body
        // unread: destroyed, it reserves no more bandwidth and holds no timer.
        if (body !== req.body) (body as Readable).destroy();
      }
    },
    { step: 'deserialize', name: 'r2mirrorThrottle', priority: 'low' },
  );
}

/** Build the one S3Client of a process, configured for R2, with the operation counter attached. */
export function createClient(opts: ClientOptions): { client: S3Client; ops: OpCounter } {
  const client = new S3Client({
    region: 'auto',
    endpoint: opts.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey, ...(opts.sessionToken ? { sessionToken: opts.sessionToken } : {}) },
    // SDK defaults send streamed bodies aws-chunked with a trailing CRC32, which R2-compatible servers reject
    // (RGW 411, Swift 501) and which breaks presigned PUT URLs: checksums only where an API requires one.
    // Integrity comes from Content-MD5 on single PUTs and the multipart ETag rule, checked after upload.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: opts.maxAttempts ?? 3,
    requestHandler: {
      requestTimeout: opts.requestTimeoutMs + (opts.throttle ? opts.throttleExtraMs ?? 0 : 0),
      // Without this the SDK only logs a warning when requestTimeout passes and waits forever on a silent server.
      throwOnRequestTimeout: true,
      connectionTimeout: Math.min(opts.requestTimeoutMs, 10_000),
      httpAgent: { keepAlive: true, maxSockets: opts.maxSockets },
      httpsAgent: { keepAlive: true, maxSockets: opts.maxSockets },
    },
  });
  if (opts.throttle) paceRequests(client, opts.throttle);
  const ops = new OpCounter();
  // The deserialize step runs once per attempt (inside the retry loop), so retries are counted as R2 bills them.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = (args as { input?: { Bucket?: string; Key?: string; Prefix?: string; Delete?: { Objects?: { Key?: string }[] } } }).input;
      ops.add(context.commandName ?? 'Unknown', input?.Bucket, input?.Key ?? input?.Prefix ?? input?.Delete?.Objects?.[0]?.Key);
      (context as AttemptContext).r2mirrorAttempts = ((context as AttemptContext).r2mirrorAttempts ?? 0) + 1;
      return next(args);
    },
    { step: 'deserialize', name: 'r2mirrorOpCounter', priority: 'low' },
  );
  // A CreateMultipartUpload sent more than once may have created an upload whose answer was lost (connection
  // reset after the server acted), and a failed AbortMultipartUpload leaves its upload open: remember the key,
  // so Bucket.settle() aborts what is left under it (once, after that upload is done).
  const doubtful = new Set<string>();
  uploadsInDoubt.set(client, doubtful);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName;
      if (name !== 'CreateMultipartUploadCommand' && name !== 'AbortMultipartUploadCommand') return next(args);
      const input = args.input as { Bucket?: string; Key?: string };
      const mark = () => doubtful.add(`${input.Bucket}/${input.Key}`);
      try {
        const out = await next(args);
        if (name === 'CreateMultipartUploadCommand' && ((context as AttemptContext).r2mirrorAttempts ?? 0) > 1) mark();
        return out;
      } catch (err) {
        if (!isNoSuchUpload(err)) mark(); // an abort that finds nothing is done
        throw err;
      }
    },
    { step: 'initialize', name: 'r2mirrorUploadsInDoubt' },
  );
  return { client, ops };
}

interface AttemptContext {
  r2mirrorAttempts?: number;
}

/** Per client: "bucket/key" of multipart uploads that may have left another upload of the key open. */
const uploadsInDoubt = new WeakMap<S3Client, Set<string>>();

/** Parameters of a single-request upload. */
export interface PutParams {
  readonly key: string;
  /** The content: a buffer, or a stream of exactly `length` bytes. */
  readonly body: Buffer | Readable;
  readonly length: number;
  /** Raw MD5 digest of body: sent as Content-MD5 so the server rejects a corrupted or changed body. */
  readonly md5: Buffer;
  readonly contentType: string;
  readonly metadata: Record<string, string>;
  readonly signal?: AbortSignal | undefined;
}

/** Parameters of a multipart upload whose parts the caller sends one by one (see {@link Bucket.createUpload}). */
export interface PartwiseParams {
  readonly key: string;
  readonly contentType: string;
  readonly metadata: Record<string, string>;
  readonly signal?: AbortSignal | undefined;
}

/** One part for {@link Bucket.uploadPart}: numbered from 1, all but the last of one size (R2's rule). */
export interface PartParams {
  readonly partNumber: number;
  /** The content: a buffer, or a stream of exactly `length` bytes. */
  readonly body: Buffer | Readable;
  readonly length: number;
  /** Raw MD5 digest of the part: sent as Content-MD5 so the server rejects a changed body. */
  readonly md5: Buffer;
  readonly signal?: AbortSignal | undefined;
}

/** One part of an open multipart upload, as ListParts shows it. */
export interface UploadedPart {
  readonly partNumber: number;
  readonly size: number;
  readonly etag: string;
}

/**
 * R2 accepts at most one write per second to the same key (429, error 10058 otherwise), measured where the
 * requests arrive: 10% margin for the jitter between our clock and their arrival.
 */
const KEY_WRITE_INTERVAL_MS = 1100;

/** Keeps R2's one-write-per-second-per-key rule: remembers when each key was last written. */
class KeyPacer {
  /** key -> time of our last write to it. */
  private readonly lastWrite = new Map<string, number>();

  /** Wait until a write to `key` is allowed, then note it (a retry after a changed file is the usual case). */
  async pace(key: string, signal?: AbortSignal): Promise<void> {
    const last = this.lastWrite.get(key);
    const wait = last === undefined ? 0 : last + KEY_WRITE_INTERVAL_MS - Date.now();
    if (wait > 0) await sleep(wait, undefined, { signal });
    this.lastWrite.set(key, Date.now());
    if (this.lastWrite.size > 10_000) {
      const old = Date.now() - KEY_WRITE_INTERVAL_MS;
      for (const [k, t] of this.lastWrite) if (t < old) this.lastWrite.delete(k);
    }
  }
}

/** One bucket reached through the shared client. */
export class Bucket {
  /** Every write goes through it first (R2: one write per second per key). */
  private readonly pacer = new KeyPacer();

  constructor(readonly client: S3Client, readonly name: string) {}


  /** HeadBucket: throws NoSuchBucket / 403 when the bucket is missing or the credentials are wrong. */
  async check(signal?: AbortSignal): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.name }), { abortSignal: signal });
  }

  /**
   * Objects under `prefix`, page by page (1,000 keys a page). With `startAfter` / `endAt` only keys in
   * (startAfter, endAt] in UTF-8 byte order (the order S3 lists in), so a caller can list ranges in parallel.
   */
  async *list(prefix: string, signal?: AbortSignal, range: { startAfter?: string; endAt?: string } = {}): AsyncGenerator<RemoteObject[]> {
    let token: string | undefined;
    const end = range.endAt === undefined ? undefined : Buffer.from(range.endAt, 'utf8');
    do {
      const res = await this.client.send(new ListObjectsV2Command({
        Bucket: this.name, Prefix: prefix || undefined, ContinuationToken: token, MaxKeys: 1000,
        StartAfter: token ? undefined : range.startAfter,
      }), { abortSignal: signal });
      const page = (res.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size ?? 0, etag: normalizeEtag(o.ETag), lastModified: o.LastModified?.getTime() }));
      const last = page.at(-1);
      if (end && last && Buffer.compare(Buffer.from(last.key, 'utf8'), end) >= 0) {
        yield page.filter((o) => Buffer.compare(Buffer.from(o.key, 'utf8'), end) <= 0);
        return;
      }
      yield page;
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  /** Upload a file in one PutObject with Content-MD5. Returns the ETag the server reported. */
  async put(p: PutParams): Promise<string> {
    await this.pacer.pace(p.key, p.signal);
    const res = await this.client.send(new PutObjectCommand({
      Bucket: this.name, Key: p.key, Body: p.body, ContentLength: p.length, ContentMD5: p.md5.toString('base64'),
      ContentType: p.contentType, Metadata: p.metadata,
    }), { abortSignal: p.signal });
    return normalizeEtag(res.ETag);
  }

  /**
   * CreateMultipartUpload, paced to the per-key write rule; returns the UploadId. The caller records it before
   * it sends a part (so an interrupted upload can be resumed) and ends it with completeUpload() or abortUpload().
   */
  async createUpload(p: PartwiseParams): Promise<string> {
    p.signal?.throwIfAborted();
    await this.pacer.pace(p.key, p.signal);
    const created = await this.client.send(new CreateMultipartUploadCommand({
      Bucket: this.name, Key: p.key, ContentType: p.contentType, Metadata: p.metadata,
    }), { abortSignal: p.signal });
    if (!created.UploadId) throw new Error(`CreateMultipartUpload for ${p.key} returned no UploadId`);
    return created.UploadId;
  }

  /** UploadPart with Content-MD5 (a Buffer body is retried by the SDK, a stream is not). Returns the part's ETag. */
  async uploadPart(key: string, uploadId: string, part: PartParams): Promise<string> {
    const res = await this.client.send(new UploadPartCommand({
      Bucket: this.name, Key: key, UploadId: uploadId, PartNumber: part.partNumber, Body: part.body,
      ContentLength: part.length, ContentMD5: part.md5.toString('base64'),
    }), { abortSignal: part.signal });
    return normalizeEtag(res.ETag);
  }

  /** The parts the server holds for an open upload (ListParts, every page); undefined when it knows no such upload. */
  async listParts(key: string, uploadId: string, signal?: AbortSignal): Promise<UploadedPart[] | undefined> {
    const out: UploadedPart[] = [];
    let marker: string | undefined;
    try {
      do {
        const res = await this.client.send(new ListPartsCommand({ Bucket: this.name, Key: key, UploadId: uploadId, PartNumberMarker: marker }), { abortSignal: signal });
        for (const part of res.Parts ?? []) out.push({ partNumber: part.PartNumber ?? 0, size: part.Size ?? 0, etag: normalizeEtag(part.ETag) });
        marker = res.IsTruncated ? res.NextPartNumberMarker : undefined;
      } while (marker);
    } catch (err) {
      if (isNoSuchUpload(err) || isNotFound(err)) return undefined;
      throw err;
    }
    return out;
  }

  /** CompleteMultipartUpload with these parts (in any order). Returns its ETag (some servers leave it empty). */
  async completeUpload(key: string, uploadId: string, parts: readonly { partNumber: number; etag: string }[], signal?: AbortSignal): Promise<string> {
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber).map((q) => ({ PartNumber: q.partNumber, ETag: `"${q.etag}"` }));
    const res = await this.client.send(new CompleteMultipartUploadCommand({
      Bucket: this.name, Key: key, UploadId: uploadId, MultipartUpload: { Parts: sorted },
    }), { abortSignal: signal });
    return normalizeEtag(res.ETag);
  }

  /**
   * AbortMultipartUpload (free), within 10 s and not under any stop signal: a stop must still close an upload it
   * gives up. True when the upload is gone (an upload the server no longer knows is too); a failed abort puts the
   * key in doubt, for settle().
   */
  async abortUpload(key: string, uploadId: string): Promise<boolean> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: key, UploadId: uploadId }), { abortSignal: AbortSignal.timeout(10_000) });
      return true;
    } catch (err) {
      return isNoSuchUpload(err) || isNotFound(err);
    }
  }

  /**
   * After a multipart upload of `key`: one LIST, only after a retried create or a failed abort, to abort what
   * they may have left open (but never `keep`, the upload still to be resumed); tried three times (each call
   * with the SDK's own retries), then left to the sweep after an unfinished run.
   */
  async settle(key: string, signal?: AbortSignal, keep?: string): Promise<void> {
    const doubtful = uploadsInDoubt.get(this.client);
    const id = `${this.name}/${key}`;
    for (let i = 0; i < 3 && doubtful?.has(id) && !signal?.aborted; i++) {
      doubtful.delete(id);
      await this.abortStaleUploads(key, signal, { only: key, keep: (_k, uploadId) => uploadId === keep }).catch(() => doubtful.add(id));
    }
  }

  /** HeadObject; undefined when there is no such key. */
  async head(key: string, signal?: AbortSignal): Promise<RemoteObject | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }), { abortSignal: signal });
      return { key, size: res.ContentLength ?? 0, etag: normalizeEtag(res.ETag) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Server-side copy within the bucket (renames, trash). Returns the new object's ETag (may be empty). */
  async copy(from: string, to: string, signal?: AbortSignal): Promise<string> {
    await this.pacer.pace(to, signal);
    const res = await this.client.send(new CopyObjectCommand({
      Bucket: this.name, Key: to, CopySource: `${this.name}/${from.split('/').map(encodeURIComponent).join('/')}`,
      MetadataDirective: 'COPY',
    }), { abortSignal: signal });
    return normalizeEtag(res.CopyObjectResult?.ETag);
  }

  /** Delete up to 1,000 keys in one request. Returns the keys that failed, with the server's reason. */
  async deleteMany(keys: readonly string[], signal?: AbortSignal): Promise<{ key: string; reason: string }[]> {
    if (keys.length === 0) return [];
    const res = await this.client.send(new DeleteObjectsCommand({
      Bucket: this.name, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
    }), { abortSignal: signal });
    return (res.Errors ?? []).map((e) => ({ key: e.Key ?? '', reason: deleteErrorReason(e) }));
  }

  /**
   * Abort every unfinished multipart upload under `prefix` (left by a crash), or only those of the key `only`,
   * except those `keep` says are to be resumed. Returns how many were aborted.
   */
  async abortStaleUploads(prefix: string, signal?: AbortSignal, opts: { only?: string; keep?: (key: string, uploadId: string) => boolean } = {}): Promise<number> {
    let n = 0;
    let failure: unknown;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const res = await this.client.send(new ListMultipartUploadsCommand({
        Bucket: this.name, Prefix: prefix || undefined, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker,
      }), { abortSignal: signal });
      for (const u of res.Uploads ?? []) {
        if (opts.only !== undefined && u.Key !== opts.only) continue;
        if (opts.keep?.(u.Key!, u.UploadId!)) continue;
        // One failed abort must not leave the others open: go on, and throw the first error at the end.
        try {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: u.Key!, UploadId: u.UploadId! }), { abortSignal: signal });
          n++;
        } catch (err) {
          if (!isNoSuchUpload(err)) failure ??= err;
        }
      }
      keyMarker = res.IsTruncated ? res.NextKeyMarker : undefined;
      uploadIdMarker = res.IsTruncated ? res.NextUploadIdMarker : undefined;
    } while (keyMarker);
    if (failure) throw failure;
    return n;
  }
}
