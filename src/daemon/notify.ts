// systemd sd_notify client: READY / STATUS / WATCHDOG / RELOADING / STOPPING datagrams to $NOTIFY_SOCKET.
// A no-op outside systemd; never throws into the caller (a failed send is logged at warn, once per distinct
// error).
// Must not: touch `process` (env, pid and the monotonic clock are passed in), or know about the engine.

import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import type { Logger } from '../log.js';

/** `child_process.spawn`'s shape, injectable for tests. */
export type Spawn = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

/** Optional dependencies of {@link Notifier.fromEnv}; the defaults are right outside tests. */
export interface NotifierOptions {
  /**
   * CLOCK_MONOTONIC in microseconds, sent as MONOTONIC_USEC with RELOADING=1 (systemd >= 253 uses it).
   * Only cli.ts may read the process clock: pass `() => process.hrtime.bigint() / 1000n` (libuv's hrtime is
   * CLOCK_MONOTONIC on Linux). Without it RELOADING=1 is sent alone.
   */
  readonly monotonicUsec?: () => bigint;
  /** Spawns systemd-notify (default: child_process.spawn). */
  readonly spawn?: Spawn;
  /** The systemd-notify binary (default: the first of /usr/bin and $PATH that has one, see {@link findSystemdNotify}). */
  readonly systemdNotify?: string;
}

/** A systemd-notify still running after this long is killed (it waits for the manager's barrier). */
const SEND_TIMEOUT_MS = 10_000;
/** Messages waiting beyond this drop the oldest (a hung manager must not grow memory). */
const MAX_QUEUE = 32;

/**
 * Talks to the service manager over $NOTIFY_SOCKET (newline-separated KEY=VALUE datagrams, see sd_notify(3)) by
 * running `systemd-notify KEY=VALUE...` per message, one at a time and in order. Node cannot send an AF_UNIX
 * datagram itself, and a native addon for it (unix-dgram, used before) needs an install script that npm 12
 * blocks, a compiler, and a rebuild for every Node major. The sender is then a child process, so the unit
 * says NotifyAccess=all; its cgroup holds only r2mirror and these children, so that admits no one else.
 * systemd-notify waits until the manager has processed the message (its barrier), so the manager can still
 * attribute it to the service. Abstract sockets (`@name`) work the same way.
 */
export class Notifier {
  /** Half of WATCHDOG_USEC in ms when systemd's watchdog applies to this process, else undefined. */
  readonly watchdogIntervalMs: number | undefined;
  /** True when NOTIFY_SOCKET is set (we run under a service manager that listens). */
  readonly enabled: boolean;

  readonly #socket: string | undefined;
  /** PATH for finding systemd-notify; the rest of the environment is not kept (it may hold credentials). */
  readonly #path: string | undefined;
  readonly #log: Logger;
  readonly #opts: NotifierOptions;
  #closed = false;
  readonly #warned = new Set<string>();
  /** Messages waiting for the systemd-notify child in flight (sent one at a time, in order). */
  readonly #queue: string[][] = [];
  #spawning = false;
  /** The systemd-notify to run, looked up on the first message. */
  #bin: string | undefined;

  private constructor(socket: string | undefined, watchdogIntervalMs: number | undefined, env: NodeJS.ProcessEnv, log: Logger, opts: NotifierOptions) {
    this.#socket = socket;
    this.enabled = socket !== undefined;
    this.watchdogIntervalMs = watchdogIntervalMs;
    this.#path = env.PATH;
    this.#log = log;
    this.#opts = opts;
  }

  /**
   * A notifier for the environment systemd gave us: NOTIFY_SOCKET (a path or `@abstract`), WATCHDOG_USEC and
   * WATCHDOG_PID (the watchdog is ours when WATCHDOG_PID is unset or equals `pid`). Without NOTIFY_SOCKET
   * every method is a no-op. The environment is not modified.
   */
  static fromEnv(env: NodeJS.ProcessEnv, pid: number, log: Logger, opts: NotifierOptions = {}): Notifier {
    const socket = env.NOTIFY_SOCKET || undefined;
    let interval: number | undefined;
    const usec = Number(env.WATCHDOG_USEC);
    const wdPid = env.WATCHDOG_PID;
    if (socket && env.WATCHDOG_USEC && Number.isSafeInteger(usec) && usec > 0 && (!wdPid || Number(wdPid) === pid)) {
      interval = Math.max(1, Math.floor(usec / 2000));
    }
    return new Notifier(socket, interval, env, log.child({ module: 'notify' }), opts);
  }

  /** READY=1 (start-up or a reload finished), with an optional STATUS= line. */
  ready(status?: string): void {
    this.#send(status === undefined ? ['READY=1'] : ['READY=1', `STATUS=${oneLine(status)}`]);
  }

  /** STATUS=text, shown by `systemctl status`. Pass no secrets: the text is visible to every user. */
  status(text: string): void {
    this.#send([`STATUS=${oneLine(text)}`]);
  }

  /** WATCHDOG=1 keep-alive; a no-op unless the watchdog applies to us (see {@link watchdogIntervalMs}). */
  watchdog(): void {
    if (this.watchdogIntervalMs !== undefined) this.#send(['WATCHDOG=1']);
  }

  /** RELOADING=1 (+ MONOTONIC_USEC= when a clock was given); call {@link ready} when the reload is done. */
  reloading(): void {
    const clock = this.#opts.monotonicUsec;
    let usec: bigint | undefined;
    try {
      usec = clock?.();
    } catch (err) {
      this.#warnOnce('clock', { err }, 'cannot read the monotonic clock; RELOADING=1 sent without MONOTONIC_USEC');
    }
    this.#send(usec === undefined ? ['RELOADING=1'] : ['RELOADING=1', `MONOTONIC_USEC=${usec}`]);
  }

  /** STOPPING=1: shutdown has begun. */
  stopping(): void {
    this.#send(['STOPPING=1']);
  }

  /** Stop sending; later calls are no-ops. Idempotent. Messages already queued (STOPPING=1) still go. */
  close(): void {
    this.#closed = true;
  }

  #send(lines: string[]): void {
    if (!this.#socket || this.#closed) return;
    try {
      if (this.#queue.length >= MAX_QUEUE) {
        this.#queue.shift();
        this.#warnOnce('queue', { queued: MAX_QUEUE }, 'systemd-notify is too slow; dropping the oldest queued sd_notify message');
      }
      this.#queue.push(lines);
      this.#pump();
    } catch (err) {
      this.#warnOnce(`unexpected:${(err as Error)?.message}`, { err }, 'sd_notify failed');
    }
  }

  /** Runs the next queued systemd-notify, one at a time so the manager sees the messages in order. */
  #pump(): void {
    if (this.#spawning) return;
    const lines = this.#queue.shift();
    if (!lines) return;
    this.#spawning = true;
    const bin = (this.#bin ??= this.#opts.systemdNotify ?? findSystemdNotify(this.#path) ?? 'systemd-notify');
    // Only what systemd-notify needs: the rest of our environment may hold credentials.
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: this.#socket };
    if (this.#path) env.PATH = this.#path;
    let stderr = '';
    let done = false;
    const finish = (problem?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (problem) this.#warnOnce(`send:${problem}`, { command: bin, problem }, 'systemd-notify failed');
      this.#spawning = false;
      this.#pump();
    };
    const timer = setTimeout(() => {
      child?.kill('SIGKILL');
      finish(`no answer within ${SEND_TIMEOUT_MS / 1000} s`);
    }, SEND_TIMEOUT_MS);
    timer.unref();
    let child: ChildProcess | undefined;
    try {
      child = (this.#opts.spawn ?? nodeSpawn)(bin, lines, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      finish((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      return;
    }
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      if (stderr.length < 1000) stderr += s;
    });
    child.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    child.on('close', (code, signal) => {
      if (code === 0) finish();
      else finish(`${signal ? `killed by ${signal}` : `exit code ${code}`}${stderr.trim() ? `: ${stderr.trim().split('\n')[0]}` : ''}`);
    });
  }

  #warnOnce(key: string, fields: Record<string, unknown>, msg: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    // constant message: every caller passes a string literal
    this.#log.warn(fields, msg);
  }
}

/** The systemd-notify the daemon runs: /usr/bin's, else the first on `path` (absolute directories only). */
export function findSystemdNotify(path: string | undefined): string | undefined {
  for (const dir of ['/usr/bin', ...(path ?? '').split(':').filter((d) => d.startsWith('/'))]) {
    const command = `${dir}/systemd-notify`;
    try {
      accessSync(command, fsConstants.X_OK);
      return command;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** One line of text for a KEY=VALUE field: a newline would start a new field (STATUS="x\nREADY=1"). */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}
