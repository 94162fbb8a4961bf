// systemd/r2mirror.service: `systemd-analyze verify` accepts it without a warning, and
// `systemd-analyze security --offline` rates its sandbox at 2.5 or better. Skips (not passes) without systemd-analyze.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const UNIT = readFileSync(new URL('../../systemd/r2mirror.service', import.meta.url), 'utf8');
const ENV = { ...process.env, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: 'cat', SYSTEMD_LOG_COLOR: '0' };

const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const NO_ANALYZE = probe.error || probe.status !== 0
  ? `systemd-analyze is not installed (${probe.error?.message ?? `exit ${probe.status}`}); apt-get install systemd`
  : false;

const dir = mkdtempSync(join(tmpdir(), 'r2mirror-unit-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The unit as installed, except ExecStart: `systemd-analyze verify` fails when the ExecStart binary does not
 * exist, and /usr/bin/r2mirror is not installed here. The node binary running this test stands in for it
 * (it exists and is absolute); the arguments are kept. Nothing is started.
 */
function unitFile(text = UNIT, name = 'r2mirror.service'): string {
  assert.match(text, /^ExecStart=\/usr\/bin\/r2mirror daemon --config \/etc\/r2mirror\/config\.yaml$/m);
  const file = join(mkdtempSync(join(dir, 'u-')), name);
  writeFileSync(file, text.replace(/^ExecStart=\/usr\/bin\/r2mirror /m, `ExecStart=${process.execPath} `));
  return file;
}

/** The value of every `Key=` line in [Service] etc. (comments and blank lines skipped). */
function values(key: string): string[] {
  return UNIT.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

test('the unit has the settings the daemon relies on', () => {
  assert.deepEqual(values('Type'), ['notify']);
  assert.deepEqual(values('NotifyAccess'), ['all'], 'sd_notify comes from systemd-notify, a child process');
  assert.deepEqual(values('WatchdogSec'), ['60']);
  assert.deepEqual(values('RestartPreventExitStatus'), ['78']);
  assert.deepEqual(values('Restart'), ['on-failure']);
  assert.deepEqual(values('StateDirectory'), ['r2mirror']);
  assert.deepEqual(values('LoadCredential'), ['credentials:/etc/r2mirror/credentials']);
  assert.deepEqual(values('ExecReload'), ['/bin/kill -HUP $MAINPID']);
  assert.deepEqual(values('User'), ['r2mirror']);
  assert.ok(Number(values('TimeoutStopSec')[0]) > 30, 'the daemon takes up to 30 s to finish uploads on SIGTERM');
  assert.deepEqual(values('MemoryDenyWriteExecute'), [], "V8's JIT needs W+X memory");
  assert.deepEqual(values('DynamicUser'), []);
  assert.deepEqual(values('ProtectSystem'), ['strict']);
  assert.deepEqual(values('UMask'), ['0077']);
});

test('systemd-analyze verify: exit 0 and no warning about the unit', { skip: NO_ANALYZE }, () => {
  const file = unitFile();
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8', env: ENV });
  const about = r.stderr.split('\n').filter((l) => l.includes('r2mirror'));
  assert.deepEqual(about, [], `systemd-analyze verify warned:\n${r.stderr}`);
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}${r.stderr}`);
});

test('systemd-analyze verify does warn about a broken copy (the check above can fail)', { skip: NO_ANALYZE }, () => {
  const file = unitFile(UNIT.replace(/^ProtectSystem=strict$/m, 'ProtectSytem=strict').replace(/^WatchdogSec=60$/m, 'WatchdogSec=soon'));
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8', env: ENV });
  // systemd exits 0 here: warnings only show on stderr, which is why the test above reads it.
  assert.match(r.stderr, /r2mirror\.service:\d+: Unknown key( name)? '?ProtectSytem/);
  assert.match(r.stderr, /r2mirror\.service:\d+: Failed to parse .*soon/);
});

test('systemd-analyze security --offline: exposure 2.5 or lower', { skip: NO_ANALYZE }, () => {
  const file = unitFile();
  // --threshold=25 makes the command itself fail above 2.5 (the threshold is in tenths of the displayed score).
  const r = spawnSync('systemd-analyze', ['security', '--no-pager', '--offline=true', '--threshold=25', file], { encoding: 'utf8', env: ENV });
  const m = /Overall exposure level for r2mirror\.service: (\d+(?:\.\d+)?)/.exec(r.stdout);
  assert.ok(m, `no "Overall exposure level" line in:\n${r.stdout}${r.stderr}`);
  const score = Number(m[1]);
  assert.ok(score <= 2.5, `exposure ${score} > 2.5:\n${r.stdout.split('\n').filter((l) => l.startsWith('✗')).join('\n')}`);
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /r2mirror/, r.stderr);
});

test('systemd-analyze security --threshold does fail a weak unit (the check above can fail)', { skip: NO_ANALYZE }, () => {
  const weak = UNIT.split('\n').filter((l) => !/^(Protect|Private|Restrict|SystemCall|Capability|NoNewPrivileges|Lock|Keyring|RemoveIPC|ProcSubset|DevicePolicy|UMask)/.test(l)).join('\n');
  const r = spawnSync('systemd-analyze', ['security', '--no-pager', '--offline=true', '--threshold=25', unitFile(weak)], { encoding: 'utf8', env: ENV });
  const m = /Overall exposure level for r2mirror\.service: (\d+(?:\.\d+)?)/.exec(r.stdout);
  assert.ok(m && Number(m[1]) > 2.5, r.stdout);
  assert.notEqual(r.status, 0);
});
