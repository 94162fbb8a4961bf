// Presigned GET and PUT URLs for one object, signed locally with the shared client (no request is sent).
// The client must have the WHEN_REQUIRED checksum settings: R2 refuses presigned URLs with checksum parameters.
// Must not: send a request (signing is local); import local/, state/ or anything above remote/.

import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** Shortest and longest validity of a presigned URL that R2 (and SigV4) accept, in seconds. */
export const PRESIGN_MIN_SECONDS = 1;
export const PRESIGN_MAX_SECONDS = 604_800;

/** What to sign. */
export interface PresignRequest {
  readonly bucket: string;
  readonly key: string;
  readonly method: 'GET' | 'PUT';
  /** Validity in whole seconds, PRESIGN_MIN_SECONDS..PRESIGN_MAX_SECONDS. */
  readonly expiresIn: number;
  /** PUT only: the Content-Type the upload must carry (signed, so another type gets 403). */
  readonly contentType?: string | undefined;
  /** Signing time (default now); the URL is valid from it for expiresIn seconds. */
  readonly now?: Date | undefined;
}

/** A signed URL and the moment it stops working. */
export interface Presigned {
  readonly url: string;
  readonly expiresAt: Date;
}

/** Query parameters of a URL that carry a checksum (R2 rejects presigned URLs with any of them). */
export function checksumParams(url: string): string[] {
  return [...new URL(url).searchParams.keys()].filter((k) => /^x-amz-(sdk-)?checksum-|^x-amz-sdk-checksum-algorithm$/i.test(k));
}

/** Sign a GET or PUT URL for one object. Throws RangeError for an expiry out of range. */
export async function presign(client: S3Client, req: PresignRequest): Promise<Presigned> {
  if (!Number.isInteger(req.expiresIn) || req.expiresIn < PRESIGN_MIN_SECONDS || req.expiresIn > PRESIGN_MAX_SECONDS) {
    throw new RangeError(`expiry must be ${PRESIGN_MIN_SECONDS}..${PRESIGN_MAX_SECONDS} whole seconds (got ${req.expiresIn})`);
  }
  // Loaded here, not at start-up: only this command needs it.
  const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
  // X-Amz-Date has whole seconds: sign at a whole second so expiresAt is exactly when the server stops accepting.
  const now = new Date(Math.floor((req.now ?? new Date()).getTime() / 1000) * 1000);
  const command = req.method === 'GET'
    ? new GetObjectCommand({ Bucket: req.bucket, Key: req.key })
    : new PutObjectCommand({ Bucket: req.bucket, Key: req.key, ContentType: req.contentType });
  const url = await getSignedUrl(client, command, {
    expiresIn: req.expiresIn, signingDate: now,
    // getSignedUrl leaves Content-Type unsigned unless told; signed, an upload with another type gets 403.
    ...(req.method === 'PUT' && req.contentType !== undefined ? { signableHeaders: new Set(['content-type']) } : {}),
  });
  const bad = checksumParams(url);
  if (bad.length > 0) throw new Error(`the presigned URL carries checksum parameters (${bad.join(', ')}), which R2 rejects: the client must use requestChecksumCalculation WHEN_REQUIRED`);
  return { url, expiresAt: new Date(now.getTime() + req.expiresIn * 1000) };
}
