// Credentials never leave the process: a varied set of real CLI runs (success, dry run, JSON, debug and trace
// logs, rejected keys, a missing bucket, broken config files, a failing file, a server that echoes the key back)
// must not print the access key ID or the secret anywhere, and the state DB must not hold them either.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixture, type Fixture, type RunResult } from '../harness/mirror.js';

describe('secrets never reach the output or the state DB', () => {
  let f: Fixture;
  let realId: string;
  let realSecret: string;
  // Distinctive values for the runs that need credentials that do not work (any S3 server rejects them).
  const fakeId = `AKIDLEAKCHECK${randomBytes(6).toString('hex').toUpperCase()}`;
  const fakeSecret = `leak/Check+${randomBytes(12).toString('base64url')}=Zz9`;
  const runs: { what: string; r: RunResult }[] = [];
  let echoServer: Server | undefined;

  /** Every value that must never be printed, plus long slices of the secrets (a truncated echo is a leak too). */
  function needles(): string[] {
    const out = [realId, realSecret, fakeId, fakeSecret];
    for (const s of [realSecret, fakeSecret]) if (s.length >= 20) out.push(s.slice(0, 12), s.slice(-12));
    return out;
  }

  /** Run, remember the output, and check it at once (the final test checks all outputs again and the DB). */
  async function run(what: string, args: string[], o: { env?: Record<string, string | undefined> } = {}): Promise<RunResult> {
    const r = await f.run(args, o);
    runs.push({ what, r });
    assertClean(what, r);
    return r;
  }

  function assertClean(what: string, r: RunResult): void {
    for (const n of needles()) {
      assert.ok(!r.stdout.includes(n), `${what}: stdout holds a credential (${n.slice(0, 4)}...):\n${r.stdout}`);
      assert.ok(!r.stderr.includes(n), `${what}: stderr holds a credential (${n.slice(0, 4)}...):\n${r.stderr}`);
    }
  }

  /** Like run(), for any command (`f.cmd`). */
  async function runCmd(what: string, command: string, args: string[], o: { env?: Record<string, string | undefined> } = {}): Promise<RunResult> {
    const r = await f.cmd(command, args, { ...o, timeoutMs: 60_000 });
    runs.push({ what, r });
    assertClean(what, r);
    return r;
  }

  /** A copy of the fixture's config with `edit` applied, as its own file. */
  function configVariant(name: string, edit: (text: string) => string): string {
    const file = path.join(f.dir, `${name}.yaml`);
    fs.writeFileSync(file, edit(fs.readFileSync(f.configFile, 'utf8')));
    return file;
  }

  before(async () => {
    f = await fixture('secrets');
    realId = f.env.accessKeyId;
    realSecret = f.env.secretAccessKey;
    assert.ok(realId.length >= 4 && realSecret.length >= 8, 'the test credentials are long enough to be searched for');
    f.write('a.txt', 'alpha');
    f.write('dir/b.txt', 'bravo');
    f.write('dir/c.bin', randomBytes(3000));
  });

  after(async () => {
    echoServer?.closeAllConnections();
    await new Promise((r) => (echoServer ? echoServer.close(r) : r(undefined)));
    await f?.close();
  });

  test('a successful first sync', async () => {
    const r = await run('first sync', []);
    assert.equal(r.code, 0, r.stderr);
  });

  test('--dry-run with changes pending', async () => {
    f.write('new.txt', 'new');
    fs.rmSync(path.join(f.root, 'a.txt'));
    const r = await run('dry run', ['--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /upload +host1\/data\/new\.txt/);
  });

  test('--json', async () => {
    const r = await run('json', ['--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.totals.uploaded.files, 1);
  });

  test('--log-level debug and trace', async () => {
    await new Promise((res) => setTimeout(res, 1100)); // one write per second per key (R2)
    f.write('new.txt', 'newer');
    const r = await run('debug', ['--log-level', 'debug', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.logs.some((l) => l.level === 20), 'debug lines were printed');
    const t = await run('trace', ['--log-level', 'trace']);
    assert.equal(t.code, 0, t.stderr);
  });

  test('credentials from a credentials file', async () => {
    const creds = path.join(f.dir, 'credentials');
    fs.writeFileSync(creds, `# r2mirror\nR2_ACCESS_KEY_ID=${realId}\nR2_SECRET_ACCESS_KEY="${realSecret}"\n`, { mode: 0o600 });
    const file = configVariant('with-file', (t) => t.replace(/^(  endpoint: .*)$/m, `$1\n  credentialsFile: ${creds}`));
    const r = await run('credentials file', ['--config', file, '--log-level', 'debug'], { env: { R2_ACCESS_KEY_ID: undefined, R2_SECRET_ACCESS_KEY: undefined } });
    assert.equal(r.code, 0, r.stderr);
  });

  test('a wrong secret', async () => {
    const r = await run('wrong secret', ['--log-level', 'trace'], { env: { R2_SECRET_ACCESS_KEY: fakeSecret } });
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /SignatureDoesNotMatch/);
  });

  test('an unknown access key', async () => {
    const r = await run('unknown key', ['--log-level', 'debug'], { env: { R2_ACCESS_KEY_ID: fakeId, R2_SECRET_ACCESS_KEY: fakeSecret } });
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /InvalidAccessKeyId/);
  });

  test('only the access key set (the secret missing)', async () => {
    const r = await run('id only', [], { env: { R2_ACCESS_KEY_ID: fakeId, R2_SECRET_ACCESS_KEY: undefined } });
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /R2_ACCESS_KEY_ID is set but R2_SECRET_ACCESS_KEY is not/);
  });

  test('a missing bucket', async () => {
    const file = configVariant('missing-bucket', (t) => t.replace(/^(    bucket: ).*$/m, `$1r2m-missing-${randomBytes(4).toString('hex')}`));
    const r = await run('missing bucket', ['--config', file, '--log-level', 'trace']);
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /the bucket does not exist/);
  });

  test('bad config files that carry a secret', async () => {
    const cases: [string, (t: string) => string, RegExp][] = [
      ['secret as a config key', (t) => `${t}secret_access_key: ${fakeSecret}\n`, /unknown key "secret_access_key": secrets are not read from the config file/],
      ['secret on an invalid YAML line', (t) => `${t}remote_secret: [${fakeSecret}\n`, /invalid YAML/],
      ['credentials in the endpoint URL', (t) => t.replace(/^  endpoint: http:\/\/(.*)$/m, `  endpoint: http://${fakeId}:${encodeURIComponent(fakeSecret)}@$1`), /remote\.endpoint: must not contain credentials/],
      ['secret as the endpoint', (t) => t.replace(/^  endpoint: .*$/m, `  endpoint: "${fakeSecret}@"`), /remote\.endpoint: must be an http:\/\/ or https:\/\/ URL .*value not shown/],
    ];
    for (const [what, edit, expected] of cases) {
      const file = configVariant(what.replace(/\W+/g, '-'), edit);
      const r = await run(what, ['--config', file]);
      assert.equal(r.code, 78, `${what}: ${r.stderr}`);
      assert.match(r.stderr, expected, what);
    }
  });

  test('a credentials file with a malformed line that holds the secret', async () => {
    const creds = path.join(f.dir, 'bad-credentials');
    fs.writeFileSync(creds, `R2_ACCESS_KEY_ID=${fakeId}\nR2_SECRET_ACCESS_KEY ${fakeSecret}\n`, { mode: 0o600 });
    const file = configVariant('bad-creds-file', (t) => t.replace(/^(  endpoint: .*)$/m, `$1\n  credentialsFile: ${creds}`));
    const r = await run('malformed credentials file', ['--config', file]);
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, new RegExp(`${creds}:2: expected KEY=value \\(the line is not shown because it may hold a secret\\)`));
  });

  test('a file that keeps failing (server errors, retries logged)', async () => {
    await new Promise((res) => setTimeout(res, 1100));
    f.write('dir/b.txt', 'bravo, changed');
    const file = configVariant('one-retry', (t) => t.replace(/^retries: \d+$/m, 'retries: 1'));
    f.proxy.setFaults({ seed: 7, rate: 1, kinds: ['500'], only: (op) => op.op === 'PutObject' && !!op.key?.endsWith('dir/b.txt') });
    try {
      const r = await run('failing file', ['--config', file, '--log-level', 'debug']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /failed: dir\/b\.txt: /);
    } finally {
      f.proxy.setFaults(undefined);
    }
  });

  test('a server whose errors echo the request\'s credentials back', async () => {
    // Real S3 puts <AWSAccessKeyId> and the string to sign into SignatureDoesNotMatch errors; this one also
    // repeats the whole Authorization header. Whatever the server says, the output must be scrubbed.
    let code = 'SignatureDoesNotMatch';
    echoServer = createServer((req, res) => {
      req.resume();
      const auth = String(req.headers.authorization ?? '');
      const id = /Credential=([^/]+)\//.exec(auth)?.[1] ?? '';
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end(req.method === 'HEAD' ? undefined : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
        `<Message>The request signature we calculated does not match (you sent ${auth})</Message>` +
        `<AWSAccessKeyId>${id}</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256 ${id}</StringToSign></Error>`);
    });
    await new Promise<void>((r) => echoServer!.listen(0, '127.0.0.1', () => r()));
    const { port } = echoServer.address() as AddressInfo;
    const file = configVariant('echo', (t) => t.replace(/^  endpoint: .*$/m, `  endpoint: http://127.0.0.1:${port}`));
    for (const c of ['SignatureDoesNotMatch', 'AccessDenied']) {
      code = c;
      for (const [id, secret] of [[fakeId, fakeSecret], [realId, realSecret]] as const) {
        const r = await run(`echoing server, ${c} (${id === fakeId ? 'fake' : 'real'} key)`, ['--config', file, '--log-level', 'trace', '--json'],
          { env: { R2_ACCESS_KEY_ID: id, R2_SECRET_ACCESS_KEY: secret } });
        assert.equal(r.code, 78, r.stderr);
        assert.match(r.stderr, new RegExp(c));
        // AccessDenied messages quote the server's words: there the echoed key must show up replaced.
        if (c === 'AccessDenied') assert.match(r.stderr, /you sent AWS4-HMAC-SHA256 Credential=\[REDACTED\]\//);
      }
    }
  });

  test('every other command, working and with a wrong secret, at the most verbose level it has', async () => {
    const wrong = { env: { R2_SECRET_ACCESS_KEY: fakeSecret } };
    const to = path.join(f.dir, 'restored');
    const ok: [string, string[]][] = [
      ['status', ['--json']], ['doctor', ['--json']], ['ls', ['--recursive', '--json']], ['buckets', []], ['cors', ['get']],
      ['restore', ['--folder', 'data', '--to', to, '--log-level', 'trace', '--json']],
    ];
    for (const [cmd, args] of ok) {
      const r = await runCmd(`${cmd} (working)`, cmd, args);
      assert.ok(r.code === 0 || r.code === 1, `${cmd}: exit ${r.code}\n${r.stderr}`);
    }
    const failing: [string, string[], number][] = [
      ['doctor', [], 1], ['ls', ['--json'], 78], ['buckets', [], 78], ['cors', ['get'], 78],
      ['restore', ['--folder', 'data', '--to', path.join(f.dir, 'restored-2'), '--log-level', 'trace'], 78],
      ['daemon', ['--log-level', 'trace'], 78],
    ];
    for (const [cmd, args, code] of failing) {
      const r = await runCmd(`${cmd} (wrong secret)`, cmd, args, wrong);
      assert.equal(r.code, code, `${cmd}: ${r.stderr}`);
    }
    // A presigned URL carries the access key ID by design (X-Amz-Credential); never the secret.
    const p = await f.cmd('presign', ['a.txt', '--expires', '60']);
    assert.equal(p.code, 0, p.stderr);
    for (const n of [realSecret, realSecret.slice(0, 12), realSecret.slice(-12)]) assert.ok(!p.stdout.includes(n) && !p.stderr.includes(n), 'presign printed the secret');
  });

  test('no run printed a credential, and the state DB files do not hold one', () => {
    assert.ok(runs.length >= 15, `${runs.length} runs`);
    for (const { what, r } of runs) assertClean(what, r);
    const files = ['', '-wal', '-shm', '.lock'].map((s) => f.statePath + s).filter((p) => fs.existsSync(p));
    assert.ok(files.length >= 2, `state DB files: ${files.join(', ')}`);
    for (const p of files) {
      const bytes = fs.readFileSync(p);
      for (const n of needles()) assert.equal(bytes.indexOf(Buffer.from(n, 'utf8')), -1, `${p} holds a credential (${n.slice(0, 4)}...)`);
    }
  });
});
