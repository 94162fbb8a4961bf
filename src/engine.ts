// Composition root: wires the state DB, the S3 client, the shared transfer queue and the folders.
// syncOnce() is `r2mirror sync`; reconcile() is the daemon's door to the same per-folder step; with Folder it is
// the only writer of rows, failures and runs (the daemon records through daemonRecord()).
// Must not: decide what to upload or delete (plan/policy do), watch, or keep timers (the daemon does).

import PQueue from 'p-queue';
import type { S3Client } from '@aws-sdk/client-s3';
import { stateFilesOf, type Config, type Credentials, type MaxDelete } from './config.js';
import { ExitCode, FatalError } from './errors.js';
import { DEFAULT_PART } from './keys.js';
import { Folder, newProgress, type FolderReport, type Progress, type ReconcileOptions, type Scope, type Tally } from './folder.js';
import type { Logger } from './log.js';
import { trustState } from './policy.js';
import { Bucket, createClient, type OpCounter, type OpCounts } from './remote/bucket.js';
import { Throttle, throttleExtraMs } from './remote/throttle.js';
import { tendTrash } from './folder/trash.js';
import { sweepOpenUploads } from './folder/uploads.js';
import { Store, type FolderRow } from './state/store.js';
import { ByteBudget } from './transfer.js';

/** Options of one `sync` run. */
export interface SyncOptions {
  /** Only these folders (by name); all when empty. */
  readonly folders?: readonly string[];
  readonly dryRun?: boolean;
  /** Override the configured delete limit for this run. */
  readonly maxDelete?: MaxDelete | undefined;
  readonly allowEmpty?: boolean;
  /**
   * Compare with the state DB alone, sending no LIST, for folders whose last listing is younger than
   * daemon.verifyInterval and that no unclean stop made doubtful (the daemon's rule, policy.trustState).
   */
  readonly trustState?: boolean;
  readonly signal?: AbortSignal | undefined;
}

/** The result of a run, as printed by the CLI (human or `--json`). */
export interface SyncReport {
  readonly ok: boolean;
  readonly dryRun: boolean;
  readonly exitCode: number;
  readonly durationMs: number;
  readonly folders: FolderReport[];
  readonly totals: {
    uploaded: Tally; resumed: Tally; adopted: Tally; copied: Tally; deleted: number; trashed: number; unchanged: number;
    skipped: number; failed: number;
  };
  readonly ops: OpCounts;
  /** Dry runs: what the plan would spend. */
  readonly estimate?: { classA: number; classB: number; free: number };
}

/** Test seams; production passes none. */
export interface EngineOptions {
  readonly dryRun?: boolean;
  readonly backoffMs?: number;
  readonly maxAttempts?: number;
}

/** The engine of one process. Build with Engine.open(); close() is idempotent. */
export class Engine {
  readonly progress: Progress = newProgress();
  private closed = false;

  private constructor(
    readonly config: Config,
    private readonly store: Store,
    private readonly client: S3Client,
    readonly ops: OpCounter,
    private readonly folders: Map<string, Folder>,
    private readonly log: Logger,
    private readonly queue: PQueue,
  ) {}

  /** Open the state DB (locked unless dry run) and build the client, queue and folders. */
  static open(config: Config, credentials: Credentials, log: Logger, opts: EngineOptions = {}): Engine {
    const store = Store.open(config.state, { readonly: !!opts.dryRun, lock: !opts.dryRun });
    try {
      const partSize = config.partSize ?? DEFAULT_PART;
      const { client, ops } = createClient({
        endpoint: config.remote.endpoint, accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey,
        sessionToken: credentials.sessionToken, requestTimeoutMs: config.requestTimeout, maxSockets: config.transfers * 4 + 4, maxAttempts: opts.maxAttempts,
        throttle: config.bandwidth ? new Throttle(config.bandwidth) : undefined, throttleExtraMs: throttleExtraMs(config),
      });
      // Bill each request to the folder whose bucket and prefix it touches (longest prefix wins).
      const owners = [...config.folders].sort((a, b) => b.prefix.length - a.prefix.length);
      ops.attribute = (bucket, key) => owners.find((f) => f.bucket === bucket && key.startsWith(f.prefix))?.name
        ?? owners.find((f) => f.bucket === bucket)?.name;
      const queue = new PQueue({ concurrency: config.transfers });
      const budget = new ByteBudget(config.memory);
      // The DB lives outside the mirrored folders in the normal layout; if a user puts it inside one, it
      // must not be mirrored (it changes on every run).
      const stateFiles = stateFilesOf(config);
      const folders = new Map<string, Folder>();
      for (const f of config.folders) {
        folders.set(f.name, new Folder({
          config: f, store, bucket: new Bucket(client, f.bucket), queue, budget, log, partSize, retries: config.retries,
          transfers: config.transfers, alwaysExclude: stateFiles, backoffMs: opts.backoffMs, endpoint: config.remote.endpoint,
        }));
      }
      return new Engine(config, store, client, ops, folders, log, queue);
    } catch (err) {
      store.close();
      throw err;
    }
  }

  /** Reconcile the selected folders once, listing their prefixes. */
  async syncOnce(opts: SyncOptions = {}): Promise<SyncReport> {
    const started = Date.now();
    const dryRun = !!opts.dryRun;
    // A folder named twice is reconciled once (two reconciles of one folder at once would race each other).
    const names = [...new Set(opts.folders?.length ? opts.folders : this.folders.keys())];
    for (const n of names) {
      if (!this.folders.has(n)) throw new FatalError(`no folder named "${n}" in ${this.config.file} (folders: ${[...this.folders.keys()].join(', ')})`, ExitCode.USAGE);
    }
    const runId = dryRun ? undefined : this.store.runStarted('sync', started, names);
    if (runId !== undefined) await this.recoverInterruptedRuns(runId, opts.signal);
    // Run all folders concurrently on the shared queue; the first fatal error stops the others.
    const stop = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    const reports: FolderReport[] = [];
    let fatal: unknown;
    const listed = lastListingsOf(this.store, this.config);
    // Every folder counts as walking from the start, until its reconcile has queued all its transfers (or ended).
    this.progress.merging += names.length;
    await Promise.all(names.map(async (n) => {
      try {
        reports.push(await this.syncFolder(n, { ...opts, signal }, listed.get(n), started));
      } catch (err) {
        if (!fatal) {
          fatal = err;
          stop.abort(err);
        }
      }
    }));
    // A run that stopped on a fatal error or a signal stays unfinished in the DB: the next run sweeps the multipart
    // uploads it may have left open that the journal does not know (created, killed before they were recorded).
    if (!dryRun) this.persistOps();
    if (fatal) throw fatal;
    reports.sort((a, b) => names.indexOf(a.name) - names.indexOf(b.name));
    const report = summarize(reports, dryRun, Date.now() - started, this.ops.snapshot());
    if (runId !== undefined) this.store.runFinished(runId, Date.now(), { ...report, folders: undefined });
    return report;
  }

  /** One folder of syncOnce: listing or trusting the state DB as --trust-state says; releases its part of `merging`. */
  private async syncFolder(n: string, opts: SyncOptions, lastListedAt: number | undefined, started: number): Promise<FolderReport> {
    const [mergeHeld, cfg] = [once(() => this.progress.merging--), this.config.folders.find((f) => f.name === n)!];
    const trust = opts.trustState ? trustState({ lastListedAt, needsListing: this.store.needsList(n), now: started, verifyInterval: this.config.daemon.verifyInterval }) : undefined;
    try {
      const report = await this.reconcileFolder(this.folders.get(n)!, {
        scope: { kind: trust?.trust ? 'local' : 'listing' }, dryRun: !!opts.dryRun, maxDelete: opts.maxDelete ?? cfg.maxDelete, allowEmpty: !!opts.allowEmpty,
        signal: opts.signal, progress: this.progress, mergeHeld,
      });
      if (trust) report.listing = listingOf(trust);
      return report;
    } finally {
      mergeHeld(); // a folder that never got to walk (its root missing, a fatal error) holds nothing
    }
  }

  /** Names of the configured folders. */
  folderNames(): string[] {
    return [...this.folders.keys()];
  }

  /**
   * Reconcile one folder (the daemon: a scope of paths from the watcher, a local rescan, or a listing).
   * The caller serialises calls per folder. Failures and operations spent are recorded for `status`.
   */
  async reconcile(name: string, opts: Omit<ReconcileOptions, 'progress' | 'dryRun' | 'maxDelete' | 'allowEmpty'> & { maxDelete?: MaxDelete }): Promise<FolderReport> {
    const folder = this.folders.get(name);
    const cfg = this.config.folders.find((f) => f.name === name);
    if (!folder || !cfg) throw new FatalError(`no folder named "${name}"`, ExitCode.USAGE);
    try {
      return await this.reconcileFolder(folder, { ...opts, dryRun: false, allowEmpty: false, maxDelete: opts.maxDelete ?? cfg.maxDelete, progress: this.progress });
    } finally {
      this.persistOps();
    }
  }

  /** The one per-folder step of `sync` and the daemon: reconcile, record its failures for `status`; after a listing, the trash. */
  private async reconcileFolder(folder: Folder, opts: ReconcileOptions): Promise<FolderReport> {
    const report = await folder.reconcile(opts);
    if (!opts.dryRun) this.recordOutcome(report, opts.scope);
    if (!opts.dryRun && opts.scope.kind === 'listing' && !report.error) await tendTrash(this.client, this.config.folders.find((f) => f.name === report.name)!, this.store, this.log, opts.signal);
    return report;
  }

  /** Transfers queued or running. */
  queueDepth = (): number => this.queue.size + this.queue.pending;

  /** What the daemon records in (and reads from) the state DB: it holds no Store of its own. */
  daemonRecord(): DaemonRecord {
    return daemonRecord(this.store, this.config, this.ops);
  }

  private recordOutcome(report: FolderReport, scope: Scope): void {
    // A folder that was not reconciled at all (root missing) keeps its previous failure list.
    if (report.error && report.uploaded.files === 0 && report.failed.length === 0 && !report.deleted) return;
    this.store.recordFailures(report.name, report.failed, scope.kind === 'paths' ? scope.paths : undefined, Date.now());
  }

  private persistOps(): void {
    for (const [name, counts] of this.ops.takeOwnerCounts()) this.store.addOps(name, counts);
  }

  /**
   * Runs other than `current` that never finished were killed: each folder they reconciled may have multipart
   * uploads left open (billed until aborted) and objects the DB does not know of (uploaded, not yet recorded) or
   * should have deleted. Mark those folders for a listing on their next full reconcile, sweep their open uploads,
   * and mark the runs finished only once every sweep succeeded, so a failed sweep is tried again on the next start.
   */
  async recoverInterruptedRuns(current: number, signal?: AbortSignal): Promise<void> {
    const crashed = this.store.unfinishedRuns(current);
    if (crashed.length === 0) return;
    const names = new Set<string>();
    for (const r of crashed) for (const n of r.folders ?? this.folders.keys()) names.add(n);
    this.store.setNeedsList([...names]);
    this.log.warn({ runs: crashed.map((r) => r.id), folders: [...names] }, 'an earlier run stopped uncleanly: aborting the multipart uploads it left open that cannot be resumed; its folders are listed on their next reconcile');
    if (await this.sweepStaleUploads([...names], signal)) this.store.runsInterrupted(crashed.map((r) => r.id), Date.now());
  }

  /**
   * Abort the multipart uploads an interrupted run may have left open under these folders' prefixes (they cost
   * storage until aborted; AbortMultipartUpload is free), except those the journal recorded, which are resumed. Only after a crash or a cut stop, to spend no LIST
   * otherwise. A folder no longer configured is swept at the bucket and prefix the DB recorded for it (its open
   * uploads are ours, and nobody else would ever abort them); a failure there is only warned about. Returns
   * false when a configured folder could not be swept.
   */
  async sweepStaleUploads(names: readonly string[], signal?: AbortSignal): Promise<boolean> {
    let ok = true;
    const recorded = new Map(this.store.folders().map((f) => [f.name, f]));
    for (const n of names) {
      const cfg = this.config.folders.find((f) => f.name === n) ?? recorded.get(n);
      if (!cfg) continue; // never reconciled here: it cannot have an upload of ours open
      const configured = this.config.folders.some((f) => f.name === n);
      try {
        const aborted = await sweepOpenUploads(this.store, n, new Bucket(this.client, cfg.bucket), cfg.prefix, configured, signal);
        if (aborted) this.log.warn({ folder: n, aborted }, 'aborted multipart uploads left open by an interrupted run');
      } catch (err) {
        if (configured) ok = false;
        this.log.warn({ folder: n, bucket: cfg.bucket, prefix: cfg.prefix, err }, configured
          ? 'could not sweep multipart uploads left by an interrupted run; the next start tries again'
          : 'could not sweep multipart uploads left by an interrupted run in a folder no longer configured; abort them by hand');
      }
    }
    return ok;
  }

  /** Close the DB and the client. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.store.close();
    this.client.destroy();
  }
}

/** The daemon's door to the state DB (built by Engine.daemonRecord()). */
export interface DaemonRecord {
  /** The daemon started: record its run (still unfinished on the next start: it was killed). Returns its id. */
  startRun(at: number): number;
  /** The daemon stopped; `cut` transfers off: every folder lists next time. Recorded finished only when `swept`. */
  finishRun(runId: number | undefined, end: { cut: boolean; swept: boolean; uploads: number; bytes: number }): void;
  /** When each folder was last listed at the bucket and prefix configured now; absent: never (a reload moved it). */
  lastListings(): Map<string, number>;
  /** The live state `status` shows. */
  publishLive(pid: number, startedAt: number, live: unknown): void;
  /** The folder owes a listing (an earlier run stopped uncleanly, or a stop cut transfers off). */
  needsListing(name: string): boolean;
  /** Files of the folder that currently cannot be mirrored (as the last reconciles recorded them). */
  failureCount(name: string): number;
}

function daemonRecord(store: Store, config: Config, ops: OpCounter): DaemonRecord {
  const names = config.folders.map((f) => f.name);
  return {
    startRun: (at) => store.runStarted('daemon', at, names),
    finishRun: (runId, end) => {
      store.clearLive();
      if (end.cut) store.setNeedsList(names);
      if (runId !== undefined && end.swept) store.runFinished(runId, Date.now(), { kind: 'daemon', uploads: end.uploads, bytes: end.bytes, ops: ops.snapshot() });
    },
    lastListings: () => lastListingsOf(store, config),
    publishLive: (pid, startedAt, live) => store.setLive(pid, startedAt, live),
    needsListing: (name) => store.needsList(name),
    failureCount: (name) => store.failures(name).length,
  };
}

/** When each configured folder's bucket prefix was last listed to the end (rows of another bucket or prefix do not count). */
function lastListingsOf(store: Store, config: Config): Map<string, number> {
  const cfg = new Map(config.folders.map((f) => [f.name, f]));
  const same = (r: FolderRow) => cfg.get(r.name)?.bucket === r.bucket && cfg.get(r.name)?.prefix === r.prefix;
  return new Map(store.folders().flatMap((r) => (r.lastList !== null && same(r) ? [[r.name, r.lastList] as const] : [])));
}

function summarize(folders: FolderReport[], dryRun: boolean, durationMs: number, ops: OpCounts): SyncReport {
  const sum = (f: (r: FolderReport) => number) => folders.reduce((n, r) => n + f(r), 0);
  const tally = (f: (r: FolderReport) => Tally): Tally => ({ files: sum((r) => f(r).files), bytes: sum((r) => f(r).bytes) });
  const ok = folders.every((r) => r.ok);
  const report: SyncReport = {
    ok, dryRun, exitCode: ok ? ExitCode.OK : ExitCode.FILES_FAILED, durationMs, folders,
    totals: {
      uploaded: tally((r) => r.uploaded), resumed: tally((r) => r.resumed), adopted: tally((r) => r.adopted), copied: tally((r) => r.copied),
      deleted: sum((r) => r.deleted), trashed: sum((r) => r.trashed), unchanged: sum((r) => r.unchanged),
      skipped: sum((r) => r.skipped.length), failed: sum((r) => r.failed.length) + folders.filter((r) => r.error).length,
    },
    ops,
    ...(dryRun ? { estimate: {
      classA: sum((r) => r.estimate?.classA ?? 0), classB: sum((r) => r.estimate?.classB ?? 0), free: sum((r) => r.estimate?.free ?? 0),
    } } : {}),
  };
  return report;
}

/** `fn` the first time the result is called, nothing after. */
function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) fn();
    done = true;
  };
}

/** What the summary says of --trust-state's choice: the state DB trusted, or the bucket listed and why. */
function listingOf(t: ReturnType<typeof trustState>): NonNullable<FolderReport['listing']> {
  return t.trust ? { listed: false, lastListedAt: t.lastListedAt } : { listed: true, why: t.why, lastListedAt: t.lastListedAt };
}
