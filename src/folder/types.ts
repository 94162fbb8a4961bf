// The shapes of one folder's reconcile, shared by folder.ts and its parts in folder/: what it is asked to look at
// (Scope), its options and dependencies, and what it reports. Types only, so the parts never import folder.ts.
// Must not: hold code; import anything but types.

import type PQueue from 'p-queue';
import type { FolderConfig, MaxDelete } from '../config.js';
import type { Logger } from '../log.js';
import type { Bucket } from '../remote/bucket.js';
import type { SpillList } from '../state/spool.js';
import type { Store } from '../state/store.js';
import type { ByteBudget } from '../transfer.js';

/** Counters shown on the progress line, shared by all folders of a run. */
export interface Progress {
  /** Files queued for a transfer so far, and their bytes. */
  filesTotal: number;
  filesDone: number;
  bytesTotal: number;
  bytesDone: number;
  /** Of bytesDone, those counted without being sent (the parts a resumed upload found on the server): not in the rate. */
  bytesResumed: number;
  /** Local files and listed objects the reconciles have compared so far (the line's counter while walking). */
  scanned: number;
  listed: number;
  /** Reconciles still walking and listing: while any is, the totals still grow (no percent, no ETA). */
  merging: number;
  /** Big files being sent now, by name: size and bytes sent (the line names the biggest). */
  readonly active: Map<string, { size: number; sent: number }>;
}

/** Files and bytes of one kind of result. */
export interface Tally {
  files: number;
  bytes: number;
}

/** One planned action as `--dry-run` shows it. */
export interface PlannedAction {
  readonly action: 'upload' | 'adopt' | 'copy' | 'delete' | 'trash' | 'forget';
  readonly key: string;
  readonly reason?: string;
  readonly size?: number;
  readonly from?: string;
  readonly to?: string;
  /** A delete or trash that removes the old name of a rename (the copy to this key): not counted as a delete. */
  readonly renamedTo?: string;
}

/** What one reconcile of one folder did (or, in a dry run, would do). */
export interface FolderReport {
  readonly name: string;
  readonly path: string;
  ok: boolean;
  /** Why the folder was not reconciled, or why deletes were refused. */
  error?: string;
  uploaded: Tally;
  /** Uploads that resumed an interrupted multipart upload, and the bytes already on the server (not sent again). */
  resumed: Tally;
  adopted: Tally;
  copied: Tally;
  /** Objects deleted (or trashed) because their file was deleted; a rename's old name is counted in `copied`. */
  deleted: number;
  trashed: number;
  unchanged: number;
  skipped: { rel: string; reason: string }[];
  failed: { rel: string; reason: string }[];
  /**
   * `sync --trust-state` only: whether the bucket was listed (and why: never listed, listing due, unclean stop)
   * or the state DB trusted, and when the prefix was last listed to the end (ms since the epoch).
   */
  listing?: { readonly listed: boolean; readonly why?: string; readonly lastListedAt?: number | undefined };
  /** Dry runs only: the plan (in memory up to 1,000 actions, the rest spilled to a temporary file) and what it would cost. */
  planned?: SpillList<PlannedAction>;
  estimate?: { classA: number; classB: number; free: number };
}

/**
 * What one reconcile looks at.
 * - `paths`: only these paths (relative to the root): the daemon's reconcile of what its watcher saw. No listing;
 *   the stored rows of these paths (and of everything under them, for removed directories) are the other side.
 * - `local`: the whole folder against the state DB, without listing the bucket.
 * - `listing`: the whole folder against the DB and a listing of the bucket prefix (finds drift, adopts objects).
 */
export type Scope =
  | { readonly kind: 'paths'; readonly paths: readonly string[] }
  | { readonly kind: 'local' }
  | { readonly kind: 'listing' };

/** Options for one reconcile. */
export interface ReconcileOptions {
  readonly scope: Scope;
  readonly dryRun: boolean;
  readonly maxDelete: MaxDelete;
  readonly allowEmpty: boolean;
  readonly signal?: AbortSignal | undefined;
  readonly progress: Progress;
  /**
   * Releases this folder's part of `progress.merging` that the caller counted before the reconcile began (a sync of
   * several folders counts them all up front, so no percent shows while one has not started walking). Idempotent;
   * without it the reconcile counts itself.
   */
  readonly mergeHeld?: (() => void) | undefined;
  /** Once aborted, start no new transfer; running ones finish (a graceful stop). `signal` aborts them too. */
  readonly drain?: AbortSignal | undefined;
}

/** Shared parts a folder needs, wired by the engine. */
export interface FolderDeps {
  readonly config: FolderConfig;
  readonly store: Store;
  readonly bucket: Bucket;
  readonly queue: PQueue;
  readonly budget: ByteBudget;
  readonly log: Logger;
  readonly partSize: number;
  readonly retries: number;
  readonly transfers: number;
  readonly alwaysExclude: readonly string[];
  readonly backoffMs?: number | undefined;
  /** The S3 endpoint URL, named in "did not answer" errors. */
  readonly endpoint?: string | undefined;
}
