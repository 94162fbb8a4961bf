// One folder's watching, for its FolderLoop: arms the watcher and turns its batches into work, falls back to
// periodic rescans when inotify runs out, and guards the root: paused while it is missing, watched again and
// rescanned when it was replaced (a remount), resumed when it is back.
// Must not: reconcile, touch the state DB or the bucket, or read the real clock (it is given one).

import type { Scope } from '../folder.js';
import { suggestedWatchLimit, type WatchBatch } from '../local/watch.js';
import type { Logger } from '../log.js';
import type { Clock, TimerHandle } from '../clock.js';
import { sameRoot, showRoot, type RootIdentity } from './root.js';

/** How often a folder's root is checked: is it there, is it still the directory (and mount) we watch? No request. */
export const ROOT_POLL_MS = 5_000;

/** What the loop needs of a watcher (src/local/watch.ts's Watcher in production). */
export interface LoopWatcher {
  /** Paths waiting for their quiet period. */
  readonly pending: number;
  readonly watchedDirs: number;
  close(): Promise<void>;
}

/** Where a watcher delivers. */
export interface WatchHandlers {
  onBatch(batch: WatchBatch): void;
  /** ENOSPC/EMFILE and the like: the watcher may be unusable after one. */
  onError(err: NodeJS.ErrnoException): void;
  /** The root's own watch ended (unmount, delete, move). */
  onRootGone(): void;
}

/** Arms a watcher on the folder root; resolves once it watches, rejects with ENOSPC and the like. */
export type WatcherFactory = (on: WatchHandlers) => Promise<LoopWatcher>;

/** The folder's state as `status` shows it (the loop adds 'stopped'). */
export type WatchState = 'starting' | 'watching' | 'polling' | 'paused';

/** The answer of a root check: go ahead, or not (paused; being watched again, a rescan follows). */
export type RootCheck = 'ok' | 'paused' | 'rearming';

/** A FolderWatch as `status` shows it. */
export interface WatchView {
  readonly state: WatchState;
  /** The last thing that happened to the folder root (replaced, back after a pause), and when. */
  readonly notice: { readonly at: number; readonly message: string } | undefined;
  /** Times the root was found replaced (a remount) while watched. */
  readonly replacements: number;
  /** A watcher is armed. */
  readonly watching: boolean;
  readonly watchedDirs: number;
  /** Paths the watcher holds for their quiet period. */
  readonly pending: number;
}

/** Everything a FolderWatch needs; its FolderLoop builds it. */
export interface FolderWatchDeps {
  readonly root: string;
  readonly log: Logger;
  readonly clock: Clock;
  readonly watch: WatcherFactory;
  readonly rootIdentity: (root: string) => RootIdentity | undefined;
  /** daemon.pollInterval: the rescan period without a watcher. */
  readonly pollInterval: number;
  /** fs.inotify.max_user_watches, when known (named in the ENOSPC report). */
  readonly inotifyLimit?: number | undefined;
  /** The directories the watcher would watch (the ENOSPC report suggests a limit from it). */
  readonly countWatchedDirs: () => Promise<number>;
  /** Work for the loop. */
  readonly request: (scope: Scope) => void;
  /** Paused: forget pending paths (the rescan after resuming covers them), show `reason`. */
  readonly paused: (reason: string) => void;
  /** Back after a pause: the pause reason no longer applies. */
  readonly resumed: () => void;
  /** Re-armed on a replaced root: forget pending paths (the rescan after covers them). */
  readonly dropPending: () => void;
  readonly changed: () => void;
}

/** A folder's watcher and root guard. close() is final. */
export class FolderWatch {
  private watcher: LoopWatcher | undefined;
  private current: WatchState = 'starting';
  private lastNotice: { at: number; message: string } | undefined;
  private replacedCount = 0;
  /** The root as it was when the watcher was armed. */
  private rootId: RootIdentity | undefined;
  /** Being re-armed on a replaced root: no reconcile until it is (its scan must follow the watch). */
  private rearming = false;
  private closed = false;
  private identityTimer: TimerHandle;
  private pollTimer: TimerHandle;
  private resumeTimer: TimerHandle;

  constructor(private readonly deps: FolderWatchDeps) {}

  /** What `status`, /metrics and the health check show of the watching. */
  get view(): WatchView {
    return {
      state: this.current, notice: this.lastNotice, replacements: this.replacedCount, watching: this.watcher !== undefined,
      watchedDirs: this.watcher?.watchedDirs ?? 0, pending: this.watcher?.pending ?? 0,
    };
  }

  /** A reconcile may start: not paused, not being re-armed. */
  get ready(): boolean {
    return this.current !== 'paused' && !this.rearming;
  }

  /** Arm the watcher when the root is a directory, and check the root every ROOT_POLL_MS from now on. */
  async start(): Promise<void> {
    const id = this.deps.rootIdentity(this.deps.root);
    if (id) await this.arm(id);
    this.deps.clock.clearInterval(this.identityTimer);
    this.identityTimer = this.deps.clock.setInterval(() => {
      if (!this.closed) this.check();
    }, ROOT_POLL_MS);
  }

  /**
   * Is the root still the directory we watch? Missing: pause (saying `missingReason` when given). Another
   * directory or mount (unmounted, or unmounted and mounted again: the old watches are dead either way): say
   * so, re-arm, rescan. One look at the root.
   */
  check(missingReason?: string): RootCheck {
    return this.look(missingReason).verdict;
  }

  /** Stop timers and the watcher. */
  async close(): Promise<void> {
    this.closed = true;
    const { clock } = this.deps;
    clock.clearInterval(this.resumeTimer);
    clock.clearInterval(this.identityTimer);
    clock.clearInterval(this.pollTimer);
    await this.watcher?.close();
    this.watcher = undefined;
  }

  private look(missingReason?: string): { verdict: RootCheck; now?: RootIdentity } {
    if (this.current === 'paused') return { verdict: 'paused' };
    if (this.rearming) return { verdict: 'rearming' };
    const now = this.deps.rootIdentity(this.deps.root);
    if (!now) {
      this.pause(missingReason ?? `folder path ${this.deps.root} is missing or not a directory (unmounted disk?); paused: nothing is uploaded or deleted until it is back`);
      return { verdict: 'paused' };
    }
    if (!this.rootId || sameRoot(this.rootId, now)) return { verdict: 'ok', now };
    this.replaced(this.rootId, now);
    return { verdict: 'rearming', now };
  }

  /** Arm the watcher on the root as `id` says it is (taken before the watches: a later replacement is seen by the next check). */
  private async arm(id: RootIdentity | undefined): Promise<void> {
    this.rootId = id;
    try {
      this.watcher = await this.deps.watch({
        onBatch: (b) => this.onBatch(b),
        onError: (err) => this.onWatchError(err),
        onRootGone: () => this.onRootGone(),
      });
      this.current = 'watching';
      this.deps.log.debug({ dirs: this.watcher.watchedDirs }, 'watching');
    } catch (err) {
      this.onWatchError(err as NodeJS.ErrnoException);
    }
  }

  /** A batch is a hint; the loop checks the root before it reconciles (and after). */
  private onBatch(b: WatchBatch): void {
    if (b.kind === 'everything') {
      this.deps.log.info({ reason: b.reason }, 'rescanning the folder');
      this.deps.request({ kind: 'local' });
    } else if (b.paths.includes('')) {
      this.deps.request({ kind: 'local' });
    } else {
      this.deps.request({ kind: 'paths', paths: b.paths });
    }
  }

  /** On ENOSPC/EMFILE fall back to periodic rescans; any other watch error: rescan to catch up. */
  private onWatchError(err: NodeJS.ErrnoException): void {
    if (this.closed) return;
    const code = err.code;
    if (code !== 'ENOSPC' && code !== 'EMFILE') {
      this.deps.log.warn({ code, err }, 'watch error; the folder is rescanned to catch up');
      this.deps.request({ kind: 'local' });
      return;
    }
    const { log, inotifyLimit, pollInterval } = this.deps;
    void this.deps.countWatchedDirs().then((dirs) => reportWatchLimit(log, code, inotifyLimit, pollInterval, dirs));
    void this.watcher?.close();
    this.watcher = undefined;
    this.current = 'polling';
    const { clock } = this.deps;
    clock.clearInterval(this.pollTimer);
    this.pollTimer = clock.setInterval(() => this.deps.request({ kind: 'local' }), this.deps.pollInterval);
    this.deps.request({ kind: 'local' });
    this.deps.changed();
  }

  /**
   * The root's own watch ended (unmount, delete, move). Usually the root looks different now (the check acts);
   * when it looks the same (unmounted and mounted again at once: device, inode and mount id are reused) the
   * old watches are dead all the same.
   */
  private onRootGone(): void {
    if (this.closed) return;
    const { verdict, now } = this.look();
    if (verdict === 'ok' && now && this.rootId) this.replaced(this.rootId, now, 'the watch on the root ended');
  }

  private replaced(was: RootIdentity, now: RootIdentity, why?: string): void {
    const { root, log, clock } = this.deps;
    this.replacedCount++;
    this.lastNotice = { at: clock.now(), message: `folder root ${root} was replaced (remounted?): ${showRoot(was)} -> ${showRoot(now)}${why ? ` (${why})` : ''}; watched again and rescanned` };
    log.warn({ path: root, was, now, why }, 'folder root was replaced (remounted?); watching it again and rescanning');
    this.rearm(now);
  }

  /** Close the watches, arm them on the root as it is now, then rescan it (after the watch: nothing falls between). */
  private rearm(now: RootIdentity): void {
    this.rearming = true;
    void this.watcher?.close();
    this.watcher = undefined;
    this.deps.clock.clearInterval(this.pollTimer);
    this.deps.dropPending();
    this.current = 'starting';
    this.deps.changed();
    void this.arm(now).finally(() => {
      this.rearming = false;
      if (this.closed) {
        void this.watcher?.close(); // armed after close(): nothing may keep watching
        this.watcher = undefined;
        return;
      }
      this.deps.request({ kind: 'local' });
    });
  }

  /** Stop everything for this folder until its root is a directory again, then re-arm and rescan. */
  private pause(reason: string): void {
    if (this.current === 'paused') return;
    const { root, log, clock } = this.deps;
    this.current = 'paused';
    log.error({ reason }, 'folder paused');
    void this.watcher?.close();
    this.watcher = undefined;
    clock.clearInterval(this.pollTimer);
    this.deps.paused(reason);
    this.deps.changed();
    const was = this.rootId;
    this.resumeTimer = clock.setInterval(() => {
      const now = this.deps.rootIdentity(root);
      if (this.closed || !now) return;
      clock.clearInterval(this.resumeTimer);
      this.resumeTimer = undefined;
      log.warn({ path: root, was, now }, 'folder path is back; resuming');
      this.lastNotice = { at: clock.now(), message: `folder root ${root} is back${was && !sameRoot(was, now) ? ` (${showRoot(was)} -> ${showRoot(now)})` : ''}; watched again and rescanned` };
      this.deps.resumed();
      this.current = 'starting';
      this.rearm(now);
    }, ROOT_POLL_MS);
  }
}

/** Out of inotify watches or file descriptors: say so with the numbers and the fix. */
function reportWatchLimit(log: Logger, code: 'ENOSPC' | 'EMFILE', limit: number | undefined, pollInterval: number, dirs: number): void {
  const every = Math.round(pollInterval / 1000);
  const want = suggestedWatchLimit(dirs);
  const fix = code === 'ENOSPC'
    ? `sysctl -w fs.inotify.max_user_watches=${want} (and persist it: echo fs.inotify.max_user_watches=${want} > /etc/sysctl.d/90-r2mirror.conf)`
    : 'raise LimitNOFILE (systemd) or ulimit -n';
  log.error({ code, watchLimit: limit, dirs, rescanEverySec: every, fix }, code === 'ENOSPC'
    ? 'out of inotify watches: falling back to periodic rescans'
    : 'too many open files while watching: falling back to periodic rescans');
}
