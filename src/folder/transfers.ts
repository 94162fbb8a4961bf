// One folder's file transfers, fed one action at a time onto the shared queue with backpressure (a streamed
// reconcile feeds them while it still walks), their rows committed in batches after success. Holds a count of
// transfers in flight, never a list of them.
// Must not: plan, or write a row for anything the server did not confirm.

import { setMaxListeners } from 'node:events';
import type { Action } from '../plan.js';
import { transferFile, type Outcome, type TransferContext } from '../transfer.js';
import type { FolderDeps, Progress, ReconcileOptions } from './types.js';

const COMMIT_EVERY = 200;

type FileAction = Extract<Action, { type: 'upload' | 'check' | 'copy' }>;
type RunOptions = Pick<ReconcileOptions, 'signal' | 'drain' | 'progress'>;

/** File actions on the shared queue. add() each, then finish(); a fatal error stops the rest at once. */
export class TransferRun {
  private readonly rows: RowBatch;
  private readonly stop = new AbortController();
  private readonly signal: AbortSignal;
  private readonly ctx: TransferContext;
  private fatal: unknown;
  private inFlight = 0;
  private idle: (() => void) | undefined;

  constructor(private readonly deps: FolderDeps, private readonly opts: RunOptions,
    context: (signal: AbortSignal, opts: RunOptions) => TransferContext,
    private readonly done: (o: Outcome, a: FileAction, ms: number) => void) {
    this.rows = new RowBatch(deps);
    // A fatal error (access denied, endpoint gone) stops this folder's queued and running transfers at once,
    // instead of letting each of them meet the same error.
    this.signal = opts.signal ? AbortSignal.any([opts.signal, this.stop.signal]) : this.stop.signal;
    // p-queue adds one abort listener per queued task; the queue is bounded (backpressure), not leaking.
    setMaxListeners(deps.transfers * 4 + 16, this.signal);
    this.ctx = context(this.signal, opts);
  }

  /** A graceful stop began, or a fatal error ended the run: nothing more is queued. */
  get stopped(): boolean {
    return this.fatal !== undefined || !!this.opts.drain?.aborted;
  }

  /** Queue one action once the queue has room. Throws the fatal error (after the running ones settled). */
  async add(a: FileAction): Promise<void> {
    const { queue, transfers } = this.deps;
    if (this.fatal === undefined && !this.opts.drain?.aborted) await queue.onSizeLessThan(transfers * 2); // backpressure
    if (this.fatal !== undefined) return this.finish();
    if (this.opts.drain?.aborted) return;
    this.opts.signal?.throwIfAborted();
    const { progress } = this.opts;
    progress.filesTotal++;
    // The bytes the line waits for: an upload's, a check's until it turns out to be an adoption; never a copy's.
    const expected = a.type === 'copy' ? 0 : a.file.size;
    progress.bytesTotal += expected;
    this.inFlight++;
    void queue.add(async () => {
      if (this.opts.drain?.aborted) return; // stopping: queued, not started
      const started = Date.now();
      const bytes = new ByteCount(progress, a, expected, a.type === 'upload' && a.file.size > this.ctx.partSize);
      let o: Outcome;
      try {
        o = await transferFile(a, { ...this.ctx, onBytes: bytes.onBytes, onResumed: bytes.onResumed });
      } finally {
        progress.active.delete(a.file.rel);
      }
      bytes.settle(o.kind === 'uploaded' ? o.bytes : undefined);
      progress.filesDone++;
      this.done(o, a, Date.now() - started);
      this.rows.add(o);
    }, { signal: this.signal }).catch((err: unknown) => {
      if (this.fatal !== undefined) return;
      this.fatal = err;
      this.stop.abort(err);
    }).finally(() => {
      if (--this.inFlight === 0) this.idle?.();
    });
  }

  /** Wait for every queued action, commit the last rows; throws the first fatal error. */
  async finish(): Promise<void> {
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    this.idle = undefined;
    this.rows.flush();
    if (this.fatal !== undefined) throw this.fatal;
  }
}

/**
 * One action's bytes on the progress line: counted as they are sent, never past the file's size whatever a
 * retry sends again, then trued up by the outcome: an upload counts exactly what it stored (in the total too,
 * for a rename's copy that became an upload), anything else (adopted, failed, gone) takes its bytes back out.
 * A multipart upload is also shown by name with its share sent.
 */
export class ByteCount {
  private counted = 0;
  private resumed = 0;
  private readonly size: number;
  private readonly entry: { size: number; sent: number } | undefined;
  constructor(private readonly p: Progress, a: FileAction, private readonly expected: number, big: boolean) {
    this.size = a.file.size;
    this.entry = big ? { size: a.file.size, sent: 0 } : undefined;
    if (this.entry) p.active.set(a.file.rel, this.entry);
  }
  readonly onBytes = (n: number): number => {
    const add = Math.max(0, Math.min(n, this.size - this.counted));
    this.counted += add;
    this.p.bytesDone += add;
    if (this.entry) this.entry.sent = this.counted;
    return add;
  };
  readonly onResumed = (n: number): void => {
    const add = this.onBytes(n);
    this.resumed += add;
    this.p.bytesResumed += add;
  };
  settle(stored: number | undefined): void {
    if (stored === undefined) {
      this.p.bytesTotal -= this.expected;
      this.p.bytesDone -= this.counted;
      this.p.bytesResumed -= this.resumed;
    } else {
      this.p.bytesTotal += stored - this.expected;
      this.p.bytesDone += stored - this.counted;
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
