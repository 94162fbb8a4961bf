// Benchmark baseline (scenario C): upload one file with a plain lib-storage `Upload` and SDK defaults
// (5 MiB parts, queueSize 4), using the client settings R2 needs. Prints {"ms":..,"etag":..} on stdout.
// Reads BENCH_ENDPOINT, BENCH_BUCKET, BENCH_KEY, BENCH_FILE, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY. Bench-only.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`plain-upload: ${name} is not set\n`);
    process.exit(2);
  }
  return v;
};

const client = new S3Client({
  endpoint: need('BENCH_ENDPOINT'),
  region: 'auto',
  forcePathStyle: true,
  credentials: { accessKeyId: need('R2_ACCESS_KEY_ID'), secretAccessKey: need('R2_SECRET_ACCESS_KEY') },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});

const file = need('BENCH_FILE');
const t0 = performance.now();
const upload = new Upload({
  client,
  params: { Bucket: need('BENCH_BUCKET'), Key: need('BENCH_KEY'), Body: fs.createReadStream(file) },
});
const res = await upload.done();
const ms = performance.now() - t0;
client.destroy();
process.stdout.write(JSON.stringify({ ms, etag: res.ETag ?? '' }) + '\n');
