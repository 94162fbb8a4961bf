// sd_notify client against a real receiver: an AF_UNIX SOCK_DGRAM socket bound in a temp dir (or an abstract one),
// like systemd's /run/systemd/notify, served by python3 (Node cannot bind a datagram unix socket). The messages
// are sent by the real systemd-notify, as in production.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '../../src/log.js';
import { Notifier, findSystemdNotify, type Spawn } from '../../src/daemon/notify.js';

/** The command the notifier runs by default, if systemd-notify is installed at all. */
const SYSTEMD_NOTIFY = findSystemdNotify(process.env.PATH);
const PYTHON = ['python3'].find((p) => spawnSync(p, ['-c', 'import socket'], { stdio: 'ignore' }).status === 0);
const needs = !SYSTEMD_NOTIFY ? 'systemd-notify is not installed (Debian: package systemd)' : !PYTHON ? 'python3 (the receiver) is not installed' : false;

const dir = mkdtempSync(join(tmpdir(), 'r2mirror-notify-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const sockPath = (): string => join(dir, `notify-${++n}.sock`);

/** A logger that keeps its lines, so tests can check what was warned. */
function memLog(): { log: Logger; lines: { level: number; msg: string; [k: string]: unknown }[] } {
  const lines: { level: number; msg: string }[] = [];
  const log = createLogger({ level: 'debug', out: { write: (s: string) => lines.push(JSON.parse(s)) } });
  return { log, lines };
}
const warnings = (lines: { level: number; msg: string }[]): string[] => lines.filter((l) => l.level === 40).map((l) => l.msg);

/**
 * A bound notify socket (a path, or `@name` for an abstract one) that collects datagrams; BARRIER=1 from
 * systemd-notify is left out, as systemd does (the kernel closes the barrier fd the receiver does not take).
 */
async function receiver(path: string): Promise<{ next(ms?: number): Promise<string>; pending(): number; close(): void }> {
  const py = 'import json,socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\n' +
    'a=sys.argv[1]\ns.bind("\\0"+a[1:] if a.startswith("@") else a)\nprint("bound",flush=True)\n' +
    'while True:\n  d=s.recv(65536).decode()\n  if d!="BARRIER=1": print(json.dumps(d),flush=True)\n';
  const child: ChildProcess = spawn(PYTHON!, ['-c', py, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const got: string[] = [];
  const waiters: ((s: string) => void)[] = [];
  let bound = false;
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === 'bound') { bound = true; continue; }
      const s = JSON.parse(line) as string;
      const w = waiters.shift();
      if (w) w(s);
      else got.push(s);
    }
  });
  for (let i = 0; i < 250 && !bound; i++) await tick(20);
  assert.ok(bound, `the python receiver did not bind ${path}`);
  return {
    next: (ms = 5000) => new Promise<string>((resolve, reject) => {
      const s = got.shift();
      if (s !== undefined) return resolve(s);
      const t = setTimeout(() => reject(new Error(`no datagram on ${path} within ${ms} ms`)), ms);
      waiters.push((v) => { clearTimeout(t); resolve(v); });
    }),
    pending: () => got.length,
    close: () => child.kill(),
  };
}

const tick = (ms = 50) => new Promise((r) => setTimeout(r, ms));

test('path socket: exact datagrams for ready, status, watchdog, reloading and stopping', { skip: needs }, async () => {
  const path = sockPath();
  const rx = await receiver(path);
  try {
    const { log, lines } = memLog();
    const nt = Notifier.fromEnv({ NOTIFY_SOCKET: path, WATCHDOG_USEC: '4000000' }, 4242, log);
    assert.equal(nt.enabled, true);
    assert.equal(nt.watchdogIntervalMs, 2000);
    nt.ready('watching 2 folders');
    assert.equal(await rx.next(), 'READY=1\nSTATUS=watching 2 folders');
    nt.ready();
    assert.equal(await rx.next(), 'READY=1');
    nt.status('syncing photos: 12/40 files');
    assert.equal(await rx.next(), 'STATUS=syncing photos: 12/40 files');
    nt.status('line one\nREADY=1\r\nline three');
    assert.equal(await rx.next(), 'STATUS=line one READY=1 line three', 'a newline must not start a new field');
    nt.watchdog();
    assert.equal(await rx.next(), 'WATCHDOG=1');
    nt.reloading();
    assert.equal(await rx.next(), 'RELOADING=1', 'no clock given: no MONOTONIC_USEC');
    nt.stopping();
    assert.equal(await rx.next(), 'STOPPING=1');
    nt.close();
    nt.close();
    nt.status('after close');
    await tick();
    assert.equal(rx.pending(), 0, 'nothing is sent after close()');
    assert.deepEqual(warnings(lines), []);
  } finally {
    rx.close();
  }
});

test('reloading sends MONOTONIC_USEC from the injected clock', { skip: needs }, async () => {
  const path = sockPath();
  const rx = await receiver(path);
  try {
    const nt = Notifier.fromEnv({ NOTIFY_SOCKET: path }, 1, memLog().log, { monotonicUsec: () => 123456789n });
    nt.reloading();
    assert.equal(await rx.next(), 'RELOADING=1\nMONOTONIC_USEC=123456789');
    // What cli.ts passes: libuv's hrtime, which is CLOCK_MONOTONIC on Linux.
    const real = Notifier.fromEnv({ NOTIFY_SOCKET: path }, 1, memLog().log, { monotonicUsec: () => process.hrtime.bigint() / 1000n });
    real.reloading();
    assert.match(await rx.next(), /^RELOADING=1\nMONOTONIC_USEC=[1-9]\d*$/);
  } finally {
    rx.close();
  }
});

test('watchdog interval: half of WATCHDOG_USEC, only when WATCHDOG_PID is unset or ours', { skip: needs }, async () => {
  const path = sockPath();
  const rx = await receiver(path);
  try {
    const log = memLog().log;
    assert.equal(Notifier.fromEnv({ NOTIFY_SOCKET: path, WATCHDOG_USEC: '4000000', WATCHDOG_PID: '4242' }, 4242, log).watchdogIntervalMs, 2000);
    assert.equal(Notifier.fromEnv({ NOTIFY_SOCKET: path, WATCHDOG_USEC: '60000000' }, 7, log).watchdogIntervalMs, 30_000);
    assert.equal(Notifier.fromEnv({ NOTIFY_SOCKET: path }, 7, log).watchdogIntervalMs, undefined);
    assert.equal(Notifier.fromEnv({ NOTIFY_SOCKET: path, WATCHDOG_USEC: '0' }, 7, log).watchdogIntervalMs, undefined);
    assert.equal(Notifier.fromEnv({ NOTIFY_SOCKET: path, WATCHDOG_USEC: 'soon' }, 7, log).watchdogIntervalMs, undefined);

    const other = Notifier.fromEnv({ NOTIFY_SOCKET: path, WATCHDOG_USEC: '4000000', WATCHDOG_PID: '999' }, 4242, log);
    assert.equal(other.watchdogIntervalMs, undefined, 'the watchdog belongs to pid 999');
    other.watchdog();
    other.status('still here');
    assert.equal(await rx.next(), 'STATUS=still here', 'no WATCHDOG=1 for another process');
  } finally {
    rx.close();
  }
});

test('without NOTIFY_SOCKET every call is a no-op and nothing is spawned', () => {
  let spawns = 0;
  const { log, lines } = memLog();
  const nt = Notifier.fromEnv({ WATCHDOG_USEC: '4000000' }, 1, log, {
    spawn: ((...a: Parameters<Spawn>) => { spawns++; return spawn(...a); }) as Spawn,
  });
  assert.equal(nt.enabled, false);
  assert.equal(nt.watchdogIntervalMs, undefined);
  nt.ready('x'); nt.status('x'); nt.watchdog(); nt.reloading(); nt.stopping(); nt.close(); nt.close();
  assert.equal(spawns, 0);
  assert.deepEqual(lines, []);
});

test('a dead socket path does not throw and warns once per distinct error', { skip: needs }, async () => {
  const { log, lines } = memLog();
  const nt = Notifier.fromEnv({ NOTIFY_SOCKET: join(dir, 'nobody-listens.sock'), WATCHDOG_USEC: '4000000', PATH: '/usr/bin:/bin' }, 1, log);
  nt.ready('x');
  nt.watchdog();
  nt.status('y');
  nt.stopping();
  for (let i = 0; i < 250 && warnings(lines).length === 0; i++) await tick(20);
  await tick(300);
  assert.deepEqual(warnings(lines), ['systemd-notify failed']);
  assert.match(String(lines[0]!.problem), /^exit code [1-9]/);
});

test('systemd-notify gets the messages in order and only NOTIFY_SOCKET and PATH of the environment, never credentials', { skip: needs }, async () => {
  const path = sockPath();
  const rx = await receiver(path);
  try {
    const { log, lines } = memLog();
    const calls: { command: string; args: readonly string[]; env: NodeJS.ProcessEnv | undefined }[] = [];
    const recordingSpawn: Spawn = (command, args, options) => {
      calls.push({ command, args, env: options.env });
      return spawn(command, args, options);
    };
    const env = { NOTIFY_SOCKET: path, WATCHDOG_USEC: '4000000', PATH: '/usr/bin:/bin', R2_SECRET_ACCESS_KEY: 'do-not-pass-me' };
    const nt = Notifier.fromEnv(env, 1, log, { spawn: recordingSpawn });
    nt.ready('watching 2 folders');
    nt.watchdog();
    nt.stopping();
    assert.equal(await rx.next(), 'READY=1\nSTATUS=watching 2 folders');
    assert.equal(await rx.next(), 'WATCHDOG=1');
    assert.equal(await rx.next(), 'STOPPING=1');
    assert.deepEqual(calls.map((c) => [c.command, ...c.args]), [
      [SYSTEMD_NOTIFY, 'READY=1', 'STATUS=watching 2 folders'],
      [SYSTEMD_NOTIFY, 'WATCHDOG=1'],
      [SYSTEMD_NOTIFY, 'STOPPING=1'],
    ]);
    assert.deepEqual(calls[0]!.env, { NOTIFY_SOCKET: path, PATH: '/usr/bin:/bin' }, 'only what systemd-notify needs, never credentials');
    assert.deepEqual(warnings(lines), []);
  } finally {
    rx.close();
  }
});

test('a missing systemd-notify binary does not throw and warns once', async () => {
  const { log, lines } = memLog();
  const nt = Notifier.fromEnv({ NOTIFY_SOCKET: join(dir, 'x.sock') }, 1, log, { systemdNotify: join(dir, 'no-such-systemd-notify') });
  nt.ready();
  nt.status('a');
  for (let i = 0; i < 100 && warnings(lines).length < 1; i++) await tick(20);
  await tick(100);
  assert.deepEqual(warnings(lines), ['systemd-notify failed']);
  assert.equal(lines.find((l) => l.msg === 'systemd-notify failed')!.problem, 'ENOENT');
});

test('abstract socket (@name): systemd-notify delivers there too', { skip: needs }, async () => {
  const name = `@r2mirror-test-${process.pid}-${Date.now()}`;
  const rx = await receiver(name);
  try {
    const { log, lines } = memLog();
    const nt = Notifier.fromEnv({ NOTIFY_SOCKET: name, PATH: '/usr/bin:/bin' }, 1, log);
    nt.ready('abstract ok');
    nt.stopping();
    assert.equal(await rx.next(), 'READY=1\nSTATUS=abstract ok');
    assert.equal(await rx.next(), 'STOPPING=1');
    assert.deepEqual(warnings(lines), []);
  } finally {
    rx.close();
  }
});

test('findSystemdNotify: /usr/bin first, then PATH; undefined when there is none', () => {
  assert.equal(findSystemdNotify('/nonexistent'), SYSTEMD_NOTIFY === '/usr/bin/systemd-notify' ? '/usr/bin/systemd-notify' : undefined);
  assert.equal(findSystemdNotify(undefined), SYSTEMD_NOTIFY === '/usr/bin/systemd-notify' ? '/usr/bin/systemd-notify' : undefined);
});
