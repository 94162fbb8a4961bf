// `r2mirror doctor` end to end against the real server behind the R2 proxy: a good set-up passes every check and
// writes nothing; wrong credentials, a missing bucket, a missing folder and a broken config each fail with a fix.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Store } from '../../src/state/store.js';
import { fixture, runCli, type Fixture, type RunResult } from '../harness/mirror.js';

interface Check { name: string; status: string; detail: string; fix?: string }

const byName = (r: RunResult): Map<string, Check> => new Map((r.json.checks as Check[]).map((c) => [c.name, c]));

/** Every file under dir with its size and mtime: to prove doctor changed nothing there. */
function snapshot(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[]).sort().map((rel) => {
    const st = fs.statSync(path.join(dir, rel));
    return `${rel} ${st.size} ${st.mtimeMs}`;
  });
}

describe('doctor', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture('doctor');
    f.write('a.txt', 'a');
    f.write('sub/dir/b.txt', 'b');
  });
  after(async () => f?.close());

  /** Run doctor with a variant of the fixture's config. */
  const withConfig = (name: string, edit: (text: string) => string, env: Record<string, string> = {}) => {
    const file = path.join(f.dir, name);
    fs.writeFileSync(file, edit(fs.readFileSync(f.configFile, 'utf8')));
    return runCli(['doctor', '--config', file, '--json'], { R2_ACCESS_KEY_ID: f.env.accessKeyId, R2_SECRET_ACCESS_KEY: f.env.secretAccessKey, ...env });
  };

  test('a good set-up: exit 0, every check ok, only HeadBucket + ListObjectsV2 sent, nothing written', async () => {
    f.proxy.resetCounts();
    const r = await f.cmd('doctor', ['--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.json.ok, true);
    const checks = byName(r);
    assert.deepEqual([...checks.keys()], ['node', 'sqlite', 'notify', 'config', 'credentials', 'state', 'folder data', 'inotify', 'bucket data', 'clock']);
    for (const c of checks.values()) assert.equal(c.status, 'ok', `${c.name}: ${c.detail}`);
    assert.match(checks.get('credentials')!.detail, /env R2_ACCESS_KEY_ID/);
    assert.match(checks.get('sqlite')!.detail, /^the state DB binding works \(better-sqlite3 13\.\d+\.\d+, SQLite 3\.\d+\.\d+\)$/);
    assert.match(checks.get('state')!.detail, /does not exist yet: it will be created on the first sync/);
    assert.match(checks.get('inotify')!.detail, /needs 3 watches \(data: 3 dirs\)/);
    assert.match(checks.get('bucket data')!.detail, new RegExp(`${f.bucket} at ${f.proxy.endpoint}: readable, prefix "${f.prefix}" is empty`));
    // The Date header has whole seconds; against a local server the skew is a rounding error.
    const skew = Number(/skew (-?\d+\.\d) s/.exec(checks.get('clock')!.detail)![1]);
    assert.ok(Math.abs(skew) <= 2, `skew ${skew} s`);
    assert.deepEqual(f.proxy.counts().byOp, { HeadBucket: 1, ListObjectsV2: 1 });
    assert.equal(fs.existsSync(path.dirname(f.statePath)), false, 'doctor created the state directory');

    const human = await f.cmd('doctor');
    assert.equal(human.code, 0);
    assert.match(human.stdout, /^ok {4}node: Node\.js /m);
    assert.match(human.stdout, /^ok {4}bucket data: /m);
    assert.match(human.stdout, /r2mirror doctor: all checks passed\n$/);
  });

  test('after a sync: the state DB is checked read-only; a running r2mirror holding the lock is not a failure', async () => {
    assert.equal((await f.run([])).code, 0);
    const before = snapshot(path.dirname(f.statePath));
    const r = await f.cmd('doctor', ['--json']);
    assert.equal(r.code, 0, r.stdout);
    assert.match(byName(r).get('state')!.detail, /state\.db: schema version \d+, writable$/);
    assert.match(byName(r).get('bucket data')!.detail, /holds objects/);
    assert.deepEqual(snapshot(path.dirname(f.statePath)), before, 'doctor changed the state directory');

    const store = Store.open(f.statePath); // takes the single-writer lock, as a daemon does
    try {
      const busy = await f.cmd('doctor', ['--json']);
      assert.equal(busy.code, 0, busy.stdout);
      const state = byName(busy).get('state')!;
      assert.equal(state.status, 'ok');
      assert.match(state.detail, /in use by a running r2mirror \(daemon\?\)$/);
    } finally {
      store.close();
    }
  });

  test('a wrong secret: exit 1, the bucket check fails with a fix, the secret appears nowhere', async () => {
    const secret = 'Wr0ngSecretThatMustNotLeak123';
    const r = await f.cmd('doctor', [], { env: { R2_SECRET_ACCESS_KEY: secret } });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^FAIL {2}bucket data: credentials rejected: the secret access key is wrong \(SignatureDoesNotMatch\)\n {6}fix: .+/m);
    assert.match(r.stdout, /r2mirror doctor: 1 problem\(s\)/);
    for (const s of [secret, f.env.accessKeyId]) assert.ok(!(r.stdout + r.stderr).includes(s), `output contains ${s}`);
    const j = await f.cmd('doctor', ['--json'], { env: { R2_SECRET_ACCESS_KEY: secret } });
    assert.equal(j.json.ok, false);
    assert.ok(byName(j).get('bucket data')!.fix);
    assert.ok(!JSON.stringify(j.json).includes(secret));
  });

  test('no credentials at all: the credentials check fails and the bucket checks are skipped', async () => {
    const r = await runCli(['doctor', '--config', f.configFile, '--json']);
    assert.equal(r.code, 1);
    const c = byName(r);
    assert.equal(c.get('credentials')!.status, 'fail');
    assert.match(c.get('credentials')!.fix!, /R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY/);
    assert.equal(c.get('buckets')!.status, 'skip');
  });

  test('a missing bucket fails naming it, with a fix', async () => {
    const r = await withConfig('nobucket.yaml', (t) => t.replace(`bucket: ${f.bucket}`, 'bucket: r2m-no-such-bucket'));
    assert.equal(r.code, 1);
    const c = byName(r).get('bucket data')!;
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /^bucket r2m-no-such-bucket does not exist at /);
    assert.match(c.fix!, /wrangler r2 bucket create r2m-no-such-bucket\b.*folders\[0\]\.bucket in .*nobucket\.yaml/);
  });

  test('a missing folder root fails, with a fix', async () => {
    const gone = path.join(f.dir, 'unmounted');
    const r = await withConfig('noroot.yaml', (t) => t.replace(`path: ${f.root}`, `path: ${gone}`));
    assert.equal(r.code, 1);
    const c = byName(r).get('folder data')!;
    assert.equal(c.status, 'fail');
    assert.equal(c.detail, `${gone} does not exist`);
    assert.match(c.fix!, /mount the disk .*folders\[0\]\.path/);
    assert.equal(byName(r).get('bucket data')!.status, 'ok', 'the other checks still run');
  });

  test('an unreachable endpoint fails with a fix, quickly', async () => {
    const t0 = Date.now();
    const r = await withConfig('down.yaml', (t) => t.replace(f.proxy.endpoint, 'http://127.0.0.1:9'));
    assert.equal(r.code, 1);
    const c = byName(r).get('bucket data')!;
    assert.match(c.detail, /^cannot reach http:\/\/127\.0\.0\.1:9: .*ECONNREFUSED/);
    assert.match(c.fix!, /remote\.endpoint/);
    assert.equal(byName(r).get('clock')!.status, 'skip');
    assert.ok(Date.now() - t0 < 20_000);
  });

  test('a config with a YAML error: FAIL with file and line, no crash, the rest skipped', async () => {
    const file = path.join(f.dir, 'broken.yaml');
    fs.writeFileSync(file, 'remote:\n  endpoint: http://x\nfolders:\n  - name: a\n   path: /x\n');
    const r = await runCli(['doctor', '--config', file]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, new RegExp(`^FAIL  config: ${file.replace(/[.]/g, '\\.')}:5:\\d+: invalid YAML`, 'm'));
    assert.match(r.stdout, /^ {6}fix: edit .*broken\.yaml; every key is described in config\.example\.yaml$/m);
    assert.match(r.stdout, /^skip {2}credentials: not checked: the config file did not load$/m);
    const none = await runCli(['doctor', '--config', path.join(f.dir, 'nope.yaml'), '--json']);
    assert.equal(none.code, 1);
    assert.match(byName(none).get('config')!.fix!, /r2mirror init --config .*nope\.yaml/);
  });

  test('usage errors exit 2', async () => {
    const r = await f.cmd('doctor', ['--frob']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /doctor: Unknown option '--frob'/);
  });
});
