// `r2mirror init` end to end: the file it writes is accepted by `sync --dry-run` and `doctor` against the real
// server; it never overwrites, never holds a secret, names missing options, and asks on a terminal (pseudo-TTY).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { fixture, runCli, type Fixture } from '../harness/mirror.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = path.join(REPO, 'src', 'cli.ts');

describe('init', () => {
  let f: Fixture;
  let env: Record<string, string>;
  before(async () => {
    f = await fixture('init');
    f.write('a.txt', 'a');
    f.write('d/b.txt', 'bb');
    // HOME decides where the generated config's default state DB goes: keep it in the fixture.
    env = { R2_ACCESS_KEY_ID: f.env.accessKeyId, R2_SECRET_ACCESS_KEY: f.env.secretAccessKey, HOME: f.dir };
  });
  after(async () => f?.close());

  const options = () => ['--endpoint', f.proxy.endpoint, '--bucket', f.bucket, '--path', f.root, '--prefix', f.prefix, '--name', 'docs'];

  test('with every option (no terminal): a 0600 file that sync --dry-run and doctor accept, and no secret in it', async () => {
    const file = path.join(f.dir, 'etc', 'r2mirror', 'config.yaml'); // the parent does not exist yet
    const r = await runCli(['init', '--config', file, ...options()], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.match(r.stdout, new RegExp(`^wrote ${file} \\(mode 600\\)`));
    assert.match(r.stdout, /Next steps:\n {2}1\. [^]*R2_ACCESS_KEY_ID=\.\.\./);
    assert.match(r.stdout, new RegExp(`r2mirror doctor --config ${file}`));
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['config.yaml'], 'no temp file left');
    const text = fs.readFileSync(file, 'utf8');
    for (const s of [f.env.secretAccessKey, f.env.accessKeyId]) {
      assert.ok(!(text + r.stdout + r.stderr).includes(s), `init wrote ${s === f.env.secretAccessKey ? 'the secret' : 'the access key'}`);
    }

    const dry = await runCli(['sync', '--config', file, '--dry-run', '--json'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(dry.json.folders[0].planned.map((p: { action: string; key: string }) => `${p.action} ${p.key}`).sort(),
      [`upload ${f.prefix}a.txt`, `upload ${f.prefix}d/b.txt`]);
    const doc = await runCli(['doctor', '--config', file, '--json'], env);
    assert.equal(doc.code, 0, doc.stdout);
    assert.ok(doc.json.checks.every((c: { status: string }) => c.status === 'ok'), doc.stdout);
  });

  test('never overwrites: exit 2 naming the file, content unchanged', async () => {
    const file = path.join(f.dir, 'exists.yaml');
    fs.writeFileSync(file, '# mine\n');
    const r = await runCli(['init', '--config', file, ...options()], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`config file exists: ${file}; delete it or pass another --config`));
    assert.equal(fs.readFileSync(file, 'utf8'), '# mine\n');
  });

  test('missing options without a terminal: a usage error listing them, nothing written', async () => {
    const file = path.join(f.dir, 'missing.yaml');
    const r = await runCli(['init', '--config', file, '--bucket', f.bucket], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /init: missing --account-id ID \(or --endpoint URL\), --path DIR \(stdin or stderr is not a terminal/);
    assert.equal(fs.existsSync(file), false);
    const bad = await runCli(['init', '--config', file, '--account-id', 'xyz', '--bucket', f.bucket, '--path', f.root], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /init: --account-id: must be the 32 hexadecimal characters of the Cloudflare account ID \(got "xyz"\)/);
    assert.equal(fs.existsSync(file), false);
  });

  test('--force-stdout prints the config and writes nothing; --json describes the file written', async () => {
    const file = path.join(f.dir, 'out.yaml');
    const r = await runCli(['init', '--config', file, ...options(), '--force-stdout'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.existsSync(file), false);
    assert.match(r.stdout, /^# r2mirror configuration, written by `r2mirror init`/);
    assert.match(r.stdout, new RegExp(`^ {4}bucket: ${f.bucket}$`, 'm'));
    const j = await runCli(['init', '--config', file, ...options(), '--json'], env);
    assert.equal(j.code, 0, j.stderr);
    assert.deepEqual(j.json.folder, { name: 'docs', path: f.root, bucket: f.bucket, prefix: f.prefix });
    assert.equal(j.json.config, file);
    assert.equal(j.json.nextSteps.length, 3);
  });

  test('on a terminal it asks for what is missing and re-asks a refused answer', { skip: spawnSync('script', ['--version']).status !== 0 && 'no script(1)' }, async () => {
    const file = path.join(f.dir, 'asked.yaml');
    const answers: [RegExp, string[]][] = [
      [/S3 endpoint: /, [f.proxy.endpoint]], [/Bucket name: /, ['Not_A_Bucket', f.bucket]], [/Local folder to mirror: /, [f.root]],
      [/Key prefix.*: /, [f.prefix]], [/Name for this folder.*\[data\]: /, ['']],
    ];
    const cmd = [process.execPath, '--import', 'tsx', CLI, 'init', '--config', file].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-eqc', cmd, '/dev/null'], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let pending = '';
    let all = '';
    child.stdout.on('data', (d: Buffer) => {
      pending += d;
      all += d;
      if (!/: \x1b\[\d+G$/.test(pending)) return; // readline puts the cursor after the prompt
      const a = answers.find(([re, list]) => re.test(pending) && list.length > 0);
      if (a) {
        child.stdin.write(`${a[1].shift()}\r`);
        pending = '';
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((r) => child.on('close', r));
    clearTimeout(timer);
    assert.equal(code, 0, all);
    assert.match(all, /must be a bucket name of 3-63 lowercase letters.*\(got "Not_A_Bucket"\)/);
    assert.deepEqual(answers.map(([, list]) => list.length), [0, 0, 0, 0, 0], 'every question was asked');
    const text = fs.readFileSync(file, 'utf8');
    assert.match(text, new RegExp(`^ {2}endpoint: ${f.proxy.endpoint}$`, 'm'));
    assert.match(text, /^ {2}- name: data$/m);
    assert.match(text, new RegExp(`^ {4}prefix: ${f.prefix}$`, 'm'));
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });
});
