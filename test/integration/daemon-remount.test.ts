// `r2mirror daemon` on a folder root that is a mount point: unmounted (the bare directory under it shows),
// mounted again, and unmounted and mounted again between two root checks. Each time the daemon says so,
// watches the new root and rescans it; nothing is deleted from the bare directory. Also the scoped (watcher)
// empty-root guard: a FIFO or a dangling link is no evidence. Real tmpfs mounts (root only).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, test, type TestContext } from 'node:test';
import { bytes, fixture, type Fixture } from '../harness/mirror.js';
import { assertMirror, waitFor } from '../harness/verify.js';
import { mirrored, startDaemon } from '../harness/daemon.js';

const QUIET = 'daemon:\n  quietPeriod: 400ms\n  maxDelay: 10s\nmetrics:\n  listen: 127.0.0.1:0';
const REPLACED = 'folder root was replaced (remounted?); watching it again and rescanning';

function mount(dir: string): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `cannot mount a tmpfs here (${(r.error?.message ?? r.stderr).trim()})`;
  return undefined;
}

/** Unmount (a scan may hold the directory open for an instant: EBUSY is retried). */
async function umount(dir: string): Promise<void> {
  await waitFor(() => spawnSync('umount', [dir]).status === 0, `umount ${dir}`, 5_000, 20);
}

const status = async (f: Fixture) => (await f.cmd('status', ['--json'])).json?.folders?.[0];

describe('daemon: a folder root that is unmounted and mounted again', () => {
  test('each replacement is logged, shown by status, watched again and rescanned; nothing deleted from the bare directory', async (t: TestContext) => {
    const f = await fixture('daemon-remount', { topYaml: QUIET });
    let mounted = false;
    let d: ReturnType<typeof startDaemon> | undefined;
    try {
      const why = mount(f.root);
      if (why) return t.skip(why);
      mounted = true;
      const files = new Map<string, Buffer>([['a.txt', bytes(3000, 1)], ['sub/b.txt', bytes(5000, 2)]]);
      const writeAll = () => {
        for (const [rel, b] of files) f.write(rel, b);
      };
      writeAll();
      d = startDaemon(f);
      await d.nth((l) => l.msg === 'reconciled' && (l.kind === 'list' || l.kind === 'local'), 1, 'the initial reconcile');
      await assertMirror(f, files, 'after start');
      const isReplaced = (l: any) => l.msg === REPLACED && l.path === f.root;

      // 1. Unmounted: the (empty) directory under the mount point is the root now. Said, and nothing deleted.
      await umount(f.root);
      mounted = false;
      const first = await d.nth(isReplaced, 1, 'the replacement to be logged (unmount)', 15_000);
      assert.notDeepEqual(first.was, first.now);
      const bare = await waitFor(async () => {
        const s = await status(f);
        return s?.error && /is empty/.test(s.error) ? s : undefined;
      }, 'status to show the refused empty root', 15_000, 200);
      assert.match(bare.notice.message, /was replaced \(remounted\?\)/);
      await assertMirror(f, files, 'bare mount point: nothing deleted');

      // 2. Mounted again (a fresh tmpfs with the same files and a new one): uploaded within seconds.
      assert.equal(mount(f.root), undefined);
      mounted = true;
      files.set('new.txt', bytes(1234, 3));
      writeAll();
      await d.nth(isReplaced, 2, 'the replacement to be logged (mount)', 15_000);
      await mirrored(f, 'new.txt', files.get('new.txt')!);
      await assertMirror(f, files, 'after the mount');

      // 3. Unmounted and mounted again at once, well within one root check (device, inode and even the mount id
      // may be reused): the dead watch on the root tells.
      const before = d.count(isReplaced);
      await umount(f.root);
      assert.equal(mount(f.root), undefined);
      files.set('later.txt', bytes(777, 4));
      writeAll();
      await d.nth(isReplaced, before + 1, 'the replacement to be logged (remount between checks)', 15_000);
      await mirrored(f, 'later.txt', files.get('later.txt')!);
      // The new root is watched: a file written now arrives through the watcher.
      files.set('watched.txt', bytes(999, 5));
      f.write('watched.txt', files.get('watched.txt')!);
      await mirrored(f, 'watched.txt', files.get('watched.txt')!);
      await assertMirror(f, files, 'after the remount');

      const s = await waitFor(async () => {
        const x = await status(f);
        return x?.state === 'watching' && !x.error && x.notice ? x : undefined;
      }, 'status: watching, no error, a notice', 15_000, 200);
      assert.match(s.notice.message, new RegExp(`folder root ${f.root} was replaced`));
      assert.ok(Date.now() - s.notice.at < 60_000, 'the notice has its time');
      const listening = d.logs.find((l) => l.msg === 'metrics endpoint listening');
      const metrics = await (await fetch(new URL('metrics', listening.url))).text();
      const replacements = Number(/^r2mirror_root_replacements_total\{folder="data"\} (\d+)$/m.exec(metrics)?.[1]);
      assert.equal(replacements, d.count(isReplaced), 'the metric counts every replacement logged');
      assert.ok(replacements >= 3, metrics);
      const r = await d.stop();
      d = undefined;
      assert.equal(r.code, 0, r.stderr.slice(-2000));
    } finally {
      await d?.stop();
      if (mounted) spawnSync('umount', ['-l', f.root]);
      await f.close();
    }
  });

  test('the watcher\'s scoped reconcile: a root left with only a FIFO and a dangling link is empty (nothing deleted)', async () => {
    const f = await fixture('daemon-fifo', { topYaml: QUIET, folderYaml: '    maxDelete: 100%' });
    let d: ReturnType<typeof startDaemon> | undefined;
    try {
      const files = new Map<string, Buffer>([['a.txt', bytes(300, 1)], ['b.txt', bytes(400, 2)]]);
      for (const [rel, b] of files) f.write(rel, b);
      d = startDaemon(f);
      await d.nth((l) => l.msg === 'reconciled' && (l.kind === 'list' || l.kind === 'local'), 1, 'the initial reconcile');
      assert.equal(spawnSync('mkfifo', [`${f.root}/pipe`]).status, 0);
      fs.symlinkSync('/nonexistent/target', `${f.root}/link`);
      for (const rel of files.keys()) fs.rmSync(`${f.root}/${rel}`);
      const s = await waitFor(async () => {
        const x = await status(f);
        return x?.error && /is empty/.test(x.error) ? x : undefined;
      }, 'status to show the refused empty root', 20_000, 200);
      assert.match(s.error, new RegExp(`folder path ${f.root} is empty`));
      await assertMirror(f, files, 'nothing deleted');
      const r = await d.stop();
      d = undefined;
      assert.equal(r.code, 0, r.stderr.slice(-2000));
    } finally {
      await d?.stop();
      await f.close();
    }
  });
});
