// The pure parts of `r2mirror doctor`: the Node, clock and inotify thresholds, how S3 errors become a check line
// with a fix, the state DB header check, and the report layout.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { bucketFailure, clockCheck, countWatches, formatChecks, inotifyCheck, nodeCheck, notifyCheck, sqliteCheck, stateCheck } from '../../src/commands/doctor.js';
import { parseConfig } from '../../src/config.js';
import { SCHEMA_VERSION } from '../../src/state/schema.js';

test('nodeCheck: 22 and later pass; Node 20 is flagged as no longer supported', () => {
  assert.equal(nodeCheck('22.0.0').status, 'ok');
  assert.equal(nodeCheck('22.12.0').status, 'ok');
  assert.equal(nodeCheck('24.21.0').status, 'ok');
  const old = nodeCheck('20.20.2');
  assert.equal(old.status, 'fail');
  assert.match(old.detail, /Node\.js 20\.20\.2 is no longer supported: r2mirror needs 22\.0 or later/);
  assert.match(old.fix!, /Node\.js 24 LTS/);
  assert.equal(nodeCheck('18.20.0').status, 'fail');
  assert.equal(nodeCheck('').status, 'fail');
});

test('sqliteCheck opens the binding on a supported Node, and does not try on an old one (it would crash)', () => {
  const ok = sqliteCheck(true);
  assert.equal(ok.status, 'ok', ok.detail);
  assert.match(ok.detail, /better-sqlite3 13\.\d+\.\d+, SQLite 3\.\d+/);
  assert.equal((sqliteCheck(false)).status, 'skip');
});

test('notifyCheck: systemd-notify found is ok; none under systemd fails (a Type=notify start would time out); none without systemd is ok', () => {
  assert.equal(notifyCheck('/usr/bin/systemd-notify', true).status, 'ok');
  const none = notifyCheck(undefined, true);
  assert.equal(none.status, 'fail');
  assert.match(none.detail, /Type=notify start times out/);
  assert.ok(none.fix);
  assert.equal(notifyCheck(undefined, false).status, 'ok');
});

test('clockCheck: ok within 30 s, warn beyond, fail beyond 5 min, skip without a sample', () => {
  const at = (skewMs: number) => clockCheck([{ serverMs: 1e12 + skewMs, localMs: 1e12 }], 'http://e');
  assert.equal(at(0).status, 'ok');
  assert.match(at(400).detail, /agrees with the server's .*\(skew 0\.4 s\)/);
  assert.equal(at(-30_000).status, 'ok');
  assert.equal(at(45_000).status, 'warn');
  assert.match(at(45_000).detail, /is 45 s behind the server's/);
  assert.match(at(-45_000).detail, /is 45 s ahead of the server's/);
  const bad = at(-6 * 60_000);
  assert.equal(bad.status, 'fail');
  assert.match(bad.detail, /more than 15 minutes off are refused \(RequestTimeTooSkewed\)/);
  assert.match(bad.fix!, /NTP/);
  assert.equal(clockCheck([], 'http://e').status, 'skip');
});

test('inotifyCheck: fail over the limit, warn over 80%, fix names sysctl and a sysctl.d line', () => {
  const c = (dirs: number) => [{ folder: 'a', dirs, capped: false }];
  assert.equal(inotifyCheck(8192, c(110)).status, 'ok');
  const warn = inotifyCheck(1000, c(850));
  assert.equal(warn.status, 'warn');
  const fail = inotifyCheck(1000, [...c(900), { folder: 'b', dirs: 200, capped: true }]);
  assert.equal(fail.status, 'fail');
  assert.match(fail.detail, /needs more than 1100 watches \(a: 900 dirs, b: 200\+ dirs\), max_user_watches is 1000/);
  assert.match(fail.fix!, /^sysctl fs\.inotify\.max_user_watches=524288, .*"fs\.inotify\.max_user_watches=524288" into \/etc\/sysctl\.d\/90-r2mirror\.conf/);
  assert.match(inotifyCheck(1000, c(1_000_000)).fix!, /max_user_watches=2097152/);
  assert.equal(inotifyCheck(undefined, []).status, 'skip');
});

test('countWatches: directories (one watch each), with the folder\'s excludes', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r2m-doctor-'));
  try {
    for (const rel of ['a/b/c.txt', 'a/d.tmp', 'node_modules/x/y.js', 'e.txt']) {
      fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), 'x');
    }
    assert.deepEqual(await countWatches({ name: 'f', path: dir, exclude: ['*.tmp', 'node_modules/'] }, 1000), { folder: 'f', dirs: 3, capped: false });
    assert.deepEqual(await countWatches({ name: 'f', path: dir, exclude: [] }, 1000), { folder: 'f', dirs: 5, capped: false });
    assert.equal((await countWatches({ name: 'f', path: dir, exclude: [] }, 2)).capped, true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bucketFailure: each S3 error says what is wrong and how to fix it', () => {
  const err = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  const f = { name: 'photos', bucket: 'pics' };
  const fail = (e: unknown) => bucketFailure(e, f, 'https://x.r2', '/etc/c.yaml', 'env R2_ACCESS_KEY_ID', 0);
  const missing = fail(err('NoSuchBucket', 404));
  assert.equal(missing.name, 'bucket photos');
  assert.match(missing.detail, /^bucket pics does not exist at https:\/\/x\.r2$/);
  assert.match(missing.fix!, /wrangler r2 bucket create pics.*folders\[0\]\.bucket in \/etc\/c\.yaml/);
  assert.match(fail(err('NotFound', 404)).detail, /does not exist/, 'HeadBucket has no body: the status decides');
  const denied = fail(err('Forbidden', 403));
  assert.match(denied.detail, /^access denied \(Forbidden \(HTTP 403\)\)$/, 'the words sync uses (errors.ts S3_FAILURES)');
  assert.match(denied.fix!, /Object Read & Write on bucket "pics".*env R2_ACCESS_KEY_ID/);
  assert.match(fail(err('SignatureDoesNotMatch', 403)).detail, /secret access key is wrong/);
  assert.match(fail(err('InvalidAccessKeyId', 403)).detail, /does not know the access key id/);
  assert.match(fail(err('RequestTimeTooSkewed', 403)).fix!, /NTP/);
  const down = fail(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }));
  assert.match(down.detail, /^cannot reach https:\/\/x\.r2: ECONNREFUSED/);
  assert.match(down.fix!, /remote\.endpoint/);
  for (const c of [missing, denied, down]) assert.equal(c.status, 'fail');
});

test('stateCheck: missing (ok), current, older, newer, not a database — reading only the header', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r2m-doctor-state-'));
  try {
    const config = (state: string) => parseConfig(`remote: {endpoint: "http://h:1"}\nstate: ${state}\nfolders: [{name: a, path: /srv/a, bucket: abc}]\n`, path.join(dir, 'c.yaml'), {});
    const missing = stateCheck(config(path.join(dir, 'new', 'state.db')));
    assert.equal(missing.status, 'ok');
    assert.match(missing.detail, /does not exist yet: it will be created on the first sync/);
    assert.equal(fs.existsSync(path.join(dir, 'new')), false, 'doctor created nothing');
    const db = path.join(dir, 'state.db');
    const header = (version: number) => {
      const b = Buffer.alloc(4096);
      b.write('SQLite format 3\0', 0, 'latin1');
      b.writeUInt32BE(version, 60);
      fs.writeFileSync(db, b);
    };
    header(SCHEMA_VERSION);
    assert.match(stateCheck(config(db)).detail, new RegExp(`schema version ${SCHEMA_VERSION}, writable$`));
    header(SCHEMA_VERSION + 1);
    const newer = stateCheck(config(db));
    assert.equal(newer.status, 'fail');
    assert.match(newer.detail, /newer than this r2mirror knows/);
    if (SCHEMA_VERSION > 1) {
      header(1);
      assert.match(stateCheck(config(db)).detail, new RegExp(`schema version 1, upgraded to ${SCHEMA_VERSION} by the next sync`));
    }
    fs.writeFileSync(db, 'not a database at all, but long enough to have a header of one hundred bytes..........................');
    const junk = stateCheck(config(db));
    assert.equal(junk.status, 'fail');
    assert.match(junk.detail, /is not an SQLite database/);
    assert.match(junk.fix!, /move .* away/);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['state.db'], 'no -wal, -shm or lock file appeared');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('formatChecks: one line per check, a fix line under failures, a verdict', () => {
  const text = formatChecks([
    { name: 'node', status: 'ok', detail: 'fine' },
    { name: 'bucket a', status: 'fail', detail: 'gone', fix: 'make it' },
    { name: 'clock', status: 'warn', detail: 'drifting', fix: 'ntp' },
    { name: 'inotify', status: 'skip', detail: 'not linux' },
  ]);
  assert.equal(text, [
    'ok    node: fine',
    'FAIL  bucket a: gone',
    '      fix: make it',
    'warn  clock: drifting',
    '      fix: ntp',
    'skip  inotify: not linux',
    'r2mirror doctor: 1 problem(s), 1 warning(s)',
    '',
  ].join('\n'));
  assert.match(formatChecks([{ name: 'node', status: 'ok', detail: 'x' }]), /all checks passed\n$/);
});
