// Unit tests for src/config.ts: every validation rule, defaults, path handling, parsers and credentials.
// Asserts on the user-visible message (file:line:col: key.path: problem); temp files only under os.tmpdir().

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULTS, defaultStatePath, stateFileName, deepFreeze, loadConfig, loadCredentials, parseConfig, parseDuration, parseSize,
  type Config,
} from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { createClient } from '../../src/remote/bucket.js';

const F = '/etc/r2.yaml';
const ENV = { HOME: '/home/u' };
const ID = 'AKIDEXAMPLE1234567890';
const SECRET = 'sEcReT/kEy+value0123456789abcdefXYZ';
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Lines joined into YAML text, so line numbers in the assertions can be counted. */
const y = (...lines: string[]): string => lines.join('\n') + '\n';
const REMOTE = ['remote:', '  endpoint: http://127.0.0.1:7480'];
/** A valid config whose single folder gets `extra` lines (line 7 onwards). */
const one = (...extra: string[]): string =>
  y(...REMOTE, 'folders:', '  - name: a', '    path: /srv/a', '    bucket: bkt', ...extra);

/** Every error message produced in this file, checked for secrets at the end. */
const messages: string[] = [];

function fails(fn: () => unknown, re: RegExp): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  messages.push(caught.message);
  assert.match(caught.message, re);
  return caught;
}
const bad = (text: string, re: RegExp, env: Record<string, string | undefined> = ENV): ConfigError =>
  fails(() => parseConfig(text, F, env), re);
const ok = (text: string, env: Record<string, string | undefined> = ENV): Config => parseConfig(text, F, env);

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'r2mirror-config-'));
}

// ---- defaults and values -------------------------------------------------------------------------------

test('a minimal config gets every default', () => {
  const c = ok(one());
  assert.equal(c.file, F);
  assert.deepEqual(c.remote, { endpoint: 'http://127.0.0.1:7480' });
  assert.match(c.state, /^\/home\/u\/\.local\/state\/r2mirror\/state-r2-[0-9a-f]{8}\.db$/, 'a config given by path gets its own DB');
  assert.equal(c.transfers, 8);
  assert.equal(c.memory, 48 * 1024 * 1024);
  assert.equal(c.partSize, undefined);
  assert.equal(c.retries, 5);
  assert.equal(c.requestTimeout, 120_000);
  assert.equal(c.logLevel, 'info');
  assert.deepEqual(c.maxDelete, { kind: 'percent', percent: 50 });
  assert.deepEqual(c.folders, [{
    name: 'a', path: '/srv/a', bucket: 'bkt', prefix: '', exclude: [], deleteExcluded: false, deletes: 'mirror',
    trashPrefix: '.r2mirror-trash/', followSymlinks: false, oneFileSystem: false, maxDelete: { kind: 'percent', percent: 50 },
  }]);
  assert.equal(DEFAULTS.transfers, c.transfers);
  assert.equal(DEFAULTS.memory, c.memory);
  assert.deepEqual(DEFAULTS.maxDelete, c.maxDelete);
});

test('every key is read', () => {
  const c = ok(y(
    'remote:',
    '  accountId: 0123456789ABCDEF0123456789abcdef',
    '  jurisdiction: eu',
    '  credentialsFile: /etc/r2mirror/credentials',
    'state: /var/lib/r2mirror/state.db',
    'transfers: 16',
    'memory: 256MiB',
    'partSize: 16MiB',
    'retries: 0',
    'requestTimeout: 1m30s',
    'logLevel: debug',
    'maxDelete: 1000',
    'folders:',
    '  - name: photos',
    '    path: /srv/photos/',
    '    bucket: photos',
    '    prefix: host1/photos',
    '    exclude: ["*.tmp", ".git/"]',
    '    deleteExcluded: true',
    '    deletes: trash',
    '    trashPrefix: trash/host1/photos',
    '    followSymlinks: true',
    '    oneFileSystem: true',
    '    maxDelete: 25%',
  ));
  assert.deepEqual(c.remote, {
    endpoint: 'https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com',
    accountId: '0123456789abcdef0123456789abcdef', jurisdiction: 'eu', credentialsFile: '/etc/r2mirror/credentials',
  });
  assert.equal(c.state, '/var/lib/r2mirror/state.db');
  assert.deepEqual([c.transfers, c.memory, c.partSize, c.retries, c.requestTimeout, c.logLevel],
    [16, 256 * 2 ** 20, 16 * 2 ** 20, 0, 90_000, 'debug']);
  assert.deepEqual(c.maxDelete, { kind: 'count', count: 1000 });
  assert.deepEqual(c.folders[0], {
    name: 'photos', path: '/srv/photos', bucket: 'photos', prefix: 'host1/photos/', exclude: ['*.tmp', '.git/'], deleteExcluded: true,
    deletes: 'trash', trashPrefix: 'trash/host1/photos/', followSymlinks: true, oneFileSystem: true, maxDelete: { kind: 'percent', percent: 25 },
  });
});

test('the result is deeply frozen', () => {
  const c = ok(one('    exclude: ["x"]'));
  for (const o of [c, c.remote, c.folders, c.folders[0], c.folders[0]!.exclude, c.maxDelete]) assert.ok(Object.isFrozen(o));
  assert.throws(() => { (c as { transfers: number }).transfers = 1; }, TypeError);
  assert.throws(() => { (c.folders[0]!.exclude as string[]).push('y'); }, TypeError);
  const o = deepFreeze({ a: { b: [1] } });
  assert.ok(Object.isFrozen(o.a.b));
  assert.ok(Object.isFrozen(DEFAULTS) && Object.isFrozen(DEFAULTS.maxDelete));
});

test('a folder maxDelete overrides the top-level one; others inherit it', () => {
  const c = ok(y(...REMOTE, 'maxDelete: 7', 'folders:',
    '  - {name: a, path: /a, bucket: bkt, prefix: a}',
    '  - {name: b, path: /b, bucket: bkt, prefix: b, maxDelete: "0%"}'));
  assert.deepEqual(c.folders.map((f) => f.maxDelete), [{ kind: 'count', count: 7 }, { kind: 'percent', percent: 0 }]);
});

// ---- paths -------------------------------------------------------------------------------------------

test('relative paths are resolved against the config file directory', () => {
  const c = ok(y('remote:', '  endpoint: http://h', '  credentialsFile: secrets/creds', 'state: ./db/state.db',
    'folders:', '  - {name: a, path: data/../photos/, bucket: bkt}'));
  assert.equal(c.folders[0]!.path, '/etc/photos');
  assert.equal(c.state, '/etc/db/state.db');
  assert.equal(c.remote.credentialsFile, '/etc/secrets/creds');
});

test('~ and ~/ are expanded with env.HOME; without HOME, or with ~user, it is an error', () => {
  const c = ok(y(...REMOTE, 'state: ~/s.db', 'folders:', '  - {name: a, path: ~/pics, bucket: bkt}'));
  assert.equal(c.folders[0]!.path, '/home/u/pics');
  // (in a config of its own: a folder at ~ and one at ~/pics would nest)
  assert.equal(ok(y(...REMOTE, 'folders:', '  - {name: b, path: "~", bucket: bkt2}')).folders[0]!.path, '/home/u');
  assert.equal(c.state, '/home/u/s.db');
  bad(one().replace('/srv/a', '~/a'), /^\/etc\/r2\.yaml:5:11: folders\[0\]\.path: cannot expand "~" because HOME is not set/, { STATE_DIRECTORY: '/x' });
  bad(one().replace('/srv/a', '~bob/a'), /^\/etc\/r2\.yaml:5:11: folders\[0\]\.path: "~user" paths are not supported.*"~bob\/a"/);
});

test('folder path "/" and empty paths are refused', () => {
  bad(one().replace('/srv/a', '/'), /^\/etc\/r2\.yaml:5:11: folders\[0\]\.path: must not be "\/"/);
  bad(one().replace('/srv/a', '/srv/..'), /folders\[0\]\.path: must not be "\/"/);
  bad(one().replace('/srv/a', '""'), /^\/etc\/r2\.yaml:5:11: folders\[0\]\.path: must not be empty/);
});

test('without state and HOME, the default state path error names the file', () => {
  bad(one(), /^\/etc\/r2\.yaml: cannot choose where to keep the state database.*set "state"/, {});
  assert.equal(ok(y(...REMOTE, 'state: /s.db', 'folders: [{name: a, path: /a, bucket: bkt}]'), {}).state, '/s.db');
});

test('the default state DB is per config file: state.db for the user\'s and /etc config, its own file for any other', () => {
  const env = { HOME: '/home/u' };
  assert.equal(stateFileName(undefined, env), 'state.db');
  assert.equal(stateFileName('/etc/r2mirror/config.yaml', env), 'state.db', 'the systemd unit keeps /var/lib/r2mirror/state.db');
  assert.equal(stateFileName('/home/u/.config/r2mirror/config.yaml', env), 'state.db');
  assert.equal(stateFileName('/x/xdg/r2mirror/config.yaml', { ...env, XDG_CONFIG_HOME: '/x/xdg' }), 'state.db');
  // Old code: both were ~/.local/state/r2mirror/state.db, so two cron jobs locked each other out (exit 75).
  const photos = stateFileName('/home/u/backup/photos.yaml', env);
  const docs = stateFileName('/home/u/backup/docs.yaml', env);
  assert.match(photos, /^state-photos-[0-9a-f]{8}\.db$/);
  assert.match(docs, /^state-docs-[0-9a-f]{8}\.db$/);
  assert.notEqual(stateFileName('/a/config.yaml', env), stateFileName('/b/config.yaml', env), 'same name, other directory');
  assert.equal(stateFileName('/a/config.yaml', env), stateFileName('/a/config.yaml', env), 'stable');
  assert.match(stateFileName('/a/my photos (2).yml', env), /^state-my_photos__2_-[0-9a-f]{8}\.db$/);
  const a = parseConfig(`remote:\n  endpoint: http://127.0.0.1:7480\nfolders:\n  - { name: a, path: /a, bucket: bkt }\n`, '/home/u/backup/photos.yaml', env);
  const b = parseConfig(`remote:\n  endpoint: http://127.0.0.1:7480\nfolders:\n  - { name: a, path: /a, bucket: bkt }\n`, '/home/u/backup/docs.yaml', env);
  assert.notEqual(a.state, b.state);
  assert.equal(a.state, `/home/u/.local/state/r2mirror/${photos}`);
});

test('defaultStatePath: STATE_DIRECTORY (first of several), XDG_STATE_HOME, HOME, else an error', () => {
  assert.equal(defaultStatePath({ STATE_DIRECTORY: '/var/lib/r2mirror', XDG_STATE_HOME: '/x', HOME: '/h' }), '/var/lib/r2mirror/state.db');
  assert.equal(defaultStatePath({ STATE_DIRECTORY: '/var/lib/a:/var/lib/b' }), '/var/lib/a/state.db');
  assert.equal(defaultStatePath({ XDG_STATE_HOME: '/x/state', HOME: '/h' }), '/x/state/r2mirror/state.db');
  assert.equal(defaultStatePath({ XDG_STATE_HOME: 'relative', HOME: '/h' }), '/h/.local/state/r2mirror/state.db');
  assert.equal(defaultStatePath({ HOME: '/h' }), '/h/.local/state/r2mirror/state.db');
  fails(() => defaultStatePath({}), /HOME is not set.*set "state"/);
});

// ---- prefixes and overlaps -----------------------------------------------------------------------------

test('prefixes get a trailing "/"; the default trash prefix follows the prefix', () => {
  const c = ok(y(...REMOTE, 'folders:', '  - {name: a, path: /a, bucket: bkt, prefix: host/a}', '  - {name: b, path: /b, bucket: bkt, prefix: "host/b/"}',
    '  - {name: c, path: /c, bucket: other, prefix: ""}'));
  assert.deepEqual(c.folders.map((f) => [f.prefix, f.trashPrefix]),
    [['host/a/', '.r2mirror-trash/host/a/'], ['host/b/', '.r2mirror-trash/host/b/'], ['', '.r2mirror-trash/']]);
});

test('bad prefixes and trash prefixes name the key and the line', () => {
  bad(one('    prefix: /abs'), /^\/etc\/r2\.yaml:7:13: folders\[0\]\.prefix: must not start with "\/" \(got "\/abs"\)/);
  bad(one('    prefix: a//b'), /^\/etc\/r2\.yaml:7:13: folders\[0\]\.prefix: must not contain "\/\/" \(got "a\/\/b"\)/);
  bad(one('    prefix: a/../b'), /^\/etc\/r2\.yaml:7:13: folders\[0\]\.prefix: must not contain "\." or "\.\." segments/);
  bad(one('    prefix: ./b'), /folders\[0\]\.prefix: must not contain "\." or "\.\." segments \(got "\.\/b"\)/);
  bad(one('    prefix: "a\\tb"'), /folders\[0\]\.prefix: must not contain control characters/);
  bad(one('    trashPrefix: ""'), /^\/etc\/r2\.yaml:7:18: folders\[0\]\.trashPrefix: must not be empty/);
  bad(one('    trashPrefix: /t'), /^\/etc\/r2\.yaml:7:18: folders\[0\]\.trashPrefix: must not start with "\/"/);
});

test('two folders with overlapping prefixes in one bucket are refused, naming both', () => {
  const two = (p1: string, p2: string, b2 = 'bkt'): string => y(...REMOTE, 'folders:',
    `  - {name: one, path: /a, bucket: bkt, prefix: "${p1}"}`, `  - {name: two, path: /b, bucket: ${b2}, prefix: "${p2}"}`);
  bad(two('x/', 'x'), /^\/etc\/r2\.yaml:5:48: folders\[1\]\.prefix: folders "one" \(folders\[0\]\) and "two" overlap in bucket "bkt": prefixes "x\/" and "x\/"/);
  bad(two('x/', 'x/y/'), /folders\[1\]\.prefix: folders "one" \(folders\[0\]\) and "two" overlap.*"x\/" and "x\/y\/"/);
  bad(two('x/y', 'x/'), /folders "one" \(folders\[0\]\) and "two" overlap/);
  bad(two('', 'x/'), /prefixes "" and "x\/"/);
  bad(two('', ''), /prefixes "" and ""/);
  // the prefix key is missing: point at the folder
  bad(y(...REMOTE, 'folders:', '  - {name: one, path: /a, bucket: bkt}', '  - name: two', '    path: /b', '    bucket: bkt'),
    /^\/etc\/r2\.yaml:5:5: folders\[1\]\.prefix: folders "one" \(folders\[0\]\) and "two" overlap/);
  assert.equal(ok(two('x/', 'x/', 'other')).folders.length, 2);
  assert.equal(ok(two('x/', 'xy/')).folders.length, 2);
});

test('trashRetention: a duration, only with deletes: trash', () => {
  assert.equal(ok(one('    prefix: p', '    deletes: trash', '    trashRetention: 30d')).folders[0]!.trashRetention, 30 * 86_400_000);
  assert.equal(ok(one('    prefix: p', '    deletes: trash')).folders[0]!.trashRetention, undefined);
  bad(one('    prefix: p', '    trashRetention: 30d'), /^\/etc\/r2\.yaml:8:21: folders\[0\]\.trashRetention: only applies with deletes: trash \(this folder has deletes: mirror\)/);
  bad(one('    prefix: p', '    deletes: trash', '    trashRetention: soon'), /folders\[0\]\.trashRetention: invalid duration "soon"/);
  bad(one('    prefix: p', '    deletes: trash', '    trashRetention: 36h'), /folders\[0\]\.trashRetention: must be whole days, as a bucket lifecycle rule counts them \(got "36h"\)/);
  bad(one('    prefix: p', '    deletes: trash', '    trashRetention: 2h'), /folders\[0\]\.trashRetention: must be from 1d to 3650d \(got "2h"\)/);
  // two trashes in one bucket that overlap would take each other's files
  bad(y(...REMOTE, 'folders:', '  - {name: a, path: /a, bucket: bkt, prefix: a, deletes: trash, trashPrefix: t}', '  - name: b', '    path: /b', '    bucket: bkt', '    prefix: b',
    '    deletes: trash', '    trashPrefix: t/b'), /folders\[1\]\.trashPrefix: the trash prefixes of folders "a" \(folders\[0\]\) and "b" overlap in bucket "bkt": "t\/" and "t\/b\/"/);
});

test('a trash prefix that overlaps a mirrored prefix in the same bucket is refused', () => {
  // a folder that mirrors the whole bucket cannot trash: must say to set a prefix (and trashPrefix)
  const e = bad(one('    deletes: trash'),
    /^\/etc\/r2\.yaml:7:14: folders\[0\]\.deletes: trash prefix "\.r2mirror-trash\/" \(the default\) overlaps the folder's own prefix "" in bucket "bkt"/);
  assert.match(e.message, /mirrors the whole bucket, so every trashPrefix would be inside it: set a prefix for it \(and, if needed, a trashPrefix outside that prefix\)/);
  // the default trash prefix inside another folder's prefix
  bad(y(...REMOTE, 'folders:', '  - {name: t, path: /t, bucket: bkt, prefix: u}', '  - {name: x, path: /x, bucket: other}', '  - name: u',
    '    path: /u', '    bucket: bkt', '    prefix: u', '    deletes: trash').replace('prefix: u}', 'prefix: .r2mirror-trash}'),
  /^\/etc\/r2\.yaml:10:14: folders\[2\]\.deletes: trash prefix "\.r2mirror-trash\/u\/" \(the default\) overlaps the prefix of folder "t" \(folders\[0\]\) "\.r2mirror-trash\/" in bucket "bkt".*set trashPrefix to a prefix outside/);
  // an explicit trash prefix inside its own prefix
  bad(one('    prefix: p', '    deletes: trash', '    trashPrefix: p/trash'),
    /^\/etc\/r2\.yaml:9:18: folders\[0\]\.trashPrefix: trash prefix "p\/trash\/" overlaps the folder's own prefix "p\/".*set trashPrefix to a prefix outside every mirrored prefix/);
  // inside another folder's prefix
  bad(y(...REMOTE, 'folders:', '  - {name: a, path: /a, bucket: bkt, prefix: a, deletes: trash, trashPrefix: b/t}', '  - {name: b, path: /b, bucket: bkt, prefix: b}'),
    /^\/etc\/r2\.yaml:4:\d+: folders\[0\]\.trashPrefix: trash prefix "b\/t\/" overlaps the prefix of folder "b" \(folders\[1\]\) "b\/"/);
  // not checked unless deletes: trash
  assert.equal(ok(one('    prefix: p', '    deletes: mirror', '    trashPrefix: p/trash')).folders[0]!.trashPrefix, 'p/trash/');
  assert.equal(ok(one('    prefix: p', '    deletes: trash')).folders[0]!.trashPrefix, '.r2mirror-trash/p/');
});

test('prefixes and trash prefixes are Unicode NFC, like the keys under them', () => {
  const nfd = 'cafe\u0301/re\u0301sume\u0301';
  const c = ok(one(`    prefix: "${nfd}"`, '    deletes: trash'));
  assert.equal(c.folders[0]!.prefix, 'caf\u00e9/r\u00e9sum\u00e9/');
  assert.equal(c.folders[0]!.trashPrefix, '.r2mirror-trash/caf\u00e9/r\u00e9sum\u00e9/');
  const t = ok(one('    prefix: p', `    trashPrefix: "trash/${nfd}"`));
  assert.equal(t.folders[0]!.trashPrefix, 'trash/caf\u00e9/r\u00e9sum\u00e9/');
  // an NFD and an NFC spelling of one prefix are one prefix: they overlap
  bad(y(...REMOTE, 'folders:', `  - {name: one, path: /a, bucket: bkt, prefix: "caf\u00e9"}`, `  - {name: two, path: /b, bucket: bkt, prefix: "cafe\u0301"}`),
    /folders\[1\]\.prefix: folders "one" \(folders\[0\]\) and "two" overlap/);
});

test('a prefix or trash prefix that leaves no room for a file name in a 1,024-byte key is refused', () => {
  assert.equal(ok(one(`    prefix: ${'p'.repeat(1022)}`)).folders[0]!.prefix.length, 1023, 'one byte left for a name');
  bad(one(`    prefix: ${'p'.repeat(1023)}`),
    /^\/etc\/r2\.yaml:7:13: folders\[0\]\.prefix: is 1024 bytes long \(with its "\/"\); object keys have at most 1024 bytes, so no file name would fit after it/);
  bad(one(`    prefix: ${'\u00e9'.repeat(600)}`), /folders\[0\]\.prefix: is 1201 bytes long/); // bytes, not characters
  bad(one('    prefix: p', `    trashPrefix: ${'t'.repeat(2000)}`), /^\/etc\/r2\.yaml:8:18: folders\[0\]\.trashPrefix: is 2001 bytes long/);
});

test('two folders whose local paths nest or coincide are refused, as written and through symbolic links', () => {
  const two = (p1: string, p2: string, b2 = 'other'): string => y(...REMOTE, 'folders:',
    `  - {name: one, path: "${p1}", bucket: bkt}`, `  - {name: two, path: "${p2}", bucket: ${b2}}`);
  bad(two('/srv/a', '/srv/a/b'), /^\/etc\/r2\.yaml:5:23: folders\[1\]\.path: the paths of folders "one" \(folders\[0\]\) and "two" nest: "\/srv\/a\/b" is inside "\/srv\/a", so their files would be uploaded twice/);
  bad(two('/srv/a/b/c', '/srv/a'), /folders\[1\]\.path: .*nest: "\/srv\/a\/b\/c" is inside "\/srv\/a"/);
  bad(two('/srv/a', '/srv/a/'), /folders\[1\]\.path: the paths of folders "one" \(folders\[0\]\) and "two" are the same directory/);
  assert.equal(ok(two('/srv/a', '/srv/ab')).folders.length, 2, 'a sibling with a longer name does not nest');
  const dir = tmp();
  try {
    mkdirSync(join(dir, 'real', 'inner'), { recursive: true });
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    bad(two(join(dir, 'real'), join(dir, 'link', 'inner')), /folders\[1\]\.path: .*nest: .*inner" is inside .*real" \(after resolving symbolic links\)/);
    bad(two(join(dir, 'link'), join(dir, 'real')), /folders\[1\]\.path: .*are the same directory \(after resolving symbolic links\)/);
    symlinkSync('/', join(dir, 'root'));
    bad(one().replace('/srv/a', join(dir, 'root')), /^\/etc\/r2\.yaml:5:11: folders\[0\]\.path: leads to "\/" through a symbolic link/);
    bad(one().replace('/srv/a', join(dir, 'real', '..', '..', '..', '..', '..', '..', '..', '..')), /folders\[0\]\.path: must not be "\/"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- remote ------------------------------------------------------------------------------------------

test('the endpoint is built from accountId and jurisdiction', () => {
  const r = (...lines: string[]): Config['remote'] => ok(y('remote:', ...lines, 'folders: [{name: a, path: /a, bucket: bkt}]')).remote;
  const id = '0123456789abcdef0123456789abcdef';
  assert.equal(r(`  accountId: ${id}`).endpoint, `https://${id}.r2.cloudflarestorage.com`);
  assert.equal(r(`  accountId: ${id}`, '  jurisdiction: eu').endpoint, `https://${id}.eu.r2.cloudflarestorage.com`);
  assert.equal(r(`  accountId: ${id}`, '  jurisdiction: fedramp').endpoint, `https://${id}.fedramp.r2.cloudflarestorage.com`);
  assert.equal(r('  endpoint: https://s3.example.com:443/').endpoint, 'https://s3.example.com');
  assert.equal(r('  endpoint: http://[::1]:9000').endpoint, 'http://[::1]:9000');
});

test('remote: exactly one of accountId and endpoint; accountId and jurisdiction are checked', () => {
  const id = '0123456789abcdef0123456789abcdef';
  const r = (...lines: string[]): string => y('remote:', ...lines, 'folders: [{name: a, path: /a, bucket: bkt}]');
  bad(r(`  accountId: ${id}`, '  endpoint: http://h'), /^\/etc\/r2\.yaml:3:13: remote\.endpoint: set either remote\.accountId .* or remote\.endpoint .*not both/);
  bad(r('  credentialsFile: /c'), /^\/etc\/r2\.yaml:2:3: remote: set remote\.accountId \(Cloudflare R2\) or remote\.endpoint/);
  bad(y('remote: {}', 'folders: [{name: a, path: /a, bucket: bkt}]'), /^\/etc\/r2\.yaml:1:9: remote: set remote\.accountId/);
  bad(r('  accountId: 0123abc'), /^\/etc\/r2\.yaml:2:14: remote\.accountId: must be the 32 hexadecimal characters .*\(got "0123abc"\)/);
  bad(r(`  accountId: ${id.replace('a', 'g')}`), /remote\.accountId: must be the 32 hexadecimal/);
  bad(r(`  accountId: ${id}`, '  jurisdiction: us'), /^\/etc\/r2\.yaml:3:17: remote\.jurisdiction: must be one of eu, fedramp \(got "us"\)/);
  bad(r('  endpoint: http://h', '  jurisdiction: eu'), /^\/etc\/r2\.yaml:3:17: remote\.jurisdiction: only applies with remote\.accountId/);
  bad(y('remote: [a]', 'folders: [{name: a, path: /a, bucket: bkt}]'), /^\/etc\/r2\.yaml:1:9: remote: must be a mapping of keys \(got a list\)/);
});

test('endpoint must be an http(s) URL with no path, query or credentials', () => {
  const r = (url: string): string => y('remote:', `  endpoint: "${url}"`, 'folders: [{name: a, path: /a, bucket: bkt}]');
  bad(r('ftp://h'), /^\/etc\/r2\.yaml:2:13: remote\.endpoint: must be an http:\/\/ or https:\/\/ URL \(got "ftp:\/\/h"\)/);
  bad(r('not a url'), /remote\.endpoint: must be an http:\/\/ or https:\/\/ URL such as .*\(got "not a url"\)/);
  bad(r('http://h/bucket'), /remote\.endpoint: must have no path, query or fragment.*"http:\/\/h\/bucket"/);
  bad(r('http://h?x=1'), /remote\.endpoint: must have no path, query or fragment/);
  bad(r('http://h#f'), /remote\.endpoint: must have no path, query or fragment/);
  const e = bad(r(`https://${ID}:${SECRET.replace(/\//g, '_')}@h`), /remote\.endpoint: must not contain credentials; set R2_ACCESS_KEY_ID/);
  assert.ok(!e.message.includes(ID));
  const e2 = bad(r(`${ID}:pw@h/x`), /remote\.endpoint: .*value not shown/);
  assert.ok(!e2.message.includes(ID));
});

// ---- YAML-level errors, unknown keys, secrets ------------------------------------------------------------

test('invalid YAML reports the first error with line and column, without echoing the source line', () => {
  const e = bad(y('remote:', `  endpoint: "http://h${SECRET}`, 'folders: []'), /^\/etc\/r2\.yaml:4:1: invalid YAML: Missing closing "quote$/);
  assert.ok(!e.message.includes(SECRET));
  bad(y('transfers: 1', '  x: 2'), /^\/etc\/r2\.yaml:1:12: invalid YAML: /);
  bad(y('a: 1', '---', 'b: 2'), /^\/etc\/r2\.yaml:2:1: invalid YAML: Source contains multiple documents/);
});

test('duplicate keys are reported at the second one', () => {
  bad(y(...REMOTE, 'transfers: 1', 'folders: []', 'transfers: 2'), /^\/etc\/r2\.yaml:5:1: invalid YAML: Map keys must be unique$/);
});

test('an empty file, a comment-only file and a non-mapping top level are refused', () => {
  bad('', /^\/etc\/r2\.yaml: the config file is empty/);
  bad('# nothing\n\n', /^\/etc\/r2\.yaml: the config file is empty/);
  bad('- a\n- b\n', /^\/etc\/r2\.yaml:1:1: the top level must be a mapping of keys \(got a list\)/);
  bad('just text\n', /^\/etc\/r2\.yaml:1:1: the top level must be a mapping of keys \(got "just text"\)/);
});

test('daemon timings and metrics: defaults, values, and errors that name the key', () => {
  const d = ok(one());
  assert.deepEqual(d.daemon, { quietPeriod: 2000, maxDelay: 30_000, rescanInterval: 3_600_000, verifyInterval: 86_400_000, stopTimeout: 30_000, pollInterval: 300_000 });
  assert.equal(d.metrics, undefined);
  const c = ok(y(...REMOTE, 'daemon:', '  quietPeriod: 500ms', '  verifyInterval: 7d', 'metrics:', '  listen: "[::1]:9464"',
    'folders: [{name: a, path: /a, bucket: bkt}]'));
  assert.equal(c.daemon.quietPeriod, 500);
  assert.equal(c.daemon.verifyInterval, 7 * 86_400_000);
  assert.equal(c.daemon.maxDelay, 30_000);
  assert.deepEqual(c.metrics, { listen: '[::1]:9464' });
  const f = 'folders: [{name: a, path: /a, bucket: bkt}]';
  bad(y(...REMOTE, 'daemon:', '  quietPeriod: 10', f), /^\/etc\/r2\.yaml:4:16: daemon\.quietPeriod: must be from 100ms to 1h \(got 10\)$/);
  bad(y(...REMOTE, 'daemon:', '  quietPeriod: 5s', '  maxDelay: 2s', f), /daemon\.maxDelay: must not be shorter than quietPeriod \(5s\)/);
  bad(y(...REMOTE, 'daemon:', '  quietperiod: 5s', f), /daemon: unknown key "quietperiod" \(did you mean "quietPeriod"\?\)/);
  bad(y(...REMOTE, 'metrics:', '  listen: localhost', f), /^\/etc\/r2\.yaml:4:11: metrics\.listen: must be host:port, \[ipv6\]:port or :port \(got "localhost"\)$/);
  bad(y(...REMOTE, 'metrics:', '  listen: 1.2.3.4:99999', f), /metrics\.listen: must be host:port/);
  bad(y(...REMOTE, 'metrics: {}', f), /metrics: missing required key "listen"/);
});

test('missing required keys name the key', () => {
  bad(y('folders: [{name: a, path: /a, bucket: bkt}]'), /^\/etc\/r2\.yaml:1:1: missing required key "remote"/);
  bad(y(...REMOTE), /^\/etc\/r2\.yaml:1:1: missing required key "folders"/);
  bad(y(...REMOTE, 'folders: []'), /^\/etc\/r2\.yaml:3:10: folders: must list at least one folder/);
  bad(y(...REMOTE, 'folders:'), /^\/etc\/r2\.yaml:3:9: folders: must be a list of folders \(got an empty value\)/);
  for (const k of ['name', 'path', 'bucket']) {
    const lines = ['  - name: a', '    path: /a', '    bucket: bkt'].filter((l) => !l.includes(`${k}:`));
    lines[0] = lines[0]!.replace(/^ {4}/, '  - ');
    bad(y(...REMOTE, 'folders:', ...lines), new RegExp(`^/etc/r2\\.yaml:4:5: folders\\[0\\]: missing required key "${k}"$`));
  }
});

test('unknown keys are errors at every level, with a suggestion when one is close', () => {
  bad(y(...REMOTE, 'tranfers: 4'), /^\/etc\/r2\.yaml:3:1: unknown key "tranfers" \(did you mean "transfers"\?\)$/);
  bad(y('remote:', '  endpont: http://h'), /^\/etc\/r2\.yaml:2:3: remote: unknown key "endpont" \(did you mean "endpoint"\?\)$/);
  bad(one('    delete: keep'), /^\/etc\/r2\.yaml:7:5: folders\[0\]: unknown key "delete" \(did you mean "deletes"\?\)$/);
  bad(one('    followsymlinks: true'), /folders\[0\]: unknown key "followsymlinks" \(did you mean "followSymlinks"\?\)/);
  bad(one('    colour: blue'), /^\/etc\/r2\.yaml:7:5: folders\[0\]: unknown key "colour" \(known keys: name, path, bucket, prefix, exclude, deleteExcluded, deletes, trashPrefix, trashRetention, followSymlinks, oneFileSystem, maxDelete\)$/);
});

test('secret-looking keys are refused with a pointer to the environment, never echoing the value', () => {
  for (const [text, re] of [
    [y('remote:', '  endpoint: http://h', `  secretAccessKey: ${SECRET}`), /^\/etc\/r2\.yaml:3:3: remote: unknown key "secretAccessKey": secrets are not read from the config file; set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY .* remote\.credentialsFile/],
    [y(...REMOTE, `accessKeyId: ${ID}`), /^\/etc\/r2\.yaml:3:1: unknown key "accessKeyId": secrets are not read/],
    [one(`    aws_secret_access_key: "${SECRET}"`), /^\/etc\/r2\.yaml:7:5: folders\[0\]: unknown key "aws_secret_access_key": secrets are not read/],
    [one(`    password: {nested: ${SECRET}}`), /folders\[0\]: unknown key "password": secrets are not read/],
  ] as const) {
    const e = bad(text, re);
    assert.ok(!e.message.includes(SECRET) && !e.message.includes(ID), e.message);
  }
});

// ---- types and ranges --------------------------------------------------------------------------------

test('wrong types name the expected type and quote the value', () => {
  bad(y(...REMOTE, 'transfers: "8"'), /^\/etc\/r2\.yaml:3:12: transfers: must be an integer from 1 to 256 \(got "8"\)$/);
  bad(y(...REMOTE, 'transfers: [8]'), /^\/etc\/r2\.yaml:3:12: transfers: must be an integer \(got a list\)$/);
  bad(one('    followSymlinks: "yes"'), /^\/etc\/r2\.yaml:7:21: folders\[0\]\.followSymlinks: must be true or false \(got "yes"\)$/);
  bad(one('    deleteExcluded: 1'), /^\/etc\/r2\.yaml:7:21: folders\[0\]\.deleteExcluded: must be true or false \(got 1\)$/);
  bad(one('    exclude: "*.tmp"'), /^\/etc\/r2\.yaml:7:14: folders\[0\]\.exclude: must be a list of gitignore-style patterns.*\(got "\*\.tmp"\)$/);
  bad(one('    exclude: ["a", 3]'), /^\/etc\/r2\.yaml:7:20: folders\[0\]\.exclude\[1\]: must be a string \(got 3\)$/);
  bad(one('    exclude: ["a", " "]'), /folders\[0\]\.exclude\[1\]: must not be empty/);
  bad(y(...REMOTE, 'folders: {name: a}'), /^\/etc\/r2\.yaml:3:10: folders: must be a list of folders \(got a mapping\)$/);
  bad(y(...REMOTE, 'folders: [x]'), /^\/etc\/r2\.yaml:3:11: folders\[0\]: must be a mapping of keys \(got "x"\)$/);
  bad(one().replace('bucket: bkt', 'bucket: 123'), /^\/etc\/r2\.yaml:6:13: folders\[0\]\.bucket: must be a string \(got 123\)$/);
  bad(one().replace('name: a', 'name: {x: 1}'), /^\/etc\/r2\.yaml:4:11: folders\[0\]\.name: must be a string \(got a mapping\)$/);
  bad(y(...REMOTE, 'logLevel: verbose'), /^\/etc\/r2\.yaml:3:11: logLevel: must be one of fatal, error, warn, info, debug, trace, silent \(got "verbose"\)$/);
});

test('deletes must be one of mirror, keep, trash (the documented message)', () => {
  const e = bad(one('    deletes: mirrror'), /^\/etc\/r2\.yaml:7:14: folders\[0\]\.deletes: must be one of mirror, keep, trash \(got "mirrror"\)$/);
  assert.deepEqual(e.location, { file: F, line: 7, col: 14, path: 'folders[0].deletes' });
  assert.equal(ok(one('    deletes: keep')).folders[0]!.deletes, 'keep');
});

test('integer ranges: transfers 1..256, retries 0..100', () => {
  for (const v of ['0', '257', '1.5', '-1']) bad(y(...REMOTE, `transfers: ${v}`), new RegExp(`^/etc/r2\\.yaml:3:12: transfers: must be an integer from 1 to 256 \\(got ${v.replace('.', '\\.')}\\)$`));
  for (const v of ['-1', '101']) bad(y(...REMOTE, `retries: ${v}`), new RegExp(`^/etc/r2\\.yaml:3:10: retries: must be an integer from 0 to 100 \\(got ${v}\\)$`));
  const c = (k: string): Config => ok(y(...REMOTE, k, 'folders: [{name: a, path: /a, bucket: bkt}]'));
  assert.equal(c('transfers: 1').transfers, 1);
  assert.equal(c('transfers: 256').transfers, 256);
  assert.equal(c('retries: 100').retries, 100);
});

test('memory and partSize: sizes with limits, and partSize not above memory', () => {
  const c = (...k: string[]): string => y(...REMOTE, ...k, 'folders: [{name: a, path: /a, bucket: bkt}]');
  bad(c('memory: 8MiB'), /^\/etc\/r2\.yaml:3:9: memory: must be at least 16 MiB \(got "8MiB"\)$/);
  bad(c('memory: lots'), /^\/etc\/r2\.yaml:3:9: memory: invalid size "lots": use a number of bytes/);
  bad(c('memory: -5MiB'), /memory: invalid size "-5MiB"/);
  bad(c('partSize: 4MiB'), /^\/etc\/r2\.yaml:3:11: partSize: must be from 5 MiB to 5 GiB \(got "4MiB"\)$/);
  bad(c('memory: 8GiB', 'partSize: 6GiB'), /partSize: must be from 5 MiB to 5 GiB \(got "6GiB"\)/);
  bad(c('partSize: 128MiB'), /^\/etc\/r2\.yaml:3:11: partSize: must not be larger than memory \(48 MiB\)$/);
  assert.equal(ok(c('memory: 16MiB')).memory, 16 * 2 ** 20);
  assert.equal(ok(c('memory: 16777216', 'partSize: 5MiB')).partSize, 5 * 2 ** 20);
  assert.equal(ok(c('memory: 6GiB', 'partSize: 5GiB')).partSize, 5 * 2 ** 30);
});

test('requestTimeout: a duration from 1s to 1d', () => {
  const c = (v: string): string => y(...REMOTE, `requestTimeout: ${v}`, 'folders: [{name: a, path: /a, bucket: bkt}]');
  bad(c('999ms'), /^\/etc\/r2\.yaml:3:17: requestTimeout: must be from 1s to 1d \(got "999ms"\)$/);
  bad(c('2d'), /requestTimeout: must be from 1s to 1d \(got "2d"\)/);
  bad(c('soon'), /^\/etc\/r2\.yaml:3:17: requestTimeout: invalid duration "soon": use milliseconds/);
  bad(c('true'), /requestTimeout: invalid duration true/);
  assert.equal(ok(c('1s')).requestTimeout, 1000);
  assert.equal(ok(c('1000')).requestTimeout, 1000);
  assert.equal(ok(c('1d')).requestTimeout, 86_400_000);
});

test('maxDelete: an integer >= 0 or "N%" with 0 <= N <= 100 (the --max-delete grammar too: test/unit/cli.test.ts)', () => {
  const c = (v: string): string => y(...REMOTE, `maxDelete: ${v}`, 'folders: [{name: a, path: /a, bucket: bkt}]');
  const good: Array<[string, unknown]> = [['0', { kind: 'count', count: 0 }], ['100', { kind: 'count', count: 100 }],
    ['0%', { kind: 'percent', percent: 0 }], ['100%', { kind: 'percent', percent: 100 }], ['"12.5 %"', { kind: 'percent', percent: 12.5 }],
    ['12.5%', { kind: 'percent', percent: 12.5 }], ['"5000"', { kind: 'count', count: 5000 }]];
  for (const [v, want] of good) assert.deepEqual(ok(c(v)).maxDelete, want);
  for (const [v, got] of [['-1', '-1'], ['101%', '"101%"'], ['lots', '"lots"'], ['1.5', '1.5'], ['"-5%"', '"-5%"']]) {
    bad(c(v!), new RegExp(`^/etc/r2\\.yaml:3:12: maxDelete: must be a number of files \\(an integer >= 0\\) or a percentage from "0%" to "100%" \\(got ${got!.replace(/[.]/g, '\\.')}\\)$`));
  }
  bad(one('    maxDelete: 200%'), /^\/etc\/r2\.yaml:7:16: folders\[0\]\.maxDelete: must be a number of files/);
});

test('folder names and bucket names follow their rules; duplicate names are refused', () => {
  const f = (name: string, bucket = 'bkt'): string => y(...REMOTE, 'folders:', `  - name: "${name}"`, '    path: /a', `    bucket: "${bucket}"`);
  for (const n of ['', '-a', '.a', 'a b', 'a/b', 'x'.repeat(65)]) bad(f(n), /^\/etc\/r2\.yaml:4:11: folders\[0\]\.name: must be 1-64 letters, digits/);
  for (const n of ['a', 'A.b_c-1', 'x'.repeat(64)]) assert.equal(ok(f(n)).folders[0]!.name, n);
  for (const b of ['ab', 'Bkt', 'b_k', '-bk', 'bk-', 'b.kt', 'x'.repeat(64)]) {
    bad(f('a', b), new RegExp(`^/etc/r2\\.yaml:6:13: folders\\[0\\]\\.bucket: must be a bucket name of 3-63 lowercase letters.*\\(got "${b.replace('.', '\\.')}"\\)$`));
  }
  for (const b of ['abc', 'a-1', 'x'.repeat(63)]) assert.equal(ok(f('a', b)).folders[0]!.bucket, b);
  bad(y(...REMOTE, 'folders:', '  - {name: a, path: /a, bucket: bkt, prefix: a}', '  - {name: a, path: /b, bucket: bkt, prefix: b}'),
    /^\/etc\/r2\.yaml:5:12: folders\[1\]\.name: duplicate folder name "a" \(also used by folders\[0\]\)$/);
});

// ---- parsers -----------------------------------------------------------------------------------------

test('parseSize accepts bytes and binary/SI units, case-insensitively', () => {
  const table: Array<[unknown, number]> = [
    [1048576, 1048576], [0, 0], ['1024', 1024], ['0', 0], ['64MiB', 64 * 2 ** 20], ['64 MiB', 64 * 2 ** 20], ['64mib', 64 * 2 ** 20],
    ['1.5GiB', 1.5 * 2 ** 30], ['10MB', 10_000_000], ['512KiB', 512 * 1024], ['5GiB', 5 * 2 ** 30], ['2K', 2048], ['3M', 3 * 2 ** 20],
    ['1G', 2 ** 30], ['1T', 2 ** 40], ['1TiB', 2 ** 40], ['2TB', 2e12], ['1kb', 1000], ['1KB', 1000], ['7B', 7], ['7 b', 7],
    ['1gb', 1e9], ['.5KiB', 512], [' 8 MiB ', 8 * 2 ** 20],
  ];
  for (const [v, want] of table) assert.equal(parseSize(v), want, String(v));
});

test('parseSize rejects everything else and quotes the value', () => {
  for (const [v, shown] of [['', '""'], ['MiB', '"MiB"'], ['-1', '"-1"'], ['1.5.5MiB', '"1.5.5MiB"'], ['5 XB', '"5 XB"'], ['5MiBs', '"5MiBs"'],
    [-1, '-1'], [1.5, '1.5'], [NaN, 'NaN'], [Infinity, 'Infinity'], [true, 'true'], [null, 'an empty value'], [[1], 'a list'], [{}, 'a mapping'],
    ['99999999999TiB', '"99999999999TiB"']] as Array<[unknown, string]>) {
    assert.throws(() => parseSize(v), (e: Error) => e.message.startsWith(`invalid size ${shown}: use a number of bytes`), String(v));
  }
});

test('parseDuration accepts ms numbers and unit strings', () => {
  const table: Array<[unknown, number]> = [
    [1500, 1500], [0, 0], ['1500', 1500], ['500ms', 500], ['30s', 30_000], ['5m', 300_000], ['1h', 3_600_000], ['1d', 86_400_000],
    ['1h30m', 5_400_000], ['2.5s', 2500], ['1m30s', 90_000], ['1h 30m', 5_400_000], [' 10 s ', 10_000], ['1s500ms', 1500],
  ];
  for (const [v, want] of table) assert.equal(parseDuration(v), want, String(v));
});

test('parseDuration rejects everything else and quotes the value', () => {
  for (const [v, shown] of [['', '""'], ['s', '"s"'], ['5 minutes', '"5 minutes"'], ['1x', '"1x"'], ['-5s', '"-5s"'], ['5S', '"5S"'],
    ['1h30', '"1h30"'], [-1, '-1'], [NaN, 'NaN'], [false, 'false'], [[], 'a list']] as Array<[unknown, string]>) {
    assert.throws(() => parseDuration(v), (e: Error) => e.message.startsWith(`invalid duration ${shown}: use milliseconds`), String(v));
  }
});

// ---- loadConfig and the example ------------------------------------------------------------------------

test('loadConfig reads a file; a missing or unreadable file is a ConfigError naming it', () => {
  const dir = tmp();
  try {
    const file = join(dir, 'r2mirror.yaml');
    writeFileSync(file, one().replace('/srv/a', 'data'));
    const c = loadConfig(file, ENV);
    assert.equal(c.file, file);
    assert.equal(c.folders[0]!.path, join(dir, 'data'));
    const missing = join(dir, 'nope.yaml');
    fails(() => loadConfig(missing, ENV), new RegExp(`^${missing}: cannot read the config file: no such file \\(ENOENT\\); create one with "r2mirror init"$`));
    fails(() => loadConfig(dir, ENV), new RegExp(`^${dir}: cannot read the config file: is a directory \\(EISDIR\\)$`));
    writeFileSync(file, y(...REMOTE, 'transfers: 0'));
    fails(() => loadConfig(file, ENV), new RegExp(`^${file}:3:12: transfers: must be an integer`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadConfig: a file without read permission names the file', { skip: process.getuid?.() === 0 ? 'root can read anything' : false }, () => {
  const dir = tmp();
  try {
    const file = join(dir, 'r2mirror.yaml');
    writeFileSync(file, one());
    chmodSync(file, 0o000);
    fails(() => loadConfig(file, ENV), new RegExp(`^${file}: cannot read the config file: permission denied \\(EACCES\\)$`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('config.example.yaml is valid and documents every key', () => {
  const file = join(REPO, 'config.example.yaml');
  const c = loadConfig(file, ENV);
  assert.equal(c.remote.endpoint, 'https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com');
  assert.deepEqual(c.folders.map((f) => [f.name, f.path, f.bucket, f.prefix, f.deletes]),
    [['photos', '/srv/photos', 'photos', 'host1/photos/', 'mirror'], ['documents', '/srv/documents', 'photos', 'host1/documents/', 'trash']]);
  const text = readFileSync(file, 'utf8');
  for (const key of ['remote', 'accountId', 'jurisdiction', 'endpoint', 'credentialsFile', 'state', 'transfers', 'memory', 'partSize',
    'retries', 'requestTimeout', 'logLevel', 'maxDelete', 'folders', 'name', 'path', 'bucket', 'prefix', 'exclude', 'deleteExcluded', 'deletes',
    'trashPrefix', 'followSymlinks', 'oneFileSystem', 'daemon', 'quietPeriod', 'maxDelay', 'rescanInterval', 'verifyInterval', 'stopTimeout', 'pollInterval',
    'metrics', 'listen']) {
    assert.match(text, new RegExp(`^[ #-]*${key}:`, 'm'), key);
  }
  for (const src of ['R2_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'CREDENTIALS_DIRECTORY', 'LoadCredential=']) assert.ok(text.includes(src), src);
});

// ---- credentials -------------------------------------------------------------------------------------

function withCreds(fn: (dir: string, cfg: (credentialsFile?: string) => Config) => void): void {
  const dir = tmp();
  try {
    const cfg = (credentialsFile?: string): Config => parseConfig(
      y('remote:', '  endpoint: http://h', ...(credentialsFile ? [`  credentialsFile: ${credentialsFile}`] : []),
        'folders: [{name: a, path: /a, bucket: bkt}]'), join(dir, 'r2mirror.yaml'), ENV);
    fn(dir, cfg);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('loadCredentials reads a credentials file in its accepted formats', () => {
  withCreds((dir, cfg) => {
    const formats = [
      `R2_ACCESS_KEY_ID=${ID}\nR2_SECRET_ACCESS_KEY=${SECRET}\n`,
      `# comment\n\n[default]\naws_access_key_id = ${ID}\naws_secret_access_key = "${SECRET}"\n`,
      `AWS_ACCESS_KEY_ID='${ID}'\r\nAWS_SECRET_ACCESS_KEY=${SECRET}\r\n`,
      `access_key_id=${ID}\nsecret_access_key=${SECRET}\nregion = auto\n`,
      `export R2_ACCESS_KEY_ID=${ID}\n  ; ini comment\nexport R2_SECRET_ACCESS_KEY=${SECRET}\n`,
    ];
    for (const text of formats) {
      writeFileSync(join(dir, 'creds'), text);
      const source = `file ${join(dir, 'creds')}${text.includes('[default]') ? ' in [default]' : ''}`;
      assert.deepEqual(loadCredentials(cfg('creds'), {}), { accessKeyId: ID, secretAccessKey: SECRET, source }, text);
    }
  });
});

test('loadCredentials: AWS_PROFILE picks a section, [default] without it, a missing or ambiguous one is an error; session tokens pass on', () => {
  withCreds((dir, cfg) => {
    const creds = join(dir, 'creds');
    // Old code: the first section's keys, whatever AWS_PROFILE said.
    writeFileSync(creds, `[work]\naws_access_key_id = work-id\naws_secret_access_key = ${SECRET}\n\n[profile r2]\n` +
      `aws_access_key_id = r2-id\naws_secret_access_key = ${SECRET}\naws_session_token = TOKEN123456\n`);
    assert.deepEqual(loadCredentials(cfg('creds'), { AWS_PROFILE: 'r2' }),
      { accessKeyId: 'r2-id', secretAccessKey: SECRET, sessionToken: 'TOKEN123456', source: `file ${creds} in [r2]` });
    assert.equal(loadCredentials(cfg('creds'), { AWS_PROFILE: 'work' }).accessKeyId, 'work-id');
    fails(() => loadCredentials(cfg('creds'), { AWS_PROFILE: 'nope' }),
      new RegExp(`^${creds}: AWS_PROFILE names the profile "nope", but the file has no \\[nope\\] section \\(profiles: work, r2\\)$`));
    fails(() => loadCredentials(cfg('creds'), {}), /several profiles \(work, r2\) and no \[default\]: set AWS_PROFILE/);
    writeFileSync(creds, `[other]\naws_access_key_id = other-id\naws_secret_access_key = ${SECRET}\n[default]\n` +
      `aws_access_key_id = default-id\naws_secret_access_key = ${SECRET}\n`);
    assert.equal(loadCredentials(cfg('creds'), {}).accessKeyId, 'default-id');
    writeFileSync(creds, `[default]\naws_access_key_id = default-id\n[r2]\naws_secret_access_key = ${SECRET}\n`);
    fails(() => loadCredentials(cfg('creds'), {}), /no secret access key in \[default\]/); // keys of another section are not mixed in
    writeFileSync(creds, `R2_ACCESS_KEY_ID=plain-id\nR2_SECRET_ACCESS_KEY=${SECRET}\n`);
    assert.equal(loadCredentials(cfg('creds'), { AWS_PROFILE: 'r2' }).accessKeyId, 'plain-id'); // a file without sections ignores AWS_PROFILE
    // the shared credentials file, found through AWS_PROFILE; AWS_SESSION_TOKEN goes with the AWS_* pair
    mkdirSync(join(dir, '.aws'));
    writeFileSync(join(dir, '.aws', 'credentials'), `[r2]\naws_access_key_id = shared-id\naws_secret_access_key = ${SECRET}\n`);
    assert.equal(loadCredentials(cfg(), { HOME: dir, AWS_PROFILE: 'r2' }).source, `file ${join(dir, '.aws', 'credentials')} in [r2]`);
    fails(() => loadCredentials(cfg(), { HOME: dir }), /no credentials found; .*\(5\) ~\/\.aws\/credentials: AWS_PROFILE not set/);
    const env = { AWS_ACCESS_KEY_ID: 'aws-id', AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: 'SESSION99' };
    assert.equal(loadCredentials(cfg(), env).sessionToken, 'SESSION99');
    assert.equal(loadCredentials(cfg(), { ...env, R2_ACCESS_KEY_ID: 'r2-id', R2_SECRET_ACCESS_KEY: SECRET }).sessionToken, undefined);
  });
});

test('a session token is signed into every request (X-Amz-Security-Token), and no token header without one', async () => {
  const sent = async (sessionToken?: string): Promise<string | undefined> => {
    const { client } = createClient({ endpoint: 'http://127.0.0.1:9', accessKeyId: ID, secretAccessKey: SECRET, sessionToken, requestTimeoutMs: 1000, maxSockets: 1 });
    let token: string | undefined;
    // After signing, capture the header and stop: no request leaves the process.
    client.middlewareStack.add((_next) => async (args) => {
      token = (args.request as { headers: Record<string, string> }).headers['x-amz-security-token'];
      throw new Error('captured');
    }, { step: 'finalizeRequest', priority: 'low' });
    await assert.rejects(client.send(new HeadBucketCommand({ Bucket: 'b' })), /captured/);
    client.destroy();
    return token;
  };
  assert.equal(await sent('SESSION99'), 'SESSION99');
  assert.equal(await sent(undefined), undefined);
});

test('loadCredentials precedence: file, then R2_* env, then AWS_* env, then $CREDENTIALS_DIRECTORY/credentials', () => {
  withCreds((dir, cfg) => {
    writeFileSync(join(dir, 'creds'), `R2_ACCESS_KEY_ID=file-id\nR2_SECRET_ACCESS_KEY=${SECRET}\n`);
    mkdirSync(join(dir, 'systemd'));
    writeFileSync(join(dir, 'systemd', 'credentials'), `R2_ACCESS_KEY_ID=systemd-id\nR2_SECRET_ACCESS_KEY=${SECRET}\n`);
    const all = {
      R2_ACCESS_KEY_ID: 'r2-id', R2_SECRET_ACCESS_KEY: SECRET, AWS_ACCESS_KEY_ID: 'aws-id', AWS_SECRET_ACCESS_KEY: SECRET,
      CREDENTIALS_DIRECTORY: join(dir, 'systemd'),
    };
    const pick = (config: Config, env: Record<string, string>): [string, string] => {
      const c = loadCredentials(config, env);
      assert.equal(c.secretAccessKey, SECRET);
      return [c.accessKeyId, c.source];
    };
    assert.deepEqual(pick(cfg('creds'), all), ['file-id', `file ${join(dir, 'creds')}`]);
    assert.deepEqual(pick(cfg(), all), ['r2-id', 'env R2_ACCESS_KEY_ID']);
    const { R2_ACCESS_KEY_ID: _a, R2_SECRET_ACCESS_KEY: _b, ...noR2 } = all;
    assert.deepEqual(pick(cfg(), noR2), ['aws-id', 'env AWS_ACCESS_KEY_ID']);
    const { AWS_ACCESS_KEY_ID: _c, AWS_SECRET_ACCESS_KEY: _d, ...onlySystemd } = noR2;
    assert.deepEqual(pick(cfg(), onlySystemd), ['systemd-id', `file ${join(dir, 'systemd', 'credentials')}`]);
  });
});

test('loadCredentials errors name the file or variable and the missing piece', () => {
  withCreds((dir, cfg) => {
    const creds = join(dir, 'creds');
    fails(() => loadCredentials(cfg('creds'), {}), new RegExp(`^${creds}: cannot read the credentials file: no such file \\(ENOENT\\)$`));
    writeFileSync(creds, `R2_ACCESS_KEY_ID=${ID}\n`);
    fails(() => loadCredentials(cfg('creds'), {}), new RegExp(`^${creds}: no secret access key: add a line R2_SECRET_ACCESS_KEY=`));
    writeFileSync(creds, `R2_SECRET_ACCESS_KEY=${SECRET}\nR2_ACCESS_KEY_ID=\n`);
    fails(() => loadCredentials(cfg('creds'), {}), new RegExp(`^${creds}: no access key ID: add a line R2_ACCESS_KEY_ID=`));
    writeFileSync(creds, `R2_ACCESS_KEY_ID=${ID}\n${SECRET}\n`);
    fails(() => loadCredentials(cfg('creds'), {}), new RegExp(`^${creds}:2: expected KEY=value \\(the line is not shown`));
    fails(() => loadCredentials(cfg(), { R2_ACCESS_KEY_ID: ID }), /^R2_ACCESS_KEY_ID is set but R2_SECRET_ACCESS_KEY is not/);
    fails(() => loadCredentials(cfg(), { R2_SECRET_ACCESS_KEY: SECRET, AWS_ACCESS_KEY_ID: ID, AWS_SECRET_ACCESS_KEY: SECRET }),
      /^R2_SECRET_ACCESS_KEY is set but R2_ACCESS_KEY_ID is not/);
    fails(() => loadCredentials(cfg(), { AWS_ACCESS_KEY_ID: ID }), /^AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not/);
    const none = /no credentials found; tried \(1\) remote\.credentialsFile.*\(2\) R2_ACCESS_KEY_ID \+ R2_SECRET_ACCESS_KEY.*\(3\) AWS_ACCESS_KEY_ID \+ AWS_SECRET_ACCESS_KEY.*\(4\) \$CREDENTIALS_DIRECTORY\/credentials: /;
    fails(() => loadCredentials(cfg(), {}), new RegExp(none.source + 'CREDENTIALS_DIRECTORY not set; \\(5\\) ~\\/\\.aws\\/credentials: AWS_PROFILE not set$'));
    fails(() => loadCredentials(cfg(), { CREDENTIALS_DIRECTORY: dir }), new RegExp(none.source + `${join(dir, 'credentials')} does not exist; \\(5\\)`));
  });
});

test('credentials with whitespace, control or non-ASCII characters are refused, naming the variable or file:line, never the value', () => {
  withCreds((dir, cfg) => {
    const e = fails(() => loadCredentials(cfg(), { R2_ACCESS_KEY_ID: `${ID}\n`, R2_SECRET_ACCESS_KEY: SECRET }),
      /^environment variable R2_ACCESS_KEY_ID holds a newline at its end \(the value is not shown\); access keys are printable ASCII without spaces: remove it$/);
    assert.equal(e.exitCode, 78);
    fails(() => loadCredentials(cfg(), { R2_ACCESS_KEY_ID: ID, R2_SECRET_ACCESS_KEY: ` ${SECRET}` }), /^environment variable R2_SECRET_ACCESS_KEY holds a space at its start/);
    fails(() => loadCredentials(cfg(), { AWS_ACCESS_KEY_ID: ID, AWS_SECRET_ACCESS_KEY: `${SECRET}\r` }), /^environment variable AWS_SECRET_ACCESS_KEY holds a carriage return at its end/);
    fails(() => loadCredentials(cfg(), { R2_ACCESS_KEY_ID: `AK\x00ID`, R2_SECRET_ACCESS_KEY: SECRET }), /R2_ACCESS_KEY_ID holds a control character \(U\+0000\) at character 3/);
    fails(() => loadCredentials(cfg(), { R2_ACCESS_KEY_ID: `AK\u00a0ID`, R2_SECRET_ACCESS_KEY: SECRET }), /R2_ACCESS_KEY_ID holds a non-ASCII character \(U\+00A0\)/);
    const creds = join(dir, 'creds');
    writeFileSync(creds, `R2_ACCESS_KEY_ID=${ID}\nR2_SECRET_ACCESS_KEY="${SECRET} "\n`);
    fails(() => loadCredentials(cfg('creds'), {}), new RegExp(`^${creds}:2: R2_SECRET_ACCESS_KEY holds a space at its end \\(the value is not shown\\)`));
    writeFileSync(creds, `# keys\naws_access_key_id = ${ID.slice(0, 4)}\t${ID.slice(4)}\naws_secret_access_key = ${SECRET}\n`);
    fails(() => loadCredentials(cfg('creds'), {}), new RegExp(`^${creds}:2: aws_access_key_id holds a tab at character 5`));
    // a later duplicate line is ignored (the first one wins), so its content does not matter
    writeFileSync(creds, `R2_ACCESS_KEY_ID=${ID}\nR2_SECRET_ACCESS_KEY=${SECRET}\nR2_ACCESS_KEY_ID=two words\n`);
    assert.equal(loadCredentials(cfg('creds'), {}).accessKeyId, ID);
  });
});

test('loadCredentials: an unreadable systemd credentials file is an error, not skipped', () => {
  withCreds((dir, cfg) => {
    mkdirSync(join(dir, 'credentials')); // exists, but is a directory
    fails(() => loadCredentials(cfg(), { CREDENTIALS_DIRECTORY: dir }),
      new RegExp(`^${join(dir, 'credentials')}: cannot read the credentials file: is a directory \\(EISDIR\\)$`));
  });
});

// Runs last (node:test runs top-level tests in order): every message collected above.
test('no error message contains a secret or an access key used in these tests', () => {
  assert.ok(messages.length > 80, `only ${messages.length} messages collected`);
  for (const m of messages) {
    assert.ok(!m.includes(SECRET), m);
    assert.ok(!m.includes(ID), m);
  }
});
