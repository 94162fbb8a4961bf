// `r2mirror restore` end to end: sync a folder with the real CLI, then restore it (or parts of it) into other
// directories and compare bytes and mtimes; identical files cost no GET; conflicts, corruption and interrupts.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Store } from '../../src/state/store.js';
import { bytes, fixture, md5, multipartEtag, runCli, startCli, type Fixture, type RunResult } from '../harness/mirror.js';

const MiB = 1024 * 1024;

/** A tree with nesting, a space, a unicode name, an empty file and a 20 MiB file (multipart, 8 MiB parts). */
function fillTree(f: Fixture): Map<string, Buffer> {
  const files = new Map<string, Buffer>([
    ['a.txt', Buffer.from('hello\n')],
    ['empty', Buffer.alloc(0)],
    ['dir one/with space.md', Buffer.from('# spaced\n')],
    ['docs/deep/er/leaf.json', Buffer.from('{"x":1}')],
    ['docs/readme.txt', Buffer.from('read me')],
    ['unicode/日本語.txt', Buffer.from('kanji')],
    ['media/big.bin', bytes(20 * MiB + 123, 7)],
  ]);
  for (const [rel, b] of files) f.write(rel, b);
  // Distinct old mtimes, with nanoseconds, so a restore that forgot them cannot pass by luck.
  let i = 0;
  for (const rel of files.keys()) {
    const t = 1_600_000_000 + 86_400 * ++i + 0.123456;
    fs.utimesSync(path.join(f.root, rel), t, t);
  }
  return files;
}

/** Every file under dir (relative, '/'-separated), temp files included. */
function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[])
    .filter((rel) => fs.lstatSync(path.join(dir, rel)).isFile())
    .map((rel) => rel.split(path.sep).join('/'))
    .sort();
}

const temps = (dir: string) => listFiles(dir).filter((rel) => rel.includes('.r2mirror-tmp-'));

/** Bytes equal, and mtime equal to the source's within 1 µs (utimes takes a double of seconds). */
function assertSameFiles(from: string, to: string, rels: Iterable<string>): void {
  for (const rel of rels) {
    const a = path.join(from, rel);
    const b = path.join(to, rel);
    assert.ok(fs.readFileSync(b).equals(fs.readFileSync(a)), `${rel}: content differs`);
    const d = fs.statSync(a, { bigint: true }).mtimeNs - fs.statSync(b, { bigint: true }).mtimeNs;
    assert.ok(d < 1000n && d > -1000n, `${rel}: mtime differs by ${d} ns`);
  }
}

/**
 * An HTTP hop in front of the fixture's proxy that tampers with object bodies (GETs of a key answered 200):
 * 'flip' inverts the first byte, 'stall' sends the headers and the first chunk, then nothing. Host is kept,
 * so SigV4 signatures stay valid.
 */
async function tamper(target: string, mode: 'flip' | 'stall'): Promise<{ endpoint: string; gets: () => number; close: () => Promise<void> }> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  let gets = 0;
  const server: Server = createServer((req, res) => {
    const up = httpRequest({ hostname: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      const isGet = req.method === 'GET' && !/[?&]list-type=/.test(req.url ?? '') && ur.statusCode === 200;
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (!isGet) {
        ur.pipe(res);
        return;
      }
      gets++;
      let first = true;
      ur.on('data', (chunk: Buffer) => {
        if (mode === 'flip' && first) chunk[0] = chunk[0]! ^ 0xff;
        if (mode === 'stall' && !first) {
          ur.pause();
          return;
        }
        first = false;
        res.write(chunk);
      });
      ur.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    gets: () => gets,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/** A copy of the fixture's config with another endpoint (a tampering hop). */
function configVia(f: Fixture, endpoint: string): string {
  const file = path.join(f.dir, `via-${path.basename(new URL(endpoint).port)}.yaml`);
  fs.writeFileSync(file, fs.readFileSync(f.configFile, 'utf8').replace(/^( {2}endpoint: ).*$/m, `$1${endpoint}`));
  return file;
}

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('restore', () => {
  let f: Fixture;
  let files: Map<string, Buffer>;
  let out: string;
  before(async () => {
    f = await fixture('restore');
    files = fillTree(f);
    const r = await f.run(['--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.totals.uploaded.files, files.size);
    out = path.join(f.dir, 'out', 'nested'); // neither exists yet
  });
  after(async () => f?.close());

  test('restores every file into a new directory: bytes, mtimes, the multipart file checked against its ETag', async () => {
    const big = (await f.objects()).get(`${f.prefix}media/big.bin`)!;
    assert.equal(big.etag, multipartEtag(files.get('media/big.bin')!, 8 * MiB), 'the big file went multipart');
    f.proxy.resetCounts();
    const r = await f.cmd('restore', ['--folder', 'data', '--to', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.restored, files.size);
    assert.equal(r.json.skipped, 0);
    assert.deepEqual([r.json.failed, r.json.conflicts, r.json.changed], [[], [], []]);
    assert.equal(r.json.bytes, [...files.values()].reduce((n, b) => n + b.length, 0));
    assert.deepEqual(listFiles(out), [...files.keys()].sort());
    assertSameFiles(f.root, out, files.keys());
    assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 1, GetObject: files.size });
    assert.equal(r.json.ops.classB, files.size);
    assert.deepEqual(f.proxy.violations(), []);
  });

  test('over identical files: nothing downloaded (one LIST, no GET), nothing touched', async () => {
    const before = fs.statSync(path.join(out, 'a.txt'), { bigint: true });
    f.proxy.resetCounts();
    const r = await f.cmd('restore', ['--folder', 'data', '--to', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.restored, 0);
    assert.equal(r.json.skipped, files.size);
    assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 1 });
    assert.equal(fs.statSync(path.join(out, 'a.txt'), { bigint: true }).ino, before.ino);
  });

  test('a different local file is left alone without --force (exit 1, named) and replaced with --force', async () => {
    const file = path.join(out, 'docs', 'readme.txt');
    fs.writeFileSync(file, 'local edit');
    const r = await f.cmd('restore', ['--folder', 'data', '--to', out]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /1 conflict\(s\)/);
    assert.match(r.stdout, new RegExp(`conflict: ${f.prefix}docs/readme.txt: .*readme.txt exists with different content; not replaced \\(--force replaces it\\)`));
    assert.equal(fs.readFileSync(file, 'utf8'), 'local edit');
    // a same-size edit is caught by the hash, not the size
    fs.writeFileSync(file, 'READ ME');
    const same = await f.cmd('restore', ['--folder', 'data', '--to', out, '--json']);
    assert.equal(same.code, 1);
    assert.deepEqual(same.json.conflicts.map((c: { key: string }) => c.key), [`${f.prefix}docs/readme.txt`]);
    assert.equal(fs.readFileSync(file, 'utf8'), 'READ ME');

    f.proxy.resetCounts();
    const forced = await f.cmd('restore', ['--folder', 'data', '--to', out, '--force', '--json']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.json.restored, 1);
    assert.equal(forced.json.skipped, files.size - 1);
    assert.equal(fs.readFileSync(file, 'utf8'), 'read me');
    assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 1, GetObject: 1 });
    assert.deepEqual(temps(out), []);
  });

  test('--prefix restores a subset; --dry-run writes nothing and lists the plan', async () => {
    const sub = path.join(f.dir, 'sub');
    const dry = await f.cmd('restore', ['--folder', 'data', '--to', sub, '--prefix', 'docs/', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(fs.existsSync(sub), false, 'dry run created the target');
    assert.match(dry.stdout, /restore --dry-run: .* would restore 2 file\(s\)/);
    assert.match(dry.stdout, new RegExp(`restore +${f.prefix}docs/readme.txt -> ${sub}/docs/readme.txt`));
    const r = await f.cmd('restore', ['--folder', 'data', '--to', sub, '--prefix', 'docs/', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.prefix, `${f.prefix}docs/`);
    assert.deepEqual(listFiles(sub), ['docs/deep/er/leaf.json', 'docs/readme.txt']);
    assertSameFiles(f.root, sub, ['docs/deep/er/leaf.json', 'docs/readme.txt']);
    const bad = await f.cmd('restore', ['--folder', 'data', '--to', sub, '--prefix', '../other/']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--prefix "\.\.\/other\/" must not contain "\." or "\.\." segments/);
  });

  test('usage errors: missing options, unknown folder, --to that is a file', async () => {
    const r = await f.cmd('restore', []);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /restore: missing --folder NAME and --to DIR/);
    const u = await f.cmd('restore', ['--folder', 'nope', '--to', path.join(f.dir, 'x')]);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /no folder named "nope"/);
    const file = path.join(f.dir, 'a-file');
    fs.writeFileSync(file, 'x');
    const t = await f.cmd('restore', ['--folder', 'data', '--to', file]);
    assert.equal(t.code, 2);
    assert.match(t.stderr, /--to .*a-file exists and is not a directory/);
  });

  test('an object changed behind r2mirror\'s back is restored from the bucket but reported (exit 1)', async () => {
    const key = `${f.prefix}dir one/with space.md`;
    await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: key, Body: 'changed by another tool' }));
    const recorded = md5(files.get('dir one/with space.md')!); // what sync uploaded and recorded
    const check = (r: RunResult, dir: string) => {
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.json.restored, 1);
      assert.deepEqual(r.json.changed.map((c: { key: string }) => c.key), [key]);
      assert.match(r.json.changed[0].reason, new RegExp(`state DB recorded ETag ${recorded}, the bucket has ${md5('changed by another tool')}`));
      assert.equal(fs.readFileSync(path.join(dir, 'dir one', 'with space.md'), 'utf8'), 'changed by another tool');
    };
    // No r2mirror running: the DB is read without creating anything beside it (no -wal, no -shm).
    const stateDir = path.dirname(f.statePath);
    const before = fs.readdirSync(stateDir).sort();
    assert.ok(!before.some((n) => n.endsWith('-wal')), `no r2mirror has the DB open: ${before.join(', ')}`);
    const quiet = path.join(f.dir, 'changed-1');
    check(await f.cmd('restore', ['--folder', 'data', '--to', quiet, '--prefix', 'dir one/', '--json']), quiet);
    assert.deepEqual(fs.readdirSync(stateDir).sort(), before);
    // The DB open and locked by another r2mirror (a daemon): read in place, read-only.
    const daemon = Store.open(f.statePath);
    const busy = path.join(f.dir, 'changed-2');
    try {
      check(await f.cmd('restore', ['--folder', 'data', '--to', busy, '--prefix', 'dir one/', '--json']), busy);
    } finally {
      daemon.close();
    }
  });

  test('a download whose bytes do not match the ETag is not written (corrupt), exit 1; multipart too', async () => {
    const hop = await tamper(f.proxy.endpoint, 'flip');
    try {
      const dir = path.join(f.dir, 'corrupt');
      const r = await runCli(['restore', '--config', configVia(f, hop.endpoint), '--folder', 'data', '--to', dir, '--prefix', 'media/', '--json'],
        { R2_ACCESS_KEY_ID: f.env.accessKeyId, R2_SECRET_ACCESS_KEY: f.env.secretAccessKey });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.json.restored, 0);
      assert.equal(r.json.failed.length, 1);
      assert.equal(r.json.failed[0].key, `${f.prefix}media/big.bin`);
      assert.match(r.json.failed[0].reason, /content does not match ETag [0-9a-f]{32}-3 .*; the object is corrupt or was changed during download \(4 attempts\)/);
      assert.equal(hop.gets(), 4, 'the first try and 3 retries');
      assert.deepEqual(listFiles(dir), [], 'nothing written, no temp file left');
    } finally {
      await hop.close();
    }
  });

  test('an interrupt stops the downloads and removes the temp files (exit 130)', async () => {
    const hop = await tamper(f.proxy.endpoint, 'stall');
    try {
      const dir = path.join(f.dir, 'interrupted');
      const run = startCli(['restore', '--config', configVia(f, hop.endpoint), '--folder', 'data', '--to', dir, '--prefix', 'media/'],
        { R2_ACCESS_KEY_ID: f.env.accessKeyId, R2_SECRET_ACCESS_KEY: f.env.secretAccessKey });
      await waitFor('the download to start', () => hop.gets() > 0 && temps(dir).length > 0);
      run.child.kill('SIGINT');
      const r = await run.result;
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /interrupted by SIGINT/);
      assert.deepEqual(listFiles(dir), []);
    } finally {
      await hop.close();
    }
  });

  test('connections reset in the middle of downloads are retried: the restore is still exact', async () => {
    const dir = path.join(f.dir, 'resets');
    f.proxy.setFaults({ seed: 7, rate: 0.6, kinds: ['reset-response'], maxFaults: 3, only: (op) => op.op === 'GetObject' });
    let r;
    let faults;
    try {
      r = await f.cmd('restore', ['--folder', 'data', '--to', dir, '--json']);
    } finally {
      faults = f.proxy.faultLog();
      f.proxy.setFaults(undefined);
    }
    assert.ok(faults.length >= 1, 'no fault was injected: the test proves nothing');
    assert.ok(r.logs.some((l) => l.msg === 'download failed, retrying'), r.stderr);
    assert.equal(r.code, 1, r.stderr); // exit 1 only for the object changed behind our back (test above)
    assert.deepEqual([r.json.failed, r.json.conflicts], [[], []]);
    assert.equal(r.json.restored, files.size);
    const untouched = [...files.keys()].filter((rel) => rel !== 'dir one/with space.md');
    assertSameFiles(f.root, dir, untouched);
    assert.deepEqual(temps(dir), []);
  });

  test('access denied on GetObject stops the restore early: exit 78 naming the bucket, no temp file left', async () => {
    const dir = path.join(f.dir, 'denied');
    f.proxy.setFaults({ seed: 1, rate: 1, kinds: ['403'], only: (op) => op.op === 'GetObject' });
    f.proxy.resetCounts();
    let r;
    try {
      r = await f.cmd('restore', ['--folder', 'data', '--to', dir]);
    } finally {
      f.proxy.setFaults(undefined);
    }
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, new RegExp(`bucket ${f.bucket}: access denied`));
    assert.deepEqual(listFiles(dir), []);
    assert.ok((f.proxy.counts().byOp.GetObject ?? 0) <= 8, `kept going after a 403: ${JSON.stringify(f.proxy.counts().byOp)}`);
  });

  test('keys that would write outside the target are refused and counted as failed', async () => {
    // Written through the direct client: r2mirror itself never makes such keys.
    for (const k of ['..', 'x/../../escape.txt', 'y//z.txt']) {
      await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: `${f.prefix}odd/${k}`, Body: 'odd' }));
    }
    const keys = [...(await f.objects()).keys()].filter((k) => k.startsWith(`${f.prefix}odd/`));
    assert.equal(keys.length, 3, `the server kept the keys as written: ${keys.join(', ')}`);
    const dir = path.join(f.dir, 'odd-out');
    const r = await f.cmd('restore', ['--folder', 'data', '--to', dir, '--prefix', 'odd/', '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.json.restored, 0);
    assert.deepEqual(r.json.failed.map((x: { key: string }) => x.key).sort(), keys.sort());
    assert.ok(r.json.failed.every((x: { reason: string }) => /not written$/.test(x.reason)), JSON.stringify(r.json.failed));
    assert.deepEqual(listFiles(f.dir).filter((p) => p.includes('escape')), []);
  });
});
