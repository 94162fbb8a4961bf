// chokidar -> debounced, coalesced batches of dirty paths (relative to the folder root), or "everything".
// Events are hints: the daemon reconciles the paths a batch names. Never reads or writes file contents.

import fs from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { makeMatcher } from './scan.js';

/** What the watcher hands to the daemon. */
export type WatchBatch =
  | { readonly kind: 'paths'; readonly paths: string[] }
  /** An event storm, or events we could not follow: rescan the whole folder. */
  | { readonly kind: 'everything'; readonly reason: string };

/** Options for {@link Watcher.start}. */
export interface WatchOptions {
  readonly root: string;
  readonly exclude: readonly string[];
  readonly followSymlinks: boolean;
  /** Absolute paths never reported (the state DB when it lives inside the folder). */
  readonly alwaysExclude?: readonly string[];
  /** A path is handed over once no event touched it for this long. */
  readonly quietMs: number;
  /** ... or once it has been dirty this long, even if events keep coming (a log file written forever). */
  readonly maxDelayMs: number;
  /** More dirty paths than this at once is a storm: forget them and rescan the folder once it is quiet. */
  readonly stormLimit: number;
  readonly onBatch: (batch: WatchBatch) => void;
  /** Watch errors: ENOSPC/EMFILE (out of inotify watches) and the like. The watcher may be unusable after one. */
  readonly onError: (err: NodeJS.ErrnoException) => void;
}

interface Dirty {
  first: number;
  last: number;
  /** The last event said the path is gone: nothing left to settle, so it may go with any batch. */
  removed: boolean;
}

/** A chokidar watcher on one folder root with a quiet-period aggregator in front. close() is idempotent. */
export class Watcher {
  private readonly dirty = new Map<string, Dirty>();
  private storm: { since: number; last: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dirs = 0;
  private closed = false;

  private constructor(private readonly opts: WatchOptions, private readonly fsw: FSWatcher) {}

  /** Arm the watches; resolves once chokidar has walked the tree and every directory is watched. */
  static async start(opts: WatchOptions): Promise<Watcher> {
    const ig = makeMatcher(opts.exclude);
    const always = new Set(opts.alwaysExclude ?? []);
    const root = path.resolve(opts.root);
    // chokidar puts an inotify watch (and an FSWatcher object) on every file it tracks: 100,000 files would cost
    // 100,000 watches and ~150 MB. It tracks directories only here; a directory's watch already reports every
    // change to the files in it, and those arrive as 'raw' events below.
    const ignored = (p: string, stats?: { isDirectory(): boolean }) => {
      const abs = path.resolve(root, p);
      if (always.has(abs)) return true;
      const rel = path.relative(root, abs).split(path.sep).join('/');
      if (rel === '' || rel.startsWith('../')) return false;
      if (stats && !stats.isDirectory()) return true;
      return ig.ignores(rel) || (!!stats?.isDirectory() && ig.ignores(rel + '/'));
    };
    const fsw = watch(root, {
      ignoreInitial: true, followSymlinks: opts.followSymlinks, persistent: true, ignored, alwaysStat: false,
      // atomic: an editor's delete-and-recreate within 100 ms is one change, not a delete and an upload
      atomic: true, awaitWriteFinish: false, ignorePermissionErrors: false,
    });
    const w = new Watcher(opts, fsw);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: unknown) => reject(err as Error);
      fsw.once('error', onError);
      fsw.once('ready', () => {
        fsw.off('error', onError);
        resolve();
      });
    }).catch(async (err: unknown) => {
      await fsw.close();
      throw err;
    });
    // getWatched() also has an entry for the root's parent: count the root and what is under it.
    w.dirs = Object.keys(fsw.getWatched()).filter((d) => d === root || d.startsWith(root + path.sep)).length;
    const rel = (p: string) => path.relative(root, path.resolve(root, p)).split(path.sep).join('/');
    fsw.on('all', (event, p) => {
      if (event === 'addDir') w.dirs++;
      else if (event === 'unlinkDir') w.dirs = Math.max(0, w.dirs - 1);
      w.touch(rel(p), Date.now(), event === 'unlink' || event === 'unlinkDir');
    });
    // File events, straight from the directory watches: (event, name in the directory, { watchedPath }).
    fsw.on('raw', (event: string, name: string | null, opts: unknown) => {
      const watched = (opts as { watchedPath?: string } | undefined)?.watchedPath;
      if (!name || !watched) return;
      const abs = path.resolve(watched, name);
      if (abs === watched || always.has(abs)) return;
      const r = rel(abs);
      if (r === '' || r.startsWith('../') || ig.ignores(r)) return;
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(abs);
      } catch {
        st = undefined;
      }
      if (st?.isDirectory()) return; // directories come as addDir/unlinkDir from chokidar itself
      // 'rename' is a create, a delete or either half of a move: a path that is gone has nothing left to settle.
      w.touch(r, Date.now(), !st);
    });
    fsw.on('error', (err: unknown) => opts.onError(err as NodeJS.ErrnoException));
    return w;
  }

  /** Directories under watch (each costs one inotify watch). */
  get watchedDirs(): number {
    return this.dirs;
  }

  /** Paths waiting for their quiet period (a storm counts as its limit). */
  get pending(): number {
    return this.storm ? this.opts.stormLimit : this.dirty.size;
  }

  /** Record an event on `rel` ('' is the root itself: something happened to the folder as a whole). */
  touch(rel: string, now = Date.now(), removed = false): void {
    if (this.closed) return;
    if (rel === '') {
      this.startStorm(now);
    } else if (this.storm) {
      this.storm.last = now;
    } else {
      const d = this.dirty.get(rel);
      if (d) {
        d.last = now;
        d.removed = removed;
      } else this.dirty.set(rel, { first: now, last: now, removed });
      if (this.dirty.size > this.opts.stormLimit) this.startStorm(now);
    }
    this.schedule(now);
  }

  private startStorm(now: number): void {
    // Memory stays flat: the paths are forgotten, the rescan finds whatever they were.
    this.dirty.clear();
    this.storm ??= { since: now, last: now };
    this.storm.last = now;
  }

  private schedule(now: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush(Date.now());
    }, Math.max(10, this.nextDue(now) - now));
  }

  private nextDue(now: number): number {
    const { quietMs, maxDelayMs } = this.opts;
    if (this.storm) return Math.min(this.storm.last + quietMs, this.storm.since + maxDelayMs * 4);
    let due = Infinity;
    for (const d of this.dirty.values()) due = Math.min(due, d.last + quietMs, d.first + maxDelayMs);
    return due === Infinity ? now : due;
  }

  /** Hand over what is due; reschedule for the rest. */
  private flush(now: number): void {
    if (this.closed) return;
    const { quietMs, maxDelayMs } = this.opts;
    if (this.storm) {
      // A storm ends when it has been quiet for the quiet period; a storm that never ends is rescanned anyway
      // every few max delays so changes still arrive.
      if (now - this.storm.last >= quietMs || now - this.storm.since >= maxDelayMs * 4) {
        this.storm = undefined;
        this.opts.onBatch({ kind: 'everything', reason: 'event storm' });
      }
    } else {
      const due: string[] = [];
      const again: string[] = [];
      // Paths whose quiet period ends within the slack go along: one `mv` or `cp -r` makes events microseconds
      // apart, and both halves of a rename must meet in one reconcile to become a copy.
      const slack = Math.min(100, quietMs / 4);
      for (const [rel, d] of this.dirty) {
        if (now - d.last >= quietMs - slack) due.push(rel);
        else if (now - d.first >= maxDelayMs) {
          due.push(rel);
          // Handed over while still changing: chokidar drops a change within 50 ms of the previous one without a
          // catch-up event, so a last write right after this handover could go unreported. Look once more
          // after a quiet period (a stat if nothing changed).
          again.push(rel);
        }
      }
      // A rename is an add and an unlink (chokidar's atomic mode delays the unlink ~100 ms): removed paths go
      // with whatever batch leaves next, so the reconcile sees both sides and copies instead of uploading.
      if (due.length) for (const [rel, d] of this.dirty) if (d.removed && !(now - d.last >= quietMs || now - d.first >= maxDelayMs)) due.push(rel);
      for (const rel of due) this.dirty.delete(rel);
      for (const rel of again) this.dirty.set(rel, { first: now, last: now, removed: false });
      if (due.length) this.opts.onBatch({ kind: 'paths', paths: due });
    }
    if (this.storm || this.dirty.size) this.schedule(now);
  }

  /** Stop watching. Pending paths are dropped (the next start's full reconcile covers them). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.dirty.clear();
    await this.fsw.close();
  }
}

/**
 * The inotify watch limit, when this is Linux: fs.inotify.max_user_watches, or the user namespace's
 * user.max_inotify_watches when that is lower (containers).
 */
export function readInotifyLimit(): number | undefined {
  const read = (f: string) => {
    try {
      const n = Number(fs.readFileSync(f, 'utf8').trim());
      return Number.isFinite(n) && n > 0 ? n : undefined;
    } catch {
      return undefined;
    }
  };
  const limits = [read('/proc/sys/fs/inotify/max_user_watches'), read('/proc/sys/user/max_inotify_watches')].filter((n) => n !== undefined);
  return limits.length ? Math.min(...limits) : undefined;
}
