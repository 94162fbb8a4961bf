// What a verification found: the per-folder report and the whole run's (what `verify --json` prints), and the
// counts the state DB keeps of it for `status`. Printing them is the command's job.
// Must not: do I/O, format text for a terminal, or import anything but types.

import type { OpCounts } from '../remote/bucket.js';
import type { Difference, DifferenceKind, VerifyCounts } from './compare.js';

/** What `verify --json` prints for one folder. */
export interface FolderVerifyReport {
  readonly name: string;
  readonly path: string;
  readonly bucket: string;
  readonly prefix: string;
  ok: boolean;
  /** Why the disk was not compared (missing or empty root): a difference of its own. */
  error: string | null;
  /** Something worth knowing that is not a difference (rows recorded for another bucket or prefix). */
  note: string | null;
  counts: VerifyCounts;
  differences: Difference[];
}

/** What `verify --json` prints. */
export interface VerifyReport {
  ok: boolean;
  exitCode: number;
  durationMs: number;
  /** Whether the result was written to the state DB for `status` (notRecorded says why not). */
  recorded: boolean;
  notRecorded?: string;
  folders: FolderVerifyReport[];
  ops: OpCounts;
}

/** What the state DB keeps of a verification (for `status`): counts, not the list. */
export interface RecordedVerify {
  /** What was checked: `status` shows the result only while the config names the same. */
  readonly bucket: string;
  readonly prefix: string;
  readonly ok: boolean;
  readonly keys: number;
  readonly agree: number;
  readonly differences: number;
  readonly byKind: Partial<Record<DifferenceKind, number>>;
  readonly error: string | null;
}
