// What a restore did (or, with --dry-run, would do): the report's shape, an empty one to fill, and how it is
// closed (lists sorted by key, ok and exit code). Printing it is the command's job.
// Must not: do I/O, format text for a terminal, or import anything but types.

import type { OpCounts } from '../remote/bucket.js';

/** One planned step of a `--dry-run`. */
export interface PlannedRestore {
  readonly action: 'restore' | 'replace';
  readonly key: string;
  readonly path: string;
  readonly size: number;
}

/** What a restore did (or, with --dry-run, would do). */
export interface RestoreReport {
  ok: boolean;
  dryRun: boolean;
  folder: string;
  bucket: string;
  /** The key prefix that was listed. */
  prefix: string;
  to: string;
  /** Files written (with --dry-run: that would be). */
  restored: number;
  bytes: number;
  /** Files already identical on disk (same size and ETag): not downloaded. */
  skipped: number;
  /** Existing files with other content, left alone (no --force). */
  conflicts: { key: string; path: string; reason: string }[];
  failed: { key: string; reason: string }[];
  /** Objects whose ETag differs from the one the state DB recorded: changed in the bucket by something else. */
  changed: { key: string; reason: string }[];
  planned?: PlannedRestore[];
  ops: OpCounts;
  durationMs: number;
  exitCode: number;
}

/** An empty report for restoring `prefix` of `bucket` into `to`. */
export function newReport(r: { folder: string; bucket: string; prefix: string; to: string; dryRun: boolean }): RestoreReport {
  return {
    ok: true, dryRun: r.dryRun, folder: r.folder, bucket: r.bucket, prefix: r.prefix, to: r.to,
    restored: 0, bytes: 0, skipped: 0, conflicts: [], failed: [], changed: [], ...(r.dryRun ? { planned: [] } : {}),
    ops: { classA: 0, classB: 0, free: 0, byOp: {} }, durationMs: 0, exitCode: 0,
  };
}

/** Sort the lists by key (downloads finish in any order) and set ok and the exit code. */
export function closeReport(report: RestoreReport): RestoreReport {
  const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  for (const list of [report.conflicts, report.failed, report.changed, report.planned ?? []]) list.sort(byKey);
  report.ok = report.failed.length === 0 && report.conflicts.length === 0 && report.changed.length === 0;
  report.exitCode = report.ok ? 0 : 1;
  return report;
}
