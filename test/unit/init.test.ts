// `r2mirror init` without a server: the generated config parses (the same parser as sync), values are quoted
// safely, refusals name the option, prompts re-ask, and the file is written once, mode 0600, never overwritten.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../src/config.js';
import {
  AnswerError, askMissing, defaultName, folderPath, missingOptions, nextSteps, parseInitArgs, renderConfig, validateConfig, writeNewFile,
  type InitAnswers,
} from '../../src/commands/init.js';
import { UsageError } from '../../src/errors.js';

const ENV = { HOME: '/home/u' };
const ACCOUNT = '0123456789abcdef0123456789abcdef';
const base: InitAnswers = { accountId: ACCOUNT, bucket: 'photos', path: '/srv/photos', prefix: 'host1/photos/', name: 'photos' };

test('renderConfig: the text parses with parseConfig into exactly the answers', () => {
  const c = parseConfig(renderConfig(base), '/etc/r2mirror/config.yaml', ENV);
  assert.equal(c.remote.endpoint, `https://${ACCOUNT}.r2.cloudflarestorage.com`);
  assert.equal(c.remote.credentialsFile, undefined, 'credentialsFile stays a comment');
  assert.deepEqual(c.folders.map((f) => [f.name, f.path, f.bucket, f.prefix]), [['photos', '/srv/photos', 'photos', 'host1/photos/']]);
  const e = parseConfig(renderConfig({ ...base, accountId: undefined, endpoint: 'http://127.0.0.1:7480', prefix: '' }), '/x/c.yaml', ENV);
  assert.equal(e.remote.endpoint, 'http://127.0.0.1:7480');
  assert.equal(e.folders[0]!.prefix, '');
});

test('renderConfig: awkward values are quoted, not interpreted as YAML', () => {
  const odd = { ...base, path: '/srv/my photos: #1 [new]', name: '007', prefix: 'a #b/' };
  const c = parseConfig(renderConfig(odd), '/etc/r2mirror/config.yaml', ENV);
  assert.equal(c.folders[0]!.path, '/srv/my photos: #1 [new]');
  assert.equal(c.folders[0]!.name, '007');
  assert.equal(c.folders[0]!.prefix, 'a #b/');
  assert.equal(parseConfig(renderConfig({ ...base, path: '~/photos' }), '/etc/c.yaml', ENV).folders[0]!.path, '/home/u/photos');
});

test('renderConfig: points at credentials but never holds a secret', () => {
  const text = renderConfig(base, '/etc/r2mirror/credentials');
  assert.match(text, /# credentialsFile: \/etc\/r2mirror\/credentials/);
  assert.match(text, /LoadCredential=credentials:\/etc\/r2mirror\/credentials/);
  assert.doesNotMatch(text, /^\s*[a-zA-Z]*(secret|accessKey)[a-zA-Z]*:/im);
});

test('validateConfig: a refused value names its option and the rule', () => {
  const refused = (a: Partial<InitAnswers>): AnswerError => {
    try {
      validateConfig(renderConfig({ ...base, ...a }), '/etc/r2mirror/config.yaml', ENV);
    } catch (err) {
      assert.ok(err instanceof AnswerError, String(err));
      return err;
    }
    assert.fail(`accepted ${JSON.stringify(a)}`);
  };
  assert.equal(refused({ bucket: 'Bad_Bucket' }).option, '--bucket');
  assert.match(refused({ bucket: 'Bad_Bucket' }).message, /^init: --bucket: must be a bucket name of 3-63 lowercase letters.*\(got "Bad_Bucket"\)/);
  assert.equal(refused({ accountId: '123' }).option, '--account-id');
  assert.equal(refused({ accountId: undefined, endpoint: 'http://h:1/path' }).option, '--endpoint');
  assert.equal(refused({ accountId: undefined, endpoint: 'ftp://h' }).option, '--endpoint');
  assert.equal(refused({ prefix: '/abs' }).option, '--prefix');
  assert.equal(refused({ prefix: 'a/../b' }).option, '--prefix');
  assert.equal(refused({ name: 'has space' }).option, '--name');
  assert.equal(refused({ path: '/' }).option, '--path');
  assert.ok(refused({ bucket: 'x' }) instanceof UsageError, 'exit 2 like any command-line mistake');
});

test('parseInitArgs, missingOptions, folderPath, defaultName', () => {
  const a = parseInitArgs(['--config', 'c.yaml', '--endpoint', 'http://h:1', '--bucket', 'b', '--path', 'd', '--prefix', 'p/', '--name', 'n'], {});
  assert.deepEqual(a, { config: 'c.yaml', accountId: undefined, endpoint: 'http://h:1', bucket: 'b', path: 'd', prefix: 'p/', name: 'n', forceStdout: false, json: false, verbosity: 0 });
  assert.equal(parseInitArgs([], { R2MIRROR_CONFIG: '/env.yaml' }).config, '/env.yaml');
  assert.throws(() => parseInitArgs(['--account-id', ACCOUNT, '--endpoint', 'http://h'], {}), /either --account-id .* or --endpoint .*, not both/);
  assert.throws(() => parseInitArgs(['--json', '--force-stdout'], {}), /cannot be combined/);
  assert.throws(() => parseInitArgs(['--secret', 'x'], {}), /Unknown option '--secret'/);
  assert.deepEqual(missingOptions({}), ['--account-id ID (or --endpoint URL)', '--bucket NAME', '--path DIR']);
  assert.deepEqual(missingOptions({ endpoint: 'http://h', bucket: 'b', path: 'p' }), []);
  assert.equal(folderPath('data', '/home/u/x'), '/home/u/x/data');
  assert.equal(folderPath('~/data', '/x'), '~/data');
  assert.equal(folderPath('/abs', '/x'), '/abs');
  assert.equal(defaultName('/srv/My Photos (2024)'), 'My-Photos-2024');
  assert.equal(defaultName('/srv/.hidden'), 'hidden');
  assert.equal(defaultName('/srv/日本'), 'main');
  for (const n of ['/srv/My Photos (2024)', '/srv/.hidden', '/srv/日本', `/srv/${'x'.repeat(100)}`]) {
    validateConfig(renderConfig({ ...base, name: defaultName(n) }), '/c.yaml', ENV);
  }
});

test('askMissing: asks only for what is missing, takes defaults, re-asks what the parser refuses', async () => {
  const script = ['', ACCOUNT, 'Bad_Bucket', 'photos', 'pics', '', ''];
  const asked: string[] = [];
  const said: string[] = [];
  const args = parseInitArgs(['--config', '/etc/r2mirror/config.yaml'], {});
  const a = await askMissing(args, async (q) => {
    asked.push(q);
    return script.shift() ?? assert.fail(`unexpected question ${q}`);
  }, '/home/u', ENV, (s) => said.push(s));
  assert.deepEqual(a, { accountId: ACCOUNT, bucket: 'photos', path: '/home/u/pics', prefix: '', name: 'pics' });
  assert.deepEqual(asked.map((q) => q.replace(/ \(.*\)| \[.*\]/g, '')), [
    'Cloudflare account ID, or the URL of another S3 endpoint: ', 'Cloudflare account ID, or the URL of another S3 endpoint: ',
    'Bucket name: ', 'Bucket name: ', 'Local folder to mirror: ', 'Key prefix inside the bucket: ', 'Name for this folder: ',
  ]);
  assert.match(asked[6]!, /\[pics\]: $/, 'the default name comes from the folder');
  assert.match(said.join(''), /a value is needed[\s\S]*must be a bucket name/);

  const given = parseInitArgs(['--endpoint', 'http://h:1', '--bucket', 'b-1', '--path', '/d', '--prefix', 'x/', '--name', 'n'], {});
  assert.deepEqual(await askMissing(given, async () => assert.fail('asked'), '/', ENV, () => undefined),
    { endpoint: 'http://h:1', bucket: 'b-1', path: '/d', prefix: 'x/', name: 'n' });
  const bad = parseInitArgs(['--bucket', 'B'], {});
  await assert.rejects(askMissing(bad, async () => assert.fail('asked before refusing a bad option'), '/', ENV, () => undefined), /--bucket: must be a bucket name/);
  await assert.rejects(askMissing(parseInitArgs([], {}), async () => 'nope', '/', ENV, () => undefined), /no acceptable answer for "Cloudflare account ID/);
});

test('writeNewFile: creates the parent, mode 0600, no temp file left, never overwrites', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r2m-init-'));
  try {
    const file = path.join(dir, 'a', 'b', 'config.yaml');
    writeNewFile(file, 'one\n');
    assert.equal(fs.readFileSync(file, 'utf8'), 'one\n');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.throws(() => writeNewFile(file, 'two\n'), (err: Error) => err instanceof UsageError && /config file exists: .*config\.yaml; delete it or pass another --config/.test(err.message));
    assert.equal(fs.readFileSync(file, 'utf8'), 'one\n');
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['config.yaml']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('nextSteps: credentials beside the config, doctor and a dry run; notes for a missing folder and an empty prefix', () => {
  const { notes, steps } = nextSteps('/etc/r2mirror/config.yaml', { ...base, prefix: '' }, false);
  assert.match(steps[0]!, /\/etc\/r2mirror\/credentials .*R2_ACCESS_KEY_ID=\.\.\. and R2_SECRET_ACCESS_KEY=\.\.\./);
  assert.match(steps[0]!, /chmod 600 \/etc\/r2mirror\/credentials/);
  assert.match(steps[0]!, /LoadCredential=credentials:\/etc\/r2mirror\/credentials/);
  assert.equal(steps[1], 'Check the set-up: r2mirror doctor --config /etc/r2mirror/config.yaml');
  assert.equal(steps[2], 'See what the first sync would do: r2mirror sync --config /etc/r2mirror/config.yaml --dry-run');
  assert.equal(notes.length, 2);
  assert.match(notes[0]!, /\/srv\/photos does not exist/);
  assert.match(notes[1]!, /mirrors the whole bucket "photos"/);
  assert.deepEqual(nextSteps('/c.yaml', base, true).notes, []);
});
