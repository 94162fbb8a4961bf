// The bandwidth limit on the wire: `sync --bwlimit`, the config's `bandwidth` across many small PUTs, and a paced
// restore. The bytes arrive whole (ETags, rows, files), in about the time the limit allows.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mirrored, startDaemon } from '../harness/daemon.js';
import { bytes, fixture, md5, multipartEtag, type Fixture } from '../harness/mirror.js';

const MiB = 1024 * 1024;

describe('bandwidth limit', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture('bandwidth');
  });
  after(async () => {
    await f.close();
  });

  test('sync --bwlimit 4MiB: a 20 MiB file (multipart) takes about 5 s, and arrives whole', async () => {
    const big = bytes(20 * MiB, 5);
    f.write('video.mp4', big);
    const t0 = performance.now();
    const r = await f.run(['--bwlimit', '4MiB', '--json']);
    const s = (performance.now() - t0) / 1000;
    assert.equal(r.code, 0, r.stderr);
    // 20 MiB at 4 MiB/s is 5 s, less the quarter second of burst the bucket allows (process start-up adds to it)
    assert.ok(s >= 4.5 && s <= 10, `took ${s.toFixed(2)} s`);
    const objs = await f.objects();
    assert.equal(objs.get(`${f.prefix}video.mp4`)?.etag, multipartEtag(big, 8 * MiB));
    assert.equal(f.rows().length, 1);
  });

  test('bandwidth: 2MiB in the config paces all transfers together: ten 1 MiB PUTs take about 5 s', async () => {
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 10; i++) files.set(`small/${i}.bin`, bytes(MiB, 100 + i));
    for (const [rel, b] of files) f.write(rel, b);
    f.writeConfig('', 'bandwidth: 2MiB');
    const t0 = performance.now();
    const r = await f.run(['--json']);
    const s = (performance.now() - t0) / 1000;
    f.writeConfig();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.totals.uploaded.files, 10);
    assert.ok(s >= 4.5 && s <= 10, `10 MiB at 2 MiB/s took ${s.toFixed(2)} s (8 transfers at once, one limit)`);
    const objs = await f.objects();
    for (const [rel, b] of files) assert.equal(objs.get(`${f.prefix}${rel}`)?.etag, md5(b), rel);
  });

  test('restore --bwlimit 8MiB: 30 MiB read in about 3.7 s, every file whole; --bwlimit off: no limit', async () => {
    const to = path.join(f.dir, 'restored');
    const t0 = performance.now();
    const r = await f.cmd('restore', ['--folder', 'data', '--to', to, '--bwlimit', '8MiB', '--json']);
    const s = (performance.now() - t0) / 1000;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.restored, 11);
    assert.ok(s >= 3.2 && s <= 9, `30 MiB at 8 MiB/s took ${s.toFixed(2)} s`);
    assert.equal(md5(fs.readFileSync(path.join(to, 'video.mp4'))), md5(bytes(20 * MiB, 5)));
    const fast = await f.cmd('restore', ['--folder', 'data', '--to', path.join(f.dir, 'again'), '--bwlimit', 'off', '--json']);
    assert.equal(fast.code, 0, fast.stderr);
    assert.equal(fast.json.restored, 11);
  });

  test('the daemon: a new bandwidth applies on SIGHUP', async () => {
    f.writeConfig('', 'bandwidth: 1MiB\ndaemon:\n  quietPeriod: 200ms');
    const d = startDaemon(f);
    try {
      await d.log((l) => l.msg === 'reconciled', 'the first reconcile', 60_000);
      const slow = bytes(3 * MiB, 21);
      let t0 = performance.now();
      f.write('slow.bin', slow);
      await mirrored(f, 'slow.bin', slow, 30_000);
      const limited = (performance.now() - t0) / 1000;
      assert.ok(limited >= 2.4, `3 MiB at 1 MiB/s took ${limited.toFixed(2)} s`);
      f.writeConfig('', 'daemon:\n  quietPeriod: 200ms');
      d.cli.child.kill('SIGHUP');
      await d.log((l) => l.msg === 'configuration reloaded', 'the reload', 30_000);
      const fast = bytes(3 * MiB, 22);
      t0 = performance.now();
      f.write('fast.bin', fast);
      await mirrored(f, 'fast.bin', fast, 30_000);
      const free = (performance.now() - t0) / 1000;
      assert.ok(free < limited / 2, `after SIGHUP without bandwidth: ${free.toFixed(2)} s (limited: ${limited.toFixed(2)} s)`);
    } finally {
      const r = await d.stop();
      f.writeConfig();
      assert.equal(r.code, 0, r.stderr.slice(-2000));
    }
  });

  test('a bad --bwlimit is a usage error that changes nothing', async () => {
    const r = await f.run(['--bwlimit', 'fast']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--bwlimit: invalid bandwidth "fast": use bytes per second/);
  });
});
