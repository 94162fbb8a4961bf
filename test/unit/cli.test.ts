// The command line parser and the docs: --help, the README and config.example.yaml must say what the code does.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { COMMANDS, HELP, commandFirst, unknownCommand } from '../../src/cli.js';
import { closest } from '../../src/suggest.js';
import { nodeSupported } from '../../src/platform.js';
import { formatBytes, levelFor, sharedStateBefore } from '../../src/commands/common.js';
import { parseRestoreArgs } from '../../src/commands/restore.js';
import { parseDoctorArgs } from '../../src/commands/doctor.js';
import { parseLsArgs } from '../../src/commands/ls.js';
import { parseVerifyArgs } from '../../src/commands/verify.js';
import { parsePresignArgs } from '../../src/commands/presign.js';
import { parseCorsArgs } from '../../src/commands/cors.js';
import { parseSyncArgs } from '../../src/commands/sync.js';
import { parseInitArgs } from '../../src/commands/init.js';
import { loadConfig, parseConfig, type MaxDelete } from '../../src/config.js';

const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

test('parseSyncArgs: every option', () => {
  const a = parseSyncArgs(['-c', '/x.yaml', '-f', 'a', '--folder', 'b', '-n', '--json', '--max-delete', '25%', '--allow-empty', '--trust-state', '--log-level', 'debug'], {});
  assert.deepEqual(a, {
    config: '/x.yaml', folders: ['a', 'b'], dryRun: true, json: true,
    maxDelete: { kind: 'percent', percent: 25 }, allowEmpty: true, trustState: true, logLevel: 'debug', verbosity: 0, progress: undefined,
  });
  assert.deepEqual(parseSyncArgs(['--max-delete', '5000'], {}).maxDelete, { kind: 'count', count: 5000 });
  assert.equal(parseSyncArgs([], {}).trustState, false);
});

test('-q/--quiet and -v/--verbose on every command; --progress/--no-progress on sync and restore', () => {
  assert.equal(parseSyncArgs(['-q'], {}).verbosity, -1);
  assert.equal(parseSyncArgs(['--quiet'], {}).verbosity, -1);
  assert.equal(parseSyncArgs(['-v'], {}).verbosity, 1);
  assert.equal(parseSyncArgs(['-vv'], {}).verbosity, 2);
  assert.equal(parseSyncArgs(['-v', '--verbose', '-v'], {}).verbosity, 3);
  assert.throws(() => parseSyncArgs(['-q', '-v'], {}), /sync: -q\/--quiet and -v\/--verbose cannot be used together/);
  assert.equal(parseSyncArgs(['--progress'], {}).progress, true);
  assert.equal(parseSyncArgs(['--no-progress'], {}).progress, false);
  assert.throws(() => parseSyncArgs(['--progress', '--no-progress'], {}), /--progress and --no-progress cannot be used together/);
  assert.equal(parseRestoreArgs(['-f', 'x', '--to', '/t', '-q', '--no-progress'], {}, '/').verbosity, -1);
  assert.equal(parseRestoreArgs(['-f', 'x', '--to', '/t', '--progress'], {}, '/').progress, true);
  // every command's parser takes them
  assert.equal(parseDoctorArgs(['-q'], {}).verbosity, -1);
  assert.equal(parseLsArgs(['-v'], {}).verbosity, 1);
  assert.equal(parseVerifyArgs(['-vv'], {}).verbosity, 2);
  assert.equal(parsePresignArgs(['k', '-q'], {}).verbosity, -1);
  assert.equal(parseCorsArgs(['get', '-v'], {}).verbosity, 1);
  assert.equal(parseInitArgs(['-q'], {}).verbosity, -1);
  for (const args of [['status', '-q'], ['buckets', '-v'], ['daemon', '-vv']]) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', cliPath, ...args, '--config', '/nonexistent/r2.yaml'], { encoding: 'utf8' });
    assert.equal(r.status, 78, `${args.join(' ')}: the config error, not a usage error: ${r.stderr}`);
  }
});

test('-v or -q without a command says what it goes with', () => {
  assert.equal(unknownCommand('-v'), 'r2mirror: -v goes with a command (r2mirror -v sync); the version is r2mirror --version\nTry "r2mirror --help".\n');
  assert.match(unknownCommand('--quiet'), /--quiet goes with a command/);
});

test('the log level: --log-level, else -q errors only, else each -v one step above the default', () => {
  assert.equal(levelFor({}, 'warn'), 'warn');
  assert.equal(levelFor({ verbosity: -1 }, 'info'), 'error');
  assert.equal(levelFor({ verbosity: 1 }, 'warn'), 'info');
  assert.equal(levelFor({ verbosity: 2 }, 'warn'), 'debug');
  assert.equal(levelFor({ verbosity: 5 }, 'warn'), 'trace');
  assert.equal(levelFor({ verbosity: 1 }, 'debug'), 'debug', '-v never lowers a level the config set higher');
  assert.equal(levelFor({ verbosity: 1 }, 'silent'), 'info');
  assert.equal(levelFor({ verbosity: -1, logLevel: 'trace' }, 'warn'), 'trace');
  assert.equal(levelFor({}, 'error'), 'error', "a config's quieter logLevel stays");
  assert.equal(levelFor({ verbosity: -1 }, 'silent'), 'silent', '-q is never louder than the config');
});

test('parseSyncArgs: config from $R2MIRROR_CONFIG, else /etc/r2mirror/config.yaml', () => {
  assert.equal(parseSyncArgs([], { R2MIRROR_CONFIG: '/env.yaml' }).config, '/env.yaml');
  assert.equal(parseSyncArgs([], {}).config, '/etc/r2mirror/config.yaml');
});

test('parseSyncArgs: usage errors name the problem', () => {
  assert.throws(() => parseSyncArgs(['--frob'], {}), /sync: Unknown option '--frob'/);
  assert.throws(() => parseSyncArgs(['extra'], {}), /unexpected argument "extra"/);
  assert.throws(() => parseSyncArgs(['--max-delete', '120%'], {}), /--max-delete takes a count \(5000\) or a percentage up to 100% \(got "120%"\)/);
  assert.throws(() => parseSyncArgs(['--max-delete', 'lots'], {}), /--max-delete takes/);
  assert.throws(() => parseSyncArgs(['--log-level', 'loud'], {}), /--log-level must be one of fatal, error, warn, info, debug, trace, silent/);
});

// One maxDelete grammar: each text is tried as `--max-delete TEXT` and as `maxDelete: TEXT` in the config (plain and
// quoted); all three must agree, each refusal in its own words. `--max-delete=TEXT`, so "-1" reaches the parser.
test('--max-delete and the config\'s maxDelete accept and refuse the same values', () => {
  const accepted: Array<[string, MaxDelete]> = [
    ['0', { kind: 'count', count: 0 }], ['5000', { kind: 'count', count: 5000 }], ['007', { kind: 'count', count: 7 }],
    ['9007199254740991', { kind: 'count', count: 9007199254740991 }],
    ['0%', { kind: 'percent', percent: 0 }], ['25%', { kind: 'percent', percent: 25 }], ['12.5%', { kind: 'percent', percent: 12.5 }],
    ['12.5 %', { kind: 'percent', percent: 12.5 }], ['0.01%', { kind: 'percent', percent: 0.01 }], ['100%', { kind: 'percent', percent: 100 }],
    ['100.0%', { kind: 'percent', percent: 100 }],
  ];
  const refused = ['-1', '1.5', '-5%', '101%', '100.5%', '150%', 'lots', '5k', '5 000', '.5%', '12.5%%', '25 percent',
    '99999999999999999999', '1e20'];
  const config = (v: string): string =>
    `remote:\n  endpoint: http://127.0.0.1:7480\nmaxDelete: ${v}\nfolders: [{name: a, path: /a, bucket: bkt}]\n`;
  const fromConfig = (v: string): MaxDelete => parseConfig(config(v), '/etc/r2.yaml', { HOME: '/h' }).maxDelete;
  for (const [v, want] of accepted) {
    assert.deepEqual(parseSyncArgs([`--max-delete=${v}`], {}).maxDelete, want, `--max-delete ${v}`);
    assert.deepEqual(fromConfig(v), want, `maxDelete: ${v}`);
    assert.deepEqual(fromConfig(JSON.stringify(v)), want, `maxDelete: "${v}"`);
  }
  for (const v of refused) {
    assert.throws(() => parseSyncArgs([`--max-delete=${v}`], {}),
      { message: `--max-delete takes a count (5000) or a percentage up to 100% (got "${v}")` }, `--max-delete ${v}`);
    for (const yaml of [v, JSON.stringify(v)]) {
      assert.throws(() => fromConfig(yaml), (e: Error) => e.message.startsWith('/etc/r2.yaml:3:12: maxDelete: must be a number of files ' +
        '(an integer >= 0) or a percentage from "0%" to "100%" (got '), `maxDelete: ${yaml}`);
    }
  }
});

test("README's command-line block is --help's usage section, verbatim", () => {
  const usage = HELP.slice(HELP.indexOf('Usage:\n') + 7, HELP.indexOf('\nCredentials:')).trimEnd().split('\n').map((l) => l.replace(/^ {2}/, '')).join('\n');
  const start = readme.indexOf('```text\n', readme.indexOf('## Command line')) + 8;
  const block = readme.slice(start, readme.indexOf('```', start)).trimEnd();
  assert.equal(block, usage, 'regenerate the README block from `r2mirror --help`');
});

test('--help lists every command', () => {
  assert.ok(COMMANDS.length >= 1);
  for (const c of COMMANDS) assert.match(HELP, new RegExp(`^  r2mirror ${c.name}\\b`, 'm'), `--help lacks ${c.name}`);
});

test('every option in --help is accepted by the parser and documented in the README', () => {
  const options = [...HELP.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!);
  assert.ok(options.length >= 7, `found ${options.length} options in --help`);
  for (const o of options) {
    if (o === '--help' || o === '--version') continue;
    assert.ok(readme.includes(o), `README does not mention ${o}`);
  }
  // and nothing in the README's command-line block is unknown to the parser
  const block = readme.slice(readme.indexOf('## Command line'), readme.indexOf('### Exit codes'));
  for (const m of block.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)) assert.ok(options.includes(m[1]!), `README documents ${m[1]} but --help does not`);
});

test('the exit codes in --help and README agree with the code', () => {
  for (const code of ['0', '1', '2', '75', '78', '130', '143']) {
    assert.match(HELP, new RegExp(`\\b${code}\\b`), `--help lacks exit code ${code}`);
    assert.match(readme, new RegExp(`\\| ${code} \\|`), `README lacks exit code ${code}`);
  }
});

test('formatBytes', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(200 * 1024 * 1024), '200 MiB');
});

test('a typo in a command or an option gets the closest one suggested', () => {
  assert.equal(closest('stauts', COMMANDS.map((c) => c.name)), 'status');
  assert.equal(closest('daemom', COMMANDS.map((c) => c.name)), 'daemon');
  assert.equal(closest('frobnicate', COMMANDS.map((c) => c.name)), undefined);
  assert.match(unknownCommand('stauts'), /unknown command "stauts" \(did you mean "status"\?\)/);
  assert.match(unknownCommand('zzz'), /unknown command "zzz" \(commands: sync, daemon, .*help, version\)/);
  assert.match(unknownCommand('a\u001b[2Jb'), /"a\\u001b\[2Jb"/, 'a typed name is escaped like every human line');
  assert.throws(() => parseSyncArgs(['--dryrun'], {}), /sync: Unknown option '--dryrun'\. Did you mean --dry-run\?/);
  assert.throws(() => parseSyncArgs(['--trust-stat'], {}), /Did you mean --trust-state\?/);
  assert.throws(() => parseSyncArgs(['--frob'], {}), (e: Error) => !/Did you mean/.test(e.message));
});

test('help COMMAND prints that command\'s help only; version is a command', async () => {
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', cliPath, ...args], { encoding: 'utf8' });
  const help = run(['help', 'sync']);
  assert.equal(help.status, 0, help.stderr);
  assert.equal(help.stdout, run(['sync', '--help']).stdout);
  assert.match(help.stdout, /^Usage:\n {2}r2mirror sync /);
  assert.doesNotMatch(help.stdout, /r2mirror daemon/);
  const version = run(['version']);
  assert.equal(version.status, 0, version.stderr);
  assert.match(version.stdout, /^r2mirror \d+\.\d+\.\d+/);
  const typo = run(['help', 'stauts']);
  assert.equal(typo.status, 2);
  assert.match(typo.stderr, /did you mean "status"/);
});

test('--version, --help and help COMMAND load neither the AWS SDK nor SQLite nor pino; a command does', () => {
  const recorder = fileURLToPath(new URL('../harness/record-imports.mjs', import.meta.url));
  const loaded = (args: string[]): string[] => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', recorder, cliPath, ...args], { encoding: 'utf8' });
    const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
    assert.ok(line, `no LOADED line: ${r.stderr}`);
    return JSON.parse(line.slice(7)) as string[];
  };
  const heavy = /@aws-sdk|better-sqlite3|\/pino\//;
  for (const args of [['--version'], ['version'], ['--help'], ['help', 'sync'], ['sync', '--help'], ['completion', 'bash']]) {
    const mods = loaded(args);
    assert.ok(mods.some((u) => u.endsWith('/cli.ts')), 'the recorder sees the CLI');
    assert.deepEqual(mods.filter((u) => heavy.test(u)), [], args.join(' '));
  }
  // the recorder does see them when a command runs (it would pass vacuously otherwise)
  const run = loaded(['sync', '--config', '/nonexistent/r2mirror.yaml']);
  assert.ok(run.some((u) => /better-sqlite3/.test(u)), 'sync loads SQLite');
  assert.ok(run.some((u) => /@aws-sdk/.test(u)), 'sync loads the SDK');
});

test('on a Node older than 22 every command but doctor refuses with a message and exit 78 (the SQLite binding would crash)', (t) => {
  assert.equal(nodeSupported('22.0.0'), true);
  assert.equal(nodeSupported('24.21.0'), true);
  assert.equal(nodeSupported('20.20.2'), false);
  // The machines' own Node is 20: run the CLI on it for real when it is there.
  const old = ['/usr/bin/node', '/usr/local/bin/node'].find((n) => {
    const v = spawnSync(n, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    return v.status === 0 && !nodeSupported(v.stdout.trim());
  });
  if (!old) return t.skip('no Node older than 22 on this machine');
  const r = spawnSync(old, ['--import', 'tsx', cliPath, 'status', '--config', '/nonexistent.yaml'], { encoding: 'utf8' });
  assert.equal(r.status, 78, r.stderr);
  assert.match(r.stderr, /^r2mirror: Node\.js 20\.\d+\.\d+ is no longer supported: r2mirror \S+ needs Node\.js 22\.0 or later; install Node\.js 24 LTS/);
  const doctor = spawnSync(old, ['--import', 'tsx', cliPath, 'doctor', '--config', '/nonexistent.yaml'], { encoding: 'utf8' });
  assert.equal(doctor.status, 1, doctor.stderr);
  assert.match(doctor.stdout, /^FAIL {2}node: Node\.js 20\.\d+\.\d+ is no longer supported/m);
  assert.match(doctor.stdout, /^skip {2}sqlite: /m);
  assert.equal(spawnSync(old, ['--import', 'tsx', cliPath, '--version'], { encoding: 'utf8' }).status, 0, '--version still answers');
});

test('sharedStateBefore: the old shared state.db is named once, while the config has no DB of its own yet', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r2m-state-'));
  try {
    const own = path.join(dir, 'state-photos-0123abcd.db');
    const config = { state: own } as Parameters<typeof sharedStateBefore>[0];
    assert.equal(sharedStateBefore(config), undefined, 'no shared state.db: nothing to say');
    fs.writeFileSync(path.join(dir, 'state.db'), '');
    assert.equal(sharedStateBefore(config), path.join(dir, 'state.db'));
    fs.writeFileSync(own, '');
    assert.equal(sharedStateBefore(config), undefined, 'the config has its own DB now');
    assert.equal(sharedStateBefore({ state: path.join(dir, 'state.db') } as typeof config), undefined, 'a config on state.db itself');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('options may come before the command', () => {
  assert.deepEqual(commandFirst(['-c', 'x.yaml', 'sync', '-n']), ['sync', '-c', 'x.yaml', '-n']);
  assert.deepEqual(commandFirst(['--config=x.yaml', 'status', '--json']), ['status', '--config=x.yaml', '--json']);
  assert.deepEqual(commandFirst(['--folder', 'sync', 'restore', '--to', '/tmp/r']), ['restore', '--folder', 'sync', '--to', '/tmp/r'], 'a value named like a command');
  assert.deepEqual(commandFirst(['sync', '-c', 'x.yaml']), ['sync', '-c', 'x.yaml']);
  assert.deepEqual(commandFirst(['-b', 'ls', 'init']), ['init', '-b', 'ls'], '-b BUCKET takes a value (from the usage text)');
  assert.deepEqual(commandFirst(['--expires', '1h', 'presign', 'k']), ['presign', '--expires', '1h', 'k']);
  assert.deepEqual(commandFirst(['--help']), ['--help']);
  assert.deepEqual(commandFirst(['-c', 'x.yaml', 'frobnicate']), ['-c', 'x.yaml', 'frobnicate'], 'no command: left for the usage error');
  const run = spawnSync(process.execPath, ['--import', 'tsx', cliPath, '--config', '/nonexistent/r2.yaml', 'status'], { encoding: 'utf8' });
  assert.equal(run.status, 78, run.stderr);
  assert.match(run.stderr, /\/nonexistent\/r2\.yaml: cannot read the config file/);
});

test('the config file: --config, $R2MIRROR_CONFIG, the user\'s when it exists, then /etc; init writes the user\'s unless root', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'r2m-home-'));
  try {
    const user = path.join(home, '.config', 'r2mirror', 'config.yaml');
    assert.equal(parseSyncArgs([], { HOME: home }).config, '/etc/r2mirror/config.yaml', 'no user config yet: the system one');
    assert.equal(parseInitArgs([], { HOME: home }, 1000).config, user, 'init as a user writes the user path');
    assert.equal(parseInitArgs([], { HOME: home }, 0).config, '/etc/r2mirror/config.yaml', 'init as root writes /etc');
    fs.mkdirSync(path.dirname(user), { recursive: true });
    fs.writeFileSync(user, 'folders: []\n');
    assert.equal(parseSyncArgs([], { HOME: home }).config, user, 'an existing user config is found');
    assert.equal(parseSyncArgs([], { HOME: home, R2MIRROR_CONFIG: '/env.yaml' }).config, '/env.yaml');
    assert.equal(parseSyncArgs(['-c', '/x.yaml'], { HOME: home, R2MIRROR_CONFIG: '/env.yaml' }).config, '/x.yaml');
    const xdg = path.join(home, 'xdg');
    assert.equal(parseInitArgs([], { HOME: home, XDG_CONFIG_HOME: xdg }, 1000).config, path.join(xdg, 'r2mirror', 'config.yaml'));
    assert.equal(parseSyncArgs([], { HOME: home, XDG_CONFIG_HOME: xdg }).config, '/etc/r2mirror/config.yaml', 'XDG_CONFIG_HOME replaces ~/.config');
    assert.throws(() => loadConfig(path.join(home, 'none.yaml'), {}), /cannot read the config file: no such file \(ENOENT\); create one with "r2mirror init"/);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
