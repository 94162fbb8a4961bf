// Unit tests for the scoped scan (scanFolder with `only`, the daemon's scope: the paths its watcher named) on real
// temp directories: files, directories, missing and excluded paths, symlinks, Unicode-normalisation twins outside
// the scope, and unreadable paths (as `nobody` when the tests run as root, since root reads through chmod 000).
// Temp files only under os.tmpdir().

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { scanFolder, type ScanOptions, type ScanResult } from '../../src/local/scan.js';
import { tree } from '../harness/tree.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function scope(root: string, only: string[], over: Partial<ScanOptions> = {}): Promise<ScanResult> {
  return scanFolder({ root, prefix: 'p/', exclude: [], followSymlinks: false, only, ...over });
}

const keys = (r: ScanResult): string[] => [...r.files.keys()].sort();
const problem = (r: ScanResult, rel: string) => r.problems.find((p) => p.rel === rel);

/** Nothing found, nothing reported, nothing made unknown. */
function assertEmpty(r: ScanResult, what: string): void {
  assert.deepEqual(keys(r), [], what);
  assert.deepEqual(r.problems, [], what);
  assert.deepEqual(r.unknownPrefixes, [], what);
  assert.equal(r.unknownKeys.size, 0, what);
}

const NFC = 'caf\u00e9.txt';
const NFD = 'cafe\u0301.txt';

test('scope: a file gives that file only, with its rel and key', async () => {
  const root = tree({ 'a.txt': '1', 'b.txt': '22', 'd/c.txt': '333' });
  const r = await scope(root, ['d/c.txt']);
  assert.deepEqual(keys(r), ['p/d/c.txt']);
  assert.equal(r.files.get('p/d/c.txt')!.rel, 'd/c.txt');
  assert.equal(r.files.get('p/d/c.txt')!.size, 3);
  assert.deepEqual(r.problems, []);
  assert.equal(r.dirs, 0, 'a file in scope walks no directory');
});

test('scope: a directory gives every file under it, nested, and none of its siblings', async () => {
  const root = tree({ 'top.txt': '1', 'd/a.txt': '1', 'd/e/b.txt': '1', 'd/e/f/c.txt': '1', 'd/empty/': '', 'other/x.txt': '1' });
  const r = await scope(root, ['d']);
  assert.deepEqual(keys(r), ['p/d/a.txt', 'p/d/e/b.txt', 'p/d/e/f/c.txt']);
  assert.deepEqual(r.problems, []);
  assert.equal(r.dirs, 4, 'd, d/e, d/e/f, d/empty');
});

test('scope: several paths together, duplicates named once', async () => {
  const root = tree({ 'a.txt': '1', 'b/c.txt': '1', 'z.txt': '1' });
  const r = await scope(root, ['a.txt', 'b', 'a.txt']);
  assert.deepEqual(keys(r), ['p/a.txt', 'p/b/c.txt']);
  assert.deepEqual(r.problems, []);
});

test('scope: a directory and a file under it, both named (a new directory and its file, as the watcher batches them)', async () => {
  // The watcher reports a mkdir and the file created in it as ['nd', 'nd/f.txt']: the file must not collide
  // with itself as an NFC/NFD twin.
  const root = tree({ 'nd/f.txt': '1', 'nd/sub/g.txt': '1' });
  for (const only of [['nd', 'nd/f.txt'], ['nd/f.txt', 'nd'], ['nd', 'nd/sub']]) {
    const r = await scope(root, only);
    assert.deepEqual(keys(r), ['p/nd/f.txt', 'p/nd/sub/g.txt'], `only ${JSON.stringify(only)}: ${JSON.stringify(r.problems)}`);
    assert.deepEqual(r.problems, [], `only ${JSON.stringify(only)}`);
    assert.equal(r.unknownKeys.size, 0, `only ${JSON.stringify(only)}`);
  }
});

test('scope: a missing path gives nothing and reports nothing (its rows are removals)', async () => {
  const root = tree({ 'a.txt': '1', 'file.txt': '1' });
  assertEmpty(await scope(root, ['gone.txt']), 'a missing file');
  assertEmpty(await scope(root, ['gone/deeper/x.txt']), 'a missing directory on the way');
  assertEmpty(await scope(root, ['file.txt/x']), 'a file on the way (ENOTDIR)');
  assertEmpty(await scope(root, ['']), 'the root itself is not a scope entry');
});

test('scope: an excluded path or a path under an excluded directory gives nothing', async () => {
  const root = tree({ 'a.tmp': '1', 'keep.txt': '1', 'cache/x.txt': '1', 'cache/deep/y.txt': '1', 'sub/cache/z.txt': '1', 'sub/b.tmp': '1' });
  const exclude = ['*.tmp', 'cache/'];
  for (const rel of ['a.tmp', 'sub/b.tmp', 'cache', 'cache/x.txt', 'cache/deep', 'cache/deep/y.txt', 'sub/cache', 'sub/cache/z.txt']) {
    assertEmpty(await scope(root, [rel], { exclude }), rel);
  }
  // a directory in scope is walked with the excludes applied
  const r = await scope(root, ['sub', 'keep.txt'], { exclude });
  assert.deepEqual(keys(r), ['p/keep.txt']);
  assert.deepEqual(r.problems, []);
});

test('scope: alwaysExclude (the state DB) gives nothing, named or walked', async () => {
  const root = tree({ 'state.db': 'x', 'doc.txt': '1' });
  const alwaysExclude = [join(root, 'state.db')];
  assertEmpty(await scope(root, ['state.db'], { alwaysExclude }), 'named');
  const r = await scope(root, ['state.db', 'doc.txt'], { alwaysExclude });
  assert.deepEqual(keys(r), ['p/doc.txt']);
});

test('scope: a symlink with followSymlinks false is a skipped notice, not a file', async () => {
  const root = tree({ 'real.txt': 'abc', 'dir/inner.txt': 'x' });
  symlinkSync('real.txt', join(root, 'file-link'));
  symlinkSync('dir', join(root, 'dir-link'));
  symlinkSync('nowhere', join(root, 'dangling'));
  const r = await scope(root, ['file-link', 'dir-link', 'dangling']);
  assert.deepEqual(keys(r), []);
  for (const rel of ['file-link', 'dir-link', 'dangling']) {
    const p = problem(r, rel);
    assert.equal(p?.kind, 'skipped', rel);
    assert.match(p!.reason, /symbolic link not followed.*followSymlinks/, rel);
  }
  assert.equal(r.problems.length, 3);
  assert.equal(r.unknownKeys.size, 0);
  // followed, the file link is a file under the link's name
  const f = await scope(root, ['file-link'], { followSymlinks: true });
  assert.deepEqual(keys(f), ['p/file-link']);
  assert.equal(f.files.get('p/file-link')!.size, 3);
});

test('scope: a path through a symlinked directory is not a file when followSymlinks is false', async () => {
  // The full walk never enters dir-link (it is a skipped notice), so the scope must not reach through it either:
  // a directory replaced by a link to elsewhere must not mirror what the link points at.
  const outside = tree({ 'secret.txt': 'outside the folder' });
  const root = tree({ 'dir/inner.txt': 'x' });
  symlinkSync('dir', join(root, 'dir-link'));
  symlinkSync(outside, join(root, 'out-link'));
  const full = await scanFolder({ root, prefix: 'p/', exclude: [], followSymlinks: false });
  assert.deepEqual(keys(full), ['p/dir/inner.txt'], 'the full walk: links skipped');
  const r = await scope(root, ['dir-link/inner.txt', 'out-link/secret.txt']);
  assert.deepEqual(keys(r), [], `the scope reached through a symlinked directory: ${JSON.stringify(keys(r))}`);
});

test('scope: an NFD name whose NFC twin is outside the scope fails, names both, and its key is unknown', async () => {
  const root = tree({ [NFC]: 'one', [NFD]: 'two', 'other.txt': 'x' });
  const r = await scope(root, [NFD, 'other.txt']);
  assert.deepEqual(keys(r), ['p/other.txt'], 'the scoped twin is not mirrored');
  const failed = r.problems.filter((p) => p.kind === 'failed');
  assert.equal(failed.length, 1, JSON.stringify(r.problems));
  assert.equal(failed[0]!.rel, NFD, 'the problem is about the scoped name');
  assert.ok(failed[0]!.reason.includes(`"${NFC}" (NFC)`), `names the twin outside the scope: ${failed[0]!.reason}`);
  assert.match(failed[0]!.reason, /Unicode normalisation.*"p\/café\.txt"/);
  assert.deepEqual([...r.unknownKeys], ['p/caf\u00e9.txt'], 'the key is unknown: never deleted remotely');

  // the other way round, and in a subdirectory
  const sub = tree({ [`d/${NFC}`]: 'one', [`d/${NFD}`]: 'two' });
  const r2 = await scope(sub, [`d/${NFC}`]);
  assert.deepEqual(keys(r2), []);
  assert.equal(problem(r2, `d/${NFC}`)?.kind, 'failed');
  assert.ok(problem(r2, `d/${NFC}`)!.reason.includes(`"d/${NFD}" (NFD)`), problem(r2, `d/${NFC}`)!.reason);
  assert.deepEqual([...r2.unknownKeys], ['p/d/caf\u00e9.txt']);

  // both spellings in scope: the ordinary twin check, one problem each
  const r3 = await scope(root, [NFC, NFD]);
  assert.deepEqual(keys(r3), []);
  assert.deepEqual(r3.problems.map((p) => p.rel).sort(), [NFC, NFD].sort());
  assert.deepEqual([...r3.unknownKeys], ['p/caf\u00e9.txt']);
});

test('scope: a file under an NFD directory whose NFC twin directory holds the same name fails (same key)', async () => {
  // 'café/x.txt' (NFC dir) and 'cafe\u0301/x.txt' (NFD dir) are one key; the full walk fails both.
  const dirNfc = 'caf\u00e9';
  const dirNfd = 'cafe\u0301';
  const root = tree({ [`${dirNfc}/x.txt`]: 'one', [`${dirNfd}/x.txt`]: 'two' });
  const full = await scanFolder({ root, prefix: 'p/', exclude: [], followSymlinks: false });
  assert.deepEqual(keys(full), [], 'the full walk mirrors neither');
  const r = await scope(root, [`${dirNfd}/x.txt`]);
  assert.deepEqual(keys(r), [], `the scoped scan mirrored ${JSON.stringify(keys(r))} over its twin's key`);
  assert.equal(problem(r, `${dirNfd}/x.txt`)?.kind, 'failed');
  assert.ok(r.unknownKeys.has('p/caf\u00e9/x.txt'));
});

// --- unreadable paths in scope ---------------------------------------------------------------------------

interface Seen {
  keys: string[];
  problems: { rel: string; reason: string; kind: string }[];
  unknownPrefixes: string[];
  unknownKeys: string[];
}

/** Runs as a child process (as `nobody` when the tests run as root): one scoped scan per JSON argv entry. */
const CHILD = `
import { scanFolder } from ${JSON.stringify(pathToFileURL(join(REPO, 'src/local/scan.ts')).href)};
const out = [];
for (const arg of process.argv.slice(2)) {
  const { root, only } = JSON.parse(arg);
  const r = await scanFolder({ root, prefix: 'p/', exclude: [], followSymlinks: false, only });
  out.push({ keys: [...r.files.keys()].sort(), problems: r.problems, unknownPrefixes: r.unknownPrefixes, unknownKeys: [...r.unknownKeys] });
}
process.stdout.write(JSON.stringify(out));
`;

/**
 * Scoped scans of `root` with each of `onlys`, with `locked` at mode 000. As root (who reads through mode 000)
 * the scans run in a child as nobody (uid 65534) via setpriv, with the tree world-readable except `locked`;
 * returns a reason string when that cannot be done.
 */
async function scopeLocked(root: string, locked: string[], onlys: string[][]): Promise<Seen[] | string> {
  const toSeen = (r: ScanResult): Seen => ({ keys: keys(r), problems: r.problems, unknownPrefixes: r.unknownPrefixes, unknownKeys: [...r.unknownKeys] });
  if (process.getuid?.() !== 0) {
    for (const l of locked) chmodSync(l, 0o000);
    try {
      const out: Seen[] = [];
      for (const only of onlys) out.push(toSeen(await scope(root, only)));
      return out;
    } finally {
      for (const l of locked) chmodSync(l, 0o755);
    }
  }
  chmodSync(root, 0o755); // mkdtemp makes it 0700
  for (const l of locked) chmodSync(l, 0o000);
  const scriptDir = tree({}, 'child');
  chmodSync(scriptDir, 0o755);
  const script = join(scriptDir, 'child.mjs');
  writeFileSync(script, CHILD, { mode: 0o644 });
  const args = onlys.map((only) => JSON.stringify({ root, only }));
  const child = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', script, ...args], {
    cwd: REPO, encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' },
  });
  for (const l of locked) chmodSync(l, 0o755);
  if (child.error) return `cannot run setpriv to scan as nobody: ${child.error.message}`;
  if (child.status !== 0) return `the scan as nobody failed: ${child.stderr.trim().split('\n').slice(-3).join(' ')}`;
  return JSON.parse(child.stdout) as Seen[];
}

test('scope: an unreadable path in scope fails and is unknown; a mode-000 file is listed like the full walk lists it', async (t) => {
  const root = tree({ 'ok.txt': '1', 'locked/secret.txt': '2', 'locked/deeper/s.txt': '3', 'nopen.txt': '4' });
  const seen = await scopeLocked(root, [join(root, 'locked'), join(root, 'nopen.txt')], [
    ['locked/secret.txt', 'ok.txt'],
    ['locked'],
    ['nopen.txt'],
  ]);
  if (typeof seen === 'string') {
    t.skip(`running as root (who reads anything), and ${seen}`);
    return;
  }
  const [inLocked, lockedDir, modeless] = seen as [Seen, Seen, Seen];

  // a file inside a mode-000 directory cannot even be statted: failed, and its key must not look deleted
  assert.deepEqual(inLocked.keys, ['p/ok.txt']);
  assert.equal(inLocked.problems.length, 1, JSON.stringify(inLocked.problems));
  assert.equal(inLocked.problems[0]!.rel, 'locked/secret.txt');
  assert.equal(inLocked.problems[0]!.kind, 'failed');
  assert.match(inLocked.problems[0]!.reason, /cannot stat: EACCES/);
  assert.deepEqual(inLocked.unknownKeys, ['p/locked/secret.txt']);

  // the mode-000 directory itself: cannot be read, its whole prefix is unknown
  assert.deepEqual(lockedDir.keys, []);
  assert.deepEqual(lockedDir.problems.map((p) => [p.rel, p.kind]), [['locked', 'failed']]);
  assert.match(lockedDir.problems[0]!.reason, /cannot read directory: EACCES/);
  assert.deepEqual(lockedDir.unknownPrefixes, ['p/locked/']);

  // a mode-000 file: the scan reads no content (lstat needs no read permission), so like the full walk it lists
  // the file; reading it is the transfer's job, which reports the failure.
  assert.deepEqual(modeless.keys, ['p/nopen.txt']);
  assert.deepEqual(modeless.problems, []);
});
