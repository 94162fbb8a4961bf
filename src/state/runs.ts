// The `runs` table (one record per sync or daemon run: a run that never finished was killed) and the `live`
// table (the running daemon's published state, for `status`).
// Must not: decide what an unfinished run means (the engine sweeps after it); import from commands/ or any layer
// above state/.

import type { StateDb } from './db.js';

/** A run that never finished (the process was killed): the folders it reconciled, null for every folder (schema 2). */
export interface UnfinishedRun {
  readonly id: number;
  readonly kind: string;
  readonly startedAt: number;
  readonly folders: string[] | null;
}

/** The daemon's row in the `live` table. */
export interface LiveRow {
  readonly pid: number;
  readonly startedAt: number;
  readonly updatedAt: number;
  readonly state: unknown;
}

/** The runs table of one open DB. */
export class RunTable {
  constructor(private readonly sdb: StateDb) {}

  /**
   * Every run other than `except` that never finished. Only one process holds the DB lock, so each of them was
   * killed (or lost power) while it ran.
   */
  unfinishedRuns(except = -1): UnfinishedRun[] {
    return this.sdb.guard(() => this.sdb.stmts.runsUnfinished.all(except)).map((r) => ({
      id: r.id, kind: r.kind, startedAt: r.started_at, folders: parseFolders(r.folders),
    }));
  }

  /** Start a run record with the folders it reconciles; returns its id. */
  runStarted(kind: string, at: number, folders?: readonly string[]): number {
    return Number(this.sdb.guard(() => this.sdb.stmts.runStart.run(kind, at, folders ? JSON.stringify(folders) : null)).lastInsertRowid);
  }

  /** Finish a run record with its JSON summary. */
  runFinished(id: number, at: number, summary: unknown): void {
    this.sdb.guard(() => this.sdb.stmts.runEnd.run(at, JSON.stringify(summary), id));
  }

  /** Close the records of killed runs once what they left behind was swept: they are no longer unfinished. */
  runsInterrupted(ids: readonly number[], at: number): void {
    this.sdb.transaction(() => {
      for (const id of ids) this.sdb.stmts.runEnd.run(at, JSON.stringify({ crashed: true }), id);
    });
  }
}

/** The live table of one open DB (one row at most). */
export class LiveTable {
  constructor(private readonly sdb: StateDb) {}

  /** Publish the running daemon's state (for `status`). */
  setLive(pid: number, startedAt: number, state: unknown): void {
    this.sdb.guard(() => this.sdb.stmts.liveSet.run(pid, startedAt, Date.now(), JSON.stringify(state)));
  }

  /** The daemon's last published state, if any (it may be stale: check the pid and updatedAt). */
  live(): LiveRow | undefined {
    const r = this.sdb.guard(() => this.sdb.stmts.liveGet.get());
    return r ? { pid: r.pid, startedAt: r.started_at, updatedAt: r.updated_at, state: JSON.parse(r.state) as unknown } : undefined;
  }

  /** The daemon stopped: remove its live state. */
  clearLive(): void {
    this.sdb.guard(() => this.sdb.stmts.liveClear.run());
  }
}

/** runs.folders: a JSON array of names; anything else (NULL from schema 2, damage) means every folder. */
function parseFolders(s: string | null): string[] | null {
  if (s === null) return null;
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : null;
  } catch {
    return null;
  }
}
