// A whole-folder reconcile (the `local` and `listing` scopes), streamed: the walk, the rows and the listing as
// key-ordered streams into the merge, the decisions in stream.ts, the actions run (or, in a dry run, shown) as
// they come. Wires the parts; its memory is pages and the transfer queue, whatever the size of the tree.
// Must not: read the whole folder, its rows or its listing into memory.

import { excludedPath, makeMatcher } from '../local/scan.js';
import { walkInKeyOrder } from '../local/walk.js';
import type { Logger } from '../log.js';
import { Spool } from '../state/spool.js';
import { DryRunSink } from './dry-run.js';
import { ActionRunner, RunSink } from './execute.js';
import { listInOrder } from './list.js';
import { Merge } from './merge.js';
import { abandonUploads } from './uploads.js';
import { StreamedReconcile } from './stream.js';
import type { FolderDeps, FolderReport, ReconcileOptions } from './types.js';

/** Reconcile the whole folder. Throws FolderUnsafeError (suddenly empty), fatal errors and aborts. */
export async function reconcileWhole(deps: FolderDeps, opts: ReconcileOptions, report: FolderReport, log: Logger): Promise<void> {
  const { config, store } = deps;
  // A changed bucket or prefix makes the stored rows describe other keys, and store.folder() forgets them:
  // only once the new bucket answered the listing, so a typo in "bucket" does not cost the real one's rows.
  const moved = store.moved(config.name, config.bucket, config.prefix);
  if (!moved) store.folder(config.name, config.bucket, config.prefix);
  const listed = opts.scope.kind === 'listing';
  const [t0, started] = [performance.now(), Date.now()];
  const retry = { retries: deps.retries, baseMs: deps.backoffMs, signal: opts.signal, log };
  const walk = walkInKeyOrder({
    root: config.path, prefix: config.prefix, exclude: config.exclude, followSymlinks: config.followSymlinks,
    alwaysExclude: deps.alwaysExclude, signal: opts.signal, oneFileSystem: config.oneFileSystem,
  });
  const rows = moved ? [] : store.rowsInKeyOrder(config.name);
  const listing = listed ? listInOrder(deps.bucket, config, moved ? [] : store.splitKeys(config.name), retry) : undefined;
  const merge = new Merge(walk.batches, rows, listing);
  if (moved) {
    await merge.firstPage();
    store.folder(config.name, config.bucket, config.prefix);
  }
  const ig = makeMatcher(config.exclude);
  const spool = new Spool();
  let queued = false;
  const allQueued = () => {
    if (!queued) {
      if (opts.mergeHeld) opts.mergeHeld();
      else opts.progress.merging--;
    }
    queued = true;
  };
  if (!opts.mergeHeld) opts.progress.merging++;
  try {
    const sink = opts.dryRun
      ? new DryRunSink({ root: config.path, followSymlinks: config.followSymlinks, partSize: deps.partSize, signal: opts.signal }, spool)
      : new RunSink(new ActionRunner(deps, log), spool, opts, report);
    const complete = await new StreamedReconcile(deps, spool, sink, {
      listed, maxDelete: opts.maxDelete, allowEmpty: opts.allowEmpty, deferNew: !moved && store.count(config.name).files > 0,
      spared: (rel) => !config.deleteExcluded && excludedPath(ig, rel), progress: opts.progress, queued: allQueued,
      merged: () => {
        const { dirs, regularFiles, problems } = walk.totals;
        log.debug({ dirs, regularFiles, ms: Math.round(performance.now() - t0) }, 'walked and merged');
        for (const p of problems) (p.kind === 'failed' ? report.failed : report.skipped).push({ rel: p.rel, reason: p.reason });
        for (const p of problems) log[p.kind === 'failed' ? 'error' : 'info']({ rel: p.rel, reason: p.reason }, p.kind === 'failed' ? 'cannot mirror' : 'skipped');
        return regularFiles;
      },
    }, report, log).run(merge);
    if (sink instanceof DryRunSink) {
      report.planned = sink.planned;
      report.estimate = sink.estimate;
      return;
    }
    if (!complete) return; // a graceful stop cut it short: not a reconcile of the whole folder (nor a listing to the end)
    await abandonUploads(store, config.name, deps.bucket, started, log); // every file that needed an upload was tried
    // A listing whose deletes a guard held back has not converged: a listing owed since a crash stays owed.
    store.markSynced(config.name, Date.now(), listed, listed && !report.error);
  } finally {
    allQueued();
    spool.close();
  }
}
