// The `folders` table: one row per mirrored folder (its bucket and prefix, when it was last reconciled and
// listed, whether it owes a listing, the operations spent on it, its last verification).
// Must not: write while the DB is read-only; decide when a folder is synced (callers do); import from commands/
// or any layer above state/.

import type { StateDb } from './db.js';

/** Per-folder bookkeeping. */
/** A folder's trash as recorded: where, how it expires, and what its last listing found. */
export interface TrashState {
  readonly prefix: string;
  /** The expiry in whole days, as the lifecycle rule has it. */
  readonly days: number;
  /** 'rule': the bucket's lifecycle rule expires it; 'self': r2mirror deletes expired objects at each listing. */
  readonly expiry: 'rule' | 'self';
  /** Why the bucket has no rule (expiry 'self'). */
  readonly reason?: string | undefined;
  readonly files: number;
  readonly bytes: number;
  readonly listedAt: number;
}

export interface FolderRow {
  readonly name: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly lastSync: number | null;
  readonly lastList: number | null;
}

/** A folder as `status` shows it. */
export interface FolderStatus extends FolderRow {
  readonly files: number;
  readonly bytes: number;
  readonly ops: { classA: number; classB: number; free: number };
  /** An unclean stop may have left the DB behind the bucket: the next full reconcile lists it. */
  readonly needsList: boolean;
}

/** The folders table of one open DB. */
export class FolderTable {
  /** Folders whose bucket/prefix changed while the DB is read-only: their rows describe other keys. */
  readonly stale = new Set<string>();

  constructor(private readonly sdb: StateDb) {}

  /** The folder's bookkeeping row. A changed bucket or prefix forgets the folder's rows (they describe other keys). */
  folder(name: string, bucket: string, prefix: string): FolderRow {
    return this.sdb.guard(() => this.folderRow(name, bucket, prefix));
  }

  private folderRow(name: string, bucket: string, prefix: string): FolderRow {
    const { stmts, db, ro } = this.sdb;
    let r = stmts.folderGet.get(name);
    if (!r) {
      if (!ro) stmts.folderInsert.run(name, bucket, prefix);
      return { name, bucket, prefix, lastSync: null, lastList: null };
    }
    if (r.bucket !== bucket || r.prefix !== prefix) {
      if (ro) {
        this.stale.add(name);
        return { name, bucket, prefix, lastSync: null, lastList: null };
      }
      db.transaction(() => {
        stmts.folderDeleteRows.run(name);
        stmts.folderReset.run(bucket, prefix, name);
      })();
      r = stmts.folderGet.get(name)!;
    }
    return { name, bucket, prefix, lastSync: r.last_sync, lastList: r.last_list };
  }

  /**
   * True when the folder was recorded with another bucket or prefix: its rows describe other keys, and
   * folder() will forget them. Lets a caller confirm the new bucket answers before that happens.
   */
  moved(name: string, bucket: string, prefix: string): boolean {
    const r = this.sdb.guard(() => this.sdb.stmts.folderGet.get(name));
    return !!r && (r.bucket !== bucket || r.prefix !== prefix);
  }

  /**
   * Mark a completed reconcile (and, when listed, a completed remote listing). `converged` (default: listed):
   * the listing's plan ran whole (no guard held deletes back), so the bucket, the folder and the DB agree and a
   * listing owed since an unclean stop is paid.
   */
  markSynced(folder: string, at: number, listed: boolean, converged = listed): void {
    const { stmts } = this.sdb;
    this.sdb.guard(() => {
      stmts.folderSetSync.run(at, folder);
      if (listed) stmts.folderSetList.run(at, folder);
      if (listed && converged) stmts.folderNeedsList.run(0, folder);
    });
  }

  /** These folders' next full reconcile must list the bucket (an unclean stop may have left the DB behind it). */
  setNeedsList(folders: readonly string[]): void {
    this.sdb.transaction(() => {
      for (const f of folders) this.sdb.stmts.folderNeedsList.run(1, f);
    });
  }

  /** True while the folder owes a listing since an unclean stop. */
  needsList(folder: string): boolean {
    return !!this.sdb.guard(() => this.sdb.stmts.folderGetNeedsList.get(folder))?.needs_list;
  }

  /** Every folder the DB knows, with its counts and the operations spent on it. */
  folders(): FolderStatus[] {
    const { stmts } = this.sdb;
    return this.sdb.guard(() => stmts.folderAll.all().map((r) => {
      const c = stmts.count.get(r.name)!;
      return {
        name: r.name, bucket: r.bucket, prefix: r.prefix, lastSync: r.last_sync, lastList: r.last_list, files: c.n, bytes: c.bytes ?? 0,
        ops: { classA: r.ops_a, classB: r.ops_b, free: r.ops_free }, needsList: !!r.needs_list,
      };
    }));
  }

  /** Add requests spent on a folder to its running total. */
  addOps(folder: string, ops: { classA: number; classB: number; free: number }): void {
    if (!ops.classA && !ops.classB && !ops.free) return;
    this.sdb.guard(() => this.sdb.stmts.folderAddOps.run(ops.classA, ops.classB, ops.free, folder));
  }

  /**
   * Record the result of an `r2mirror verify` of a folder (its JSON summary). Touches only the folder's verify
   * columns (creating its folders row if it has none); false when the DB knows the folder under another bucket
   * or prefix, and nothing was recorded.
   */
  recordVerify(name: string, bucket: string, prefix: string, at: number, result: unknown): boolean {
    return this.sdb.guard(() => this.sdb.stmts.verifySet.run({ name, bucket, prefix, at, result: JSON.stringify(result) }).changes > 0);
  }

  /** Record what the folder's trash holds and how it expires (a folder with trashRetention; its row must exist). */
  recordTrash(name: string, trash: TrashState): void {
    this.sdb.guard(() => this.sdb.stmts.trashSet.run(JSON.stringify(trash), name));
  }

  /** Forget the folder's trash record (its trashRetention was taken off). */
  clearTrash(name: string): void {
    this.sdb.guard(() => this.sdb.stmts.trashSet.run(null, name));
  }

  /** What was last recorded of the folder's trash; undefined if nothing (or a damaged value). */
  trash(name: string): TrashState | undefined {
    const r = this.sdb.guard(() => this.sdb.stmts.trashGet.get(name));
    try {
      return r?.trash ? JSON.parse(r.trash) as TrashState : undefined;
    } catch {
      return undefined;
    }
  }

  /** The last recorded verification of a folder (result: its JSON summary, null if unreadable); undefined if none. */
  verification(name: string): { bucket: string; prefix: string; at: number; result: unknown } | undefined {
    const r = this.sdb.guard(() => this.sdb.stmts.verifyGet.get(name));
    if (!r || r.verified_at === null) return undefined;
    let result: unknown = null;
    try {
      result = r.verify_result === null ? null : JSON.parse(r.verify_result) as unknown;
    } catch {
      // written by us, so never in practice; a damaged value must not stop `status`
    }
    return { bucket: r.bucket, prefix: r.prefix, at: r.verified_at, result };
  }
}
