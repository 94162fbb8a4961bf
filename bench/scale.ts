// Scenario S of `npm run bench` (only with `--scenario S`: it is long): r2mirror at the scale of issue #11, on a
// generated tree of 1,000,000 small files (16-256 B) in ~5,000 directories (--quick: 100,000 files in ~500 dirs),
// against the S3 server behind the R2 proxy. bench/run.ts owns the proxy, the buckets, the budget and how one CLI
// run is measured; this file builds the trees, seeds a state DB, runs the steps and writes the S section of
// bench/RESULTS.md:
//   S1  `sync --dry-run --json` of the big tree into an empty prefix (fresh state DB, empty bucket); plus one run
//       without --json (text summary) for comparison. The --json run is the measured one (the targets use it).
//   S2  a state DB seeded for the big tree without any PUT (rows written through src/state/store.ts as an upload
//       would write them: md5 ETag, size, mtime, inode, dev; the folder marked listed now), then a no-change
//       `sync --trust-state --json` (expected: 0 requests). The no-change sync WITH listing is not run on the big
//       tree: it needs every file as an object in the bucket (1,000,000 PUTs take too long on RGW); S3 has it.
//   S3  100,000 files: the first sync (real PUTs), a no-change sync (listing), a no-change `sync --trust-state`.
//   S4  (not with --quick) `r2mirror daemon` on the big tree with the seeded DB: time to 'watchers armed' and to
//       the first local reconcile, peak RSS (VmHWM), steady RSS after an idle window, requests, SIGTERM.
// Every step has a timeout and the scenario a budget; a step that times out or fails is reported, not hung on.
// Must not: write to src/ or the user's config; leave trees, buckets or daemons behind; let a measured process
// upload a seeded tree (a watchdog kills a run whose PUTs were not expected).

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { Store, type ObjectRow } from '../src/state/store.js';
import type { R2Proxy } from '../test/harness/r2proxy.js';
import { mulberry32 } from '../test/harness/r2proxy.js';
import { DaemonProc, inotifyWatches, procCpuMs, procStatus } from './daemon.js';
import { KiB, MiB, randomPool } from './dataset.js';
import { fmtSummary, mdTable, median, summarize } from './stats.js';

/** Markers around the S section of bench/RESULTS.md (run.ts keeps the section when S did not run, and the rest when only S ran). */
export const SECTION_BEGIN = '<!-- scenario S: begin -->';
export const SECTION_END = '<!-- scenario S: end -->';

const MIN_SIZE = 16;
const MAX_SIZE = 256;
const FILES_PER_DIR = 200;
const LEAVES_PER_TOP = 100;
const TREE_SEED = 0x5ca1e;
const SUBSET_FILES = 100_000;
const FOLDER = 'bench';

/** Issue #11's targets ("Done when", medians on this machine). */
const TARGET = {
  dryRunRssMiB: 150, trustedBigS: 10, firstSyncRssMiB: 150, listingS: 3.2, trustedSubsetS: 1.5, flatRatio: 1.3,
  daemonPeakMiB: 200, daemonSteadyMiB: 150, daemonReconcileS: 20, rcloneDryRunS: 10.4, rcloneRatio: 0.8,
};
/**
 * Per-step timeouts (a run past its timeout is killed and reported). `armed`: on 1,000,000 files the daemon took
 * ~400 s to arm its 5,051 watches (measured by hand after the first full run, whose 300 s timeout cut it off).
 */
const TIMEOUT = {
  dryRun: 600_000, trusted: 600_000, firstSync: 900_000, noChange: 300_000, armed: 900_000, reconciled: 600_000, stop: 60_000,
};

export interface ScaleOptions {
  readonly quick: boolean;
  /** Files of the big tree (S1, S2, S4). */
  readonly files: number;
  /** Files of the S3 tree. */
  readonly subsetFiles: number;
  readonly reps: { readonly dryRun: number; readonly trusted: number; readonly noChange: number };
  readonly daemon: boolean;
  /** S4: how long the daemon sits idle after its first reconcile before the steady RSS is read. */
  readonly idleMs: number;
  /** No new step starts after this long; what ran is reported. */
  readonly budgetMs: number;
}

export function scaleOptions(quick: boolean): ScaleOptions {
  // R2M_BENCH_SCALE_FILES: a smaller big tree, only for debugging the scenario itself (the report says so).
  const override = Number(process.env.R2M_BENCH_SCALE_FILES ?? '') || 0;
  const files = override || (quick ? 100_000 : 1_000_000);
  return {
    quick, files, subsetFiles: Math.min(SUBSET_FILES, files),
    reps: quick ? { dryRun: 1, trusted: 1, noChange: 1 } : { dryRun: 3, trusted: 3, noChange: 3 },
    daemon: !quick, idleMs: 20_000, budgetMs: quick ? 25 * 60_000 : 55 * 60_000,
  };
}

/** One measured CLI run, as bench/run.ts's measure() reports it. */
export interface ScaleRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly wallMs: number;
  readonly cpuMs: number | undefined;
  readonly rssMiB: number | undefined;
  readonly memPeak: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number } | undefined;
  readonly stderr: string;
  readonly counts: { byOp: Record<string, number>; classA: number; classB: number; free: number };
  readonly proxyCpuMs: number;
  readonly load1: number;
}

/** What bench/run.ts provides. */
export interface ScaleHost {
  readonly work: string;
  readonly cliJs: string;
  readonly repo: string;
  readonly prefix: string;
  readonly proxy: R2Proxy;
  progress(msg: string): void;
  /** Throws when the bench was interrupted or is over its budget. */
  check(): void;
  childEnv(): NodeJS.ProcessEnv;
  setChild(c: ChildProcess | undefined): void;
  /** Kills the measured child now (the watchdog). */
  killChild(): void;
  newBucket(hint: string): Promise<string>;
  dropBucket(b: string): Promise<void>;
  /** `node dist/cli.js <args>` measured, its stdout written to `stdoutFile` (not held in memory). */
  run(args: string[], timeoutMs: number, stdoutFile: string): Promise<ScaleRun>;
}

export type StepId = 'S1 dry-run --json' | 'S1 dry-run (text)' | 'S2 trusted no-change' | 'S3 first sync' | 'S3 no-change (listing)' | 'S3 no-change (trusted)';
const STEPS: readonly StepId[] = ['S1 dry-run --json', 'S1 dry-run (text)', 'S2 trusted no-change', 'S3 first sync', 'S3 no-change (listing)', 'S3 no-change (trusted)'];

export interface StepRun {
  readonly id: StepId;
  readonly rep: number;
  readonly files: number;
  readonly problems: string[];
  readonly wallMs: number;
  readonly engineMs: number | undefined;
  readonly cpuMs: number | undefined;
  readonly rssMiB: number | undefined;
  readonly memPeak: ScaleRun['memPeak'];
  readonly counts: ScaleRun['counts'];
  readonly load1: number;
  /** What the run reported: planned / uploaded / unchanged, listed or trusted. */
  readonly outcome: string;
}

export interface TreeInfo {
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
  readonly genMs: number;
  /** Rows seeded into a state DB while generating (S2/S4), and the time that added. */
  readonly seededRows?: number | undefined;
}

export interface DaemonScaleRun {
  problems: string[];
  armMs?: number | undefined;
  armDirs?: number | undefined;
  reconcileMs?: number | undefined;
  reconcileLogMs?: number | undefined;
  reconcileKind?: string | undefined;
  hwmAtReconcileMiB?: number | undefined;
  startRequests?: Record<string, number> | undefined;
  startCpuMs?: number | undefined;
  idleMs?: number | undefined;
  idleCpuMs?: number | undefined;
  idleRequests?: number | undefined;
  /** Highest VmRSS sampled (every second) in the idle window. */
  idleMaxRssMiB?: number | undefined;
  steadyRssMiB?: number | undefined;
  hwmMiB?: number | undefined;
  inotifyWatches?: number | undefined;
  threads?: number | undefined;
  stopMs?: number | undefined;
  exitCode?: number | null | undefined;
  exitSignal?: string | null | undefined;
}

export interface ScaleResult {
  readonly opts: ScaleOptions;
  readonly problems: string[];
  readonly notes: string[];
  readonly runs: StepRun[];
  readonly startedAt: string;
  elapsedMs?: number | undefined;
  tree?: TreeInfo | undefined;
  subset?: TreeInfo | undefined;
  /** The subset is the big tree itself (--quick). */
  subsetIsTree?: boolean | undefined;
  daemon?: DaemonScaleRun | undefined;
  /** S3: the wait for an idle machine between the first sync and the no-change syncs. */
  settle?: { waitedMs: number; idle: boolean; busyPct: number } | undefined;
  /** Steps not run, with why. */
  readonly skipped: { step: string; why: string }[];
}

export function newScaleResult(opts: ScaleOptions): ScaleResult {
  return { opts, problems: [], notes: [], runs: [], skipped: [], startedAt: new Date().toISOString() };
}

class OutOfTime extends Error {}

/** Busy share of all CPUs over `ms` (from /proc/stat; NaN where there is none). */
async function busyShare(ms: number): Promise<number> {
  const read = () => {
    try {
      const f = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
      return { total: f.reduce((a, b) => a + b, 0), idle: (f[3] ?? 0) + (f[4] ?? 0) };
    } catch {
      return undefined;
    }
  };
  const a = read();
  await sleep(ms);
  const b = read();
  return a && b && b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : NaN;
}

/**
 * Waits (at most 120 s) until the machine is idle, <= 15% busy over two 2 s windows in a row. After the 100,000-file
 * first sync the S3 server goes on working for a while (load 7.8 when the no-change syncs started in one run, which
 * then took 2.65 s where the same run on an idle machine takes 1.7 s): the no-change syncs are measured after it.
 */
async function settle(): Promise<{ waitedMs: number; idle: boolean; busyPct: number }> {
  const t = performance.now();
  let calm = 0;
  let busy = NaN;
  while (performance.now() - t < 120_000) {
    busy = await busyShare(2_000);
    if (!(busy <= 0.15)) calm = 0;
    else if (++calm >= 2) return { waitedMs: performance.now() - t, idle: true, busyPct: busy * 100 };
  }
  return { waitedMs: performance.now() - t, idle: false, busyPct: busy * 100 };
}

// --- the tree ---------------------------------------------------------------------------------------------------

/** `size` bytes for file `i`: its number (base 36) and a newline, then a pool slice; distinct for every i even at MIN_SIZE. */
function content(pool: Buffer, i: number, size: number, rand: () => number): Buffer {
  const out = Buffer.allocUnsafe(size);
  const n = out.write(`${i.toString(36)}\n`, 0, 'latin1');
  const off = Math.floor(rand() * (pool.length - size));
  pool.copy(out, n, off, off + size - n);
  return out;
}

/**
 * Writes `files` files of MIN_SIZE-MAX_SIZE bytes, FILES_PER_DIR per leaf dir, LEAVES_PER_TOP leaves per top dir
 * (1,000,000 files: 50 top dirs, 5,000 leaves, 5,051 dirs with the root). Deterministic (seeded content, sizes and
 * names). With `seed`, each file's row goes into that state DB as an upload would record it.
 */
export function writeTree(root: string, files: number, deadline: number, host: ScaleHost, seed?: { store: Store; prefix: string }): TreeInfo {
  const t = performance.now();
  const rand = mulberry32(TREE_SEED);
  const pool = randomPool(64 * KiB, TREE_SEED);
  const leaves = Math.ceil(files / FILES_PER_DIR);
  const tops = Math.ceil(leaves / LEAVES_PER_TOP);
  let bytes = 0;
  let rows = 0;
  let i = 0;
  fs.mkdirSync(root, { recursive: true });
  for (let top = 0; top < tops && i < files; top++) {
    const topRel = `d${String(top).padStart(3, '0')}`;
    fs.mkdirSync(path.join(root, topRel));
    for (let leaf = 0; leaf < LEAVES_PER_TOP && i < files; leaf++) {
      const dirRel = `${topRel}/s${String(leaf).padStart(3, '0')}`;
      const dirAbs = path.join(root, dirRel);
      fs.mkdirSync(dirAbs);
      const batch: ObjectRow[] = [];
      for (let k = 0; k < FILES_PER_DIR && i < files; k++, i++) {
        const name = `f${String(i).padStart(7, '0')}.txt`;
        const size = MIN_SIZE + Math.floor(rand() * (MAX_SIZE - MIN_SIZE + 1));
        const body = content(pool, i, size, rand);
        const abs = `${dirAbs}/${name}`;
        fs.writeFileSync(abs, body);
        bytes += size;
        if (seed) {
          const st = fs.statSync(abs, { bigint: true });
          const etag = createHash('md5').update(body).digest('hex');
          const rel = `${dirRel}/${name}`;
          batch.push({
            key: (seed.prefix + rel).normalize('NFC'), rel, size, mtimeNs: st.mtimeNs.toString(), ino: st.ino.toString(),
            etag, md5: etag, partSize: 0, syncedAt: Date.now(), dev: st.dev.toString(),
          });
        }
      }
      if (seed && batch.length) {
        seed.store.batch(() => {
          for (const r of batch) seed.store.put(FOLDER, r);
        });
        rows += batch.length;
      }
    }
    if (performance.now() > deadline) throw new OutOfTime(`generating the ${files}-file tree took past the scenario's budget`);
    if ((top + 1) % 10 === 0) host.progress(`S: ${i} files written`);
  }
  return { files: i, dirs: 1 + tops + leaves, bytes, genMs: performance.now() - t, ...(seed ? { seededRows: rows } : {}) };
}

/** A config for one folder; configs written with the same `name` share one state DB. */
function writeConfig(host: ScaleHost, name: string, root: string, bucket: string, extra: string[] = []): { file: string; state: string } {
  const dir = path.join(host.work, `run-${name}`);
  fs.mkdirSync(dir, { recursive: true });
  const state = path.join(dir, 'state', 'state.db');
  const file = path.join(dir, extra.length ? 'r2mirror-tuned.yaml' : 'r2mirror.yaml');
  fs.writeFileSync(file, [
    'remote:',
    `  endpoint: ${host.proxy.endpoint}`,
    `state: ${state}`,
    ...extra,
    'folders:',
    `  - name: ${FOLDER}`,
    `    path: ${root}`,
    `    bucket: ${bucket}`,
    `    prefix: ${host.prefix}`,
  ].join('\n') + '\n');
  return { file, state };
}

// --- one measured CLI run -----------------------------------------------------------------------------------------

interface Expect {
  readonly planned?: number;
  readonly uploaded?: number;
  readonly unchanged?: number;
  /** The watchdog kills the run at the first PutObject beyond this (default 0). */
  readonly maxPuts?: number;
  readonly requests?: number;
  readonly trusted?: boolean;
  readonly json: boolean;
}

interface SyncSummary {
  ok?: boolean;
  exitCode?: number;
  durationMs?: number;
  totals?: { uploaded?: { files?: number }; unchanged?: number; failed?: number };
  ops?: { classA?: number; classB?: number };
  folders?: { planned?: unknown[]; unchanged?: number; listing?: { listed: boolean; why?: string } }[];
}

let outSeq = 0;

async function step(host: ScaleHost, res: ScaleResult, id: StepId, rep: number, of: number, files: number, config: string, args: string[], timeoutMs: number, x: Expect): Promise<StepRun> {
  host.check();
  const out = path.join(host.work, `s-stdout-${outSeq++}.txt`);
  let watchdog = '';
  const dog = setInterval(() => {
    const c = host.proxy.counts();
    if ((c.byOp.PutObject ?? 0) > (x.maxPuts ?? 0)) {
      watchdog = `killed by the watchdog: ${c.byOp.PutObject} PutObject where ${x.maxPuts ?? 0} were expected`;
      host.killChild();
    }
  }, 250);
  let m: ScaleRun;
  try {
    m = await host.run(['sync', '--config', config, ...args], timeoutMs, out);
  } finally {
    clearInterval(dog);
  }
  const problems: string[] = [];
  if (watchdog) problems.push(watchdog);
  if (m.timedOut) problems.push(`killed after the ${timeoutMs / 1000} s timeout`);
  else if (m.code !== 0 && !watchdog) problems.push(`exit ${m.code ?? m.signal}: ${m.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 600)}`);
  let outcome = '';
  let engineMs: number | undefined;
  try {
    const text = fs.readFileSync(out, 'utf8');
    if (x.json) {
      let j: SyncSummary | undefined;
      try {
        j = JSON.parse(text) as SyncSummary;
      } catch {
        problems.push(`no JSON summary on stdout (${text.length} bytes)`);
      }
      if (j) {
        engineMs = j.durationMs;
        const f = j.folders?.[0];
        const planned = f?.planned?.length;
        const uploaded = j.totals?.uploaded?.files;
        const unchanged = j.totals?.unchanged ?? f?.unchanged;
        const listing = f?.listing;
        outcome = [planned !== undefined ? `planned ${planned}` : '', uploaded !== undefined && planned === undefined ? `uploaded ${uploaded}` : '',
          unchanged !== undefined ? `unchanged ${unchanged}` : '', listing ? (listing.listed ? `listed (${listing.why ?? '?'})` : 'state trusted') : '']
          .filter(Boolean).join(', ');
        if (x.planned !== undefined && planned !== x.planned) problems.push(`planned ${planned ?? '?'} actions, expected ${x.planned}`);
        if (x.uploaded !== undefined && uploaded !== x.uploaded) problems.push(`uploaded ${uploaded ?? '?'}, expected ${x.uploaded}`);
        if (x.unchanged !== undefined && unchanged !== x.unchanged) problems.push(`unchanged ${unchanged ?? '?'}, expected ${x.unchanged}`);
        if (x.trusted !== undefined && (!listing || listing.listed === x.trusted)) problems.push(`expected the state DB ${x.trusted ? 'trusted' : 'not trusted'}; listing: ${JSON.stringify(listing)}`);
        if (j.totals?.failed) problems.push(`${j.totals.failed} failed`);
        if (j.ops && (j.ops.classA !== m.counts.classA || j.ops.classB !== m.counts.classB)) {
          problems.push(`CLI counted A ${j.ops.classA} / B ${j.ops.classB}, proxy saw A ${m.counts.classA} / B ${m.counts.classB}`);
        }
      }
    } else {
      const would = /would do ([\d,]+) action\(s\), ([\d,]+) unchanged/.exec(text);
      const planned = would ? Number(would[1]!.replace(/,/g, '')) : undefined;
      outcome = would ? `planned ${planned} (text summary, ${(text.length / KiB).toFixed(0)} KiB)` : '';
      if (x.planned !== undefined && planned !== x.planned) problems.push(`the text summary says ${planned ?? '?'} actions, expected ${x.planned}`);
    }
  } catch (err) {
    problems.push(`stdout unreadable: ${(err as Error).message}`);
  } finally {
    fs.rmSync(out, { force: true });
  }
  const total = m.counts.classA + m.counts.classB + m.counts.free;
  if (x.requests !== undefined && total !== x.requests) problems.push(`${total} request(s), expected ${x.requests}: ${JSON.stringify(m.counts.byOp)}`);
  if (!m.rssMiB) problems.push('no resource usage (process did not exit normally)');
  const r: StepRun = {
    id, rep, files, problems, wallMs: m.wallMs, engineMs, cpuMs: m.cpuMs, rssMiB: m.rssMiB, memPeak: m.memPeak, counts: m.counts, load1: m.load1, outcome,
  };
  res.runs.push(r);
  host.progress(`${id} ${rep}/${of}: wall ${(r.wallMs / 1000).toFixed(2)} s, CPU ${r.cpuMs !== undefined ? (r.cpuMs / 1000).toFixed(2) : '?'} s, ` +
    `RSS ${r.rssMiB?.toFixed(0) ?? '?'} MiB, requests ${total} ${JSON.stringify(m.counts.byOp)}; ${outcome}${problems.length ? `  PROBLEM: ${problems.join('; ')}` : ''}`);
  return r;
}

// --- the scenario -------------------------------------------------------------------------------------------------

export async function scenarioS(host: ScaleHost, res: ScaleResult): Promise<void> {
  const o = res.opts;
  const started = performance.now();
  const deadline = started + o.budgetMs;
  const trees: string[] = [];
  const buckets: string[] = [];
  const left = (what: string) => {
    if (performance.now() > deadline) throw new OutOfTime(`the scenario's ${o.budgetMs / 60_000} min budget was used up before ${what}`);
  };
  let pending = ['S1', 'S2', ...(o.daemon ? ['S4'] : []), 'S3'];
  const done = (s: string) => (pending = pending.filter((p) => p !== s));
  if (!o.daemon) res.skipped.push({ step: 'S4 daemon', why: '--quick skips the daemon part' });
  res.skipped.push({
    step: `S2 no-change sync with listing of the ${o.files}-file tree`,
    why: o.subsetFiles === o.files
      ? 'S3 syncs this same tree for real; its no-change sync with listing is this measurement'
      : `it needs all ${o.files} files as objects in the bucket, i.e. ${o.files} PUTs first (at least ${Math.round((o.files * 1.8) / 60_000)} min on this RGW at the ` +
        `D seed's 1.8 ms/file, plus as long again to delete them); S3 measures it at ${o.subsetFiles} files`,
  });
  try {
    // the big tree, seeding the state DB of S2/S4 as it is written
    const root = path.join(host.work, `s-tree-${o.files}`);
    trees.push(root);
    const seededBucket = await host.newBucket('s-seeded');
    buckets.push(seededBucket);
    const seeded = writeConfig(host, 's-seeded', root, seededBucket);
    host.progress(`S: writing ${o.files} files and seeding their rows into ${seeded.state}`);
    const store = Store.open(seeded.state);
    try {
      store.folder(FOLDER, seededBucket, host.prefix);
      res.tree = writeTree(root, o.files, deadline, host, { store, prefix: host.prefix });
      // the listing a sync would have recorded (the bucket is empty: --trust-state and the daemon must not look)
      store.markSynced(FOLDER, Date.now(), true);
    } finally {
      store.close();
    }
    const tr = res.tree;
    host.progress(`S: ${tr.files} files (${(tr.bytes / MiB).toFixed(0)} MiB) in ${tr.dirs} dirs, ${tr.seededRows} rows seeded, in ${(tr.genMs / 1000).toFixed(1)} s`);

    // S1: dry run into an empty prefix (fresh DB, empty bucket)
    left('S1');
    const dryBucket = await host.newBucket('s-dry');
    buckets.push(dryBucket);
    const dry = writeConfig(host, 's-dry', root, dryBucket);
    for (let r = 1; r <= o.reps.dryRun; r++) {
      left('S1');
      await step(host, res, 'S1 dry-run --json', r, o.reps.dryRun, tr.files, dry.file, ['--dry-run', '--json'], TIMEOUT.dryRun, { planned: tr.files, json: true });
    }
    left('S1 (text)');
    await step(host, res, 'S1 dry-run (text)', 1, 1, tr.files, dry.file, ['--dry-run'], TIMEOUT.dryRun, { planned: tr.files, json: false });
    done('S1');

    // S2: no-change sync with the seeded DB, trusted (no request expected)
    for (let r = 1; r <= o.reps.trusted; r++) {
      left('S2');
      await step(host, res, 'S2 trusted no-change', r, o.reps.trusted, tr.files, seeded.file, ['--trust-state', '--json'], TIMEOUT.trusted,
        { uploaded: 0, unchanged: tr.files, requests: 0, trusted: true, json: true });
    }
    done('S2');

    // S4: the daemon on the big tree with the seeded DB
    if (o.daemon) {
      left('S4');
      res.daemon = { problems: [] };
      try {
        await daemonStep(host, o, seeded.file, tr.dirs, res.daemon);
      } catch (err) {
        if (err instanceof OutOfTime) throw err;
        res.daemon.problems.push((err as Error).message);
      }
      host.progress(`S4 daemon: ${describeDaemon(res.daemon)}`);
      done('S4');
    }

    // S3: 100,000 files for real (the big tree itself with --quick)
    left('S3');
    let subRoot = root;
    if (o.subsetFiles === tr.files) {
      res.subset = tr;
      res.subsetIsTree = true;
    } else {
      fs.rmSync(root, { recursive: true, force: true });
      subRoot = path.join(host.work, `s-tree-${o.subsetFiles}`);
      trees.push(subRoot);
      res.subset = writeTree(subRoot, o.subsetFiles, deadline, host);
      host.progress(`S3: ${res.subset.files} files in ${res.subset.dirs} dirs written in ${(res.subset.genMs / 1000).toFixed(1)} s`);
    }
    const n = res.subset.files;
    const subBucket = await host.newBucket('s-100k');
    buckets.push(subBucket);
    // the first sync as D's seed sync runs it (transfers 16, logLevel warn), the no-change syncs with defaults
    const first = writeConfig(host, 's-sub', subRoot, subBucket, ['transfers: 16', 'logLevel: warn']);
    const sub = writeConfig(host, 's-sub', subRoot, subBucket).file;
    const fst = await step(host, res, 'S3 first sync', 1, 1, n, first.file, ['--json'], TIMEOUT.firstSync, { uploaded: n, maxPuts: Infinity, json: true });
    if (fst.problems.length) {
      res.skipped.push({ step: 'S3 no-change syncs', why: `the first sync did not complete: ${fst.problems.join('; ')}` });
    } else {
      left('S3 no-change');
      res.settle = await settle();
      host.progress(`S3: after the first sync, waited ${(res.settle.waitedMs / 1000).toFixed(0)} s for the machine to go idle (${res.settle.idle ? 'idle' : 'still busy'}: ${res.settle.busyPct.toFixed(0)}% busy)`);
      const warm = await host.run(['sync', '--config', sub, '--json'], TIMEOUT.noChange, path.join(host.work, 's-warm.txt'));
      fs.rmSync(path.join(host.work, 's-warm.txt'), { force: true });
      host.progress(`S3 warm-up no-change sync (not counted): wall ${(warm.wallMs / 1000).toFixed(2)} s, exit ${warm.code ?? warm.signal}`);
      for (let r = 1; r <= o.reps.noChange; r++) {
        left('S3 no-change');
        await step(host, res, 'S3 no-change (listing)', r, o.reps.noChange, n, sub, ['--json'], TIMEOUT.noChange, { uploaded: 0, unchanged: n, json: true });
      }
      for (let r = 1; r <= o.reps.noChange; r++) {
        left('S3 trusted');
        await step(host, res, 'S3 no-change (trusted)', r, o.reps.noChange, n, sub, ['--trust-state', '--json'], TIMEOUT.noChange,
          { uploaded: 0, unchanged: n, requests: 0, trusted: true, json: true });
      }
    }
    done('S3');
  } catch (err) {
    if (!(err instanceof OutOfTime)) throw err;
    res.problems.push(err.message);
    for (const p of pending) res.skipped.push({ step: p, why: err.message });
    host.progress(`S: ${err.message}`);
  } finally {
    res.elapsedMs = performance.now() - started;
    for (const b of buckets) {
      const t = performance.now();
      await host.dropBucket(b);
      host.progress(`S: bucket ${b} deleted in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    for (const t of trees) {
      const t0 = performance.now();
      fs.rmSync(t, { recursive: true, force: true });
      host.progress(`S: ${t} removed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  }
}

async function daemonStep(host: ScaleHost, o: ScaleOptions, config: string, dirs: number, w: DaemonScaleRun): Promise<void> {
  host.check();
  host.proxy.resetCounts();
  const d = new DaemonProc(host, config);
  const dog = setInterval(() => {
    if ((host.proxy.counts().byOp.PutObject ?? 0) > 0) {
      w.problems.push('killed by the watchdog: the daemon uploaded (the seeded bucket is empty; the state DB was not trusted?)');
      d.kill();
    }
  }, 250);
  try {
    const armed = await d.waitLine((l) => l.msg === 'watchers armed', "'watchers armed'", TIMEOUT.armed).catch((err: unknown) => {
      // how far it got: the directories watched so far (one inotify watch each) and the memory by then
      const st = procStatus(d.pid);
      throw new Error(`${(err as Error).message}: ${inotifyWatches(d.pid) ?? '?'} of the tree's ${dirs} directories watched by then; ` +
        `RSS ${st?.rss.toFixed(0) ?? '?'} MiB, HWM ${st?.hwm.toFixed(0) ?? '?'} MiB, CPU ${sec(procCpuMs(d.pid), 1)} s`);
    });
    w.armMs = armed.at - d.spawnedAt;
    w.armDirs = typeof armed.o.dirs === 'number' ? armed.o.dirs : undefined;
    host.progress(`S4 daemon: watchers armed after ${(w.armMs / 1000).toFixed(1)} s (${w.armDirs ?? '?'} dirs); RSS ${procStatus(d.pid)?.rss.toFixed(0) ?? '?'} MiB`);
    const rec = await d.waitLine((l) => l.msg === 'reconciled' && (l.kind === 'local' || l.kind === 'list'), 'the first reconcile', TIMEOUT.reconciled);
    w.reconcileMs = rec.at - d.spawnedAt;
    w.reconcileLogMs = typeof rec.o.ms === 'number' ? rec.o.ms : undefined;
    w.reconcileKind = String(rec.o.kind);
    w.hwmAtReconcileMiB = procStatus(d.pid)?.hwm;
    if (rec.o.kind !== 'local') w.problems.push(`the first reconcile was a ${String(rec.o.kind)}, not a local one (state DB not trusted)`);
    if (rec.o.uploaded || rec.o.deleted || rec.o.failed) w.problems.push(`the first reconcile changed something: ${JSON.stringify(rec.o)}`);
    const c = host.proxy.counts();
    w.startRequests = c.byOp;
    w.startCpuMs = procCpuMs(d.pid);
    host.progress(`S4 daemon: first reconcile (${w.reconcileKind}) done ${(w.reconcileMs / 1000).toFixed(1)} s after spawn; HWM ${w.hwmAtReconcileMiB?.toFixed(0) ?? '?'} MiB; ` +
      `requests ${c.total}; idle for ${o.idleMs / 1000} s`);
    // idle window: RSS sampled every second, CPU and requests over it
    host.proxy.resetCounts();
    const cpu0 = procCpuMs(d.pid);
    const t0 = performance.now();
    let maxRss = 0;
    while (performance.now() - t0 < o.idleMs) {
      await sleep(Math.min(1000, o.idleMs - (performance.now() - t0)));
      host.check();
      if (d.exit) throw new Error(`the daemon exited during the idle window (${d.exit.code ?? d.exit.signal}): ${d.stderrTail.slice(-400)}`);
      maxRss = Math.max(maxRss, procStatus(d.pid)?.rss ?? 0);
    }
    const cpu1 = procCpuMs(d.pid);
    const st = procStatus(d.pid);
    w.idleMs = performance.now() - t0;
    w.idleCpuMs = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined;
    w.idleRequests = host.proxy.counts().total;
    w.idleMaxRssMiB = maxRss || undefined;
    w.steadyRssMiB = st?.rss;
    w.hwmMiB = st?.hwm;
    w.threads = st?.threads;
    w.inotifyWatches = inotifyWatches(d.pid);
    for (const l of d.lines) {
      if (/inotify|too many open files|rescanning/.test(String(l.o.msg))) w.problems.push(`daemon: ${String(l.o.msg).slice(0, 300)}`);
    }
    const stop = await d.stop(TIMEOUT.stop);
    w.stopMs = stop.ms;
    w.exitCode = stop.code;
    w.exitSignal = stop.signal;
    if (stop.killed) w.problems.push(`not stopped ${TIMEOUT.stop / 1000} s after SIGTERM: killed`);
    else if (stop.code !== 0) w.problems.push(`exit ${stop.code ?? stop.signal} on SIGTERM: ${d.stderrTail.slice(-400)}`);
  } finally {
    clearInterval(dog);
    d.kill();
    await Promise.race([d.exited, sleep(5000)]);
  }
}

// --- report -------------------------------------------------------------------------------------------------------

const sec = (ms: number | undefined, d = 2) => (ms === undefined || !Number.isFinite(ms) ? '-' : (ms / 1000).toFixed(d));
const nums = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
const sumS = (xs: (number | undefined)[], d: number, scale = 1) => fmtSummary(summarize(nums(xs).map((x) => x / scale)), d);
const total = (c: ScaleRun['counts']) => c.classA + c.classB + c.free;

function describeDaemon(w: DaemonScaleRun): string {
  return [`armed ${sec(w.armMs, 1)} s`, `first reconcile ${sec(w.reconcileMs, 1)} s (${w.reconcileKind ?? '?'}, ${sec(w.reconcileLogMs, 1)} s itself)`,
    `HWM ${w.hwmMiB?.toFixed(0) ?? '?'} MiB`, `steady RSS ${w.steadyRssMiB?.toFixed(0) ?? '?'} MiB`, `idle requests ${w.idleRequests ?? '?'}`,
    `stop ${sec(w.stopMs)} s exit ${w.exitCode ?? w.exitSignal ?? '?'}`].join(', ') + (w.problems.length ? `  PROBLEM: ${w.problems.join('; ')}` : '');
}

function opsSummary(rs: readonly StepRun[]): string {
  const ops = [...new Set(rs.flatMap((r) => Object.keys(r.counts.byOp)))].sort();
  return ops.map((op) => `${op} ${fmtSummary(summarize(rs.map((r) => r.counts.byOp[op] ?? 0)), 0)}`).join(', ') || 'none';
}

interface TargetRow {
  readonly target: string;
  readonly measured: string;
  readonly verdict: string;
}

const verdict = (ok: boolean) => (ok ? 'met' : 'not met');

function targets(r: ScaleResult): TargetRow[] {
  const out: TargetRow[] = [];
  const of = (id: StepId) => r.runs.filter((x) => x.id === id);
  const clean = (rs: StepRun[]) => rs.filter((x) => !x.problems.length);
  const big = r.tree?.files ?? r.opts.files;
  const bigOk = big >= 1_000_000;
  const at = (n: number) => (n >= 1_000_000 ? '' : ` (measured at ${n.toLocaleString('en-US')} files, not 1,000,000: --quick)`);
  const row = (target: string, rs: StepRun[], measured: (rs: StepRun[]) => string, ok: (rs: StepRun[]) => boolean, needBig = true) => {
    const good = clean(rs);
    if (!rs.length) out.push({ target, measured: '-', verdict: 'not run' });
    else if (!good.length) out.push({ target, measured: `${measured(rs)}; every run had a problem`, verdict: 'not met' });
    else out.push({ target, measured: measured(good) + (needBig ? at(big) : ''), verdict: needBig && !bigOk ? `(${verdict(ok(good))} at ${big.toLocaleString('en-US')})` : verdict(ok(good)) });
  };
  const maxRss = (rs: StepRun[]) => Math.max(...nums(rs.map((x) => x.rssMiB)));
  const medWall = (rs: StepRun[]) => median(rs.map((x) => x.wallMs)) / 1000;
  const maxReq = (rs: StepRun[]) => Math.max(...rs.map((x) => total(x.counts)));
  const dry = of('S1 dry-run --json');
  row(`1,000,000 files: \`sync --dry-run --json\` into an empty prefix, peak RSS <= ${TARGET.dryRunRssMiB} MiB`, dry,
    (rs) => `${maxRss(rs).toFixed(0)} MiB (max of ${rs.length})`, (rs) => maxRss(rs) <= TARGET.dryRunRssMiB);
  const limit = TARGET.rcloneDryRunS * TARGET.rcloneRatio;
  row(`1,000,000 files: dry-run wall <= ${TARGET.rcloneRatio}x rclone's (#11: rclone ${TARGET.rcloneDryRunS} s, not re-measured here) = ${limit.toFixed(1)} s`, dry,
    (rs) => `${medWall(rs).toFixed(1)} s (median of ${rs.length})`, (rs) => medWall(rs) <= limit);
  const tb = of('S2 trusted no-change');
  row(`1,000,000 files: no-change sync with trusted state: 0 requests in <= ${TARGET.trustedBigS} s`, tb,
    (rs) => `${maxReq(rs)} requests (max), ${medWall(rs).toFixed(1)} s (median of ${rs.length}), peak RSS ${maxRss(rs).toFixed(0)} MiB`,
    (rs) => maxReq(rs) === 0 && medWall(rs) <= TARGET.trustedBigS);
  out.push({ target: '1,000,000 files: no-change sync with listing: peak RSS <= 150 MiB, <= ceil(N/1000) LIST + a few', measured: 'not run: needs 1,000,000 objects in the bucket (see below)', verdict: 'not run' });
  const fs1 = of('S3 first sync');
  row(`${SUBSET_FILES.toLocaleString('en-US')} files: first sync peak RSS <= ${TARGET.firstSyncRssMiB} MiB`, fs1,
    (rs) => `${maxRss(rs).toFixed(0)} MiB, ${medWall(rs).toFixed(1)} s`, (rs) => maxRss(rs) <= TARGET.firstSyncRssMiB, false);
  const nl = of('S3 no-change (listing)');
  const n = r.subset?.files ?? SUBSET_FILES;
  const lists = (rs: StepRun[]) => Math.max(...rs.map((x) => x.counts.byOp.ListObjectsV2 ?? 0));
  row(`${SUBSET_FILES.toLocaleString('en-US')} files: no-change sync with listing <= ${TARGET.listingS} s`, nl,
    (rs) => `${medWall(rs).toFixed(2)} s (median of ${rs.length}); ${lists(rs)} LIST (ceil(N/1000) = ${Math.ceil(n / 1000)}), peak RSS ${maxRss(rs).toFixed(0)} MiB`,
    (rs) => medWall(rs) <= TARGET.listingS, false);
  const nt = of('S3 no-change (trusted)');
  row(`${SUBSET_FILES.toLocaleString('en-US')} files: no-change sync with trusted state <= ${TARGET.trustedSubsetS} s (0 requests)`, nt,
    (rs) => `${medWall(rs).toFixed(2)} s (median of ${rs.length}), ${maxReq(rs)} requests (max), peak RSS ${maxRss(rs).toFixed(0)} MiB`,
    (rs) => medWall(rs) <= TARGET.trustedSubsetS && maxReq(rs) === 0, false);
  // flat memory: the same step (trusted no-change) at both sizes
  const tbc = clean(tb);
  const ntc = clean(nt);
  if (tbc.length && ntc.length && !r.subsetIsTree) {
    const ratio = maxRss(tbc) / maxRss(ntc);
    out.push({
      target: `RSS at 1,000,000 files <= ${TARGET.flatRatio}x RSS at 100,000 (here: trusted no-change, S2 vs S3)`,
      measured: `${maxRss(tbc).toFixed(0)} / ${maxRss(ntc).toFixed(0)} MiB = ${ratio.toFixed(2)}x`, verdict: verdict(ratio <= TARGET.flatRatio),
    });
  } else out.push({ target: `RSS at 1,000,000 files <= ${TARGET.flatRatio}x RSS at 100,000`, measured: r.subsetIsTree ? '- (--quick: one tree size only)' : '-', verdict: 'not run' });
  const d = r.daemon;
  const dRow = (target: string, value: number | undefined, limit: number, unit: string, extra = '') => {
    if (!d) out.push({ target, measured: r.opts.daemon ? '-' : '- (--quick skips the daemon)', verdict: 'not run' });
    else if (value === undefined) out.push({ target, measured: `- (${d.problems.join('; ') || 'not measured'})`, verdict: 'not met' });
    else out.push({ target, measured: `${value.toFixed(unit === 's' ? 1 : 0)} ${unit}${extra}${at(big)}`, verdict: bigOk ? verdict(value <= limit) : `(${verdict(value <= limit)} at ${big})` });
  };
  dRow(`daemon on 1,000,000 files: peak RSS <= ${TARGET.daemonPeakMiB} MiB`, d?.hwmMiB, TARGET.daemonPeakMiB, 'MiB', ' (VmHWM)');
  dRow(`daemon on 1,000,000 files: steady RSS <= ${TARGET.daemonSteadyMiB} MiB`, d?.steadyRssMiB, TARGET.daemonSteadyMiB, 'MiB', ` (VmRSS after ${r.opts.idleMs / 1000} s idle)`);
  dRow(`daemon on 1,000,000 files: first local reconcile <= ${TARGET.daemonReconcileS} s`, d?.reconcileMs === undefined ? undefined : d.reconcileMs / 1000, TARGET.daemonReconcileS, 's',
    ` from spawn (${d?.reconcileKind ?? '?'}; the reconcile itself ${sec(d?.reconcileLogMs, 1)} s)`);
  return out;
}

/** Problems of scenario S, one line each. */
export function scaleProblems(r: ScaleResult | undefined): string[] {
  if (!r) return [];
  return [...r.problems, ...r.runs.filter((x) => x.problems.length).map((x) => `${x.id} run ${x.rep}: ${x.problems.join('; ')}`),
    ...(r.daemon?.problems ?? []).map((p) => `S4 daemon: ${p}`)];
}

/** The S section of bench/RESULTS.md (between the markers) and the text for the terminal. */
export function scaleReport(r: ScaleResult, info: { command: string; git: string; build: string; node: string; machine: string; server: string }): { md: string; text: string } {
  const o = r.opts;
  const rows = STEPS.map((id) => r.runs.filter((x) => x.id === id)).filter((rs) => rs.length).map((rs) => [
    rs[0]!.id, rs[0]!.files.toLocaleString('en-US'), String(rs.length), sumS(rs.map((x) => x.wallMs), 2, 1000), sumS(rs.map((x) => x.engineMs), 2, 1000),
    sumS(rs.map((x) => x.cpuMs), 2, 1000), sumS(rs.map((x) => x.rssMiB), 0), sumS(rs.map((x) => x.counts.classA), 0), sumS(rs.map((x) => x.counts.classB), 0),
    opsSummary(rs), [...new Set(rs.map((x) => x.outcome))].join(' / '), sumS(rs.map((x) => x.load1), 1),
  ]);
  const table = mdTable(['step', 'files', 'runs', 'wall s', 'engine s', 'CPU s', 'peak RSS MiB', 'Class A', 'Class B', 'requests by op', 'outcome', 'load 1m'], rows);
  const mib = (b: number) => (b / MiB).toFixed(0);
  const memRows = STEPS.map((id) => r.runs.filter((x) => x.id === id)).filter((rs) => rs.length).map((rs) => {
    const worst = [...rs].sort((a, b) => (b.rssMiB ?? 0) - (a.rssMiB ?? 0))[0]!;
    const p = worst.memPeak;
    return [worst.id, worst.rssMiB?.toFixed(0) ?? '-', ...(p ? [mib(p.heapTotal), mib(p.heapUsed), mib(p.external), mib(p.rss - p.heapTotal - p.external)] : ['-', '-', '-', '-'])];
  });
  const memTable = mdTable(['step (run with the highest RSS)', 'maxRSS', 'heap total', 'heap used', 'external', 'rest (code, stacks, native)'], memRows);
  const d = r.daemon;
  const dTable = d ? mdTable(['armed s', 'first local reconcile done s', 'reconcile itself s', 'HWM at reconcile MiB', 'CPU until idle s', 'start-up requests',
    `max RSS in ${o.idleMs / 1000} s idle MiB`, 'steady RSS MiB', 'HWM (peak) MiB', 'idle CPU ms', 'idle requests', 'inotify watches', 'threads', 'SIGTERM -> exit s', 'exit'], [[
    sec(d.armMs, 1), sec(d.reconcileMs, 1), `${sec(d.reconcileLogMs, 1)} (${d.reconcileKind ?? '?'})`, d.hwmAtReconcileMiB?.toFixed(0) ?? '-', sec(d.startCpuMs, 1),
    d.startRequests ? String(Object.values(d.startRequests).reduce((a, b) => a + b, 0)) : '-', d.idleMaxRssMiB?.toFixed(0) ?? '-', d.steadyRssMiB?.toFixed(0) ?? '-',
    d.hwmMiB?.toFixed(0) ?? '-', d.idleCpuMs?.toFixed(0) ?? '-', String(d.idleRequests ?? '-'), String(d.inotifyWatches ?? '-'), String(d.threads ?? '-'), sec(d.stopMs),
    String(d.exitCode ?? d.exitSignal ?? '-'),
  ]]) : '';
  const tRows = targets(r);
  const tTable = mdTable(['target (#11, "Done when")', 'measured', 'verdict'], tRows.map((t) => [t.target, t.measured, t.verdict]));
  const problems = scaleProblems(r);
  const tr = r.tree;
  const sub = r.subset;
  const override = process.env.R2M_BENCH_SCALE_FILES ? ` (R2M_BENCH_SCALE_FILES=${process.env.R2M_BENCH_SCALE_FILES}: a debugging run, not the scenario's size)` : '';
  const md = [
    SECTION_BEGIN,
    '## Scale (scenario S, issue #11)',
    '',
    `Generated by \`${info.command}\` (bench/scale.ts); this section is rewritten only by runs that include S, and kept by the others. ` +
      `${o.quick ? '**--quick: a 100,000-file big tree, one run per step, no daemon part.** ' : ''}Caveat: 2 shared cores, noisy; medians of the runs, min-max in parentheses.`,
    '',
    `- date: ${r.startedAt}; S took ${sec(r.elapsedMs, 0)} s (budget ${o.budgetMs / 60_000} min)`,
    `- node: ${info.node}; machine: ${info.machine}`,
    `- server: ${info.server}, through the counting R2 proxy (as above)`,
    `- r2mirror: ${info.git}; ${info.build}; \`node dist/cli.js sync --config <tmp> ...\` with default settings unless noted`,
    tr ? `- big tree: ${tr.files.toLocaleString('en-US')} files of ${MIN_SIZE}-${MAX_SIZE} B (${(tr.bytes / MiB).toFixed(0)} MiB) in ${tr.dirs.toLocaleString('en-US')} dirs ` +
      `(${FILES_PER_DIR} files per leaf dir, ${LEAVES_PER_TOP} leaves per top dir, seeded), written in ${sec(tr.genMs, 1)} s while ${tr.seededRows?.toLocaleString('en-US') ?? '?'} ` +
      `state rows were seeded${override}` : '- big tree: not generated',
    '- S1: `sync --dry-run --json` into an empty prefix (fresh state DB, empty bucket); the --json run is the measured one (the targets use it: its stdout is ' +
      'the whole plan as one JSON document); "S1 dry-run (text)" is one run of the same without --json, for comparison (text summary, first 1,000 actions)',
    '- S2: the state DB seeded without uploading: one row per file written through src/state/store.ts (`Store.put`, as a sync records an upload: the ' +
      'md5 of the content as ETag, size, mtime, inode and dev from a stat of the written file) and the folder marked listed now (`markSynced(listed)`); ' +
      'the bucket stays empty. Then `sync --trust-state --json`: the state DB is trusted (listing younger than daemon.verifyInterval), nothing to do, ' +
      'no request expected. A watchdog kills any run that PUTs where no PUT is expected.',
    `- S2 with listing (no-change sync that lists the big tree's prefix): not run: ${r.skipped.find((s) => s.step.startsWith('S2 no-change'))?.why ?? '-'}`,
    sub ? `- S3: ${sub.files.toLocaleString('en-US')} files (${r.subsetIsTree ? 'the big tree itself' : `a tree of the same shape, ${sub.dirs} dirs`}): the first sync with ` +
      '`transfers: 16`, `logLevel: warn` (as scenario D\'s seed sync, which #11 quotes), then after one unmeasured warm-up, no-change syncs with default ' +
      `settings: listing the prefix, then with \`--trust-state\`; between the two, a wait for the machine to go idle (the S3 server goes on working after ` +
      `100,000 PUTs): ${r.settle ? `${sec(r.settle.waitedMs, 0)} s, ${r.settle.idle ? 'idle' : `still ${r.settle.busyPct.toFixed(0)}% busy after 120 s`}` : '-'}` : '- S3: not run',
    o.daemon ? `- S4: \`node dist/cli.js daemon\` (default settings) on the big tree with S2's seeded DB: times from spawn to the \`watchers armed\` and first ` +
      `\`reconciled\` log lines; RSS and HWM from /proc/<pid>/status; steady RSS = VmRSS after ${o.idleMs / 1000} s idle; then SIGTERM` : '- S4 (daemon): not run (--quick)',
    '',
    table,
    '',
    'Memory at the highest RSS of each step (MiB; the `process.memoryUsage()` sample at peak, every 50 ms):',
    '',
    memTable,
    '',
    ...(d ? [`Daemon on the ${tr?.files.toLocaleString('en-US') ?? '?'}-file tree (S4):`, '', dTable, ''] : []),
    '### S targets',
    '',
    tTable,
    '',
    ...(r.skipped.length ? ['Not run:', '', ...r.skipped.map((s) => `- ${s.step}: ${s.why}`), ''] : []),
    ...(problems.length || r.notes.length ? ['Problems and warnings:', '', ...problems.map((p) => `- ${p}`), ...r.notes.map((n) => `- ${n}`), ''] : []),
    SECTION_END,
  ].join('\n');
  const text = [table, '', ...(d ? [dTable, ''] : []), tTable, ...(problems.length ? ['', 'Problems:', ...problems.map((p) => `- ${p}`)] : [])].join('\n');
  return { md, text };
}

/** `old` (RESULTS.md as it was) with its S section replaced by `section` (or `section` appended when it had none). */
export function withSection(old: string, section: string): string {
  const a = old.indexOf(SECTION_BEGIN);
  const b = old.indexOf(SECTION_END);
  if (a >= 0 && b > a) return old.slice(0, a) + section + old.slice(b + SECTION_END.length);
  return `${old.trimEnd()}\n\n${section}\n`;
}

/** The S section of `old`, markers included, if it has one. */
export function sectionOf(old: string): string | undefined {
  const a = old.indexOf(SECTION_BEGIN);
  const b = old.indexOf(SECTION_END);
  return a >= 0 && b > a ? old.slice(a, b + SECTION_END.length) : undefined;
}
