// The streamed reconcile of a whole folder: the merge (merge.ts) decides key by key with plan.ts's rules and sends
// each transfer on at once, with backpressure; what needs the whole picture waits in a Spool (state/spool.ts):
// new files that may be renames, and every key whose file is gone. Once the merge ended: the "suddenly empty"
// guard, the device hold, the renames (claimed from the spool's indexes), then, with every copy settled, the
// delete guard on the spool's count, and the removals a page at a time. Memory: pages, not the tree.
// Must not: run a removal before the guards had the whole count, or hold a per-file structure in memory.

import type { MaxDelete } from '../config.js';
import { FolderUnsafeError } from '../errors.js';
import { toKey } from '../keys.js';
import type { Logger } from '../log.js';
import { NEW, newFileAction, planKnown, removalAction, removalOf, type Action, type PlanInput } from '../plan.js';
import { checkDeleteCount, checksDevices, isDelete, suddenlyEmpty } from '../policy.js';
import type { GoneEntry, Spool } from '../state/spool.js';
import { streamedDeviceMoves, reportDeviceMoves } from './devices.js';
import type { KeyView, Merge } from './merge.js';
import { addError } from './report.js';
import type { FolderDeps, FolderReport, Progress } from './types.js';

/** Where the actions of a streamed reconcile go: the transfer queue, or a dry run's plan. */
export interface StreamSink {
  /** Run (or resolve and show) one upload, check or copy; resolves once the queue has room. A copy's outcome goes to spool.settle. */
  file(a: Extract<Action, { type: 'upload' | 'check' | 'copy' }>): Promise<void>;
  /** Resolves once every file action settled. */
  settle(): Promise<void>;
  /** Run (or show) these removals and forgets. */
  removals(actions: Action[]): Promise<void>;
  /** A graceful stop began: removals wait for the next run (a rename must not lose its source first). */
  readonly stopped: boolean;
}

/** What the merge is asked to decide with. */
export interface StreamOptions {
  readonly listed: boolean;
  readonly maxDelete: MaxDelete;
  readonly allowEmpty: boolean;
  /** Hold back new files until every removed row is known (they may be renames); false when no row exists. */
  readonly deferNew: boolean;
  readonly spared: (rel: string) => boolean;
  /** Called once the merge ended (the walk's problems are known then); returns the regular files the walk saw. */
  readonly merged: () => number;
  /** Counts the files and objects compared, for the progress line. */
  readonly progress?: Progress | undefined;
  /** Every file action of this reconcile is queued (the merge and the renames ended). */
  readonly queued?: (() => void) | undefined;
}

/** One streamed reconcile of one folder. */
export class StreamedReconcile {
  private stored = 0;
  private remote = 0;
  private readonly plan: Pick<PlanInput, 'prefix' | 'deletes' | 'trashPrefix'>;

  constructor(private readonly deps: FolderDeps, private readonly spool: Spool, private readonly sink: StreamSink,
    private readonly opts: StreamOptions, private readonly report: FolderReport, private readonly log: Logger) {
    const { prefix, deletes, trashPrefix } = deps.config;
    this.plan = { prefix, deletes, trashPrefix };
  }

  /**
   * Merge, guard, rename, remove. False when a graceful stop cut it short (the rest waits for the next run; the
   * removals always do). Throws FolderUnsafeError for a root that is suddenly empty; on any throw the transfers
   * already confirmed keep their rows.
   */
  async run(merge: Merge): Promise<boolean> {
    try {
      return await this.steps(merge);
    } catch (err) {
      await this.sink.settle().catch(() => undefined); // a fatal error is the one thrown already
      throw err;
    }
  }

  private async steps(merge: Merge): Promise<boolean> {
    for await (const k of merge.keys()) {
      if (this.sink.stopped) return this.stop();
      await this.decide(k);
    }
    const { config } = this.deps;
    const refusal = suddenlyEmpty({ regularFiles: this.opts.merged(), stored: this.stored, remote: this.remote, allowEmpty: this.opts.allowEmpty }, config);
    if (refusal) throw new FolderUnsafeError(refusal);
    if (checksDevices(config.deletes, this.opts.allowEmpty)) this.holdDeviceMoves();
    await this.renames();
    this.opts.queued?.();
    await this.sink.settle();
    if (this.sink.stopped) return false;
    await this.removals();
    return true;
  }

  /** A graceful stop: the transfers queued finish (and keep their rows); nothing else is decided. */
  private async stop(): Promise<false> {
    await this.sink.settle();
    return false;
  }

  /** One key: a transfer now, nothing (unchanged), or a note in the spool for after the merge. */
  private async decide(k: KeyView): Promise<void> {
    const { key, file, row, obj } = k;
    if (row) this.stored++;
    if (obj) this.remote++;
    const p = this.opts.progress;
    if (p) {
      if (file) p.scanned++;
      if (obj) p.listed++;
    }
    if (file) {
      const a = planKnown(key, file, row, obj, this.opts.listed);
      if (a === undefined) this.report.unchanged++;
      else if (a !== NEW) await this.sink.file(a as Extract<Action, { type: 'upload' | 'check' }>);
      else if (this.opts.deferNew) this.spool.addFresh(file);
      else await this.sink.file({ type: 'upload', key, file, reason: 'new' });
      return;
    }
    if (k.unknown) return;
    const r = removalOf(key, row, obj, this.opts.listed, this.opts.spared, this.plan.prefix);
    if (row) this.spool.addGone(key, r?.kind ?? 'keep', row, !!r?.source);
    else if (r && removalAction(key, undefined, this.plan)) this.spool.addGone(key, 'remove', undefined, false);
  }

  /** Directories whose recorded files are missing because their disk is not mounted there: nothing under them goes. */
  private holdDeviceMoves(): void {
    const { config, store } = this.deps;
    const moves = streamedDeviceMoves(config, store, this.spool);
    for (const c of moves) this.spool.hold(toKey(config.prefix, c.rel ? c.rel + '/' : ''));
    if (moves.length) reportDeviceMoves(config, moves, this.report, this.log);
  }

  /** The held-back new files: a copy from the removed row each claims (plan.ts's rule), or an upload. */
  private async renames(): Promise<void> {
    if (!this.spool.hasFresh) return;
    for (const page of this.spool.freshFiles()) {
      for (const f of page) {
        if (this.sink.stopped) return; // run() sees it after settle()
        await this.sink.file(newFileAction(f.key, f, this.spool.claim(f)) as Extract<Action, { type: 'upload' | 'copy' }>);
      }
    }
  }

  /** The delete guard on the whole count, then every removal and forget, a page at a time in key order. */
  private async removals(): Promise<void> {
    const total = Math.max(this.stored, this.remote);
    const plain = this.plan.deletes === 'keep' ? 0 : this.spool.plainRemovals();
    const verdict = checkDeleteCount(plain, total, this.opts.maxDelete, this.deps.config);
    if (verdict.refused) {
      addError(this.report, verdict.message);
      this.log.error({ removals: verdict.removals, limit: verdict.limit, reason: verdict.message }, 'deletes refused');
    }
    for (const page of this.spool.goneEntries()) {
      const actions: Action[] = [];
      for (const e of page) {
        const a = this.removalFor(e);
        if (a && !(verdict.refused && isDelete(a))) actions.push(a);
      }
      if (actions.length) await this.sink.removals(actions);
    }
  }

  /** What to do with a key whose file is gone, now that the renames' copies settled (policy.settleRenames's rule). */
  private removalFor(e: GoneEntry): Action | undefined {
    if (e.kind === 'keep') return undefined;
    const forget: Action | undefined = e.hasRow ? { type: 'forget', key: e.key } : undefined;
    if (e.kind === 'forget') return forget;
    if (e.claimedBy === null) return removalAction(e.key, undefined, this.plan) ?? forget;
    if (this.plan.deletes === 'keep') return forget;
    if (e.outcome === 'copied') return removalAction(e.key, e.claimedBy, this.plan);
    // The copy became an upload (other content) or its file vanished: a plain removal; failed or not run: held.
    return e.outcome === null || e.outcome === 'failed' ? undefined : removalAction(e.key, undefined, this.plan);
  }
}
