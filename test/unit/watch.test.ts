// Unit tests for src/local/watch.ts: a real chokidar watcher on temp directories. Waits are on observed state
// with deadlines (waitFor); "nothing else arrives" is shown with a sentinel file written afterwards: once its
// batch is in, anything earlier would have been handed over too. Temp files only under os.tmpdir().

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Watcher, type WatchBatch, type WatchOptions } from '../../src/local/watch.js';
import { tree } from '../harness/tree.js';

const QUIET = 150;


interface Seen {
  readonly batch: WatchBatch;
  /** performance.now() when it was handed over. */
  readonly at: number;
}

interface Started {
  readonly w: Watcher;
  readonly batches: Seen[];
  readonly errors: NodeJS.ErrnoException[];
  /** Every path named by a 'paths' batch so far. */
  paths(): Set<string>;
}

/** Start a watcher on `root` that records its batches; closed when the test ends. */
async function start(t: TestContext, root: string, over: Partial<WatchOptions> = {}): Promise<Started> {
  const batches: Seen[] = [];
  const errors: NodeJS.ErrnoException[] = [];
  const w = await Watcher.start({
    root, exclude: [], followSymlinks: false, quietMs: QUIET, maxDelayMs: 2000, stormLimit: 1000,
    onBatch: (batch) => batches.push({ batch, at: performance.now() }),
    onError: (err) => errors.push(err),
    ...over,
  });
  t.after(() => w.close());
  const paths = () => new Set(batches.flatMap((s) => (s.batch.kind === 'paths' ? s.batch.paths : [])));
  return { w, batches, errors, paths };
}

/** Poll `cond` every 10 ms until it holds; fail naming `what` after `timeoutMs`. */
async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Write a sentinel file and wait for a batch naming it: everything that happened before it has been handed over. */
async function settle(s: Started, root: string, name = `sentinel-${Math.random().toString(36).slice(2)}.txt`): Promise<void> {
  writeFileSync(join(root, name), 's');
  await waitFor(() => s.paths().has(name), `the sentinel ${name}`);
}

const pathBatches = (s: Started) => s.batches.flatMap((b) => (b.batch.kind === 'paths' ? [b.batch.paths] : []));

test('a new file is one paths batch naming its relative path, handed over only after the quiet period', async (t) => {
  const root = tree({ 'sub/deeper/': '' });
  const s = await start(t, root);
  writeFileSync(join(root, 'sub', 'deeper', 'new.txt'), 'hello');
  const written = performance.now();
  await waitFor(() => s.batches.length > 0, 'a batch');
  const first = s.batches[0]!;
  assert.deepEqual(first.batch, { kind: 'paths', paths: ['sub/deeper/new.txt'] });
  // The watcher stamps events with Date.now() (whole ms), so allow 1 ms of rounding.
  assert.ok(first.at - written >= QUIET - 1, `handed over ${(first.at - written).toFixed(1)} ms after the write; the quiet period is ${QUIET} ms`);
  await settle(s, root);
  assert.equal(s.batches.length, 2, `only the sentinel's batch followed: ${JSON.stringify(s.batches.map((b) => b.batch))}`);
  assert.deepEqual(s.errors, []);
});

test('repeated writes to one file within the quiet period coalesce into one batch naming it once', async (t) => {
  const root = tree({ 'log.txt': '' });
  const s = await start(t, root);
  let last = 0;
  for (let i = 0; i < 5; i++) {
    writeFileSync(join(root, 'log.txt'), `line ${i}\n`, { flag: 'a' });
    last = performance.now();
    await sleep(20); // pacing only: each write lands well within the previous one's quiet period
  }
  await waitFor(() => s.batches.length > 0, 'a batch');
  assert.deepEqual(s.batches[0]!.batch, { kind: 'paths', paths: ['log.txt'] });
  // chokidar drops a 'change' within 50 ms of the previous one for the same path (no trailing event), so the quiet
  // period may run from the second-to-last write: up to 50 ms sooner after the last one.
  assert.ok(s.batches[0]!.at - last >= QUIET - 51, `handed over ${(s.batches[0]!.at - last).toFixed(0)} ms after the last write`);
  await settle(s, root);
  assert.deepEqual(pathBatches(s).filter((p) => p.includes('log.txt')), [['log.txt']], 'named once, in one batch');
});

test('maxDelay: a file written every 50 ms is handed over before the writes stop', async (t) => {
  const quietMs = 200;
  const maxDelayMs = 500;
  const root = tree({ 'forever.log': '' });
  const s = await start(t, root, { quietMs, maxDelayMs });
  const firstWrite = performance.now();
  let prev = firstWrite;
  let maxGap = 0;
  // Write every 50 ms until the batch arrives (the deadline fails the test): the file is never quiet for 200 ms.
  while (s.batches.length === 0 && performance.now() - firstWrite < 4000) {
    writeFileSync(join(root, 'forever.log'), 'x', { flag: 'a' });
    const now = performance.now();
    maxGap = Math.max(maxGap, now - prev);
    prev = now;
    await sleep(50);
  }
  const stillWriting = s.batches.length > 0;
  assert.ok(stillWriting, `no batch after ${(performance.now() - firstWrite).toFixed(0)} ms of writes every 50 ms`);
  assert.ok(maxGap < quietMs, `the writes paused ${maxGap.toFixed(0)} ms (machine too loaded): the quiet period could explain the batch`);
  assert.deepEqual(s.batches[0]!.batch, { kind: 'paths', paths: ['forever.log'] });
  const after = s.batches[0]!.at - firstWrite;
  assert.ok(after >= maxDelayMs - 1, `handed over ${after.toFixed(0)} ms after the first write, before maxDelay`);
});

test('a write just after a maxDelay handover is reported in a later batch', async (t) => {
  // chokidar (v5, index.js _emit) drops a 'change' that comes within 50 ms of the previous reported one for the
  // same path, and emits nothing at the end of that window. After a maxDelay handover the daemon reconciles the
  // file; a write landing inside that window is then never reported, and the file's last version is not mirrored
  // until something else touches it.
  const root = tree({ 'app.log': '' });
  const s = await start(t, root, { quietMs: 5000, maxDelayMs: 10 });
  writeFileSync(join(root, 'app.log'), 'one\n', { flag: 'a' });
  await waitFor(() => s.batches.length === 1, 'the maxDelay batch');
  assert.deepEqual(s.batches[0]!.batch, { kind: 'paths', paths: ['app.log'] });
  writeFileSync(join(root, 'app.log'), 'two\n', { flag: 'a' }); // the last write: the file is not touched again
  await waitFor(() => s.batches.length >= 2, 'a batch for the write after the handover', 3000);
  assert.deepEqual(s.batches[1]!.batch, { kind: 'paths', paths: ['app.log'] });
});

test('a rename a -> b is handed over as one batch naming both sides', async (t) => {
  const root = tree({ 'd/a.txt': 'content' });
  const s = await start(t, root);
  renameSync(join(root, 'd', 'a.txt'), join(root, 'd', 'b.txt'));
  await waitFor(() => s.paths().has('d/a.txt') && s.paths().has('d/b.txt'), 'both sides of the rename');
  const both = pathBatches(s).filter((p) => p.includes('d/a.txt') && p.includes('d/b.txt'));
  assert.equal(both.length, 1, `one batch with both sides: ${JSON.stringify(pathBatches(s))}`);
});

test('a directory made after the watcher is armed: it and the file inside are reported, and later writes in it too', async (t) => {
  const root = tree();
  const s = await start(t, root);
  mkdirSync(join(root, 'nd'));
  writeFileSync(join(root, 'nd', 'f.txt'), '1'); // races the new directory's watch: the batch names 'nd', whose
  // reconcile walks it, and names the file too when its event came after the directory's watch was armed
  await waitFor(() => s.paths().has('nd'), 'nd');
  mkdirSync(join(root, 'nd', 'inner'));
  await waitFor(() => s.paths().has('nd/inner'), 'nd/inner');
  writeFileSync(join(root, 'nd', 'inner', 'g.txt'), '2');
  await waitFor(() => s.paths().has('nd/inner/g.txt'), 'nd/inner/g.txt (the new directory is watched)');
  assert.deepEqual(s.errors, []);
});

test('a directory tree moved in is named and watched; a directory renamed inside is named on both sides and watched as renamed', async (t) => {
  const root = tree({ 'keep/': '' });
  const outside = tree({ 'pack/a.txt': '1', 'pack/inner/b.txt': '2' });
  const s = await start(t, root);
  renameSync(join(outside, 'pack'), join(root, 'keep', 'pack'));
  await waitFor(() => s.paths().has('keep/pack'), 'keep/pack (moved in)');
  await waitFor(() => s.w.watchedDirs === 4, `watchedDirs 4 with pack and pack/inner (is ${s.w.watchedDirs})`);
  writeFileSync(join(root, 'keep', 'pack', 'inner', 'c.txt'), '3');
  await waitFor(() => s.paths().has('keep/pack/inner/c.txt'), 'a write in the moved-in tree');
  renameSync(join(root, 'keep', 'pack'), join(root, 'moved'));
  await waitFor(() => s.paths().has('keep/pack') && s.paths().has('moved'), 'both names of the renamed directory');
  await waitFor(() => s.w.watchedDirs === 4, `still 4 watches after the rename (is ${s.w.watchedDirs})`);
  writeFileSync(join(root, 'moved', 'inner', 'd.txt'), '4');
  await waitFor(() => s.paths().has('moved/inner/d.txt'), 'a write under the new name');
  assert.deepEqual(s.errors, []);
});

test('removing a directory with files hands over a batch that names the directory', async (t) => {
  const root = tree({ 'gone/x.txt': '1', 'gone/y.txt': '2', 'gone/sub/z.txt': '3', 'stay.txt': '4' });
  const s = await start(t, root);
  rmSync(join(root, 'gone'), { recursive: true });
  await waitFor(() => s.paths().has('gone'), 'a batch naming gone');
  assert.ok(!s.paths().has('stay.txt'));
  await settle(s, root);
  for (const p of s.paths()) assert.ok(p === 'gone' || p.startsWith('gone/') || p.startsWith('sentinel-'), `unexpected ${p}`);
});

test('the state DB named through a symbolic link into the folder is never reported', async (t) => {
  const root = tree({ '.r2mirror/state.db': '' });
  const outside = tree({});
  symlinkSync(join(root, '.r2mirror'), join(outside, 'link'));
  const viaLink = ['state.db', 'state.db-wal', 'state.db-shm'].map((n) => join(outside, 'link', n));
  const s = await start(t, root, { alwaysExclude: viaLink });
  for (let i = 0; i < 3; i++) {
    writeFileSync(viaLink[0]!, `pages ${i}`);
    writeFileSync(viaLink[1]!, `wal ${i}`);
    rmSync(viaLink[1]!);
  }
  writeFileSync(join(root, '.r2mirror', 'other.txt'), 'mirrored');
  await settle(s, root);
  assert.deepEqual([...s.paths()].filter((p) => !p.startsWith('sentinel-')).sort(), ['.r2mirror/other.txt']);
});

test('excluded paths and the alwaysExclude path are never reported', async (t) => {
  const root = tree({ 'cache/old.txt': '1', 'state.db': '' });
  const stateDb = join(root, 'state.db');
  const s = await start(t, root, { exclude: ['*.tmp', 'cache/'], alwaysExclude: [stateDb] });
  writeFileSync(join(root, 'a.tmp'), '1');
  writeFileSync(join(root, 'cache', 'old.txt'), 'changed');
  writeFileSync(join(root, 'cache', 'new.txt'), '1');
  mkdirSync(join(root, 'sub', 'cache', 'deep'), { recursive: true }); // 'cache/' matches at any depth
  writeFileSync(join(root, 'sub', 'cache', 'deep', 'x.txt'), '1');
  writeFileSync(join(root, 'sub', 'b.tmp'), '1');
  writeFileSync(stateDb, 'pages');
  writeFileSync(join(root, 'sub', 'kept.txt'), '1');
  await settle(s, root, 'sentinel-1.txt');
  rmSync(join(root, 'cache'), { recursive: true });
  rmSync(join(root, 'a.tmp'));
  rmSync(stateDb);
  await settle(s, root, 'sentinel-2.txt');
  // 'sub' was new, so its batch names it (its reconcile walks it and finds kept.txt) and may or may not name
  // kept.txt as well; the removed excluded directory 'cache' may be named (once gone, nothing says it was a
  // directory), which costs one reconcile that finds nothing there. No excluded file is ever named.
  const got = [...s.paths()].filter((p) => p !== 'sub/kept.txt' && p !== 'cache').sort();
  assert.deepEqual(got, ['sentinel-1.txt', 'sentinel-2.txt', 'sub']);
  assert.ok(s.batches.every((b) => b.batch.kind === 'paths'));
});

test('storm: 200 new files with stormLimit 50 are one everything batch once quiet, pending stays bounded', async (t) => {
  const stormLimit = 50;
  const root = tree();
  const s = await start(t, root, { stormLimit });
  let maxPending = 0;
  const sampler = setInterval(() => { maxPending = Math.max(maxPending, s.w.pending); }, 1);
  t.after(() => clearInterval(sampler));
  let lastWrite = 0;
  for (let i = 0; i < 200; i++) {
    writeFileSync(join(root, `f${i}.txt`), String(i));
    lastWrite = performance.now();
    if (i % 20 === 19) await new Promise((r) => setImmediate(r)); // let events in and the sampler run
  }
  await waitFor(() => s.batches.some((b) => b.batch.kind === 'everything'), 'the everything batch');
  clearInterval(sampler);
  const storm = s.batches.find((b) => b.batch.kind === 'everything')!;
  assert.deepEqual(storm.batch, { kind: 'everything', reason: 'event storm' });
  assert.ok(storm.at - lastWrite >= QUIET - 1, 'only after the storm went quiet');
  await settle(s, root);
  assert.equal(s.batches.filter((b) => b.batch.kind === 'everything').length, 1, 'exactly one everything batch');
  for (const p of pathBatches(s)) assert.ok(p.length <= stormLimit, `a paths batch with ${p.length} paths`);
  assert.ok(maxPending > 0 && maxPending <= stormLimit + 1, `pending peaked at ${maxPending}`);
});

test('storm bookkeeping: pending never exceeds stormLimit + 1, events during a storm extend it', async (t) => {
  const root = tree();
  const s = await start(t, root, { stormLimit: 50 });
  for (let i = 0; i < 500; i++) {
    s.w.touch(`f${i}`);
    assert.ok(s.w.pending <= 51, `pending ${s.w.pending} after ${i + 1} events`);
  }
  assert.equal(s.w.pending, 50, 'a storm counts as its limit');
  await waitFor(() => s.batches.length > 0, 'the everything batch');
  assert.deepEqual(s.batches.map((b) => b.batch), [{ kind: 'everything', reason: 'event storm' }]);
  assert.equal(s.w.pending, 0);
  // an event on the root itself is a storm on its own
  s.w.touch('');
  assert.equal(s.w.pending, 50);
  await waitFor(() => s.batches.length > 1, 'the second everything batch');
  assert.deepEqual(s.batches[1]!.batch, { kind: 'everything', reason: 'event storm' });
});

test('close() is idempotent and nothing is handed over after it', async (t) => {
  const root = tree();
  const s = await start(t, root);
  const control = await start(t, root); // a second watcher on the same folder shows when a batch would be due
  writeFileSync(join(root, 'late.txt'), '1');
  await waitFor(() => s.w.pending > 0, 'the write to be pending');
  await Promise.all([s.w.close(), s.w.close()]);
  await s.w.close();
  assert.equal(s.w.pending, 0, 'pending paths are dropped');
  writeFileSync(join(root, 'after-close.txt'), '1');
  s.w.touch('touched-after-close.txt');
  await waitFor(() => control.paths().has('late.txt') && control.paths().has('after-close.txt'), 'the control watcher');
  await settle(control, root);
  assert.deepEqual(s.batches, [], 'no batch after close()');
  assert.equal(s.w.pending, 0);
});

test('watchedDirs follows mkdir and rmdir', async (t) => {
  const root = tree({ 'a/b/f.txt': '1' });
  const s = await start(t, root);
  const base = s.w.watchedDirs;
  mkdirSync(join(root, 'c'));
  await waitFor(() => s.w.watchedDirs === base + 1, `watchedDirs ${base + 1} after mkdir c (is ${s.w.watchedDirs})`);
  mkdirSync(join(root, 'c', 'd', 'e'), { recursive: true });
  await waitFor(() => s.w.watchedDirs === base + 3, `watchedDirs ${base + 3} after mkdir -p c/d/e (is ${s.w.watchedDirs})`);
  rmSync(join(root, 'c'), { recursive: true });
  await waitFor(() => s.w.watchedDirs === base, `watchedDirs back to ${base} after rm -r c (is ${s.w.watchedDirs})`);
  // an excluded directory costs no watch
  const x = await start(t, tree({ 'a/': '', 'cache/deep/': '' }), { exclude: ['cache/'] });
  const y = await start(t, tree({ 'a/': '' }));
  assert.equal(x.w.watchedDirs, y.w.watchedDirs);
});

test('arming a tree of many directories hands nothing over: they are watched, not new', async (t) => {
  // 3 x 12 directories, more than one chokidar batch each: the arming must not mistake the directories of later
  // batches for ones made while it ran (the daemon would reconcile every directory while still arming).
  const spec: Record<string, string> = {};
  for (let a = 0; a < 3; a++) for (let b = 0; b < 12; b++) spec[`a${a}/b${b}/f.txt`] = `${a}.${b}`;
  const root = tree(spec);
  const s = await start(t, root);
  assert.equal(s.w.watchedDirs, 1 + 3 + 36);
  assert.equal(s.w.pending, 0, 'nothing pending right after arming');
  await settle(s, root);
  assert.deepEqual([...s.paths()].filter((p) => !p.startsWith('sentinel-')), [], 'no path handed over but the sentinel');
  writeFileSync(join(root, 'a2', 'b11', 'late.txt'), '1');
  await waitFor(() => s.paths().has('a2/b11/late.txt'), 'a write in the last directory armed');
});

test('watchedDirs counts the root and its subdirectories', async (t) => {
  const root = tree({ 'a/b/f.txt': '1', 'top.txt': '1' });
  const s = await start(t, root);
  assert.equal(s.w.watchedDirs, 3, 'root, a, a/b');
  mkdirSync(join(root, 'c'));
  await waitFor(() => s.paths().has('c'), 'the batch naming c');
  assert.equal(s.w.watchedDirs, 4, 'root, a, a/b, c');
});
