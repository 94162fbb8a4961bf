// Unit tests for src/local/place.ts on real temp dirs: a placed file has its content and mtime, parents are made,
// an existing file is replaced by one rename (or left alone without `replace`), a failure at any step leaves the
// old file untouched, a symbolic link cannot carry a file out of the root, and no temp file is ever left behind.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutsideRootError, TargetExistsError, TempFile, makeDir, syncDirs } from '../../src/local/place.js';

let root = '';
let n = 0;
/** A fresh directory under the test root. */
const fresh = () => {
  const d = join(root, `case-${++n}`);
  fs.mkdirSync(d);
  return d;
};
/** Every entry under dir, recursively, '/'-separated and sorted. */
const entries = (dir: string) => (fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[]).map((p) => p.split('\\').join('/')).sort();
const temps = (dir: string) => entries(dir).filter((p) => p.includes('.r2mirror-tmp-'));

/** Write `content` through a TempFile and commit it. */
async function place(target: string, content: string, opts: { replace: boolean; mtimeNs?: bigint }, root?: string): Promise<void> {
  const file = await TempFile.create(target, { root });
  try {
    await file.write(Buffer.from(content));
    await file.commit(opts);
  } finally {
    await file.discard();
  }
}

before(() => {
  root = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'r2mirror-place-')));
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

test('a placed file has its content and mtime (to the microsecond, before 1970 too), its parents are made, no temp is left', async () => {
  const dir = fresh();
  for (const ns of [1_600_000_000_123_456_789n, -315_619_199_500_000_000n]) {
    const target = join(dir, 'a', 'b c', `f${ns}.txt`);
    await place(target, 'hello', { replace: false, mtimeNs: ns }, dir);
    assert.equal(fs.readFileSync(target, 'utf8'), 'hello');
    const d = fs.statSync(target, { bigint: true }).mtimeNs - ns;
    assert.ok(d < 1000n && d > -1000n, `mtime off by ${d} ns`);
  }
  assert.deepEqual(temps(dir), []);
});

test('the temp file is hidden beside the target until commit, and large writes arrive whole', async () => {
  const dir = fresh();
  const target = join(dir, 'big.bin');
  const file = await TempFile.create(target, { root: dir });
  try {
    assert.equal(file.dir, dir);
    assert.match(file.path, /[\\/]\.big\.bin\.r2mirror-tmp-[0-9a-f]{8}$/);
    assert.equal(fs.existsSync(target), false, 'nothing at the target before commit');
    const chunk = Buffer.alloc(3 * 1024 * 1024, 7);
    await file.write(chunk);
    await file.write(chunk);
    await file.commit({ replace: false });
  } finally {
    await file.discard();
  }
  assert.equal(fs.statSync(target).size, 6 * 1024 * 1024);
  assert.deepEqual(entries(dir), ['big.bin']);
});

test('with replace, an existing file is replaced by one rename: a reader of the old file still sees all of it', async () => {
  const dir = fresh();
  const target = join(dir, 'x.txt');
  fs.writeFileSync(target, 'old content');
  const oldIno = fs.statSync(target).ino;
  const reader = fs.openSync(target, 'r');
  try {
    const file = await TempFile.create(target, { root: dir });
    const tmpIno = fs.statSync(file.path).ino;
    try {
      await file.write(Buffer.from('new'));
      await file.commit({ replace: true });
    } finally {
      await file.discard();
    }
    assert.equal(fs.readFileSync(target, 'utf8'), 'new');
    assert.equal(fs.statSync(target).ino, tmpIno, 'the target is the temp file, renamed');
    assert.notEqual(fs.statSync(target).ino, oldIno);
    assert.equal(fs.readFileSync(reader, 'utf8'), 'old content', 'the old file was never written to');
  } finally {
    fs.closeSync(reader);
  }
  assert.deepEqual(entries(dir), ['x.txt']);
});

test('without replace, a file that appeared meanwhile is left alone (TargetExistsError) and the temp is removed', async () => {
  const dir = fresh();
  const target = join(dir, 'x.txt');
  const file = await TempFile.create(target, { root: dir });
  try {
    await file.write(Buffer.from('ours'));
    fs.writeFileSync(target, 'theirs');
    await assert.rejects(file.commit({ replace: false }), (err: unknown) => err instanceof TargetExistsError && err.target === target);
  } finally {
    await file.discard();
  }
  assert.equal(fs.readFileSync(target, 'utf8'), 'theirs');
  assert.deepEqual(entries(dir), ['x.txt']);
});

test('a failure while writing leaves the old file untouched and no temp file', async () => {
  const dir = fresh();
  const target = join(dir, 'x.txt');
  fs.writeFileSync(target, 'old');
  const file = await TempFile.create(target, { root: dir });
  await assert.rejects((async () => {
    try {
      await file.write(Buffer.from('half of the new'));
      throw new Error('download broke');
    } finally {
      await file.discard();
    }
  })(), /download broke/);
  assert.equal(fs.readFileSync(target, 'utf8'), 'old');
  assert.deepEqual(entries(dir), ['x.txt']);
  await file.discard(); // a second discard is harmless
});

test('a failure in commit (the target is a directory) leaves it untouched and no temp file', async () => {
  const dir = fresh();
  const target = join(dir, 'd');
  fs.mkdirSync(target);
  fs.writeFileSync(join(target, 'inside'), 'keep');
  const file = await TempFile.create(target, { root: dir });
  try {
    await file.write(Buffer.from('new'));
    await assert.rejects(file.commit({ replace: true }));
  } finally {
    await file.discard();
  }
  assert.deepEqual(entries(dir), ['d', 'd/inside']);
  assert.equal(fs.readFileSync(join(target, 'inside'), 'utf8'), 'keep');
});

test('a parent that is a symbolic link out of the root is refused before anything is written', async () => {
  const dir = fresh();
  const outside = fresh();
  fs.symlinkSync(outside, join(dir, 'link'));
  await assert.rejects(TempFile.create(join(dir, 'link', 'x.txt'), { root: dir }),
    (err: unknown) => err instanceof OutsideRootError && err.dir === join(dir, 'link') && err.root === dir);
  assert.deepEqual(entries(outside), []);
  // A link that stays inside the root is fine.
  fs.mkdirSync(join(dir, 'real'));
  fs.symlinkSync(join(dir, 'real'), join(dir, 'inner'));
  await place(join(dir, 'inner', 'y.txt'), 'y', { replace: false }, dir);
  assert.equal(fs.readFileSync(join(dir, 'real', 'y.txt'), 'utf8'), 'y');
  // Without a root, no check.
  await place(join(dir, 'link', 'z.txt'), 'z', { replace: false });
  assert.deepEqual(entries(outside), ['z.txt']);
});

test('makeDir makes parents and accepts an existing directory; syncDirs never throws', async () => {
  const dir = fresh();
  await makeDir(join(dir, 'p', 'q'));
  await makeDir(join(dir, 'p', 'q'));
  assert.ok(fs.statSync(join(dir, 'p', 'q')).isDirectory());
  await syncDirs([dir, join(dir, 'p', 'q'), join(dir, 'missing')]);
});
