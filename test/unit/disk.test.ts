// Unit tests for what the local layer knows about disks: regular files as the only evidence of a populated
// root, the held directories of files recorded on another device (deviceChanges), oneFileSystem in the scoped
// scan and in the watcher, and the watcher's report of a root whose own watch ended (unmount). Mounts need root.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deviceChanges, deviceName, hasRegularFile, scanFolder } from '../../src/local/scan.js';
import { rootIdentity, sameRoot } from '../../src/daemon/root.js';
import { Watcher } from '../../src/local/watch.js';
import { tree } from '../harness/tree.js';

/** Mount a tmpfs at dir for the rest of the test; returns why it cannot. */
function tmpfs(t: TestContext, dir: string): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `cannot mount a tmpfs (${(r.error?.message ?? r.stderr).trim()})`;
  t.after(() => {
    spawnSync('umount', ['-l', dir]);
  });
  return undefined;
}

test('regular files are the only evidence of a populated root (links, FIFOs are not)', async () => {
  const root = tree({}, 'evidence');
  symlinkSync('/nonexistent/target', join(root, 'dangling'));
  assert.equal(spawnSync('mkfifo', [join(root, 'pipe')]).status, 0);
  mkdirSync(join(root, 'empty/deeper'), { recursive: true });
  const opts = { root, exclude: [], followSymlinks: false };
  assert.equal(hasRegularFile(opts), false);
  assert.equal(hasRegularFile({ ...opts, followSymlinks: true }), false, 'a dangling link followed is still nothing');
  const s = await scanFolder({ ...opts, prefix: 'p/' });
  assert.equal(s.regularFiles, 0);
  assert.ok(s.problems.length >= 2, 'the link and the FIFO are reported (skipped), but they prove nothing');
  writeFileSync(join(root, 'empty/deeper/x.tmp'), 'x');
  assert.equal(hasRegularFile({ ...opts, exclude: ['*.tmp'] }), false, 'an excluded file is not seen');
  assert.equal(hasRegularFile(opts), true);
  assert.equal((await scanFolder({ ...opts, prefix: 'p/' })).regularFiles, 1);
  // A link to a regular file counts only when links are followed (as the scan does).
  const root2 = tree({ 'real/f.txt': 'f' }, 'evidence-link');
  const only = tree({}, 'evidence-only-link');
  symlinkSync(join(root2, 'real/f.txt'), join(only, 'l'));
  assert.equal(hasRegularFile({ root: only, exclude: [], followSymlinks: false }), false);
  assert.equal(hasRegularFile({ root: only, exclude: [], followSymlinks: true }), true);
});

test('deviceChanges: the nearest existing directory of missing files, when it is on another device', () => {
  const root = tree({ 'a/keep.txt': 'k', 'b/': '', 'c.txt': 'c' }, 'devchange');
  const dev = statSync(root).dev.toString();
  symlinkSync(join(root, 'b'), join(root, 'linked'));
  const other = '999999';
  const changes = deviceChanges(root, [
    { rel: 'a/gone.txt', dev }, // same device: a real delete
    { rel: 'a/x/y/gone.txt', dev }, // a deleted directory on the same device
    { rel: 'b/inner/1.txt', dev: other }, // b exists, inner does not: nearest is b
    { rel: 'b/inner/deep/2.txt', dev: other },
    { rel: 'b/3.txt', dev: other },
    { rel: 'nodev.txt', dev: null }, // recorded before schema 3: not judged
    { rel: 'nodev2.txt' },
    { rel: 'linked/4.txt', dev: other }, // a link is not a directory: its parent (the root) is the nearest
    { rel: 'top.txt', dev: other },
  ]);
  assert.deepEqual(changes, [
    { rel: '', was: other, now: dev, files: 2 },
    { rel: 'b', was: other, now: dev, files: 3 },
  ]);
  assert.deepEqual(deviceChanges(root, []), []);
  // Following links, the link is the directory the file was reached through.
  assert.deepEqual(deviceChanges(root, [{ rel: 'linked/4.txt', dev }], true), []);
  assert.deepEqual(deviceChanges(root, [{ rel: 'linked/4.txt', dev }], false), []);
  assert.deepEqual(deviceChanges(root, [{ rel: 'linked/4.txt', dev: other }], true), [{ rel: 'linked', was: other, now: dev, files: 1 }]);
});

test('deviceName shows major:minor', () => {
  assert.equal(deviceName(2049n), '8:1'); // /dev/sda1
  assert.equal(deviceName('64768'), '253:0'); // a device-mapper volume
  assert.equal(deviceName(((259n & 0xfffn) << 8n) | (300n & 0xffn) | ((300n & ~0xffn) << 12n)), '259:300');
});

test('a disk unmounted under recorded files: deviceChanges names the bare mount point', async (t) => {
  const root = tree({ 'top.txt': 't' }, 'devchange-mount');
  const inner = join(root, 'inner');
  const why = tmpfs(t, inner);
  if (why) return t.skip(why);
  writeFileSync(join(inner, 'a.txt'), 'a');
  const s = await scanFolder({ root, prefix: 'p/', exclude: [], followSymlinks: false });
  const rows = [...s.files.values()].map((f) => ({ rel: f.rel, dev: f.dev }));
  assert.notEqual(s.files.get('p/inner/a.txt')!.dev, s.files.get('p/top.txt')!.dev);
  assert.deepEqual(deviceChanges(root, rows.filter((r) => r.rel.startsWith('inner/'))), [], 'mounted: nothing changed');
  assert.equal(spawnSync('umount', [inner]).status, 0);
  assert.deepEqual(deviceChanges(root, rows.filter((r) => r.rel.startsWith('inner/'))),
    [{ rel: 'inner', was: s.files.get('p/inner/a.txt')!.dev, now: statSync(root).dev.toString(), files: 1 }]);
});

test('oneFileSystem: the walk and the scoped scan hold what is on another file system; the watcher does not watch it', async (t) => {
  const root = tree({ 'top.txt': 't', 'sub/s.txt': 's' }, 'onefs');
  const inner = join(root, 'inner');
  const why = tmpfs(t, inner);
  if (why) return t.skip(why);
  mkdirSync(join(inner, 'deep'));
  writeFileSync(join(inner, 'deep/a.txt'), 'a');
  const base = { root, prefix: 'p/', exclude: [], followSymlinks: false };
  const all = await scanFolder(base);
  assert.deepEqual([...all.files.keys()].sort(), ['p/inner/deep/a.txt', 'p/sub/s.txt', 'p/top.txt']);
  const one = await scanFolder({ ...base, oneFileSystem: true });
  assert.deepEqual([...one.files.keys()].sort(), ['p/sub/s.txt', 'p/top.txt']);
  assert.deepEqual(one.unknownPrefixes, ['p/inner/']);
  assert.match(one.problems.find((p) => p.rel === 'inner')!.reason, /another file system .* \(oneFileSystem\)/);
  // Scoped: a file under the mount, a path gone from it, the mount point itself.
  for (const only of [['inner/deep/a.txt'], ['inner/deep/gone.txt'], ['inner']]) {
    const s = await scanFolder({ ...base, oneFileSystem: true, only });
    assert.equal(s.files.size, 0, only[0]);
    assert.deepEqual(s.unknownPrefixes, ['p/inner/'], only[0]);
  }
  const s = await scanFolder({ ...base, oneFileSystem: true, only: ['sub/s.txt'] });
  assert.deepEqual([...s.files.keys()], ['p/sub/s.txt']);

  const opts = { root, exclude: [], followSymlinks: false, quietMs: 100, maxDelayMs: 1000, stormLimit: 100, onBatch: () => {}, onError: () => {} };
  const w1 = await Watcher.start(opts);
  const w2 = await Watcher.start({ ...opts, oneFileSystem: true });
  try {
    assert.equal(w1.watchedDirs, 4, 'root, sub, inner, inner/deep');
    assert.equal(w2.watchedDirs, 2, 'root, sub');
  } finally {
    await w1.close();
    await w2.close();
  }
});

test('the watcher reports a root whose own watch ended (unmounted), and rootIdentity tells the mounts apart', async (t) => {
  const base = tree({}, 'rootgone');
  const root = join(base, 'data');
  const why = tmpfs(t, root);
  if (why) return t.skip(why);
  writeFileSync(join(root, 'a.txt'), 'a');
  const id1 = rootIdentity(root)!;
  assert.ok(id1.mount, 'Linux: the mount id is known');
  let gone = 0;
  const w = await Watcher.start({
    root, exclude: [], followSymlinks: false, quietMs: 100, maxDelayMs: 1000, stormLimit: 100, onBatch: () => {}, onError: () => {},
    onRootGone: () => gone++,
  });
  t.after(() => w.close());
  assert.equal(spawnSync('umount', [root]).status, 0);
  const deadline = Date.now() + 5000;
  while (gone === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(gone > 0, 'onRootGone was called');
  const bare = rootIdentity(root)!;
  assert.equal(sameRoot(id1, bare), false, 'the bare mount point is another directory');
  rmSync(join(base, 'missing'), { force: true });
  assert.equal(rootIdentity(join(base, 'missing')), undefined);
  writeFileSync(join(base, 'file'), 'f');
  assert.equal(rootIdentity(join(base, 'file')), undefined, 'a file is not a root');
});
