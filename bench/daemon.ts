// Scenario D of `npm run bench`: `r2mirror daemon` (dist/cli.js) against the S3 server behind the R2 proxy.
// Bench-only. bench/run.ts owns the proxy, buckets, budget and report; this file runs the daemon and measures:
//
//   1. event-to-object latency: a 1,000-file tree, the default quiet period, single-file changes (new files and
//      rewrites, 1-8 KiB, every change a different key); from the moment writeFileSync returned to the moment the
//      daemon's 'uploaded' log line for that key arrived, each confirmed by a HeadObject on the DIRECT client (not
//      through the proxy, so the proxy's counts stay the daemon's); for every 10th change also by polling
//      HeadObject on the direct client every 20 ms (an outside view that does not trust the log).
//   2. a 100,000-file tree (0-512 B in ~1,000 dirs) seeded with one `r2mirror sync` (timed), then the daemon
//      started on it: time to 'watchers armed' and to the end of the initial reconcile, RSS/HWM when idle, CPU and
//      R2 requests over an idle minute, inotify watches in use;
//   3. SIGTERM: exit code and stop time.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DEFAULTS } from '../src/config.js';
import type { R2Proxy } from '../test/harness/r2proxy.js';
import { mulberry32 } from '../test/harness/r2proxy.js';
import { KiB, MiB, labelledContent, randomPool } from './dataset.js';
import { fmtSummary, mdTable, median, summarize } from './stats.js';

/** The daemon's default quiet period (the latency targets are relative to it; the bench does not change it). */
export const QUIET_MS: number = DEFAULTS.daemon.quietPeriod;
const LAT_TARGET_P50_MS = QUIET_MS + 300;
const LAT_TARGET_P95_MS = QUIET_MS + 1000;
const RSS_TARGET_MIB = 150;
/** "About 0" idle CPU, made concrete: at most 0.1% of one core (60 ms of CPU per minute). */
const IDLE_CPU_TARGET_MS_PER_MIN = 60;

const LAT_TREE = { files: 1000, dirs: 20, minSize: 1 * KiB, maxSize: 8 * KiB, seed: 4242 };
const CHANGE_MIN = 1 * KiB;
const CHANGE_MAX = 8 * KiB;
/** Pipelined changes: the next write starts this long after the previous one (each change is tracked alone). */
const SPACING_MS = 250;
/** Every Nth change is also timed by polling HeadObject on the direct client. */
const POLL_EVERY = 10;
const POLL_MS = 20;
/** A change not visible after this long is reported lost. */
const CHANGE_TIMEOUT_MS = 30_000;
const BIG_TREE = { dirsTop: 10, dirsSub: 100, maxSize: 512, seed: 777 };
const TIMEOUTS = { seed1k: 120_000, seedBig: 900_000, armed: 300_000, reconciled: 600_000, stop: 60_000, settle: 5_000 };

export interface DaemonOptions {
  readonly quick: boolean;
  /** Changes in the latency part (sequential first, then pipelined). */
  readonly changes: number;
  readonly sequential: number;
  /** Files of the big watched tree. */
  readonly watchFiles: number;
  /** Daemon starts on the big tree (each: arm, reconcile, idle window, SIGTERM). */
  readonly watchReps: number;
  readonly idleMs: number;
}

export function daemonOptions(quick: boolean): DaemonOptions {
  return quick
    ? { quick, changes: 20, sequential: 5, watchFiles: 10_000, watchReps: 1, idleMs: 10_000 }
    : { quick, changes: 200, sequential: 20, watchFiles: 100_000, watchReps: 2, idleMs: 60_000 };
}

/** What bench/run.ts provides. */
export interface DaemonHost {
  readonly work: string;
  readonly cliJs: string;
  readonly repo: string;
  readonly prefix: string;
  readonly proxy: R2Proxy;
  /** The direct client (not through the proxy). */
  readonly client: S3Client;
  progress(msg: string): void;
  /** Throws when the bench was interrupted or is over budget. */
  check(): void;
  /** Environment for a child CLI process (credentials set, R2_/AWS_/R2MIRROR_ variables cleared). */
  childEnv(): NodeJS.ProcessEnv;
  /** The running child, so an interrupt can kill it. */
  setChild(c: ChildProcess | undefined): void;
  newBucket(hint: string): Promise<string>;
  dropBucket(b: string): Promise<void>;
  /** One `r2mirror sync --json` run; `record` puts it in the main table under that group name. */
  sync(config: string, files: number, timeoutMs: number, record: boolean): Promise<{ wallMs: number; cpuMs?: number | undefined; rssMiB?: number | undefined; uploaded?: number | undefined; problems: string[]; byOp: Record<string, number> }>;
}

export interface ChangeSample {
  readonly i: number;
  readonly key: string;
  readonly kind: 'new' | 'rewrite';
  readonly mode: 'sequential' | 'pipelined';
  readonly bytes: number;
  /** Write returned -> 'uploaded' log line received. */
  logMs?: number | undefined;
  /** The HeadObject after the log line showed the new ETag. */
  confirmed?: boolean;
  /** Write returned -> polling HeadObject (direct) first saw the new ETag (every POLL_EVERY-th change). */
  pollMs?: number | undefined;
  /** The 'uploaded' line's own `ms` (the upload alone). */
  uploadMs?: number | undefined;
}

export interface WatchRun {
  readonly rep: number;
  problems: string[];
  armMs?: number | undefined;
  armDirs?: number | undefined;
  reconcileMs?: number | undefined;
  /** The 'reconciled' line's own `ms` and `kind`. */
  reconcileLogMs?: number | undefined;
  reconcileKind?: string | undefined;
  rssIdleMiB?: number | undefined;
  rssAfterIdleMiB?: number | undefined;
  hwmMiB?: number | undefined;
  idleWindowMs?: number | undefined;
  idleCpuMs?: number | undefined;
  idleRequests?: Record<string, number> | undefined;
  idleRequestTotal?: number | undefined;
  idleLogLines?: number | undefined;
  inotifyWatches?: number | undefined;
  threads?: number | undefined;
  stopMs?: number | undefined;
  exitCode?: number | null | undefined;
  exitSignal?: string | null | undefined;
  cleanStop?: boolean | undefined;
  /** Seconds of the idle window in which the daemon used CPU ("<second>s:<ms>"). */
  idleBusySeconds?: string[] | undefined;
  /** Daemon CPU from spawn to idle (start-up + arm + initial reconcile). */
  startCpuMs?: number | undefined;
}

export interface DaemonResult {
  readonly opts: DaemonOptions;
  readonly problems: string[];
  readonly notes: string[];
  latency: ChangeSample[];
  latencyRequests?: Record<string, number> | undefined;
  latencyBatches?: { reconciles: number; multiPath: number } | undefined;
  latencyWallMs?: number | undefined;
  latencyArmMs?: number | undefined;
  bigTree?: { files: number; dirs: number; bytes: number; genMs: number } | undefined;
  seed?: { wallMs: number; cpuMs?: number | undefined; rssMiB?: number | undefined; uploaded?: number | undefined; problems: string[]; byOp: Record<string, number> } | undefined;
  watch: WatchRun[];
}

// ---------------------------------------------------------------------------------------------------------------

let clkTck = 0;
function ticksPerSecond(): number {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of a process in ms (from /proc/<pid>/stat, clock ticks). */
export function procCpuMs(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): utime is field 14, stime field 15
    return ((Number(f[11]) + Number(f[12])) * 1000) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/** VmRSS, VmHWM (MiB) and Threads from /proc/<pid>/status. */
export function procStatus(pid: number): { rss: number; hwm: number; threads: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024, threads: Number(/^Threads:\s+(\d+)/m.exec(s)?.[1] ?? NaN) };
  } catch {
    return undefined;
  }
}

/** inotify watches the process holds (lines "inotify wd:" in the fdinfo of its inotify fds). */
export function inotifyWatches(pid: number): number | undefined {
  try {
    let n = 0;
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      let link = '';
      try {
        link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!link.includes('inotify')) continue;
      const info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      for (let i = info.indexOf('inotify wd:'); i >= 0; i = info.indexOf('inotify wd:', i + 1)) n++;
    }
    return n;
  } catch {
    return undefined;
  }
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

export interface LogLine {
  readonly at: number;
  readonly o: Record<string, any>;
}

/** A running `r2mirror daemon` with its JSON log lines (and when each arrived, performance.now()). Scenario S uses it too. */
export class DaemonProc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly lines: LogLine[] = [];
  readonly spawnedAt = performance.now();
  private readonly listeners = new Set<(l: LogLine) => void>();
  private buf = '';
  exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | undefined;
  readonly exited: Promise<void>;
  stderrTail = '';

  constructor(host: Pick<DaemonHost, 'cliJs' | 'repo' | 'childEnv' | 'setChild'>, config: string) {
    this.child = spawn(process.execPath, [host.cliJs, 'daemon', '--config', config], {
      cwd: host.repo, env: host.childEnv(), stdio: ['ignore', 'pipe', 'pipe'],
    });
    host.setChild(this.child);
    this.pid = this.child.pid ?? -1;
    this.child.stdout!.resume();
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      const at = performance.now();
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const text = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        let o: Record<string, any>;
        try {
          o = JSON.parse(text) as Record<string, any>;
        } catch {
          o = { msg: text, raw: true };
        }
        const l = { at, o };
        this.lines.push(l);
        this.stderrTail = (this.stderrTail + text + '\n').slice(-4000);
        for (const f of this.listeners) f(l);
      }
    });
    this.exited = new Promise<void>((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal, at: performance.now() };
        host.setChild(undefined);
        resolve();
      });
      this.child.on('error', (err) => {
        this.stderrTail += `spawn error: ${err.message}\n`;
        this.exit ??= { code: null, signal: null, at: performance.now() };
        resolve();
      });
    });
  }

  onLine(f: (l: LogLine) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** The first line (from `from` on) matching `pred`; rejects on timeout or exit. */
  async waitLine(pred: (o: Record<string, any>) => boolean, what: string, timeoutMs: number, from = 0): Promise<LogLine> {
    const deadline = performance.now() + timeoutMs;
    for (let i = from; ; ) {
      for (; i < this.lines.length; i++) if (pred(this.lines[i]!.o)) return this.lines[i]!;
      if (this.exit) throw new Error(`the daemon exited (${this.exit.code ?? this.exit.signal}) before ${what}: ${this.stderrTail.slice(-800)}`);
      if (performance.now() > deadline) throw new Error(`no ${what} within ${timeoutMs / 1000} s`);
      await sleep(20);
    }
  }

  /** SIGTERM, then wait (SIGKILL after timeoutMs). */
  async stop(timeoutMs: number): Promise<{ code: number | null; signal: string | null; ms: number; killed: boolean }> {
    const t = performance.now();
    if (!this.exit) this.child.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.child.kill('SIGKILL');
    }, timeoutMs);
    await this.exited;
    clearTimeout(timer);
    return { code: this.exit?.code ?? null, signal: this.exit?.signal ?? null, ms: (this.exit?.at ?? performance.now()) - t, killed };
  }

  kill(): void {
    if (!this.exit) this.child.kill('SIGKILL');
  }
}

function writeConfig(dir: string, host: DaemonHost, root: string, bucket: string, extra: string[] = []): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `r2mirror${extra.length ? '-seed' : ''}.yaml`);
  fs.writeFileSync(file, [
    'remote:',
    `  endpoint: ${host.proxy.endpoint}`,
    `state: ${path.join(dir, 'state', 'state.db')}`,
    ...extra,
    'folders:',
    '  - name: bench',
    `    path: ${root}`,
    `    bucket: ${bucket}`,
    `    prefix: ${host.prefix}`,
  ].join('\n') + '\n');
  return file;
}


// ---------------------------------------------------------------------------------------------------------------

export async function scenarioD(host: DaemonHost, opts: DaemonOptions, result: DaemonResult): Promise<void> {
  const pool = randomPool(1 * MiB, 0xd43);
  const daemons: DaemonProc[] = [];
  const buckets: string[] = [];
  const trees: string[] = [];
  try {
    await latencyPart(host, opts, result, pool, daemons, buckets, trees);
    host.check();
    await watchPart(host, opts, result, pool, daemons, buckets, trees);
  } finally {
    for (const d of daemons) d.kill();
    await Promise.all(daemons.map((d) => Promise.race([d.exited, sleep(5000)])));
    for (const b of buckets) {
      const t = performance.now();
      await host.dropBucket(b);
      host.progress(`D: bucket ${b} deleted in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    for (const t of trees) fs.rmSync(t, { recursive: true, force: true });
  }
}

async function latencyPart(host: DaemonHost, opts: DaemonOptions, result: DaemonResult, pool: Buffer, daemons: DaemonProc[], buckets: string[], trees: string[]): Promise<void> {
  // the 1,000-file tree
  const root = path.join(host.work, 'd-latency-tree');
  trees.push(root);
  const rand = mulberry32(LAT_TREE.seed);
  const dirs = Array.from({ length: LAT_TREE.dirs }, (_, i) => `dir${String(i).padStart(2, '0')}`);
  const files: string[] = [];
  for (const d of dirs) fs.mkdirSync(path.join(root, d), { recursive: true });
  for (let i = 0; i < LAT_TREE.files; i++) {
    const rel = `${dirs[i % dirs.length]}/f${String(i).padStart(4, '0')}.bin`;
    const size = LAT_TREE.minSize + Math.floor(rand() * (LAT_TREE.maxSize - LAT_TREE.minSize + 1));
    fs.writeFileSync(path.join(root, rel), labelledContent(pool, `${rel} v0`, size, rand));
    files.push(rel);
  }
  const bucket = await host.newBucket('d-lat');
  buckets.push(bucket);
  const config = writeConfig(path.join(host.work, 'run-d-latency'), host, root, bucket);
  const seed = await host.sync(config, LAT_TREE.files, TIMEOUTS.seed1k, false);
  if (seed.problems.length) throw new Error(`D: seeding the ${LAT_TREE.files}-file tree failed: ${seed.problems.join('; ')}`);
  host.progress(`D latency: ${LAT_TREE.files} files seeded by sync in ${(seed.wallMs / 1000).toFixed(1)} s; starting the daemon`);

  const d = new DaemonProc(host, config);
  daemons.push(d);
  const armed = await d.waitLine((o) => o.msg === 'watchers armed', "'watchers armed'", TIMEOUTS.armed);
  result.latencyArmMs = armed.at - d.spawnedAt;
  await d.waitLine((o) => o.msg === 'reconciled' && (o.kind === 'local' || o.kind === 'list'), 'the initial reconcile', TIMEOUTS.reconciled);
  await sleep(500);
  const firstLine = d.lines.length;
  host.proxy.resetCounts();

  // pending changes by key; the log listener completes them
  const pending = new Map<string, { s: ChangeSample; at: number; etag: string; done: (ok: boolean) => void }>();
  const confirms: Promise<void>[] = [];
  const off = d.onLine(({ at, o }) => {
    if (o.msg !== 'uploaded' || typeof o.key !== 'string') return;
    const p = pending.get(o.key);
    if (!p || p.s.logMs !== undefined) return;
    p.s.logMs = at - p.at;
    p.s.uploadMs = typeof o.ms === 'number' ? o.ms : undefined;
    confirms.push(headEtag(host.client, bucket, o.key).then((etag) => {
      p.s.confirmed = etag === p.etag;
      p.done(true);
    }));
  });

  const newRand = mulberry32(LAT_TREE.seed ^ 0x51ed);
  // distinct files to rewrite (never the same key twice: R2's 1 write/s per key is not the limit here)
  const order = files.map((f, i) => ({ f, k: mulberry32(i + 1)() })).sort((a, b) => a.k - b.k).map((x) => x.f);
  let rewriteIdx = 0;
  const polls: Promise<void>[] = [];
  const waits: Promise<boolean>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < opts.changes; i++) {
    host.check();
    const mode = i < opts.sequential ? 'sequential' : 'pipelined';
    const kind = i % 2 === 0 ? 'new' : 'rewrite';
    const rel = kind === 'new' ? `${dirs[i % dirs.length]}/new-${String(i).padStart(4, '0')}.bin` : order[rewriteIdx++]!;
    const size = CHANGE_MIN + Math.floor(newRand() * (CHANGE_MAX - CHANGE_MIN + 1));
    const body = labelledContent(pool, `${rel} change ${i}`, size, newRand);
    const key = host.prefix + rel;
    const s: ChangeSample = { i, key, kind, mode, bytes: size };
    result.latency.push(s);
    let done!: (ok: boolean) => void;
    const landed = new Promise<boolean>((r) => (done = r));
    fs.writeFileSync(path.join(root, rel), body);
    const at = performance.now();
    const etag = md5(body);
    pending.set(key, { s, at, etag, done });
    const timer = setTimeout(() => done(false), CHANGE_TIMEOUT_MS);
    void landed.then(() => clearTimeout(timer));
    waits.push(landed);
    if (i % POLL_EVERY === 0) polls.push(pollVisible(host.client, bucket, key, etag, at).then((ms) => void (s.pollMs = ms)));
    if (mode === 'sequential') {
      await landed;
      await Promise.all(polls);
      await sleep(200); // a pause between sequential changes
    } else {
      await sleep(SPACING_MS);
    }
  }
  const ok = await Promise.all(waits);
  await Promise.all([...polls, ...confirms]);
  off();
  result.latencyWallMs = performance.now() - t0;
  await sleep(QUIET_MS + 500); // anything late (a second upload of a key) still shows in the counts
  result.latencyRequests = host.proxy.counts().byOp;
  const recs = d.lines.slice(firstLine).filter((l) => l.o.msg === 'reconciled');
  result.latencyBatches = { reconciles: recs.length, multiPath: recs.filter((l) => (l.o.paths ?? 0) > 1).length };
  const lost = result.latency.filter((s, k) => !ok[k] || s.logMs === undefined);
  if (lost.length) result.problems.push(`D latency: ${lost.length} change(s) not seen uploaded within ${CHANGE_TIMEOUT_MS / 1000} s: ${lost.slice(0, 5).map((s) => s.key).join(', ')}`);
  const unconfirmed = result.latency.filter((s) => s.logMs !== undefined && !s.confirmed);
  if (unconfirmed.length) result.problems.push(`D latency: ${unconfirmed.length} 'uploaded' line(s) not confirmed by HeadObject (ETag differs): ${unconfirmed.slice(0, 5).map((s) => s.key).join(', ')}`);
  const puts = result.latencyRequests.PutObject ?? 0;
  if (puts !== opts.changes) result.notes.push(`D latency: ${puts} PutObject for ${opts.changes} changes`);
  const lat = result.latency.map((s) => s.logMs).filter((x): x is number => x !== undefined);
  host.progress(`D latency: ${lat.length}/${opts.changes} changes visible; p50 ${(pct(lat, 50) / 1000).toFixed(2)} s, p95 ${(pct(lat, 95) / 1000).toFixed(2)} s, ` +
    `max ${(Math.max(...lat) / 1000).toFixed(2)} s; requests ${JSON.stringify(result.latencyRequests)}`);
  const st = await d.stop(TIMEOUTS.stop);
  if (st.code !== 0) result.problems.push(`D latency daemon: exit ${st.code ?? st.signal} on SIGTERM${st.killed ? ' (killed after the stop timeout)' : ''}: ${d.stderrTail.slice(-400)}`);
}

async function headEtag(client: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    const r = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return r.ETag?.replace(/"/g, '');
  } catch {
    return undefined;
  }
}

/** Polls HeadObject (direct) every POLL_MS from just before the quiet period can end; ms from `at` to visible. */
async function pollVisible(client: S3Client, bucket: string, key: string, etag: string, at: number): Promise<number | undefined> {
  // The watcher holds a path for the quiet period after its last event, so nothing can show before that.
  const start = at + QUIET_MS - 300;
  const wait = start - performance.now();
  if (wait > 0) await sleep(wait);
  while (performance.now() - at < CHANGE_TIMEOUT_MS) {
    const t = performance.now();
    if ((await headEtag(client, bucket, key)) === etag) return performance.now() - at;
    const rest = POLL_MS - (performance.now() - t);
    if (rest > 0) await sleep(rest);
  }
  return undefined;
}

async function watchPart(host: DaemonHost, opts: DaemonOptions, result: DaemonResult, pool: Buffer, daemons: DaemonProc[], buckets: string[], trees: string[]): Promise<void> {
  const n = opts.watchFiles;
  const root = path.join(host.work, `d-tree-${n}`);
  trees.push(root);
  const t = performance.now();
  const rand = mulberry32(BIG_TREE.seed);
  const dirs: string[] = [];
  const sub = Math.max(1, Math.round((BIG_TREE.dirsSub * n) / 100_000));
  for (let a = 0; a < BIG_TREE.dirsTop; a++) {
    for (let b = 0; b < sub; b++) dirs.push(`t${a}/s${String(b).padStart(3, '0')}`);
  }
  for (const dd of dirs) fs.mkdirSync(path.join(root, dd), { recursive: true });
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const rel = `${dirs[i % dirs.length]}/f${String(i).padStart(6, '0')}.dat`;
    const size = Math.floor(rand() * (BIG_TREE.maxSize + 1));
    fs.writeFileSync(path.join(root, rel), labelledContent(pool, `${i}`, size, rand));
    bytes += size;
  }
  const allDirs = new Set(dirs.map((dd) => dd.split('/')[0]!)).size + dirs.length + 1;
  result.bigTree = { files: n, dirs: allDirs, bytes, genMs: performance.now() - t };
  host.progress(`D: generated ${n} files (${(bytes / MiB).toFixed(1)} MiB) in ${allDirs} dirs in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  host.check();

  const bucket = await host.newBucket('d-big');
  buckets.push(bucket);
  const dir = path.join(host.work, 'run-d-big');
  const seedConfig = writeConfig(dir, host, root, bucket, ['transfers: 16', 'logLevel: warn']);
  const config = writeConfig(dir, host, root, bucket);
  host.progress(`D: seeding the bucket with one \`r2mirror sync\` (transfers 16) of ${n} files`);
  result.seed = await host.sync(seedConfig, n, TIMEOUTS.seedBig, true);
  host.progress(`D: seed sync ${(result.seed.wallMs / 1000).toFixed(1)} s, uploaded ${result.seed.uploaded ?? '?'}${result.seed.problems.length ? `; PROBLEM: ${result.seed.problems.join('; ')}` : ''}`);
  if (result.seed.uploaded !== n) throw new Error(`D: the seed sync uploaded ${result.seed.uploaded ?? '?'} of ${n} files`);

  for (let rep = 1; rep <= opts.watchReps; rep++) {
    host.check();
    const w: WatchRun = { rep, problems: [] };
    result.watch.push(w);
    try {
      await watchOnce(host, opts, config, w, daemons);
    } catch (err) {
      w.problems.push((err as Error).message);
    }
    host.progress(`D watch ${rep}/${opts.watchReps}: ${describeWatch(w)}`);
  }
}

async function watchOnce(host: DaemonHost, opts: DaemonOptions, config: string, w: WatchRun, daemons: DaemonProc[]): Promise<void> {
  host.proxy.resetCounts();
  const d = new DaemonProc(host, config);
  daemons.push(d);
  const armed = await d.waitLine((o) => o.msg === 'watchers armed', "'watchers armed'", TIMEOUTS.armed);
  w.armMs = armed.at - d.spawnedAt;
  w.armDirs = typeof armed.o.dirs === 'number' ? armed.o.dirs : undefined;
  host.progress(`D watch ${w.rep}: watchers armed after ${(w.armMs / 1000).toFixed(1)} s (${w.armDirs ?? '?'} dirs); RSS ${procStatus(d.pid)?.rss.toFixed(0) ?? '?'} MiB`);
  const rec = await d.waitLine((o) => o.msg === 'reconciled' && (o.kind === 'local' || o.kind === 'list'), 'the initial reconcile', TIMEOUTS.reconciled);
  w.reconcileMs = rec.at - d.spawnedAt;
  w.reconcileLogMs = typeof rec.o.ms === 'number' ? rec.o.ms : undefined;
  w.reconcileKind = String(rec.o.kind);
  if (rec.o.uploaded || rec.o.deleted || rec.o.failed) w.problems.push(`the initial reconcile changed something: ${JSON.stringify(rec.o)}`);
  const startRequests = host.proxy.counts();
  if (startRequests.total) w.problems.push(`start-up sent ${startRequests.total} request(s): ${JSON.stringify(startRequests.byOp)}`);
  for (const l of d.lines) {
    if (/inotify|too many open files|rescanning/.test(String(l.o.msg))) w.problems.push(`daemon: ${String(l.o.msg).slice(0, 300)}`);
  }
  await sleep(TIMEOUTS.settle); // the live state is written up to 2 s after the last change
  w.startCpuMs = procCpuMs(d.pid);
  // the idle window
  host.proxy.resetCounts();
  const lines0 = d.lines.length;
  const before = procStatus(d.pid);
  const cpu0 = procCpuMs(d.pid);
  const t0 = performance.now();
  // CPU per second of the window, to see when any idle CPU was spent (e.g. a late GC)
  const perSecond: number[] = [];
  let last = cpu0 ?? 0;
  while (performance.now() - t0 < opts.idleMs) {
    await sleep(Math.min(1000, opts.idleMs - (performance.now() - t0)));
    const c = procCpuMs(d.pid);
    if (c !== undefined) {
      perSecond.push(c - last);
      last = c;
    }
  }
  host.check();
  const cpu1 = procCpuMs(d.pid);
  w.idleBusySeconds = perSecond.map((ms, i) => [i, ms] as const).filter(([, ms]) => ms > 0).map(([i, ms]) => `${i}s:${ms.toFixed(0)}`);
  w.idleWindowMs = performance.now() - t0;
  const after = procStatus(d.pid);
  const counts = host.proxy.counts();
  w.idleRequests = counts.byOp;
  w.idleRequestTotal = counts.total;
  w.idleLogLines = d.lines.length - lines0;
  w.rssIdleMiB = before?.rss;
  w.rssAfterIdleMiB = after?.rss;
  w.hwmMiB = after?.hwm;
  w.threads = after?.threads;
  w.idleCpuMs = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined;
  w.inotifyWatches = inotifyWatches(d.pid);
  if (d.exit) w.problems.push(`the daemon exited during the idle window (${d.exit.code ?? d.exit.signal}): ${d.stderrTail.slice(-400)}`);
  // stop
  const linesBeforeStop = d.lines.length;
  const st = await d.stop(TIMEOUTS.stop);
  w.stopMs = st.ms;
  w.exitCode = st.code;
  w.exitSignal = st.signal;
  w.cleanStop = d.lines.slice(linesBeforeStop).some((l) => l.o.msg === 'stopped');
  if (st.killed) w.problems.push(`not stopped ${TIMEOUTS.stop / 1000} s after SIGTERM: killed`);
  else if (st.code !== 0) w.problems.push(`exit ${st.code ?? st.signal} on SIGTERM: ${d.stderrTail.slice(-400)}`);
}

// --- report ----------------------------------------------------------------------------------------------------

/** Nearest-rank percentile. */
export function pct(xs: readonly number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const sec = (ms: number | undefined, d = 2) => (ms === undefined || !Number.isFinite(ms) ? '-' : (ms / 1000).toFixed(d));
const nums = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
const sumS = (xs: (number | undefined)[], d: number, scale = 1) => fmtSummary(summarize(nums(xs).map((x) => x / scale)), d);
const cpuPerMin = (w: WatchRun) => (w.idleCpuMs !== undefined && w.idleWindowMs ? (w.idleCpuMs * 60_000) / w.idleWindowMs : undefined);

function describeWatch(w: WatchRun): string {
  const parts = [
    `armed ${sec(w.armMs, 1)} s`, `reconciled ${sec(w.reconcileMs, 1)} s (${w.reconcileKind ?? '?'}, ${sec(w.reconcileLogMs, 1)} s itself)`,
    `RSS ${w.rssIdleMiB?.toFixed(0) ?? '?'} MiB, HWM ${w.hwmMiB?.toFixed(0) ?? '?'} MiB`, `inotify watches ${w.inotifyWatches ?? '?'}`,
    `idle CPU ${w.idleCpuMs ?? '?'} ms in ${sec(w.idleWindowMs, 0)} s`, `idle requests ${w.idleRequestTotal ?? '?'}`,
    `stop ${sec(w.stopMs)} s exit ${w.exitCode ?? w.exitSignal ?? '?'}`,
  ];
  return parts.join(', ') + (w.problems.length ? `  PROBLEM: ${w.problems.join('; ')}` : '');
}

function latencyRow(name: string, ss: readonly ChangeSample[], pick: (s: ChangeSample) => number | undefined): string[] {
  const xs = nums(ss.map(pick));
  return [name, `${xs.length}/${ss.length}`, sec(pct(xs, 50)), sec(pct(xs, 95)), sec(xs.length ? Math.max(...xs) : NaN), sec(xs.length ? Math.min(...xs) : NaN)];
}

export interface DTargetRow {
  target: string;
  measured: string;
  verdict: 'PASS' | 'FAIL' | 'not run';
}

/** The markdown section(s) for scenario D, and the short text for the terminal. */
export function daemonReport(r: DaemonResult | undefined): { md: string; targets: DTargetRow[] } {
  if (!r) return { md: '', targets: [] };
  const o = r.opts;
  const out: string[] = [];
  const lat = r.latency;
  if (lat.length) {
    const logOf = (s: ChangeSample) => s.logMs;
    const uploadOf = (s: ChangeSample) => s.uploadMs;
    const t = mdTable(['event -> object visible', 'changes', 'p50 s', 'p95 s', 'max s', 'min s'], [
      latencyRow('all changes (log line, each confirmed by HEAD)', lat, logOf),
      latencyRow(`  sequential (wait for each)`, lat.filter((s) => s.mode === 'sequential'), logOf),
      latencyRow(`  pipelined (next write ${SPACING_MS} ms after the previous)`, lat.filter((s) => s.mode === 'pipelined'), logOf),
      latencyRow('  new files', lat.filter((s) => s.kind === 'new'), logOf),
      latencyRow('  rewrites', lat.filter((s) => s.kind === 'rewrite'), logOf),
      latencyRow(`every ${POLL_EVERY}th change, by polling HEAD (direct) every ${POLL_MS} ms`, lat.filter((s) => s.i % POLL_EVERY === 0), (s) => s.pollMs),
      latencyRow('the upload itself ("uploaded" line `ms`)', lat, uploadOf),
    ]);
    const reqs = Object.entries(r.latencyRequests ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
    out.push(
      `## Daemon: event-to-object latency (scenario D)`,
      '',
      `A ${LAT_TREE.files}-file tree (${LAT_TREE.dirs} dirs, 1-8 KiB) seeded by one sync, then \`node dist/cli.js daemon\` with the default ` +
        `settings (quiet period ${QUIET_MS / 1000} s, not shortened). ${lat.length} single-file changes (every other one a new file, the others ` +
        `rewrites of distinct existing files; 1-8 KiB; every change a different key): the first ${o.sequential} strictly one at a time (each waited ` +
        `for), the rest pipelined (the next write starts ${SPACING_MS} ms after the previous one; each change is still timed on its own). ` +
        'Latency = from `fs.writeFileSync` returning to the arrival of the daemon\'s `uploaded` log line for that key (the daemon logs it after ' +
        'the server confirmed the PUT); each one then confirmed by a HeadObject on the direct client (not through the proxy) showing the ' +
        `new ETag. Every ${POLL_EVERY}th change is also timed from outside, by polling HeadObject on the direct client every ${POLL_MS} ms. ` +
        `Percentiles are nearest-rank.`,
      '',
      t,
      '',
      `Requests the daemon sent for the ${lat.length} changes (proxy): ${reqs}; ${r.latencyBatches?.reconciles ?? '?'} reconciles, ` +
        `${r.latencyBatches?.multiPath ?? '?'} of them with more than one path; ${sec(r.latencyWallMs, 0)} s for the whole series; watchers armed ` +
        `${sec(r.latencyArmMs)} s after spawn.`,
      '',
    );
  }
  const w = r.watch;
  if (r.bigTree) {
    const bt = r.bigTree;
    const seed = r.seed;
    const rows = w.map((x) => [
      String(x.rep), sec(x.armMs, 1), sec(x.reconcileMs, 1), `${sec(x.reconcileLogMs, 1)} (${x.reconcileKind ?? '?'})`, sec(x.startCpuMs, 1), x.rssIdleMiB?.toFixed(0) ?? '-',
      x.rssAfterIdleMiB?.toFixed(0) ?? '-', x.hwmMiB?.toFixed(0) ?? '-', String(x.inotifyWatches ?? '-'), String(x.threads ?? '-'),
      x.idleCpuMs === undefined ? '-' : `${x.idleCpuMs.toFixed(0)} in ${sec(x.idleWindowMs, 0)} s`,
      cpuPerMin(x) === undefined ? '-' : cpuPerMin(x)!.toFixed(0), cpuPerMin(x) === undefined ? '-' : `${(cpuPerMin(x)! / 600).toFixed(3)}%`,
      String(x.idleRequestTotal ?? '-'), String(x.idleLogLines ?? '-'), sec(x.stopMs), String(x.exitCode ?? x.exitSignal ?? '-'),
    ]);
    if (w.length > 1) {
      rows.push(['median', sumS(w.map((x) => x.armMs), 1, 1000), sumS(w.map((x) => x.reconcileMs), 1, 1000), sumS(w.map((x) => x.reconcileLogMs), 1, 1000),
        sumS(w.map((x) => x.startCpuMs), 1, 1000),
        sumS(w.map((x) => x.rssIdleMiB), 0), sumS(w.map((x) => x.rssAfterIdleMiB), 0), sumS(w.map((x) => x.hwmMiB), 0), sumS(w.map((x) => x.inotifyWatches), 0),
        '', sumS(w.map((x) => x.idleCpuMs), 0), sumS(w.map(cpuPerMin), 0), '', sumS(w.map((x) => x.idleRequestTotal), 0), '', sumS(w.map((x) => x.stopMs), 2, 1000), '']);
    }
    const t = mdTable(['start', 'armed s', 'initial reconcile done s', 'reconcile itself s', 'CPU until idle s', 'RSS idle MiB', 'RSS after idle MiB', 'HWM (peak) MiB',
      'inotify watches', 'threads', 'idle CPU ms', 'CPU ms/min', '% of 1 core', 'idle requests', 'idle log lines', 'SIGTERM -> exit s', 'exit code'], rows);
    out.push(
      `## Daemon: ${bt.files.toLocaleString('en-US')} files watched (scenario D)`,
      '',
      `${bt.files} files of 0-${BIG_TREE.maxSize} B (${(bt.bytes / MiB).toFixed(1)} MiB) in ${bt.dirs} directories, generated in ${sec(bt.genMs, 1)} s. ` +
        (o.quick ? '(--quick: a smaller tree than the 100,000 files of the full run.) ' : '') +
        `The bucket was seeded by one \`r2mirror sync\` with \`transfers: 16\`: ${seed ? `${sec(seed.wallMs, 1)} s wall (${seed.uploaded ?? '?'} files uploaded` +
          `${seed.cpuMs !== undefined ? `, CPU ${sec(seed.cpuMs, 1)} s` : ''}${seed.rssMiB !== undefined ? `, peak RSS ${seed.rssMiB.toFixed(0)} MiB` : ''})` : 'not run'}` +
        `${seed?.problems.length ? ` PROBLEM: ${seed.problems.join('; ')}` : ''}, so the daemon starts with a state DB that knows every file and its ` +
        'initial reconcile is a local rescan (no LIST: the last listing is recent). Then the daemon was started ' +
        `${w.length} time(s) on it with default settings: times are from spawn to the arrival of the \`watchers armed\` / first \`reconciled\` log ` +
        `line; RSS and HWM (peak RSS since spawn) from /proc/<pid>/status, ${TIMEOUTS.settle / 1000} s after the initial reconcile (RSS also at the end of ` +
        `the idle window); idle CPU = utime + stime from /proc/<pid>/stat (clock ticks of 1/${ticksPerSecond()} s) over an idle window of ` +
        `${o.idleMs / 1000} s with nothing changing in the folder; idle requests = what the proxy saw in that window; inotify watches = the ` +
        '`inotify wd:` entries of the daemon\'s inotify fds (/proc/<pid>/fdinfo). Stop = SIGTERM to exit.',
      '',
      t,
      '',
      `Seconds of the idle window in which the daemon used any CPU (second: ms): ${w.map((x) => `start ${x.rep}: ${x.idleBusySeconds?.length ? x.idleBusySeconds.join(' ') : 'none'}`).join('; ')}. ` +
        'CPU until idle = utime + stime from spawn to the start of the idle window (start-up, arming the watchers, the initial reconcile).',
      '',
      `"An idle hour" is extrapolated from the ${o.idleMs / 1000} s idle window (x${(3_600_000 / o.idleMs).toFixed(0)}); it was not measured for an hour. ` +
        'The daemon\'s own hourly rescan (daemon.rescanInterval, 1 h by default, a local scan without requests) and daily LIST verification ' +
        '(verifyInterval) are outside the window.',
      '',
    );
  }

  // targets
  const targets: DTargetRow[] = [];
  const xs = nums(lat.map((s) => s.logMs));
  const lost = lat.length - xs.length;
  if (lat.length) {
    const p50 = pct(xs, 50);
    const p95 = pct(xs, 95);
    targets.push({
      target: `daemon: change -> object p50 <= quiet period + 0.3 s = ${sec(LAT_TARGET_P50_MS, 1)} s`,
      measured: `${sec(p50)} s (${xs.length} changes${lost ? `, ${lost} never seen` : ''}; sequential ${sec(pct(nums(lat.filter((s) => s.mode === 'sequential').map((s) => s.logMs)), 50))} s)`,
      verdict: !lost && p50 <= LAT_TARGET_P50_MS ? 'PASS' : 'FAIL',
    });
    targets.push({
      target: `daemon: change -> object p95 <= quiet period + 1 s = ${sec(LAT_TARGET_P95_MS, 1)} s`,
      measured: `${sec(p95)} s (max ${sec(Math.max(...xs))} s)`,
      verdict: !lost && p95 <= LAT_TARGET_P95_MS ? 'PASS' : 'FAIL',
    });
  } else {
    targets.push({ target: `daemon: change -> object p50 <= quiet period + 0.3 s`, measured: '-', verdict: 'not run' });
    targets.push({ target: `daemon: change -> object p95 <= quiet period + 1 s`, measured: '-', verdict: 'not run' });
  }
  const n = r.bigTree?.files ?? o.watchFiles;
  const ok = w.filter((x) => x.hwmMiB !== undefined);
  if (ok.length) {
    const hwm = Math.max(...nums(ok.map((x) => x.hwmMiB)));
    const rss = median(nums(ok.map((x) => x.rssIdleMiB)));
    targets.push({
      target: `daemon watching ${n} files: memory <= ${RSS_TARGET_MIB} MiB`,
      measured: `HWM (peak) ${hwm.toFixed(0)} MiB (max of ${ok.length}), RSS when idle ${rss.toFixed(0)} MiB (median)`,
      verdict: hwm <= RSS_TARGET_MIB ? 'PASS' : 'FAIL',
    });
  } else targets.push({ target: `daemon watching ${n} files: memory <= ${RSS_TARGET_MIB} MiB`, measured: '-', verdict: 'not run' });
  const cpu = w.filter((x) => cpuPerMin(x) !== undefined);
  if (cpu.length) {
    const worstRun = [...cpu].sort((a, b) => cpuPerMin(b)! - cpuPerMin(a)!)[0]!;
    const worst = cpuPerMin(worstRun)!;
    const when = worstRun.idleBusySeconds?.length
      ? `; all of it in second(s) ${worstRun.idleBusySeconds.join(' ')} of that window, RSS ${worstRun.rssIdleMiB?.toFixed(0) ?? '?'} -> ${worstRun.rssAfterIdleMiB?.toFixed(0) ?? '?'} MiB across it` +
        `${(worstRun.rssAfterIdleMiB ?? 0) < (worstRun.rssIdleMiB ?? 0) * 0.8 ? ' (a late GC shrinking the heap after start-up)' : ''}`
      : '';
    targets.push({
      target: `daemon idle CPU about 0 (here: <= ${IDLE_CPU_TARGET_MS_PER_MIN} ms per minute = 0.1% of one core)`,
      measured: `${worst.toFixed(0)} ms/min = ${(worst / 600).toFixed(3)}% of one core (worst of ${cpu.length} idle windows of ${o.idleMs / 1000} s${when}); ` +
        `median ${median(cpu.map((x) => cpuPerMin(x)!)).toFixed(0)} ms/min`,
      verdict: worst <= IDLE_CPU_TARGET_MS_PER_MIN ? 'PASS' : 'FAIL',
    });
  } else targets.push({ target: 'daemon idle CPU about 0', measured: '-', verdict: 'not run' });
  const req = w.filter((x) => x.idleRequestTotal !== undefined);
  if (req.length) {
    const worst = Math.max(...req.map((x) => x.idleRequestTotal!));
    targets.push({
      target: 'daemon idle: 0 R2 requests in an idle hour',
      measured: `${worst} in ${o.idleMs / 1000} s idle (worst of ${req.length}); an hour extrapolated from that, not measured`,
      verdict: worst === 0 ? 'PASS' : 'FAIL',
    });
  } else targets.push({ target: 'daemon idle: 0 R2 requests in an idle hour', measured: '-', verdict: 'not run' });
  const stops = w.filter((x) => x.stopMs !== undefined);
  if (stops.length) {
    const bad = stops.filter((x) => x.exitCode !== 0);
    targets.push({
      target: 'daemon: SIGTERM -> exit 0',
      measured: `exit ${[...new Set(stops.map((x) => String(x.exitCode ?? x.exitSignal)))].join('/')} after ${stops.map((x) => sec(x.stopMs)).join(', ')} s`,
      verdict: bad.length ? 'FAIL' : 'PASS',
    });
  }
  return { md: out.join('\n'), targets };
}

/** Problems of scenario D, one line each. */
export function daemonProblems(r: DaemonResult | undefined): string[] {
  if (!r) return [];
  return [...r.problems, ...r.watch.flatMap((w) => w.problems.map((p) => `D watch ${w.rep}: ${p}`)), ...r.notes];
}

export function newDaemonResult(opts: DaemonOptions): DaemonResult {
  return { opts, problems: [], notes: [], latency: [], watch: [] };
}
