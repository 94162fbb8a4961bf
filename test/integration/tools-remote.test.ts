// The remote tools end to end, with the real CLI against Ceph RGW behind the R2 rules proxy: `presign` (links
// fetched with plain curl), `cors` (round trip, a real preflight, invalid files sending nothing), `buckets`, `ls`.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { fixture, md5, type Fixture } from '../harness/mirror.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CURL = ['/usr/bin/curl', '/usr/local/bin/curl'].find((p) => fs.existsSync(p));

/** One plain HTTP request, with curl when it is installed (what a user would do), else fetch. */
async function http(url: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string; headers: Record<string, string> }> {
  if (!CURL) {
    const res = await fetch(url, { method: o.method ?? 'GET', headers: o.headers, body: o.body });
    return { status: res.status, body: await res.text(), headers: Object.fromEntries(res.headers) };
  }
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'r2m-curl-')), 'body');
  const args = ['-sS', '-o', out, '-D', '-', '-X', o.method ?? 'GET'];
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`);
  if (o.body !== undefined) args.push('--data-binary', o.body);
  args.push(url);
  const { stdout } = await promisify(execFile)(CURL, args);
  const lines = stdout.trim().split(/\r?\n/);
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0] ?? '')?.[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const body = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  return { status, body, headers };
}

/** HeadObject on the server directly: content type, or undefined when there is no such object. */
async function head(f: Fixture, key: string): Promise<{ contentType?: string } | undefined> {
  try {
    const r = await f.client.send(new HeadObjectCommand({ Bucket: f.bucket, Key: key }));
    return { contentType: r.ContentType };
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
    throw err;
  }
}

const queryOf = (url: string) => new URL(url).searchParams;

/** The URL of a presign run, checked: exit 0, one line on stdout, no checksum parameter, no request sent. */
async function presignUrl(f: Fixture, args: string[]): Promise<string> {
  f.proxy.resetCounts();
  const r = await f.cmd('presign', args);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(f.proxy.counts().total, 0, `presign sent requests: ${JSON.stringify(f.proxy.counts().byOp)}`);
  assert.match(r.stdout, /^http:\/\/\S+\n$/);
  const url = r.stdout.trim();
  const checksums = [...queryOf(url).keys()].filter((k) => /checksum/i.test(k));
  assert.deepEqual(checksums, [], `checksum parameters in ${url}`);
  assert.ok(!url.includes(f.env.secretAccessKey));
  return url;
}

describe('presign', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture('presign');
    f.write('a.txt', 'hello from a\n');
    f.write('nested/deep er/b c.txt', 'nested content\n');
    const r = await f.run([]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => f?.close());

  test('GET link for a local file: the key sync uploaded, no request spent, fetched with plain curl', async () => {
    const url = await presignUrl(f, [path.join(f.root, 'a.txt')]);
    assert.equal(new URL(url).pathname, `/${f.bucket}/${f.prefix}a.txt`);
    assert.equal(queryOf(url).get('X-Amz-Expires'), '3600');
    assert.equal(queryOf(url).get('X-Amz-SignedHeaders'), 'host');
    const res = await http(url);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'hello from a\n');
    // the proxy does count what the link is used for, so the 0 above is a real measurement
    assert.deepEqual(f.proxy.counts().byOp, { GetObject: 1 });
  });

  test('a nested path relative to the working directory maps through the folder; --json says so', async () => {
    f.proxy.resetCounts();
    const rel = path.relative(REPO, path.join(f.root, 'nested', 'deep er', 'b c.txt')); // the CLI runs in REPO
    const r = await f.cmd('presign', [rel, '--json', '--expires', '15m']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(f.proxy.counts().total, 0);
    const key = `${f.prefix}nested/deep er/b c.txt`;
    assert.ok((await f.objects()).has(key), 'sync stored the file under the same key');
    assert.deepEqual(Object.keys(r.json).sort(), ['bucket', 'expiresAt', 'key', 'method', 'url']);
    assert.equal(r.json.method, 'GET');
    assert.equal(r.json.bucket, f.bucket);
    assert.equal(r.json.key, key);
    assert.equal(queryOf(r.json.url).get('X-Amz-Expires'), '900');
    const signedAt = Date.parse(queryOf(r.json.url).get('X-Amz-Date')!.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
    assert.equal(Date.parse(r.json.expiresAt) - signedAt, 900_000);
    const res = await http(r.json.url);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'nested content\n');
  });

  test('a bare key is used as it is (no prefix added) in the only folder\'s bucket', async () => {
    const url = await presignUrl(f, [`${f.prefix}a.txt`]);
    assert.equal(new URL(url).pathname, `/${f.bucket}/${f.prefix}a.txt`);
    assert.equal((await http(url)).status, 200);
  });

  test('PUT link with a bound Content-Type: another type gets 403 and stores nothing, the same type stores it', async () => {
    const key = `${f.prefix}uploads/new.txt`;
    // a file that does not exist yet, under the folder root: still a local path
    const url = await presignUrl(f, [path.join(f.root, 'uploads', 'new.txt'), '--put', '--content-type', 'text/plain']);
    assert.equal(new URL(url).pathname, `/${f.bucket}/${key}`);
    assert.equal(queryOf(url).get('X-Amz-SignedHeaders'), 'content-type;host');
    const wrong = await http(url, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: 'not an image' });
    assert.equal(wrong.status, 403, wrong.body);
    assert.equal(await head(f, key), undefined);
    const ok = await http(url, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'uploaded by link' });
    assert.equal(ok.status, 200, ok.body);
    assert.equal((await head(f, key))?.contentType, 'text/plain');
    assert.deepEqual(f.proxy.violations(), []);
  });

  test('PUT link without --content-type accepts any type', async () => {
    const key = 'elsewhere/any-type.bin';
    const url = await presignUrl(f, [key, '--put']);
    assert.equal(queryOf(url).get('X-Amz-SignedHeaders'), 'host');
    const res = await http(url, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: 'png-ish' });
    assert.equal(res.status, 200, res.body);
    assert.equal((await head(f, key))?.contentType, 'image/png');
  });

  test('an expired link gets 403 (while a fresh link to the same object works)', async () => {
    const url = await presignUrl(f, [path.join(f.root, 'a.txt'), '--expires', '1s']);
    assert.equal(queryOf(url).get('X-Amz-Expires'), '1');
    let status = 0;
    for (const deadline = Date.now() + 20_000; ;) {
      status = (await http(url)).status;
      if (status !== 200 || Date.now() > deadline) break;
      await sleep(250);
    }
    assert.equal(status, 403);
    const fresh = await presignUrl(f, [path.join(f.root, 'a.txt'), '--expires', '7d']);
    assert.equal(queryOf(fresh).get('X-Amz-Expires'), '604800');
    assert.equal((await http(fresh)).status, 200);
  });

  test('usage errors: expiry out of range, --content-type without --put, a path outside every folder', async () => {
    f.proxy.resetCounts();
    for (const [args, message] of [
      [['a', '--expires', '8d'], /--expires "8d" is out of range: a presigned URL is valid for 1 s to 7 days \(604800 s\)/],
      [['a', '--expires', '0s'], /--expires "0s" is out of range/],
      [['a', '--expires', '604801'], /--expires "604801" is out of range/],
      [['a', '--expires', 'soon'], /--expires "soon" is not a duration/],
      [['a', '--content-type', 'text/plain'], /--content-type only applies to upload links \(add --put\)/],
      [['/etc/hostname'], new RegExp(`presign: /etc/hostname is outside every folder \\(roots: data: ${f.root}\\)`)],
      [[path.join(f.root, 'nested')], /is a directory; a presigned URL is for one object/],
      [['a', '--folder', 'nope'], /no folder named "nope"/],
    ] as [string[], RegExp][]) {
      const r = await f.cmd('presign', args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
    assert.equal(f.proxy.counts().total, 0);
  });
});

describe('cors', () => {
  let f: Fixture;
  const origin = 'https://app.example.com';
  const policy = [
    { AllowedOrigins: [origin], AllowedMethods: ['GET', 'HEAD'], AllowedHeaders: ['x-requested-by'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 3600 },
    { AllowedOrigins: ['https://upload.example.com'], AllowedMethods: ['PUT'] },
  ];
  const file = (name: string, text: string) => {
    const p = path.join(f.dir, name);
    fs.writeFileSync(p, text);
    return p;
  };
  /** A browser's preflight, sent to RGW directly (the proxy is for S3 API calls). */
  const preflight = (o: string, method: string) => http(`${f.env.endpoint}/${f.bucket}/${f.prefix}x.txt`, {
    method: 'OPTIONS', headers: { Origin: o, 'Access-Control-Request-Method': method },
  });
  before(async () => {
    f = await fixture('cors');
  });
  after(async () => f?.close());

  test('get on a bucket without a policy prints [] and a note, exit 0', async () => {
    const r = await f.cmd('cors', ['get']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '[]\n');
    assert.match(r.stderr, new RegExp(`bucket ${f.bucket} has no CORS policy`));
  });

  test('set then get round-trips the policy (and get > file && set file works)', async () => {
    f.proxy.resetCounts();
    const set = await f.cmd('cors', ['set', file('cors.json', JSON.stringify(policy, null, 2))]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, new RegExp(`CORS policy of bucket ${f.bucket} set from .*cors\\.json: 2 rules`));
    assert.deepEqual(f.proxy.counts().byOp, { PutBucketCors: 1 });
    const get = await f.cmd('cors', ['get', '--bucket', f.bucket]);
    assert.equal(get.code, 0, get.stderr);
    assert.deepEqual(JSON.parse(get.stdout), policy);
    const again = await f.cmd('cors', ['set', file('from-get.json', get.stdout), '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.json, { bucket: f.bucket, action: 'set', rules: policy });
    assert.deepEqual(JSON.parse((await f.cmd('cors', ['get'])).stdout), policy);
  });

  test('a real preflight: the allowed origin and method pass, others do not', async () => {
    const ok = await preflight(origin, 'GET');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], origin);
    assert.match(ok.headers['access-control-allow-methods'] ?? '', /GET/);
    assert.equal(ok.headers['access-control-max-age'], '3600');
    const otherOrigin = await preflight('https://evil.example.com', 'GET');
    assert.notEqual(otherOrigin.status, 200);
    assert.equal(otherOrigin.headers['access-control-allow-origin'], undefined);
    const otherMethod = await preflight(origin, 'DELETE');
    assert.notEqual(otherMethod.status, 200);
    assert.equal(otherMethod.headers['access-control-allow-origin'], undefined);
    const upload = await preflight('https://upload.example.com', 'PUT');
    assert.equal(upload.status, 200);
  });

  test('the Cloudflare API layout {"rules": [...]} is accepted and read back as the array', async () => {
    const api = { rules: [{ allowed: { origins: ['http://localhost:3000'], methods: ['GET'] }, maxAgeSeconds: 60 }] };
    const r = await f.cmd('cors', ['set', file('api.json', JSON.stringify(api))]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse((await f.cmd('cors', ['get'])).stdout), [{ AllowedOrigins: ['http://localhost:3000'], AllowedMethods: ['GET'], MaxAgeSeconds: 60 }]);
    assert.equal((await preflight('http://localhost:3000', 'GET')).status, 200);
    assert.notEqual((await preflight(origin, 'GET')).status, 200);
  });

  test('invalid policy files: a clear message naming file, rule and field, exit 2, nothing sent, policy unchanged', async () => {
    const before = (await f.cmd('cors', ['get'])).stdout;
    const cases: [string, string, RegExp][] = [
      ['bad-json.json', '[{\n  "AllowedOrigins": ["*"],\n  "AllowedMethods": ["GET",]\n}]\n', /bad-json\.json:3:28: invalid JSON: unexpected '\]': JSON allows no comma before it/],
      ['patch.json', JSON.stringify([{ AllowedOrigins: ['*'], AllowedMethods: ['GET'] }, { AllowedOrigins: ['*'], AllowedMethods: ['PATCH'] }]),
        /patch\.json: rule 2: AllowedMethods: "PATCH" is not one of GET, PUT, POST, DELETE, HEAD/],
      ['unknown.json', JSON.stringify([{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], AllowedHeader: ['x'] }]),
        /unknown\.json: rule 1: unknown key "AllowedHeader" \(did you mean "AllowedHeaders"\?\)/],
      ['empty-origins.json', JSON.stringify([{ AllowedOrigins: [], AllowedMethods: ['GET'] }]), /empty-origins\.json: rule 1: AllowedOrigins: must not be empty/],
      ['max-age.json', JSON.stringify([{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], MaxAgeSeconds: -5 }]),
        /max-age\.json: rule 1: MaxAgeSeconds: must be a whole number of seconds, 0 or more \(got number -5\)/],
      ['origin-path.json', JSON.stringify([{ AllowedOrigins: ['https://a.example.com/'], AllowedMethods: ['GET'] }]),
        /origin-path\.json: rule 1: AllowedOrigins: "https:\/\/a\.example\.com\/" is not an origin/],
    ];
    for (const [name, text, message] of cases) {
      f.proxy.resetCounts();
      const r = await f.cmd('cors', ['set', file(name, text)]);
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
      assert.equal(f.proxy.counts().total, 0, `${name}: requests sent: ${JSON.stringify(f.proxy.counts().byOp)}`);
    }
    f.proxy.resetCounts();
    const missing = await f.cmd('cors', ['set', path.join(f.dir, 'no-such.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cors set: cannot read .*no-such\.json: ENOENT/);
    assert.equal(f.proxy.counts().total, 0);
    assert.equal((await f.cmd('cors', ['get'])).stdout, before);
  });

  test('clear removes the policy: get prints [] again and the preflight fails', async () => {
    f.proxy.resetCounts();
    const r = await f.cmd('cors', ['clear']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`CORS policy of bucket ${f.bucket} removed`));
    assert.deepEqual(f.proxy.counts().byOp, { DeleteBucketCors: 1 });
    const get = await f.cmd('cors', ['get']);
    assert.equal(get.code, 0);
    assert.equal(get.stdout, '[]\n');
    assert.notEqual((await preflight('http://localhost:3000', 'GET')).status, 200);
  });

  test('a missing bucket exits 78 naming it', async () => {
    const r = await f.cmd('cors', ['get', '--bucket', 'r2m-no-such-bucket-cors']);
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /bucket r2m-no-such-bucket-cors: the bucket does not exist at .*wrangler r2 bucket create r2m-no-such-bucket-cors/);
  });
});

describe('buckets and ls', () => {
  let f: Fixture;
  const MANY = 1100;
  const many = Array.from({ length: MANY }, (_, i) => `many/k${String(i).padStart(4, '0')}.txt`);
  const others = ['top.txt', 'dir1/x.txt', 'dir2/y/z.txt'];
  const body = (rel: string) => `content of ${rel}\n`;
  before(async () => {
    f = await fixture('ls');
    // straight to the server, 32 at a time: this is test set-up, not r2mirror
    const todo = [...many, ...others];
    await Promise.all(Array.from({ length: 32 }, async () => {
      for (let rel = todo.pop(); rel !== undefined; rel = todo.pop()) {
        await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: f.prefix + rel, Body: body(rel) }));
      }
    }));
  });
  after(async () => f?.close());

  test('buckets lists the fixture bucket with its creation date', async () => {
    f.proxy.resetCounts();
    const r = await f.cmd('buckets', ['--json']);
    assert.equal(r.code, 0, r.stderr);
    const mine = (r.json as { name: string; creationDate: string }[]).find((b) => b.name === f.bucket);
    assert.ok(mine, `${f.bucket} not in ${r.stdout}`);
    assert.ok(Math.abs(Date.parse(mine.creationDate) - Date.now()) < 3600_000, mine.creationDate);
    assert.deepEqual(f.proxy.counts().byOp, { ListBuckets: 1 });
    const text = await f.cmd('buckets');
    assert.equal(text.code, 0);
    assert.match(text.stdout, new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  ${f.bucket}$`, 'm'));
  });

  test('ls without an argument: the folder\'s bucket/prefix, one level, PRE lines for deeper keys', async () => {
    f.proxy.resetCounts();
    const r = await f.cmd('ls');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.deepEqual(lines.map((l) => l.replace(/^.*  /, '')), [`${f.prefix}dir1/`, `${f.prefix}dir2/`, `${f.prefix}many/`, `${f.prefix}top.txt`]);
    assert.match(lines[0]!, /^\s+PRE  \s+host1\/data\/dir1\/$/);
    assert.match(lines[3]!, new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +${body('top.txt').length}  ${md5(body('top.txt'))}  +${f.prefix}top\\.txt$`));
    assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 1 });
  });

  test('ls follows continuation tokens: 1,100 keys in two pages, sizes and ETags right', async () => {
    f.proxy.resetCounts();
    const r = await f.cmd('ls', [`${f.bucket}/${f.prefix}many/`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.length, MANY);
    assert.deepEqual(r.json.map((e: { key: string }) => e.key), many.map((rel) => f.prefix + rel));
    for (const e of r.json) {
      const rel = e.key.slice(f.prefix.length);
      assert.equal(e.bucket, f.bucket);
      assert.equal(e.size, body(rel).length);
      assert.equal(e.etag, md5(body(rel)));
      assert.ok(!Number.isNaN(Date.parse(e.lastModified)));
    }
    assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 2 });
  });

  test('ls --recursive: every key under the prefix, no PRE lines, human and JSON', async () => {
    const all = [...many, ...others].map((rel) => f.prefix + rel).sort();
    f.proxy.resetCounts();
    const j = await f.cmd('ls', [f.bucket, '--recursive', '--json']);
    assert.equal(j.code, 0, j.stderr);
    assert.deepEqual(j.json.map((e: { key: string }) => e.key), all);
    assert.ok(j.json.every((e: { prefix?: string }) => e.prefix === undefined));
    assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 2 });
    const h = await f.cmd('ls', [`${f.bucket}/${f.prefix}`, '-r']);
    assert.equal(h.code, 0, h.stderr);
    const lines = h.stdout.trimEnd().split('\n');
    assert.equal(lines.length, all.length);
    assert.ok(lines.every((l) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d+  [0-9a-f]{32}  +\S/.test(l)), lines.find((l) => !/^\d{4}/.test(l)));
    assert.deepEqual(lines.map((l) => l.replace(/^.*  /, '')), all);
  });

  test('ls with a partial prefix and an empty result', async () => {
    const r = await f.cmd('ls', [`${f.bucket}/${f.prefix}di`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json, [{ bucket: f.bucket, prefix: `${f.prefix}dir1/` }, { bucket: f.bucket, prefix: `${f.prefix}dir2/` }]);
    const none = await f.cmd('ls', [`${f.bucket}/nothing-here/`, '--json']);
    assert.equal(none.code, 0);
    assert.deepEqual(none.json, []);
  });

  test('ls on a missing bucket exits 78 naming it', async () => {
    const r = await f.cmd('ls', ['r2m-no-such-bucket-ls/x']);
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /bucket r2m-no-such-bucket-ls: the bucket does not exist at .*wrangler r2 bucket create r2m-no-such-bucket-ls/);
    assert.equal(r.stdout, '');
  });
});
