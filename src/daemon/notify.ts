// systemd sd_notify client: READY / STATUS / WATCHDOG / RELOADING / STOPPING datagrams to $NOTIFY_SOCKET.
// A no-op outside systemd; never throws into the caller (a failed send is logged at warn, once per distinct
// error).
// Must not: touch `process` (env, pid and the monotonic clock are passed in), or know about the engine.

import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import type { Logger } from '../log.js';

/** The part of a `unix-dgram` socket that the notifier uses. */
export interface DgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback: (err?: Error) => void): void;
  close(): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** The part of the `unix-dgram` module that the notifier uses. */
export interface DgramModule {
  createSocket(type: 'unix_dgram'): DgramSocket;
}

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
  /** Loads `unix-dgram` (default: createRequire). A loader that throws selects the systemd-notify fallback. */
  readonly loadDgram?: () => DgramModule;
  /** Spawns the systemd-notify fallback (default: child_process.spawn). */
  readonly spawn?: Spawn;
  /** The systemd-notify binary (default: /usr/bin/systemd-notify if it exists, else `systemd-notify` on PATH). */
  readonly systemdNotify?: string;
}

/** A fallback child still running after this long is killed (systemd-notify waits for the manager's barrier). */
const FALLBACK_TIMEOUT_MS = 10_000;
/** Fallback messages waiting beyond this drop the oldest (a hung manager must not grow memory). */
const MAX_QUEUE = 32;
/** sockaddr_un.sun_path holds 108 bytes; unix-dgram copies at most 107 and would silently cut a longer path. */
const MAX_PATH_BYTES = 107;

/**
 * Talks to the service manager over $NOTIFY_SOCKET (newline-separated KEY=VALUE datagrams, see sd_notify(3)).
 * A path socket is written natively through the optional `unix-dgram` addon (works with NotifyAccess=main);
 * when the addon cannot load, or the socket is abstract (`@name`, which unix-dgram cannot address), each
 * message is sent by spawning `systemd-notify KEY=VALUE...`, which the manager only accepts with
 * NotifyAccess=all (the sender is a child process, not the main PID). A warning says so once.
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
  /** unix-dgram once loaded; null once we know it cannot be used (then the fallback is used). */
  #dgram: DgramModule | null | undefined;
  #closed = false;
  readonly #warned = new Set<string>();
  /** Fallback messages waiting for the systemd-notify child in flight (sent one at a time, in order). */
  readonly #queue: string[][] = [];
  #spawning = false;

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

  /** Stop sending; later calls are no-ops. Idempotent. Fallback messages already queued (STOPPING=1) still go. */
  close(): void {
    this.#closed = true;
  }

  #send(lines: string[]): void {
    if (!this.#socket || this.#closed) return;
    try {
      const dgram = this.#socket.startsWith('/') ? this.#native() : null;
      if (dgram) this.#sendNative(dgram, this.#socket, lines.join('\n'));
      else this.#sendFallback(lines);
    } catch (err) {
      this.#warnOnce(`unexpected:${(err as Error)?.message}`, { err }, 'sd_notify failed');
    }
  }

  /** unix-dgram, loaded on first use; null (after one warning) when it cannot load. */
  #native(): DgramModule | null {
    if (this.#dgram !== undefined) return this.#dgram;
    try {
      this.#dgram = (this.#opts.loadDgram ?? loadUnixDgram)();
    } catch (err) {
      this.#dgram = null;
      this.#log.warn({ err },
        'the unix-dgram addon cannot load; sending sd_notify messages through systemd-notify, which systemd accepts only with NotifyAccess=all');
    }
    return this.#dgram;
  }

  #sendNative(dgram: DgramModule, path: string, message: string): void {
    if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
      this.#warnOnce('path-too-long', { socket: path, maxBytes: MAX_PATH_BYTES }, 'NOTIFY_SOCKET is longer than a unix socket address may be; sd_notify messages are not sent');
      return;
    }
    // One short-lived socket per message: an open unix-dgram socket keeps the event loop alive, and a socket
    // per message survives the manager re-binding its socket (daemon-reexec). The watchdog pings at most every
    // few seconds, so the cost does not matter.
    const sock = dgram.createSocket('unix_dgram');
    sock.on('error', (err) => this.#warnSend(err, path));
    const buf = Buffer.from(message, 'utf8');
    try {
      sock.send(buf, 0, buf.length, path, (err) => {
        if (err) this.#warnSend(err, path);
      });
    } finally {
      try {
        sock.close();
      } catch (err) {
        this.#warnSend(err as Error, path);
      }
    }
  }

  #warnSend(err: Error, socket: string): void {
    const code = errnoName((err as NodeJS.ErrnoException).code) ?? err.message;
    this.#warnOnce(`send:${code}`, { socket, code }, 'cannot send to NOTIFY_SOCKET');
  }

  #sendFallback(lines: string[]): void {
    if (this.#socket?.startsWith('@')) {
      this.#warnOnce('abstract', { socket: this.#socket },
        'NOTIFY_SOCKET is an abstract socket, which the unix-dgram addon cannot address; sending sd_notify messages through systemd-notify, which systemd accepts only with NotifyAccess=all');
    }
    if (this.#queue.length >= MAX_QUEUE) {
      this.#queue.shift();
      this.#warnOnce('fallback:queue', { queued: MAX_QUEUE }, 'systemd-notify is too slow; dropping the oldest queued sd_notify message');
    }
    this.#queue.push(lines);
    this.#pump();
  }

  /** Runs the next queued systemd-notify, one at a time so the manager sees the messages in order. */
  #pump(): void {
    if (this.#spawning) return;
    const lines = this.#queue.shift();
    if (!lines) return;
    this.#spawning = true;
    const bin = this.#opts.systemdNotify ?? (existsSync('/usr/bin/systemd-notify') ? '/usr/bin/systemd-notify' : 'systemd-notify');
    // Only what systemd-notify needs: the rest of our environment may hold credentials.
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: this.#socket };
    if (this.#path) env.PATH = this.#path;
    let stderr = '';
    let done = false;
    const finish = (problem?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (problem) this.#warnOnce(`fallback:${problem}`, { command: bin, problem }, 'systemd-notify failed');
      this.#spawning = false;
      this.#pump();
    };
    const timer = setTimeout(() => {
      child?.kill('SIGKILL');
      finish(`no answer within ${FALLBACK_TIMEOUT_MS / 1000} s`);
    }, FALLBACK_TIMEOUT_MS);
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

function loadUnixDgram(): DgramModule {
  return createRequire(import.meta.url)('unix-dgram') as DgramModule;
}

/** One line of text for a KEY=VALUE field: a newline would start a new field (STATUS="x\nREADY=1"). */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

/** unix-dgram reports errors as negative errno numbers (-2); turn them into names (ENOENT). */
function errnoName(code: unknown): string | undefined {
  if (typeof code === 'string') return code;
  if (typeof code !== 'number') return undefined;
  const n = Math.abs(code);
  const hit = Object.entries(constants.errno).find(([, v]) => v === n);
  return hit ? hit[0] : `errno ${n}`;
}
