// Performs one file action (upload / adopt-check / rename-copy) with per-file retry and jittered backoff.
// Returns the row to record; NEVER writes the DB. A result exists only if the server confirmed the object
// and a re-stat shows the file did not change while it was read. The strategies live in src/transfer/.
// Must not: write the state DB, or record (return a row for) a file that changed while it was read.

import path from 'node:path';
import { FileChangedError, classify, describeError } from './errors.js';
import { notRegularReason } from './local/open.js';
import { statFile, versionOf, type FileVersion } from './local/scan.js';
import type { Logger } from './log.js';
import { withRetry } from './retry.js';
import { adoptOrCopy } from './transfer/match.js';
import type { FileAction, Outcome, TransferContext } from './transfer/outcome.js';
import { VanishedError } from './transfer/unchanged.js';
import { upload } from './transfer/upload.js';

export { ByteBudget } from './transfer/budget.js';
export { matchesExisting } from './transfer/match.js';
export type { Outcome, TransferContext } from './transfer/outcome.js';

/** Deleted between the scan and now (or a parent directory became a file: ENOTDIR): nothing to mirror. */
function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return err instanceof VanishedError || code === 'ENOENT' || code === 'ENOTDIR';
}

/** Run a file action to completion: retry transient errors, return 'failed' for this-file problems, throw fatal/abort. */
export async function transferFile(action: FileAction, ctx: TransferContext): Promise<Outcome> {
  const rel = action.file.rel;
  const log = ctx.log.child({ key: action.key });
  let attempts = 0;
  let failure: unknown; // what the last attempt threw: anything else comes from the wait between attempts
  try {
    return await withRetry(async (attempt) => {
      attempts = attempt + 1;
      try {
        return await attemptOnce(action, ctx, attempt, log);
      } catch (err) {
        failure = err;
        throw err;
      }
    }, {
      retries: ctx.retries, baseMs: ctx.backoffMs, signal: ctx.signal, log, what: 'transfer', message: 'transfer failed, retrying',
      retryable: (err) => !isGone(err),
    });
  } catch (err) {
    if (err !== failure) throw err; // the backoff's wait was aborted
    const c = classify(err);
    if (c === 'abort' || ctx.signal?.aborted) throw ctx.signal?.reason ?? err;
    // The next reconcile plans its delete.
    if (isGone(err)) return { kind: 'gone', key: action.key, rel };
    if (c === 'fatal') throw err;
    const reason = describeError(err);
    const final = err instanceof FileChangedError ? `${reason} (still changing after ${attempts} attempts; will retry on the next run)` : reason;
    log.error({ rel, reason: final }, 'transfer failed');
    return { kind: 'failed', key: action.key, rel, reason: final };
  }
}

async function attemptOnce(action: FileAction, ctx: TransferContext, attempt: number, log: Logger): Promise<Outcome> {
  const abs = path.join(ctx.root, ...action.file.rel.split('/'));
  // The first attempt trusts the scan's stat (one syscall less per file): the re-stat after the upload must
  // still match it, so a change in between is caught all the same. Retries stat afresh.
  let s0: FileVersion = action.file;
  if (attempt > 0) {
    const st = await statFile(abs, ctx.followSymlinks);
    if (!st) return { kind: 'gone', key: action.key, rel: action.file.rel };
    if (!st.isFile()) return { kind: 'failed', key: action.key, rel: action.file.rel, reason: notRegularReason(st) };
    s0 = versionOf(st);
  }
  if (action.type === 'check' || action.type === 'copy') {
    const done = await adoptOrCopy(action, abs, s0, ctx, log);
    if (done) return done;
  }
  return upload(action, abs, s0, ctx, log);
}
