// Read-only probes for `r2mirror doctor`: can the credentials see a bucket and list its prefix, and what time does the
// server say it is (its Date response header). Sends HeadBucket and ListObjectsV2 only; never writes.
// Must not: send a request that writes; import local/, state/ or anything above remote/.

import { HeadBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { isAbortError, responseHeaders } from '../errors.js';

/** One reading of the server's clock: its Date header and our clock when the response arrived (ms since epoch). */
export interface ClockSample {
  readonly serverMs: number;
  readonly localMs: number;
}

/**
 * Record the Date header of every response (errors too) the client receives. Returns the list it fills; the
 * newest sample is last.
 */
export function watchServerClock(client: S3Client): ClockSample[] {
  const samples: ClockSample[] = [];
  const note = (headers: Record<string, string | undefined> | undefined) => {
    const date = headers?.date ?? headers?.Date;
    const serverMs = date ? Date.parse(date) : NaN;
    if (Number.isFinite(serverMs)) samples.push({ serverMs, localMs: Date.now() });
  };
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        const out = await next(args);
        note((out.response as { headers?: Record<string, string> } | undefined)?.headers);
        return out;
      } catch (err) {
        note(responseHeaders(err));
        throw err;
      }
    },
    { step: 'deserialize', name: 'r2mirrorServerClock', priority: 'low' },
  );
  return samples;
}

/** What a bucket probe found. */
export interface BucketProbe {
  /** True when the prefix holds no object yet. */
  readonly empty: boolean;
}

/**
 * HeadBucket, then ListObjectsV2 of one key under `prefix`. When HeadBucket fails the listing is still tried,
 * because a HEAD answer has no body and a listing's error code says more (SignatureDoesNotMatch, NoSuchBucket).
 */
export async function probeBucket(client: S3Client, bucket: string, prefix: string, signal?: AbortSignal): Promise<BucketProbe> {
  let headError: unknown;
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    headError = err;
  }
  let res;
  try {
    res = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, MaxKeys: 1 }), { abortSignal: signal });
  } catch (err) {
    throw headError !== undefined && isAbortError(err) ? headError : err;
  }
  if (headError !== undefined) throw headError;
  return { empty: (res.KeyCount ?? res.Contents?.length ?? 0) === 0 };
}
