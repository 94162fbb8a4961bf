// Integration tests of the R2 layer (test/harness/r2proxy.ts) against the real S3 server from ensureS3().
// Each test makes and removes its own bucket (through the direct client, so the proxy's counts stay clean).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { R2Proxy } from './r2proxy.js';
import type { FaultPlan } from './r2proxy.js';
import { createTestBucket, emptyAndDeleteBucket, ensureS3, listAll, makeClient } from './s3server.js';
import type { S3Env } from './s3server.js';

const MiB = 1024 * 1024;

let env: S3Env;
let direct: S3Client;
let proxy: R2Proxy;

before(async () => {
  env = await ensureS3();
  direct = makeClient(env);
  proxy = await R2Proxy.start({ target: env.endpoint });
});

after(async () => {
  await proxy?.close();
  direct?.destroy();
});

/** A client through the proxy; maxAttempts 1 unless given, so each send is exactly one request. */
function viaProxy(maxAttempts = 1): S3Client {
  return makeClient(env, { endpoint: proxy.endpoint, maxAttempts });
}

/** Runs fn with a fresh bucket and a fresh proxy state, then removes the bucket. */
async function withBucket(hint: string, fn: (bucket: string, client: S3Client) => Promise<void>, maxAttempts = 1) {
  const bucket = await createTestBucket(direct, hint);
  const client = viaProxy(maxAttempts);
  proxy.setFaults(undefined);
  proxy.resetCounts();
  try {
    await fn(bucket, client);
  } finally {
    proxy.setFaults(undefined);
    client.destroy();
    await emptyAndDeleteBucket(direct, bucket);
  }
}

/** The error a promise rejects with (fails the test if it resolves). */
async function failure(p: Promise<unknown>): Promise<{ name?: string; Code?: string; $metadata?: { httpStatusCode?: number; attempts?: number } }> {
  try {
    await p;
  } catch (err) {
    return err as never;
  }
  assert.fail('expected the request to fail');
}

describe('R2Proxy', () => {
  it('counts operations by name and R2 billing class', async () => {
    await withBucket('counts', async (bucket, s3) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a/b.txt', Body: 'hello' }));
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'a/b.txt' }));
      assert.equal(await got.Body?.transformToString(), 'hello');
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'a/b.txt' }));
      const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
      assert.deepEqual(list.Contents?.map((o) => o.Key), ['a/b.txt']);
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'a/b.txt' }));
      const c = proxy.counts();
      assert.deepEqual(c.byOp, { PutObject: 1, GetObject: 1, HeadObject: 1, ListObjectsV2: 1, DeleteObject: 1 });
      assert.deepEqual([c.classA, c.classB, c.free, c.total], [2, 2, 1, 5]);
      assert.ok(proxy.keysSeen().has('a/b.txt'));
    });
  });

  it('passes a lib-storage Upload with equal parts', async () => {
    await withBucket('mpu-ok', async (bucket, s3) => {
      const before = proxy.violations().length;
      const body = Buffer.alloc(11 * MiB, 7);
      await new Upload({ client: s3, params: { Bucket: bucket, Key: 'big.bin', Body: body }, partSize: 5 * MiB, queueSize: 2 }).done();
      assert.equal(proxy.violations().length, before);
      assert.equal(proxy.counts().byOp.UploadPart, 3);
      assert.equal((await listAll(direct, bucket)).get('big.bin')?.size, body.length);
    });
  });

  it('rejects a multipart upload with unequal parts (6 MiB, 5 MiB, 1 KiB) with InvalidPart', async () => {
    await withBucket('mpu-bad', async (bucket, s3) => {
      const before = proxy.violations().length;
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'bad.bin' }));
      const parts = [];
      for (const [i, size] of [6 * MiB, 5 * MiB, 1024].entries()) {
        const r = await s3.send(
          new UploadPartCommand({ Bucket: bucket, Key: 'bad.bin', UploadId, PartNumber: i + 1, Body: Buffer.alloc(size, i) }),
        );
        parts.push({ PartNumber: i + 1, ETag: r.ETag });
      }
      const err = await failure(
        s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'bad.bin', UploadId, MultipartUpload: { Parts: parts } })),
      );
      assert.equal(err.name, 'InvalidPart');
      assert.equal(err.$metadata?.httpStatusCode, 400);
      const v = proxy.violations().slice(before);
      assert.equal(v.length, 1);
      assert.match(v[0]!, /CompleteMultipartUpload .*InvalidPart.*same length/);
      assert.equal((await listAll(direct, bucket)).size, 0);
    });
  });

  it('answers a second write to the same key within a second with 429', async () => {
    await withBucket('rate', async (bucket, s3) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'one' }));
      const err = await failure(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'two' })));
      assert.equal(err.$metadata?.httpStatusCode, 429);
      assert.match(proxy.violations().at(-1) ?? '', /PutObject .*\/k: 429.*Reduce your rate of requests/);
      // another key is not affected
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'other', Body: 'x' }));
    });
  });

  it('rejects keys over 1024 bytes with KeyTooLongError', async () => {
    await withBucket('keylen', async (bucket, s3) => {
      for (const key of ['k'.repeat(1025), 'ü'.repeat(513)]) {
        const err = await failure(s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' })));
        assert.equal(err.name, 'KeyTooLongError');
        assert.equal(err.$metadata?.httpStatusCode, 400);
      }
      assert.equal(proxy.counts().byOp.PutObject, 2);
    });
  });

  it('answers headers R2 does not implement (x-amz-tagging) with 501 NotImplemented', async () => {
    await withBucket('tagging', async (bucket, s3) => {
      const err = await failure(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 't', Body: 'x', Tagging: 'a=b' })));
      assert.equal(err.name, 'NotImplemented');
      assert.equal(err.$metadata?.httpStatusCode, 501);
      assert.match(proxy.violations().at(-1) ?? '', /x-amz-tagging/);
      const meta = await failure(
        s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'm', Body: 'x', Metadata: { big: 'v'.repeat(8200) } })),
      );
      assert.equal(meta.name, 'MetadataTooLarge');
    });
  });

  it('rejects presigned URLs with checksum parameters, accepts clean ones', async () => {
    await withBucket('presign', async (bucket, s3) => {
      const sdkDefaults = new S3Client({
        endpoint: proxy.endpoint,
        region: env.region,
        credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
        forcePathStyle: true,
      });
      const bad = await getSignedUrl(sdkDefaults, new PutObjectCommand({ Bucket: bucket, Key: 'p' }), { expiresIn: 60 });
      sdkDefaults.destroy();
      assert.match(bad, /x-amz-checksum-/i);
      assert.equal((await fetch(bad, { method: 'PUT', body: 'data' })).status, 400);
      assert.match(proxy.violations().at(-1) ?? '', /checksum/);
      const good = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: 'p' }), { expiresIn: 60 });
      assert.equal((await fetch(good, { method: 'PUT', body: 'data' })).status, 200);
    });
  });

  it('injects 503s: the SDK gives up after its attempts, and every attempt is counted', async () => {
    await withBucket('f503', async (bucket) => {
      for (const maxAttempts of [1, 3]) {
        const s3 = viaProxy(maxAttempts);
        proxy.resetCounts();
        proxy.setFaults({ seed: 1, rate: 1, kinds: ['503'] });
        const err = await failure(s3.send(new PutObjectCommand({ Bucket: bucket, Key: `k${maxAttempts}`, Body: 'x' })));
        s3.destroy();
        assert.equal(err.$metadata?.httpStatusCode, 503);
        assert.equal(err.$metadata?.attempts, maxAttempts);
        assert.equal(proxy.counts().byOp.PutObject, maxAttempts);
        assert.equal(proxy.faultsInjected(), maxAttempts);
      }
      assert.equal((await listAll(direct, bucket)).size, 0);
    });
  });

  it('reset-response breaks a GetObject body and a PutObject answer after the server did the work', async () => {
    await withBucket('reset', async (bucket, s3) => {
      const data = Buffer.alloc(256 * 1024, 3);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'g', Body: data }));
      proxy.setFaults({ seed: 7, rate: 1, kinds: ['reset-response'], only: (op) => op.op === 'GetObject' });
      await failure(
        (async () => {
          const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'g' }));
          await r.Body?.transformToByteArray();
        })(),
      );
      assert.equal(proxy.faultsInjected(), 1);

      proxy.setFaults({ seed: 7, rate: 1, kinds: ['reset-response'], only: (op) => op.op === 'PutObject' });
      await failure(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'p', Body: 'stored anyway' })));
      assert.equal((await listAll(direct, bucket)).get('p')?.size, 'stored anyway'.length);
    });
  });

  it('reset-request and slow faults are survived by SDK retries', async () => {
    await withBucket('retry', async (bucket, s3) => {
      proxy.setFaults({ seed: 3, rate: 1, kinds: ['reset-request'], maxFaults: 1 });
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'r', Body: Buffer.alloc(64 * 1024, 1) }));
      assert.equal(proxy.counts().byOp.PutObject, 2);
      assert.equal(proxy.faultsInjected(), 1);

      proxy.setFaults({ seed: 3, rate: 1, kinds: ['slow'], slowMs: 250 });
      const t0 = performance.now();
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'r' }));
      assert.ok(performance.now() - t0 >= 240, 'slow fault delays the response');
    }, 3);
  });

  it('gives the same fault schedule for the same seed', async () => {
    await withBucket('seed', async (bucket, s3) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'x', Body: 'x' }));
      const plan: FaultPlan = { seed: 42, rate: 0.4, kinds: ['500', '503', '429'], only: (op) => op.op === 'HeadObject' };
      const run = async () => {
        proxy.setFaults(plan);
        const outcome: string[] = [];
        for (let i = 0; i < 20; i++) {
          try {
            await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'x' }));
            outcome.push('ok');
          } catch (err) {
            outcome.push(String((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode));
          }
        }
        return { outcome, log: proxy.faultLog().map((f) => `${f.seq}:${f.kind}`) };
      };
      const first = await run();
      const second = await run();
      assert.deepEqual(second.outcome, first.outcome);
      assert.deepEqual(second.log, first.log);
      assert.ok(first.log.length > 0 && first.log.length < 20, `some but not all faulted: ${first.outcome.join(',')}`);
      assert.ok(first.outcome.includes('ok'));
    });
  });
});
