// PURE: the guards around a plan and what it costs. Given counts, actions and the delete limit, say whether a
// reconcile may go on (the root suddenly empty? too many deletes?), which removals a rename keeps, and what a
// plan will cost in R2 operations. Folder acts on the decisions: it throws, logs and reports them.
// Must not: import anything but types, do I/O, read a clock, or log; test/unit/policy.test.ts walks it as a table.

import type { DeleteMode, MaxDelete } from './config.js';
import type { LocalFile } from './local/scan.js';
import type { Action } from './plan.js';
import type { ObjectRow } from './state/store.js';

/** Where a folder's objects are: named in the messages of the refusals. */
export interface FolderPlace {
  /** The folder's name in the config (`--folder`). */
  readonly name: string;
  /** The folder root on disk. */
  readonly path: string;
  readonly bucket: string;
  readonly prefix: string;
}

// --- removals and renames ------------------------------------------------------------------------------------

/** True for actions that remove an object from its key. */
export function isRemoval(a: Action): a is Extract<Action, { type: 'delete' | 'trash' }> {
  return a.type === 'delete' || a.type === 'trash';
}

/** True for a removal that is a delete of its own, not the source of a rename: what the delete guard counts. */
export function isDelete(a: Action): boolean {
  return isRemoval(a) && a.renamedTo === undefined;
}

/**
 * After the copies ran (or, in a dry run, were resolved by hashing): the removal of a rename source stays a
 * rename only when its copy really happened (`copied`); when the copy became an upload (the content differed:
 * a wrong disk can hold same-size files) or its file vanished, it is a plain removal the delete guard counts;
 * when the copy failed or did not run, the source is held for the next run (never lose both names).
 * `outcomes`: the outcome kind of each copy, by the key it copies to.
 */
export function settleRenames(actions: readonly Action[], outcomes: ReadonlyMap<string, string>): Action[] {
  const out: Action[] = [];
  for (const a of actions) {
    if (!isRemoval(a) || a.renamedTo === undefined) {
      out.push(a);
      continue;
    }
    const kind = outcomes.get(a.renamedTo);
    if (kind === 'copied') out.push(a);
    else if (kind !== undefined && kind !== 'failed') {
      const { renamedTo: _, ...plain } = a;
      out.push(plain);
    }
  }
  return out;
}

// --- the delete guard ----------------------------------------------------------------------------------------

/** How many objects the delete guard allows removing, given how many the folder holds. */
export function deleteLimit(max: MaxDelete, total: number): number {
  if (max.kind === 'count') return max.count;
  // A percentage never blocks small clean-ups: at least 10 deletions are always allowed.
  // toPrecision(15) first: 375 * 18.4 / 100 is 68.99999999999999 in doubles, and 18.4% of 375 is 69.
  return Math.max(10, Math.floor(Number(((total * max.percent) / 100).toPrecision(15))));
}

/** The delete guard's decision: go ahead, or refuse every delete (the rest of the plan goes ahead). */
export type DeleteVerdict =
  | { readonly refused: false }
  | { readonly refused: true; readonly removals: number; readonly limit: number; readonly message: string };

/**
 * Refuse every delete when there are more than the limit. The removal of a rename's old name is not a delete
 * (its content is at the new key): settleRenames() has made every removal whose copy did not happen a plain
 * one, so a wrong disk of same-size files is still counted in full. `total`: the objects the folder holds.
 */
export function checkDeletes(actions: readonly Action[], total: number, max: MaxDelete, place: FolderPlace): DeleteVerdict {
  return checkDeleteCount(actions.filter(isDelete).length, total, max, place);
}

/** checkDeletes for a plan that is not in memory (a streamed reconcile counts its deletes in its spool). */
export function checkDeleteCount(removals: number, total: number, max: MaxDelete, place: FolderPlace): DeleteVerdict {
  const limit = deleteLimit(max, total);
  if (removals <= limit) return { refused: false };
  const shown = max.kind === 'count' ? String(max.count) : `${max.percent}%`;
  const message = `refusing to delete ${removals} of ${total} objects under ${place.bucket}/${place.prefix} ` +
    `(maxDelete ${shown} allows ${limit}); nothing was deleted. Check that ${place.path} is the right disk; ` +
    `to allow it once: r2mirror sync --folder ${place.name} --max-delete ${removals}`;
  return { refused: true, removals, limit, message };
}

/** The plan without its deletes (renames' removals stay): what runs when the guard refused. */
export function withoutDeletes(actions: readonly Action[]): Action[] {
  return actions.filter((a) => !isDelete(a));
}

// --- an empty root -------------------------------------------------------------------------------------------

/** What a whole-folder reconcile saw: the evidence for "suddenly empty". */
export interface EmptinessInput {
  /** Regular files the scan saw, mirrorable or not (not links, not FIFOs: a bare mount point may hold those). */
  readonly regularFiles: number;
  /** Rows the state DB holds for the folder. */
  readonly stored: number;
  /** Objects the listing found under the prefix (0 without a listing). */
  readonly remote: number;
  readonly allowEmpty: boolean;
}

/**
 * A whole-folder reconcile of a root with no regular file, where the DB or the bucket says files were: the disk
 * is not mounted (or was swapped). The refusal's message, or undefined to go ahead.
 */
export function suddenlyEmpty(seen: EmptinessInput, place: FolderPlace): string | undefined {
  // Only regular files are evidence of a mounted disk: a bare mount point may hold a dangling link or a FIFO.
  if (seen.allowEmpty || seen.regularFiles > 0) return undefined;
  if (Math.max(seen.stored, seen.remote) === 0) return undefined;
  const evidence = seen.stored >= seen.remote
    ? `the state DB recorded ${seen.stored} files from it`
    : `the bucket holds ${seen.remote} objects under its prefix`;
  return `folder path ${place.path} is empty, but ${evidence} ` +
    `(unmounted disk?); nothing was deleted. If the folder really is empty now, run: r2mirror sync --folder ${place.name} --allow-empty`;
}

/**
 * Whether a scoped reconcile (paths only, no walk of the root) must first make sure the root holds a regular
 * file at all: it would remove objects, and `recorded` files are on record.
 */
export function mustCheckRoot(actions: readonly Action[], recorded: number, allowEmpty: boolean): boolean {
  return !allowEmpty && recorded > 0 && actions.some(isRemoval);
}

/** The refusal of a scoped reconcile that would delete while the root holds nothing at all. */
export function rootEmptied(recorded: number, place: FolderPlace): string {
  return `folder path ${place.path} is empty, but the state DB recorded ${recorded} files from it ` +
    `(unmounted disk?); nothing was deleted. If the folder really is empty now, run: r2mirror sync --folder ${place.name} --allow-empty`;
}

// --- files recorded on another device ------------------------------------------------------------------------

/** Whether to look for files recorded on a device that is not mounted any more (they would be deleted). */
export function checksDevices(deletes: DeleteMode, allowEmpty: boolean): boolean {
  return !allowEmpty && deletes !== 'keep';
}

/** What the scan saw: which keys it has, and which it could not see. */
export interface ScanSeen {
  readonly files: ReadonlyMap<string, LocalFile>;
  readonly unknownKeys: ReadonlySet<string>;
  readonly unknownPrefixes: readonly string[];
}

/** Rows with a recorded device whose file the scan did not find (and could have seen): the device suspects. */
export function missingRecorded(scan: ScanSeen, stored: ReadonlyMap<string, ObjectRow>): ObjectRow[] {
  const unknown = (k: string) => scan.unknownKeys.has(k) || scan.unknownPrefixes.some((p) => k.startsWith(p));
  const missing: ObjectRow[] = []; // a loop, not a copy of every row: only the missing ones are kept
  for (const r of stored.values()) if (r.dev && !scan.files.has(r.key) && !unknown(r.key)) missing.push(r);
  return missing;
}

// --- what a plan costs ---------------------------------------------------------------------------------------

/** R2 operations a plan will spend: Class A (PUT, COPY, LIST), Class B (HEAD, GET), free (DELETE). */
export interface Estimate {
  classA: number;
  classB: number;
  free: number;
}

/**
 * The operations `actions` will cost. A file up to `partSize` is one PUT; a larger one is create + its parts
 * + complete (`multipartParts(size)`: the number of parts keys.ts chooses for it). Deletes go 1,000 a request.
 */
export function estimate(actions: readonly Action[], partSize: number, multipartParts: (size: number) => number): Estimate {
  let classA = 0;
  let removals = 0;
  for (const a of actions) {
    if (a.type === 'upload') classA += a.file.size <= partSize ? 1 : 2 + multipartParts(a.file.size);
    else if (a.type === 'copy' || a.type === 'trash') classA += 1;
    if (isRemoval(a)) removals++;
  }
  return { classA, classB: 0, free: Math.ceil(removals / 1000) };
}

// --- trusting the state DB ---------------------------------------------------------------------------------------

/** What decides whether a whole-folder reconcile may compare with the state DB alone, without listing the bucket. */
export interface TrustInput {
  /** When the bucket prefix was last listed to the end for this bucket and prefix (undefined: never). */
  readonly lastListedAt: number | undefined;
  /** An unclean stop (or a stop that cut transfers off) left the folder owing a listing. */
  readonly needsListing: boolean;
  readonly now: number;
  /** How old a listing may be before drift behind our back must be looked for again (daemon.verifyInterval). */
  readonly verifyInterval: number;
}

/** Trust the DB (and since when it was last checked against the bucket), or list, and why. */
export type TrustDecision =
  | { readonly trust: true; readonly lastListedAt: number }
  | { readonly trust: false; readonly why: 'never listed' | 'listing due' | 'unclean stop'; readonly lastListedAt?: number };

/**
 * The one rule of the daemon's first reconcile and of `sync --trust-state`: list unless the last listing of this
 * bucket and prefix is younger than verifyInterval and no unclean stop since has made the DB doubtful.
 */
export function trustState(i: TrustInput): TrustDecision {
  if (i.lastListedAt === undefined) return { trust: false, why: 'never listed' };
  if (i.needsListing) return { trust: false, why: 'unclean stop', lastListedAt: i.lastListedAt };
  if (i.now - i.lastListedAt >= i.verifyInterval) return { trust: false, why: 'listing due', lastListedAt: i.lastListedAt };
  return { trust: true, lastListedAt: i.lastListedAt };
}
