// `r2mirror restore`: download a mirrored folder (or a part of it) from the bucket into a directory, checking every
// file against its ETag. Writes only under --to, through temp files renamed into place; never writes the state DB.

import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import type { Config, FolderConfig } from '../config.js';
import { IntegrityError, classify, describeError, printable, scrub } from '../errors.js';
import { DEFAULT_PART, candidatePartSizes, etagParts, mtimeToMetadata, partCount } from '../keys.js';
import { EtagStream, hashFile } from '../local/hash.js';
import type { Progress } from '../folder.js';
import type { Logger } from '../log.js';
import { Bucket, type OpCounts, type RemoteObject } from '../remote/bucket.js';
import { openObject } from '../remote/download.js';
import { explainS3Error } from '../remote/explain.js';
import { backoff } from '../retry.js';
import { Store, type ObjectRow } from '../state/store.js';
import { UsageError, checkFolderNames, clientFor, configPath, formatBytes, logLevelOption, num, parseCommand, reportError, setup } from './common.js';
import type { Command, CommandContext } from './context.js';
import { ProgressLine } from './progress.js';

/** Parsed `restore` options. */
export interface RestoreArgs {
  config: string;
  folder: string;
  /** Absolute. */
  to: string;
  /** Key prefix under the folder's prefix ('' = everything). */
  prefix: string;
  force: boolean;
  dryRun: boolean;
  json: boolean;
  logLevel?: string | undefined;
}

/** Parse the arguments after `restore`; relative --to is taken from `cwd`. Throws UsageError. */
export function parseRestoreArgs(argv: readonly string[], env: CommandContext['env'], cwd: string): RestoreArgs {
  const { values: v } = parseCommand('restore', argv, {
    config: { type: 'string', short: 'c' }, folder: { type: 'string', short: 'f' }, to: { type: 'string' },
    prefix: { type: 'string' }, force: { type: 'boolean' }, 'dry-run': { type: 'boolean', short: 'n' },
    json: { type: 'boolean' }, 'log-level': { type: 'string' },
  }, 0);
  const missing = [v.folder === undefined && '--folder NAME', v.to === undefined && '--to DIR'].filter(Boolean);
  if (missing.length) throw new UsageError(`restore: missing ${missing.join(' and ')}`);
  if (v.to === '') throw new UsageError('restore: --to must not be empty');
  const prefix = v.prefix ?? '';
  const problem = prefixProblem(prefix);
  if (problem) throw new UsageError(`restore: --prefix ${JSON.stringify(prefix)} ${problem}`);
  return {
    config: configPath(v.config, env), folder: v.folder!, to: path.resolve(cwd, v.to!), prefix, force: !!v.force,
    dryRun: !!v['dry-run'], json: !!v.json, logLevel: logLevelOption(v['log-level']),
  };
}

/** Why a --prefix value is unusable (it is relative to the folder's prefix), or undefined. */
export function prefixProblem(p: string): string | undefined {
  if (p.startsWith('/')) return 'must not start with "/": it is relative to the folder\'s prefix';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'must not contain control characters';
  if (p.split('/').some((s) => s === '.' || s === '..')) return 'must not contain "." or ".." segments';
  return undefined;
}

/** Where a key goes under the target directory: a file, a directory marker (`dir/`), or why it must not be written. */
export type RestorePath = { kind: 'file'; rel: string } | { kind: 'dir'; rel: string } | { kind: 'bad'; reason: string };

/**
 * The relative path (with '/' separators) that `key` restores to: the key minus the folder's `prefix`. Keys that
 * could write outside the target directory or are ambiguous as paths ('..' or '.' segments, a leading '/', empty
 * segments, NUL) are refused with a reason. A key ending in '/' is a directory marker.
 */
export function restorePath(key: string, prefix: string): RestorePath {
  if (!key.startsWith(prefix)) return { kind: 'bad', reason: `the key is not under the folder prefix "${prefix}"` };
  const rel = key.slice(prefix.length);
  if (rel === '') return { kind: 'bad', reason: 'the key is the folder prefix itself, which names no file' };
  if (rel.includes('\0')) return { kind: 'bad', reason: 'the key contains a NUL character, which no file name can hold' };
  if (rel.startsWith('/')) return { kind: 'bad', reason: 'the path would be absolute (the key has "/" right after the prefix); not written' };
  const dir = rel.endsWith('/');
  const segments = (dir ? rel.slice(0, -1) : rel).split('/');
  if (segments.some((s) => s === '..')) return { kind: 'bad', reason: 'the key has a ".." segment, which would write outside the target directory; not written' };
  if (segments.some((s) => s === '.')) return { kind: 'bad', reason: 'the key has a "." segment, so two keys could name one file; not written' };
  if (segments.some((s) => s === '')) return { kind: 'bad', reason: 'the key has an empty segment ("//"), so two keys could name one file; not written' };
  return dir ? { kind: 'dir', rel: rel.slice(0, -1) } : { kind: 'file', rel };
}

/** The temp file a download is written to before it is renamed into place (same directory, so rename is atomic). */
export function tempName(base: string): string {
  const tag = `.r2mirror-tmp-${randomBytes(4).toString('hex')}`;
  // A long name plus the suffix could pass the 255-byte limit of a file name.
  return Buffer.byteLength(base) > 200 ? tag : `.${base}${tag}`;
}

/** One planned step of a `--dry-run`. */
export interface PlannedRestore {
  readonly action: 'restore' | 'replace';
  readonly key: string;
  readonly path: string;
  readonly size: number;
}

/** What a restore did (or, with --dry-run, would do). */
export interface RestoreReport {
  ok: boolean;
  dryRun: boolean;
  folder: string;
  bucket: string;
  /** The key prefix that was listed. */
  prefix: string;
  to: string;
  /** Files written (with --dry-run: that would be). */
  restored: number;
  bytes: number;
  /** Files already identical on disk (same size and ETag): not downloaded. */
  skipped: number;
  /** Existing files with other content, left alone (no --force). */
  conflicts: { key: string; path: string; reason: string }[];
  failed: { key: string; reason: string }[];
  /** Objects whose ETag differs from the one the state DB recorded: changed in the bucket by something else. */
  changed: { key: string; reason: string }[];
  planned?: PlannedRestore[];
  ops: OpCounts;
  durationMs: number;
  exitCode: number;
}

/** Everything one object's restore needs. */
interface Job {
  readonly bucket: Bucket;
  readonly folder: FolderConfig;
  readonly to: string;
  /** realpath of --to (undefined in a dry run when it does not exist yet). */
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
  readonly dirs: Set<string>;
}

/** A local path that must not be written (outside --to, a directory in the way); the file fails, the run goes on. */
class PathError extends Error {}
/** The target appeared while the object was downloaded (no --force): left alone. */
class ConflictError extends Error {}

export const restoreCommand: Command = {
  name: 'restore',
  help: `  r2mirror restore --folder NAME --to DIR [options]
                               download a mirrored folder from the bucket into DIR, verifying every file
    -c, --config FILE        config file (default: $R2MIRROR_CONFIG, else /etc/r2mirror/config.yaml)
    -f, --folder NAME        the folder to restore (as named in the config)
        --to DIR             where to write the files (created if missing; may be the folder itself)
        --prefix P           only keys under P, relative to the folder's prefix (e.g. photos/2024/)
        --force              replace existing files whose content differs (default: leave them, exit 1)
    -n, --dry-run            list what would be downloaded or replaced; write nothing
        --json               print the summary as one JSON object on stdout
        --log-level LEVEL    fatal|error|warn|info|debug|trace|silent
`,
  run: runRestore,
};

async function runRestore(ctx: CommandContext): Promise<number> {
  const secrets: string[] = [];
  const t0 = Date.now();
  try {
    const args = parseRestoreArgs(ctx.args, ctx.env, ctx.cwd);
    const line = ctx.stderr.isTTY ? new ProgressLine(ctx.stderr, 'r2mirror restore') : undefined;
    const { config, credentials, log } = setup(ctx, {
      config: args.config, logLevel: args.logLevel, secrets,
      out: { write: (s: string) => (line ? line.log(s) : ctx.stderr.write(s)) },
      check: (c) => checkFolderNames(c, [args.folder]),
    });
    const folder = config.folders.find((f) => f.name === args.folder)!;
    const toReal = prepareTarget(args);
    const { client, ops } = clientFor(config, credentials);
    try {
      const report = await restore(config, folder, args, { bucket: new Bucket(client, folder.bucket), toReal, log, signal: ctx.signal, line });
      report.ops = ops.snapshot();
      report.durationMs = Date.now() - t0;
      ctx.stdout.write(scrub(args.json ? JSON.stringify(report) + '\n' : formatRestoreReport(report), secrets));
      log.info({ restored: report.restored, bytes: report.bytes, skipped: report.skipped, conflicts: report.conflicts.length,
        failed: report.failed.length, changed: report.changed.length, ops: report.ops, dryRun: report.dryRun }, 'restore finished');
      return report.exitCode;
    } finally {
      client.destroy();
    }
  } catch (err) {
    return reportError(ctx, err, secrets);
  }
}

/** Check --to and create it (not in a dry run); returns its real path, or undefined when it does not exist yet. */
function prepareTarget(args: RestoreArgs): string | undefined {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(args.to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new UsageError(`restore: --to ${args.to}: ${(err as Error).message}`);
  }
  if (st && !st.isDirectory()) throw new UsageError(`restore: --to ${args.to} exists and is not a directory`);
  if (!st) {
    if (args.dryRun) return undefined;
    try {
      fs.mkdirSync(args.to, { recursive: true });
    } catch (err) {
      throw new UsageError(`restore: cannot create --to ${args.to}: ${(err as Error).message}`);
    }
  }
  return fs.realpathSync(args.to);
}

/**
 * The recorded rows of the folder, without the lock (a daemon may hold it) and without writing anything
 * (Store's read-only mode leaves no trace beside the DB); empty without a DB.
 */
function recordedRows(config: Config, folder: FolderConfig, log: Logger): Map<string, ObjectRow> {
  if (!fs.existsSync(config.state)) return new Map();
  let store: Store | undefined;
  try {
    store = Store.open(config.state, { readonly: true, lock: false });
    // A folder recorded with another bucket or prefix has rows that describe other keys: folder() says so.
    store.folder(folder.name, folder.bucket, folder.prefix);
    return store.rows(folder.name);
  } catch (err) {
    log.warn({ state: config.state, reason: describeError(err) },
      'cannot read the state DB; restoring without it (every file is still checked against its ETag)');
    return new Map();
  } finally {
    store?.close();
  }
}

/** List the folder's objects under the prefix and restore each on a queue of `transfers` at once. */
async function restore(config: Config, folder: FolderConfig, args: RestoreArgs, deps: {
  bucket: Bucket; toReal: string | undefined; log: Logger; signal: AbortSignal; line: ProgressLine | undefined;
}): Promise<RestoreReport> {
  const listPrefix = folder.prefix + args.prefix;
  const report: RestoreReport = {
    ok: true, dryRun: args.dryRun, folder: folder.name, bucket: folder.bucket, prefix: listPrefix, to: args.to,
    restored: 0, bytes: 0, skipped: 0, conflicts: [], failed: [], changed: [], ...(args.dryRun ? { planned: [] } : {}),
    ops: { classA: 0, classB: 0, free: 0, byOp: {} }, durationMs: 0, exitCode: 0,
  };
  const progress: Progress = { filesTotal: 0, filesDone: 0, bytesTotal: 0, bytesDone: 0 };
  // A fatal error (access denied, endpoint gone) stops the queued and running downloads at once.
  const stop = new AbortController();
  const signal = AbortSignal.any([deps.signal, stop.signal]);
  setMaxListeners(config.transfers * 8 + 16, signal);
  const job: Job = {
    bucket: deps.bucket, folder, to: args.to, toReal: deps.toReal, rows: recordedRows(config, folder, deps.log),
    partSize: config.partSize ?? DEFAULT_PART, force: args.force, dryRun: args.dryRun, retries: config.retries,
    signal, log: deps.log, report, progress, dirs: new Set(),
  };
  // Trash prefixes of this bucket's folders: never restored (config keeps them outside every folder prefix; this
  // is the belt to those braces).
  const trash = config.folders.filter((g) => g.bucket === folder.bucket && g.deletes === 'trash').map((g) => g.trashPrefix);
  const queue = new PQueue({ concurrency: config.transfers });
  let fatal: unknown;
  const onFatal = (err: unknown) => {
    if (fatal === undefined && classify(err) !== 'abort') {
      fatal = err;
      stop.abort(err);
    }
  };
  deps.line?.start(progress);
  try {
    try {
      for await (const page of deps.bucket.list(listPrefix, signal)) {
        for (const o of page) {
          if (fatal !== undefined) break;
          if (trash.some((t) => o.key.startsWith(t))) continue;
          progress.filesTotal++;
          progress.bytesTotal += o.size;
          await queue.onSizeLessThan(config.transfers * 4);
          queue.add(() => restoreOne(o, job), { signal }).catch(onFatal);
        }
        if (fatal !== undefined) break;
      }
    } catch (err) {
      onFatal(err);
    }
    await queue.onIdle();
    await syncDirs(job.dirs);
  } finally {
    deps.line?.stop();
  }
  deps.signal.throwIfAborted();
  if (fatal !== undefined) throw explainS3Error(fatal, { bucket: folder.bucket, endpoint: config.remote.endpoint });
  // Downloads finish in any order; the report lists by key.
  const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  for (const list of [report.conflicts, report.failed, report.changed, report.planned ?? []]) list.sort(byKey);
  report.ok = report.failed.length === 0 && report.conflicts.length === 0 && report.changed.length === 0;
  report.exitCode = report.ok ? 0 : 1;
  return report;
}

/** Restore one object: skip it when the local file is identical, refuse to overwrite without --force, else download. */
async function restoreOne(o: RemoteObject, job: Job): Promise<void> {
  const { report, progress } = job;
  try {
    await restoreObject(o, job);
  } catch (err) {
    if (err instanceof PathError) report.failed.push({ key: o.key, reason: err.message });
    else if (err instanceof ConflictError) report.conflicts.push({ key: o.key, path: targetOf(job, o.key), reason: err.message });
    else if (classify(err) === 'fatal' || classify(err) === 'abort') throw err;
    else {
      report.failed.push({ key: o.key, reason: describeError(err) });
      job.log.warn({ key: o.key, reason: describeError(err) }, 'restore failed');
    }
  } finally {
    progress.filesDone++;
  }
}

function targetOf(job: Job, key: string): string {
  const r = restorePath(key, job.folder.prefix);
  return r.kind === 'bad' ? '' : path.join(job.to, ...r.rel.split('/'));
}

async function restoreObject(o: RemoteObject, job: Job): Promise<void> {
  const { report } = job;
  const where = restorePath(o.key, job.folder.prefix);
  if (where.kind === 'bad') throw new PathError(where.reason);
  if (where.kind === 'dir') {
    // A directory marker (made by consoles and some tools): the directory, nothing else.
    if (!job.dryRun) await fsp.mkdir(path.join(job.to, ...where.rel.split('/')), { recursive: true });
    return;
  }
  const target = path.join(job.to, ...where.rel.split('/'));
  const row = job.rows.get(o.key);
  if (row && row.etag !== o.etag) {
    report.changed.push({ key: o.key, reason: `changed in the bucket by something other than r2mirror: the state DB recorded ETag ${row.etag}, the bucket has ${o.etag}` });
  }
  const sizes = partSizesFor(o, row, job.partSize);
  if (typeof sizes === 'string') throw new PathError(sizes);

  let existing: fs.Stats | undefined;
  try {
    existing = await fsp.lstat(target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new PathError(`a parent of ${target} is a file, not a directory`);
    if (code !== 'ENOENT') throw new PathError(`cannot check ${target}: ${(err as Error).message}`);
  }
  if (existing?.isDirectory()) throw new PathError(`${target} is a directory; not replaced`);
  if (existing?.isFile() && existing.size === o.size) {
    const { etags } = await hashFile(target, sizes, job.signal);
    if ([...etags.values()].includes(o.etag)) {
      report.skipped++;
      job.progress.bytesTotal -= o.size;
      return;
    }
  }
  if (existing && !job.force) {
    const what = existing.isFile() ? 'exists with different content' : existing.isSymbolicLink() ? 'exists and is a symbolic link' : 'exists and is not a regular file';
    throw new ConflictError(`${target} ${what}; not replaced (--force replaces it)`);
  }
  if (job.dryRun) {
    report.planned!.push({ action: existing ? 'replace' : 'restore', key: o.key, path: target, size: o.size });
    report.restored++;
    report.bytes += o.size;
    return;
  }
  const started = Date.now();
  await withFileRetry(() => download(o, target, sizes, !!existing, job), job, o.key);
  report.restored++;
  report.bytes += o.size;
  job.log.info({ key: o.key, path: target, bytes: o.size, ms: Date.now() - started }, 'restored');
}

/**
 * Part sizes to check a multipart ETag with: the one the state DB recorded for this very object first, then the
 * sizes that give the same part count. [0] for a plain MD5. A string says why the content cannot be verified.
 */
export function partSizesFor(o: { size: number; etag: string }, row: { etag: string; partSize: number } | undefined, ours: number): number[] | string {
  if (/^[0-9a-f]{32}$/.test(o.etag)) return [0];
  const parts = etagParts(o.etag);
  if (parts === 0) return `its ETag "${o.etag}" is neither an MD5 nor a multipart ETag, so the content cannot be verified; not restored`;
  const candidates = candidatePartSizes(o.size, parts, 6, ours);
  const recorded = row && row.etag === o.etag && row.partSize > 0 && partCount(o.size, row.partSize) === parts ? [row.partSize] : [];
  const sizes = [...new Set([...recorded, ...candidates])];
  if (sizes.length === 0) return `no part size splits ${o.size} bytes into the ${parts} parts its ETag "${o.etag}" names, so the content cannot be verified; not restored`;
  return sizes;
}

/** Retry transient failures of one file (network, 5xx, a download that did not match) with backoff. */
async function withFileRetry(fn: () => Promise<void>, job: Job, key: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (job.signal.aborted || classify(err) !== 'retry' || attempt >= job.retries) {
        if (err instanceof IntegrityError && attempt > 0) err.message += ` (${attempt + 1} attempts)`;
        throw err;
      }
      const delay = backoff(attempt, 500);
      job.log.warn({ key, attempt: attempt + 1, delayMs: delay, reason: describeError(err) }, 'download failed, retrying');
      await sleep(delay, undefined, { signal: job.signal });
    }
  }
}

/** Stream the object into a temp file beside the target, check size and ETag, fsync, set mtime, move into place. */
async function download(o: RemoteObject, target: string, sizes: readonly number[], replace: boolean, job: Job): Promise<void> {
  const dir = path.dirname(target);
  await fsp.mkdir(dir, { recursive: true });
  // A symbolic link inside --to must not carry a file somewhere else.
  const real = await fsp.realpath(dir);
  if (job.toReal !== undefined && real !== job.toReal && !real.startsWith(job.toReal + path.sep)) {
    throw new PathError(`${dir} leads outside ${job.to} (through a symbolic link); not written`);
  }
  const tmp = path.join(dir, tempName(path.basename(target)));
  const fh = await fsp.open(tmp, 'wx', 0o666);
  let closed = false;
  let placed = false;
  try {
    const obj = await openObject(job.bucket, o.key, { etag: o.etag, signal: job.signal });
    if (obj.size !== o.size) {
      obj.body.destroy();
      throw new IntegrityError(`the server sent ${obj.size} bytes where the listing said ${o.size}`);
    }
    const hasher = new EtagStream(sizes[0]!);
    await pipeline(obj.body, hasher, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        for (let off = 0; off < chunk.length;) off += (await fh.write(chunk, off)).bytesWritten;
        job.progress.bytesDone += chunk.length;
      }
    }, { signal: job.signal });
    if (hasher.bytes !== o.size) throw new IntegrityError(`received ${hasher.bytes} of ${o.size} bytes`);
    let etag = hasher.etag();
    if (etag !== o.etag && sizes.length > 1) {
      const { etags } = await hashFile(tmp, sizes.slice(1), job.signal);
      if ([...etags.values()].includes(o.etag)) etag = o.etag;
    }
    if (etag !== o.etag) {
      throw new IntegrityError(`content does not match ETag ${o.etag} (downloaded content has ${etag}); the object is corrupt or was changed during download`);
    }
    await fh.sync();
    await fh.close();
    closed = true;
    // As a decimal string: Node turns a negative number of seconds into "now", but takes any sign in a string.
    const mtime = mtimeToMetadata(obj.mtimeNs ?? BigInt(Date.now()) * 1_000_000n);
    await fsp.utimes(tmp, mtime, mtime);
    await place(tmp, target, replace);
    placed = true;
    job.dirs.add(dir);
  } finally {
    if (!closed) await fh.close().catch(() => undefined);
    if (!placed) await fsp.rm(tmp, { force: true }).catch(() => undefined);
  }
}

/**
 * Move the finished temp file to the target. Without `replace`, a hard link is made first, which fails when a file
 * appeared there meanwhile (no clobbering a file we did not check); file systems without hard links get a rename.
 */
async function place(tmp: string, target: string, replace: boolean): Promise<void> {
  if (!replace) {
    try {
      await fsp.link(tmp, target);
      await fsp.unlink(tmp);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new ConflictError(`${target} appeared while the object was downloaded; not replaced (--force replaces it)`);
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS' && code !== 'EMLINK') throw err;
    }
  }
  await fsp.rename(tmp, target);
}

/** fsync the directories that got new entries, so the renames survive a crash. */
async function syncDirs(dirs: ReadonlySet<string>): Promise<void> {
  for (const d of dirs) {
    const fh = await fsp.open(d, 'r').catch(() => undefined);
    await fh?.sync().catch(() => undefined);
    await fh?.close().catch(() => undefined);
  }
}

/** The human summary printed at the end of `restore`. */
export function formatRestoreReport(r: RestoreReport): string {
  const lines: string[] = [];
  const verb = r.dryRun ? 'would restore' : 'restored';
  lines.push(`r2mirror restore${r.dryRun ? ' --dry-run' : ''}: folder ${r.folder} (${r.bucket}/${r.prefix}) -> ${r.to}: ` +
    `${verb} ${num(r.restored)} file(s) (${formatBytes(r.bytes)}), ${num(r.skipped)} already identical, ` +
    `${num(r.conflicts.length)} conflict(s), ${num(r.failed.length)} failed, in ${(r.durationMs / 1000).toFixed(1)} s`);
  for (const p of (r.planned ?? []).slice(0, 1000)) lines.push(`    ${p.action.padEnd(7)} ${p.key} -> ${p.path} (${formatBytes(p.size)})`);
  if ((r.planned?.length ?? 0) > 1000) lines.push(`    ... and ${num(r.planned!.length - 1000)} more (use --json for all)`);
  const list = (label: string, items: { key: string; reason: string }[]) => {
    for (const x of items.slice(0, 50)) lines.push(`  ${label}: ${x.key}: ${x.reason}`);
    if (items.length > 50) lines.push(`  ... and ${num(items.length - 50)} more (use --json for all)`);
  };
  list('conflict', r.conflicts);
  list('failed', r.failed);
  list('changed', r.changed);
  const ops = Object.entries(r.ops.byOp).map(([k, v]) => `${k} ${num(v)}`).join(', ');
  lines.push(`R2 operations spent: Class A ${num(r.ops.classA)}, Class B ${num(r.ops.classB)}, free ${num(r.ops.free)}${ops ? ` (${ops})` : ''}`);
  return lines.map(printable).join('\n') + '\n';
}

