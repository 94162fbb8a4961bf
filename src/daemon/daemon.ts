// `r2mirror daemon`'s engine room: the engine of `sync` plus one FolderLoop per folder, the rescan and
// verification timers, the live state (status, STATUS=, /metrics) and the graceful stop.
// Events are hints that schedule a reconcile of the paths they name (src/daemon/folder-loop.ts).
// Must not: touch `process`, write the state DB other than through Engine, or parse arguments.

import { stateFilesOf, type Config, type Credentials, type FolderConfig } from '../config.js';
import { Engine, type DaemonRecord } from '../engine.js';
import type { FolderReport } from '../folder.js';
import { trustState } from '../policy.js';
import { Watcher, countWatchedDirectories } from '../local/watch.js';
import type { Logger } from '../log.js';
import { realClock, type Clock, type TimerHandle } from '../clock.js';
import { FolderLoop } from './folder-loop.js';
import { daemonMetrics, statusLine, type DaemonLive } from './live.js';
import type { MetricFamily } from './metrics.js';

/** More dirty paths than this at once is an event storm: the folder is rescanned instead. */
export const STORM_LIMIT = 10_000;
/** The live state is written to the state DB at most this often. */
const LIVE_EVERY_MS = 2000;

/** What the daemon tells systemd (implemented by src/daemon/notify.ts; a no-op outside systemd). */
export interface ServiceNotifier {
  ready(status?: string): void;
  status(text: string): void;
  reloading(): void;
  stopping(): void;
}

/** Everything {@link Daemon} needs; the CLI builds it. */
export interface DaemonDeps {
  readonly config: Config;
  readonly credentials: Credentials;
  readonly log: Logger;
  readonly pid: number;
  readonly notifier: ServiceNotifier;
  /** fs.inotify.max_user_watches, when known (Linux). */
  readonly inotifyLimit?: number | undefined;
  /** The real clock unless a test passes another. */
  readonly clock?: Clock | undefined;
}

/**
 * One configuration's worth of daemon: engine, folder loops, timers. start(), then stop(); failed() rejects
 * with a fatal error. A reload builds a new Daemon after stop().
 */
export class Daemon {
  private readonly config: Config;
  private readonly log: Logger;
  private readonly clock: Clock;
  /** Aborted when stopping: start no new transfers. */
  private readonly drain = new AbortController();
  /** Aborted when the stop timeout passed: abort running transfers. */
  private readonly hard = new AbortController();
  private stopping = false;
  private readonly loops = new Map<string, FolderLoop>();
  private readonly timers: TimerHandle[] = [];
  private readonly startedAt: number;
  private readonly liveWriter: LiveWriter;
  private fatalError: ((err: unknown) => void) | undefined;
  private readonly totals = { uploads: 0, uploadedBytes: 0, failures: 0 };
  private runId: number | undefined;
  /** The daemon's door to the state DB. */
  private readonly record: DaemonRecord;

  private constructor(private readonly deps: DaemonDeps, private readonly engine: Engine) {
    this.config = deps.config;
    this.log = deps.log;
    this.clock = deps.clock ?? realClock;
    this.startedAt = this.clock.now();
    this.record = engine.daemonRecord();
    this.liveWriter = new LiveWriter(this.clock, () => this.live(), (live) => this.record.publishLive(deps.pid, this.startedAt, live), deps.notifier, deps.log);
    const stateFiles = stateFilesOf(deps.config);
    for (const f of deps.config.folders) this.loops.set(f.name, this.loopFor(f, stateFiles));
  }

  /** Open the engine (state DB lock, client) and build the folder loops. Nothing runs yet. */
  static open(deps: DaemonDeps): Daemon {
    return new Daemon(deps, Engine.open(deps.config, deps.credentials, deps.log));
  }

  /**
   * Recover from an earlier run that never finished, arm the watchers (READY=1 once they are), reconcile
   * everything once (listing the bucket only when the last verification is older than verifyInterval or an
   * unclean stop left the folder needing a listing), then react to events and timers until stop().
   */
  async start(): Promise<void> {
    this.runId = this.record.startRun(this.startedAt);
    await this.engine.recoverInterruptedRuns(this.runId, this.hard.signal);
    await Promise.all([...this.loops.values()].map((l) => l.start()));
    const watching = [...this.loops.values()].filter((l) => l.watching).length;
    // Logged first: whoever sees READY=1 (systemd, a test) finds the line already written.
    this.log.info({ folders: this.loops.size, watching, dirs: this.watchedDirs() }, 'watchers armed');
    this.deps.notifier.ready(`watching ${watching}/${this.loops.size} folder(s); initial reconcile`);
    const { rescanInterval, verifyInterval } = this.config.daemon;
    const listed = this.record.lastListings();
    const now = this.clock.now();
    for (const l of this.loops.values()) {
      const lastList = listed.get(l.name);
      const trust = trustState({ lastListedAt: lastList, needsListing: this.record.needsListing(l.name), now, verifyInterval });
      l.begin({ kind: trust.trust ? 'local' : 'listing' }, lastList);
      // The next verification is due verifyInterval after the last one.
      this.scheduleVerify(l, lastList === undefined ? verifyInterval : Math.max(1000, lastList + verifyInterval - now));
    }
    this.timers.push(this.clock.setInterval(() => this.loops.forEach((l) => l.request({ kind: 'local' })), rescanInterval));
    this.liveWriter.changed();
  }

  /** Resolves when a fatal error stops the daemon (credentials revoked, bucket deleted, DB unusable). */
  failed(): Promise<never> {
    return new Promise((_, reject) => {
      this.fatalError = reject;
    });
  }

  /** The live state `status` and /metrics show. */
  live(): DaemonLive {
    return {
      pid: this.deps.pid, startedAt: this.startedAt, folders: [...this.loops.values()].map((l) => l.live()),
      uploads: this.totals.uploads, uploadedBytes: this.totals.uploadedBytes, failures: this.totals.failures, queue: this.engine.queueDepth(),
    };
  }

  /** True while every folder is watched (or polled) and reconciled successfully within two rescan intervals. */
  health(now = this.clock.now()): { ok: boolean; reason: string } {
    const recent = 2 * this.config.daemon.rescanInterval;
    for (const l of this.loops.values()) {
      const reason = l.unhealthy(now, recent);
      if (reason) return { ok: false, reason };
    }
    return { ok: true, reason: 'ok' };
  }

  /** Prometheus metric families. */
  metrics(): MetricFamily[] {
    const live = this.live();
    return daemonMetrics(live, {
      ops: this.engine.ops.snapshot(), replacements: (name) => this.loops.get(name)?.replacements ?? 0,
      watchedDirs: this.watchedDirs(), inotifyLimit: this.deps.inotifyLimit,
    });
  }

  /**
   * Stop: no new work, watchers closed; running transfers may finish for `stopTimeout`, then they are aborted
   * (multipart uploads aborted on the server). The DB records a clean stop only when nothing was left open.
   */
  async stop(reason: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info({ reason }, 'stopping');
    this.timers.forEach((t) => this.clock.clearTimeout(t));
    this.liveWriter.stop();
    await Promise.all([...this.loops.values()].map((l) => l.close()));
    this.drain.abort(new Error(reason));
    const idle = Promise.all([...this.loops.values()].map((l) => l.idle()));
    const cut = await this.waitOrCut(idle, reason);
    // A cut multipart upload stays open, recorded, to be resumed on the next start; sweep only what the journal
    // does not know (free requests).
    const swept = cut ? await this.engine.sweepStaleUploads(this.engine.folderNames(), AbortSignal.timeout(10_000)).catch(() => false) : true;
    try {
      // A transfer cut off may have completed on the server unrecorded: the next start lists (and sweeps what
      // this sweep could not reach, since the run stays unfinished).
      this.record.finishRun(this.runId, { cut, swept, uploads: this.totals.uploads, bytes: this.totals.uploadedBytes });
    } catch (err) {
      this.log.warn({ err }, 'could not record the stop in the state DB');
    }
    this.engine.close();
  }

  /** Wait for `idle` up to stopTimeout; past it, abort the running transfers and wait for them. True when cut. */
  private async waitOrCut(idle: Promise<unknown>, reason: string): Promise<boolean> {
    let cut = false;
    let timer: TimerHandle;
    await Promise.race([idle, new Promise<void>((r) => {
      timer = this.clock.setTimeout(() => {
        cut = true;
        r();
      }, this.config.daemon.stopTimeout);
    })]);
    this.clock.clearTimeout(timer);
    if (!cut) return false;
    this.log.warn({ timeoutMs: this.config.daemon.stopTimeout }, 'stop timeout: aborting the transfers still running');
    this.hard.abort(new Error(`${reason}: stop timeout`));
    await idle;
    return true;
  }

  /** The loop of one folder, wired to the engine, a real watcher and this daemon's timers and counters. */
  private loopFor(f: FolderConfig, stateFiles: readonly string[]): FolderLoop {
    const timing = this.config.daemon;
    return new FolderLoop({
      name: f.name, root: f.path, log: this.log, clock: this.clock,
      reconcile: (scope) => this.engine.reconcile(f.name, { scope, signal: this.hard.signal, drain: this.drain.signal }),
      watch: (on) => Watcher.start({
        root: f.path, exclude: f.exclude, followSymlinks: f.followSymlinks, oneFileSystem: f.oneFileSystem, alwaysExclude: stateFiles,
        quietMs: timing.quietPeriod, maxDelayMs: timing.maxDelay, stormLimit: STORM_LIMIT, clock: this.clock, ...on,
      }),
      needsList: () => this.record.needsListing(f.name),
      failures: () => this.record.failureCount(f.name),
      pollInterval: timing.pollInterval,
      inotifyLimit: this.deps.inotifyLimit,
      countWatchedDirs: async () => (await countWatchedDirectories(f.path, f.exclude, 10_000_000)).dirs,
      onChange: () => this.liveWriter.changed(),
      onReport: (r) => this.count(r),
      onFatal: (err) => this.fatal(err),
    });
  }

  /** A listing of the folder `firstMs` from now, then every verifyInterval. */
  private scheduleVerify(l: FolderLoop, firstMs: number): void {
    const { verifyInterval } = this.config.daemon;
    this.timers.push(this.clock.setTimeout(() => {
      l.request({ kind: 'listing' });
      this.timers.push(this.clock.setInterval(() => l.request({ kind: 'listing' }), verifyInterval));
    }, Math.min(firstMs, 2 ** 31 - 1)));
  }

  private fatal(err: unknown): void {
    this.log.error({ err }, 'fatal error');
    this.fatalError?.(err);
  }

  /** Record what a reconcile did, for /metrics. */
  private count(r: FolderReport): void {
    this.totals.uploads += r.uploaded.files;
    this.totals.uploadedBytes += r.uploaded.bytes;
    this.totals.failures += r.failed.length;
  }

  private watchedDirs(): number {
    let n = 0;
    for (const l of this.loops.values()) n += l.watchedDirs;
    return n;
  }
}

/** Writes the live state to the state DB and systemd's STATUS= when something changed, at most every LIVE_EVERY_MS. */
class LiveWriter {
  private timer: TimerHandle;
  private dirty = false;
  private lastWrite = 0;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly snapshot: () => DaemonLive,
    private readonly write: (live: DaemonLive) => void,
    private readonly notifier: ServiceNotifier,
    private readonly log: Logger,
  ) {}

  /** Something changed: publish soon. */
  changed(): void {
    this.dirty = true;
    if (this.timer !== undefined || this.stopped) return;
    const wait = Math.max(0, this.lastWrite + LIVE_EVERY_MS - this.clock.now());
    this.timer = this.clock.setTimeout(() => this.publish(), wait);
  }

  /** Publish nothing more (the stop clears the live state itself). */
  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
  }

  private publish(): void {
    this.timer = undefined;
    if (!this.dirty || this.stopped) return;
    this.dirty = false;
    this.lastWrite = this.clock.now();
    const live = this.snapshot();
    try {
      this.write(live);
    } catch (err) {
      this.log.warn({ err }, 'could not publish the live state');
    }
    this.notifier.status(statusLine(live));
  }
}
