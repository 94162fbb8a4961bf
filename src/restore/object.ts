// Restoring one listed object: skip it when the local file already has its content, refuse to overwrite without
// --force, or download it (checked against its ETag, multipart ETags computed locally) through local/place.ts,
// retrying transient failures. Results go into the run's report.
// Must not: write into the user's folders except through local/place.ts; write the state DB; throw anything but
// a fatal or abort error (every other failure is this object's, recorded in the report).

import type { Stats } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { IntegrityError, classify, describeError, errorCode } from '../errors.js';
import type { Progress } from '../folder.js';
import { EtagStream, hashFile } from '../local/hash.js';
import { OutsideRootError, TargetExistsError, TempFile, makeDir } from '../local/place.js';
import type { Logger } from '../log.js';
import type { Bucket, RemoteObject } from '../remote/bucket.js';
import { openObject, type ObjectStream } from '../remote/download.js';
import { withRetry } from '../retry.js';
import type { ObjectRow } from '../state/store.js';
import type { RestoreReport } from './report.js';
import { partSizesFor, restorePath } from './rules.js';

/** Everything one object's restore needs, shared by all objects of a run. */
export interface Job {
  readonly bucket: Bucket;
  /** The folder's key prefix: what is cut off a key to make its path. */
  readonly folderPrefix: string;
  readonly to: string;
  /** realpath of `to` (undefined in a dry run when it does not exist yet). */
  readonly toReal: string | undefined;
  readonly rows: ReadonlyMap<string, ObjectRow>;
  readonly partSize: number;
  readonly force: boolean;
  readonly dryRun: boolean;
  readonly retries: number;
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly report: RestoreReport;
  readonly progress: Progress;
  /** Directories that got new entries, fsynced at the end of the run. */
  readonly dirs: Set<string>;
}

/** A local path that must not be written (outside --to, a directory in the way); the file fails, the run goes on. */
class PathError extends Error {}
/** The target appeared while the object was downloaded (no --force): left alone. */
class ConflictError extends Error {}

/** Restore one object into the report; rethrows only fatal and abort errors (they stop the run). */
export async function restoreOne(o: RemoteObject, job: Job): Promise<void> {
  const { report, progress } = job;
  try {
    await restoreObject(o, job);
  } catch (err) {
    if (err instanceof PathError) report.failed.push({ key: o.key, reason: err.message });
    else if (err instanceof ConflictError) report.conflicts.push({ key: o.key, path: targetOf(job, o.key), reason: err.message });
    else if (classify(err) === 'fatal' || classify(err) === 'abort') throw err;
    else {
      report.failed.push({ key: o.key, reason: describeError(err) });
      job.log.warn({ key: o.key, err }, 'restore failed');
    }
  } finally {
    progress.filesDone++;
  }
}

function targetOf(job: Job, key: string): string {
  const r = restorePath(key, job.folderPrefix);
  return r.kind === 'bad' ? '' : path.join(job.to, ...r.rel.split('/'));
}

async function restoreObject(o: RemoteObject, job: Job): Promise<void> {
  const { report } = job;
  const where = restorePath(o.key, job.folderPrefix);
  if (where.kind === 'bad') throw new PathError(where.reason);
  const target = path.join(job.to, ...where.rel.split('/'));
  if (where.kind === 'dir') {
    // A directory marker (made by consoles and some tools): the directory, nothing else.
    if (!job.dryRun) await makeDir(target);
    return;
  }
  const row = job.rows.get(o.key);
  if (row && row.etag !== o.etag) {
    report.changed.push({ key: o.key, reason: `changed in the bucket by something other than r2mirror: the state DB recorded ETag ${row.etag}, the bucket has ${o.etag}` });
  }
  const sizes = partSizesFor(o, row, job.partSize);
  if (typeof sizes === 'string') throw new PathError(sizes);
  const existing = await existingAt(target);
  if (existing?.isFile() && existing.size === o.size && await hasEtag(target, o.etag, sizes, job.signal)) {
    report.skipped++;
    job.progress.bytesTotal -= o.size;
    return;
  }
  if (existing && !job.force) {
    const what = existing.isFile() ? 'exists with different content' : existing.isSymbolicLink() ? 'exists and is a symbolic link' : 'exists and is not a regular file';
    throw new ConflictError(`${target} ${what}; not replaced (--force replaces it)`);
  }
  if (job.dryRun) {
    report.planned!.push({ action: existing ? 'replace' : 'restore', key: o.key, path: target, size: o.size });
  } else {
    const started = Date.now();
    await downloadWithRetry(o, target, sizes, !!existing, job);
    job.log.info({ key: o.key, path: target, bytes: o.size, ms: Date.now() - started }, 'restored');
  }
  report.restored++;
  report.bytes += o.size;
}

/** What is at `target` now (lstat), or undefined; a directory, or a path that cannot be checked, is a PathError. */
async function existingAt(target: string): Promise<Stats | undefined> {
  let existing: Stats | undefined;
  try {
    existing = await fsp.lstat(target);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOTDIR') throw new PathError(`a parent of ${target} is a file, not a directory`);
    if (code !== 'ENOENT') throw new PathError(`cannot check ${target}: ${(err as Error).message}`);
  }
  if (existing?.isDirectory()) throw new PathError(`${target} is a directory; not replaced`);
  return existing;
}

/** Whether the file at `file` has ETag `etag` for one of the part sizes. */
async function hasEtag(file: string, etag: string, sizes: readonly number[], signal: AbortSignal): Promise<boolean> {
  const { etags } = await hashFile(file, sizes, signal);
  return [...etags.values()].includes(etag);
}

/** Retry transient failures of one file (network, 5xx, a download that did not match) with backoff. */
async function downloadWithRetry(o: RemoteObject, target: string, sizes: readonly number[], replace: boolean, job: Job): Promise<void> {
  let attempts = 0;
  try {
    await withRetry(() => {
      attempts++;
      return download(o, target, sizes, replace, job);
    }, { retries: job.retries, baseMs: 500, signal: job.signal, log: job.log.child({ key: o.key }), what: 'download', message: 'download failed, retrying' });
  } catch (err) {
    if (err instanceof IntegrityError && attempts > 1) err.message += ` (${attempts} attempts)`;
    throw err;
  }
}

/** Stream the object into a temp file beside the target, check size and ETag, and move it into place. */
async function download(o: RemoteObject, target: string, sizes: readonly number[], replace: boolean, job: Job): Promise<void> {
  const file = await tempFileFor(target, job);
  try {
    const obj = await openObject(job.bucket, o.key, { etag: o.etag, signal: job.signal });
    if (obj.size !== o.size) {
      obj.body.destroy();
      throw new IntegrityError(`the server sent ${obj.size} bytes where the listing said ${o.size}`);
    }
    const got = await receive(obj, file, sizes[0]!, job);
    if (got.bytes !== o.size) throw new IntegrityError(`received ${got.bytes} of ${o.size} bytes`);
    let etag = got.etag;
    if (etag !== o.etag && sizes.length > 1 && await hasEtag(file.path, o.etag, sizes.slice(1), job.signal)) etag = o.etag;
    if (etag !== o.etag) {
      throw new IntegrityError(`content does not match ETag ${o.etag} (downloaded content has ${etag}); the object is corrupt or was changed during download`);
    }
    await commit(file, obj.mtimeNs ?? BigInt(Date.now()) * 1_000_000n, replace);
    job.dirs.add(file.dir);
  } finally {
    await file.discard();
  }
}

/** A temp file beside `target`, inside --to (a symbolic link that leads out of it is a PathError). */
async function tempFileFor(target: string, job: Job): Promise<TempFile> {
  try {
    return await TempFile.create(target, { root: job.toReal });
  } catch (err) {
    if (err instanceof OutsideRootError) throw new PathError(`${err.dir} leads outside ${job.to} (through a symbolic link); not written`);
    throw err;
  }
}

/** Write the body into the temp file, hashing it with the first part size; counts the bytes on the progress line. */
async function receive(obj: ObjectStream, file: TempFile, partSize: number, job: Job): Promise<{ bytes: number; etag: string }> {
  const hasher = new EtagStream(partSize);
  await pipeline(obj.body, hasher, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      await file.write(chunk);
      job.progress.bytesDone += chunk.length;
    }
  }, { signal: job.signal });
  return { bytes: hasher.bytes, etag: hasher.etag() };
}

/** Move the checked file into place; a file that appeared meanwhile (no --force) is a conflict, left alone. */
async function commit(file: TempFile, mtimeNs: bigint, replace: boolean): Promise<void> {
  try {
    await file.commit({ replace, mtimeNs });
  } catch (err) {
    if (err instanceof TargetExistsError) throw new ConflictError(`${file.target} appeared while the object was downloaded; not replaced (--force replaces it)`);
    throw err;
  }
}
