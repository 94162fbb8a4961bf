// PURE: (local files, stored rows, remote listing?) -> actions. No I/O, no clock; imports types only.
// The rules here are the product's promises; test/unit/plan.test.ts walks them as a table. The guards that act
// on a plan (delete limit, renames settled after the copies, empty roots, cost) are in policy.ts.
// Must not: import anything but types, do I/O, read a clock, or log.

import type { DeleteMode } from './config.js';
import type { LocalFile } from './local/scan.js';
import type { RemoteObject } from './remote/bucket.js';
import type { ObjectRow } from './state/store.js';

/** Something that must be known about an existing object to match a local file against it. */
export interface Against {
  readonly etag: string;
  readonly size: number;
  /** Part size it was uploaded with, when known (0 = single PUT); otherwise inferred from the ETag. */
  readonly partSize?: number | undefined;
}

/** One step of a reconcile. */
export type Action =
  | { readonly type: 'upload'; readonly key: string; readonly file: LocalFile; readonly reason: 'new' | 'changed' | 'missing-remote' | 'remote-differs' }
  /** Hash the file; when it matches `against`, record it without uploading (adopt / touched); else upload. */
  | { readonly type: 'check'; readonly key: string; readonly file: LocalFile; readonly against: Against; readonly reason: 'adopt' | 'touched' }
  /** A rename: hash the file; when it matches the object at `from`, copy it server-side; else upload. */
  | { readonly type: 'copy'; readonly key: string; readonly file: LocalFile; readonly from: string; readonly against: Against }
  /** Remove an object. `renamedTo`: it is the source of the copy to that key (a rename), not a delete of its own. */
  | { readonly type: 'delete'; readonly key: string; readonly renamedTo?: string }
  | { readonly type: 'trash'; readonly key: string; readonly to: string; readonly renamedTo?: string }
  /** Drop a stored row whose object is gone (or which we no longer own). No request. */
  | { readonly type: 'forget'; readonly key: string };

/** Everything the planner looks at. */
export interface PlanInput {
  readonly local: ReadonlyMap<string, LocalFile>;
  readonly stored: ReadonlyMap<string, ObjectRow>;
  /** The bucket listing under the prefix, or undefined when this reconcile does not list. */
  readonly remote?: ReadonlyMap<string, RemoteObject> | undefined;
  readonly prefix: string;
  readonly deletes: DeleteMode;
  readonly trashPrefix: string;
  /** Key prefixes and keys the scan could not see: never delete or forget under them. */
  readonly unknownPrefixes: readonly string[];
  readonly unknownKeys: ReadonlySet<string>;
  /** True for a path (relative to the root, '/'-separated) the folder's `exclude` patterns match now. */
  readonly excluded?: ((rel: string) => boolean) | undefined;
  /** Remove objects whose path is excluded now (rclone's --delete-excluded); by default they are left alone. */
  readonly deleteExcluded?: boolean | undefined;
}

/** The plan plus what needed nothing. */
export interface Plan {
  readonly actions: Action[];
  readonly unchanged: number;
}

/** Largest object CopyObject can copy in one request. */
export const MAX_COPY = 5 * 1024 ** 3;

/** True when the stored row still describes the file on disk (size, mtime and inode unchanged). */
export function isFresh(file: LocalFile, row: ObjectRow | undefined): boolean {
  return !!row && row.size === file.size && row.mtimeNs === file.mtimeNs && row.ino === file.ino;
}

/** Decide what to do for every key seen locally, in the DB or in the bucket. */
export function plan(input: PlanInput): Plan {
  const seen = visibility(input);
  const sources = renameSources(input, seen);
  const actions: Action[] = [];
  let unchanged = 0;
  for (const [key, file] of input.local) {
    const a = planFile(key, file, input, sources);
    if (a) actions.push(a);
    else unchanged++;
  }
  planRemovals(input, seen, sources.claimed, actions);
  return { actions, unchanged };
}

/** What the planner may not touch: keys the scan could not see, and excluded paths it keeps. */
interface Visibility {
  readonly isUnknown: (key: string) => boolean;
  /** An excluded path is not in the scan, but that does not make it deleted: leave its object (and row) alone. */
  readonly spared: (rel: string) => boolean;
}

function visibility(input: PlanInput): Visibility {
  return {
    isUnknown: (key) => input.unknownKeys.has(key) || input.unknownPrefixes.some((p) => key.startsWith(p)),
    spared: (rel) => !input.deleteExcluded && !!input.excluded?.(rel),
  };
}

/** Rows whose file is gone, offered as the sources of renames; `claimed`: rename source -> the key copied to. */
interface RenameSources {
  /** The row a new file of this size is most likely a rename of (claimed for it), or undefined. */
  claim(key: string, file: LocalFile): ObjectRow | undefined;
  readonly claimed: ReadonlyMap<string, string>;
}

const baseName = (rel: string) => rel.slice(rel.lastIndexOf('/') + 1);

/**
 * Rows whose file is gone: candidates for rename detection (same size, content checked by hashing). A rename
 * keeps the inode and usually the file name, so those choose first: a renamed directory of same-size files
 * pairs each file with its own old name, not with a sibling whose hash would not match (an upload instead).
 */
function renameSources(input: PlanInput, seen: Visibility): RenameSources {
  const { local, stored, remote } = input;
  const pools = new Map<string, { rows: ObjectRow[]; next: number }>();
  const pool = (k: string, r: ObjectRow) => {
    const p = pools.get(k) ?? { rows: [], next: 0 };
    p.rows.push(r);
    pools.set(k, p);
  };
  const claimed = new Map<string, string>();
  const take = (k: string): ObjectRow | undefined => {
    const p = pools.get(k);
    while (p && p.next < p.rows.length && claimed.has(p.rows[p.next]!.key)) p.next++;
    return p?.rows[p.next];
  };
  for (const [key, row] of stored) {
    if (local.has(key) || seen.isUnknown(key)) continue;
    // a spared row would not be removed, and only what is really there can be copied: no rename
    if (!removalOf(key, row, remote?.get(key), !!remote, seen.spared, input.prefix)?.source) continue;
    pool(`i${row.size}:${row.ino}`, row);
    pool(`n${row.size}:${baseName(row.rel)}`, row);
    pool(`s${row.size}`, row);
  }
  return {
    claimed,
    claim(key, file) {
      const twin = take(`i${file.size}:${file.ino}`) ?? take(`n${file.size}:${baseName(file.rel)}`) ?? take(`s${file.size}`);
      if (twin) claimed.set(twin.key, key);
      return twin;
    },
  };
}

/** planFile's verdict for a file with neither a row nor an object: a new file, or the new name of a rename. */
export const NEW = 'new';

/**
 * The action one local file needs from its own row and object alone: undefined (unchanged), an action, or NEW
 * (no row, no object: an upload, unless it is a rename, which only the whole set of removed rows can tell).
 * `listed`: the bucket was listed (an absent `obj` means there is no object).
 */
export function planKnown(key: string, file: LocalFile, row: ObjectRow | undefined, obj: RemoteObject | undefined, listed: boolean): Action | typeof NEW | undefined {
  if (isFresh(file, row)) {
    if (!listed || obj?.etag === row!.etag) return undefined;
    return { type: 'upload', key, file, reason: obj ? 'remote-differs' : 'missing-remote' };
  }
  // The file is new or changed since we recorded it. Prefer proving it is already there over uploading.
  if (obj && obj.size === file.size) {
    return { type: 'check', key, file, against: { etag: obj.etag, size: obj.size, partSize: row?.etag === obj.etag ? row.partSize : undefined }, reason: row ? 'touched' : 'adopt' };
  }
  if (!listed && row && row.size === file.size) {
    return { type: 'check', key, file, against: { etag: row.etag, size: row.size, partSize: row.partSize }, reason: 'touched' };
  }
  if (!row && !obj) return NEW;
  return { type: 'upload', key, file, reason: 'changed' };
}

/** The upload of a NEW file, or its copy from the rename source it claimed. */
export function newFileAction(key: string, file: LocalFile, twin: ObjectRow | undefined): Action {
  if (twin) return { type: 'copy', key, file, from: twin.key, against: { etag: twin.etag, size: twin.size, partSize: twin.partSize } };
  return { type: 'upload', key, file, reason: 'new' };
}

/** The action for one local file, or undefined when it needs none (unchanged). */
function planFile(key: string, file: LocalFile, input: PlanInput, sources: RenameSources): Action | undefined {
  const a = planKnown(key, file, input.stored.get(key), input.remote?.get(key), !!input.remote);
  return a === NEW ? newFileAction(key, file, sources.claim(key, file)) : a;
}

/**
 * What happens to a key with no local file, from its row and object alone: 'forget' the row (its object is gone),
 * 'remove' the object (delete or trash as `deletes` says; a row without one in `keep` mode is forgotten), or
 * undefined (nothing: the key is unknown, its path excluded and spared, or there is neither row nor object).
 * `source`: the row may be the old name of a rename (its object is really there, and can be copied).
 */
export function removalOf(key: string, row: ObjectRow | undefined, obj: RemoteObject | undefined, listed: boolean, spared: (rel: string) => boolean, prefix: string): { readonly kind: 'forget' | 'remove'; readonly source: boolean } | undefined {
  if (row) {
    if (listed && !obj) return { kind: 'forget', source: false };
    // Kept, not forgotten: the object is still there, and the row still describes it (status, un-excluding).
    if (spared(row.rel)) return undefined;
    const source = (!listed || obj?.etag === row.etag) && row.size <= MAX_COPY && row.size > 0;
    return { kind: 'remove', source };
  }
  if (!obj || spared(key.slice(prefix.length))) return undefined;
  return { kind: 'remove', source: false };
}

/** The action that removes `key` (a rename's old name when `renamedTo` is set); undefined when `deletes` keeps objects. */
export function removalAction(key: string, renamedTo: string | undefined, input: Pick<PlanInput, 'deletes' | 'trashPrefix' | 'prefix'>): Action | undefined {
  const rename = renamedTo === undefined ? {} : { renamedTo };
  if (input.deletes === 'mirror') return { type: 'delete', key, ...rename };
  if (input.deletes === 'trash') return { type: 'trash', key, to: input.trashPrefix + key.slice(input.prefix.length), ...rename };
  return undefined;
}

/** Removals and forgets for rows and objects whose file is gone; appended to `actions`. */
function planRemovals(input: PlanInput, seen: Visibility, claimed: ReadonlyMap<string, string>, actions: Action[]): void {
  const { local, stored, remote } = input;
  const listed = !!remote;
  for (const [key, row] of stored) {
    if (local.has(key) || seen.isUnknown(key)) continue;
    const r = removalOf(key, row, remote?.get(key), listed, seen.spared, input.prefix);
    if (!r) continue;
    actions.push((r.kind === 'remove' ? removalAction(key, claimed.get(key), input) : undefined) ?? { type: 'forget', key });
  }
  if (!remote) return;
  for (const [key, obj] of remote) {
    if (local.has(key) || stored.has(key) || seen.isUnknown(key)) continue;
    const r = removalOf(key, undefined, obj, listed, seen.spared, input.prefix);
    const a = r && removalAction(key, undefined, input);
    if (a) actions.push(a);
  }
}
