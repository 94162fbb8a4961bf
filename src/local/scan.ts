// Walk a folder (or stat a few paths) into a ScanResult: LocalFiles by key, problems (unreadable, invalid names),
// and what must not be deleted. The whole folder is a collector over the ordered walk (walk.ts); the daemon's
// scope (`only`) enters through ScopedWalk and shares the walk's rules for each entry. Also the small stat helpers
// the sync path shares with it. Re-exports the records (found.ts) and the matchers (exclude.ts).
// Must not: read file content; write to the folder; add a syscall or an allocation per file to the walk;
// import from state/, remote/ or any layer above local/.

import fs from 'node:fs';
import path from 'node:path';
import { toKey } from '../keys.js';
import { excludedPath, makeMatcher } from './exclude.js';
import type { FileVersion, LocalFile, ScanOptions, ScanResult } from './found.js';
import { batchesOf, statOf, twinReason, UNKNOWN, Walker, walkInKeyOrder, type WalkItem, type WalkTotals } from './walk.js';

export { excludedPath, fileMatcher, makeMatcher, RESTORE_TEMP_PATTERN } from './exclude.js';
export { deviceName, versionOf } from './found.js';
export type { FileVersion, LocalFile, ScanOptions, ScanProblem, ScanResult } from './found.js';

/** Walk the whole folder, or only the paths of `opts.only`. The caller has checked that the root exists and is a directory. */
export async function scanFolder(opts: ScanOptions): Promise<ScanResult> {
  if (opts.only) return scanScope(opts, opts.only);
  const walk = walkInKeyOrder(opts);
  const result = resultOf(walk.totals);
  // keys arrive in order, each once: no twin can reach the Map
  for await (const batch of walk.batches) for (const item of batch) collect(result, item);
  return counted(result, walk.totals);
}

/** The daemon's scope: the named files statted, the named directories walked; twins outside the scope checked. */
async function scanScope(opts: ScanOptions, only: readonly string[]): Promise<ScanResult> {
  const walker = new ScopedWalk(opts);
  walker.enterScope(only);
  const result = resultOf(walker.totals);
  // Scoped paths are walked one after the other, so two of them can spell one key (both NFC and NFD named).
  const twins = new Map<string, string>(); // key -> first rel, only for keys that collided
  for await (const batch of batchesOf(walker, opts.signal)) {
    for (const item of batch) {
      if (item.kind !== 'file' || !twinInScope(result, item.file, twins)) collect(result, item);
    }
  }
  findTwinsOutsideScope(opts.root, result);
  return counted(result, walker.totals);
}

function resultOf(totals: WalkTotals): ScanResult {
  return { files: new Map(), problems: totals.problems, unknownPrefixes: [], unknownKeys: new Set(), dirs: 0, regularFiles: 0 };
}

function counted(result: ScanResult, totals: WalkTotals): ScanResult {
  result.dirs = totals.dirs;
  result.regularFiles = totals.regularFiles;
  return result;
}

function collect(result: ScanResult, item: WalkItem): void {
  if (item.kind === 'file') result.files.set(item.file.key, item.file);
  else if (item.kind === 'unknown-key') result.unknownKeys.add(item.key);
  else result.unknownPrefixes.push(item.prefix);
}

/** True (and reported) when another scoped name already had this file's key: R2 would store one object for both. */
function twinInScope(result: ScanResult, file: LocalFile, twins: Map<string, string>): boolean {
  const first = result.files.get(file.key)?.rel ?? twins.get(file.key);
  if (first === undefined) return false;
  if (result.files.delete(file.key)) {
    twins.set(file.key, first);
    result.problems.push({ rel: first, reason: twinReason(file.rel, file.key), kind: 'failed' });
  }
  result.problems.push({ rel: file.rel, reason: twinReason(first, file.key), kind: 'failed' });
  result.unknownKeys.add(file.key);
  return true;
}

/** The scope without paths that lie under another path of it (a new directory and its files): each is walked once. */
function outermost(paths: readonly string[]): string[] {
  const sorted = [...new Set(paths)].sort();
  const out: string[] = [];
  for (const p of sorted) {
    const last = out.at(-1);
    if (last !== undefined && (last === '' || p.startsWith(last + '/'))) continue;
    out.push(p);
  }
  return out;
}

/** True when a parent directory of `rel` is a symbolic link. */
function throughSymlink(root: string, rel: string): boolean {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) {
    try {
      if (fs.lstatSync(path.join(root, ...parts.slice(0, i))).isSymbolicLink()) return true;
    } catch {
      return false; // gone: the stat of the path itself says so
    }
  }
  return false;
}

/**
 * The walk entered at the scope's paths instead of the root: each path statted and judged by the walk's rules
 * (a directory is then walked like any other), missing paths left out. The items come in key order per path.
 */
class ScopedWalk extends Walker {
  /** oneFileSystem: the lstat of each directory on the way to a scoped path (undefined: not a directory). */
  private readonly dirDev = new Map<string, fs.BigIntStats | undefined>();
  /** oneFileSystem: directories on the way that are another file system's, reported once. */
  private readonly held = new Set<string>();

  enterScope(only: readonly string[]): void {
    const ig = makeMatcher(this.opts.exclude);
    for (const rel of outermost(only)) if (rel !== '' && !excludedPath(ig, rel)) this.enterPath(rel);
  }

  private enterPath(rel: string): void {
    const { opts } = this;
    const abs = path.join(opts.root, rel);
    if (this.always(path.dirname(abs), path.basename(abs))) return;
    // Without followSymlinks, a path through a linked directory is not ours (the walk would not enter it).
    if (!opts.followSymlinks && throughSymlink(opts.root, rel)) return;
    if (opts.oneFileSystem && this.underForeignMount(rel)) return;
    const st = statOf(abs, false);
    if (st instanceof Error) {
      const code = (st as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return; // gone: its rows are removals
      this.problem(rel, `cannot stat: ${st.message}`, 'failed');
      this.unknownPrefix(toKey(opts.prefix, rel + '/'));
      this.unknownKey(toKey(opts.prefix, rel));
      return;
    }
    const target = st.isSymbolicLink() && opts.followSymlinks ? statOf(abs, true) : st;
    const dir = st.isDirectory() ? undefined : !(target instanceof Error) && target.isDirectory() ? target : false;
    if (dir === false) this.scopedFile(rel, abs, st, target);
    else if (!this.ignores(rel + '/')) this.scopedDir(rel, abs, dir);
  }

  private scopedDir(rel: string, abs: string, target: fs.BigIntStats | undefined): void {
    const out = this.dirOutcome(rel, abs, target);
    if (out === 'enter') this.enterDir(rel, target);
    else if (out) this.unknownPrefix(toKey(this.opts.prefix, rel + '/'));
  }

  private scopedFile(rel: string, abs: string, st: fs.BigIntStats, target: fs.BigIntStats | Error): void {
    const out = this.fileOutcome(rel, abs, st, target);
    if (out === undefined) return;
    if (out === UNKNOWN) this.unknownKey(toKey(this.opts.prefix, rel));
    else this.found(out);
  }

  /** oneFileSystem, scoped: a directory on the way to `rel` is another file system's (held, as the walk would). */
  private underForeignMount(rel: string): boolean {
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!this.dirDev.has(dir)) {
        const st = statOf(path.join(this.opts.root, dir), false);
        this.dirDev.set(dir, !(st instanceof Error) && st.isDirectory() ? st : undefined);
      }
      const st = this.dirDev.get(dir);
      if (!st) return false; // not (or no longer) a directory: the path's own stat decides
      if (st.dev !== this.rootStat.dev) {
        if (!this.held.has(dir) && this.foreign(dir, st)) this.unknownPrefix(toKey(this.opts.prefix, dir + '/'));
        this.held.add(dir);
        return true;
      }
    }
    return false;
  }
}

/**
 * A scoped scan sees only some names; a file whose name differs only in Unicode normalisation from a sibling
 * outside the scope would silently take over the sibling's key. Check each scanned file's directory.
 */
function findTwinsOutsideScope(root: string, result: ScanResult): void {
  const listings = new Map<string, Map<string, string[]> | undefined>(); // dir -> NFC name -> names on disk
  const namesIn = (dir: string) => {
    if (!listings.has(dir)) {
      let byNfc: Map<string, string[]> | undefined;
      try {
        byNfc = new Map();
        for (const n of fs.readdirSync(dir ? path.join(root, dir) : root)) {
          const k = n.normalize('NFC');
          byNfc.set(k, [...(byNfc.get(k) ?? []), n]);
        }
      } catch {
        byNfc = undefined;
      }
      listings.set(dir, byNfc);
    }
    return listings.get(dir);
  };
  for (const file of [...result.files.values()]) {
    // Every component counts: "café/x" and "cafe\u0301/x" are one key as well.
    const parts = file.rel.split('/');
    for (let i = 0; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const twins = (namesIn(dir)?.get(parts[i]!.normalize('NFC')) ?? []).filter((n) => n !== parts[i]);
      if (twins.length === 0) continue;
      result.files.delete(file.key);
      result.unknownKeys.add(file.key);
      const other = [...parts.slice(0, i), twins[0]!, ...parts.slice(i + 1)].join('/');
      result.problems.push({ rel: file.rel, reason: twinReason(other, file.key), kind: 'failed' });
      break;
    }
  }
}

/**
 * Stat one file the way the scan does (lstat, or stat when following links); undefined when it is gone.
 * Synchronous inside, for the same reason as the walk: a cached stat is cheaper than a thread-pool round trip.
 */
export async function statFile(abs: string, followSymlinks: boolean): Promise<fs.BigIntStats | undefined> {
  try {
    return followSymlinks ? fs.statSync(abs, { bigint: true }) : fs.lstatSync(abs, { bigint: true });
  } catch (err) {
    // ENOTDIR: a parent directory was replaced by a file, so the file is gone as well.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** True when two versions describe the same file content version (size, mtime, ctime, inode). */
export function sameVersion(a: FileVersion, b: FileVersion): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
}

/**
 * True when the folder holds at least one regular file that the scan would see (a link or FIFO is no evidence
 * that a disk is mounted). Stops at the first one; the scoped reconcile's guard against a root that emptied.
 */
export function hasRegularFile(opts: Pick<ScanOptions, 'root' | 'exclude' | 'followSymlinks' | 'alwaysExclude'>): boolean {
  const ig = makeMatcher(opts.exclude);
  const always = new Set(opts.alwaysExclude ?? []);
  const stack = [''];
  while (stack.length > 0) {
    const relDir = stack.pop()!;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(relDir ? path.join(opts.root, relDir) : opts.root, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const rel = relDir ? `${relDir}/${e.name}` : e.name;
      if (always.has(path.join(opts.root, rel))) continue;
      if (e.isDirectory()) {
        if (!ig.ignores(rel + '/')) stack.push(rel);
      } else if (ig.ignores(rel)) {
        continue;
      } else if (e.isFile()) {
        return true;
      } else if (e.isSymbolicLink() && opts.followSymlinks) {
        try {
          if (fs.statSync(path.join(opts.root, rel)).isFile()) return true;
        } catch {
          // dangling: no evidence
        }
      }
    }
  }
  return false;
}

/** Recorded files missing under a directory that is on another device now than the one they were recorded on. */
export interface DeviceChange {
  /** The nearest directory of the missing files that exists, relative to the root ('' = the root itself). */
  readonly rel: string;
  /** st_dev recorded with the files, and st_dev of that directory now (decimal). */
  readonly was: string;
  readonly now: string;
  /** Recorded files missing under it. */
  files: number;
}

/**
 * For recorded files the scan did not find: their nearest existing directory, and whether it is on the device
 * the file was recorded on. A different one means the file lived on a file system that is not mounted there
 * now (an unmounted disk), not that it was deleted. One stat per distinct directory; rows without a device
 * (recorded before schema 3) are not judged. With `followSymlinks` a link to a directory is a directory (the
 * scan went through it, so the file's device is the target's).
 */
export function deviceChanges(root: string, missing: Iterable<{ readonly rel: string; readonly dev?: string | null | undefined }>, followSymlinks = false): DeviceChange[] {
  const nearest = new Map<string, { rel: string; dev: string }>();
  const find = (dir: string): { rel: string; dev: string } => {
    const known = nearest.get(dir);
    if (known) return known;
    let st: fs.BigIntStats | undefined;
    try {
      st = dir === '' || followSymlinks ? fs.statSync(dir ? path.join(root, dir) : root, { bigint: true }) : fs.lstatSync(path.join(root, dir), { bigint: true });
    } catch {
      st = undefined;
    }
    const found = st?.isDirectory() ? { rel: dir, dev: st.dev.toString() }
      : dir === '' ? { rel: '', dev: '' } // the root vanished: the caller's root check reports it
      : find(dir.includes('/') ? dir.slice(0, dir.lastIndexOf('/')) : '');
    nearest.set(dir, found);
    return found;
  };
  const out = new Map<string, DeviceChange>();
  for (const m of missing) {
    if (!m.dev) continue;
    const n = find(m.rel.includes('/') ? m.rel.slice(0, m.rel.lastIndexOf('/')) : '');
    if (!n.dev || n.dev === m.dev) continue;
    const id = `${n.rel}\0${m.dev}`;
    const c = out.get(id);
    if (c) c.files++;
    else out.set(id, { rel: n.rel, was: m.dev, now: n.dev, files: 1 });
  }
  return [...out.values()].sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}
