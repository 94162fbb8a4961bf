// Test S3 endpoint: S3_ENDPOINT from the environment (real R2 or any S3 server), else a local Ceph RGW started
// by test/server/start-rgw.sh; plus client/bucket helpers. Test-only: src/ must never import this.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';

/** Where and how to reach the S3 server the integration tests use. */
export interface S3Env {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** True when this call started the local server; false for S3_ENDPOINT or an RGW that was already up. */
  started: boolean;
}

const SCRIPT = fileURLToPath(new URL('../server/start-rgw.sh', import.meta.url));

function runScript(cmd: 'start' | 'stop'): Promise<string> {
  return new Promise((resolve, reject) => {
    // stderr is passed through by hand so progress lines show up; stdout carries the S3_* lines.
    const child = execFile('bash', [SCRIPT, cmd], { maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) reject(new Error(`start-rgw.sh ${cmd} failed (exit ${err.code ?? '?'}); see the messages above`));
      else resolve(stdout);
    });
    child.stderr?.pipe(process.stderr);
  });
}

/** Returns the S3 endpoint to test against: S3_ENDPOINT/S3_ACCESS_KEY/S3_SECRET_KEY if set, else a local RGW. */
export async function ensureS3(): Promise<S3Env> {
  const endpoint = process.env.S3_ENDPOINT;
  if (endpoint) {
    const accessKeyId = process.env.S3_ACCESS_KEY;
    const secretAccessKey = process.env.S3_SECRET_KEY;
    if (!accessKeyId || !secretAccessKey) {
      throw new Error('S3_ENDPOINT is set but S3_ACCESS_KEY / S3_SECRET_KEY are not');
    }
    return { endpoint, accessKeyId, secretAccessKey, region: process.env.S3_REGION || 'auto', started: false };
  }
  const out = await runScript('start');
  const vars = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^(S3_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) vars.set(m[1]!, m[2]!);
  }
  const ep = vars.get('S3_ENDPOINT');
  const ak = vars.get('S3_ACCESS_KEY');
  const sk = vars.get('S3_SECRET_KEY');
  if (!ep || !ak || !sk) throw new Error(`start-rgw.sh start printed no S3_* lines:\n${out}`);
  return {
    endpoint: ep,
    accessKeyId: ak,
    secretAccessKey: sk,
    region: vars.get('S3_REGION') || 'auto',
    started: vars.get('S3_STARTED') !== '0',
  };
}

/** Stops the local RGW that start-rgw.sh started (a no-op when none is running). */
export async function stopS3(): Promise<void> {
  await runScript('stop');
}

/** An S3Client with the settings r2mirror uses for R2: path-style, checksums only when required. */
export function makeClient(env: S3Env, opts?: { endpoint?: string; maxAttempts?: number }): S3Client {
  return new S3Client({
    endpoint: opts?.endpoint ?? env.endpoint,
    ...(opts?.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
    region: env.region,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Creates a bucket with a unique name `r2m-<hint>-<random>` and returns the name. */
export async function createTestBucket(client: S3Client, nameHint: string): Promise<string> {
  const hint = nameHint.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'test';
  const bucket = `r2m-${hint}-${randomBytes(5).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** Deletes every object and open multipart upload in the bucket, then the bucket itself. */
export async function emptyAndDeleteBucket(client: S3Client, bucket: string): Promise<void> {
  const keys = [...(await listAll(client, bucket)).keys()];
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
    const res = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch, Quiet: true } }));
    if (res.Errors?.length) {
      throw new Error(`DeleteObjects in ${bucket}: ${res.Errors.map((e) => `${e.Key}: ${e.Code}`).join(', ')}`);
    }
  }
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const res = await client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
    );
    for (const u of res.Uploads ?? []) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
    }
    if (!res.IsTruncated) break;
    keyMarker = res.NextKeyMarker;
    uploadIdMarker = res.NextUploadIdMarker;
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/** Lists every object under the prefix: key -> size and ETag (without quotes). */
export async function listAll(
  client: S3Client,
  bucket: string,
  prefix?: string,
): Promise<Map<string, { size: number; etag: string }>> {
  const out = new Map<string, { size: number; etag: string }>();
  let token: string | undefined;
  do {
    const res = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of res.Contents ?? []) {
      if (o.Key === undefined) continue;
      out.set(o.Key, { size: o.Size ?? 0, etag: (o.ETag ?? '').replace(/"/g, '') });
    }
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return out;
}
