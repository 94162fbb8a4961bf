// The `failures` table: the files of a folder that the last reconcile covering them could not mirror, with the
// reason; an entry goes when a reconcile of its scope no longer reports it.
// Must not: decide what counts as a failure (the reconcile does); import from commands/ or any layer above state/.

import type { StateDb } from './db.js';

/** A file that could not be mirrored. */
export interface FailureRow {
  readonly rel: string;
  readonly reason: string;
  readonly firstAt: number;
  readonly lastAt: number;
  readonly attempts: number;
}

/** The failures table of one open DB. */
export class FailureTable {
  constructor(private readonly sdb: StateDb) {}

  /**
   * Record the failures of a reconcile. A full reconcile replaces the folder's list; a scoped one replaces
   * the entries of its scope (paths and everything under them) and leaves the others.
   */
  recordFailures(folder: string, failed: readonly { rel: string; reason: string }[], scope: readonly string[] | undefined, at: number): void {
    const { stmts } = this.sdb;
    const now = new Set(failed.map((f) => f.rel));
    const inScope = (rel: string) => !scope || scope.some((p) => rel === p || rel.startsWith(p + '/'));
    this.sdb.transaction(() => {
      for (const r of stmts.failList.all(folder)) if (inScope(r.rel) && !now.has(r.rel)) stmts.failClear.run(folder, r.rel);
      for (const f of failed) stmts.failUpsert.run(folder, f.rel, f.reason, at, at);
    });
  }

  /** The files of a folder that failed, with their reasons. */
  failures(folder: string): FailureRow[] {
    return this.sdb.guard(() => this.sdb.stmts.failList.all(folder).map((r) => ({
      rel: r.rel, reason: r.reason, firstAt: r.first_at, lastAt: r.last_at, attempts: r.attempts,
    })));
  }
}
