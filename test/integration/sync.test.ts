// `r2mirror sync` end to end: the real CLI against a real S3 server (Ceph RGW) behind the R2 rules proxy.
// Asserts on what a user sees: objects and ETags in the bucket, rows in the state DB, exit codes, op counts.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { bytes, fixture, md5, multipartEtag, type Fixture } from '../harness/mirror.js';

const MiB = 1024 * 1024;

/** A tree with nested dirs, spaces, unicode (NFD on disk), empty files and two multipart files. */
function fillTree(f: Fixture): Map<string, Buffer> {
  const files = new Map<string, Buffer>([
    ['a.txt', Buffer.from('hello\n')],
    ['empty', Buffer.alloc(0)],
    ['dir one/with space.md', Buffer.from('# spaced\n')],
    ['deep/er/and/deeper/leaf.json', Buffer.from('{"x":1}')],
    ['unicode/cafe\u0301.txt', Buffer.from('nfd name')],
    ['unicode/日本語.txt', Buffer.from('kanji')],
    ['media/big.bin', bytes(20 * MiB + 123, 7)],
    ['media/exact.bin', bytes(16 * MiB, 9)],
    ['small/8mib.bin', bytes(8 * MiB, 11)],
  ]);
  for (const [rel, b] of files) f.write(rel, b);
  return files;
}

const keyOf = (f: Fixture, rel: string) => (f.prefix + rel).normalize('NFC');
const expectedEtag = (b: Buffer) => (b.length > 8 * MiB ? multipartEtag(b, 8 * MiB) : md5(b));

describe('sync: first run, second run, changes', () => {
  let f: Fixture;
  let files: Map<string, Buffer>;
  before(async () => {
    f = await fixture('basic');
    files = fillTree(f);
  });
  after(async () => f?.close());

  test('first sync mirrors the tree exactly: keys (NFC), sizes, ETags, rows', async () => {
    const r = await f.run(['--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.totals.uploaded.files, files.size);
    assert.equal(r.json.totals.failed, 0);
    const objects = await f.objects();
    assert.deepEqual([...objects.keys()].sort(), [...files.keys()].map((rel) => keyOf(f, rel)).sort());
    for (const [rel, b] of files) {
      const o = objects.get(keyOf(f, rel))!;
      assert.equal(o.size, b.length, rel);
      assert.equal(o.etag, expectedEtag(b), rel);
    }
    const rows = f.rows();
    assert.equal(rows.length, files.size);
    for (const row of rows) assert.equal(row.etag, objects.get(row.key)!.etag, row.key);
    assert.equal(rows.find((x) => x.key.endsWith('big.bin'))!.part_size, 8 * MiB);
    assert.deepEqual(f.proxy.violations(), []);
    for (const k of f.proxy.keysSeen()) assert.equal(k, k.normalize('NFC'));
    // the summary's own op count agrees with what the server saw
    assert.equal(r.json.ops.classA, f.proxy.counts().classA);
    // Content-Type from the name; mtime as rclone stores it (seconds with a fraction)
    const head = await f.client.send(new HeadObjectCommand({ Bucket: f.bucket, Key: keyOf(f, 'a.txt') }));
    assert.match(head.ContentType ?? '', /^text\/plain/);
    const st = fs.statSync(path.join(f.root, 'a.txt'), { bigint: true });
    assert.equal(head.Metadata?.mtime, `${st.mtimeNs / 1_000_000_000n}.${String(st.mtimeNs % 1_000_000_000n).padStart(9, '0')}`);
    const json = await f.client.send(new HeadObjectCommand({ Bucket: f.bucket, Key: keyOf(f, 'deep/er/and/deeper/leaf.json') }));
    assert.equal(json.ContentType, 'application/json');
  });

  test('second sync uploads nothing and costs one LIST, no HEAD', async () => {
    f.proxy.resetCounts();
    const r = await f.run(['--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.totals.uploaded.files, 0);
    assert.equal(r.json.totals.unchanged, files.size);
    assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 1 });
  });

  test('edit, append, delete, rename, new file and touch produce exactly those operations', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // R2 allows one write per second per key
    f.write('a.txt', 'hello, edited\n');
    fs.appendFileSync(path.join(f.root, 'dir one/with space.md'), 'appended\n');
    fs.rmSync(path.join(f.root, 'deep/er/and/deeper/leaf.json'));
    fs.renameSync(path.join(f.root, 'media/big.bin'), path.join(f.root, 'media/renamed big.bin'));
    f.write('new/file.txt', 'brand new');
    const t = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(f.root, 'unicode/日本語.txt'), t, t); // touched: same content
    f.proxy.resetCounts();
    const r = await f.run(['--json']);
    assert.equal(r.code, 0, r.stderr);
    const t8 = r.json.totals;
    assert.equal(t8.uploaded.files, 3, 'edited, appended, new');
    assert.equal(t8.copied.files, 1, 'renamed big file is copied server-side');
    assert.equal(t8.deleted, 1, 'deleted leaf; the old name of the renamed file is a rename, not a delete');
    assert.equal(t8.adopted.files, 1, 'touched file recorded without upload');
    const c = f.proxy.counts().byOp;
    assert.equal(c.PutObject, 3);
    assert.equal(c.CopyObject, 1);
    assert.equal(c.UploadPart, undefined, 'no multipart upload for a rename');
    assert.equal(c.DeleteObjects, 1);
    assert.equal(c.ListObjectsV2, 1);
    const objects = await f.objects();
    assert.equal(objects.has(keyOf(f, 'deep/er/and/deeper/leaf.json')), false);
    assert.equal(objects.has(keyOf(f, 'media/big.bin')), false);
    assert.equal(objects.get(keyOf(f, 'media/renamed big.bin'))!.size, files.get('media/big.bin')!.length);
    assert.equal(objects.get(keyOf(f, 'a.txt'))!.etag, md5('hello, edited\n'));
    assert.equal(objects.get(keyOf(f, 'new/file.txt'))!.etag, md5('brand new'));
    const rows = f.rows();
    assert.deepEqual(rows.map((x) => x.key).sort(), [...objects.keys()].sort(), 'DB agrees with the bucket');
    assert.deepEqual(f.proxy.violations(), []);
  });

  test('drift behind our back: a removed object is uploaded again, an overwritten one restored', async () => {
    await f.client.send(new DeleteObjectCommand({ Bucket: f.bucket, Key: keyOf(f, 'a.txt') }));
    await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: keyOf(f, 'new/file.txt'), Body: 'tampered' }));
    await new Promise((r) => setTimeout(r, 1100));
    const r = await f.run(['--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.totals.uploaded.files, 2);
    const objects = await f.objects();
    assert.equal(objects.get(keyOf(f, 'a.txt'))!.etag, md5('hello, edited\n'));
    assert.equal(objects.get(keyOf(f, 'new/file.txt'))!.etag, md5('brand new'));
  });
});

describe('sync: adoption, dry run, guards', () => {
  test('a bucket filled by another tool is adopted: no PUT, no part upload', async () => {
    const f = await fixture('adopt');
    try {
      const files = new Map<string, Buffer>([['x/one.txt', Buffer.from('one')], ['two.bin', bytes(3 * MiB, 3)], ['big.bin', bytes(13 * MiB, 5)]]);
      for (const [rel, b] of files) {
        f.write(rel, b);
        // another tool: lib-storage's defaults (5 MiB parts) for the big one, PutObject for the rest
        await new Upload({ client: f.client, params: { Bucket: f.bucket, Key: keyOf(f, rel), Body: b } }).done();
      }
      const before = await f.objects();
      assert.equal(before.get(keyOf(f, 'big.bin'))!.etag, multipartEtag(files.get('big.bin')!, 5 * MiB));
      const r = await f.run(['--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.totals.adopted.files, 3);
      assert.equal(r.json.totals.uploaded.files, 0);
      const c = f.proxy.counts().byOp;
      assert.equal(c.PutObject ?? 0, 0);
      assert.equal(c.UploadPart ?? 0, 0);
      assert.equal(c.CreateMultipartUpload ?? 0, 0);
      const rows = f.rows();
      assert.equal(rows.length, 3);
      assert.equal(rows.find((x) => x.key === keyOf(f, 'big.bin'))!.part_size, 5 * MiB);
      // and the next run is a no-op
      f.proxy.resetCounts();
      const r2 = await f.run(['--json']);
      assert.equal(r2.json.totals.unchanged, 3);
      assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 1 });
    } finally {
      await f.close();
    }
  });

  test('--dry-run prints the plan and its cost and changes nothing, not even the DB', async () => {
    const f = await fixture('dryrun');
    try {
      f.write('a.txt', 'a');
      f.write('b.txt', 'b');
      const r0 = await f.run(['--dry-run', '--json']);
      assert.equal(r0.code, 0, r0.stderr);
      assert.equal(fs.existsSync(f.statePath), false, 'a dry run creates no state DB');
      assert.deepEqual(r0.json.folders[0].planned.map((p: any) => p.action).sort(), ['upload', 'upload']);
      assert.equal(r0.json.estimate.classA, 2);
      assert.equal((await f.objects()).size, 0);

      assert.equal((await f.run([])).code, 0);
      const dbBefore = fs.readFileSync(f.statePath);
      fs.rmSync(path.join(f.root, 'a.txt'));
      f.write('c.txt', 'c');
      f.proxy.resetCounts();
      const r = await f.run(['--dry-run']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /upload +host1\/data\/c\.txt \(new, 1 B\)/);
      assert.match(r.stdout, /delete +host1\/data\/a\.txt/);
      assert.match(r.stdout, /would spend: Class A 1, Class B 0, free 1/);
      assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 1 });
      assert.deepEqual([...(await f.objects()).keys()].sort(), ['host1/data/a.txt', 'host1/data/b.txt']);
      assert.ok(fs.readFileSync(f.statePath).equals(dbBefore), 'state DB unchanged');
    } finally {
      await f.close();
    }
  });

  test('a missing folder root (unmounted disk) deletes nothing and says why', async () => {
    const f = await fixture('unmounted');
    try {
      for (let i = 0; i < 5; i++) f.write(`f${i}.txt`, `file ${i}`);
      assert.equal((await f.run([])).code, 0);
      fs.renameSync(f.root, f.root + '.away');
      const r = await f.run([]);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /does not exist \(unmounted disk\?\); nothing was uploaded or deleted/);
      assert.equal((await f.objects()).size, 5);
      assert.equal(f.rows().length, 5);

      // the mount point is back but empty (disk not mounted): refused too
      fs.mkdirSync(f.root);
      const r2 = await f.run([]);
      assert.equal(r2.code, 1);
      assert.match(r2.stdout, /is empty, but the state DB recorded 5 files/);
      assert.match(r2.stdout, /--allow-empty/);
      assert.equal((await f.objects()).size, 5);

      // a path that is a file
      fs.rmdirSync(f.root);
      fs.writeFileSync(f.root, 'not a dir');
      const r3 = await f.run([]);
      assert.equal(r3.code, 1);
      assert.match(r3.stdout, /is not a directory/);
      assert.equal((await f.objects()).size, 5);

      // the user really emptied it: --allow-empty lets the deletes through
      fs.rmSync(f.root);
      fs.mkdirSync(f.root);
      const r4 = await f.run(['--allow-empty']);
      assert.equal(r4.code, 0, r4.stdout + r4.stderr);
      assert.equal((await f.objects()).size, 0);
    } finally {
      await f.close();
    }
  });

  test('a delete plan over maxDelete is refused, the rest still syncs, --max-delete allows it', async () => {
    const f = await fixture('maxdel');
    try {
      for (let i = 0; i < 30; i++) f.write(`f${i}.txt`, `file ${i}`);
      assert.equal((await f.run([])).code, 0);
      for (let i = 0; i < 20; i++) fs.rmSync(path.join(f.root, `f${i}.txt`));
      f.write('new.txt', 'new');
      const r = await f.run(['--json']);
      assert.equal(r.code, 1);
      assert.match(r.json.folders[0].error, /refusing to delete 20 of 30 objects .*maxDelete 50% allows 15/);
      assert.match(r.json.folders[0].error, /--max-delete 20/);
      const objects = await f.objects();
      assert.equal(objects.size, 31, 'nothing deleted, the new file uploaded');
      const r2 = await f.run(['--max-delete', '20']);
      assert.equal(r2.code, 0, r2.stdout);
      assert.equal((await f.objects()).size, 11);
    } finally {
      await f.close();
    }
  });

  test('deletes: trash moves the object under the trash prefix; keep leaves it', async () => {
    const f = await fixture('trash', { folderYaml: '    deletes: trash\n    trashPrefix: trash/host1/data/' });
    try {
      f.write('gone.txt', 'soon gone');
      f.write('stays.txt', 'stays');
      assert.equal((await f.run([])).code, 0);
      fs.rmSync(path.join(f.root, 'gone.txt'));
      const r = await f.run(['--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.totals.trashed, 1);
      const all = await import('../harness/s3server.js').then((m) => m.listAll(f.client, f.bucket));
      assert.deepEqual([...all.keys()].sort(), ['host1/data/stays.txt', 'trash/host1/data/gone.txt']);
      assert.equal(all.get('trash/host1/data/gone.txt')!.etag, md5('soon gone'));

      f.writeConfig('    deletes: keep');
      fs.rmSync(path.join(f.root, 'stays.txt'));
      f.write('other.txt', 'other');
      const r2 = await f.run(['--json']);
      assert.equal(r2.code, 0, r2.stderr);
      assert.equal(r2.json.totals.deleted + r2.json.totals.trashed, 0);
      assert.ok((await f.objects()).has('host1/data/stays.txt'));
    } finally {
      await f.close();
    }
  });
});

describe('sync: listing a large prefix', () => {
  test('2,500 objects: a no-change sync sends ceil(N/1000) LISTs (in parallel ranges) and sees every key', async () => {
    const f = await fixture('ranges');
    try {
      for (let i = 0; i < 2500; i++) f.write(`d${i % 10}/f${String(i).padStart(4, '0')}.txt`, `file ${i}`);
      const r1 = await f.run(['--json'], { timeoutMs: 300_000 });
      assert.equal(r1.code, 0, r1.stderr.slice(-2000));
      assert.equal(r1.json.totals.uploaded.files, 2500);
      // RGW may return short pages (fewer than MaxKeys: it merges bucket-index shards); R2 and S3 fill them.
      // A plain sequential walk is the yardstick: r2mirror's 3 parallel ranges cost at most one more page
      // per range boundary, and exactly ceil(2500/1000) = 3 where pages are full.
      let sequential = 0;
      let fullPages = true;
      let token: string | undefined;
      do {
        const page = await f.client.send(new ListObjectsV2Command({ Bucket: f.bucket, Prefix: f.prefix, ContinuationToken: token }));
        sequential++;
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
        if (token && page.Contents?.length !== 1000) fullPages = false;
      } while (token);
      f.proxy.resetCounts();
      const r2 = await f.run(['--json']);
      assert.equal(r2.json.totals.unchanged, 2500);
      const lists = f.proxy.counts().byOp.ListObjectsV2!;
      assert.deepEqual(Object.keys(f.proxy.counts().byOp), ['ListObjectsV2'], 'no HEAD, no GET');
      assert.ok(fullPages ? lists === 3 : lists <= sequential + 2, `${lists} LISTs; a sequential walk needs ${sequential} (full pages: ${fullPages})`);

      // objects behind our back in every range, and local deletes spread over the ranges: all are seen
      for (const k of ['d0/f0000a.txt', 'd4/zz.txt', 'd9/zz.txt']) {
        await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: f.prefix + k, Body: 'stray' }));
      }
      for (const rel of ['d0/f0000.txt', 'd5/f1235.txt', 'd9/f2499.txt']) fs.rmSync(path.join(f.root, rel));
      f.proxy.resetCounts();
      const r3 = await f.run(['--json']);
      assert.equal(r3.code, 0, r3.stderr.slice(-2000));
      assert.equal(r3.json.totals.deleted, 6);
      assert.ok(f.proxy.counts().byOp.ListObjectsV2! <= sequential + 2 + 3, 'at most one extra page per range with extra keys');
      const objects = await f.objects();
      assert.equal(objects.size, 2497);
      assert.equal(objects.has(f.prefix + 'd4/zz.txt'), false);
    } finally {
      await f.close();
    }
  });
});

describe('sync: names and errors', () => {
  test('names R2 cannot store are reported by path, the rest is mirrored, exit 1', async () => {
    const f = await fixture('names');
    try {
      f.write('ok.txt', 'ok');
      f.write('twin-\u00e9.txt', 'nfc');
      f.write('twin-e\u0301.txt', 'nfd');
      const longDir = Array.from({ length: 6 }, (_, i) => `${i}`.padEnd(200, 'x')).join('/');
      f.write(`${longDir}/file.txt`, 'too long');
      const r = await f.run(['--json']);
      assert.equal(r.code, 1);
      const failed = r.json.folders[0].failed.map((x: any) => `${x.rel}: ${x.reason}`).join('\n');
      assert.equal(failed.match(/^twin-.*differ only in Unicode normalisation/gm)?.length, 2, failed);
      assert.match(failed, /file\.txt: cannot be mirrored: its key is 1\d{3} bytes long; R2 allows at most 1024/);
      assert.deepEqual([...(await f.objects()).keys()], ['host1/data/ok.txt']);
    } finally {
      await f.close();
    }
  });

  test('wrong secret: exit 78, a clear message, the secret never printed, DB untouched', async () => {
    const f = await fixture('badsecret');
    try {
      f.write('a.txt', 'a');
      const secret = 'WRONG-secret-value-1234567890';
      const r = await f.run([], { env: { R2_SECRET_ACCESS_KEY: secret } });
      assert.equal(r.code, 78);
      assert.match(r.stderr, /secret access key is wrong \(SignatureDoesNotMatch\)/);
      assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret));
      assert.ok(!r.stderr.includes(f.env.accessKeyId), 'access key id is scrubbed too');
      assert.equal(f.rows().length, 0);
    } finally {
      await f.close();
    }
  });

  test('missing bucket: exit 78 naming the bucket; bad config: exit 78 naming file and line', async () => {
    const f = await fixture('nobucket');
    try {
      fs.writeFileSync(f.configFile, fs.readFileSync(f.configFile, 'utf8').replace(`bucket: ${f.bucket}`, 'bucket: no-such-bucket-r2m'));
      const r = await f.run([]);
      assert.equal(r.code, 78);
      assert.match(r.stderr, /bucket no-such-bucket-r2m: the bucket does not exist/);

      fs.writeFileSync(f.configFile, fs.readFileSync(f.configFile, 'utf8').replace('retries: 3', 'retries: 3\ntranfers: 4'));
      const r2 = await f.run([]);
      assert.equal(r2.code, 78);
      assert.ok(r2.stderr.includes(`${f.configFile}:5:1: unknown key "tranfers" (did you mean "transfers"?)`), r2.stderr);
    } finally {
      await f.close();
    }
  });
});
