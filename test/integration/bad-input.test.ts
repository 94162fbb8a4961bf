// Bad input, one case per test: broken config files, wrong credentials, unreachable or lying endpoints, odd
// files and names, unsafe folder roots and unusable state DBs. Every case asserts (a) a message that names the
// thing, (b) the documented exit code and (c) that nothing was lost or wrongly deleted (bucket and DB before/after).

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import { Database } from '../../src/state/sqlite.js';
import { md5, runCli, type RunResult } from '../harness/mirror.js';
import { R2Proxy } from '../harness/r2proxy.js';
import { createTestBucket, emptyAndDeleteBucket, ensureS3, listAll, makeClient, type S3Env } from '../harness/s3server.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = path.join(REPO, 'src', 'cli.ts');
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

let env: S3Env;
let client: S3Client;
let bucket: string;
let proxy: R2Proxy;
let base: string;

/** Objects under a prefix and the rows of a state DB: what must not change when a run is refused. */
interface Snapshot {
  objects: [string, { size: number; etag: string }][];
  rows: { key: string; etag: string; size: number }[];
}

/** One scenario's world: a folder, its prefix in the shared bucket, its own state DB and config file. */
interface World {
  readonly name: string;
  readonly dir: string;
  readonly root: string;
  readonly prefix: string;
  state: string;
  readonly configFile: string;
  /** Run the CLI as root (default) or, for permission cases, as user nobody. */
  asNobody: boolean;
  write(rel: string, content: string | Buffer): void;
  config(o?: { top?: string; folder?: string; endpoint?: string; bucket?: string; file?: string }): string;
  run(args?: string[], o?: { env?: Record<string, string | undefined>; config?: string }): Promise<RunResult>;
  objects(): Promise<Map<string, { size: number; etag: string }>>;
  rows(): { key: string; etag: string; size: number }[];
  snapshot(): Promise<Snapshot>;
}

function world(name: string): World {
  const dir = path.join(base, name);
  const root = path.join(dir, 'data');
  fs.mkdirSync(root, { recursive: true });
  const configFile = path.join(dir, 'r2mirror.yaml');
  const w: World = {
    name, dir, root, prefix: `${name}/`, state: path.join(dir, 'state', 'state.db'), configFile, asNobody: false,
    write(rel, content) {
      const abs = path.join(root, rel);
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, content);
    },
    config(o = {}) {
      const file = o.file ?? configFile;
      fs.writeFileSync(file, [
        'remote:',
        `  endpoint: ${o.endpoint ?? proxy.endpoint}`,
        `state: ${w.state}`,
        'retries: 2',
        o.top ?? '',
        'folders:',
        '  - name: data',
        `    path: ${root}`,
        `    bucket: ${o.bucket ?? bucket}`,
        `    prefix: ${w.prefix}`,
        o.folder ?? '',
      ].filter(Boolean).join('\n') + '\n');
      return file;
    },
    run(args = [], o = {}) {
      const all = ['sync', '--config', o.config ?? configFile, ...args];
      const creds = { R2_ACCESS_KEY_ID: env.accessKeyId, R2_SECRET_ACCESS_KEY: env.secretAccessKey, ...o.env };
      return w.asNobody ? runAsNobody(all, creds) : runCli(all, creds, 60_000);
    },
    objects: () => listAll(client, bucket, w.prefix),
    rows() {
      if (!fs.existsSync(w.state)) return [];
      const db = new Database(w.state, { readonly: true });
      try {
        return db.prepare('SELECT key, etag, size FROM objects ORDER BY key').all() as { key: string; etag: string; size: number }[];
      } finally {
        db.close();
      }
    },
    async snapshot() {
      return { objects: [...(await w.objects())].sort(([a], [b]) => (a < b ? -1 : 1)), rows: w.rows() };
    },
  };
  w.config();
  return w;
}

/** `runCli` as user nobody (root ignores file modes): setpriv drops uid, gid and supplementary groups. */
function runAsNobody(args: string[], extraEnv: Record<string, string | undefined>): Promise<RunResult> {
  return runCli(args, { ...extraEnv, HOME: '/nonexistent' }, 60_000, ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups']);
}

/** Why permission cases cannot run here, or undefined when they can (non-root, or root with setpriv). */
function permissionSkip(): string | undefined {
  if (!isRoot) return undefined;
  const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '-e', 'process.exit(process.getuid() === 65534 ? 0 : 1)']);
  if (r.error || r.status !== 0) return `running as root and cannot switch to user nobody with setpriv (${r.error?.message ?? `exit ${r.status}`}): root ignores file modes`;
  return undefined;
}

/** Mount a tmpfs at dir (root only); returns why it cannot, or undefined on success. */
function mountTmpfs(dir: string, options: string): string | undefined {
  if (!isRoot) return 'needs root to mount a tmpfs';
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `cannot mount a tmpfs here (${(r.error?.message ?? r.stderr).trim()})`;
  return undefined;
}

function mountCmd(...args: string[]): void {
  const r = spawnSync('mount', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `mount ${args.join(' ')}: ${r.stderr}`);
}

function umount(dir: string): void {
  spawnSync('umount', ['-l', dir]);
}

/** The whole human output of a run (summary on stdout, messages and log lines on stderr). */
const out = (r: RunResult) => `${r.stdout}\n${r.stderr}`;

/** Exit code and message: every needle must appear; never an internal error or a stack trace. */
function expectRun(r: RunResult, code: number, ...needles: (string | RegExp)[]): void {
  const text = out(r);
  assert.equal(r.code, code, `exit code ${r.code}, expected ${code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  for (const n of needles) {
    if (typeof n === 'string') assert.ok(text.includes(n), `output should mention ${JSON.stringify(n)}\n${text}`);
    else assert.match(text, n);
  }
  assert.doesNotMatch(text, /internal error|\n\s+at .+:\d+:\d+\)?\n/, 'no internal error, no stack trace');
}

/** The totals of a finished run, from its "sync finished" log line (the human summary is on stdout). */
function totals(r: RunResult): { uploaded: { files: number }; adopted: { files: number }; deleted: number; failed: number; skipped: number; unchanged: number } {
  const line = r.logs.find((l) => l.msg === 'sync finished');
  assert.ok(line, `a "sync finished" log line:\n${r.stderr}`);
  return line;
}

/** The one line on stderr that a refused run prints (config, credentials, DB problems). */
function errorLine(r: RunResult): string {
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('r2mirror: '));
  assert.equal(lines.length, 1, `one "r2mirror: ..." line on stderr:\n${r.stderr}`);
  return lines[0]!;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

before(async () => {
  env = await ensureS3();
  client = makeClient(env);
  bucket = await createTestBucket(client, 'bad-input');
  proxy = await R2Proxy.start({ target: env.endpoint });
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'r2m-bad-'));
  fs.chmodSync(base, 0o755); // user nobody must reach the permission cases' trees
});

after(async () => {
  await proxy?.close();
  if (client && bucket) await emptyAndDeleteBucket(client, bucket).catch(() => undefined);
  client?.destroy();
  if (base) fs.rmSync(base, { recursive: true, force: true });
});

// ---- configuration: refused before anything is read or sent (exit 78) ----------------------------------------

describe('bad configuration', () => {
  // A world that synced once and then changed locally: a run that wrongly went ahead would upload and delete.
  let w: World;
  let snap: Snapshot;
  before(async () => {
    w = world('cfg');
    w.write('keep.txt', 'keep');
    w.write('gone.txt', 'gone');
    w.write('sub/x.txt', 'x');
    expectRun(await w.run(), 0);
    fs.rmSync(path.join(w.root, 'gone.txt'));
    w.write('pending.txt', 'pending');
    snap = await w.snapshot();
    assert.equal(snap.objects.length, 3);
    assert.equal(snap.rows.length, 3);
  });
  after(async () => {
    // the config world was never touched by the refused runs: the good config still mirrors the change
    assert.deepEqual(await w.snapshot(), snap);
  });

  /** Write `text` as a config file, run, expect exit 78 and a message naming `file:line:col` and the key. */
  async function refused(name: string, text: string, where: RegExp | string, ...needles: (string | RegExp)[]): Promise<string> {
    const file = path.join(w.dir, `${name}.yaml`);
    fs.writeFileSync(file, text);
    const r = await w.run([], { config: file });
    expectRun(r, 78, ...needles);
    const line = errorLine(r);
    if (typeof where === 'string') assert.ok(line.startsWith(`r2mirror: ${file}${where}`), line);
    else assert.match(line.slice(`r2mirror: ${file}`.length), where, line);
    assert.deepEqual(await w.snapshot(), snap, 'nothing uploaded, deleted or recorded');
    return line;
  }

  const good = () => fs.readFileSync(w.configFile, 'utf8');

  test('invalid YAML names the file, line and column', async () => {
    const text = good().replace(`    prefix: ${w.prefix}`, `    prefix: [${w.prefix}`);
    const line = text.split('\n').findIndex((l) => l.includes('prefix: [')) + 1;
    await refused('invalid-yaml', text, new RegExp(`^:(${line}|${line + 1}):\\d+: invalid YAML: `));
  });

  test('an empty config file', async () => {
    await refused('empty', '\n# nothing here\n', ': ', 'the config file is empty');
  });

  test('an unknown top-level key, with a suggestion', async () => {
    const text = good().replace('retries: 2', 'retries: 2\ntransfer: 4');
    await refused('unknown-top', text, ':5:1: ', 'unknown key "transfer" (did you mean "transfers"?)');
  });

  test('an unknown key inside a folder', async () => {
    const text = good() + '    colour: blue\n';
    await refused('unknown-folder', text, /^:10:5: folders\[0\]: unknown key "colour" \(known keys: name, path, bucket/);
  });

  test('wrong type: a string for transfers', async () => {
    const text = good().replace('retries: 2', 'retries: 2\ntransfers: eight');
    await refused('transfers-string', text, ':5:12: transfers: ', 'must be an integer from 1 to 256 (got "eight")');
  });

  test('wrong type: a list for a folder path', async () => {
    const text = good().replace(`    path: ${w.root}`, `    path: [${w.root}, /srv]`);
    await refused('path-list', text, ':7:11: folders[0].path: ', 'must be a string (got a list)');
  });

  test('wrong type: a string for followSymlinks', async () => {
    const text = good() + '    followSymlinks: "yes"\n';
    await refused('symlinks-string', text, ':10:21: folders[0].followSymlinks: ', 'must be true or false (got "yes")');
  });

  test('a bad size', async () => {
    const text = good().replace('retries: 2', 'retries: 2\nmemory: 64 parsecs');
    await refused('bad-size', text, ':5:9: memory: ', 'invalid size "64 parsecs"', 'MiB');
  });

  test('a size out of range', async () => {
    const text = good().replace('retries: 2', 'retries: 2\npartSize: 1MiB');
    await refused('small-part', text, ':5:11: partSize: ', 'must be from 5 MiB to 5 GiB (got "1MiB")');
  });

  test('a bad duration', async () => {
    const text = good().replace('retries: 2', 'retries: 2\nrequestTimeout: soon');
    await refused('bad-duration', text, ':5:17: requestTimeout: ', 'invalid duration "soon"', '"30s"');
  });

  test('two folders overlapping in the same bucket', async () => {
    const text = good() + [
      '  - name: inner',
      `    path: ${w.dir}`,
      `    bucket: ${bucket}`,
      `    prefix: ${w.prefix}sub`,
    ].join('\n') + '\n';
    await refused('overlap', text, ':13:13: folders[1].prefix: ',
      `folders "data" (folders[0]) and "inner" overlap in bucket "${bucket}"`, `"${w.prefix}" and "${w.prefix}sub/"`);
  });

  test('a missing config file', async () => {
    const file = path.join(w.dir, 'does-not-exist.yaml');
    const r = await w.run([], { config: file });
    expectRun(r, 78);
    assert.equal(errorLine(r), `r2mirror: ${file}: cannot read the config file: no such file (ENOENT); create one with "r2mirror init"`);
    assert.deepEqual(await w.snapshot(), snap);
  });

  test('no credentials anywhere: every source tried is listed', async () => {
    const r = await w.run([], { env: { R2_ACCESS_KEY_ID: undefined, R2_SECRET_ACCESS_KEY: undefined, CREDENTIALS_DIRECTORY: undefined } });
    expectRun(r, 78, 'no credentials found', 'R2_ACCESS_KEY_ID + R2_SECRET_ACCESS_KEY: not set', 'remote.credentialsFile', 'CREDENTIALS_DIRECTORY not set');
    assert.ok(errorLine(r).startsWith(`r2mirror: ${w.configFile}: `));
    assert.deepEqual(await w.snapshot(), snap);
  });

  test('only R2_ACCESS_KEY_ID set', async () => {
    const r = await w.run([], { env: { R2_SECRET_ACCESS_KEY: undefined } });
    expectRun(r, 78);
    assert.equal(errorLine(r), 'r2mirror: R2_ACCESS_KEY_ID is set but R2_SECRET_ACCESS_KEY is not; set both or neither');
    assert.deepEqual(await w.snapshot(), snap);
  });

  // Key material with a stray character (an env file written with echo, a copy-paste with a space) used to reach
  // the SDK, which threw on the header: exit 70 with a stack trace, and systemd restarting the daemon in a loop.
  test('an access key ID with a trailing newline (env): exit 78 naming the variable for sync, daemon and ls; doctor fails the check', async () => {
    const bad = { R2_ACCESS_KEY_ID: `${env.accessKeyId}\n` };
    const message = 'r2mirror: environment variable R2_ACCESS_KEY_ID holds a newline at its end (the value is not shown); ' +
      'access keys are printable ASCII without spaces: remove it';
    const creds = { R2_SECRET_ACCESS_KEY: env.secretAccessKey, ...bad };
    const runs: [string, RunResult][] = [
      ['sync', await w.run([], { env: bad })],
      ['daemon', await runCli(['daemon', '--config', w.configFile], creds, 30_000)],
      ['ls', await runCli(['ls', '--config', w.configFile], creds, 30_000)],
    ];
    for (const [cmd, r] of runs) {
      expectRun(r, 78);
      assert.equal(errorLine(r), message, cmd);
    }
    const doctor = await runCli(['doctor', '--config', w.configFile, '--json'], creds, 60_000);
    assert.equal(doctor.code, 1, doctor.stderr);
    const check = (doctor.json.checks as { name: string; status: string; detail: string }[]).find((c) => c.name === 'credentials');
    assert.deepEqual([check?.status, `r2mirror: ${check?.detail}`], ['fail', message]);
    for (const [cmd, r] of [...runs, ['doctor', doctor] as [string, RunResult]]) {
      assert.ok(!out(r).includes(env.secretAccessKey) && !out(r).includes(env.accessKeyId), `${cmd}: no key material in the output`);
    }
    assert.deepEqual(await w.snapshot(), snap);
  });

  test('a credentials file whose key ID ends in a space (quoted): exit 78 naming file:line, the value not shown', async () => {
    const creds = path.join(w.dir, 'spaced-credentials');
    fs.writeFileSync(creds, `# pasted\nR2_ACCESS_KEY_ID="${env.accessKeyId} "\nR2_SECRET_ACCESS_KEY=${env.secretAccessKey}\n`, { mode: 0o600 });
    const file = path.join(w.dir, 'spaced-creds.yaml');
    fs.writeFileSync(file, good().replace(`  endpoint: ${proxy.endpoint}`, `  endpoint: ${proxy.endpoint}\n  credentialsFile: ${creds}`));
    const r = await w.run([], { config: file });
    expectRun(r, 78);
    assert.equal(errorLine(r), `r2mirror: ${creds}:2: R2_ACCESS_KEY_ID holds a space at its end (the value is not shown); access keys are printable ASCII without spaces: remove it`);
    assert.ok(!out(r).includes(env.secretAccessKey) && !out(r).includes(env.accessKeyId));
    assert.deepEqual(await w.snapshot(), snap);
  });

  test('a prefix so long that no key fits under it', async () => {
    const text = good().replace(`    prefix: ${w.prefix}`, `    prefix: ${w.prefix}${'x'.repeat(1100)}`);
    await refused('long-prefix', text, ':9:13: folders[0].prefix: ', `is ${w.prefix.length + 1101} bytes long (with its "/"); object keys have at most 1024 bytes`);
  });

  test('two folders whose local paths nest (in different buckets): the files would be uploaded twice', async () => {
    const text = good() + ['  - name: inner', `    path: ${path.join(w.root, 'sub')}`, '    bucket: other-bucket'].join('\n') + '\n';
    await refused('nested-paths', text, ':11:11: folders[1].path: ',
      `the paths of folders "data" (folders[0]) and "inner" nest: "${path.join(w.root, 'sub')}" is inside "${w.root}"`);
  });

  test('a folder path that resolves to "/" through a symbolic link', async () => {
    const link = path.join(w.dir, 'everything');
    fs.symlinkSync('/', link);
    const text = good().replace(`    path: ${w.root}`, `    path: ${link}`);
    await refused('root-link', text, ':7:11: folders[0].path: ', `leads to "/" through a symbolic link (got "${link}")`);
  });

  test('a credentials file that does not exist', async () => {
    const creds = path.join(w.dir, 'no-credentials');
    const text = good().replace(`  endpoint: ${proxy.endpoint}`, `  endpoint: ${proxy.endpoint}\n  credentialsFile: ${creds}`);
    const file = path.join(w.dir, 'creds-file.yaml');
    fs.writeFileSync(file, text);
    const r = await w.run([], { config: file });
    expectRun(r, 78);
    assert.equal(errorLine(r), `r2mirror: ${creds}: cannot read the credentials file: no such file (ENOENT)`);
    assert.deepEqual(await w.snapshot(), snap);
  });
});

// ---- the endpoint: rejected credentials, missing bucket, no answer, clock skew --------------------------------

describe('endpoint problems', () => {
  let w: World;
  let snap: Snapshot;
  let skewServer: Server | undefined;
  before(async () => {
    w = world('endpoint');
    w.write('a.txt', 'a');
    w.write('b/c.txt', 'c');
    expectRun(await w.run(), 0);
    fs.rmSync(path.join(w.root, 'a.txt'));
    w.write('new.txt', 'new');
    snap = await w.snapshot();
  });
  after(async () => {
    skewServer?.closeAllConnections();
    await new Promise((r) => (skewServer ? skewServer.close(r) : r(undefined)));
  });

  test('a wrong secret access key: SignatureDoesNotMatch, exit 78', async () => {
    const r = await w.run([], { env: { R2_SECRET_ACCESS_KEY: 'not-the-secret-' + randomBytes(8).toString('hex') } });
    expectRun(r, 78, `folder data, bucket ${bucket}`, 'the secret access key is wrong (SignatureDoesNotMatch); check the credentials');
    assert.deepEqual(await w.snapshot(), snap);
  });

  test('an access key the server does not know: InvalidAccessKeyId, exit 78', async () => {
    const r = await w.run([], { env: { R2_ACCESS_KEY_ID: 'NOSUCHKEY' + randomBytes(6).toString('hex').toUpperCase() } });
    expectRun(r, 78, `folder data, bucket ${bucket}`, 'the server does not know the access key id (InvalidAccessKeyId)');
    assert.deepEqual(await w.snapshot(), snap);
  });

  test('a bucket that does not exist: exit 78, names the bucket', async () => {
    const missing = `r2m-missing-${randomBytes(5).toString('hex')}`;
    const file = w.config({ bucket: missing, file: path.join(w.dir, 'missing-bucket.yaml') });
    const r = await w.run([], { config: file });
    expectRun(r, 78, `folder data, bucket ${missing}: the bucket does not exist`, `wrangler r2 bucket create ${missing}`);
    assert.deepEqual(await w.snapshot(), snap);
  });

  test('an endpoint that does not answer (closed port): exit 75 after retries', async () => {
    const port = await freePort();
    const file = w.config({ endpoint: `http://127.0.0.1:${port}`, top: 'requestTimeout: 2s', file: path.join(w.dir, 'closed.yaml') });
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('retries: 2', 'retries: 0'));
    const t0 = Date.now();
    const r = await w.run([], { config: file });
    expectRun(r, 75, `folder data, bucket ${bucket}: cannot reach http://127.0.0.1:${port}: `, /ECONNREFUSED/, 'check remote.endpoint');
    assert.ok(Date.now() - t0 < 30_000, 'gives up in bounded time');
    assert.deepEqual(await w.snapshot(), snap);
  });

  test('clock skew reported by the server (RequestTimeTooSkewed): exit 78', async () => {
    const seen: string[] = [];
    skewServer = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end(req.method === 'HEAD' ? undefined : '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>RequestTimeTooSkewed</Code>' +
        '<Message>The difference between the request time and the current time is too large.</Message>' +
        '<RequestTime>20200101T000000Z</RequestTime><ServerTime>' + new Date().toISOString() + '</ServerTime>' +
        '<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds></Error>');
    });
    await new Promise<void>((r) => skewServer!.listen(0, '127.0.0.1', () => r()));
    const { port } = skewServer.address() as AddressInfo;
    const file = w.config({ endpoint: `http://127.0.0.1:${port}`, file: path.join(w.dir, 'skew.yaml') });
    const r = await w.run([], { config: file });
    expectRun(r, 78, `folder data, bucket ${bucket}`, "this machine's clock differs too much from the server's (RequestTimeTooSkewed)", 'NTP');
    assert.ok(seen.length >= 1 && seen.length <= 6, `a fatal error is not retried at length: ${seen.length} requests`);
    assert.deepEqual(await w.snapshot(), snap);
  });
});

// ---- files and names ---------------------------------------------------------------------------------------

describe('files the scan cannot mirror', () => {
  test('an unreadable file (as user nobody): exit 1 naming it, the rest mirrored, its old object kept', async (t) => {
    const why = permissionSkip();
    if (why) return t.skip(why);
    const w = world('unreadable-file');
    w.asNobody = isRoot;
    fs.mkdirSync(path.dirname(w.state), { recursive: true });
    if (isRoot) fs.chownSync(path.dirname(w.state), NOBODY, NOBODY);
    w.write('ok.txt', 'ok');
    w.write('private.txt', 'version 1');
    expectRun(await w.run(), 0);
    const first = await w.snapshot();
    assert.equal(first.rows.length, 2);

    w.write('private.txt', 'version 2, now unreadable');
    fs.chmodSync(path.join(w.root, 'private.txt'), 0o000);
    w.write('later.txt', 'later');
    const r = await w.run();
    expectRun(r, 1, `failed: private.txt: EACCES: permission denied, open '${path.join(w.root, 'private.txt')}'`);
    assert.equal(totals(r).failed, 1);
    assert.equal(totals(r).uploaded.files, 1);
    const objects = await w.objects();
    assert.equal(objects.get(`${w.prefix}private.txt`)?.etag, md5('version 1'), 'the last good version stays in the bucket');
    assert.equal(objects.get(`${w.prefix}later.txt`)?.etag, md5('later'), 'the rest of the folder is mirrored');
    const row = w.rows().find((x) => x.key === `${w.prefix}private.txt`);
    assert.equal(row?.etag, md5('version 1'), 'the row still describes the object that is there');
  });

  test('an unreadable directory (as user nobody): exit 1 naming it, the objects under it kept', async (t) => {
    const why = permissionSkip();
    if (why) return t.skip(why);
    const w = world('unreadable-dir');
    w.asNobody = isRoot;
    fs.mkdirSync(path.dirname(w.state), { recursive: true });
    if (isRoot) fs.chownSync(path.dirname(w.state), NOBODY, NOBODY);
    w.write('ok.txt', 'ok');
    w.write('locked/one.txt', 'one');
    w.write('locked/deeper/two.txt', 'two');
    expectRun(await w.run(), 0);
    const first = await w.snapshot();
    assert.equal(first.objects.length, 3);

    fs.chmodSync(path.join(w.root, 'locked'), 0o700); // owned by root: nobody cannot list it
    w.write('later.txt', 'later');
    const r = await w.run();
    expectRun(r, 1, `failed: locked: cannot read directory: EACCES: permission denied, scandir '${path.join(w.root, 'locked')}'`);
    const objects = await w.objects();
    for (const k of ['locked/one.txt', 'locked/deeper/two.txt', 'ok.txt', 'later.txt']) assert.ok(objects.has(w.prefix + k), k);
    assert.equal(totals(r).deleted, 0);
    const rows = w.rows().map((x) => x.key);
    for (const k of ['locked/one.txt', 'locked/deeper/two.txt']) assert.ok(rows.includes(w.prefix + k), `row of ${k} kept`);
  });

  test('a directory replaced by a file between runs: the file is mirrored, the old keys deleted, the rest kept', async () => {
    const w = world('dir-to-file');
    w.write('keep.txt', 'keep');
    w.write('d/one.txt', 'one');
    w.write('d/two.txt', 'two');
    expectRun(await w.run(), 0);
    fs.rmSync(path.join(w.root, 'd'), { recursive: true });
    w.write('d', 'now a file');
    const r = await w.run(['--json']);
    expectRun(r, 0);
    assert.equal(r.json.totals.deleted, 2);
    const objects = await w.objects();
    assert.deepEqual([...objects.keys()].sort(), [`${w.prefix}d`, `${w.prefix}keep.txt`]);
    assert.equal(objects.get(`${w.prefix}d`)?.etag, md5('now a file'));
    assert.deepEqual(w.rows().map((x) => x.key), [`${w.prefix}d`, `${w.prefix}keep.txt`]);
  });

  // A swap in the middle of the walk itself cannot be timed from outside (the walk is synchronous between
  // yields); the window between the scan and the transfers is the one a slowed listing makes reliable.
  test('a directory replaced by a file mid-run (after the scan, before the upload)', async () => {
    const w = world('dir-to-file-mid');
    w.write('keep.txt', 'keep');
    w.write('d/one.txt', 'one');
    w.write('d/two.txt', 'two');
    expectRun(await w.run(), 0);
    const first = await w.snapshot();
    w.write('d/one.txt', 'one, edited'); // planned as an upload
    w.write('d/new.txt', 'new'); // planned as an upload
    // The scan finishes long before the (slowed) listing answers; swap the directory for a file meanwhile.
    let swapped: Promise<void> | undefined;
    proxy.setFaults({
      seed: 1, rate: 1, kinds: ['slow'], slowMs: 1500,
      only: (op) => {
        if (op.op !== 'ListObjectsV2' || op.bucket !== bucket) return false;
        swapped ??= new Promise((resolve) => setTimeout(() => {
          fs.rmSync(path.join(w.root, 'd'), { recursive: true });
          fs.writeFileSync(path.join(w.root, 'd'), 'now a file');
          resolve();
        }, 300));
        return true;
      },
    });
    let r: RunResult;
    try {
      r = await w.run(['--json']);
    } finally {
      proxy.setFaults(undefined);
    }
    assert.ok(swapped, 'the listing was seen');
    await swapped;
    // The files vanished with their directory: nothing to upload, nothing failed, nothing recorded wrongly.
    expectRun(r, 0);
    assert.equal(r.json.totals.uploaded.files, 0);
    assert.equal(r.json.totals.failed, 0);
    assert.deepEqual(await w.snapshot(), first, 'the objects and rows of the old directory stay until a scan sees it gone');
    // The next run sees the file and mirrors it.
    const r2 = await w.run(['--json']);
    expectRun(r2, 0);
    const objects = await w.objects();
    assert.deepEqual([...objects.keys()].sort(), [`${w.prefix}d`, `${w.prefix}keep.txt`]);
    assert.deepEqual(w.rows().map((x) => x.key), [`${w.prefix}d`, `${w.prefix}keep.txt`]);
  });

  test('a symlink loop with followSymlinks: true: exit 1 naming the link, the rest mirrored', async () => {
    const w = world('symlink-loop');
    w.config({ folder: '    followSymlinks: true' });
    w.write('a/file.txt', 'file');
    fs.symlinkSync('.', path.join(w.root, 'a', 'self'));
    fs.symlinkSync('..', path.join(w.root, 'a', 'up'));
    fs.symlinkSync('loop2', path.join(w.root, 'loop1'));
    fs.symlinkSync('loop1', path.join(w.root, 'loop2'));
    const r = await w.run();
    expectRun(r, 1, 'failed: a/self: symbolic link loop', 'failed: a/up: symbolic link loop', 'failed: loop1: symbolic link loop', 'failed: loop2: symbolic link loop');
    assert.deepEqual([...(await w.objects()).keys()], [`${w.prefix}a/file.txt`]);
    assert.equal(totals(r).uploaded.files, 1);
    assert.equal(totals(r).failed, 4);
  });

  test('a dangling symlink: skipped with a notice naming it, exit 0', async () => {
    const w = world('dangling');
    w.config({ folder: '    followSymlinks: true' });
    w.write('real.txt', 'real');
    fs.symlinkSync('nowhere.txt', path.join(w.root, 'dangling.txt'));
    fs.symlinkSync('real.txt/inside', path.join(w.root, 'through-a-file')); // ENOTDIR, not ENOENT
    const r = await w.run();
    expectRun(r, 0, 'skipped: dangling.txt: dangling symbolic link', 'skipped: through-a-file: dangling symbolic link');
    assert.equal(totals(r).skipped, 2);
    assert.deepEqual([...(await w.objects()).keys()], [`${w.prefix}real.txt`]);
  });

  test('a name whose key is over 1,024 bytes: exit 1 naming the file, the rest mirrored', async () => {
    const w = world('long-names');
    const seg = 'x'.repeat(200);
    const rel = [seg, seg, seg, seg, seg, seg, 'file.txt'].join('/');
    w.write(rel, 'deep');
    w.write('short.txt', 'short');
    const r = await w.run();
    const bytes = Buffer.byteLength(w.prefix + rel);
    assert.ok(bytes > 1024);
    expectRun(r, 1, `failed: ${rel}: cannot be mirrored: its key is ${bytes} bytes long; R2 allows at most 1024`);
    assert.deepEqual([...(await w.objects()).keys()], [`${w.prefix}short.txt`]);
    assert.deepEqual(proxy.violations().filter((v) => v.includes(w.prefix)), [], 'the key never reached the server');
  });

  test('a name that is not valid UTF-8: exit 1 naming it (escaped), the rest mirrored', async () => {
    const w = world('bad-utf8');
    w.write('good.txt', 'good');
    const rootBuf = Buffer.from(w.root + '/');
    fs.writeFileSync(Buffer.concat([rootBuf, Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x2e, 0x74, 0x78, 0x74])]), 'bad'); // bad\xff\xfe.txt
    fs.mkdirSync(Buffer.concat([rootBuf, Buffer.from([0x64, 0x69, 0x72, 0xc3])])); // dir\xc3 (truncated sequence)
    const r = await w.run();
    expectRun(r, 1, 'failed: bad\\xff\\xfe.txt: its name is not valid UTF-8', 'failed: dir\\xc3: its name is not valid UTF-8');
    assert.deepEqual([...(await w.objects()).keys()], [`${w.prefix}good.txt`]);
  });

  test('NFC/NFD twins: exit 1 naming both, neither uploaded, the object already there kept', async () => {
    const w = world('twins');
    const nfc = 'caf\u00e9.txt';
    const nfd = 'cafe\u0301.txt';
    w.write(nfc, 'composed');
    w.write('other.txt', 'other');
    expectRun(await w.run(), 0);
    const first = await w.snapshot();
    w.write(nfd, 'decomposed');
    const r = await w.run();
    expectRun(r, 1, `failed: ${nfc}: its name and "${nfd}" (NFD) differ only in Unicode normalisation`,
      `failed: ${nfd}: its name and "${nfc}" (NFC) differ only in Unicode normalisation`, 'rename one of them');
    assert.deepEqual(await w.snapshot(), first, 'the object of the first name and its row stay; nothing uploaded');
  });
});

// ---- the folder root ------------------------------------------------------------------------------------

describe('unsafe folder roots: nothing uploaded, nothing deleted (exit 1)', () => {
  /** A world that synced three files once. */
  async function synced(name: string): Promise<{ w: World; snap: Snapshot }> {
    const w = world(name);
    w.write('one.txt', '1');
    w.write('two/three.txt', '3');
    w.write('four.txt', '4');
    expectRun(await w.run(), 0);
    const snap = await w.snapshot();
    assert.equal(snap.objects.length, 3);
    assert.equal(snap.rows.length, 3);
    return { w, snap };
  }

  test('a folder root that is missing', async () => {
    const { w, snap } = await synced('root-missing');
    fs.renameSync(w.root, w.root + '.away');
    const r = await w.run(['--max-delete', '100%']);
    expectRun(r, 1, `ERROR: folder path ${w.root} does not exist (unmounted disk?); nothing was uploaded or deleted`);
    assert.deepEqual(await w.snapshot(), snap);
  });

  test('a folder root that is a file', async () => {
    const { w, snap } = await synced('root-file');
    fs.renameSync(w.root, w.root + '.away');
    fs.writeFileSync(w.root, 'not a directory');
    const r = await w.run(['--max-delete', '100%']);
    expectRun(r, 1, `ERROR: folder path ${w.root} is not a directory; nothing was uploaded or deleted`);
    assert.deepEqual(await w.snapshot(), snap);
  });

  test('an "unmounted" mount point: an empty directory where the DB says files were', async () => {
    const { w, snap } = await synced('unmounted');
    fs.renameSync(w.root, w.root + '.away');
    fs.mkdirSync(w.root);
    const r = await w.run(['--max-delete', '100%']);
    expectRun(r, 1, `ERROR: folder path ${w.root} is empty, but the state DB recorded 3 files from it (unmounted disk?); nothing was deleted`,
      'r2mirror sync --folder data --allow-empty');
    assert.deepEqual(await w.snapshot(), snap);
  });

  test('an "unmounted" mount point with a fresh state DB: the bucket says files were there', async () => {
    const { w, snap } = await synced('unmounted-nodb');
    fs.renameSync(w.root, w.root + '.away');
    fs.mkdirSync(w.root);
    for (const s of ['', '-wal', '-shm', '.lock']) fs.rmSync(w.state + s, { force: true });
    const r = await w.run(['--max-delete', '100%']);
    expectRun(r, 1, `ERROR: folder path ${w.root} is empty, but the bucket holds 3 objects under its prefix (unmounted disk?); nothing was deleted`);
    assert.deepEqual((await w.snapshot()).objects, snap.objects);
  });
});

// ---- the state DB ---------------------------------------------------------------------------------------

describe('state DB problems', () => {
  async function synced(name: string): Promise<{ w: World; snap: Snapshot }> {
    const w = world(name);
    w.write('one.txt', '1');
    w.write('two.txt', '2');
    expectRun(await w.run(), 0);
    fs.rmSync(path.join(w.root, 'one.txt'));
    w.write('new.txt', 'new'); // a run that went ahead would upload and delete
    const snap = await w.snapshot();
    assert.equal(snap.rows.length, 2);
    return { w, snap };
  }

  test('a corrupt state DB (random bytes): exit 78 naming the file, the file left as it was', async () => {
    const { w, snap } = await synced('db-corrupt');
    const junk = randomBytes(16 * 1024);
    fs.writeFileSync(w.state, junk);
    const r = await w.run();
    expectRun(r, 78);
    assert.equal(errorLine(r), `r2mirror: state DB ${w.state}: the file is not an r2mirror state DB (corrupt or another kind of file); ` +
      'move it away to start fresh (the next sync adopts what is already in the bucket)');
    assert.deepEqual([...(await w.objects())].sort(([a], [b]) => (a < b ? -1 : 1)), snap.objects);
    assert.ok(fs.readFileSync(w.state).equals(junk), 'the corrupt file is not overwritten');
  });

  test('a state DB locked by another process: exit 75 naming it', async () => {
    const { w, snap } = await synced('db-locked');
    const holder: ChildProcess = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
      `import { Store } from ${JSON.stringify(path.join(REPO, 'src/state/store.ts'))};
       globalThis.held = Store.open(${JSON.stringify(w.state)}); console.log('locked'); setInterval(() => {}, 1000);`], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.on('data', (d) => String(d).includes('locked') && resolve());
        holder.on('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
      });
      const r = await w.run();
      expectRun(r, 75);
      assert.equal(errorLine(r), `r2mirror: state DB ${w.state} is in use by another r2mirror process (sync or daemon); wait for it to finish or stop it`);
      assert.deepEqual(await w.snapshot(), snap);
    } finally {
      holder.kill('SIGKILL');
    }
    await new Promise((r) => holder.exitCode !== null || holder.signalCode !== null ? r(undefined) : holder.once('exit', r));
    expectRun(await w.run(), 0); // once the other process is gone, the next run goes ahead
  });

  test('a state DB on a read-only file system (tmpfs remounted ro): exit 78 naming it', async (t) => {
    const w = world('db-readonly');
    const mnt = path.join(w.dir, 'ro-mnt');
    const why = mountTmpfs(mnt, 'size=4m');
    if (why) return t.skip(why);
    try {
      w.state = path.join(mnt, 'state.db');
      w.config();
      w.write('one.txt', '1');
      expectRun(await w.run(), 0);
      w.write('new.txt', 'new');
      const before = await w.snapshot();
      mountCmd('-o', 'remount,ro', mnt);
      const r = await w.run();
      expectRun(r, 78);
      assert.equal(errorLine(r), `r2mirror: state DB ${w.state}: cannot open it for writing (attempt to write a readonly database); ` +
        'check the path and its permissions, or that the file system is not read-only');
      mountCmd('-o', 'remount,rw', mnt);
      assert.deepEqual(await w.snapshot(), before);
    } finally {
      umount(mnt);
    }
  });

  test('a state DB from a newer r2mirror (user_version 99): exit 78 naming it, left untouched', async () => {
    const { w, snap } = await synced('db-newer');
    const db = new Database(w.state);
    db.pragma('user_version = 99');
    db.close();
    const r = await w.run();
    expectRun(r, 78);
    assert.match(errorLine(r), new RegExp(`^r2mirror: state DB ${w.state.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} has schema version 99, but this r2mirror only knows up to \\d+: ` +
      'it was written by a newer r2mirror; upgrade r2mirror or point "state" at another file$'));
    assert.deepEqual(await w.snapshot(), snap);
    const check = new Database(w.state, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), 99);
    check.close();
  });

  test('the disk fills up while the state DB is written: exit 78 naming it; nothing lost once there is room', async (t) => {
    const w = world('db-full');
    const mnt = path.join(w.dir, 'full-mnt');
    const why = mountTmpfs(mnt, 'size=1m');
    if (why) return t.skip(why);
    try {
      w.state = path.join(mnt, 'state.db');
      w.config();
      w.write('first.txt', 'first');
      expectRun(await w.run(), 0);
      // Fill the file system, then leave a few pages: enough to open the DB, not to record 300 long keys.
      const filler = path.join(mnt, 'filler');
      const fd = fs.openSync(filler, 'w');
      try {
        const chunk = Buffer.alloc(4096);
        for (;;) fs.writeSync(fd, chunk);
      } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
      } finally {
        fs.closeSync(fd);
      }
      fs.truncateSync(filler, fs.statSync(filler).size - 48 * 1024);
      const dir = 'd'.repeat(100) + '/' + 'e'.repeat(100); // long keys fill pages fast (RGW takes up to ~400 bytes)
      const files = new Map<string, string>();
      for (let i = 0; i < 300; i++) files.set(`${dir}/file-${String(i).padStart(3, '0')}-${'f'.repeat(60)}.txt`, `content ${i}`);
      for (const [rel, c] of files) w.write(rel, c);
      const r = await w.run();
      expectRun(r, 78);
      assert.equal(errorLine(r), `r2mirror: state DB ${w.state}: the disk is full; free some space and run again ` +
        '(objects uploaded meanwhile are adopted, not sent again)');
      assert.ok((await w.objects()).size > 1, 'it failed while recording uploads, not when opening the DB');
      assert.deepEqual(w.rows().map((x) => x.key), [`${w.prefix}first.txt`], 'no row for a batch that did not commit');
      // Nothing lost: with room again, the next run records everything (adopting what was uploaded).
      fs.rmSync(filler);
      const r2 = await w.run(['--json']);
      expectRun(r2, 0);
      assert.equal(r2.json.totals.uploaded.files + r2.json.totals.adopted.files + r2.json.totals.unchanged, files.size + 1);
      const objects = await w.objects();
      assert.equal(objects.size, files.size + 1);
      for (const [rel, c] of files) assert.equal(objects.get(w.prefix + rel)?.etag, md5(c), rel);
      assert.equal(w.rows().length, files.size + 1);
    } finally {
      umount(mnt);
    }
  });
});

// ---- the command line ------------------------------------------------------------------------------------

describe('command line errors (exit 2, nothing touched)', () => {
  let w: World;
  let snap: Snapshot;
  before(async () => {
    w = world('usage');
    w.write('a.txt', 'a');
    snap = await w.snapshot(); // nothing yet: no objects, no state DB
  });
  const untouched = async () => {
    assert.deepEqual(await w.snapshot(), snap);
    assert.equal(fs.existsSync(w.state), false, 'no state DB created');
  };

  test('an unknown command', async () => {
    const r = await runCli(['frobnicate', '--config', w.configFile]);
    expectRun(r, 2);
    assert.equal(r.stderr, 'r2mirror: unknown command "frobnicate" (commands: sync, daemon, status, verify, restore, init, doctor, presign, cors, ls, buckets, completion, help, version)\n' +
      'Try "r2mirror --help".\n');
    await untouched();
    const typo = await runCli(['stauts', '--config', w.configFile]);
    expectRun(typo, 2);
    assert.equal(typo.stderr, 'r2mirror: unknown command "stauts" (did you mean "status"?)\nTry "r2mirror --help".\n');
    await untouched();
  });

  test('an unknown flag', async () => {
    const r = await w.run(['--frobnicate']);
    expectRun(r, 2, "Unknown option '--frobnicate'", 'Try "r2mirror --help".');
    await untouched();
  });

  test('--max-delete with a bad value', async () => {
    const r = await w.run(['--max-delete', 'lots']);
    expectRun(r, 2);
    assert.equal(errorLine(r), 'r2mirror: --max-delete takes a count (5000) or a percentage up to 100% (got "lots")');
    await untouched();
  });

  test('--max-delete over 100%', async () => {
    const r = await w.run(['--max-delete', '150%']);
    expectRun(r, 2, '--max-delete takes a count (5000) or a percentage up to 100% (got "150%")');
    await untouched();
  });

  test('--folder naming a folder that is not in the config', async () => {
    const r = await w.run(['--folder', 'nope']);
    expectRun(r, 2);
    assert.equal(errorLine(r), `r2mirror: no folder named "nope" in ${w.configFile} (folders: data)`);
    await untouched();
  });
});
