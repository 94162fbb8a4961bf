// Runs a folder's planned actions: file transfers on the shared queue with backpressure, their rows committed
// in batches after success; then, once every copy is settled and the delete guard has had its say, the
// removals (trash copies, then deletes 1,000 a request), each row dropped only after the server confirmed.
// Must not: plan, or write a row for anything the server did not confirm.

import { classify, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Action } from '../plan.js';
import { isRemoval, settleRenames } from '../policy.js';
import { withRetry, type RetryOptions } from '../retry.js';
import type { Outcome, TransferContext } from '../transfer.js';
import type { Spool } from '../state/spool.js';
import type { StreamSink } from './stream.js';
import { TransferRun } from './transfers.js';
import { journalOf } from './uploads.js';
import type { FolderDeps, FolderReport, ReconcileOptions } from './types.js';

type RunOptions = Pick<ReconcileOptions, 'signal' | 'drain' | 'progress'>;

/** Runs the actions of one reconcile of one folder. */
export class ActionRunner {
  constructor(private readonly deps: FolderDeps, private readonly log: Logger) {}

  /** Transfers first, then (unless draining) the removals the guard lets through. Throws the first fatal error. */
  async run(planned: Action[], opts: RunOptions, report: FolderReport, guard: (settled: Action[]) => Action[]): Promise<void> {
    const copies = new Map<string, string>();
    const run = this.transfers(opts, report, (a, kind) => copies.set(a.key, kind));
    for (const a of planned) if (a.type === 'upload' || a.type === 'check' || a.type === 'copy') await run.add(a);
    await run.finish();
    if (opts.drain?.aborted) return; // removals wait for the next run: a rename must not lose its source first
    // Removals after every upload and copy, so a rename never leaves a moment with neither key.
    await this.removals(guard(settleRenames(planned, copies)), opts.signal, report);
  }

  /** A run of file actions fed one at a time (see TransferRun); `onCopy` hears each rename's copy outcome. */
  transfers(opts: RunOptions, report: FolderReport, onCopy: (a: Extract<Action, { type: 'copy' }>, kind: string) => void): TransferRun {
    return new TransferRun(this.deps, opts, this.transferContext.bind(this), (o, a, ms) => {
      this.record(o, a, report, ms);
      if (a.type === 'copy') onCopy(a, o.kind);
    });
  }

  /** What every transfer of the run shares; TransferRun adds each action's byte count (onBytes) for the progress line. */
  private transferContext(signal: AbortSignal): TransferContext {
    const { config, bucket } = this.deps;
    return {
      bucket, root: config.path, followSymlinks: config.followSymlinks, partSize: this.deps.partSize, budget: this.deps.budget,
      retries: this.deps.retries, deleteVanished: config.deletes === 'mirror', log: this.log, signal, backoffMs: this.deps.backoffMs,
      journal: journalOf(this.deps.store, config.name),
    };
  }

  /** Forget, trash and delete; a rename's old name is removed without counting as a delete. */
  async removals(actions: Action[], signal: AbortSignal | undefined, report: FolderReport): Promise<void> {
    const { store, config } = this.deps;
    const renames = new Set(actions.filter((a) => isRemoval(a) && a.renamedTo !== undefined).map((a) => a.key));
    const forgets = actions.filter((a) => a.type === 'forget');
    if (forgets.length) store.batch(() => forgets.forEach((a) => store.delete(config.name, a.key)));
    const trashed = await this.trash(actions.filter((a): a is Extract<Action, { type: 'trash' }> => a.type === 'trash'), signal, report);
    const deletes = [...actions.filter((a) => a.type === 'delete').map((a) => a.key), ...trashed];
    const trashedSet = new Set(trashed);
    for (let i = 0; i < deletes.length; i += 1000) {
      const done = await this.deleteChunk(deletes.slice(i, i + 1000), signal, report);
      for (const k of done) {
        if (renames.has(k)) {
          this.log.debug({ key: k }, 'removed the old name of a renamed file'); // counted (and logged) as renamed
          continue;
        }
        if (trashedSet.has(k)) report.trashed++;
        else report.deleted++;
        this.log.info({ key: k }, trashedSet.has(k) ? 'moved to trash' : 'deleted');
      }
    }
  }

  /** Copy each object to its trash key; returns the keys copied (their originals are deleted next). */
  private async trash(trash: Extract<Action, { type: 'trash' }>[], signal: AbortSignal | undefined, report: FolderReport): Promise<string[]> {
    const { queue, bucket } = this.deps;
    const trashed: string[] = [];
    await Promise.all(trash.map((a) => queue.add(async () => {
      try {
        await withRetry(() => bucket.copy(a.key, a.to, signal), this.retryOpts('copy to trash', signal));
        trashed.push(a.key);
      } catch (err) {
        this.failRemoval(err, a.key, report);
      }
    }, { signal })));
    return trashed;
  }

  /** Delete up to 1,000 keys in one request; drops the rows of those deleted and returns them. */
  private async deleteChunk(chunk: string[], signal: AbortSignal | undefined, report: FolderReport): Promise<string[]> {
    const { store, config, bucket } = this.deps;
    let errors: { key: string; reason: string }[];
    try {
      errors = await withRetry(() => bucket.deleteMany(chunk, signal), this.retryOpts('delete', signal));
    } catch (err) {
      chunk.forEach((k) => this.failRemoval(err, k, report));
      return [];
    }
    const bad = new Set(errors.map((e) => e.key));
    errors.forEach((e) => report.failed.push({ rel: e.key, reason: `delete failed: ${e.reason}` }));
    const done = chunk.filter((k) => !bad.has(k));
    store.batch(() => done.forEach((k) => store.delete(config.name, k)));
    return done;
  }

  private retryOpts(what: string, signal?: AbortSignal): RetryOptions {
    return { retries: this.deps.retries, baseMs: this.deps.backoffMs, signal, log: this.log, what };
  }

  private failRemoval(err: unknown, key: string, report: FolderReport): void {
    const c = classify(err);
    if (c === 'fatal' || c === 'abort') throw err;
    report.failed.push({ rel: key, reason: `delete failed: ${describeError(err)}` });
    this.log.error({ key, err }, 'delete failed');
  }

  private record(o: Outcome, a: Action, report: FolderReport, ms: number): void {
    switch (o.kind) {
      case 'uploaded':
        report.uploaded.files++;
        report.uploaded.bytes += o.bytes;
        if (o.resumedBytes) {
          report.resumed.files++;
          report.resumed.bytes += o.resumedBytes;
        }
        this.log.info({ key: o.key, bytes: o.bytes, ms, reason: a.type === 'upload' ? a.reason : 'changed', ...(o.resumedBytes ? { resumedBytes: o.resumedBytes } : {}) }, 'uploaded');
        break;
      case 'adopted':
        report.adopted.files++;
        report.adopted.bytes += o.bytes;
        this.log.info({ key: o.key, bytes: o.bytes }, 'already in the bucket; recorded without upload');
        break;
      case 'copied':
        report.copied.files++;
        report.copied.bytes += o.bytes;
        this.log.info({ key: o.key, from: a.type === 'copy' ? a.from : undefined }, 'renamed (server-side copy)');
        break;
      case 'failed':
        report.failed.push({ rel: o.rel, reason: o.reason });
        break;
      case 'gone':
        break;
    }
  }
}

/** A streamed reconcile's actions, run for real: transfers on the queue, removals a page at a time. */
export class RunSink implements StreamSink {
  private readonly run: TransferRun;
  constructor(private readonly runner: ActionRunner, spool: Spool, private readonly opts: RunOptions, private readonly report: FolderReport) {
    this.run = runner.transfers(opts, report, (a, kind) => spool.settle(a.from, kind));
  }

  file(a: Parameters<StreamSink['file']>[0]): Promise<void> {
    return this.run.add(a);
  }

  settle(): Promise<void> {
    return this.run.finish();
  }

  removals(actions: Action[]): Promise<void> {
    return this.runner.removals(actions, this.opts.signal, this.report);
  }

  get stopped(): boolean {
    return this.run.stopped;
  }
}
