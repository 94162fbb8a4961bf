// Disks that go away under a folder: a bare mount point with only a link or a FIFO, a disk mounted inside the
// folder that is unmounted, `oneFileSystem`. Real tmpfs mounts (root only), the real CLI, RGW behind the proxy.
// What a user would notice is asserted: exit codes, the message, objects in the bucket, rows in the DB.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Database } from '../../src/state/sqlite.js';
import { fixture, type Fixture, type RunResult } from '../harness/mirror.js';
import { keyOf } from '../harness/verify.js';

const isRoot = process.getuid?.() === 0;

/** Mount a fresh tmpfs at `dir`; returns why it cannot (then the test is skipped). */
function mountTmpfs(dir: string): string | undefined {
  if (!isRoot) return 'needs root to mount a tmpfs';
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `cannot mount a tmpfs here (${(r.error?.message ?? r.stderr).trim()})`;
  return undefined;
}

function umount(dir: string): void {
  const r = spawnSync('umount', [dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `umount ${dir}: ${r.stderr}`);
}

/** Unmount whatever is still mounted at `dir` (cleanup; never fails). */
function umountQuietly(dir: string): void {
  for (let i = 0; i < 3; i++) if (spawnSync('umount', ['-l', dir]).status !== 0) break;
}

const out = (r: RunResult) => `${r.stdout}\n${r.stderr}`;

function expectExit(r: RunResult, code: number, ...needles: string[]): void {
  assert.equal(r.code, code, `exit ${r.code}, expected ${code}\n${out(r)}`);
  for (const n of needles) assert.ok(out(r).includes(n), `output should mention ${JSON.stringify(n)}\n${out(r)}`);
  assert.doesNotMatch(out(r), /internal error/);
}

async function keys(f: Fixture): Promise<string[]> {
  return [...(await f.objects()).keys()].sort();
}

const rowKeys = (f: Fixture) => f.rows().map((r) => r.key).sort();

describe('empty-root guard: only regular files are evidence of a mounted disk', () => {
  for (const kind of ['dangling symlink', 'FIFO'] as const) {
    test(`a bare mount point holding only a ${kind}, with maxDelete 100%: exit 1, nothing deleted`, async () => {
      const f = await fixture(`bare-${kind === 'FIFO' ? 'fifo' : 'link'}`);
      try {
        f.write('one.txt', '1');
        f.write('two/three.txt', '3');
        f.write('four.txt', '4');
        expectExit(await f.run([]), 0);
        const before = await keys(f);
        assert.equal(before.length, 3);
        // The disk is unmounted: the mount point under it holds only a link (or a FIFO) someone left there.
        fs.renameSync(f.root, f.root + '.away');
        fs.mkdirSync(f.root);
        if (kind === 'FIFO') assert.equal(spawnSync('mkfifo', [path.join(f.root, 'pipe')]).status, 0, 'mkfifo');
        else fs.symlinkSync('/nonexistent/target', path.join(f.root, 'link'));
        const r = await f.run(['--max-delete', '100%']);
        expectExit(r, 1, `folder path ${f.root} is empty, but the state DB recorded 3 files from it (unmounted disk?); nothing was deleted`);
        assert.deepEqual(await keys(f), before, 'every object still there');
        assert.deepEqual(rowKeys(f), before, 'every row kept');
      } finally {
        await f.close();
      }
    });
  }
});

describe('a disk mounted inside the folder', () => {
  test('unmounted between runs: nothing under it is deleted until --allow-empty confirms', async (t: TestContext) => {
    const f = await fixture('inner-umount');
    const inner = path.join(f.root, 'inner');
    try {
      const why = mountTmpfs(inner);
      if (why) return t.skip(why);
      f.write('top.txt', 'top');
      f.write('gone.txt', 'deleted for real');
      f.write('inner/a.txt', 'a');
      f.write('inner/deep/b.txt', 'b');
      expectExit(await f.run([]), 0);
      const innerKeys = [keyOf(f, 'inner/a.txt'), keyOf(f, 'inner/deep/b.txt')];
      assert.deepEqual(await keys(f), [keyOf(f, 'gone.txt'), ...innerKeys, keyOf(f, 'top.txt')].sort());

      umount(inner); // the bare directory under it is empty now
      fs.rmSync(path.join(f.root, 'gone.txt')); // a real delete on the folder's own disk goes ahead
      const r = await f.run([]);
      expectExit(r, 1, `2 file(s) under ${inner} were recorded on device`, `but ${inner} is on device`, 'nothing under it was deleted',
        'r2mirror sync --folder data --allow-empty');
      const now = await keys(f);
      for (const k of innerKeys) assert.ok(now.includes(k), `${k} still in the bucket`);
      for (const k of innerKeys) assert.ok(rowKeys(f).includes(k), `${k}: row kept`);
      assert.ok(!now.includes(keyOf(f, 'gone.txt')), 'the file really deleted on the folder disk is deleted');
      assert.ok(r.logs.some((l) => l.msg === 'files recorded on another device are missing: not deleted' && l.dir === inner), 'logged with the directory');

      // Still held on the next run (nothing was "learnt" from the refused one).
      expectExit(await f.run(['--max-delete', '100%']), 1, `2 file(s) under ${inner} were recorded on device`);
      for (const k of innerKeys) assert.ok((await keys(f)).includes(k), `${k} still in the bucket`);

      // The user confirms the disk is gone for good.
      expectExit(await f.run(['--allow-empty']), 0);
      assert.deepEqual(await keys(f), [keyOf(f, 'top.txt')]);
      assert.deepEqual(rowKeys(f), [keyOf(f, 'top.txt')]);
    } finally {
      umountQuietly(inner);
      await f.close();
    }
  });

  test('a device that was only renumbered (rows recorded with another st_dev): a real delete goes ahead', async () => {
    const f = await fixture('renumbered');
    try {
      for (let i = 0; i < 5; i++) f.write(`d/f${i}.txt`, `file ${i}`);
      f.write('top.txt', 'top');
      expectExit(await f.run([]), 0);
      // As if the disk had another device number when the rows were written (a USB disk after a reboot).
      const db = new Database(f.statePath);
      try {
        const n = db.prepare("UPDATE objects SET dev = '4242'").run().changes;
        assert.equal(n, 6);
      } finally {
        db.close();
      }
      fs.rmSync(path.join(f.root, 'd/f0.txt'));
      fs.rmSync(path.join(f.root, 'top.txt'));
      const r = await f.run([]);
      expectExit(r, 0);
      assert.deepEqual(await keys(f), [1, 2, 3, 4].map((i) => keyOf(f, `d/f${i}.txt`)));
    } finally {
      await f.close();
    }
  });

  test('oneFileSystem: a disk mounted inside is neither uploaded nor deleted from', async (t: TestContext) => {
    const f = await fixture('one-fs');
    const inner = path.join(f.root, 'inner');
    try {
      const why = mountTmpfs(inner);
      if (why) return t.skip(why);
      f.write('top.txt', 'top');
      f.write('inner/a.txt', 'a');
      f.write('inner/deep/b.txt', 'b');
      // Mirrored once without the option: inner's files have rows and objects.
      expectExit(await f.run([]), 0);
      assert.equal((await keys(f)).length, 3);
      f.writeConfig('    oneFileSystem: true');
      f.write('inner/new.txt', 'never uploaded');
      fs.rmSync(path.join(inner, 'a.txt')); // gone from the other disk: still not ours to delete
      // Another tool's object under the inner prefix: the listing must not delete it either.
      await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: keyOf(f, 'inner/other.txt'), Body: 'another tool' }));
      const r = await f.run(['--max-delete', '100%']);
      expectExit(r, 0, 'on another file system');
      assert.ok(r.logs.some((l) => l.msg === 'skipped' && l.rel === 'inner' && /oneFileSystem/.test(l.reason)), 'a notice names the directory');
      assert.deepEqual(await keys(f), [keyOf(f, 'inner/a.txt'), keyOf(f, 'inner/deep/b.txt'), keyOf(f, 'inner/other.txt'), keyOf(f, 'top.txt')],
        'nothing under inner deleted, nothing new uploaded');
      assert.equal(rowKeys(f).length, 3, 'rows under inner kept');
      // A fresh folder with the option from the start uploads only the top level.
      const g = await fixture('one-fs-fresh', { folderYaml: '    oneFileSystem: true' });
      const inner2 = path.join(g.root, 'inner');
      try {
        assert.equal(mountTmpfs(inner2), undefined);
        g.write('top.txt', 'top');
        g.write('inner/a.txt', 'a');
        expectExit(await g.run([]), 0);
        assert.deepEqual(await keys(g), [keyOf(g, 'top.txt')]);
      } finally {
        umountQuietly(inner2);
        await g.close();
      }
    } finally {
      umountQuietly(inner);
      await f.close();
    }
  });
});
