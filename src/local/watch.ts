// chokidar -> debounced, coalesced batches of dirty paths (relative to the folder root), or "everything".
// Events are hints: the daemon reconciles the paths a batch names. The quiet-period bookkeeping is the
// Aggregator's (./aggregate.ts); this file arms the watches and turns chokidar's events into touches.
// Must not: read or write file contents, or write anywhere on disk.

import fs from 'node:fs';
import path from 'node:path';
import { FSWatcher } from 'chokidar';
import { Aggregator, type WatchBatch, type WatchClock } from './aggregate.js';
import { fileMatcher, makeMatcher } from './scan.js';

export type { WatchBatch, WatchClock } from './aggregate.js';

/** Options for {@link Watcher.start}. */
export interface WatchOptions {
  readonly root: string;
  readonly exclude: readonly string[];
  readonly followSymlinks: boolean;
  /** Do not watch directories on another file system than the root's (the scan does not enter them either). */
  readonly oneFileSystem?: boolean | undefined;
  /** Files never reported (the state DB when it lives inside the folder), matched as the scan does (fileMatcher). */
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
  /**
   * The root's own watch reported the root itself gone (unmounted, deleted or moved away): every watch under it
   * is dead, even when a directory that looks the same is there again (a disk unmounted and mounted again).
   */
  readonly onRootGone?: () => void;
  /** The clock events are stamped with and batches are timed by (the real one by default). */
  readonly clock?: WatchClock | undefined;
}

/** Directories armed per chokidar instance: bounds how many directories chokidar reads at once. */
const ARM_BATCH = 8;

type ReadOptions = NonNullable<Parameters<FSWatcher['_readdirp']>[1]>;
type Entry = Parameters<Extract<ReadOptions['directoryFilter'], (...args: never[]) => unknown>>[0];

/**
 * chokidar, reading directories without a stat per entry. chokidar reads a watched directory (readdirp) when it
 * arms it and again after every event in it, and lstats every entry of it to hand its `ignored` the stats: on
 * 1,000,000 files in 5,051 directories that was 55% of the arming time (1M lstats and Stats objects), and
 * 1M lstats per second for a file written forever in a directory of 1M files. Here the read takes the entry's
 * type from readdir (d_type; Node lstats only where the file system leaves it unknown), hands chokidar the
 * Dirent as the entry's stats (its filters and `ignored` ask it isDirectory / isSymbolicLink only), and drops
 * files without asking chokidar: they are never watched (`ignored` says so for every one; their events come
 * from the directory's watch), so the answer is the same. Symbolic links are classified by readdirp as before.
 * If chokidar stopped reading through _readdirp, this would only cost time again, not change an event.
 */
class DirectoryWatcher extends FSWatcher {
  override _readdirp(root: string, opts: ReadOptions = {}): ReturnType<FSWatcher['_readdirp']> {
    const dirFilter = opts.directoryFilter;
    return super._readdirp(root, {
      ...opts,
      alwaysStat: false,
      fileFilter: () => false,
      directoryFilter: (e: Entry) => {
        if (!e.stats && e.dirent) (e as { stats?: unknown }).stats = e.dirent;
        return typeof dirFilter === 'function' ? dirFilter(e) : true;
      },
    });
  }
}

/**
 * chokidar watchers on one folder root with a quiet-period aggregator in front. close() is idempotent.
 *
 * Why not one `watch(root)`: chokidar puts an inotify watch (and an FSWatcher) on every file, and its initial
 * walk lstats every entry of every directory at once. Measured with 100,000 files in 1,011 directories:
 * 101,011 watches and ~1 GB RSS; with files ignored still ~470 MB peak, held by the allocator afterwards.
 * Here our own walk (readdir with file types, no stat) finds the directories, and chokidar watches them with
 * depth 0, ARM_BATCH directories per instance, one batch after the other, reading each without a stat per
 * entry (DirectoryWatcher). File events come from the
 * directories' own watches ('raw'); a new directory is found by its parent's watch and armed the same way.
 */
export class Watcher {
  private readonly agg: Aggregator;
  private closed = false;
  /** Watched directory (absolute) -> the chokidar instance watching it. */
  private readonly owner = new Map<string, FSWatcher>();
  private readonly instances = new Map<FSWatcher, Set<string>>();
  /** New directories waiting to be armed (a burst of mkdirs is armed in batches). */
  private arming: Promise<void> = Promise.resolve();
  /** st_dev of the root, with oneFileSystem. */
  private rootDev: number | undefined;

  private constructor(
    private readonly opts: WatchOptions,
    private readonly root: string,
    private readonly ig: ReturnType<typeof makeMatcher>,
    private readonly always: (dir: string, name: string) => boolean,
  ) {
    this.agg = new Aggregator(opts);
  }

  /** Arm the watches; resolves once every directory of the tree is watched. Rejects with ENOSPC and the like. */
  static async start(opts: WatchOptions): Promise<Watcher> {
    const root = path.resolve(opts.root);
    const w = new Watcher(opts, root, makeMatcher(opts.exclude), fileMatcher(opts.alwaysExclude ?? []));
    try {
      if (opts.oneFileSystem) w.rootDev = fs.statSync(root).dev;
      await w.arm(w.directoriesUnder(root));
    } catch (err) {
      await w.close();
      throw err;
    }
    return w;
  }

  /** Directories under watch (each costs one inotify watch). */
  get watchedDirs(): number {
    return this.owner.size;
  }

  /** Paths waiting for their quiet period (a storm counts as its limit). */
  get pending(): number {
    return this.agg.pending;
  }

  /** Record an event on `rel` ('' is the root itself: something happened to the folder as a whole). */
  touch(rel: string, now = this.agg.clock.now(), removed = false): void {
    if (!this.closed) this.agg.touch(rel, now, removed);
  }

  /** Stop watching. Pending paths are dropped (the next start's full reconcile covers them). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.agg.close();
    await this.arming.catch(() => undefined);
    const all = [...this.instances.keys()];
    this.instances.clear();
    this.owner.clear();
    await Promise.all(all.map((f) => f.close()));
  }

  private rel(abs: string): string {
    return path.relative(this.root, abs).split(path.sep).join('/');
  }

  /** Directories under `dir` (itself included) down to `depth` levels, as this watcher watches them. */
  private directoriesUnder(dir: string, depth = Infinity): string[] {
    return directoriesUnder(dir, depth, this.opts.followSymlinks, (parent, name, abs) =>
      !this.always(parent, name) && !this.ig.ignores(this.rel(abs) + '/') && !this.foreign(abs));
  }

  /** oneFileSystem: `abs` is on another file system than the root (or cannot be statted). */
  private foreign(abs: string): boolean {
    if (this.rootDev === undefined) return false;
    try {
      return fs.statSync(abs).dev !== this.rootDev;
    } catch {
      return true;
    }
  }

  /**
   * Watch these directories, ARM_BATCH at a time; resolves when all are watched. `announce`: hand each one over
   * once its watch is armed (a new directory), so its reconcile walks it after that and finds every file that
   * arrived before the watch: files written before the watch are found by that walk, later ones are reported.
   */
  private async arm(dirs: readonly string[], announce = false): Promise<void> {
    const queued = new Set(dirs);
    for (let i = 0; i < dirs.length && !this.closed; i += ARM_BATCH) {
      // A directory already gone is not armed: chokidar would watch its parent for it to come back, and that
      // watch can outlive close() (its add() reopens a closed instance).
      const batch = dirs.slice(i, i + ARM_BATCH).filter((d) => !this.owner.has(d) && fs.existsSync(d));
      if (batch.length === 0) continue;
      await this.armBatch(batch);
      if (announce) for (const d of batch) this.touch(this.rel(d));
      // A directory made under one of these while it was being armed is neither in the walk nor reported (the
      // arming read of its parent is an initial one): find it now, arm it and hand it over. One still queued
      // here is no such directory (the walk found it; it is armed in a later batch): announcing those would hand
      // the whole tree over as new, a reconcile of every directory while the watches are still being armed.
      const missed = batch.flatMap((d) => this.directoriesUnder(d, 1)).filter((d) => !this.owner.has(d) && !queued.has(d));
      if (missed.length > 0) await this.arm(missed.flatMap((d) => this.directoriesUnder(d)), true);
    }
  }

  /** One chokidar instance on these directories (depth 0); resolves once it is ready and its events are wired. */
  private async armBatch(batch: string[]): Promise<void> {
    const fsw = new DirectoryWatcher({
      // persistent: false: the daemon's timers keep the process alive; a stray watch must never keep it from exiting
      depth: 0, ignoreInitial: true, followSymlinks: this.opts.followSymlinks, persistent: false, alwaysStat: false,
      // files are not tracked by chokidar (no watch per file): their events come from the directory's watch
      ignored: (p: string, stats?: { isDirectory(): boolean }) => this.ignored(p, stats),
      atomic: true, awaitWriteFinish: false, ignorePermissionErrors: false,
    });
    fsw.add(batch);
    this.instances.set(fsw, new Set(batch));
    for (const d of batch) this.owner.set(d, fsw);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: unknown) => reject(err as Error);
      fsw.once('error', onError);
      fsw.once('ready', () => {
        fsw.off('error', onError);
        resolve();
      });
    });
    fsw.on('all', (event, p) => this.onEvent(event, path.resolve(this.root, p)));
    fsw.on('raw', (event: string, name: string | null, o: unknown) => this.onRaw(name, (o as { watchedPath?: string } | undefined)?.watchedPath));
    fsw.on('error', (err: unknown) => this.opts.onError(err as NodeJS.ErrnoException));
  }

  /** chokidar's `ignored`: files (their events come from 'raw'), excluded directories, the state DB. */
  private ignored(p: string, stats?: { isDirectory(): boolean }): boolean {
    const abs = path.resolve(this.root, p);
    if (this.always(path.dirname(abs), path.basename(abs))) return true;
    const rel = this.rel(abs);
    if (rel === '' || rel.startsWith('../')) return false;
    if (stats && !stats.isDirectory()) return true;
    return this.ig.ignores(rel) || (!!stats?.isDirectory() && this.ig.ignores(rel + '/'));
  }

  private onEvent(event: string, abs: string): void {
    if (this.closed) return;
    if (event === 'addDir' && !this.owner.has(abs)) {
      // A new directory (maybe with a tree under it already): arm it and what is under it, after what is arming.
      const dirs = this.directoriesUnder(abs);
      this.arming = this.arming.then(() => this.arm(dirs, true)).catch((err: unknown) => this.opts.onError(err as NodeJS.ErrnoException));
    } else if (event === 'unlinkDir') {
      this.unwatchUnder(abs);
    }
    const r = this.rel(abs);
    if (r.startsWith('../')) return;
    this.touch(r, undefined, event === 'unlink' || event === 'unlinkDir');
  }

  /** A directory was removed: drop its watches and those under it (an instance left with none is closed). */
  private unwatchUnder(abs: string): void {
    for (const [d, fsw] of [...this.owner]) {
      if (d !== abs && !d.startsWith(abs + path.sep)) continue;
      this.owner.delete(d);
      fsw.unwatch(d);
      const set = this.instances.get(fsw);
      set?.delete(d);
      if (set && set.size === 0) {
        this.instances.delete(fsw);
        void fsw.close();
      }
    }
  }

  /** File events, straight from a directory's watch: (name in the directory, the directory). */
  private onRaw(name: string | null, watched: string | undefined): void {
    if (this.closed || !name || !watched) return;
    const abs = path.resolve(watched, name);
    // inotify's IN_UNMOUNT / IN_IGNORED / IN_DELETE_SELF reach fs.watch as 'rename' of the watched directory's own name.
    if (watched === this.root && name === path.basename(this.root) && !fs.existsSync(abs)) {
      this.opts.onRootGone?.();
      return;
    }
    if (abs === watched || this.always(path.dirname(abs), path.basename(abs))) return;
    const r = this.rel(abs);
    if (r === '' || r.startsWith('../') || this.ig.ignores(r)) return;
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(abs);
    } catch {
      st = undefined;
    }
    if (st?.isDirectory()) return; // directories come as addDir/unlinkDir from chokidar itself
    // 'rename' is a create, a delete or either half of a move: a path that is gone has nothing left to settle.
    this.touch(r, undefined, !st);
  }
}

/**
 * `dir` and every directory under it that `watched` accepts (symbolic links only with followSymlinks), down to
 * `depth` levels below it. A link loop is walked once.
 */
function directoriesUnder(dir: string, depth: number, followSymlinks: boolean, watched: (parent: string, name: string, abs: string) => boolean): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const stack: [string, number][] = [[dir, 0]];
  while (stack.length > 0) {
    const [d, level] = stack.pop()!;
    let real: string;
    try {
      real = followSymlinks ? fs.realpathSync(d) : d;
    } catch {
      continue;
    }
    if (seen.has(real)) continue; // a link loop
    seen.add(real);
    out.push(d);
    if (level < depth) for (const sub of subdirectories(d, followSymlinks, watched)) stack.push([sub, level + 1]);
  }
  return out;
}

/** The directories directly in `d` that `watched` accepts (links to directories only with followSymlinks). */
function subdirectories(d: string, followSymlinks: boolean, watched: (parent: string, name: string, abs: string) => boolean): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(d, { withFileTypes: true });
  } catch {
    return []; // unreadable: the reconcile reports it
  }
  const out: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory() && !(followSymlinks && e.isSymbolicLink())) continue; // a file: the common case, no path built
    const abs = path.join(d, e.name);
    let isDir = e.isDirectory();
    if (!isDir) {
      try {
        isDir = fs.statSync(abs).isDirectory();
      } catch {
        isDir = false;
      }
    }
    if (isDir && watched(d, e.name, abs)) out.push(abs);
  }
  return out;
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

/**
 * The directories under `root` the daemon would watch (excludes applied), counted up to `cap`; `capped` when
 * the walk stopped early. Yields to the event loop as it goes (a large tree takes a moment).
 */
export async function countWatchedDirectories(root: string, exclude: readonly string[], cap: number, signal?: AbortSignal): Promise<{ dirs: number; capped: boolean }> {
  const ig = makeMatcher(exclude);
  const stack = [''];
  let dirs = 0;
  let slice = performance.now();
  while (stack.length > 0 && dirs <= cap) {
    if (performance.now() - slice > 8) {
      await new Promise((r) => setImmediate(r));
      signal?.throwIfAborted();
      slice = performance.now();
    }
    const rel = stack.pop()!;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(rel ? path.join(root, rel) : root, { withFileTypes: true });
    } catch {
      continue; // unreadable: the reconcile (and doctor's folder check) report it
    }
    dirs++;
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory() && !ig.ignores(`${r}/`)) stack.push(r);
    }
  }
  return { dirs, capped: stack.length > 0 };
}

/** The fs.inotify.max_user_watches to suggest for `need` watches: 1.5x rounded up to a power of two, at least 524,288. */
export function suggestedWatchLimit(need: number): number {
  return Math.max(524_288, 2 ** Math.ceil(Math.log2(Math.max(1, need) * 1.5)));
}
