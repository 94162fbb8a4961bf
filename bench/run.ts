// `npm run bench`: what r2mirror's `sync` costs (wall, CPU, peak RSS, R2 operations by class) on generated folders,
// against a real S3 server behind the R2 proxy; prints a table and overwrites bench/RESULTS.md. Not a test.
//
//   npm run bench                       3 initial syncs, 5 no-change, 5 x 1% change, 5 x big-file upload pairs, daemon D
//   npm run bench -- --quick            one of each (smoke run); D with 20 changes, 10,000 files, 10 s idle
//   npm run bench -- --scenario A       only A (A, B, C, D or S; repeat the flag or comma-separate for several)
//   npm run bench -- --scenario S       only the scale scenario S (long, 20-30 min; never in the default run);
//                                       with --quick: a 100,000-file tree, one run per step, no daemon part
//   npm run bench -- --profile          also write V8 CPU profiles of every CLI run to bench/out/prof/
//   S3_ENDPOINT=... S3_ACCESS_KEY=... S3_SECRET_KEY=... npm run bench     against that server (else local RGW)
//
// Scenarios (deterministic data in a temp dir):
//   A  5,000 files of 1-64 KiB in 105 nested dirs: initial sync, no-change sync, sync after rewriting 1% (50 files)
//   B  A's files + 20 x 8 MiB + 1 x 200 MiB: initial sync, no-change sync
//   C  the 200 MiB file alone: r2mirror vs a plain lib-storage Upload (SDK defaults) through the same proxy; then
//      r2mirror again with --bwlimit 16MiB (its throughput should be the limit)
//   D  `r2mirror daemon` (bench/daemon.ts): event-to-object latency of 200 single-file changes in a 1,000-file tree;
//      a 100,000-file tree seeded by one sync, then watched: arm and initial-reconcile time, RSS, idle CPU and
//      requests over an idle minute, SIGTERM
//   S  scale (bench/scale.ts, issue #11; only with --scenario S): 1,000,000 files of 16-256 B in ~5,000 dirs:
//      sync --dry-run --json into an empty prefix; a state DB seeded without PUTs, then a no-change
//      sync --trust-state; 100,000 files: first sync, no-change sync (listing) and with --trust-state; the daemon on
//      the 1M tree with the seeded DB (time to its first local reconcile, peak and steady RSS). Writes only the S
//      section of bench/RESULTS.md (between its markers); a run without S keeps that section, a run of S alone
//      keeps the rest of the file.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { R2Proxy } from '../test/harness/r2proxy.js';
import { createTestBucket, emptyAndDeleteBucket, ensureS3, makeClient, stopS3, type S3Env } from '../test/harness/s3server.js';
import { daemonOptions, daemonProblems, daemonReport, newDaemonResult, scenarioD, type DaemonResult } from './daemon.js';
import { Dataset, MiB, TREE } from './dataset.js';
import { newScaleResult, scaleOptions, scaleProblems, scaleReport, scenarioS, sectionOf, withSection, type ScaleResult } from './scale.js';
import { fmtSummary, mdTable, median, summarize } from './stats.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CLI_JS = path.join(REPO, 'dist', 'cli.js');
const RUSAGE_URL = pathToFileURL(path.join(REPO, 'bench', 'rusage.mjs')).href;
const PLAIN_UPLOAD = path.join(REPO, 'bench', 'plain-upload.mjs');
const RESULTS = path.join(REPO, 'bench', 'RESULTS.md');
const PROFILE_DIR = path.join(REPO, 'bench', 'out', 'prof');

const MEDIUM_COUNT = 20;
const MEDIUM_SIZE = 8 * MiB;
const BIG_SIZE = 200 * MiB;
const BIG_SEED = 7;
const CHANGE_COUNT = 50;
const PREFIX = 'bench/';
const RSS_LIMIT_MIB = 200;
const NO_CHANGE_LIMIT_MS = 1000;
const THROUGHPUT_RATIO = 0.9;
/** Scenario C also uploads the big file at this limit (issue #14: throughput within 10% of it). */
const BWLIMIT_MIB = 16;
/** No new run starts after this much time (plus scenario S's own budget when it runs); what ran so far is still reported. */
const TOTAL_BUDGET_MS = 45 * 60_000;
/** Per-run timeouts: a run that exceeds its timeout is killed (SIGKILL) and reported. */
const TIMEOUT = { smallInitial: 240_000, bigInitial: 300_000, noChange: 60_000, change: 60_000, upload: 180_000 };

type Scenario = 'A' | 'B' | 'C' | 'D' | 'S';
/** The default run; S (long) runs only when asked for. */
const ALL_SCENARIOS: readonly Scenario[] = ['A', 'B', 'C', 'D'];
const VALID_SCENARIOS: readonly Scenario[] = [...ALL_SCENARIOS, 'S'];
const GROUPS = ['A initial', 'A no-change', 'A 1% change', 'B initial', 'B no-change', 'C r2mirror', 'C plain Upload', 'C r2mirror --bwlimit', 'D seed sync'] as const;
type Group = (typeof GROUPS)[number];

interface Options {
  scenarios: Scenario[];
  quick: boolean;
  profile: boolean;
  reps: { initial: number; noChange: number; change: number; upload: number };
}

/** What `r2mirror sync --json` prints (the parts the bench reads). */
interface SyncJson {
  ok: boolean;
  exitCode: number;
  durationMs: number;
  totals: { uploaded: { files: number; bytes: number }; adopted: { files: number }; unchanged: number; failed: number; skipped: number };
  ops: { classA: number; classB: number; free: number; byOp: Record<string, number> };
}

/** What bench/rusage.mjs writes (CPU in microseconds, maxRSS in KiB, the memoryUsage() sample at peak RSS in bytes). */
interface Usage {
  userCPUTime: number;
  systemCPUTime: number;
  maxRSS: number;
  peak?: MemSample;
}

interface MemSample {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

interface ProxyCounts {
  byOp: Record<string, number>;
  classA: number;
  classB: number;
  free: number;
}

/** One measured process run. */
interface Measured {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  wallMs: number;
  usage: Usage | undefined;
  stdout: string;
  stderr: string;
  counts: ProxyCounts;
  /** CPU the bench process (i.e. the in-process R2 proxy) spent during the run. */
  proxyCpuMs: number;
  load1: number;
}

/** One row of raw results. */
interface Rec {
  group: Group;
  rep: number;
  /** Files in the mirrored folder (for CPU per file). */
  files: number;
  problems: string[];
  wallMs: number;
  engineMs: number | undefined;
  cpuMs: number | undefined;
  rssMiB: number | undefined;
  /** process.memoryUsage() at the highest sampled RSS. */
  memPeak: MemSample | undefined;
  proxyCpuMs: number;
  /** 1-minute load average when the run started (the machine is shared). */
  load1: number;
  counts: ProxyCounts;
  uploaded: number | undefined;
  /** Scenario C: time of the big file's upload itself (r2mirror: its 'uploaded' log line; plain: Upload.done()). */
  uploadMs: number | undefined;
}

// ---------------------------------------------------------------------------------------------------------------

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv.filter((a) => a !== '--'),
    options: {
      quick: { type: 'boolean' }, scenario: { type: 'string', multiple: true }, profile: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    const lines = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
    const head = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
    process.stdout.write(head.map((l) => l.slice(3)).join('\n') + '\n');
    process.exit(0);
  }
  const picked = (values.scenario ?? []).flatMap((s) => s.split(',')).map((s) => s.trim().toUpperCase()).filter(Boolean);
  for (const s of picked) if (!(VALID_SCENARIOS as readonly string[]).includes(s)) throw new Error(`--scenario takes A, B, C, D or S (got "${s}")`);
  const scenarios = (picked.length ? [...new Set(picked)] : [...ALL_SCENARIOS]).sort() as Scenario[];
  const quick = !!values.quick;
  return {
    scenarios, quick, profile: !!values.profile,
    reps: quick ? { initial: 1, noChange: 1, change: 1, upload: 1 } : { initial: 3, noChange: 5, change: 5, upload: 5 },
  };
}

const t0 = Date.now();
function progress(msg: string): void {
  const s = ((Date.now() - t0) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench +${s}s] ${msg}\n`);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    newest = Math.max(newest, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when it is missing or older than src/. Returns a note for the report. */
function ensureBuilt(): string {
  const have = fs.existsSync(CLI_JS);
  if (have && newestMtime(path.join(REPO, 'dist')) >= newestMtime(path.join(REPO, 'src'))) return 'dist/ up to date with src/';
  progress(have ? 'dist/ is older than src/: npm run build' : 'dist/ is missing: npm run build');
  const r = spawnSync('npm', ['run', 'build'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
  if (r.status === 0) return 'built by the bench (npm run build)';
  if (!have) throw new Error(`npm run build failed (exit ${r.status ?? r.signal}) and there is no dist/cli.js to run`);
  progress('WARNING: npm run build failed; measuring the existing (older) dist/');
  return 'WARNING: npm run build failed; measured the existing, older dist/';
}

function gitInfo(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: REPO, encoding: 'utf8' }).trim();
    return `${head}${dirty ? ' + uncommitted changes in src/' : ''}`;
  } catch {
    return 'unknown';
  }
}

function machineInfo(): { nproc: string; model: string; mem: string; kernel: string } {
  let nproc = String(os.availableParallelism());
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // keep os.availableParallelism()
  }
  let model = os.cpus()[0]?.model ?? 'unknown';
  try {
    model = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? model;
  } catch {
    // keep os.cpus()
  }
  return { nproc, model, mem: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`, kernel: `${os.type()} ${os.release()}` };
}

// ---------------------------------------------------------------------------------------------------------------

class Bench {
  readonly records: Rec[] = [];
  readonly notes: string[] = [];
  daemon: DaemonResult | undefined;
  scale: ScaleResult | undefined;
  private readonly buckets = new Set<string>();
  private child: ChildProcess | undefined;
  private seq = 0;
  interrupted = false;
  readonly data: Dataset;
  readonly smallRoot: string;
  readonly bigRoot: string;

  constructor(
    readonly opts: Options,
    readonly env: S3Env,
    readonly client: S3Client,
    readonly proxy: R2Proxy,
    readonly work: string,
  ) {
    this.data = new Dataset(work);
    this.smallRoot = path.join(work, 'tree');
    this.bigRoot = path.join(work, 'big-only');
    fs.mkdirSync(this.smallRoot);
    fs.mkdirSync(this.bigRoot);
  }

  interrupt(): void {
    this.interrupted = true;
    this.child?.kill('SIGKILL');
  }

  check(): void {
    if (this.interrupted) throw new Error('interrupted');
    const budget = TOTAL_BUDGET_MS + (this.opts.scenarios.includes('S') ? scaleOptions(this.opts.quick).budgetMs : 0);
    if (Date.now() - t0 > budget) throw new OverBudget(`the bench's ${budget / 60_000} min budget is used up`);
  }

  async newBucket(hint: string): Promise<string> {
    const b = await createTestBucket(this.client, `bench-${hint}`);
    this.buckets.add(b);
    return b;
  }

  async dropBucket(b: string): Promise<void> {
    try {
      await emptyAndDeleteBucket(this.client, b);
    } catch (err) {
      progress(`WARNING: could not delete bucket ${b}: ${(err as Error).message}`);
    }
    this.buckets.delete(b);
  }

  async dropAllBuckets(): Promise<void> {
    for (const b of [...this.buckets]) await this.dropBucket(b);
  }

  killChild(): void {
    this.child?.kill('SIGKILL');
  }

  /**
   * Runs `node --import rusage.mjs [flags] <script> <args>` with a timeout; proxy counts cover exactly this run.
   * With `stdoutFile` the child writes its stdout there (not through a pipe, not held in memory; `stdout` is '').
   */
  async measure(script: string, args: string[], extraEnv: Record<string, string>, timeoutMs: number, flags: string[] = [], stdoutFile?: string): Promise<Measured> {
    this.check();
    const usageFile = path.join(this.work, `rusage-${this.seq++}.json`);
    const env = this.childEnv({ R2M_BENCH_RUSAGE: usageFile, ...extraEnv });
    this.proxy.resetCounts();
    const load1 = os.loadavg()[0] ?? NaN;
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    const outFd = stdoutFile ? fs.openSync(stdoutFile, 'w') : undefined;
    const child = spawn(process.execPath, ['--import', RUSAGE_URL, ...flags, script, ...args], {
      cwd: REPO, env, stdio: ['ignore', outFd ?? 'pipe', 'pipe'],
    });
    if (outFd !== undefined) fs.closeSync(outFd);
    this.child = child;
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 32 * MiB) stderr += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    let exitedAt: number | undefined;
    child.on('exit', () => (exitedAt = performance.now()));
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('error', (err) => {
        stderr += `spawn error: ${err.message}\n`;
        resolve({ code: null, signal: null });
      });
      child.on('close', (c, s) => resolve({ code: c, signal: s }));
    });
    clearTimeout(timer);
    this.child = undefined;
    const wallMs = (exitedAt ?? performance.now()) - started;
    const counts = this.proxy.counts();
    const cpu = process.cpuUsage(cpu0);
    const proxyCpuMs = (cpu.user + cpu.system) / 1000;
    let usage: Usage | undefined;
    try {
      usage = JSON.parse(fs.readFileSync(usageFile, 'utf8')) as Usage;
      fs.rmSync(usageFile, { force: true });
    } catch {
      usage = undefined;
    }
    this.check();
    return { code, signal, timedOut, wallMs, usage, stdout, stderr, counts, proxyCpuMs, load1 };
  }

  /** Environment of a CLI child: this server's credentials, no R2_/AWS_/R2MIRROR_ variables from the caller. */
  childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: Record<string, string | undefined> = { ...process.env };
    for (const k of Object.keys(env)) if (/^(R2_|AWS_|R2MIRROR_)/.test(k)) delete env[k];
    Object.assign(env, {
      R2_ACCESS_KEY_ID: this.env.accessKeyId, R2_SECRET_ACCESS_KEY: this.env.secretAccessKey,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...extra,
    });
    return env as NodeJS.ProcessEnv;
  }

  /** Writes the config for one folder/bucket/state and returns its path. */
  writeConfig(name: string, root: string, bucket: string): string {
    const dir = path.join(this.work, `run-${name}`);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'r2mirror.yaml');
    fs.writeFileSync(file, [
      'remote:',
      `  endpoint: ${this.proxy.endpoint}`,
      `state: ${path.join(dir, 'state', 'state.db')}`,
      'folders:',
      '  - name: bench',
      `    path: ${root}`,
      `    bucket: ${bucket}`,
      `    prefix: ${PREFIX}`,
    ].join('\n') + '\n');
    return file;
  }

  /** One `r2mirror sync --json` run; checks the summary against what the scenario expects. */
  async sync(group: Group, rep: number, of: number, config: string, files: number, expectUploaded: number, timeoutMs: number, extra: string[] = []): Promise<Rec> {
    const flags = this.opts.profile
      ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR, '--cpu-prof-name', `${group.replace(/[^A-Za-z0-9]+/g, '-')}-${rep}.cpuprofile`]
      : [];
    const v0 = this.proxy.violations().length;
    const m = await this.measure(CLI_JS, ['sync', '--config', config, '--json', ...extra], {}, timeoutMs, flags);
    const problems: string[] = [];
    let json: SyncJson | undefined;
    try {
      json = JSON.parse(m.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop() ?? '') as SyncJson;
    } catch {
      json = undefined;
    }
    if (m.timedOut) problems.push(`killed after the ${timeoutMs / 1000} s timeout`);
    else if (m.code !== 0) problems.push(`exit ${m.code ?? m.signal}: ${lastLines(m.stderr, 3)}`);
    if (!json) problems.push('no JSON summary on stdout');
    else {
      if (json.totals.uploaded.files !== expectUploaded) problems.push(`uploaded ${json.totals.uploaded.files} files, expected ${expectUploaded}`);
      if (json.totals.failed) problems.push(`${json.totals.failed} failed`);
      const mine = json.ops;
      if (mine.classA !== m.counts.classA || mine.classB !== m.counts.classB) {
        problems.push(`CLI counted A ${mine.classA} / B ${mine.classB}, proxy saw A ${m.counts.classA} / B ${m.counts.classB}`);
      }
    }
    if (!m.usage) problems.push('no resource usage (process did not exit normally)');
    this.noteWarnings(group, m.stderr);
    const violations = this.proxy.violations().slice(v0);
    if (violations.length) problems.push(`${violations.length} R2 rule violation(s): ${violations.slice(0, 3).join('; ')}`);
    let uploadMs: number | undefined;
    if (group === 'C r2mirror' || group === 'C r2mirror --bwlimit') {
      for (const line of m.stderr.split('\n')) {
        if (!line.startsWith('{') || !line.includes('"uploaded"')) continue;
        try {
          const o = JSON.parse(line) as { msg?: string; ms?: number };
          if (o.msg === 'uploaded' && typeof o.ms === 'number') uploadMs = o.ms;
        } catch {
          // not a log line
        }
      }
      if (uploadMs === undefined) {
        problems.push('no "uploaded" log line with ms; upload time taken from the engine duration');
        uploadMs = json?.durationMs;
      }
    }
    const rec: Rec = {
      group, rep, files, problems, wallMs: m.wallMs, engineMs: json?.durationMs,
      cpuMs: m.usage ? (m.usage.userCPUTime + m.usage.systemCPUTime) / 1000 : undefined,
      rssMiB: m.usage ? m.usage.maxRSS / 1024 : undefined, memPeak: m.usage?.peak, proxyCpuMs: m.proxyCpuMs, load1: m.load1,
      counts: m.counts, uploaded: json?.totals.uploaded.files, uploadMs,
    };
    this.records.push(rec);
    progress(`${group} ${rep}/${of}: ${describe(rec)}`);
    return rec;
  }

  /** A plain lib-storage Upload of `file` into bucket/key through the proxy. */
  async plainUpload(rep: number, of: number, file: string, bucket: string, key: string): Promise<Rec> {
    const m = await this.measure(PLAIN_UPLOAD, [], {
      BENCH_ENDPOINT: this.proxy.endpoint, BENCH_BUCKET: bucket, BENCH_KEY: key, BENCH_FILE: file,
    }, TIMEOUT.upload);
    const problems: string[] = [];
    let ms: number | undefined;
    try {
      ms = (JSON.parse(m.stdout.trim()) as { ms: number }).ms;
    } catch {
      ms = undefined;
    }
    if (m.timedOut) problems.push(`killed after the ${TIMEOUT.upload / 1000} s timeout`);
    else if (m.code !== 0 || ms === undefined) problems.push(`exit ${m.code ?? m.signal}: ${lastLines(m.stderr, 3)}`);
    const rec: Rec = {
      group: 'C plain Upload', rep, files: 1, problems, wallMs: m.wallMs, engineMs: ms,
      cpuMs: m.usage ? (m.usage.userCPUTime + m.usage.systemCPUTime) / 1000 : undefined,
      rssMiB: m.usage ? m.usage.maxRSS / 1024 : undefined, memPeak: m.usage?.peak, proxyCpuMs: m.proxyCpuMs, load1: m.load1, counts: m.counts, uploaded: ms === undefined ? 0 : 1, uploadMs: ms,
    };
    this.records.push(rec);
    progress(`C plain Upload ${rep}/${of}: ${describe(rec)}`);
    return rec;
  }

  async headSize(bucket: string, key: string): Promise<number | undefined> {
    try {
      return (await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength;
    } catch {
      return undefined;
    }
  }

  /** Non-JSON stderr lines (Node warnings and the like), once per distinct text. */
  noteWarnings(group: Group, stderr: string): void {
    for (const line of stderr.split('\n')) {
      const t = line.trim();
      if (!t || t.startsWith('{') || t.startsWith('(Use `node --trace-warnings') || !/warning/i.test(t)) continue;
      const text = `${group}: stderr: ${t.replace(/^\(node:\d+\) /, '').slice(0, 300)}`;
      if (!this.notes.includes(text)) this.notes.push(text);
    }
  }

  /** One unmeasured sync, so a no-change series starts from the same (warm) state every time. */
  async warmUp(config: string): Promise<void> {
    const m = await this.measure(CLI_JS, ['sync', '--config', config, '--json'], {}, TIMEOUT.noChange);
    progress(`warm-up sync (not counted): wall ${(m.wallMs / 1000).toFixed(2)} s, exit ${m.code ?? m.signal}`);
  }

  fail(group: Group, why: string): void {
    this.notes.push(`${group}: ${why}; the rest of this scenario was skipped`);
    progress(`${group}: ${why}; skipping the rest of this scenario`);
  }

  // --- scenarios ---------------------------------------------------------------------------------------------

  prepareSmall(): void {
    if (this.data.small.length) return;
    const t = performance.now();
    this.data.writeSmallTree(this.smallRoot);
    progress(`generated ${TREE.files} files (${(this.data.smallBytes() / MiB).toFixed(0)} MiB) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }

  async scenarioA(): Promise<void> {
    const { reps } = this.opts;
    this.prepareSmall();
    const files = this.data.small.length;
    let bucket = '';
    let config = '';
    for (let r = 1; r <= reps.initial; r++) {
      if (bucket) await this.dropBucket(bucket);
      bucket = await this.newBucket('a');
      config = this.writeConfig(`a-initial-${r}`, this.smallRoot, bucket);
      const rec = await this.sync('A initial', r, reps.initial, config, files, files, TIMEOUT.smallInitial);
      if (rec.problems.length && rec.uploaded !== files) return this.fail('A initial', rec.problems.join('; '));
    }
    await this.warmUp(config);
    for (let r = 1; r <= reps.noChange; r++) {
      await this.sync('A no-change', r, reps.noChange, config, files, 0, TIMEOUT.noChange);
    }
    for (let r = 1; r <= reps.change; r++) {
      this.data.changeSmall(this.smallRoot, CHANGE_COUNT, r);
      const rec = await this.sync('A 1% change', r, reps.change, config, files, CHANGE_COUNT, TIMEOUT.change);
      if (rec.uploaded !== CHANGE_COUNT) {
        // bring the bucket in step before the next round, unmeasured
        await this.measure(CLI_JS, ['sync', '--config', config, '--json'], {}, TIMEOUT.change);
      }
    }
    await this.dropBucket(bucket);
  }

  async scenarioB(): Promise<void> {
    const { reps } = this.opts;
    this.prepareSmall();
    const t = performance.now();
    this.data.writeMedium(this.smallRoot, 'media', MEDIUM_COUNT, MEDIUM_SIZE, 11);
    this.data.linkBig(this.smallRoot, 'media/big/big200.bin', BIG_SIZE, BIG_SEED);
    progress(`generated ${MEDIUM_COUNT} x ${MEDIUM_SIZE / MiB} MiB + 1 x ${BIG_SIZE / MiB} MiB in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const files = this.data.small.length + MEDIUM_COUNT + 1;
    let bucket = '';
    let config = '';
    for (let r = 1; r <= reps.initial; r++) {
      if (bucket) await this.dropBucket(bucket);
      bucket = await this.newBucket('b');
      config = this.writeConfig(`b-initial-${r}`, this.smallRoot, bucket);
      const rec = await this.sync('B initial', r, reps.initial, config, files, files, TIMEOUT.bigInitial);
      if (rec.problems.length && rec.uploaded !== files) return this.fail('B initial', rec.problems.join('; '));
    }
    await this.warmUp(config);
    for (let r = 1; r <= reps.noChange; r++) {
      await this.sync('B no-change', r, reps.noChange, config, files, 0, TIMEOUT.noChange);
    }
    await this.dropBucket(bucket);
  }

  /** Scenario D: the daemon (bench/daemon.ts); its results go to this.daemon, the seed sync to the main table. */
  async scenarioD(): Promise<void> {
    const opts = daemonOptions(this.opts.quick);
    this.daemon = newDaemonResult(opts);
    const result = this.daemon;
    await scenarioD({
      work: this.work, cliJs: CLI_JS, repo: REPO, prefix: PREFIX, proxy: this.proxy, client: this.client,
      progress, check: () => this.check(), childEnv: () => this.childEnv(),
      setChild: (c) => (this.child = c),
      newBucket: (h) => this.newBucket(h), dropBucket: (b) => this.dropBucket(b),
      sync: async (config, files, timeoutMs, record) => {
        if (record) {
          const rec = await this.sync('D seed sync', 1, 1, config, files, files, timeoutMs);
          return { wallMs: rec.wallMs, cpuMs: rec.cpuMs, rssMiB: rec.rssMiB, uploaded: rec.uploaded, problems: rec.problems, byOp: rec.counts.byOp };
        }
        const m = await this.measure(CLI_JS, ['sync', '--config', config, '--json'], {}, timeoutMs);
        const problems = m.timedOut ? [`killed after the ${timeoutMs / 1000} s timeout`] : m.code !== 0 ? [`exit ${m.code ?? m.signal}: ${lastLines(m.stderr, 3)}`] : [];
        return { wallMs: m.wallMs, problems, byOp: m.counts.byOp };
      },
    }, opts, result).catch((err: unknown) => {
      if (err instanceof OverBudget || this.interrupted) throw err;
      result.problems.push(`scenario D stopped: ${(err as Error).message}`);
      progress(`D: ${(err as Error).message}`);
    });
  }

  /** Scenario S: scale (bench/scale.ts); its results go to this.scale and its own section of RESULTS.md. */
  async scenarioS(): Promise<void> {
    const result = newScaleResult(scaleOptions(this.opts.quick));
    this.scale = result;
    await scenarioS({
      work: this.work, cliJs: CLI_JS, repo: REPO, prefix: PREFIX, proxy: this.proxy,
      progress, check: () => this.check(), childEnv: () => this.childEnv(),
      setChild: (c) => (this.child = c), killChild: () => this.killChild(),
      newBucket: (h) => this.newBucket(h), dropBucket: (b) => this.dropBucket(b),
      run: async (args, timeoutMs, stdoutFile) => {
        const m = await this.measure(CLI_JS, args, {}, timeoutMs, [], stdoutFile);
        return {
          code: m.code, signal: m.signal, timedOut: m.timedOut, wallMs: m.wallMs, stderr: m.stderr, counts: m.counts, proxyCpuMs: m.proxyCpuMs, load1: m.load1,
          cpuMs: m.usage ? (m.usage.userCPUTime + m.usage.systemCPUTime) / 1000 : undefined, rssMiB: m.usage ? m.usage.maxRSS / 1024 : undefined, memPeak: m.usage?.peak,
        };
      },
    }, result).catch((err: unknown) => {
      if (err instanceof OverBudget || this.interrupted) throw err;
      result.problems.push(`scenario S stopped: ${(err as Error).stack ?? String(err)}`);
      progress(`S: ${(err as Error).stack ?? String(err)}`);
    });
  }

  async scenarioC(): Promise<void> {
    const { reps } = this.opts;
    const t = performance.now();
    this.data.linkBig(this.bigRoot, 'big200.bin', BIG_SIZE, BIG_SEED);
    const file = path.join(this.bigRoot, 'big200.bin');
    progress(`${BIG_SIZE / MiB} MiB file ready in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    for (let r = 1; r <= reps.upload; r++) {
      const bucket = await this.newBucket('c');
      const config = this.writeConfig(`c-${r}`, this.bigRoot, bucket);
      // Alternate the order so neither side always runs on a warmer (or more fragmented) server.
      const order = r % 2 === 1 ? ['r2mirror', 'plain'] : ['plain', 'r2mirror'];
      for (const who of order) {
        if (who === 'r2mirror') {
          const rec = await this.sync('C r2mirror', r, reps.upload, config, 1, 1, TIMEOUT.upload);
          const size = await this.headSize(bucket, `${PREFIX}big200.bin`);
          if (size !== BIG_SIZE) rec.problems.push(`object size ${size ?? 'missing'}, expected ${BIG_SIZE}`);
        } else {
          const rec = await this.plainUpload(r, reps.upload, file, bucket, 'plain/big200.bin');
          const size = await this.headSize(bucket, 'plain/big200.bin');
          if (size !== BIG_SIZE) rec.problems.push(`object size ${size ?? 'missing'}, expected ${BIG_SIZE}`);
        }
      }
      await this.dropBucket(bucket);
      // The same file at a bandwidth limit: the upload's throughput should be the limit.
      const limited = await this.newBucket('cl');
      const rec = await this.sync('C r2mirror --bwlimit', r, reps.upload, this.writeConfig(`cl-${r}`, this.bigRoot, limited), 1, 1, TIMEOUT.upload, ['--bwlimit', `${BWLIMIT_MIB}MiB`]);
      if (await this.headSize(limited, `${PREFIX}big200.bin`) !== BIG_SIZE) rec.problems.push('object missing or of the wrong size');
      await this.dropBucket(limited);
    }
  }
}

/** The whole bench ran out of time: stop starting runs, report what was measured. */
class OverBudget extends Error {}

function lastLines(s: string, n: number): string {
  return s.trim().split('\n').slice(-n).join(' | ').slice(0, 600);
}

const LISTS = ['ListObjectsV2', 'ListObjects', 'ListMultipartUploads', 'ListParts', 'ListBuckets'];
const READS = ['HeadObject', 'GetObject', 'HeadBucket'];
const sumOps = (c: ProxyCounts, ops: readonly string[]) => ops.reduce((n, op) => n + (c.byOp[op] ?? 0), 0);

function describe(r: Rec): string {
  const parts = [
    `load ${r.load1.toFixed(1)}`,
    `wall ${(r.wallMs / 1000).toFixed(2)} s`,
    r.engineMs !== undefined ? `${r.group === 'C plain Upload' ? 'upload' : 'engine'} ${(r.engineMs / 1000).toFixed(2)} s` : '',
    r.cpuMs !== undefined ? `CPU ${(r.cpuMs / 1000).toFixed(2)} s` : '',
    r.rssMiB !== undefined ? `RSS ${r.rssMiB.toFixed(0)} MiB` : '',
    `A ${r.counts.classA} / B ${r.counts.classB} / free ${r.counts.free}`,
    r.uploaded !== undefined ? `uploaded ${r.uploaded}` : '',
    r.uploadMs !== undefined && r.group.startsWith('C') ? `${(BIG_SIZE / MiB / (r.uploadMs / 1000)).toFixed(0)} MiB/s` : '',
  ].filter(Boolean);
  return parts.join(', ') + (r.problems.length ? `  PROBLEM: ${r.problems.join('; ')}` : '');
}

// --- report ----------------------------------------------------------------------------------------------------

interface TargetRow {
  target: string;
  measured: string;
  verdict: 'PASS' | 'FAIL' | 'not run';
}

function byGroup(records: readonly Rec[]): Map<Group, Rec[]> {
  const m = new Map<Group, Rec[]>();
  for (const g of GROUPS) {
    const rs = records.filter((r) => r.group === g);
    if (rs.length) m.set(g, rs);
  }
  return m;
}

const nums = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined && Number.isFinite(x));

function opsSummary(rs: readonly Rec[]): string {
  const ops = [...new Set(rs.flatMap((r) => Object.keys(r.counts.byOp)))].sort();
  return ops.map((op) => `${op} ${fmtSummary(summarize(rs.map((r) => r.counts.byOp[op] ?? 0)), 0)}`).join(', ') || 'none';
}

function mainTable(groups: Map<Group, Rec[]>): string {
  const rows = [...groups].map(([g, rs]) => {
    const s = (xs: (number | undefined)[], d: number, scale = 1) => fmtSummary(summarize(nums(xs).map((x) => x / scale)), d);
    return [
      g, String(rs.length), s(rs.map((r) => r.wallMs), 2, 1000), s(rs.map((r) => r.engineMs), 2, 1000),
      s(rs.map((r) => r.cpuMs), 2, 1000), s(rs.map((r) => (r.cpuMs === undefined ? undefined : r.cpuMs / r.files)), (rs[0]?.files ?? 1) > 1 ? 3 : 0),
      s(rs.map((r) => r.rssMiB), 0), s(rs.map((r) => r.counts.classA), 0), s(rs.map((r) => r.counts.classB), 0), opsSummary(rs),
      s(rs.map((r) => r.proxyCpuMs), 2, 1000), s(rs.map((r) => r.load1), 1),
    ];
  });
  return mdTable(['scenario', 'runs', 'wall s', 'engine s', 'CPU s', 'CPU ms/file', 'peak RSS MiB', 'Class A', 'Class B', 'requests by op', 'proxy CPU s', 'load 1m'], rows);
}

function throughput(rs: readonly Rec[] | undefined, pick: (r: Rec) => number | undefined): number {
  return median(nums((rs ?? []).map(pick)).map((ms) => BIG_SIZE / MiB / (ms / 1000)));
}

/** Median over repetitions of r2mirror's / plain's upload throughput, each pair measured back to back. */
function pairedRatio(mine: readonly Rec[] | undefined, plain: readonly Rec[] | undefined): number {
  const ratios: number[] = [];
  for (const a of mine ?? []) {
    const b = plain?.find((p) => p.rep === a.rep);
    if (a.uploadMs && b?.uploadMs && !a.problems.length && !b.problems.length) ratios.push(b.uploadMs / a.uploadMs);
  }
  return median(ratios);
}

function uploadTable(groups: Map<Group, Rec[]>): string | undefined {
  const mine = groups.get('C r2mirror');
  const plain = groups.get('C plain Upload');
  if (!mine && !plain) return undefined;
  const row = (name: string, rs: Rec[] | undefined, parts: string) => {
    if (!rs) return [name, '0', '-', '-', '-', '-', '-', parts];
    const up = summarize(nums(rs.map((r) => r.uploadMs)).map((ms) => BIG_SIZE / MiB / (ms / 1000)));
    const e2e = summarize(rs.map((r) => BIG_SIZE / MiB / (r.wallMs / 1000)));
    return [name, String(rs.length), fmtSummary(up, 1), fmtSummary(e2e, 1), fmtSummary(summarize(nums(rs.map((r) => r.cpuMs)).map((x) => x / 1000)), 2),
      fmtSummary(summarize(nums(rs.map((r) => r.rssMiB))), 0), parts, opsSummary(rs)];
  };
  const ratioUp = throughput(mine, (r) => r.uploadMs) / throughput(plain, (r) => r.uploadMs);
  const ratioE2e = throughput(mine, (r) => r.wallMs) / throughput(plain, (r) => r.wallMs);
  const t = mdTable(['200 MiB upload', 'runs', 'MiB/s (upload)', 'MiB/s (whole process)', 'CPU s', 'peak RSS MiB', 'parts', 'requests by op'], [
    row('r2mirror sync', mine, '8 MiB x 25, queue 4'),
    row('plain lib-storage Upload', plain, '5 MiB x 40, queue 4'),
    ...(groups.get('C r2mirror --bwlimit') ? [row(`r2mirror sync --bwlimit ${BWLIMIT_MIB}MiB`, groups.get('C r2mirror --bwlimit'), '8 MiB x 25, queue 4')] : []),
  ]);
  const ratio = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : '-');
  return `${t}\n\nr2mirror / plain throughput: ${ratio(pairedRatio(mine, plain))} = median of the per-repetition ratios (each pair ran back to back, ` +
    `in alternating order; this is the verdict below); ratio of the medians: ${ratio(ratioUp)} on upload time, ${ratio(ratioE2e)} on whole-process time ` +
    '(upload time: r2mirror\'s "uploaded" log line `ms`, which includes reading + hashing + the HeadObject RGW needs for the ETag; ' +
    'plain: `Upload.done()`; whole process includes Node start-up, config, state DB and the folder scan).';
}

function targets(groups: Map<Group, Rec[]>): TargetRow[] {
  const out: TargetRow[] = [];
  const nc = groups.get('A no-change');
  const lists = Math.ceil(TREE.files / 1000);
  if (!nc) {
    out.push({ target: `no-change sync of ${TREE.files} files: 0 HEAD/GET`, measured: '-', verdict: 'not run' });
    out.push({ target: `no-change sync of ${TREE.files} files: <= ${lists} LIST`, measured: '-', verdict: 'not run' });
    out.push({ target: `no-change sync of ${TREE.files} files: < 1 s`, measured: '-', verdict: 'not run' });
  } else {
    const reads = Math.max(...nc.map((r) => sumOps(r.counts, READS)));
    const maxLists = Math.max(...nc.map((r) => sumOps(r.counts, LISTS)));
    const wall = median(nc.map((r) => r.wallMs));
    const engine = median(nums(nc.map((r) => r.engineMs)));
    out.push({ target: `no-change sync of ${TREE.files} files: 0 HEAD/GET`, measured: `${reads} (max of ${nc.length} runs)`, verdict: reads === 0 ? 'PASS' : 'FAIL' });
    out.push({ target: `no-change sync of ${TREE.files} files: <= ceil(N/1000) = ${lists} LIST`, measured: `${maxLists} (max of ${nc.length} runs)`, verdict: maxLists <= lists ? 'PASS' : 'FAIL' });
    out.push({
      target: `no-change sync of ${TREE.files} files: < 1 s`,
      measured: `${(wall / 1000).toFixed(2)} s whole process (median of ${nc.length}); engine ${(engine / 1000).toFixed(2)} s`,
      verdict: wall < NO_CHANGE_LIMIT_MS ? 'PASS' : 'FAIL',
    });
  }
  const bnc = groups.get('B no-change');
  if (bnc) {
    const n = TREE.files + MEDIUM_COUNT + 1;
    const reads = Math.max(...bnc.map((r) => sumOps(r.counts, READS)));
    const maxLists = Math.max(...bnc.map((r) => sumOps(r.counts, LISTS)));
    out.push({
      target: `(also) no-change sync of ${n} files (B): 0 HEAD/GET, <= ${Math.ceil(n / 1000)} LIST`,
      measured: `${reads} HEAD/GET, ${maxLists} LIST; ${(median(bnc.map((r) => r.wallMs)) / 1000).toFixed(2)} s`,
      verdict: reads === 0 && maxLists <= Math.ceil(n / 1000) ? 'PASS' : 'FAIL',
    });
  }
  const limited = groups.get('C r2mirror --bwlimit');
  if (limited) {
    const rate = throughput(limited, (r) => r.uploadMs);
    out.push({
      target: `--bwlimit ${BWLIMIT_MIB}MiB: ${BIG_SIZE / MiB} MiB upload throughput within 10% of the limit`,
      measured: `${rate.toFixed(1)} MiB/s (median of ${limited.length})`,
      verdict: Math.abs(rate - BWLIMIT_MIB) <= BWLIMIT_MIB * 0.1 ? 'PASS' : 'FAIL',
    });
  }
  const mine = groups.get('C r2mirror');
  const plain = groups.get('C plain Upload');
  if (mine && plain) {
    const a = throughput(mine, (r) => r.uploadMs);
    const b = throughput(plain, (r) => r.uploadMs);
    const paired = pairedRatio(mine, plain);
    out.push({
      target: `${BIG_SIZE / MiB} MiB upload >= ${THROUGHPUT_RATIO * 100}% of plain multipart throughput`,
      measured: `${(paired * 100).toFixed(0)}% (median of ${mine.length} back-to-back pairs); medians ${a.toFixed(1)} vs ${b.toFixed(1)} MiB/s`,
      verdict: paired >= THROUGHPUT_RATIO ? 'PASS' : 'FAIL',
    });
  } else out.push({ target: `${BIG_SIZE / MiB} MiB upload >= ${THROUGHPUT_RATIO * 100}% of plain multipart throughput`, measured: '-', verdict: 'not run' });
  const rss = [...groups].filter(([g]) => g !== 'C plain Upload' && g !== 'D seed sync').map(([g, rs]) => [g, Math.max(...nums(rs.map((r) => r.rssMiB)))] as const);
  if (rss.length) {
    const worst = Math.max(...rss.map(([, v]) => v));
    out.push({
      target: `peak RSS < ${RSS_LIMIT_MIB} MiB in every scenario`,
      measured: rss.map(([g, v]) => `${g} ${v.toFixed(0)}`).join(', ') + ' MiB (max per scenario)',
      verdict: worst < RSS_LIMIT_MIB ? 'PASS' : 'FAIL',
    });
  }
  return out;
}

/** Where the memory was at the highest RSS of each scenario (one 50 ms sample of process.memoryUsage()). */
function memoryTable(groups: Map<Group, Rec[]>): string {
  const mib = (n: number) => (n / MiB).toFixed(0);
  const rows = [...groups].map(([g, rs]) => {
    const worst = [...rs].sort((x, y) => (y.rssMiB ?? 0) - (x.rssMiB ?? 0))[0]!;
    const p = worst.memPeak;
    return [g, worst.rssMiB?.toFixed(0) ?? '-', ...(p ? [mib(p.rss), mib(p.heapTotal), mib(p.heapUsed), mib(p.external), mib(p.arrayBuffers), mib(p.rss - p.heapTotal - p.external)] : ['-', '-', '-', '-', '-', '-'])];
  });
  return mdTable(['scenario (run with the highest RSS)', 'maxRSS', 'sampled RSS', 'heap total', 'heap used', 'external', 'of which ArrayBuffers', 'rest (code, stacks, native)'], rows);
}

const REFERENCE = [
  '- re-sync of 5,000 unchanged files: 0.6-1.0 s with 5 LIST (the best tools, on this kind of machine)',
  '- rclone with defaults: 5,001 HEAD + 251 LIST per re-sync of the same 5,000 files',
  '- fastest initial upload of the 5,000 small files: ~9.6 s',
  '- thriftiest client: ~0.6 ms CPU per file',
];

function report(b: Bench, info: { build: string; git: string; server: string; elapsedS: number }): { md: string; table: string } {
  const groups = byGroup(b.records);
  const m = machineInfo();
  const table = mainTable(groups);
  const upload = uploadTable(groups);
  const daemon = daemonReport(b.daemon);
  const tRows = [...targets(groups), ...daemon.targets];
  const tTable = mdTable(['target (from the issue)', 'measured', 'verdict'], tRows.map((t) => [t.target, t.measured, t.verdict]));
  const problems = [...b.records.filter((r) => r.problems.length).map((r) => `- ${r.group} run ${r.rep}: ${r.problems.join('; ')}`),
    ...daemonProblems(b.daemon).map((p) => `- ${p}`)];
  const { reps } = b.opts;
  const d = b.daemon?.opts;
  const runs = `${reps.initial} per initial sync, ${reps.noChange} per no-change sync, ${reps.change} per 1% change, ${reps.upload} per upload` +
    (d ? `; D: ${d.changes} changes timed one by one, ${d.watchReps} daemon start(s) on the ${d.watchFiles}-file tree` : '');
  const md = [
    '# r2mirror benchmark results',
    '',
    `Generated by \`npm run bench${b.opts.quick ? ' -- --quick' : ''}${b.opts.scenarios.filter((s) => s !== 'S').length < ALL_SCENARIOS.length ? ` --scenario ${b.opts.scenarios.filter((s) => s !== 'S').join(',')}` : ''}\` (bench/run.ts); ` +
      'overwritten by every run of any of A-D (the scale section S at the end is rewritten only by runs of S).',
    '',
    `**Caveat: 2 shared cores, noisy: medians of N runs** (N = ${runs}); min-max in parentheses.` +
      (b.opts.profile ? ' Run with --profile: V8 CPU profiling inflates every number.' : ''),
    '',
    `- date: ${new Date().toISOString()}`,
    `- node: ${process.version} (${process.platform}-${process.arch})`,
    `- machine: nproc ${m.nproc}, ${m.model}, ${m.mem} RAM, ${m.kernel}`,
    `- server: ${info.server} at ${b.env.endpoint}${b.env.started ? ' (started by test/server/start-rgw.sh for this run)' : process.env.S3_ENDPOINT ? ' (from S3_ENDPOINT)' : ''}, ` +
      'reached through R2Proxy (test/harness/r2proxy.ts, R2 rules on) on 127.0.0.1, which counts every request by S3 operation and R2 billing class',
    `- r2mirror: ${info.git}; ${info.build}; run as \`node dist/cli.js sync --config <tmp> --json\` with default settings ` +
      '(transfers 8, memory 48MiB, part size 8 MiB, logLevel info: JSON log lines on stderr); D runs `node dist/cli.js daemon --config <tmp>` ' +
      '(default daemon settings; its seed sync uses transfers 16 and logLevel warn)',
    `- data: A = ${TREE.files} files of 1-64 KiB (${(b.data.smallBytes() / MiB).toFixed(0)} MiB now) in 105 nested dirs; ` +
      `B = A + ${MEDIUM_COUNT} x ${MEDIUM_SIZE / MiB} MiB + 1 x ${BIG_SIZE / MiB} MiB; C = the ${BIG_SIZE / MiB} MiB file alone. ` +
      'Initial syncs start from a fresh bucket and state DB; the 1% change rewrites 50 different files (new content and size) each run. ' +
      `D = a 1,000-file tree for change latency and a ${b.daemon?.opts.watchFiles ?? 100_000}-file tree (0-512 B) watched by the daemon (its seed sync is the "D seed sync" row; ` +
      'it is not held to the sync RSS target, which is about the 5,000-file scenarios).',
    `- bench wall time: ${info.elapsedS.toFixed(0)} s`,
    '',
    '## Medians per scenario',
    '',
    'wall = spawn to exit of the CLI process; engine = the `durationMs` of the JSON summary (reconcile only); CPU = user + sys of the CLI ' +
      'process (`process.resourceUsage()`); CPU ms/file = CPU / files in the folder; peak RSS = maxRSS; requests counted by the proxy; ' +
      'proxy CPU = what the in-process proxy spent meanwhile (it shares the 2 cores with r2mirror and RGW); load 1m = the machine\'s ' +
      '1-minute load average as each run started (other users included). Each no-change series follows one unmeasured warm-up run.',
    '',
    table,
    '',
    ...(upload ? ['## 200 MiB upload (scenario C)', '', upload, ''] : []),
    ...(daemon.md ? [daemon.md] : []),
    '## Memory at peak RSS (MiB)',
    '',
    'maxRSS from `process.resourceUsage()`; the rest from the `process.memoryUsage()` sample (every 50 ms) with the highest RSS. ' +
      'External = Buffers outside the V8 heap (file contents, upload parts); garbage Buffers count until a GC frees them.',
    '',
    memoryTable(groups),
    '',
    '## Targets',
    '',
    tTable,
    '',
    '## Reference numbers (other tools, this kind of machine; for context)',
    '',
    ...REFERENCE,
    '',
    ...(problems.length || b.notes.length ? ['## Problems and warnings seen', '', ...problems, ...b.notes.map((n) => `- ${n}`), ''] : []),
  ].join('\n');
  const stdout = [table, '', ...(upload ? [upload, ''] : []), ...(daemon.md ? [daemon.md] : []), tTable, '', 'Reference numbers (other tools):', ...REFERENCE,
    ...(problems.length ? ['', 'Problems:', ...problems] : [])].join('\n');
  return { md, table: stdout };
}

/** "Ceph RGW" when the server's request ids look like RGW's (tx<hex>-<hex>-<hex>-<zone>), else a generic name. */
async function serverKind(endpoint: string): Promise<string> {
  try {
    const res = await fetch(endpoint, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    const id = res.headers.get('x-amz-request-id') ?? '';
    if (/^tx[0-9a-f]+-[0-9a-f]+-[0-9a-f]+-/.test(id)) return 'Ceph RGW';
    const name = res.headers.get('server');
    return name ? `S3 server "${name}"` : 'S3 server';
  } catch {
    return 'S3 server';
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message} (see --help)\n`);
    return 2;
  }
  // The harness's own S3 client: no Node-version notice from the SDK (the measured CLI gets the same variable).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  progress(`scenarios ${opts.scenarios.join(', ')}${opts.quick ? ' (quick)' : ''}`);
  const build = ensureBuilt();
  const git = gitInfo();
  if (opts.profile) fs.mkdirSync(PROFILE_DIR, { recursive: true });
  const env = await ensureS3();
  const client = makeClient(env);
  const proxy = await R2Proxy.start({ target: env.endpoint });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'r2m-bench-'));
  const bench = new Bench(opts, env, client, proxy, work);
  const server = await serverKind(env.endpoint);
  progress(`server ${env.endpoint} via proxy ${proxy.endpoint}; data in ${work}`);
  const onSignal = () => {
    if (bench.interrupted) process.exit(130);
    progress('interrupted: stopping the current run and cleaning up (again to exit at once)');
    bench.interrupt();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let code = 0;
  try {
    for (const s of opts.scenarios) {
      progress(`--- scenario ${s}`);
      try {
        if (s === 'A') await bench.scenarioA();
        else if (s === 'B') await bench.scenarioB();
        else if (s === 'C') await bench.scenarioC();
        else if (s === 'D') await bench.scenarioD();
        else await bench.scenarioS();
      } catch (err) {
        if (!(err instanceof OverBudget)) throw err;
        bench.notes.push(`scenario ${s} and later: not (fully) run: ${err.message}`);
        progress(`stopping: ${err.message}`);
        break;
      }
    }
    // RESULTS.md: the A-D part when any of A-D ran (else kept as it was), the S section when S ran (else kept as it was).
    const old = fs.existsSync(RESULTS) ? fs.readFileSync(RESULTS, 'utf8') : '';
    const ranMain = opts.scenarios.some((s) => s !== 'S');
    let out = old || '# r2mirror benchmark results\n';
    if (ranMain) {
      const { md, table } = report(bench, { build, git, server, elapsedS: (Date.now() - t0) / 1000 });
      const keptS = sectionOf(old);
      out = md + '\n' + (keptS ? `\n${keptS}\n` : '');
      process.stdout.write(table + '\n');
    }
    if (bench.scale) {
      const m = machineInfo();
      const scenarios = opts.scenarios.join(',');
      const s = scaleReport(bench.scale, {
        command: `npm run bench -- --scenario ${scenarios}${opts.quick ? ' --quick' : ''}`, git, build, node: `${process.version} (${process.platform}-${process.arch})`,
        machine: `nproc ${m.nproc}, ${m.model}, ${m.mem} RAM, ${m.kernel}`,
        server: `${server} at ${env.endpoint}${env.started ? ' (started by test/server/start-rgw.sh for this run)' : process.env.S3_ENDPOINT ? ' (from S3_ENDPOINT)' : ''}`,
      });
      out = withSection(out, s.md);
      process.stdout.write(s.text + '\n');
    }
    fs.writeFileSync(RESULTS, out.endsWith('\n') ? out : out + '\n');
    progress(`wrote ${path.relative(process.cwd(), RESULTS) || RESULTS}`);
    if (bench.records.some((r) => r.problems.length) || (bench.daemon && (bench.daemon.problems.length || bench.daemon.watch.some((w) => w.problems.length)))) code = 1;
    if (scaleProblems(bench.scale).length) code = 1;
  } catch (err) {
    progress(bench.interrupted ? 'interrupted; no results written' : `failed: ${(err as Error).stack ?? String(err)}`);
    code = bench.interrupted ? 130 : 1;
  } finally {
    bench.killChild();
    progress('cleaning up: buckets, proxy, temp dir');
    await bench.dropAllBuckets();
    await proxy.close();
    client.destroy();
    fs.rmSync(work, { recursive: true, force: true });
    if (env.started) await stopS3().catch((err: unknown) => progress(`could not stop RGW: ${(err as Error).message}`));
  }
  return code;
}

main().then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
