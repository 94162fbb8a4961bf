// `r2mirror daemon`: the engine of `sync` plus a watcher per folder, timers, pausing, reload and graceful stop.
// Events are hints that schedule a reconcile of the paths they name; one reconcile per folder at a time.

import fs from 'node:fs';
import type { Config, Credentials } from '../config.js';
import { Engine, stateFilesOf } from '../engine.js';
import { ExitCode, FatalError, classify, describeError } from '../errors.js';
import type { FolderReport } from '../folder.js';
import { deviceName } from '../local/scan.js';
import { Watcher, countWatchedDirectories, rootIdentity, sameRoot, suggestedWatchLimit, type RootIdentity, type WatchBatch } from '../local/watch.js';
import type { Logger } from '../log.js';
import type { MetricFamily } from './metrics.js';

/** More dirty paths than this at once is an event storm: the folder is rescanned instead. */
export const STORM_LIMIT = 10_000;
/** How often a folder's root is checked: is it there, is it still the directory (and mount) we watch? No request. */
const ROOT_POLL_MS = 5_000;
/** Retry delays for files that failed: 10 s, 20 s, 40 s ... up to an hour. */
const RETRY_BASE_MS = 10_000;
const RETRY_MAX_MS = 3_600_000;
/** Back-off after an endpoint error before the same work is tried again. */
const OUTAGE_BASE_MS = 5_000;

/** What the daemon tells systemd (implemented by src/daemon/notify.ts; a no-op outside systemd). */
export interface ServiceNotifier {
  ready(status?: string): void;
  status(text: string): void;
  reloading(): void;
  stopping(): void;
}

/** Per-folder state, as `status` and /metrics show it. */
export interface FolderLive {
  readonly name: string;
  readonly state: 'starting' | 'watching' | 'polling' | 'paused' | 'stopped';
  readonly error?: string | undefined;
  /** The last thing that happened to the folder root (replaced, back after a pause), and when. */
  readonly notice?: { readonly at: number; readonly message: string } | undefined;
  readonly pending: number;
  readonly running: string | undefined;
  readonly watchedDirs: number;
  readonly failedFiles: number;
  readonly lastReconcile?: number | undefined;
  readonly lastVerify?: number | undefined;
}

/** The daemon's live state (published to the state DB for `status`). */
export interface DaemonLive {
  readonly pid: number;
  readonly startedAt: number;
  readonly folders: FolderLive[];
  readonly uploads: number;
  readonly uploadedBytes: number;
  readonly failures: number;
  readonly queue: number;
}

/** Work asked of a folder loop: a path set from the watcher or a retry, or a whole-folder reconcile. */
type Work = { kind: 'paths'; paths: Iterable<string> } | { kind: 'local' } | { kind: 'listing' };

/** One folder's loop: collects work, runs one reconcile at a time, pauses when its root is gone. */
class FolderLoop {
  watcher: Watcher | undefined;
  state: FolderLive['state'] = 'starting';
  error: string | undefined;
  notice: { at: number; message: string } | undefined;
  /** Times the root was found replaced (a remount) while watched. */
  replacements = 0;
  /** The root as it was when the watcher was armed. */
  private rootId: RootIdentity | undefined;
  /** The watcher is being re-armed on a replaced root: no reconcile until it is (its scan must follow the watch). */
  private rearming = false;
  private identityTimer: NodeJS.Timeout | undefined;
  private dirty = new Set<string>();
  private full: 'local' | 'listing' | undefined;
  private running: Promise<void> | undefined;
  runningKind: string | undefined;
  lastReconcile: number | undefined;
  lastOk: number | undefined;
  lastVerify: number | undefined;
  failedFiles = 0;
  private retries = new Map<string, { attempts: number; timer: NodeJS.Timeout }>();
  private outage = 0;
  private blockedUntil = 0;
  private outageTimer: NodeJS.Timeout | undefined;
  private rootTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(readonly name: string, readonly root: string, private readonly d: Daemon) {
    this.log = d.log.child({ folder: name });
  }

  get pending(): number {
    return this.dirty.size + (this.watcher?.pending ?? 0) + (this.full ? 1 : 0);
  }

  /** Add work and start a reconcile if none is running. */
  request(w: Work): void {
    if (this.d.stopping) return;
    if (w.kind === 'listing') this.full = 'listing';
    else if (w.kind === 'local') this.full ??= 'local';
    else for (const p of w.paths) this.dirty.add(p);
    this.kick();
  }

  private kick(): void {
    if (this.running || this.rearming || this.d.stopping || this.state === 'paused' || Date.now() < this.blockedUntil) return;
    if (!this.full && this.dirty.size === 0) return;
    this.running = this.runOnce().finally(() => {
      this.running = undefined;
      this.runningKind = undefined;
      this.d.changed();
      this.kick();
    });
  }

  /** Resolves when the current reconcile (if any) has ended. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async runOnce(): Promise<void> {
    if (this.checkRoot() !== 'ok') return;
    // After an unclean stop the DB may be behind the bucket: the first full reconcile lists, whatever asked for it.
    const full = this.full === 'local' && this.d.engine.state.needsList(this.name) ? 'listing' : this.full;
    const scope = full ? undefined : [...this.dirty];
    this.full = undefined;
    this.dirty.clear();
    // (status and the log keep their words: 'list' for a listing, 'local' for a rescan)
    const said = full === 'listing' ? 'list' : full;
    this.runningKind = said ?? `${scope!.length} path(s)`;
    this.d.changed();
    const started = Date.now();
    let report: FolderReport;
    try {
      report = await this.d.engine.reconcile(this.name, {
        scope: full ? { kind: full } : { kind: 'paths', paths: scope! }, signal: this.d.hard.signal, drain: this.d.drain.signal,
      });
    } catch (err) {
      if (this.d.stopping && classify(err) === 'abort') return;
      if (err instanceof FatalError && err.exitCode === ExitCode.TEMPFAIL) {
        // The endpoint is down: keep the work and try again later; watching goes on.
        if (full) this.full = full === 'listing' || this.full === 'listing' ? 'listing' : 'local';
        else for (const p of scope!) this.dirty.add(p);
        const delay = Math.min(OUTAGE_BASE_MS * 2 ** this.outage++, RETRY_MAX_MS);
        this.error = err.message;
        this.log.error({ reason: err.message, retryInMs: delay }, 'reconcile failed; will retry');
        clearTimeout(this.outageTimer);
        this.blockedUntil = Date.now() + delay;
        this.outageTimer = setTimeout(() => this.kick(), delay);
        return;
      }
      this.d.fatal(err);
      return;
    }
    this.outage = 0;
    this.lastReconcile = Date.now();
    if (report.error) {
      this.error = report.error;
      // The root vanished between the check and the reconcile: same as above.
      if (!rootIdentity(this.root)) this.pause(report.error);
    } else {
      this.error = undefined;
      this.lastOk = this.lastReconcile;
      if (full === 'listing') this.lastVerify = this.lastReconcile;
    }
    this.checkRoot(); // replaced while we reconciled: watch the new one and rescan it
    this.d.count(report);
    this.scheduleRetries(report, scope);
    this.failedFiles = this.d.engine.state.failures(this.name).length;
    const changedSomething = report.uploaded.files + report.adopted.files + report.copied.files + report.deleted + report.trashed + report.failed.length;
    {
      this.log[full || changedSomething ? 'info' : 'debug']({
        kind: said ?? 'changes', paths: scope?.length, uploaded: report.uploaded.files, bytes: report.uploaded.bytes, renamed: report.copied.files,
        deleted: report.deleted + report.trashed, failed: report.failed.length, ms: Date.now() - started,
      }, 'reconciled');
    }
  }

  /** Failed files are tried again with exponential backoff (a reconcile of just that path). */
  private scheduleRetries(report: FolderReport, scope: readonly string[] | undefined): void {
    const failed = new Set(report.failed.map((f) => f.rel));
    for (const [rel, r] of this.retries) {
      const covered = !scope || scope.some((p) => rel === p || rel.startsWith(p + '/'));
      if (covered && !failed.has(rel)) {
        clearTimeout(r.timer);
        this.retries.delete(rel);
      }
    }
    for (const rel of failed) {
      const prev = this.retries.get(rel);
      if (prev) clearTimeout(prev.timer);
      const attempts = (prev?.attempts ?? 0) + 1;
      const delay = Math.min(RETRY_BASE_MS * 2 ** (attempts - 1), RETRY_MAX_MS);
      const timer = setTimeout(() => this.request({ kind: 'paths', paths: [rel] }), delay);
      this.retries.set(rel, { attempts, timer });
    }
  }

  /** Arm the watcher; on ENOSPC/EMFILE fall back to periodic rescans. */
  async arm(): Promise<void> {
    const cfg = this.d.folderConfig(this.name);
    const timing = this.d.config.daemon;
    // Taken before the watches: a replacement while they are armed is seen by the next check.
    this.rootId = rootIdentity(this.root);
    try {
      this.watcher = await Watcher.start({
        root: this.root, exclude: cfg.exclude, followSymlinks: cfg.followSymlinks, oneFileSystem: cfg.oneFileSystem, alwaysExclude: this.d.stateFiles,
        quietMs: timing.quietPeriod, maxDelayMs: timing.maxDelay, stormLimit: STORM_LIMIT,
        onBatch: (b) => this.onBatch(b),
        onError: (err) => this.onWatchError(err),
        onRootGone: () => this.onRootGone(),
      });
      this.state = 'watching';
      this.log.debug({ dirs: this.watcher.watchedDirs }, 'watching');
    } catch (err) {
      this.onWatchError(err as NodeJS.ErrnoException);
    }
  }

  private onBatch(b: WatchBatch): void {
    if (this.checkRoot() !== 'ok') return;
    if (b.kind === 'everything') {
      this.log.info({ reason: b.reason }, 'rescanning the folder');
      this.request({ kind: 'local' });
    } else if (b.paths.includes('')) {
      this.request({ kind: 'local' });
    } else {
      this.request({ kind: 'paths', paths: b.paths });
    }
  }

  private onWatchError(err: NodeJS.ErrnoException): void {
    if (this.d.stopping) return;
    const code = err.code;
    if (code === 'ENOSPC' || code === 'EMFILE') {
      const limit = this.d.inotifyLimit;
      const every = Math.round(this.d.config.daemon.pollInterval / 1000);
      const cfg = this.d.folderConfig(this.name);
      void countWatchedDirectories(this.root, cfg.exclude, 10_000_000).then(({ dirs }) => {
        const want = suggestedWatchLimit(dirs);
        this.log.error({
          code, watchLimit: limit, dirs, fix: `sysctl -w fs.inotify.max_user_watches=${want} (and persist it: echo fs.inotify.max_user_watches=${want} > /etc/sysctl.d/90-r2mirror.conf)`,
        }, code === 'ENOSPC'
          ? `out of inotify watches (fs.inotify.max_user_watches=${limit ?? '?'}, folder has ~${dirs} directories): falling back to a rescan every ${every} s; raise the limit with: sysctl -w fs.inotify.max_user_watches=${want}`
          : `too many open files while watching: falling back to a rescan every ${every} s; raise LimitNOFILE / ulimit -n`);
      });
      void this.watcher?.close();
      this.watcher = undefined;
      this.state = 'polling';
      clearInterval(this.pollTimer);
      this.pollTimer = setInterval(() => this.request({ kind: 'local' }), this.d.config.daemon.pollInterval);
      this.request({ kind: 'local' });
      this.d.changed();
      return;
    }
    this.log.warn({ code, err: describeError(err) }, 'watch error; the folder is rescanned to catch up');
    this.request({ kind: 'local' });
  }

  /** Check the root every ROOT_POLL_MS while the folder runs (a paused folder has its own timer). */
  watchRoot(): void {
    clearInterval(this.identityTimer);
    this.identityTimer = setInterval(() => {
      if (!this.d.stopping) this.checkRoot();
    }, ROOT_POLL_MS);
  }

  /**
   * Is the root still the directory we watch? Missing: pause. Another directory or mount (unmounted, or
   * unmounted and mounted again: the old watches are dead either way): say so, re-arm, rescan.
   */
  private checkRoot(): 'ok' | 'paused' | 'rearming' {
    if (this.state === 'paused') return 'paused';
    if (this.rearming) return 'rearming';
    const now = rootIdentity(this.root);
    if (!now) {
      this.pause(`folder path ${this.root} is missing or not a directory (unmounted disk?); paused: nothing is uploaded or deleted until it is back`);
      return 'paused';
    }
    if (!this.rootId || sameRoot(this.rootId, now)) return 'ok';
    this.replaced(this.rootId, now);
    return 'rearming';
  }

  /**
   * The root's own watch ended (unmount, delete, move). Usually the root looks different now (checkRoot acts);
   * when it looks the same (unmounted and mounted again at once: device, inode and mount id are reused) the
   * old watches are dead all the same.
   */
  private onRootGone(): void {
    if (this.d.stopping || this.checkRoot() !== 'ok') return;
    const now = rootIdentity(this.root);
    if (now && this.rootId) this.replaced(this.rootId, now, 'the watch on the root ended');
  }

  private replaced(was: RootIdentity, now: RootIdentity, why?: string): void {
    this.replacements++;
    this.notice = { at: Date.now(), message: `folder root ${this.root} was replaced (remounted?): ${showRoot(was)} -> ${showRoot(now)}${why ? ` (${why})` : ''}; watched again and rescanned` };
    this.log.warn({ path: this.root, was, now, why }, 'folder root was replaced (remounted?); watching it again and rescanning');
    this.rearm();
  }

  /** Close the watches, arm them on the root as it is now, then rescan it (after the watch: nothing falls between). */
  private rearm(): void {
    this.rearming = true;
    void this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.pollTimer);
    this.dirty.clear();
    this.state = 'starting';
    this.d.changed();
    void this.arm().finally(() => {
      this.rearming = false;
      if (this.d.stopping) {
        void this.watcher?.close(); // armed after close(): nothing may keep watching
        this.watcher = undefined;
        return;
      }
      this.request({ kind: 'local' });
    });
  }

  /** Stop everything for this folder until its root is a directory again, then re-arm and rescan. */
  private pause(reason: string): void {
    if (this.state === 'paused') return;
    this.state = 'paused';
    this.error = reason;
    this.log.error({ reason }, 'folder paused');
    void this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.pollTimer);
    this.dirty.clear();
    this.d.changed();
    const was = this.rootId;
    this.rootTimer = setInterval(() => {
      const now = rootIdentity(this.root);
      if (this.d.stopping || !now) return;
      clearInterval(this.rootTimer);
      this.rootTimer = undefined;
      this.log.warn({ path: this.root, was, now }, 'folder path is back; resuming');
      this.notice = { at: Date.now(), message: `folder root ${this.root} is back${was && !sameRoot(was, now) ? ` (${showRoot(was)} -> ${showRoot(now)})` : ''}; watched again and rescanned` };
      this.error = undefined;
      this.state = 'starting';
      this.rearm();
    }, ROOT_POLL_MS);
  }

  /** Stop timers and the watcher (pending paths are covered by the next start's full reconcile). */
  async close(): Promise<void> {
    clearInterval(this.rootTimer);
    clearInterval(this.identityTimer);
    clearInterval(this.pollTimer);
    clearTimeout(this.outageTimer);
    for (const r of this.retries.values()) clearTimeout(r.timer);
    this.retries.clear();
    await this.watcher?.close();
    this.watcher = undefined;
  }

  live(): FolderLive {
    return {
      name: this.name, state: this.d.stopping ? 'stopped' : this.state, error: this.error, notice: this.notice, pending: this.pending, running: this.runningKind,
      watchedDirs: this.watcher?.watchedDirs ?? 0, failedFiles: this.failedFiles, lastReconcile: this.lastReconcile, lastVerify: this.lastVerify,
    };
  }
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
}

/**
 * One configuration's worth of daemon: engine, folder loops, timers. `run()` resolves with an exit code when
 * stopped, or rejects with a fatal error. A reload builds a new Daemon after stop().
 */
export class Daemon {
  readonly engine: Engine;
  readonly config: Config;
  readonly log: Logger;
  readonly inotifyLimit: number | undefined;
  readonly stateFiles: string[];
  /** Aborted when stopping: start no new transfers. */
  readonly drain = new AbortController();
  /** Aborted when the stop timeout passed: abort running transfers. */
  readonly hard = new AbortController();
  stopping = false;
  private readonly loops = new Map<string, FolderLoop>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly startedAt = Date.now();
  private liveTimer: NodeJS.Timeout | undefined;
  private liveDirty = false;
  private lastLiveWrite = 0;
  private fatalError: ((err: unknown) => void) | undefined;
  private uploads = 0;
  private uploadedBytes = 0;
  private failures = 0;
  private runId: number | undefined;

  private constructor(private readonly deps: DaemonDeps, engine: Engine) {
    this.engine = engine;
    this.config = deps.config;
    this.log = deps.log;
    this.inotifyLimit = deps.inotifyLimit;
    this.stateFiles = stateFilesOf(deps.config);
  }

  /** Open the engine (state DB lock, client) and build the folder loops. Nothing runs yet. */
  static open(deps: DaemonDeps): Daemon {
    const engine = Engine.open(deps.config, deps.credentials, deps.log);
    const d = new Daemon(deps, engine);
    for (const f of deps.config.folders) d.loops.set(f.name, new FolderLoop(f.name, f.path, d));
    return d;
  }

  folderConfig(name: string) {
    return this.config.folders.find((f) => f.name === name)!;
  }

  /**
   * Recover from an earlier run that never finished, arm the watchers (READY=1 once they are), reconcile
   * everything once (listing the bucket only when the last verification is older than verifyInterval or an
   * unclean stop left the folder needing a listing), then react to events and timers until stop().
   */
  async start(): Promise<void> {
    this.runId = this.engine.state.runStarted('daemon', this.startedAt, this.engine.folderNames());
    await this.engine.recoverInterruptedRuns(this.runId, this.hard.signal);
    await Promise.all([...this.loops.values()].map(async (l) => {
      if (rootIsDirectory(l.root)) await l.arm();
      l.watchRoot();
    }));
    const watching = [...this.loops.values()].filter((l) => l.watcher).length;
    this.deps.notifier.ready(`watching ${watching}/${this.loops.size} folder(s); initial reconcile`);
    this.log.info({ folders: this.loops.size, watching, dirs: this.watchedDirs() }, 'watchers armed');
    const { rescanInterval, verifyInterval } = this.config.daemon;
    const known = new Map(this.engine.state.folders().map((f) => [f.name, f]));
    const now = Date.now();
    for (const l of this.loops.values()) {
      const row = known.get(l.name);
      const cfg = this.folderConfig(l.name);
      // A folder recorded with another bucket or prefix (a reload changed it) is listed first, to adopt what is there.
      const lastList = row && row.bucket === cfg.bucket && row.prefix === cfg.prefix ? row.lastList : null;
      l.lastVerify = lastList ?? undefined;
      l.request({ kind: lastList === null || now - lastList >= verifyInterval ? 'listing' : 'local' });
      // The next verification is due verifyInterval after the last one.
      const firstVerify = lastList === null ? verifyInterval : Math.max(1000, lastList + verifyInterval - now);
      const t = setTimeout(() => {
        l.request({ kind: 'listing' });
        this.timers.push(setInterval(() => l.request({ kind: 'listing' }), verifyInterval));
      }, Math.min(firstVerify, 2 ** 31 - 1));
      this.timers.push(t);
    }
    this.timers.push(setInterval(() => this.loops.forEach((l) => l.request({ kind: 'local' })), rescanInterval));
    this.changed();
  }

  /** Resolves when a fatal error stops the daemon (credentials revoked, bucket deleted, DB unusable). */
  failed(): Promise<never> {
    return new Promise((_, reject) => {
      this.fatalError = reject;
    });
  }

  fatal(err: unknown): void {
    this.log.error({ err: describeError(err) }, 'fatal error');
    this.fatalError?.(err);
  }

  /** Record what a reconcile did, for /metrics. */
  count(r: FolderReport): void {
    this.uploads += r.uploaded.files;
    this.uploadedBytes += r.uploaded.bytes;
    this.failures += r.failed.length;
  }

  private watchedDirs(): number {
    let n = 0;
    for (const l of this.loops.values()) n += l.watcher?.watchedDirs ?? 0;
    return n;
  }

  /** Something changed: publish the live state (at most every 2 s) and a STATUS= line. */
  changed(): void {
    this.liveDirty = true;
    if (this.liveTimer || this.stopping) return;
    const wait = Math.max(0, this.lastLiveWrite + 2000 - Date.now());
    this.liveTimer = setTimeout(() => {
      this.liveTimer = undefined;
      if (!this.liveDirty || this.stopping) return;
      this.liveDirty = false;
      this.lastLiveWrite = Date.now();
      const live = this.live();
      try {
        this.engine.state.setLive(this.deps.pid, this.startedAt, live);
      } catch (err) {
        this.log.warn({ err: describeError(err) }, 'could not publish the live state');
      }
      this.deps.notifier.status(statusLine(live));
    }, wait);
  }

  /** The live state `status` and /metrics show. */
  live(): DaemonLive {
    return {
      pid: this.deps.pid, startedAt: this.startedAt, folders: [...this.loops.values()].map((l) => l.live()),
      uploads: this.uploads, uploadedBytes: this.uploadedBytes, failures: this.failures, queue: this.engine.queueDepth(),
    };
  }

  /** True while every folder is watched (or polled) and reconciled successfully within two rescan intervals. */
  health(now = Date.now()): { ok: boolean; reason: string } {
    const recent = 2 * this.config.daemon.rescanInterval;
    for (const l of this.loops.values()) {
      if (l.state === 'paused') return { ok: false, reason: `folder ${l.name} is paused: ${l.error}` };
      if (l.state === 'starting' || (!l.watcher && l.state !== 'polling')) return { ok: false, reason: `folder ${l.name} is not watched yet` };
      if (l.lastOk === undefined) return { ok: false, reason: `folder ${l.name}: no successful reconcile yet${l.error ? ` (${l.error})` : ''}` };
      if (now - l.lastOk > recent) return { ok: false, reason: `folder ${l.name}: last successful reconcile ${Math.round((now - l.lastOk) / 1000)} s ago${l.error ? ` (${l.error})` : ''}` };
    }
    return { ok: true, reason: 'ok' };
  }

  /** Prometheus metric families. */
  metrics(): MetricFamily[] {
    const live = this.live();
    const ops = this.engine.ops.snapshot();
    const per = (name: string, help: string, type: 'counter' | 'gauge', f: (l: FolderLive) => number): MetricFamily =>
      ({ name, help, type, samples: live.folders.map((l) => ({ labels: { folder: l.name }, value: f(l) })) });
    return [
      { name: 'r2mirror_uploads_total', help: 'Files uploaded since the daemon started.', type: 'counter', samples: [{ value: live.uploads }] },
      { name: 'r2mirror_uploaded_bytes_total', help: 'Bytes uploaded since the daemon started.', type: 'counter', samples: [{ value: live.uploadedBytes }] },
      { name: 'r2mirror_failures_total', help: 'File failures since the daemon started (each attempt).', type: 'counter', samples: [{ value: live.failures }] },
      { name: 'r2mirror_queue_depth', help: 'Transfers queued or running.', type: 'gauge', samples: [{ value: live.queue }] },
      per('r2mirror_pending_paths', 'Changed paths waiting for their quiet period or their reconcile.', 'gauge', (l) => l.pending),
      per('r2mirror_failed_files', 'Files that currently cannot be mirrored.', 'gauge', (l) => l.failedFiles),
      per('r2mirror_folder_paused', '1 while the folder root is missing (nothing is uploaded or deleted).', 'gauge', (l) => (l.state === 'paused' ? 1 : 0)),
      per('r2mirror_root_replacements_total', 'Times the folder root was found replaced (unmounted, remounted) and watched again.', 'counter', (l) => this.loops.get(l.name)?.replacements ?? 0),
      per('r2mirror_last_reconcile_timestamp_seconds', 'End of the last reconcile of the folder.', 'gauge', (l) => (l.lastReconcile ?? 0) / 1000),
      per('r2mirror_last_verify_timestamp_seconds', 'End of the last full bucket listing of the folder.', 'gauge', (l) => (l.lastVerify ?? 0) / 1000),
      { name: 'r2mirror_watched_directories', help: 'Directories under inotify watch.', type: 'gauge', samples: [{ value: this.watchedDirs() }] },
      ...(this.inotifyLimit !== undefined ? [{ name: 'r2mirror_inotify_watch_limit', help: 'fs.inotify.max_user_watches.', type: 'gauge' as const, samples: [{ value: this.inotifyLimit }] }] : []),
      {
        name: 'r2mirror_r2_operations_total', help: 'R2 requests sent since the daemon started, by billing class.', type: 'counter',
        samples: [{ labels: { class: 'A' }, value: ops.classA }, { labels: { class: 'B' }, value: ops.classB }, { labels: { class: 'free' }, value: ops.free }],
      },
    ];
  }

  /**
   * Stop: no new work, watchers closed; running transfers may finish for `stopTimeout`, then they are aborted
   * (multipart uploads aborted on the server). The DB records a clean stop only when nothing was left open.
   */
  async stop(reason: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info({ reason }, 'stopping');
    this.timers.forEach((t) => clearTimeout(t));
    clearTimeout(this.liveTimer);
    await Promise.all([...this.loops.values()].map((l) => l.close()));
    this.drain.abort(new Error(reason));
    const idle = Promise.all([...this.loops.values()].map((l) => l.idle()));
    let cut = false;
    let swept = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([idle, new Promise<void>((r) => {
      timer = setTimeout(() => {
        cut = true;
        r();
      }, this.config.daemon.stopTimeout);
    })]);
    clearTimeout(timer);
    if (cut) {
      this.log.warn({ timeoutMs: this.config.daemon.stopTimeout }, 'stop timeout: aborting the transfers still running');
      this.hard.abort(new Error(`${reason}: stop timeout`));
      await idle;
      // lib-storage aborts its upload as it unwinds; sweep what an abort may have left open (free requests).
      swept = await this.engine.sweepStaleUploads(this.engine.folderNames(), AbortSignal.timeout(10_000)).catch(() => false);
    }
    try {
      this.engine.state.clearLive();
      // A transfer cut off may have completed on the server unrecorded: the next start lists (and sweeps what
      // this sweep could not reach, since the run stays unfinished).
      if (cut) this.engine.state.setNeedsList(this.engine.folderNames());
      if (this.runId !== undefined && swept) this.engine.state.runFinished(this.runId, Date.now(), { kind: 'daemon', uploads: this.uploads, bytes: this.uploadedBytes, ops: this.engine.ops.snapshot() });
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'could not record the stop in the state DB');
    }
    this.engine.close();
  }
}

function statusLine(l: DaemonLive): string {
  const paused = l.folders.filter((f) => f.state === 'paused').length;
  const pending = l.folders.reduce((n, f) => n + f.pending, 0);
  const running = l.folders.filter((f) => f.running).map((f) => `${f.name}: ${f.running}`).join('; ');
  return `${l.folders.length} folder(s)${paused ? `, ${paused} PAUSED` : ''}; ${l.uploads} uploaded; ${pending} pending` +
    `${running ? `; reconciling ${running}` : ''}${l.failures ? `; ${l.failures} failure(s)` : ''}`;
}

/** A root identity as the log and `status` show it: device and inode, and the mount id when known. */
function showRoot(r: RootIdentity): string {
  return `device ${deviceName(r.dev)} inode ${r.ino}${r.mount !== undefined ? ` mount ${r.mount}` : ''}`;
}

function rootIsDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
