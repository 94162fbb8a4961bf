// Reading objects back for `r2mirror restore`: a streamed GetObject pinned to the ETag that was listed, and the
// modification time r2mirror stored with the object.
// Must not: write anything, know of disks or the state DB, or import from local/, state/ or above remote/.

import type { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { IntegrityError, ObjectChangedError, isPreconditionFailed } from '../errors.js';
import { mtimeFromMetadata, normalizeEtag } from '../keys.js';
import type { Bucket } from './bucket.js';

/** An object's body as a stream, with what the response said about it. */
export interface ObjectStream {
  readonly body: Readable;
  /** Content-Length of the response. */
  readonly size: number;
  /** The ETag of the response, normalised (see normalizeEtag). */
  readonly etag: string;
  /** The file's modification time in ns since the epoch: user metadata `mtime`, else LastModified. */
  readonly mtimeNs: bigint | undefined;
}

/**
 * GetObject `key`, streamed. With `etag`, the request carries If-Match, so an object replaced since it was
 * listed is refused by the server (ObjectChangedError) instead of being read half old, half new.
 * The caller must consume or destroy `body`.
 */
export async function openObject(bucket: Bucket, key: string, opts: { etag?: string | undefined; signal?: AbortSignal | undefined } = {}): Promise<ObjectStream> {
  let res;
  try {
    res = await bucket.client.send(new GetObjectCommand({
      Bucket: bucket.name, Key: key, IfMatch: opts.etag ? `"${opts.etag}"` : undefined,
    }), { abortSignal: opts.signal });
  } catch (err) {
    if (isPreconditionFailed(err)) {
      throw new ObjectChangedError(`the object was replaced in the bucket after it was listed (its ETag is no longer ${opts.etag}); run restore again`);
    }
    throw err;
  }
  if (!res.Body) throw new IntegrityError('the server answered GetObject without a body');
  return {
    body: res.Body as Readable,
    size: res.ContentLength ?? 0,
    etag: normalizeEtag(res.ETag),
    mtimeNs: mtimeFromMetadata(res.Metadata?.mtime) ?? (res.LastModified ? BigInt(res.LastModified.getTime()) * 1_000_000n : undefined),
  };
}

