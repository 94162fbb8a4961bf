// A verification run, the entry point of `r2mirror verify`: read the state DB without the lock, verify each
// selected folder (folder.ts), then record each folder's counts for `status` under the writer lock, held for a
// moment and never waited for (a daemon or a sync holding it means: not recorded, and the report says why).
// Must not: write the state DB except its verify columns and op counts; write the bucket or the user's folders;
// print anything (the command formats the report).

import fs from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config.js';
import { ExitCode, FatalError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { Bucket, type OpCounter } from '../remote/bucket.js';
import { Store } from '../state/store.js';
import type { DifferenceKind } from './compare.js';
import { verifyFolder } from './folder.js';
import type { FolderVerifyReport, RecordedVerify, VerifyReport } from './report.js';

/** What a run is given. */
export interface VerifyDeps {
  /** The S3 client and its request counter: the run bills each LIST to its folder. */
  readonly client: S3Client;
  readonly ops: OpCounter;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** When the command started (Date.now()): the report's durationMs counts from it. */
  readonly started: number;
}

/** Verify the named folders (config order as given); throws on a fatal error (the listing), else returns the report. */
export async function verify(config: Config, names: readonly string[], deps: VerifyDeps): Promise<VerifyReport> {
  const { ops, log } = deps;
  // Bill each LIST to its folder, as the engine does, so `status` can add them to the folder's totals.
  ops.attribute = (bucket, key) => config.folders.find((f) => f.bucket === bucket && key.startsWith(f.prefix))?.name;
  // Read without the lock and without writing (as `status` does): a running daemon is never blocked.
  const store = Store.open(config.state, { readonly: true, lock: false });
  const folders: FolderVerifyReport[] = [];
  try {
    for (const name of names) {
      const folder = config.folders.find((f) => f.name === name)!;
      folders.push(await verifyFolder(config, folder, store, new Bucket(deps.client, folder.bucket), log, deps.signal));
    }
  } finally {
    store.close();
  }
  const ok = folders.every((f) => f.ok);
  const report: VerifyReport = {
    ok, exitCode: ok ? ExitCode.OK : ExitCode.FILES_FAILED, durationMs: Date.now() - deps.started, recorded: false, folders, ops: ops.snapshot(),
  };
  const why = record(config, folders, ops.takeOwnerCounts(), Date.now());
  if (why === undefined) report.recorded = true;
  else {
    report.notRecorded = why;
    log.warn({ state: config.state, reason: why }, 'verification not recorded in the state DB (status will not show it)');
  }
  return report;
}

/**
 * Write each folder's result for `status`, under the writer lock, held for a moment. Returns why nothing was
 * written: no state DB yet, or another r2mirror (a daemon, a sync) holds the lock, which is never waited for.
 */
function record(config: Config, folders: readonly FolderVerifyReport[], ops: Map<string, { classA: number; classB: number; free: number }>, at: number): string | undefined {
  if (!fs.existsSync(config.state)) return `there is no state DB at ${config.state} yet (nothing was synced)`;
  let store: Store;
  try {
    store = Store.open(config.state, { lock: true });
  } catch (err) {
    if (err instanceof FatalError && err.exitCode === ExitCode.TEMPFAIL) return `${config.state} is in use by another r2mirror process (daemon or sync)`;
    return describeError(err);
  }
  try {
    const skipped: string[] = [];
    store.batch(() => {
      for (const f of folders) {
        if (!store.recordVerify(f.name, f.bucket, f.prefix, at, summaryOf(f))) skipped.push(f.name);
        else store.addOps(f.name, ops.get(f.name) ?? { classA: 0, classB: 0, free: 0 });
      }
    });
    return skipped.length ? `the state DB knows folder(s) ${skipped.join(', ')} under another bucket or prefix (the next sync updates it)` : undefined;
  } catch (err) {
    return describeError(err);
  } finally {
    store.close();
  }
}

/** What the state DB keeps of one folder's verification: counts by kind, not the list. */
function summaryOf(f: FolderVerifyReport): RecordedVerify {
  const byKind: Partial<Record<DifferenceKind, number>> = {};
  for (const d of f.differences) byKind[d.kind] = (byKind[d.kind] ?? 0) + 1;
  return { bucket: f.bucket, prefix: f.prefix, ok: f.ok, keys: f.counts.keys, agree: f.counts.agree, differences: f.differences.length + (f.error ? 1 : 0), byKind, error: f.error };
}
