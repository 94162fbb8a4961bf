// Unit tests for src/local/scan.ts on real temp directories: keys, excludes, symlinks (skipped, followed, loops,
// dangling), NFC/NFD twins, invalid UTF-8 and over-long names, FIFOs, and unreadable directories (as `nobody`
// when the tests run as root, since root reads through chmod 000). Temp files only under os.tmpdir().

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync, mkdirSync, statSync, symlinkSync, utimesSync, writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ignore from 'ignore';
import { RESTORE_TEMP_PATTERN, excludedPath, makeMatcher, sameVersion, scanFolder, statFile, versionOf, type ScanOptions, type ScanResult } from '../../src/local/scan.js';
import { tree } from '../harness/tree.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function scan(root: string, over: Partial<ScanOptions> = {}): Promise<ScanResult> {
  return scanFolder({ root, prefix: 'p/', exclude: [], followSymlinks: false, ...over });
}

const keys = (r: ScanResult): string[] => [...r.files.keys()].sort();
const problem = (r: ScanResult, rel: string) => r.problems.find((p) => p.rel === rel);

test('walks nested directories into prefixed keys with size, mtime and inode', async () => {
  const root = tree({ 'a.txt': 'hello', 'd1/b.txt': 'xy', 'd1/d2/d3/c.bin': '', 'with space/and more.txt': '12345678', 'empty-dir/': '' });
  const past = new Date('2020-01-02T03:04:05.500Z');
  utimesSync(join(root, 'a.txt'), past, past);
  const r = await scan(root);
  assert.deepEqual(keys(r), ['p/a.txt', 'p/d1/b.txt', 'p/d1/d2/d3/c.bin', 'p/with space/and more.txt']);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.unknownPrefixes, []);
  assert.equal(r.unknownKeys.size, 0);
  const a = r.files.get('p/a.txt')!;
  assert.equal(a.rel, 'a.txt');
  assert.equal(a.size, 5);
  assert.equal(a.mtimeMs, past.getTime());
  assert.equal(a.mtimeNs, String(BigInt(past.getTime()) * 1_000_000n));
  const st = statSync(join(root, 'a.txt'), { bigint: true });
  assert.equal(a.ino, st.ino.toString());
  assert.equal(a.ctimeNs, st.ctimeNs.toString());
  assert.equal(r.files.get('p/d1/d2/d3/c.bin')!.size, 0, 'empty files are mirrored');
  assert.equal(r.files.get('p/with space/and more.txt')!.rel, 'with space/and more.txt');
  assert.equal(r.dirs, 6, 'root, d1, d2, d3, "with space", empty-dir');
});

test('an empty prefix gives keys equal to the relative paths', async () => {
  const r = await scan(tree({ 'x/y.txt': '1' }), { prefix: '' });
  assert.deepEqual(keys(r), ['x/y.txt']);
});

test('unicode names: keys are NFC, rel keeps the bytes on disk', async () => {
  const nfd = 'cafe\u0301.txt';
  const root = tree({ [nfd]: 'x', 'résumé/日本語 😀.md': 'y' });
  const r = await scan(root);
  assert.deepEqual(keys(r), ['p/caf\u00e9.txt', 'p/résumé/日本語 😀.md'.normalize('NFC')]);
  assert.equal(r.files.get('p/caf\u00e9.txt')!.rel, nfd, 'rel is the name as stored, so the file can be opened');
});

test('excludes: file globs, directory patterns prune the walk, negation re-includes', async () => {
  const root = tree({
    'keep.txt': '1', 'a.tmp': '1', 'keep.tmp': '1', 'sub/b.tmp': '1', 'sub/c.txt': '1',
    '.git/HEAD': 'ref', '.git/objects/ab/cd': 'x', 'build/out.js': '1', 'src/build/x.js': '1', 'src/main.ts': '1',
  });
  const r = await scan(root, { exclude: ['*.tmp', '!keep.tmp', '.git/', 'build/'] });
  assert.deepEqual(keys(r), ['p/keep.tmp', 'p/keep.txt', 'p/src/main.ts', 'p/sub/c.txt']);
  assert.deepEqual(r.problems, []);
  assert.equal(r.dirs, 3, 'root, sub and src: .git, build and src/build are not entered');
});

test('an anchored exclude only matches at the root', async () => {
  const r = await scan(tree({ 'logs/a': '1', 'x/logs/b': '1' }), { exclude: ['/logs/'] });
  assert.deepEqual(keys(r), ['p/x/logs/b']);
});

test('makeMatcher is gitignore-style', () => {
  const ig = makeMatcher(['*.log', '!important.log', 'cache/']);
  assert.equal(ig.ignores('a.log'), true);
  assert.equal(ig.ignores('deep/dir/a.log'), true);
  assert.equal(ig.ignores('important.log'), false);
  assert.equal(ig.ignores('cache/'), true);
  assert.equal(ig.ignores('cache'), false, 'a dir pattern does not match a file of that name');
  // restore's temporary files, in both of its name forms, are never mirrored
  assert.equal(ig.ignores('deep/.photo.jpg.r2mirror-tmp-0a1b2c3d'), true);
  assert.equal(ig.ignores('.r2mirror-tmp-0a1b2c3d'), true);
  assert.equal(ig.ignores('photo.jpg'), false);
});

test('makeMatcher without patterns of its own answers what ignore answers for the restore pattern alone', () => {
  const fast = makeMatcher([]);
  const slow = ignore({ allowRelativePaths: true }).add(RESTORE_TEMP_PATTERN);
  const parts = ['a', '.r2mirror-tmp-', 'x.r2mirror-tmp-0a', '.r2mirror-tmp', 'r2mirror-tmp-1', 'b.txt', '.hidden'];
  let seed = 3;
  const pick = () => parts[(seed = (seed * 48271) % 2147483647) % parts.length]!;
  for (let i = 0; i < 2000; i++) {
    const rel = Array.from({ length: 1 + (i % 3) }, pick).join('/') + (i % 4 === 0 ? '/' : '');
    assert.equal(fast.ignores(rel), slow.ignores(rel), rel);
  }
});

test('excludedPath agrees with the walk: a file under an excluded directory is excluded, re-includes cannot reach it', async () => {
  const patterns = ['*.log', '!keep.log', 'build/', 'cache/', '!cache/keep.txt'];
  const root = tree({ 'a.log': '1', 'keep.log': '1', 'build/out/x.bin': '1', 'buildx/y': '1', 'cache/keep.txt': '1', 'src/z.ts': '1' });
  const r = await scan(root, { exclude: patterns });
  const ig = makeMatcher(patterns);
  for (const rel of ['a.log', 'keep.log', 'build/out/x.bin', 'buildx/y', 'cache/keep.txt', 'src/z.ts']) {
    assert.equal(excludedPath(ig, rel), !r.files.has('p/' + rel), rel);
  }
  assert.equal(excludedPath(ig, 'build/'), true, 'a directory marker object');
  assert.equal(excludedPath(ig, ''), false, 'the prefix itself');
});

test('alwaysExclude skips the state DB (absolute paths) inside the folder', async () => {
  const root = tree({ 'state.db': 'x', 'state.db-wal': 'x', 'sub/state.db': 'x', 'doc.txt': 'x' });
  const r = await scan(root, { alwaysExclude: [join(root, 'state.db'), join(root, 'state.db-wal')] });
  assert.deepEqual(keys(r), ['p/doc.txt', 'p/sub/state.db']);
});

test('alwaysExclude matches the state DB reached through a symbolic link, a linked root or a bind of the same directory', async () => {
  const root = tree({ '.r2mirror/state.db': 'x', '.r2mirror/state.db-wal': 'x', '.r2mirror/other.txt': 'x', 'sub/state.db': 'x', 'doc.txt': 'x' });
  const outside = tree({});
  // the config names the DB through a link that leads into the folder
  symlinkSync(join(root, '.r2mirror'), join(outside, 'link'));
  const viaLink = ['state.db', 'state.db-wal', 'state.db-shm'].map((n) => join(outside, 'link', n));
  const want = ['p/.r2mirror/other.txt', 'p/doc.txt', 'p/sub/state.db'];
  assert.deepEqual(keys(await scan(root, { alwaysExclude: viaLink })), want);
  // the folder is configured through a link, the DB by its real path
  symlinkSync(root, join(outside, 'root-link'));
  const real = ['state.db', 'state.db-wal'].map((n) => join(root, '.r2mirror', n));
  assert.deepEqual(keys(await scan(join(outside, 'root-link'), { alwaysExclude: real })), want);
  // a scoped scan (the daemon's) of the DB's own paths finds nothing
  const scoped = await scan(join(outside, 'root-link'), { alwaysExclude: real, only: ['.r2mirror/state.db', '.r2mirror/state.db-wal'] });
  assert.deepEqual(keys(scoped), []);
  // followed links reach the DB's directory under another name: still its files
  const r = await scan(outside, { followSymlinks: true, alwaysExclude: viaLink });
  assert.ok(!keys(r).some((k) => /state\.db(-wal)?$/.test(k) && !k.includes('/sub/')), keys(r).join(', '));
});

test('symlinks are skipped with a notice by default', async () => {
  const root = tree({ 'real.txt': 'abc', 'dir/inner.txt': 'x' });
  symlinkSync('real.txt', join(root, 'file-link'));
  symlinkSync('dir', join(root, 'dir-link'));
  symlinkSync('nowhere', join(root, 'dangling'));
  const r = await scan(root);
  assert.deepEqual(keys(r), ['p/dir/inner.txt', 'p/real.txt']);
  for (const rel of ['file-link', 'dir-link', 'dangling']) {
    const p = problem(r, rel);
    assert.equal(p?.kind, 'skipped', rel);
    assert.match(p!.reason, /symbolic link not followed.*followSymlinks/);
  }
  assert.equal(r.unknownKeys.size, 0);
});

test('an excluded symlink is not even reported', async () => {
  const root = tree({ 'a.txt': '1' });
  symlinkSync('a.txt', join(root, 'link.tmp'));
  const r = await scan(root, { exclude: ['*.tmp'] });
  assert.deepEqual(r.problems, []);
});

test('followSymlinks: file and directory links are mirrored under the link name', async () => {
  const outside = tree({ 'ext.txt': 'external!', 'extdir/e1.txt': '1', 'extdir/deeper/e2.txt': '22' });
  const root = tree({ 'real.txt': 'abc' });
  symlinkSync('real.txt', join(root, 'file-link'));
  symlinkSync(join(outside, 'ext.txt'), join(root, 'ext-link'));
  symlinkSync(join(outside, 'extdir'), join(root, 'dir-link'));
  const r = await scan(root, { followSymlinks: true });
  assert.deepEqual(keys(r), ['p/dir-link/deeper/e2.txt', 'p/dir-link/e1.txt', 'p/ext-link', 'p/file-link', 'p/real.txt']);
  assert.deepEqual(r.problems, []);
  const ext = r.files.get('p/ext-link')!;
  assert.equal(ext.size, 'external!'.length, 'the size of the target, not of the link');
  assert.equal(ext.ino, statSync(join(outside, 'ext.txt'), { bigint: true }).ino.toString());
});

test('followSymlinks: a link to the folder root is a loop, reported and not followed', async () => {
  const root = tree({ 'a.txt': '1', 'sub/b.txt': '2' });
  symlinkSync('..', join(root, 'sub', 'up'));
  const r = await scan(root, { followSymlinks: true });
  assert.deepEqual(keys(r), ['p/a.txt', 'p/sub/b.txt']);
  assert.equal(problem(r, 'sub/up')?.kind, 'failed');
  assert.match(problem(r, 'sub/up')!.reason, /loop/);
});

test('followSymlinks: a link to a non-root ancestor is a loop and mirrors nothing twice', async () => {
  const root = tree({ 'a/x.txt': '1', 'a/b/y.txt': '2' });
  symlinkSync('..', join(root, 'a', 'b', 'up')); // -> a
  symlinkSync('.', join(root, 'a', 'self')); // -> a
  const r = await scan(root, { followSymlinks: true });
  assert.deepEqual(keys(r), ['p/a/b/y.txt', 'p/a/x.txt']);
  for (const rel of ['a/b/up', 'a/self']) {
    assert.equal(problem(r, rel)?.kind, 'failed', rel);
    assert.match(problem(r, rel)!.reason, /loop/, rel);
  }
  assert.equal(r.problems.length, 2, JSON.stringify(r.problems));
});

test('followSymlinks: dangling links are skipped, a self-referencing link fails', async () => {
  const root = tree({ 'a.txt': '1' });
  symlinkSync('nowhere', join(root, 'dangling'));
  symlinkSync('self', join(root, 'self'));
  const r = await scan(root, { followSymlinks: true });
  assert.deepEqual(keys(r), ['p/a.txt']);
  assert.deepEqual(problem(r, 'dangling'), { rel: 'dangling', reason: 'dangling symbolic link', kind: 'skipped' });
  assert.equal(problem(r, 'self')?.kind, 'failed');
  assert.match(problem(r, 'self')!.reason, /loop/);
});

test('NFC/NFD twins: both names fail and their key is unknown (never deleted)', async () => {
  const nfc = 'caf\u00e9.txt';
  const nfd = 'cafe\u0301.txt';
  const root = tree({ [nfc]: 'one', [nfd]: 'two', 'other.txt': 'x' });
  const r = await scan(root);
  assert.deepEqual(keys(r), ['p/other.txt']);
  const twins = r.problems.filter((p) => p.kind === 'failed');
  assert.deepEqual(twins.map((p) => p.rel).sort(), [nfc, nfd].sort());
  for (const p of twins) assert.match(p.reason, /Unicode normalisation.*"p\/café\.txt"/);
  assert.deepEqual([...r.unknownKeys], ['p/caf\u00e9.txt']);
});

test('a name that is not valid UTF-8 fails, shown with \\x escapes, and its siblings are scanned', async () => {
  const root = tree({ 'ok.txt': '1' });
  writeFileSync(Buffer.concat([Buffer.from(root + '/'), Buffer.from([0x66, 0xff, 0x6f])]), 'x');
  mkdirSync(Buffer.concat([Buffer.from(root + '/'), Buffer.from([0x64, 0xc3, 0x28])]));
  const r = await scan(root);
  assert.deepEqual(keys(r), ['p/ok.txt']);
  const bad = problem(r, 'f\\xffo');
  assert.equal(bad?.kind, 'failed', JSON.stringify(r.problems));
  assert.match(bad!.reason, /not valid UTF-8/);
  assert.equal(problem(r, 'd\\xc3(')?.kind, 'failed', 'a directory with an invalid name too');
  assert.equal(r.problems.length, 2);
  assert.ok(!r.problems.some((p) => p.rel.includes('\uFFFD')), 'no replacement characters in messages');
});

test('a path whose key exceeds 1,024 bytes fails and its key is not deleted remotely', async () => {
  const seg = 'd'.repeat(200);
  const rel = [seg, seg, seg, seg, seg, 'f'.repeat(100)].join('/'); // 1,105 bytes
  const okRel = [seg, 'short.txt'].join('/');
  const root = tree({ [rel]: 'x', [okRel]: 'y' });
  const r = await scan(root);
  assert.deepEqual(keys(r), ['p/' + okRel]);
  const p = problem(r, rel);
  assert.equal(p?.kind, 'failed');
  assert.match(p!.reason, /1107 bytes long; R2 allows at most 1024/);
  assert.ok(r.unknownKeys.has('p/' + rel), 'a file that exists must not look deleted');
});

test('a file name with a control character fails and its key stays unknown', async () => {
  const root = tree({ 'line\nbreak.txt': 'x', 'fine.txt': 'y' });
  const r = await scan(root);
  assert.deepEqual(keys(r), ['p/fine.txt']);
  assert.match(problem(r, 'line\nbreak.txt')?.reason ?? '', /control character/);
  assert.ok(r.unknownKeys.has('p/line\nbreak.txt'), 'a file that exists must not look deleted');
});

test('a FIFO is skipped with a notice, never opened', async (t) => {
  const root = tree({ 'a.txt': '1' });
  const mk = spawnSync('mkfifo', [join(root, 'pipe')]);
  if (mk.status !== 0) {
    t.skip(`mkfifo not available: ${mk.error?.message ?? mk.stderr.toString()}`);
    return;
  }
  const r = await scan(root);
  assert.deepEqual(keys(r), ['p/a.txt']);
  assert.deepEqual(problem(r, 'pipe'), { rel: 'pipe', reason: 'not a regular file (socket, FIFO or device)', kind: 'skipped' });
  // followed links to a FIFO are not opened either
  symlinkSync('pipe', join(root, 'pipe-link'));
  const r2 = await scan(root, { followSymlinks: true });
  assert.equal(problem(r2, 'pipe-link')?.kind, 'skipped');
});

test('statFile, versionOf and sameVersion: a rewrite of the same size is a new version', async () => {
  const root = tree({ 'a.txt': 'one' });
  symlinkSync('a.txt', join(root, 'l'));
  assert.equal(await statFile(join(root, 'missing'), false), undefined);
  const s1 = (await statFile(join(root, 'a.txt'), false))!;
  assert.equal(s1.isFile(), true);
  assert.equal((await statFile(join(root, 'l'), false))!.isSymbolicLink(), true);
  assert.equal((await statFile(join(root, 'l'), true))!.isFile(), true);
  const v1 = versionOf(s1);
  assert.deepEqual(v1, { size: 3, mtimeNs: s1.mtimeNs.toString(), ctimeNs: s1.ctimeNs.toString(), ino: s1.ino.toString(), dev: s1.dev.toString() });
  assert.equal(sameVersion(v1, versionOf((await statFile(join(root, 'a.txt'), false))!)), true);
  // the scan's LocalFile is a version too: what the transfer compares after reading
  const scanned = (await scan(root)).files.get('p/a.txt')!;
  assert.equal(sameVersion(scanned, v1), true);
  writeFileSync(join(root, 'a.txt'), 'two'); // same size
  const later = new Date(Date.now() + 5000);
  utimesSync(join(root, 'a.txt'), later, later);
  assert.equal(sameVersion(v1, versionOf((await statFile(join(root, 'a.txt'), false))!)), false);
});

// --- unreadable directories ------------------------------------------------------------------------------

interface Seen { keys: string[]; problems: { rel: string; reason: string; kind: string }[]; unknownPrefixes: string[] }

/** Runs as a child process (as `nobody` when the tests run as root): scans each argv root, prints JSON. */
const CHILD = `
import { scanFolder } from ${JSON.stringify(pathToFileURL(join(REPO, 'src/local/scan.ts')).href)};
const out = [];
for (const root of process.argv.slice(2)) {
  const r = await scanFolder({ root, prefix: 'p/', exclude: [], followSymlinks: false });
  out.push({ keys: [...r.files.keys()].sort(), problems: r.problems, unknownPrefixes: r.unknownPrefixes });
}
process.stdout.write(JSON.stringify(out));
`;

/**
 * Scan `roots` with `locked` at mode 000. As root (who reads through mode 000) the scan runs in a child as
 * nobody (uid 65534) via setpriv; the tree is made world-readable except `locked`.
 */
async function scanLocked(top: string, locked: string, roots: string[]): Promise<Seen[] | string> {
  const toSeen = (r: ScanResult): Seen => ({ keys: keys(r), problems: r.problems, unknownPrefixes: r.unknownPrefixes });
  if (process.getuid?.() !== 0) {
    chmodSync(locked, 0o000);
    try {
      const out: Seen[] = [];
      for (const root of roots) out.push(toSeen(await scan(root)));
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
  if (child.error) return `cannot run setpriv to scan as nobody: ${child.error.message}`;
  if (child.status !== 0) return `the scan as nobody failed: ${child.stderr.trim().split('\n').slice(-3).join(' ')}`;
  return JSON.parse(child.stdout) as Seen[];
}

test('an unreadable subdirectory fails and its key prefix is unknown; an unreadable root makes the whole prefix unknown', async (t) => {
  const top = tree({ 'a.txt': '1', 'open/b.txt': '2', 'locked/secret.txt': '3', 'locked/deeper/s.txt': '4' });
  const locked = join(top, 'locked');
  const seen = await scanLocked(top, locked, [top, locked]);
  if (typeof seen === 'string') {
    t.skip(`running as root, and ${seen}`);
    return;
  }
  const [sub, root] = seen as [Seen, Seen];
  assert.deepEqual(sub.keys, ['p/a.txt', 'p/open/b.txt']);
  assert.deepEqual(sub.unknownPrefixes, ['p/locked/']);
  assert.equal(sub.problems.length, 1, JSON.stringify(sub.problems));
  assert.equal(sub.problems[0]!.rel, 'locked');
  assert.equal(sub.problems[0]!.kind, 'failed');
  assert.match(sub.problems[0]!.reason, /cannot read directory: EACCES/);

  assert.deepEqual(root.keys, []);
  assert.deepEqual(root.unknownPrefixes, ['p/'], 'an unreadable root is not an empty folder');
  assert.deepEqual(root.problems.map((p) => [p.rel, p.kind]), [['.', 'failed']]);
});

test('a missing root throws (the caller checks it) instead of looking empty', async () => {
  const top = tree();
  await assert.rejects(scan(join(top, 'gone')), { code: 'ENOENT' });
});
