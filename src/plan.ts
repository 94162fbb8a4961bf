// PURE: (local files, stored rows, remote listing?) -> actions. No I/O, no clock; imports types only.
// The rules here are the product's promises; test/unit/plan.test.ts walks them as a table.

import type { DeleteMode, MaxDelete } from './config.js';
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
  | { readonly type: 'delete'; readonly key: string }
  | { readonly type: 'trash'; readonly key: string; readonly to: string }
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
  const { local, stored, remote } = input;
  const actions: Action[] = [];
  let unchanged = 0;
  const isUnknown = (key: string) => input.unknownKeys.has(key) || input.unknownPrefixes.some((p) => key.startsWith(p));

  // Rows whose file is gone: candidates for rename detection (same size, content checked by hashing).
  const vanishedBySize = new Map<number, ObjectRow[]>();
  for (const [key, row] of stored) {
    if (local.has(key) || isUnknown(key)) continue;
    if (remote && remote.get(key)?.etag !== row.etag) continue; // can only copy what is really there
    if (row.size > MAX_COPY || row.size === 0) continue;
    const list = vanishedBySize.get(row.size) ?? [];
    list.push(row);
    vanishedBySize.set(row.size, list);
  }
  const claimed = new Set<string>();

  for (const [key, file] of local) {
    const row = stored.get(key);
    const obj = remote?.get(key);
    if (isFresh(file, row)) {
      if (!remote || obj?.etag === row!.etag) unchanged++;
      else if (!obj) actions.push({ type: 'upload', key, file, reason: 'missing-remote' });
      else actions.push({ type: 'upload', key, file, reason: 'remote-differs' });
      continue;
    }
    // The file is new or changed since we recorded it. Prefer proving it is already there over uploading.
    if (obj && obj.size === file.size) {
      actions.push({ type: 'check', key, file, against: { etag: obj.etag, size: obj.size, partSize: row?.etag === obj.etag ? row.partSize : undefined }, reason: row ? 'touched' : 'adopt' });
      continue;
    }
    if (!remote && row && row.size === file.size) {
      actions.push({ type: 'check', key, file, against: { etag: row.etag, size: row.size, partSize: row.partSize }, reason: 'touched' });
      continue;
    }
    if (!row && !obj) {
      const twin = vanishedBySize.get(file.size)?.find((r) => !claimed.has(r.key));
      if (twin) {
        claimed.add(twin.key);
        actions.push({ type: 'copy', key, file, from: twin.key, against: { etag: twin.etag, size: twin.size, partSize: twin.partSize } });
        continue;
      }
    }
    actions.push({ type: 'upload', key, file, reason: row || obj ? 'changed' : 'new' });
  }

  const removal = (key: string): Action | undefined => {
    if (input.deletes === 'mirror') return { type: 'delete', key };
    if (input.deletes === 'trash') return { type: 'trash', key, to: input.trashPrefix + key.slice(input.prefix.length) };
    return undefined;
  };

  for (const [key] of stored) {
    if (local.has(key) || isUnknown(key)) continue;
    if (remote && !remote.has(key)) {
      actions.push({ type: 'forget', key });
      continue;
    }
    const a = removal(key);
    actions.push(a ?? { type: 'forget', key });
  }
  if (remote) {
    for (const [key] of remote) {
      if (local.has(key) || stored.has(key) || isUnknown(key)) continue;
      const a = removal(key);
      if (a) actions.push(a);
    }
  }
  return { actions, unchanged };
}

/** How many objects the delete guard allows removing, given how many the folder holds. */
export function deleteLimit(max: MaxDelete, total: number): number {
  if (max.kind === 'count') return max.count;
  // A percentage never blocks small clean-ups: at least 10 deletions are always allowed.
  // toPrecision(15) first: 375 * 18.4 / 100 is 68.99999999999999 in doubles, and 18.4% of 375 is 69.
  return Math.max(10, Math.floor(Number(((total * max.percent) / 100).toPrecision(15))));
}

/** True for actions that remove an object from its key. */
export function isRemoval(a: Action): a is Extract<Action, { type: 'delete' | 'trash' }> {
  return a.type === 'delete' || a.type === 'trash';
}
