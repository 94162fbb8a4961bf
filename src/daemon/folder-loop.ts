// One folder's loop in the daemon: collects work (paths from the watcher and from retries, whole-folder
// rescans and listings from timers), runs one reconcile at a time, backs off while the endpoint is down and
// retries failed files. Built from explicit deps (FolderLoopDeps): no daemon, engine or real clock inside.
// Must not: write the state DB, talk to the bucket, or start a reconcile after close() or while the root is unsafe.

import { ExitCode, FatalError, classify } from '../errors.js';
import type { FolderReport, Scope } from '../folder.js';
import type { Logger } from '../log.js';
import type { Clock, TimerHandle } from '../clock.js';
import { FolderWatch, type WatcherFactory } from './folder-watch.js';
import type { FolderLive } from './live.js';
import { rootIdentity, type RootIdentity } from './root.js';

/** Retry delays for files that failed: 10 s, 20 s, 40 s ... up to an hour. */
export const RETRY_BASE_MS = 10_000;
export const RETRY_MAX_MS = 3_600_000;
/** Back-off after an endpoint error before the same work is tried again: 5 s, 10 s, 20 s ... up to an hour. */
export const OUTAGE_BASE_MS = 5_000;

/** Everything a FolderLoop needs; the Daemon wires it (a test passes fakes). */
export interface FolderLoopDeps {
  readonly name: string;
  readonly root: string;
  /** The daemon's logger; the loop logs as a child with `folder`. */
  readonly log: Logger;
  readonly clock: Clock;
  /** Reconcile this folder once (production: Engine.reconcile(name, { scope, signal, drain })). */
  readonly reconcile: (scope: Scope) => Promise<FolderReport>;
  readonly watch: WatcherFactory;
  /** The root's identity (src/daemon/root.ts by default). */
  readonly rootIdentity?: ((root: string) => RootIdentity | undefined) | undefined;
  /** The folder owes a listing (an unclean stop): its next full reconcile lists, whatever asked for it. */
  readonly needsList: () => boolean;
  /** Files of this folder that currently cannot be mirrored (as the engine recorded them). */
  readonly failures: () => number;
  /** daemon.pollInterval. */
  readonly pollInterval: number;
  readonly inotifyLimit?: number | undefined;
  readonly countWatchedDirs: () => Promise<number>;
  /** Something `live()` shows changed. */
  readonly onChange: () => void;
  /** A reconcile ended with this report (for the daemon's counters). */
  readonly onReport: (report: FolderReport) => void;
  /** A fatal error: the daemon stops. */
  readonly onFatal: (err: unknown) => void;
}

/** One folder's loop. close() is final: no reconcile starts after it; idle() resolves when the running one ended. */
export class FolderLoop {
  readonly name: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly watch: FolderWatch;
  private readonly work = new PendingWork();
  private readonly retries: FileRetries;
  private running: Promise<void> | undefined;
  private runningKind: string | undefined;
  private closed = false;
  private error: string | undefined;
  private lastReconcile: number | undefined;
  private lastOk: number | undefined;
  private lastVerify: number | undefined;
  private failedFiles = 0;
  private outage = 0;
  private blockedUntil = 0;
  private outageTimer: TimerHandle;

  constructor(private readonly deps: FolderLoopDeps) {
    this.name = deps.name;
    this.log = deps.log.child({ folder: deps.name });
    this.clock = deps.clock;
    this.retries = new FileRetries(deps.clock, (rel) => this.request({ kind: 'paths', paths: [rel] }));
    this.watch = new FolderWatch({
      root: deps.root, log: this.log, clock: deps.clock, watch: deps.watch, rootIdentity: deps.rootIdentity ?? rootIdentity,
      pollInterval: deps.pollInterval, inotifyLimit: deps.inotifyLimit, countWatchedDirs: deps.countWatchedDirs,
      request: (scope) => this.request(scope),
      // Paths seen by the old watch mean nothing for the root as it comes back (the rescan after it covers them);
      // an owed rescan or listing still is owed: a listing dropped here would wait a whole verifyInterval.
      paused: (reason) => {
        this.error = reason;
        this.work.dropPaths();
      },
      resumed: () => {
        this.error = undefined;
      },
      dropPending: () => this.work.dropPaths(),
      changed: () => deps.onChange(),
    });
  }

  /** Arm the watcher (when the root is there) and start checking the root. No reconcile yet. */
  start(): Promise<void> {
    return this.watch.start();
  }

  /** The first reconcile, and when the folder was last verified (a full listing), as the state DB says. */
  begin(scope: Scope, lastVerify: number | undefined): void {
    this.lastVerify = lastVerify;
    this.request(scope);
  }

  /** Add work and start a reconcile if none is running. */
  request(scope: Scope): void {
    if (this.closed) return;
    this.work.add(scope);
    this.kick();
  }

  /** Resolves when the current reconcile (if any) has ended. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Start no more work; stop timers and the watcher (pending paths are covered by the next start's full reconcile). */
  async close(): Promise<void> {
    this.closed = true;
    this.clock.clearTimeout(this.outageTimer);
    this.retries.clear();
    await this.watch.close();
  }

  /** A watcher is armed. */
  get watching(): boolean {
    return this.watch.view.watching;
  }

  get watchedDirs(): number {
    return this.watch.view.watchedDirs;
  }

  /** Times the root was found replaced (a remount) while watched. */
  get replacements(): number {
    return this.watch.view.replacements;
  }

  /** What `status` and /metrics show. */
  live(): FolderLive {
    const w = this.watch.view;
    return {
      name: this.name, state: this.closed ? 'stopped' : w.state, error: this.error, notice: w.notice, pending: this.work.size + w.pending,
      running: this.runningKind, watchedDirs: w.watchedDirs, failedFiles: this.failedFiles, lastReconcile: this.lastReconcile, lastVerify: this.lastVerify,
    };
  }

  /** Why the folder is not healthy (paused, not watched, no recent successful reconcile), or undefined. */
  unhealthy(now: number, recentMs: number): string | undefined {
    const { state, watching } = this.watch.view;
    const why = this.error ? ` (${this.error})` : '';
    if (state === 'paused') return `folder ${this.name} is paused: ${this.error}`;
    if (state === 'starting' || (!watching && state !== 'polling')) return `folder ${this.name} is not watched yet`;
    if (this.lastOk === undefined) return `folder ${this.name}: no successful reconcile yet${why}`;
    if (now - this.lastOk > recentMs) return `folder ${this.name}: last successful reconcile ${Math.round((now - this.lastOk) / 1000)} s ago${why}`;
    return undefined;
  }

  /** Start a reconcile of what is pending, unless one runs or the folder may not be touched now. */
  private kick(rootChecked = false): void {
    if (this.running || this.closed || !this.watch.ready || this.clock.now() < this.blockedUntil || this.work.empty) return;
    const ran = (checked: boolean) => {
      this.running = undefined;
      this.runningKind = undefined;
      this.deps.onChange();
      this.kick(checked);
    };
    this.running = this.runOnce(rootChecked).then(ran, (err: unknown) => {
      ran(false);
      throw err;
    });
  }

  /**
   * One reconcile of everything pending. The root is checked before (unless the previous reconcile's check
   * just did) and after it. Resolves true when the check after it found the root as it was.
   */
  private async runOnce(rootChecked: boolean): Promise<boolean> {
    if (!rootChecked && this.watch.check() !== 'ok') return false;
    const scope = this.work.take(this.deps.needsList);
    if (!scope) return rootChecked;
    // (status and the log keep their words: 'list' for a listing, 'local' for a rescan)
    this.runningKind = scope.kind === 'listing' ? 'list' : scope.kind === 'local' ? 'local' : `${scope.paths.length} path(s)`;
    this.deps.onChange();
    const started = this.clock.now();
    let report: FolderReport;
    try {
      report = await this.deps.reconcile(scope);
    } catch (err) {
      this.failed(err, scope);
      return false;
    }
    return this.reconciled(report, scope, started);
  }

  /** The endpoint is down (TEMPFAIL): keep the work and try again later, watching goes on. Else: fatal. */
  private failed(err: unknown, scope: Scope): void {
    if (this.closed && classify(err) === 'abort') return;
    if (!(err instanceof FatalError && err.exitCode === ExitCode.TEMPFAIL)) {
      this.deps.onFatal(err);
      return;
    }
    this.work.add(scope);
    const delay = Math.min(OUTAGE_BASE_MS * 2 ** this.outage++, RETRY_MAX_MS);
    this.error = err.message;
    this.log.error({ err, retryInMs: delay }, 'reconcile failed; will retry');
    this.clock.clearTimeout(this.outageTimer);
    this.blockedUntil = this.clock.now() + delay;
    if (!this.closed) this.outageTimer = this.clock.setTimeout(() => this.kick(), delay);
  }

  private reconciled(report: FolderReport, scope: Scope, started: number): boolean {
    const now = this.clock.now();
    this.outage = 0;
    this.lastReconcile = now;
    if (report.error) {
      this.error = report.error;
    } else {
      this.error = undefined;
      this.lastOk = now;
      if (scope.kind === 'listing') this.lastVerify = now;
    }
    // Gone while we reconciled: paused (in the report's words when it said so). Replaced: watched again, rescanned.
    const rootOk = this.watch.check(report.error) === 'ok';
    this.deps.onReport(report);
    const paths = scope.kind === 'paths' ? scope.paths : undefined;
    this.retries.settle(report.failed, paths);
    this.failedFiles = this.deps.failures();
    const changedSomething = report.uploaded.files + report.adopted.files + report.copied.files + report.deleted + report.trashed + report.failed.length;
    this.log[!paths || changedSomething ? 'info' : 'debug']({
      kind: scope.kind === 'listing' ? 'list' : scope.kind === 'local' ? 'local' : 'changes', paths: paths?.length, uploaded: report.uploaded.files,
      bytes: report.uploaded.bytes, renamed: report.copied.files, deleted: report.deleted + report.trashed, failed: report.failed.length, ms: this.clock.now() - started,
    }, 'reconciled');
    return rootOk;
  }
}

/** Work waiting for the next reconcile: a set of paths, or a whole-folder reconcile (which covers them). */
class PendingWork {
  private readonly paths = new Set<string>();
  private full: 'local' | 'listing' | undefined;

  get size(): number {
    return this.paths.size + (this.full ? 1 : 0);
  }

  get empty(): boolean {
    return this.size === 0;
  }

  /** A listing covers a rescan, a rescan covers paths. */
  add(scope: Scope): void {
    if (scope.kind === 'listing') this.full = 'listing';
    else if (scope.kind === 'local') this.full ??= 'local';
    else for (const p of scope.paths) this.paths.add(p);
  }

  /** Everything pending as one scope (none when nothing is). A rescan becomes a listing while one is owed. */
  take(needsList: () => boolean): Scope | undefined {
    // After an unclean stop the DB may be behind the bucket: the first full reconcile lists, whatever asked for it.
    const full = this.full === 'local' && needsList() ? 'listing' : this.full;
    const paths = [...this.paths];
    this.clear();
    if (full) return { kind: full };
    return paths.length ? { kind: 'paths', paths } : undefined;
  }

  clear(): void {
    this.full = undefined;
    this.paths.clear();
  }

  /** Forget the pending paths but not an owed rescan or listing. */
  dropPaths(): void {
    this.paths.clear();
  }
}

/** Failed files are tried again with exponential backoff (a reconcile of just that path). */
class FileRetries {
  private readonly byPath = new Map<string, { attempts: number; timer: TimerHandle }>();

  constructor(private readonly clock: Clock, private readonly retry: (rel: string) => void) {}

  /** After a reconcile of `scope` (the whole folder when undefined): forget what it covered and did not fail, schedule what failed. */
  settle(failedFiles: readonly { rel: string }[], scope: readonly string[] | undefined): void {
    const failed = new Set(failedFiles.map((f) => f.rel));
    for (const [rel, r] of this.byPath) {
      const covered = !scope || scope.some((p) => rel === p || rel.startsWith(p + '/'));
      if (covered && !failed.has(rel)) {
        this.clock.clearTimeout(r.timer);
        this.byPath.delete(rel);
      }
    }
    for (const rel of failed) {
      const prev = this.byPath.get(rel);
      if (prev) this.clock.clearTimeout(prev.timer);
      const attempts = (prev?.attempts ?? 0) + 1;
      const delay = Math.min(RETRY_BASE_MS * 2 ** (attempts - 1), RETRY_MAX_MS);
      this.byPath.set(rel, { attempts, timer: this.clock.setTimeout(() => this.retry(rel), delay) });
    }
  }

  clear(): void {
    for (const r of this.byPath.values()) this.clock.clearTimeout(r.timer);
    this.byPath.clear();
  }
}
