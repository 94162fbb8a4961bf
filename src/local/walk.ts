// The whole folder in key order (compareKeys: UTF-8 bytes, the order of ListObjectsV2 and of the state rows), in
// batches, for the streamed reconcile's merge; and the Walker behind it, whose rules for an entry (classify:
// fileOutcome, dirOutcome) the scoped scan in scan.ts shares. A depth-first walk with an explicit stack of
// per-directory iterators (no recursion limit): each directory's entries are sorted by their key component (NFC
// name, plus '/' for a directory) and a subdirectory is entered at its sorted position, so keys never go down.
// Must not: read file content; write to the folder; add a syscall or an allocation per file (beyond the LocalFile,
// its batch item and its sort key); keep anything that grows with the tree instead of with depth x directory size;
// import from state/, remote/ or any layer above local/.

import fs from 'node:fs';
import path from 'node:path';
import { compareKeys, keyProblem, toKey } from '../keys.js';
import { fileMatcher, makeMatcher, type Matcher } from './exclude.js';
import { deviceName, type LocalFile, type ScanOptions, type ScanProblem } from './found.js';

export type WalkItem =
  | { readonly kind: 'file'; readonly file: LocalFile }
  /** Nothing at or under this key prefix could be seen (unreadable dir, foreign mount, NFC twin dirs): never delete there. */
  | { readonly kind: 'unknown-prefix'; readonly prefix: string }
  /** This key exists locally but cannot be mirrored (bad key, twin file names, stat failed, foreign file): never delete it. */
  | { readonly kind: 'unknown-key'; readonly key: string };

export interface WalkTotals { dirs: number; regularFiles: number; readonly problems: ScanProblem[] }

/**
 * The whole folder (no `only`), in key order, in batches. `totals` is complete once the iteration ended. Throws
 * at once when the root cannot be statted (the caller has checked that it exists and is a directory); an
 * unreadable root is a `failed` problem and the folder's prefix as an unknown-prefix. The batches can be
 * iterated once.
 */
export function walkInKeyOrder(opts: Omit<ScanOptions, 'only'>): { readonly batches: AsyncIterable<WalkItem[]>; readonly totals: WalkTotals } {
  const walker = new Walker(opts);
  walker.enterRoot();
  return { batches: batchesOf(walker, opts.signal), totals: walker.totals };
}

/** Items per batch, and how long the walk runs before it lets the event loop in (timers, signals, the listing). */
const BATCH = 1000;
const SLICE_MS = 8;

/**
 * The walker's items in batches of up to ~BATCH, until the walk is done. Synchronous readdir/lstat inside: with
 * the metadata in the page cache a syscall costs microseconds, a thread-pool round trip ~0.1 ms. Every ~8 ms
 * (the consumer's time included) it yields to the event loop, then honours the signal.
 */
export async function* batchesOf(walker: Walker, signal: AbortSignal | undefined): AsyncGenerator<WalkItem[]> {
  signal?.throwIfAborted();
  let slice = performance.now();
  for (let more = true; more;) {
    more = walker.step();
    if (walker.pending >= BATCH) yield walker.take();
    if (more && performance.now() - slice > SLICE_MS) {
      if (walker.pending > 0) yield walker.take();
      await new Promise((r) => setImmediate(r));
      signal?.throwIfAborted();
      slice = performance.now();
    }
  }
  if (walker.pending > 0) yield walker.take();
}

/** An outcome: the path exists but its key cannot be mirrored (stat failed, another file system, a bad key). */
export const UNKNOWN = Symbol('unknown');
type Outcome<T> = T | typeof UNKNOWN | undefined;
/** What fileOutcome needs to know of an entry: a Dirent or an lstat result. */
type EntryType = Pick<fs.Dirent, 'isFile' | 'isSymbolicLink'>;

const NOT_FOLLOWED = 'symbolic link not followed (set followSymlinks: true to follow)';
const NOT_REGULAR = 'not a regular file (socket, FIFO or device)';
const LOOP = 'symbolic link loop (or a second link to a directory already mirrored): not followed';

/** One directory being walked. Per entry (readdir order, admitted ones only): the Dirent, the path, the sort key. */
interface Frame {
  readonly relDir: string;
  readonly absDir: string;
  /** False until read: a frame is pushed at the directory's sorted position, and the next step reads it. */
  read: boolean;
  readonly ents: fs.Dirent[];
  readonly rels: string[];
  /** The key component: NFC name, plus '/' for a directory (a followed link to a directory is one). */
  readonly comps: string[];
  /** followSymlinks: the stat of each link's target (or why it failed), by entry index. */
  readonly targets: (fs.BigIntStats | Error)[];
  /** Entry indexes sorted by key component; `next` indexes `order`. */
  order: Uint32Array;
  next: number;
}

/**
 * The rules for one entry (excludes, links, loops, file systems, keys) and where their findings go: WalkItems in
 * `take()`'s batch, problems in `totals`. The Walker below and the scoped scan (scan.ts) apply them.
 */
export class EntryRules {
  readonly totals: WalkTotals = { dirs: 0, regularFiles: 0, problems: [] };
  protected readonly always: (dir: string, name: string) => boolean;
  protected readonly rootStat: fs.BigIntStats;
  private readonly ig: Matcher;
  private batch: WalkItem[] = [];
  /** dev:ino of the root and of the directories entered through links (loops, second links). */
  private readonly seenDirs = new Set<string>();

  constructor(protected readonly opts: Omit<ScanOptions, 'only'>) {
    this.ig = makeMatcher(opts.exclude);
    this.always = fileMatcher(opts.alwaysExclude ?? []);
    this.rootStat = fs.statSync(opts.root, { bigint: true });
    this.seenDirs.add(`${this.rootStat.dev}:${this.rootStat.ino}`);
  }

  get pending(): number {
    return this.batch.length;
  }

  /** The items found since the last take(). */
  take(): WalkItem[] {
    const b = this.batch;
    this.batch = [];
    return b;
  }

  /** A followed link's target directory is entered: a second link to it (or a loop back to it) is not followed. */
  protected entered(target: fs.BigIntStats): void {
    this.seenDirs.add(`${target.dev}:${target.ino}`);
  }

  /**
   * A directory, or a followed link to one (`target`, its stat): 'enter' it, UNKNOWN (another file system:
   * skipped, nothing under it deleted), or nothing (a loop, reported).
   */
  protected dirOutcome(rel: string, abs: string, target?: fs.BigIntStats): Outcome<'enter'> {
    if (!target) {
      if (!this.opts.oneFileSystem) return 'enter';
      const st = statOf(abs, false); // one lstat per directory: the walk reads no directory's stat otherwise
      // gone or unreadable: reading it tells
      return !(st instanceof Error) && this.foreign(rel, st) ? UNKNOWN : 'enter';
    }
    if (this.foreign(rel, target)) return UNKNOWN;
    if (this.seenDirs.has(`${target.dev}:${target.ino}`) || linksToAncestor(abs)) {
      this.problem(rel, LOOP, 'failed');
      return undefined;
    }
    return 'enter';
  }

  /**
   * Anything but a directory: the file to mirror, UNKNOWN (it exists but its key cannot be mirrored), or nothing
   * (a notice, or gone). `target`: the stat already taken (a followed link's target, or the scope's lstat).
   */
  protected fileOutcome(rel: string, abs: string, type: EntryType, target?: fs.BigIntStats | Error): Outcome<LocalFile> {
    const link = type.isSymbolicLink();
    if (!link && !type.isFile()) return this.problem(rel, NOT_REGULAR, 'skipped');
    if (link && !this.opts.followSymlinks) return this.problem(rel, NOT_FOLLOWED, 'skipped');
    const st = target ?? statOf(abs, link);
    if (st instanceof Error) return this.statFailed(rel, st, link);
    if (st.isFile()) return this.fileOf(rel, st);
    if (link) this.problem(rel, 'symbolic link to something that is not a regular file', 'skipped');
    return undefined; // (not a link) replaced by a directory since readdir: the next walk sees it
  }

  /** A regular file: mirrored under its key, unless it is on another file system or its key is invalid. */
  private fileOf(rel: string, st: fs.BigIntStats): Outcome<LocalFile> {
    if (this.foreign(rel, st)) return UNKNOWN;
    this.totals.regularFiles++;
    const key = toKey(this.opts.prefix, rel);
    const problem = keyProblem(key);
    if (problem) {
      this.problem(rel, `cannot be mirrored: ${problem}`, 'failed');
      return UNKNOWN; // the file exists: an object at this key (another tool's) must not look deleted
    }
    return {
      rel, key, mtimeMs: Number(st.mtimeMs),
      size: Number(st.size), mtimeNs: st.mtimeNs.toString(), ctimeNs: st.ctimeNs.toString(), ino: st.ino.toString(), dev: st.dev.toString(),
    };
  }

  private statFailed(rel: string, err: Error, link: boolean): Outcome<never> {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOTDIR: a directory on the way became a file; for the walk that is the same as gone.
    const gone = code === 'ENOENT' || code === 'ENOTDIR';
    if (gone && !link) return undefined; // deleted between readdir and stat: it is gone
    if (gone) return this.problem(rel, 'dangling symbolic link', 'skipped');
    if (code === 'ELOOP') return this.problem(rel, 'symbolic link loop', 'failed');
    this.problem(rel, `cannot stat: ${err.message}`, 'failed');
    return UNKNOWN;
  }

  /** oneFileSystem: `rel` is on another file system than the root; it is not ours to mirror (a notice). */
  protected foreign(rel: string, st: fs.BigIntStats): boolean {
    if (!this.opts.oneFileSystem || st.dev === this.rootStat.dev) return false;
    this.problem(rel, `on another file system (device ${deviceName(st.dev)}, the folder is on ${deviceName(this.rootStat.dev)}): not mirrored (oneFileSystem)`, 'skipped');
    return true;
  }

  protected ignores(rel: string): boolean {
    return this.ig.ignores(rel);
  }

  protected problem(rel: string, reason: string, kind: ScanProblem['kind']): undefined {
    this.totals.problems.push({ rel, reason, kind });
    return undefined;
  }

  protected found(file: LocalFile): void {
    this.batch.push({ kind: 'file', file });
  }

  protected unknownKey(key: string): void {
    this.batch.push({ kind: 'unknown-key', key });
  }

  protected unknownPrefix(prefix: string): void {
    this.batch.push({ kind: 'unknown-prefix', prefix });
  }
}

/**
 * One walk in key order: a stack of directory frames, each read once and its entries handed out in sorted
 * order. `step()` does one directory read or one entry (or one set of Unicode-normalisation twins).
 */
export class Walker extends EntryRules {
  private readonly stack: Frame[] = [];

  enterRoot(): void {
    this.enterDir('');
  }

  /** Read the directory on top of the stack, or settle its next entry; false once nothing is left. */
  step(): boolean {
    const f = this.stack.at(-1);
    if (!f) return false;
    if (!f.read) this.read(f);
    else if (f.next < f.order.length) this.settle(f);
    else this.stack.pop();
    return this.stack.length > 0;
  }

  /** Walk `rel` ('' = the root) next. `target`: the stat of a followed link's target, remembered against loops. */
  protected enterDir(rel: string, target?: fs.BigIntStats): void {
    if (target) this.entered(target);
    const absDir = rel ? path.join(this.opts.root, rel) : this.opts.root;
    this.stack.push({ relDir: rel, absDir, read: false, ents: [], rels: [], comps: [], targets: [], order: NO_ENTRIES, next: 0 });
  }

  private read(f: Frame): void {
    f.read = true;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(f.absDir, { withFileTypes: true });
    } catch (err) {
      this.stack.pop();
      this.problem(f.relDir || '.', `cannot read directory: ${(err as Error).message}`, 'failed');
      this.unknownPrefix(f.relDir ? toKey(this.opts.prefix, f.relDir + '/') : this.opts.prefix);
      return;
    }
    this.totals.dirs++;
    const invalid = entries.some((e) => e.name.includes('\uFFFD')) ? reportInvalidNames(f.absDir, f.relDir, this.totals.problems) : undefined;
    for (const e of entries) if (!invalid?.has(e.name)) this.admit(f, e);
    const { comps, ents } = f;
    const order = new Uint32Array(ents.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    // twins (equal components) in the order of their names on disk, so their problems read the same every time
    f.order = order.sort((a, b) => compareKeys(comps[a]!, comps[b]!) || compareKeys(ents[a]!.name, ents[b]!.name));
  }

  /** Take an entry unless it is never mirrored or excluded; a followed link is statted now (to a directory, it sorts as one). */
  private admit(f: Frame, e: fs.Dirent): void {
    const name = e.name;
    if (this.always(f.absDir, name)) return;
    const rel = f.relDir ? `${f.relDir}/${name}` : name;
    let dir = e.isDirectory();
    if (dir ? this.ignores(rel + '/') : this.ignores(rel)) return;
    if (e.isSymbolicLink()) {
      if (this.ignores(rel + '/')) return;
      if (this.opts.followSymlinks) {
        const target = statOf(path.join(f.absDir, name), true);
        f.targets[f.ents.length] = target;
        dir = !(target instanceof Error) && target.isDirectory();
      }
    }
    f.ents.push(e);
    f.rels.push(rel);
    f.comps.push(dir ? name.normalize('NFC') + '/' : name.normalize('NFC'));
  }

  /** The next entry, or the next run of entries with one key component (names that differ only in Unicode normalisation). */
  private settle(f: Frame): void {
    const { order, comps } = f;
    const first = f.next;
    const comp = comps[order[first]!]!;
    let end = first + 1;
    while (end < order.length && comps[order[end]!] === comp) end++;
    f.next = end; // before entering a subdirectory, which pushes its frame above this one
    if (end === first + 1) this.settleOne(f, order[first]!);
    else this.settleTwins(f, Array.from(order.subarray(first, end)), comp.endsWith('/'));
  }

  private settleOne(f: Frame, i: number): void {
    const rel = f.rels[i]!;
    const abs = path.join(f.absDir, f.ents[i]!.name);
    if (f.comps[i]!.endsWith('/')) {
      const target = f.targets[i] as fs.BigIntStats | undefined;
      const out = this.dirOutcome(rel, abs, target);
      if (out === 'enter') this.enterDir(rel, target);
      else if (out === UNKNOWN) this.unknownPrefix(toKey(this.opts.prefix, rel + '/'));
    } else {
      const out = this.fileOutcome(rel, abs, f.ents[i]!, f.targets[i]);
      if (out === UNKNOWN) this.unknownKey(toKey(this.opts.prefix, rel));
      else if (out) this.found(out);
    }
  }

  /**
   * Names of one directory that differ only in Unicode normalisation have one key (files) or one key prefix
   * (directories). When two of them would be mirrored, or one would and another cannot be seen, none is: each
   * fails naming another, and the key (prefix) is unknown, so nothing there is deleted either.
   */
  private settleTwins(f: Frame, run: number[], dir: boolean): void {
    const outs = run.map((i) => {
      const abs = path.join(f.absDir, f.ents[i]!.name);
      return dir ? this.dirOutcome(f.rels[i]!, abs, f.targets[i] as fs.BigIntStats | undefined) : this.fileOutcome(f.rels[i]!, abs, f.ents[i]!, f.targets[i]);
    });
    const taken = run.filter((_, n) => outs[n] !== undefined && outs[n] !== UNKNOWN);
    const unseen = run.filter((_, n) => outs[n] === UNKNOWN).slice(0, 1);
    if (taken.length === 1 && unseen.length === 0) {
      const i = taken[0]!;
      const out = outs[run.indexOf(i)]!;
      if (out === 'enter') this.enterDir(f.rels[i]!, f.targets[i] as fs.BigIntStats | undefined);
      else if (out !== UNKNOWN) this.found(out);
      return;
    }
    if (taken.length + unseen.length === 0) return;
    const key = toKey(this.opts.prefix, f.rels[run[0]!]! + (dir ? '/' : ''));
    for (const i of taken) {
      const other = f.rels[[...taken, ...unseen].find((j) => j !== i)!]!;
      this.problem(f.rels[i]!, dir ? dirTwinReason(other, key) : twinReason(other, key), 'failed');
    }
    if (dir) this.unknownPrefix(key);
    else this.unknownKey(key);
  }
}

const NO_ENTRIES = new Uint32Array(0);

/** stat (follow) or lstat, or why not. */
export function statOf(abs: string, follow: boolean): fs.BigIntStats | Error {
  try {
    return follow ? fs.statSync(abs, { bigint: true }) : fs.lstatSync(abs, { bigint: true });
  } catch (err) {
    return err as Error;
  }
}

/** True when a directory link points at a directory that contains the link (`self -> .`, `up -> ..`): a loop. */
function linksToAncestor(link: string): boolean {
  try {
    const rel = path.relative(fs.realpathSync(link), fs.realpathSync(path.dirname(link)));
    return rel === '' || (rel.split(path.sep)[0] !== '..' && !path.isAbsolute(rel));
  } catch {
    return false; // vanished or unreadable: the walk reports it when it gets there
  }
}

const formOf = (s: string) => (s === s.normalize('NFC') ? 'NFC' : s === s.normalize('NFD') ? 'NFD' : 'mixed');

/** Why a file is not mirrored: `other` (a path) has the same key. */
export function twinReason(other: string, key: string): string {
  return `its name and "${other}" (${formOf(other)}) differ only in Unicode normalisation and would be the same key "${key}"; rename one of them`;
}

function dirTwinReason(other: string, prefix: string): string {
  return `its name and the directory "${other}" (${formOf(other)}) differ only in Unicode normalisation and would be the same key prefix ` +
    `"${prefix}", so nothing under either is mirrored or deleted; rename one of them`;
}

/** Names that are not valid UTF-8 cannot be keys (and cannot even be opened through a JS string). */
function reportInvalidNames(absDir: string, relDir: string, problems: ScanProblem[]): Set<string> {
  const invalid = new Set<string>();
  let raw: Buffer[] = [];
  try {
    raw = fs.readdirSync(absDir, { encoding: 'buffer' });
  } catch {
    // the directory vanished: its entries were already read
  }
  for (const name of raw) {
    const asText = name.toString('utf8');
    if (Buffer.from(asText, 'utf8').equals(name)) continue; // valid UTF-8 (maybe a real U+FFFD)
    invalid.add(asText);
    const shown = [...name].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
    problems.push({ rel: relDir ? `${relDir}/${shown}` : shown, reason: 'its name is not valid UTF-8, so it cannot be an object key; rename it', kind: 'failed' });
  }
  return invalid;
}
