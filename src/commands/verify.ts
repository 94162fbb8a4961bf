// `r2mirror verify`: compare bucket, state DB and disk key by key (size + ETag), print the differences, exit 0 only
// when all three agree. Sends only LIST requests, reads no file a fresh row vouches for, changes nothing but its
// own result in the state DB (and not even that while another r2mirror holds the DB).

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Config, FolderConfig } from '../config.js';
import { stateFilesOf } from '../engine.js';
import { ExitCode, FatalError, describeError, scrub } from '../errors.js';
import { DEFAULT_PART, toKey } from '../keys.js';
import { hashFile } from '../local/hash.js';
import { excludedPath, makeMatcher, scanFolder } from '../local/scan.js';
import type { Logger } from '../log.js';
import { explainS3Error } from '../remote/explain.js';
import { Bucket, type OpCounts, type RemoteObject } from '../remote/bucket.js';
import { withRetry } from '../retry.js';
import { Store, type ObjectRow } from '../state/store.js';
import { compareFolder, hashesNeeded, type Difference, type DifferenceKind, type HashVerdict, type VerifyCounts, type VerifyInput } from '../verify/compare.js';
import { checkFolderNames, clientFor, configPath, formatBytes, logLevelOption, num, parseCommand, reportError, setup } from './common.js';
import type { Command, CommandContext } from './context.js';

/** Parsed `verify` options. */
export interface VerifyArgs {
  config: string;
  /** Selected folders, deduplicated; empty: all. */
  folders: string[];
  json: boolean;
  logLevel?: string | undefined;
}

/** Parse the arguments after `verify`. Throws UsageError. */
export function parseVerifyArgs(argv: readonly string[], env: CommandContext['env']): VerifyArgs {
  const { values: v } = parseCommand('verify', argv, {
    config: { type: 'string', short: 'c' }, folder: { type: 'string', short: 'f', multiple: true }, json: { type: 'boolean' },
    'log-level': { type: 'string' },
  }, 0);
  return { config: configPath(v.config, env), folders: [...new Set(v.folder ?? [])], json: !!v.json, logLevel: logLevelOption(v['log-level']) };
}

export const verifyCommand: Command = {
  name: 'verify',
  help: `  r2mirror verify [options]    compare bucket, state DB and disk per key (size, ETag); exit 0 only if all agree
    -c, --config FILE        config file (default: $R2MIRROR_CONFIG, else /etc/r2mirror/config.yaml)
    -f, --folder NAME        only this folder (repeat for several)
        --json               print per-folder counts and every difference as one JSON object on stdout
        --log-level LEVEL    fatal|error|warn|info|debug|trace|silent
                             costs one LIST (Class A) per 1,000 keys, no HEAD or GET; reads only files whose
                             row is stale or missing; changes nothing but its result in the state DB
`,
  run: runVerify,
};

/** What `verify --json` prints for one folder. */
export interface FolderVerifyReport {
  readonly name: string;
  readonly path: string;
  readonly bucket: string;
  readonly prefix: string;
  ok: boolean;
  /** Why the disk was not compared (missing or empty root): a difference of its own. */
  error: string | null;
  /** Something worth knowing that is not a difference (rows recorded for another bucket or prefix). */
  note: string | null;
  counts: VerifyCounts;
  differences: Difference[];
}

/** What `verify --json` prints. */
export interface VerifyReport {
  ok: boolean;
  exitCode: number;
  durationMs: number;
  /** Whether the result was written to the state DB for `status` (notRecorded says why not). */
  recorded: boolean;
  notRecorded?: string;
  folders: FolderVerifyReport[];
  ops: OpCounts;
}

/** What the state DB keeps of a verification (for `status`): counts, not the list. */
export interface RecordedVerify {
  /** What was checked: `status` shows the result only while the config names the same. */
  readonly bucket: string;
  readonly prefix: string;
  readonly ok: boolean;
  readonly keys: number;
  readonly agree: number;
  readonly differences: number;
  readonly byKind: Partial<Record<DifferenceKind, number>>;
  readonly error: string | null;
}

/** Differences printed per folder before "... and N more (use --json)". */
const SHOWN = 100;

async function runVerify(ctx: CommandContext): Promise<number> {
  const secrets: string[] = [];
  let client: { destroy(): void } | undefined;
  try {
    const started = Date.now();
    const args = parseVerifyArgs(ctx.args, ctx.env);
    const { config, credentials, log } = setup(ctx, {
      config: args.config, logLevel: args.logLevel, secrets, check: (c) => checkFolderNames(c, args.folders),
    });
    const names = args.folders.length ? args.folders : config.folders.map((f) => f.name);
    const s3 = clientFor(config, credentials, 4);
    client = s3.client;
    // Bill each LIST to its folder, as the engine does, so `status` can add them to the folder's totals.
    s3.ops.attribute = (bucket, key) => config.folders.find((f) => f.bucket === bucket && key.startsWith(f.prefix))?.name;
    // Read without the lock and without writing (as `status` does): a running daemon is never blocked.
    const store = Store.open(config.state, { readonly: true, lock: false });
    const folders: FolderVerifyReport[] = [];
    try {
      for (const name of names) {
        const folder = config.folders.find((f) => f.name === name)!;
        folders.push(await verifyFolder(config, folder, store, new Bucket(s3.client, folder.bucket), log, ctx.signal));
      }
    } finally {
      store.close();
    }
    const ok = folders.every((f) => f.ok);
    const report: VerifyReport = {
      ok, exitCode: ok ? ExitCode.OK : ExitCode.FILES_FAILED, durationMs: Date.now() - started, recorded: false, folders, ops: s3.ops.snapshot(),
    };
    const why = record(config, folders, s3.ops.takeOwnerCounts(), Date.now());
    if (why === undefined) report.recorded = true;
    else {
      report.notRecorded = why;
      log.warn({ state: config.state, reason: why }, 'verification not recorded in the state DB (status will not show it)');
    }
    ctx.stdout.write(scrub(args.json ? JSON.stringify(report) + '\n' : formatVerify(report, config), secrets));
    return report.exitCode;
  } catch (err) {
    return reportError(ctx, err, secrets);
  } finally {
    client?.destroy();
  }
}

/** Compare one folder: rows (no lock), then the listing, then the disk; hash only what no fresh row vouches for. */
async function verifyFolder(config: Config, folder: FolderConfig, store: Store, bucket: Bucket, log: Logger, signal: AbortSignal): Promise<FolderVerifyReport> {
  const flog = log.child({ folder: folder.name });
  let note: string | null = null;
  // Rows recorded under another bucket or prefix describe other keys (the next sync forgets them): compare without.
  if (store.moved(folder.name, folder.bucket, folder.prefix)) {
    note = `the state DB recorded this folder under another bucket or prefix; its rows describe other keys and were not compared (the next sync forgets them)`;
  }
  store.folder(folder.name, folder.bucket, folder.prefix); // read-only: only marks a moved folder's rows as stale
  const rows: Map<string, ObjectRow> = store.rows(folder.name);
  const objects = await listObjects(config, folder, bucket, flog, signal);

  let error = await rootProblem(folder.path);
  let scan: Awaited<ReturnType<typeof scanFolder>> | undefined;
  if (error === undefined) {
    scan = await scanFolder({
      root: folder.path, prefix: folder.prefix, exclude: folder.exclude, followSymlinks: folder.followSymlinks,
      alwaysExclude: stateFilesOf(config), signal,
    });
    // A root without a regular file where the DB or the bucket has files is an unmounted disk until proven
    // otherwise (as in sync: a dangling link or a FIFO on a bare mount point proves nothing).
    if (scan.regularFiles === 0 && (rows.size > 0 || objects.size > 0)) {
      error = `folder path ${folder.path} is empty, but ${rows.size >= objects.size ? `the state DB recorded ${num(rows.size)} files from it` : `the bucket holds ${num(objects.size)} objects under its prefix`} (unmounted disk?); the disk was not compared`;
      scan = undefined;
    }
  }
  // Excluded paths are not compared: sync leaves their objects alone. With deleteExcluded,
  // sync removes them, so they are compared (the walk does not see the files: they show as deleted or extra).
  const deleteExcluded = folder.deleteExcluded;
  const matcher = makeMatcher(deleteExcluded ? [] : folder.exclude);
  const stateKeys = new Set(stateFilesOf(config).map((abs) => path.relative(folder.path, abs)).filter((rel) => !rel.startsWith('..') && !path.isAbsolute(rel))
    .map((rel) => toKey(folder.prefix, rel.split(path.sep).join('/'))));
  const input: VerifyInput = {
    objects, rows, files: scan?.files, unknownPrefixes: scan?.unknownPrefixes ?? [], unknownKeys: scan?.unknownKeys ?? new Set(),
    problems: (scan?.problems ?? []).filter((p) => p.kind === 'failed').map((p) => ({ key: toKey(folder.prefix, p.rel), rel: p.rel, reason: p.reason })),
    excluded: (key) => stateKeys.has(key) || (key.startsWith(folder.prefix) && excludedPath(matcher, key.slice(folder.prefix.length))),
    deletes: folder.deletes, partSize: config.partSize ?? DEFAULT_PART,
  };
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
    }, { retries: config.retries, signal, log, what: 'list' });
  } catch (err) {
    throw explainS3Error(err, { bucket: folder.bucket, endpoint: config.remote.endpoint });
  }
  return out;
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
        const byKind: Partial<Record<DifferenceKind, number>> = {};
        for (const d of f.differences) byKind[d.kind] = (byKind[d.kind] ?? 0) + 1;
        const result: RecordedVerify = { bucket: f.bucket, prefix: f.prefix, ok: f.ok, keys: f.counts.keys, agree: f.counts.agree, differences: f.differences.length + (f.error ? 1 : 0), byKind, error: f.error };
        if (!store.recordVerify(f.name, f.bucket, f.prefix, at, result)) skipped.push(f.name);
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

/** A key or path on one line: JSON-quoted when it holds control characters (a newline, an escape sequence), as `ls` shows keys. */
function show(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(s) ? JSON.stringify(s) : s;
}

const LABEL: Record<DifferenceKind, string> = {
  'missing-object': 'missing in bucket',
  'extra-object': 'extra in bucket',
  'missing-row': 'missing row',
  'row-without-object': 'row without object',
  'object-differs': 'bucket differs from DB',
  changed: 'changed on disk',
  deleted: 'deleted on disk',
  'not-uploaded': 'not uploaded',
  'cannot-check': 'cannot check',
};

const obj = (o: { size: number; etag: string }) => `${formatBytes(o.size)}, ETag ${o.etag}`;

/** One human line for a difference: label, key, what each side holds. */
export function describeDifference(d: Difference, deletes: FolderConfig['deletes']): string {
  const detail = (() => {
    switch (d.kind) {
      case 'missing-object':
        return `the DB recorded ${obj(d.db!)}, the bucket has no object${d.disk ? '; the file is on disk' : ''}`;
      case 'extra-object':
        return `${obj(d.bucket!)} in the bucket, but no file and no row (sync ${deletes === 'trash' ? 'moves it to the trash' : 'deletes it'})`;
      case 'missing-row':
        return `bucket and file agree (${obj(d.bucket!)}), but the state DB has no row (sync records it without uploading)`;
      case 'row-without-object':
        return `the DB recorded ${obj(d.db!)}, but there is no object and no file (sync forgets the row)`;
      case 'object-differs':
        return `the bucket holds ${obj(d.bucket!)}, the DB recorded ${obj(d.db!)}`;
      case 'changed':
        return `${d.disk!.size !== d.db!.size ? `${formatBytes(d.disk!.size)} now, ${formatBytes(d.db!.size)} recorded` : d.disk!.content === 'differs' ? 'same size, other content' : 'modified since recorded'}; not synced yet`;
      case 'deleted':
        return `the file is gone, bucket and DB still hold it (${obj(d.db!)}); not synced yet`;
      case 'not-uploaded':
        return d.bucket ? `the bucket holds other content (${obj(d.bucket)}) and the DB has no row; not synced yet` : `the file (${formatBytes(d.disk!.size)}) is not in the bucket; not synced yet`;
      case 'cannot-check':
        return d.reason ?? '';
    }
  })();
  return `${LABEL[d.kind]}: ${show(d.key)}: ${show(detail)}`;
}

/** The human report of `verify`. */
export function formatVerify(r: VerifyReport, config: Config): string {
  const lines: string[] = [];
  for (const f of r.folders) {
    const c = f.counts;
    const where = `${f.name}: ${f.path} -> ${f.bucket}/${f.prefix}`;
    const extras = [
      c.kept ? `${num(c.kept)} object(s) kept for deleted files (deletes: keep)` : '',
      c.excluded ? `${num(c.excluded)} excluded key(s) not compared` : '',
    ].filter(Boolean).join(', ');
    const reads = `${num(c.vouched)} vouched for by the state DB, ${num(c.hashed)} read`;
    if (f.ok) lines.push(`${where}: ok: ${num(c.agree)} key${c.agree === 1 ? '' : 's'} agree (${reads})${extras ? `; ${extras}` : ''}`);
    else lines.push(`${where}: ${num(f.differences.length + (f.error ? 1 : 0))} difference(s), ${num(c.agree)} key(s) agree (${reads})${extras ? `; ${extras}` : ''}`);
    if (f.error) lines.push(`  ERROR: ${show(f.error)}`);
    if (f.note) lines.push(`  note: ${f.note}`);
    const deletes = config.folders.find((x) => x.name === f.name)?.deletes ?? 'mirror';
    for (const d of f.differences.slice(0, SHOWN)) lines.push(`  ${describeDifference(d, deletes)}`);
    if (f.differences.length > SHOWN) lines.push(`  ... and ${num(f.differences.length - SHOWN)} more (use --json)`);
  }
  const ops = Object.entries(r.ops.byOp).map(([k, v]) => `${k} ${num(v)}`).join(', ');
  lines.push(`r2mirror verify: ${r.ok ? 'bucket, state DB and disk agree' : 'differences found'} in ${(r.durationMs / 1000).toFixed(1)} s; ` +
    `R2 operations spent: Class A ${num(r.ops.classA)}, Class B ${num(r.ops.classB)}, free ${num(r.ops.free)}${ops ? ` (${ops})` : ''}`);
  return lines.join('\n') + '\n';
}
