// Verifying one folder: read its rows (the caller's read-only Store), list its objects (LIST only, retried, a
// failed page resumes after the last key seen), scan its disk, hash only the files compare.ts asks for (never
// one a fresh row vouches for) and compare the three. The result is returned, not printed or recorded.
// Must not: send any request but LIST; write the state DB, the bucket or the user's folders; print anything.

import fsp from 'node:fs/promises';
import path from 'node:path';
import { stateFilesOf, type Config, type FolderConfig } from '../config.js';
import { describeError, explainS3Error } from '../errors.js';
import { DEFAULT_PART, toKey } from '../keys.js';
import { hashFile } from '../local/hash.js';
import { excludedPath, makeMatcher, scanFolder } from '../local/scan.js';
import type { Logger } from '../log.js';
import type { Bucket, RemoteObject } from '../remote/bucket.js';
import { withRetry } from '../retry.js';
import type { ObjectRow, Store } from '../state/store.js';
import { compareFolder, hashesNeeded, type HashVerdict, type VerifyInput } from './compare.js';
import type { FolderVerifyReport } from './report.js';

type Scan = Awaited<ReturnType<typeof scanFolder>>;

/** 12345 -> "12,345", as commands/common.ts prints counts (a library module does not import commands/). */
const num = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** Compare one folder: rows (no lock), then the listing, then the disk; hash only what no fresh row vouches for. */
export async function verifyFolder(config: Config, folder: FolderConfig, store: Store, bucket: Bucket, log: Logger, signal: AbortSignal): Promise<FolderVerifyReport> {
  const flog = log.child({ folder: folder.name });
  let note: string | null = null;
  // Rows recorded under another bucket or prefix describe other keys (the next sync forgets them): compare without.
  if (store.moved(folder.name, folder.bucket, folder.prefix)) {
    note = `the state DB recorded this folder under another bucket or prefix; its rows describe other keys and were not compared (the next sync forgets them)`;
  }
  store.folder(folder.name, folder.bucket, folder.prefix); // read-only: only marks a moved folder's rows as stale
  const rows: Map<string, ObjectRow> = store.rows(folder.name);
  const objects = await listObjects(config, folder, bucket, flog, signal);
  const { scan, error } = await scanDisk(config, folder, rows, objects, signal);
  const input = inputOf(config, folder, objects, rows, scan);
  const hashed = await hashAll(folder, input, signal);
  const { differences, counts } = compareFolder(input, hashed);
  const ok = error === undefined && differences.length === 0;
  flog.info({ ...counts, ok }, 'verified');
  return { name: folder.name, path: folder.path, bucket: folder.bucket, prefix: folder.prefix, ok, error: error ?? null, note, counts, differences };
}

/** Everything under the prefix but the trash prefix, page by page; a failed page resumes after the last key seen. */
async function listObjects(config: Config, folder: FolderConfig, bucket: Bucket, log: Logger, signal: AbortSignal): Promise<Map<string, RemoteObject>> {
  const out = new Map<string, RemoteObject>();
  const range: { startAfter?: string } = {};
  try {
    await withRetry(async () => {
      for await (const page of bucket.list(folder.prefix, signal, range)) {
        for (const o of page) if (!o.key.startsWith(folder.trashPrefix)) out.set(o.key, o);
        if (page.length) range.startAfter = page.at(-1)!.key;
      }
    }, { retries: config.retries, signal, log, what: 'list', message: 'list failed, retrying' });
  } catch (err) {
    throw explainS3Error(err, { bucket: folder.bucket, endpoint: config.remote.endpoint });
  }
  return out;
}

/** The disk scan, or why the disk is not compared (a root that is missing, unreadable, or empty where files are known). */
async function scanDisk(config: Config, folder: FolderConfig, rows: ReadonlyMap<string, ObjectRow>, objects: ReadonlyMap<string, RemoteObject>,
  signal: AbortSignal): Promise<{ scan: Scan | undefined; error: string | undefined }> {
  const error = await rootProblem(folder.path);
  if (error !== undefined) return { scan: undefined, error };
  const scan = await scanFolder({
    root: folder.path, prefix: folder.prefix, exclude: folder.exclude, followSymlinks: folder.followSymlinks,
    alwaysExclude: stateFilesOf(config), signal,
  });
  // A root without a regular file where the DB or the bucket has files is an unmounted disk until proven
  // otherwise (as in sync: a dangling link or a FIFO on a bare mount point proves nothing).
  if (scan.regularFiles === 0 && (rows.size > 0 || objects.size > 0)) {
    const known = rows.size >= objects.size ? `the state DB recorded ${num(rows.size)} files from it` : `the bucket holds ${num(objects.size)} objects under its prefix`;
    return { scan: undefined, error: `folder path ${folder.path} is empty, but ${known} (unmounted disk?); the disk was not compared` };
  }
  return { scan, error: undefined };
}

/** Why the folder root cannot be compared (missing, not a directory, unreadable), as sync checks it; else undefined. */
async function rootProblem(p: string): Promise<string | undefined> {
  try {
    const st = await fsp.stat(p);
    if (!st.isDirectory()) return `folder path ${p} is not a directory; the disk was not compared`;
    await fsp.access(p, fsp.constants.R_OK | fsp.constants.X_OK);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT'
      ? `folder path ${p} does not exist (unmounted disk?); the disk was not compared`
      : `folder path ${p} cannot be read: ${(err as Error).message}; the disk was not compared`;
  }
}

/** What compare.ts looks at for this folder, excludes and the state DB's own files included. */
function inputOf(config: Config, folder: FolderConfig, objects: ReadonlyMap<string, RemoteObject>, rows: ReadonlyMap<string, ObjectRow>,
  scan: Scan | undefined): VerifyInput {
  // Excluded paths are not compared: sync leaves their objects alone. With deleteExcluded,
  // sync removes them, so they are compared (the walk does not see the files: they show as deleted or extra).
  const deleteExcluded = folder.deleteExcluded;
  const matcher = makeMatcher(deleteExcluded ? [] : folder.exclude);
  const stateKeys = new Set(stateFilesOf(config).map((abs) => path.relative(folder.path, abs)).filter((rel) => !rel.startsWith('..') && !path.isAbsolute(rel))
    .map((rel) => toKey(folder.prefix, rel.split(path.sep).join('/'))));
  return {
    objects, rows, files: scan?.files, unknownPrefixes: scan?.unknownPrefixes ?? [], unknownKeys: scan?.unknownKeys ?? new Set(),
    problems: (scan?.problems ?? []).filter((p) => p.kind === 'failed').map((p) => ({ key: toKey(folder.prefix, p.rel), rel: p.rel, reason: p.reason })),
    excluded: (key) => stateKeys.has(key) || (key.startsWith(folder.prefix) && excludedPath(matcher, key.slice(folder.prefix.length))),
    deletes: folder.deletes, partSize: config.partSize ?? DEFAULT_PART,
  };
}

/** Hash the files compare.ts asks for, one at a time: same content as expected, other content, or why not readable. */
async function hashAll(folder: FolderConfig, input: VerifyInput, signal: AbortSignal): Promise<Map<string, HashVerdict>> {
  const hashed = new Map<string, HashVerdict>();
  for (const h of hashesNeeded(input)) {
    signal.throwIfAborted();
    const abs = path.join(folder.path, ...h.file.rel.split('/'));
    try {
      const { bytes, etags } = await hashFile(abs, h.partSizes, signal);
      hashed.set(h.key, { same: bytes === h.file.size && [...etags.values()].includes(h.etag) });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      hashed.set(h.key, { error: `cannot read ${h.file.rel}: ${describeError(err)}` });
    }
  }
  return hashed;
}
