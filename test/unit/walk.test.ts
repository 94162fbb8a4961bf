// Unit tests for src/local/walk.ts (the folder in key order, for the streamed reconcile) on real temp directories:
// the order contract on awkward names (astral vs U+FFxx, NFD, '.', '-', '0', a directory and a file of one stem,
// deep nesting), batches and the event loop, unreadable directories (as `nobody` when the tests run as root),
// Unicode-normalisation twins (files and directories), symbolic link loops, excludes, other file systems, and
// that scanFolder collects exactly what the walk yields. Temp files only under os.tmpdir() (and /dev/shm).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compareKeys } from '../../src/keys.js';
import { scanFolder } from '../../src/local/scan.js';
import { walkInKeyOrder, type WalkItem, type WalkTotals } from '../../src/local/walk.js';
import { tree } from '../harness/tree.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

type Opts = Partial<Parameters<typeof walkInKeyOrder>[0]>;

async function walk(root: string, over: Opts = {}): Promise<{ items: WalkItem[]; batches: number[]; totals: WalkTotals }> {
  const w = walkInKeyOrder({ root, prefix: 'p/', exclude: [], followSymlinks: false, ...over });
  const items: WalkItem[] = [];
  const batches: number[] = [];
  for await (const b of w.batches) {
    batches.push(b.length);
    items.push(...b);
  }
  return { items, batches, totals: w.totals };
}

const position = (i: WalkItem): string => (i.kind === 'file' ? i.file.key : i.kind === 'unknown-prefix' ? i.prefix : i.key);
/** Items as short strings: `f:key`, `P:prefix`, `K:key`. */
const shown = (items: WalkItem[]): string[] => items.map((i) => `${i.kind === 'file' ? 'f' : i.kind === 'unknown-prefix' ? 'P' : 'K'}:${position(i)}`);
const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** The order contract: positions never go down, in compareKeys and in raw UTF-8 bytes; file keys are unique. */
function assertKeyOrder(items: WalkItem[]): void {
  const pos = items.map(position);
  for (let i = 1; i < pos.length; i++) {
    assert.ok(compareKeys(pos[i - 1]!, pos[i]!) <= 0, `compareKeys: ${JSON.stringify(pos[i - 1])} then ${JSON.stringify(pos[i])}`);
    assert.ok(utf8Order(pos[i - 1]!, pos[i]!) <= 0, `UTF-8: ${JSON.stringify(pos[i - 1])} then ${JSON.stringify(pos[i])}`);
  }
  assert.deepEqual(pos, [...pos].sort(compareKeys), 'the yielded order is the sorted order');
  assert.deepEqual(pos, [...pos].sort(utf8Order), 'and the UTF-8 byte order');
  const keys = items.filter((i) => i.kind === 'file').map(position);
  assert.equal(new Set(keys).size, keys.length, 'no key twice');
}

// Names whose UTF-16 order, UTF-8 order and normalisation disagree, and that sort around '/'.
const NAMES = ['a', 'a.txt', 'a-b', 'a0', 'a b', 'A', 'b', '.', '-', '0', '.hidden', 'z', '\u{1F600}', '\uFFEE', '\uE000', '\uD7FF',
  'cafe\u0301', 'caf\u00e9x', 'e\u0301\u0323', '\u4e2d', '\u{10000}x', 'x\u{1F600}', 'x\uFFEE'];

/** A tree with each name as a file and as a directory `<name>.d` / `<name>/`-style stems, nested, plus a deep path. */
function awkwardTree(): string {
  const files: Record<string, string> = {};
  const usable = NAMES.filter((n) => n !== '.');
  usable.forEach((n, i) => {
    // the same stem as a file in one directory and as a directory in another: "a" < "a.txt" < "a/" < "a0"
    files[`top/${n}`] = 'f';
    files[`top/${n}.txt`] = 'f';
    if (i % 2 === 0) files[`dirs/${n}/${n}`] = 'f';
    else files[`dirs/${n}`] = 'f';
    files[`mixed/${n}/x`] = 'f';
    files[`mixed/${n}-`] = 'f';
    files[`mixed/${n}.`] = 'f';
  });
  for (const rel of ['stem/q-', 'stem/q.txt', 'stem/q/x', 'stem/q0']) files[rel] = 'f';
  files[Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? '\u{1F600}' : i % 3 === 1 ? '\uFFEE' : 'd')).join('/') + '/leaf'] = 'deep';
  for (let i = 0; i < 1500; i++) files[`many/${i}`] = '';
  return tree(files, 'walk-order');
}

test('order: positions never decrease (compareKeys = UTF-8 bytes), on astral, NFD, punctuation and same-stem names', async () => {
  const root = awkwardTree();
  const { items, batches, totals } = await walk(root);
  assertKeyOrder(items);
  assert.ok(items.every((i) => i.kind === 'file'), JSON.stringify(totals.problems));
  assert.deepEqual(totals.problems, []);
  assert.equal(items.length, totals.regularFiles);
  // keys are NFC, rel keeps the bytes on disk
  const nfd = items.find((i) => i.kind === 'file' && i.file.rel === 'top/cafe\u0301')!;
  assert.equal(position(nfd), 'p/top/caf\u00e9');
  // a directory sorts as its name plus '/': "q-" < "q.txt" < "q/" < "q0" (a sort by name would put "q/x" first)
  assert.deepEqual(shown(items).filter((s) => s.startsWith('f:p/stem/')), ['f:p/stem/q-', 'f:p/stem/q.txt', 'f:p/stem/q/x', 'f:p/stem/q0']);
  // an astral character (UTF-16 surrogates, below U+FFEE in UTF-16) sorts after U+FFEE in UTF-8
  const astral = shown(items).indexOf('f:p/top/\u{1F600}');
  assert.ok(astral > shown(items).indexOf('f:p/top/\uFFEE'), 'U+1F600 after U+FFEE');
  assert.ok(shown(items).some((s) => s.endsWith('/leaf')), 'the 60-deep file');
  // batches of at most ~1,000 items
  assert.ok(batches.length >= 2 && batches.every((n) => n > 0 && n <= 1000), JSON.stringify(batches));
});

test('scanFolder collects exactly what the walk yields', async () => {
  const root = awkwardTree();
  writeFileSync(join(root, 'top', 'bad\u0001name'), 'x');
  writeFileSync(join(root, 'top', 'tw\u00ef'), '1');
  writeFileSync(join(root, 'top', 'twi\u0308'), '2');
  const { items, totals } = await walk(root);
  assertKeyOrder(items);
  const r = await scanFolder({ root, prefix: 'p/', exclude: [], followSymlinks: false });
  const files = items.flatMap((i) => (i.kind === 'file' ? [i.file] : []));
  assert.deepEqual([...r.files.values()], files, 'the same files, in key order');
  assert.deepEqual([...r.unknownKeys], items.flatMap((i) => (i.kind === 'unknown-key' ? [i.key] : [])));
  assert.deepEqual(r.unknownKeys, new Set(['p/top/bad\u0001name', 'p/top/tw\u00ef']));
  assert.deepEqual(r.problems, totals.problems);
  assert.equal(r.dirs, totals.dirs);
  assert.equal(r.regularFiles, totals.regularFiles);
});

test('batches: the event loop gets in every ~8 ms (the consumer\'s time counts), and an aborted signal stops the walk', async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 3500; i++) files[`d${i % 7}/f${i}`] = '';
  const root = tree(files, 'walk-batches');
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const seen: number[] = [];
  try {
    for await (const b of walkInKeyOrder({ root, prefix: '', exclude: [], followSymlinks: false }).batches) {
      seen.push(ticks);
      const until = performance.now() + 12; // a slow consumer: each batch takes longer than a slice
      while (performance.now() < until) { /* busy */ }
      assert.ok(b.length <= 1000);
    }
  } finally {
    clearInterval(timer);
  }
  assert.ok(seen.length >= 4, JSON.stringify(seen));
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `timers ran between batches ${i - 1} and ${i}: ${JSON.stringify(seen)}`);

  const ac = new AbortController();
  ac.abort();
  await assert.rejects(async () => {
    for await (const b of walkInKeyOrder({ root, prefix: '', exclude: [], followSymlinks: false, signal: ac.signal }).batches) assert.fail(`got ${b.length}`);
  }, { name: 'AbortError' });
});

test('NFC twins: twin files fail and their key is unknown; twin directories fail and nothing under them is mirrored', async () => {
  const nfc = 'caf\u00e9';
  const nfd = 'cafe\u0301';
  const root = tree({
    'a.txt': '1', [`${nfc}.txt`]: 'one', [`${nfd}.txt`]: 'two',
    [`${nfc}/x.txt`]: 'one', [`${nfd}/x.txt`]: 'two', [`${nfd}/only-here.txt`]: 'three', [`${nfd}/sub/y`]: '4',
    [`${nfc}0`]: 'after', [`${nfc}-`]: 'before', 'z.txt': '1',
  });
  const { items, totals } = await walk(root);
  assertKeyOrder(items);
  assert.deepEqual(shown(items), ['f:p/a.txt', `f:p/${nfc}-`, `K:p/${nfc}.txt`, `P:p/${nfc}/`, `f:p/${nfc}0`, 'f:p/z.txt']);
  const failed = totals.problems.filter((p) => p.kind === 'failed');
  assert.deepEqual(failed.map((p) => p.rel).sort(), [`${nfc}.txt`, `${nfd}.txt`, nfc, nfd].sort());
  // the files name each other (as today), the directories too, and say nothing under them is mirrored
  assert.match(failed.find((p) => p.rel === `${nfc}.txt`)!.reason, new RegExp(`"${nfd}\\.txt" \\(NFD\\) differ only in Unicode normalisation and would be the same key "p/${nfc}\\.txt"`));
  assert.match(failed.find((p) => p.rel === `${nfd}.txt`)!.reason, new RegExp(`"${nfc}\\.txt" \\(NFC\\) differ only in Unicode normalisation`));
  assert.match(failed.find((p) => p.rel === nfd)!.reason, new RegExp(`directory "${nfc}" \\(NFC\\) differ only in Unicode normalisation and would be the same key prefix "p/${nfc}/", so nothing under either is mirrored or deleted`));
  assert.match(failed.find((p) => p.rel === nfc)!.reason, new RegExp(`directory "${nfd}" \\(NFD\\)`));
  assert.equal(totals.dirs, 1, 'neither twin directory is read');
  assert.equal(totals.regularFiles, 6, 'a.txt, the two twins, café-, café0, z.txt');
  // the scan: the same
  const r = await scanFolder({ root, prefix: 'p/', exclude: [], followSymlinks: false });
  assert.deepEqual([...r.files.keys()], ['p/a.txt', `p/${nfc}-`, `p/${nfc}0`, 'p/z.txt']);
  assert.deepEqual(r.unknownPrefixes, [`p/${nfc}/`]);
  assert.deepEqual([...r.unknownKeys], [`p/${nfc}.txt`]);
});

test('NFC twins: a twin that is not a regular file (FIFO) does not stop the file; three spellings all fail', async (t) => {
  const root = tree({ 'e\u0323\u0302.txt': '1', '\u1ec7.txt': '2', '\u1eb9\u0302.txt': '3' }); // ệ three ways
  const { items, totals } = await walk(root);
  assert.deepEqual(shown(items), ['K:p/\u1ec7.txt']);
  assert.equal(totals.problems.length, 3, JSON.stringify(totals.problems));
  assert.ok(totals.problems.every((p) => p.kind === 'failed' && /Unicode normalisation/.test(p.reason)));
  const fifoRoot = tree({ 'caf\u00e9': 'file' });
  const mk = spawnSync('mkfifo', [join(fifoRoot, 'cafe\u0301')]);
  if (mk.status !== 0) return t.skip('mkfifo not available');
  const f = await walk(fifoRoot);
  assert.deepEqual(shown(f.items), ['f:p/caf\u00e9']);
  assert.deepEqual(f.totals.problems.map((p) => [p.rel, p.kind]), [['cafe\u0301', 'skipped']]);
});

test('followSymlinks: a loop, a link to an ancestor and a second link to one directory are reported at their place; the first link is walked', async () => {
  const outside = tree({ 'o.txt': 'o', 'deep/d.txt': 'd' });
  const root = tree({ 'a.txt': '1', 'sub/b.txt': '2', 'zz.txt': '3' });
  symlinkSync('..', join(root, 'sub', 'up'));
  symlinkSync('.', join(root, 'self'));
  symlinkSync('loop', join(root, 'loop'));
  symlinkSync(outside, join(root, 'l1'));
  symlinkSync(outside, join(root, 'l2'));
  symlinkSync(join(outside, 'o.txt'), join(root, 'l1.txt'));
  const { items, totals } = await walk(root, { followSymlinks: true });
  assertKeyOrder(items);
  // a link to a directory sorts as a directory: "l1.txt" < "l1/"
  assert.deepEqual(shown(items), ['f:p/a.txt', 'f:p/l1.txt', 'f:p/l1/deep/d.txt', 'f:p/l1/o.txt', 'f:p/sub/b.txt', 'f:p/zz.txt']);
  assert.deepEqual(totals.problems.map((p) => [p.rel, p.kind, /loop/.test(p.reason)]), [
    ['l2', 'failed', true], ['loop', 'failed', true], ['self', 'failed', true], ['sub/up', 'failed', true],
  ]);
  // not followed: notices, nothing else
  const plain = await walk(root);
  assert.deepEqual(shown(plain.items), ['f:p/a.txt', 'f:p/sub/b.txt', 'f:p/zz.txt']);
  assert.ok(plain.totals.problems.every((p) => p.kind === 'skipped' && /not followed/.test(p.reason)));
});

test('excludes: an excluded directory is not entered, a file of the same stem is kept; the state DB is never yielded', async () => {
  const root = tree({ 'build/out.js': '1', 'build.txt': '1', 'src/build/x': '1', 'src/a.tmp': '1', 'src/main.ts': '1', 'state.db': 'x' });
  const { items, totals } = await walk(root, { exclude: ['build/', '*.tmp'], alwaysExclude: [join(root, 'state.db')] });
  assert.deepEqual(shown(items), ['f:p/build.txt', 'f:p/src/main.ts']);
  assert.equal(totals.dirs, 2, 'root and src');
  assert.deepEqual(totals.problems, []);
});

test('oneFileSystem: a directory and a file on another file system are held at their place (unknown), not walked', async (t) => {
  let shm: string;
  try {
    shm = mkdtempSync('/dev/shm/r2mirror-walk-');
  } catch {
    return t.skip('no /dev/shm');
  }
  t.after(() => rmSync(shm, { recursive: true, force: true }));
  writeFileSync(join(shm, 'f'), 'x');
  mkdirSync(join(shm, 'd'));
  writeFileSync(join(shm, 'd', 'inner'), 'y');
  const root = tree({ 'a.txt': '1', 'm.txt': '1' });
  symlinkSync(join(shm, 'd'), join(root, 'm'));
  symlinkSync(join(shm, 'f'), join(root, 'f'));
  if (statSync(shm).dev === statSync(root).dev) return t.skip('/dev/shm is on the same file system as the temp directory');
  const same = await walk(root, { followSymlinks: true });
  assert.deepEqual(shown(same.items), ['f:p/a.txt', 'f:p/f', 'f:p/m.txt', 'f:p/m/inner'], 'without oneFileSystem: followed');
  const { items, totals } = await walk(root, { followSymlinks: true, oneFileSystem: true });
  assert.deepEqual(shown(items), ['f:p/a.txt', 'K:p/f', 'f:p/m.txt', 'P:p/m/']);
  assert.deepEqual(totals.problems.map((p) => [p.rel, p.kind]), [['f', 'skipped'], ['m', 'skipped']]);
});

// --- unreadable directories ------------------------------------------------------------------------------

/** Runs as a child process (as `nobody` when the tests run as root): walks each argv root, prints the items. */
const CHILD = `
import { walkInKeyOrder } from ${JSON.stringify(pathToFileURL(join(REPO, 'src/local/walk.ts')).href)};
const out = [];
for (const root of process.argv.slice(2)) {
  const w = walkInKeyOrder({ root, prefix: 'p/', exclude: [], followSymlinks: false });
  const items = [];
  for await (const b of w.batches) items.push(...b);
  out.push({ items, problems: w.totals.problems, dirs: w.totals.dirs });
}
process.stdout.write(JSON.stringify(out));
`;

interface Seen { items: WalkItem[]; problems: WalkTotals['problems']; dirs: number }

/** Walk `roots` with `locked` at mode 000; as root (who reads through mode 000) in a child as nobody via setpriv. */
async function walkLocked(top: string, locked: string, roots: string[]): Promise<Seen[] | string> {
  if (process.getuid?.() !== 0) {
    chmodSync(locked, 0o000);
    try {
      const out: Seen[] = [];
      for (const root of roots) {
        const w = await walk(root);
        out.push({ items: w.items, problems: w.totals.problems, dirs: w.totals.dirs });
      }
      return out;
    } finally {
      chmodSync(locked, 0o755);
    }
  }
  chmodSync(top, 0o755); // mkdtemp makes it 0700
  chmodSync(locked, 0o000);
  const scriptDir = tree({}, 'child');
  chmodSync(scriptDir, 0o755);
  const script = join(scriptDir, 'child.mjs');
  writeFileSync(script, CHILD, { mode: 0o644 });
  const child = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', script, ...roots], {
    cwd: REPO, encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' },
  });
  chmodSync(locked, 0o755);
  if (child.error) return `cannot run setpriv to walk as nobody: ${child.error.message}`;
  if (child.status !== 0) return `the walk as nobody failed: ${child.stderr.trim().split('\n').slice(-3).join(' ')}`;
  return JSON.parse(child.stdout) as Seen[];
}

test('an unreadable directory is an unknown prefix at its place; an unreadable root is the whole prefix', async (t) => {
  const top = tree({ 'a.txt': '1', 'locked.txt': '1', 'locked/secret.txt': '3', 'locked/deeper/s.txt': '4', 'locked0.txt': '1', 'lockedz/y': '1' });
  const locked = join(top, 'locked');
  const seen = await walkLocked(top, locked, [top, locked]);
  if (typeof seen === 'string') return t.skip(`running as root, and ${seen}`);
  const [sub, root] = seen as [Seen, Seen];
  assert.deepEqual(shown(sub.items), ['f:p/a.txt', 'f:p/locked.txt', 'P:p/locked/', 'f:p/locked0.txt', 'f:p/lockedz/y']);
  assertKeyOrder(sub.items);
  assert.deepEqual(sub.problems.map((p) => [p.rel, p.kind]), [['locked', 'failed']]);
  assert.match(sub.problems[0]!.reason, /cannot read directory: EACCES/);
  assert.equal(sub.dirs, 2, 'root and lockedz');
  assert.deepEqual(shown(root.items), ['P:p/']);
  assert.deepEqual(root.problems.map((p) => [p.rel, p.kind]), [['.', 'failed']]);
  assert.equal(root.dirs, 0);
});

test('a missing root throws at once', () => {
  assert.throws(() => walkInKeyOrder({ root: join(tree(), 'gone'), prefix: '', exclude: [], followSymlinks: false }), { code: 'ENOENT' });
});
