// `r2mirror verify` end to end: after a sync, bucket, state DB and disk agree at the cost of LIST requests only,
// without reading files the DB vouches for; each way they can disagree is printed by key (exit 1); verify changes
// neither bucket nor rows; `status` shows the last verification; a held lock or a missing root changes nothing.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Database } from '../../src/state/sqlite.js';
import { Store } from '../../src/state/store.js';
import { bytes, fixture, type Fixture, type RunResult } from '../harness/mirror.js';
import { MiB, keyOf, waitFor } from '../harness/verify.js';

/** Integral seconds, so a test can put an mtime back exactly (utimes takes doubles, mtimeNs is compared exactly). */
const T0 = 1_700_000_000;

const FILES: Record<string, Buffer> = {
  'a.txt': Buffer.from('hello\n'),
  'docs/b.txt': Buffer.from('bravo bravo\n'),
  'docs/c.txt': Buffer.from('charlie\n'),
  'empty': Buffer.alloc(0),
  'media/big.bin': bytes(9 * MiB + 7, 3), // multipart: 8 MiB parts, ETag md5-of-md5s-2
};

function fill(f: Fixture): void {
  for (const [rel, b] of Object.entries(FILES)) {
    f.write(rel, b);
    fs.utimesSync(path.join(f.root, rel), T0, T0);
  }
}

/** Everything the state DB holds about objects and folders, except verify's own columns. */
function dbDump(f: Fixture): unknown {
  const db = new Database(f.statePath, { readonly: true });
  try {
    return {
      objects: db.prepare('SELECT * FROM objects ORDER BY key').all(),
      folders: db.prepare('SELECT name, bucket, prefix, last_sync, last_list, needs_list FROM folders ORDER BY name').all(),
      failures: db.prepare('SELECT * FROM failures').all(),
    };
  } finally {
    db.close();
  }
}

function sql(f: Fixture, statement: string, ...params: unknown[]): void {
  const db = new Database(f.statePath);
  try {
    db.prepare(statement).run(...params);
  } finally {
    db.close();
  }
}

/** Overwrite a file in place (same inode) and put its mtime back to T0: to the stat, nothing happened. */
function rewriteInPlace(f: Fixture, rel: string, content: Buffer): void {
  const abs = path.join(f.root, rel);
  const fd = fs.openSync(abs, 'r+');
  try {
    fs.writeSync(fd, content, 0, content.length, 0);
    fs.ftruncateSync(fd, content.length);
  } finally {
    fs.closeSync(fd);
  }
  fs.utimesSync(abs, T0, T0);
}

const verify = (f: Fixture, args: string[] = []) => f.cmd('verify', args);
const diffs = (r: RunResult) => (r.json.folders as any[]).flatMap((x) => x.differences.map((d: any) => `${d.kind} ${d.key}`));

describe('verify after a sync', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture('verify');
    fill(f);
    const r = await f.run([]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => f?.close());

  test('all agree: exit 0, one LIST and nothing else, no file read, nothing changed', async () => {
    const objects = await f.objects();
    const db = dbDump(f);
    f.proxy.resetCounts();
    const r = await verify(f);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^data: ${f.root} -> ${f.bucket}/host1/data/: ok: 5 keys agree \\(5 vouched for by the state DB, 0 read\\)$`, 'm'));
    assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 1 }, 'only LIST requests');
    assert.match(r.stdout, /R2 operations spent: Class A 1, Class B 0, free 0 \(ListObjectsV2 1\)/);
    assert.deepEqual(await f.objects(), objects, 'the bucket is unchanged');
    assert.deepEqual(dbDump(f), db, 'the rows are unchanged');

    const s = await f.cmd('status');
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^ {2}last verified: {3}\d{4}-\d\d-\d\dT[\d:]+Z \(\d+ s ago\): ok, 5 keys agree \(r2mirror verify\)$/m);
    const sj = await f.cmd('status', ['--json']);
    assert.equal(sj.json.folders[0].verified.ok, true);
    assert.equal(sj.json.folders[0].verified.keys, 5);
    assert.ok(Math.abs(sj.json.folders[0].verified.at - Date.now()) < 60_000);
  });

  test('a file the DB vouches for is not read: other content with the same size, mtime and inode still passes', async () => {
    rewriteInPlace(f, 'a.txt', Buffer.from('HELLO\n'));
    try {
      const r = await verify(f, ['--json']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.ok, true);
      assert.equal(r.json.folders[0].counts.vouched, 5);
      assert.equal(r.json.folders[0].counts.hashed, 0);
    } finally {
      rewriteInPlace(f, 'a.txt', FILES['a.txt']!);
    }
  });

  test('touched files (new mtime, same content) are read and agree; a touched file with other content is reported', async () => {
    const touch = (rel: string) => fs.utimesSync(path.join(f.root, rel), T0 + 60, T0 + 60);
    try {
      touch('docs/b.txt');
      touch('media/big.bin'); // hashed with the row's 8 MiB part size
      f.proxy.resetCounts();
      let r = await verify(f, ['--json']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual({ vouched: r.json.folders[0].counts.vouched, hashed: r.json.folders[0].counts.hashed, agree: r.json.folders[0].counts.agree }, { vouched: 3, hashed: 2, agree: 5 });
      assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 1 }, 'hashing sends nothing');

      const db = dbDump(f);
      fs.writeFileSync(path.join(f.root, 'docs/b.txt'), 'BRAVO BRAVO\n'); // same size, other content
      touch('docs/b.txt');
      r = await verify(f);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /: 1 difference\(s\), 4 key\(s\) agree/);
      assert.match(r.stdout, /^ {2}changed on disk: host1\/data\/docs\/b\.txt: same size, other content; not synced yet$/m);
      assert.deepEqual(dbDump(f), db, 'verify did not touch the rows (a sync records the touched file)');
      const s = await f.cmd('status');
      assert.match(s.stdout, /last verified: {3}.*: 1 difference\(s\) \(r2mirror verify\)/);
    } finally {
      fs.writeFileSync(path.join(f.root, 'docs/b.txt'), FILES['docs/b.txt']!);
      fs.utimesSync(path.join(f.root, 'docs/b.txt'), T0, T0);
      fs.utimesSync(path.join(f.root, 'media/big.bin'), T0, T0);
      const r = await f.run([]);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  // Each way the three can disagree, one at a time; `sync` repairs it before the next.
  const key = (rel: string) => keyOf(f, rel);
  const cases: { name: string; rel: string; kind: string; line: RegExp; breakIt: () => Promise<void> | void }[] = [
    {
      name: 'object deleted behind our back', rel: 'a.txt', kind: 'missing-object', line: /missing in bucket: host1\/data\/a\.txt: the DB recorded 6 B, ETag [0-9a-f]{32}, the bucket has no object; the file is on disk/,
      breakIt: async () => void await f.client.send(new DeleteObjectCommand({ Bucket: f.bucket, Key: key('a.txt') })),
    },
    {
      name: 'extra object', rel: 'extra.bin', kind: 'extra-object', line: /extra in bucket: host1\/data\/extra\.bin: 3 B, ETag [0-9a-f]{32} in the bucket, but no file and no row \(sync deletes it\)/,
      breakIt: async () => void await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: key('extra.bin'), Body: 'xyz' })),
    },
    {
      name: 'row deleted', rel: 'docs/c.txt', kind: 'missing-row', line: /missing row: host1\/data\/docs\/c\.txt: bucket and file agree \(8 B, ETag [0-9a-f]{32}\), but the state DB has no row/,
      breakIt: () => sql(f, 'DELETE FROM objects WHERE key = ?', key('docs/c.txt')),
    },
    {
      name: 'object replaced behind our back', rel: 'docs/b.txt', kind: 'object-differs', line: /bucket differs from DB: host1\/data\/docs\/b\.txt: the bucket holds 5 B, ETag [0-9a-f]{32}, the DB recorded 12 B, ETag [0-9a-f]{32}/,
      breakIt: async () => void await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: key('docs/b.txt'), Body: 'other' })),
    },
    {
      name: 'file changed', rel: 'docs/c.txt', kind: 'changed', line: /changed on disk: host1\/data\/docs\/c\.txt: 16 B now, 8 B recorded; not synced yet/,
      breakIt: () => fs.appendFileSync(path.join(f.root, 'docs/c.txt'), 'charlie\n'),
    },
    {
      name: 'file deleted', rel: 'empty', kind: 'deleted', line: /deleted on disk: host1\/data\/empty: the file is gone, bucket and DB still hold it/,
      breakIt: () => fs.rmSync(path.join(f.root, 'empty')),
    },
    {
      name: 'new file', rel: 'new.txt', kind: 'not-uploaded', line: /not uploaded: host1\/data\/new\.txt: the file \(4 B\) is not in the bucket; not synced yet/,
      breakIt: () => f.write('new.txt', 'new\n'),
    },
    {
      name: 'object and file gone, row left', rel: 'a.txt', kind: 'row-without-object', line: /row without object: host1\/data\/a\.txt: the DB recorded 6 B, ETag [0-9a-f]{32}, but there is no object and no file/,
      breakIt: async () => {
        await f.client.send(new DeleteObjectCommand({ Bucket: f.bucket, Key: key('a.txt') }));
        fs.rmSync(path.join(f.root, 'a.txt'));
      },
    },
  ];
  for (const c of cases) {
    test(`${c.name}: reported by key as ${c.kind}, exit 1, nothing changed`, async () => {
      try {
        await c.breakIt();
        const objects = await f.objects();
        const db = dbDump(f);
        f.proxy.resetCounts();
        const r = await verify(f);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`^ {2}${c.line.source}`, 'm'));
        const j = await verify(f, ['--json']);
        assert.equal(j.code, 1);
        assert.deepEqual(diffs(j), [`${c.kind} ${key(c.rel)}`]);
        assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 2 }, 'two runs, one LIST each');
        assert.deepEqual(await f.objects(), objects, 'verify changed nothing in the bucket');
        assert.deepEqual(dbDump(f), db, 'verify changed no row');
      } finally {
        if (c.rel === 'a.txt' || c.rel === 'empty') f.write(c.rel, FILES[c.rel]!);
        if (c.rel === 'new.txt') fs.rmSync(path.join(f.root, 'new.txt'), { force: true });
        if (c.rel === 'docs/c.txt') f.write(c.rel, FILES[c.rel]!);
        const s = await f.run([]);
        assert.equal(s.code, 0, s.stderr);
      }
    });
  }

  test('--json: per-folder counts and the differences with what each side holds', async () => {
    await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: key('docs/b.txt'), Body: 'other' }));
    try {
      const r = await verify(f, ['--json']);
      assert.equal(r.code, 1);
      assert.deepEqual(Object.keys(r.json).sort(), ['durationMs', 'exitCode', 'folders', 'ok', 'ops', 'recorded']);
      assert.equal(r.json.ok, false);
      assert.equal(r.json.exitCode, 1);
      assert.equal(r.json.recorded, true);
      const folder = r.json.folders[0];
      assert.deepEqual({ ...folder, counts: undefined, differences: undefined }, {
        name: 'data', path: f.root, bucket: f.bucket, prefix: 'host1/data/', ok: false, error: null, note: null, counts: undefined, differences: undefined,
      });
      assert.deepEqual(folder.counts, { keys: 5, agree: 4, differences: 1, objects: 5, rows: 5, files: 5, vouched: 5, hashed: 0, kept: 0, excluded: 0, unchecked: 0 });
      const row = f.rows().find((x) => x.key === key('docs/b.txt'))!;
      assert.deepEqual(folder.differences, [{
        key: key('docs/b.txt'), kind: 'object-differs', bucket: { size: 5, etag: '795f3202b17cb6bc3d4b771d8c6c9eaf' },
        db: { size: 12, etag: row.etag }, disk: { rel: 'docs/b.txt', size: 12, content: 'vouched' },
      }]);
      assert.deepEqual(r.json.ops.byOp, { ListObjectsV2: 1 });
    } finally {
      const s = await f.run([]);
      assert.equal(s.code, 0, s.stderr);
    }
  });

  test('while another r2mirror holds the state DB, verify runs and reports, and skips recording with a notice', async () => {
    const before = await f.cmd('status', ['--json']);
    const held = Store.open(f.statePath); // as a running daemon does
    try {
      const t0 = Date.now();
      const r = await verify(f, ['--json']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok(Date.now() - t0 < 15_000, 'verify did not wait for the lock');
      assert.equal(r.json.recorded, false);
      assert.match(r.json.notRecorded, /is in use by another r2mirror process/);
      assert.ok(r.logs.some((l) => l.msg === 'verification not recorded in the state DB (status will not show it)'), r.stderr);
    } finally {
      held.close();
    }
    const after = await f.cmd('status', ['--json']);
    assert.deepEqual(after.json.folders[0].verified, before.json.folders[0].verified, 'nothing recorded');
  });

  test('a missing or empty root is one difference, not "every file deleted"', async () => {
    const away = f.root + '.away';
    fs.renameSync(f.root, away);
    try {
      let r = await verify(f);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`^ {2}ERROR: folder path ${f.root} does not exist \\(unmounted disk\\?\\); the disk was not compared$`, 'm'));
      assert.doesNotMatch(r.stdout, /deleted on disk/);
      fs.mkdirSync(f.root); // an empty mount point
      r = await verify(f, ['--json']);
      assert.equal(r.code, 1);
      assert.match(r.json.folders[0].error, /is empty, but the state DB recorded 5 files from it \(unmounted disk\?\)/);
      assert.deepEqual(r.json.folders[0].differences, []);
      assert.equal(r.json.folders[0].counts.unchecked, 5);
    } finally {
      fs.rmSync(f.root, { recursive: true, force: true });
      fs.renameSync(away, f.root);
    }
    const r = await verify(f);
    assert.equal(r.code, 0, r.stdout);
  });

  test('usage, credentials, endpoint: unknown folder exits 2, a wrong secret 78, an unreachable endpoint 75', async () => {
    const u = await verify(f, ['--folder', 'nope']);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /no folder named "nope"/);
    const bad = await f.cmd('verify', [], { env: { R2_SECRET_ACCESS_KEY: 'wrong-secret-0123456789' } });
    assert.equal(bad.code, 78, bad.stderr);
    assert.match(bad.stderr, /SignatureDoesNotMatch/);
    // A port nothing listens on (just freed): the endpoint is unreachable, exit 75 naming it.
    const tmp = createServer();
    await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(tmp.address() as AddressInfo).port}`;
    await new Promise<void>((r) => tmp.close(() => r()));
    const good = fs.readFileSync(f.configFile, 'utf8');
    try {
      fs.writeFileSync(f.configFile, good.replace(`endpoint: ${f.proxy.endpoint}`, `endpoint: ${endpoint}`).replace('retries: 3', 'retries: 1\nrequestTimeout: 1s'));
      const down = await verify(f);
      assert.equal(down.code, 75, down.stderr);
      assert.ok(down.stderr.includes(endpoint), down.stderr);
    } finally {
      fs.writeFileSync(f.configFile, good);
    }
  });
});

describe('verify with deletes: keep, excludes and several folders', () => {
  let f: Fixture;
  let two: string;
  before(async () => {
    f = await fixture('verify-keep', { folderYaml: '    deletes: keep' });
    two = path.join(f.dir, 'two');
    fs.mkdirSync(two);
    fs.writeFileSync(path.join(two, 'x.txt'), 'x');
    f.writeConfig(`    deletes: keep\n  - name: two\n    path: ${two}\n    bucket: ${f.bucket}\n    prefix: host1/two/`);
    fill(f);
    const r = await f.run([]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => f?.close());

  test('status says "never" before the first verify', async () => {
    const s = await f.cmd('status');
    assert.match(s.stdout, /^ {2}last verified: {3}never \(r2mirror verify\)$/m);
    const j = await f.cmd('status', ['--json']);
    assert.equal(j.json.folders[0].verified, null);
  });

  test('an object kept for a deleted file (deletes: keep) is expected; an excluded path is not compared', async () => {
    fs.rmSync(path.join(f.root, 'a.txt'));
    let r = await f.run([]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await f.objects()).has(keyOf(f, 'a.txt')), 'kept in the bucket');
    f.writeConfig(`    deletes: keep\n    exclude: ["docs/c.txt"]\n  - name: two\n    path: ${two}\n    bucket: ${f.bucket}\n    prefix: host1/two/`);
    r = await verify(f, ['--folder', 'data']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^data: .*: ok: 3 keys agree \(3 vouched for by the state DB, 0 read\); 1 object\(s\) kept for deleted files \(deletes: keep\), 1 excluded key\(s\) not compared$/m);
    assert.doesNotMatch(r.stdout, /^two:/m);
  });

  test('--folder picks folders (repeats count once); all folders by default', async () => {
    let r = await verify(f, ['-f', 'two', '--folder', 'two', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(r.json.folders.map((x: any) => x.name), ['two']);
    assert.equal(r.json.folders[0].counts.agree, 1);
    fs.writeFileSync(path.join(two, 'x.txt'), 'y'); // same size, new mtime: read, differs
    r = await verify(f, ['--json']);
    assert.equal(r.code, 1);
    assert.deepEqual(r.json.folders.map((x: any) => [x.name, x.ok]), [['data', true], ['two', false]]);
    assert.deepEqual(diffs(r), ['changed host1/two/x.txt']);
  });

  test('keys with control characters are printed quoted, on one line', async () => {
    const evil = 'host1/data/evil\u001b[2Jname\nline.txt';
    await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: evil, Body: 'e' }));
    f.writeConfig(`    exclude: ["docs/c.txt"]`); // deletes: mirror now, so the object is extra
    try {
      const r = await verify(f, ['--folder', 'data']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.ok(!r.stdout.includes('\u001b'), 'no raw escape character reaches the terminal');
      assert.ok(r.stdout.includes(`extra in bucket: ${JSON.stringify(evil)}: `), r.stdout);
    } finally {
      await f.client.send(new DeleteObjectCommand({ Bucket: f.bucket, Key: evil }));
    }
  });

  test('a folder moved to another prefix shows no verification of the old one in status', async () => {
    f.writeConfig('    deletes: keep');
    let r = await verify(f, ['--json']);
    assert.equal(r.json.recorded, true);
    assert.notEqual((await f.cmd('status', ['--json'])).json.folders[0].verified, null);
    fs.writeFileSync(f.configFile, fs.readFileSync(f.configFile, 'utf8').replace('prefix: host1/data/', 'prefix: host1/moved/'));
    r = await f.run([]);
    assert.equal(r.code, 0, r.stderr);
    const s = await f.cmd('status');
    assert.match(s.stdout, /^ {2}last verified: {3}never \(r2mirror verify\)$/m);
  });
});

test('with a daemon running: verify neither waits for it nor blocks it, and says the result was not recorded', async () => {
  const f = await fixture('verify-daemon', { topYaml: 'daemon:\n  quietPeriod: 300ms\n  maxDelay: 10s' });
  try {
    fill(f);
    const daemon = f.startCmd('daemon', ['--log-level', 'info'], { timeoutMs: 120_000 });
    let stderr = '';
    daemon.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await waitFor(() => /"msg":"reconciled"/.test(stderr), 'the daemon to finish its first reconcile', 60_000, 20);
      await waitFor(() => f.rows().length === Object.keys(FILES).length, 'every file recorded', 30_000, 20);
      const t0 = Date.now();
      const r = await verify(f, ['--json']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok(Date.now() - t0 < 15_000, 'verify did not wait for the lock');
      assert.equal(r.json.recorded, false);
      assert.match(r.json.notRecorded, /in use by another r2mirror process \(daemon or sync\)/);
      // The daemon goes on mirroring.
      f.write('after.txt', 'written after verify\n');
      await waitFor(() => f.rows().some((x) => x.key === keyOf(f, 'after.txt')), 'the daemon to mirror a new file', 30_000, 20);
    } finally {
      daemon.child.kill('SIGTERM');
      const d = await daemon.result;
      assert.equal(d.code, 0, d.stderr.slice(-2000));
    }
    const s = await f.cmd('status', ['--json']);
    assert.equal(s.json.folders[0].verified, null, 'nothing was recorded while the daemon held the DB');
    const r = await verify(f, ['--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.json.recorded, true, 'recorded once the lock is free');
  } finally {
    await f.close();
  }
});
