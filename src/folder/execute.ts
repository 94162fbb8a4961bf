// Runs a folder's planned actions: file transfers on the shared queue with backpressure, their rows committed
// in batches after success; then, once every copy is settled and the delete guard has had its say, the
// removals (trash copies, then deletes 1,000 a request), each row dropped only after the server confirmed.
// Must not: plan, or write a row for anything the server did not confirm.

import { setMaxListeners } from 'node:events';
import { classify, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Action } from '../plan.js';
import { isRemoval, settleRenames } from '../policy.js';
import { withRetry, type RetryOptions } from '../retry.js';
import { transferFile, type Outcome, type TransferContext } from '../transfer.js';
import type { FolderDeps, FolderReport, ReconcileOptions } from './types.js';

const COMMIT_EVERY = 200;

type FileAction = Extract<Action, { type: 'upload' | 'check' | 'copy' }>;
type RunOptions = Pick<ReconcileOptions, 'signal' | 'drain' | 'progress'>;

/** Runs the actions of one reconcile of one folder. */
export class ActionRunner {
  constructor(private readonly deps: FolderDeps, private readonly log: Logger) {}

  /** Transfers first, then (unless draining) the removals the guard lets through. Throws the first fatal error. */
  async run(planned: Action[], opts: RunOptions, report: FolderReport, guard: (settled: Action[]) => Action[]): Promise<void> {
    const copies = await this.transfers(planned, opts, report);
    if (opts.drain?.aborted) return; // removals wait for the next run: a rename must not lose its source first
    // Removals after every upload and copy, so a rename never leaves a moment with neither key.
    await this.removals(guard(settleRenames(planned, copies)), opts.signal, report);
  }

  /** Run the file actions; returns the outcome kind of each rename's copy, by the key it copies to. */
  private async transfers(planned: Action[], opts: RunOptions, report: FolderReport): Promise<Map<string, string>> {
    const { queue, transfers } = this.deps;
    const files = planned.filter((a): a is FileAction => a.type === 'upload' || a.type === 'check' || a.type === 'copy');
    opts.progress.filesTotal += files.length;
    opts.progress.bytesTotal += files.reduce((n, a) => n + a.file.size, 0);
    const rows = new RowBatch(this.deps);
    // A fatal error (access denied, endpoint gone) stops this folder's queued and running transfers at once,
    // instead of letting each of them meet the same error.
    const stop = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    // p-queue adds one abort listener per queued task; the queue is bounded (backpressure), not leaking.
    setMaxListeners(transfers * 4 + 16, signal);
    const ctx = this.transferContext(signal, opts);
    const running: Promise<void>[] = [];
    const copies = new Map<string, string>();
    let fatal: unknown;
    for (const a of files) {
      if (fatal || opts.drain?.aborted) break;
      // Backpressure: never more than a few queued tasks per transfer slot.
      await queue.onSizeLessThan(transfers * 2);
      if (fatal) break;
      opts.signal?.throwIfAborted();
      running.push(queue.add(async () => {
        if (opts.drain?.aborted) return; // stopping: queued, not started
        const started = Date.now();
        const o = await transferFile(a, ctx);
        opts.progress.filesDone++;
        this.record(o, a, report, Date.now() - started);
        if (a.type === 'copy') copies.set(a.key, o.kind);
        rows.add(o);
      }, { signal }).catch((err: unknown) => {
        if (fatal) return;
        fatal = err;
        stop.abort(err);
      }));
    }
    await Promise.all(running);
    rows.flush();
    if (fatal) throw fatal;
    return copies;
  }

  private transferContext(signal: AbortSignal, opts: RunOptions): TransferContext {
    const { config, bucket } = this.deps;
    return {
      bucket, root: config.path, followSymlinks: config.followSymlinks, partSize: this.deps.partSize, budget: this.deps.budget,
      retries: this.deps.retries, deleteVanished: config.deletes === 'mirror', log: this.log, signal,
      backoffMs: this.deps.backoffMs, onBytes: (n: number) => { opts.progress.bytesDone += n; },
    };
  }

  /** Forget, trash and delete; a rename's old name is removed without counting as a delete. */
  private async removals(actions: Action[], signal: AbortSignal | undefined, report: FolderReport): Promise<void> {
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
        this.log.info({ key: o.key, bytes: o.bytes, ms, reason: a.type === 'upload' ? a.reason : 'changed' }, 'uploaded');
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

/** Rows of confirmed outcomes, written in one transaction every {@link COMMIT_EVERY} outcomes and at the end. */
class RowBatch {
  private readonly pending: Outcome[] = [];
  constructor(private readonly deps: Pick<FolderDeps, 'store' | 'config'>) {}

  add(o: Outcome): void {
    this.pending.push(o);
    if (this.pending.length >= COMMIT_EVERY) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const { store, config } = this.deps;
    const batch = this.pending.splice(0);
    store.batch(() => {
      for (const o of batch) if (o.kind === 'uploaded' || o.kind === 'adopted' || o.kind === 'copied') store.put(config.name, o.row);
    });
  }
}
