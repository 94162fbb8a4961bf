// kill -9 of `r2mirror daemon` while a seeded writer creates, overwrites and deletes files, at seeded points
// (small uploads before and after a DB commit, every stage of a multipart upload, deletes, a file deleted right
// after its upload, the post-crash listing and sweep themselves); more changes while it is down; then a restart.
// Its first reconcile must list the bucket and end in bucket = folder = DB, no multipart upload open, and not
// one byte re-sent for an object that was already complete in the bucket. A stop that had to cut transfers off
// owes the same listing.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bytes, fixture, type Fixture } from '../harness/mirror.js';
import type { FaultPlan } from '../harness/r2proxy.js';
import { Database } from '../../src/state/sqlite.js';
import { MiB, assertMirror, expectedEtag, keyOf, openUploads, runs, seeded, waitFor, writeTree } from '../harness/verify.js';
import { startDaemon, type RunningDaemon } from '../harness/daemon.js';

const SEED = Number(process.env.CRASH_SEED ?? 20_261_203);
/** Short daemon timings (as in daemon.test.ts); verifyInterval stays at its default (24 h): no listing but after a crash. */
const QUIET = 'daemon:\n  quietPeriod: 400ms\n  maxDelay: 10s';
const BIG = 24 * MiB + 321; // 4 parts: 3 of 8 MiB and a short one
const BIG_PARTS = 4;

type Counts = Record<string, number>;
const op = (c: Counts, name: string) => c[name] ?? 0;


async function kill(d: RunningDaemon): Promise<void> {
  d.cli.child.kill('SIGKILL');
  const r = await d.cli.result;
  assert.equal(r.code, null, `killed by SIGKILL (exit ${r.code}): ${r.stderr.slice(-1500)}`);
}

const fullReconcile = (l: any) => l.msg === 'reconciled' && (l.kind === 'list' || l.kind === 'local');

/** The seeded writer: the folder's truth (rel -> content) and the changes it makes. */
class Writer {
  readonly files = new Map<string, Buffer>();
  private n = 0;
  constructor(private readonly f: Fixture, readonly rand: () => number) {}
  pick(lo: number, hi: number): number {
    return lo + Math.floor(this.rand() * (hi - lo + 1));
  }
  create(rel: string, size = this.pick(1, 3000)): void {
    const b = bytes(size, SEED + ++this.n * 7);
    this.f.write(rel, b);
    this.files.set(rel, b);
  }
  overwrite(rel: string): void {
    this.create(rel, this.pick(1, 3000));
  }
  remove(rel: string): void {
    fs.rmSync(path.join(this.f.root, rel), { force: true });
    this.files.delete(rel);
  }
  /** A random existing small file (never a big one: those are the multipart points' own). */
  any(filter: (rel: string) => boolean = () => true): string | undefined {
    const c = [...this.files.keys()].filter((r) => !r.endsWith('.big') && filter(r));
    return c.length ? c[this.pick(0, c.length - 1)] : undefined;
  }
  /**
   * Create, overwrite and delete at random, every 0-20 ms, until `stop` is aborted. Draws from its own seeded
   * stream: how many changes it makes depends on timing, the kill points that follow must not.
   */
  async churn(round: number, stop: AbortSignal): Promise<void> {
    const rand = seeded(SEED * 13 + round);
    let i = 0;
    while (!stop.aborted) {
      const x = rand();
      const all = [...this.files.keys()].filter((r) => !r.endsWith('.big'));
      const old = all.length ? all[Math.floor(rand() * all.length)] : undefined;
      if (x < 0.6 || !old) this.create(`churn${round}/c${i++}.dat`, 1 + Math.floor(rand() * 3000));
      else if (x < 0.8) this.create(old, 1 + Math.floor(rand() * 3000));
      else this.remove(old);
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 21)));
    }
  }
}

interface Ctx {
  f: Fixture;
  w: Writer;
  round: number;
  /** Files this round created (for deletes of just-uploaded files). */
  created: string[];
}

/** One kill point: what the writer does while the daemon runs, faults that make the phase last, when to kill. */
interface KillPoint {
  name: string;
  faults?: Omit<FaultPlan, 'seed'>;
  /** Make the daemon busy (the writer's part of the round). */
  write: (c: Ctx) => void;
  /** When to kill (proxy counts since the round started), and how long after. */
  trigger: (c: Ctx) => { when: (c: Counts) => boolean; delayMs: number; what: string };
  /** Right at the trigger, before the delay (e.g. delete a file whose PUT just landed). */
  atTrigger?: (c: Ctx) => void;
  /** The writer churns at random during the whole round. */
  churn?: boolean;
  /** Kill the recovering daemon too, once, at this point (the listing, the sweep), before the final restart. */
  recoveryKill?: { faults: Omit<FaultPlan, 'seed'>; when: (c: Counts) => boolean; delayMs: [number, number]; what: string };
}

const burst = (n: number) => (c: Ctx) => {
  for (let i = 0; i < n; i++) {
    const rel = `r${c.round}/f${String(i).padStart(3, '0')}.dat`;
    c.w.create(rel);
    c.created.push(rel);
  }
};
const big = (c: Ctx) => {
  const rel = `r${c.round}/file.big`;
  c.w.create(rel, BIG);
  c.created.push(rel);
  burst(10)(c);
};
const puts = (lo: number, hi: number) => (c: Ctx) => {
  const k = c.w.pick(lo, hi);
  return { when: (x: Counts) => op(x, 'PutObject') >= k, delayMs: 0, what: `PUT #${k}` };
};

const POINTS: KillPoint[] = [
  { name: 'the first small uploads', write: burst(80), trigger: puts(1, 40) },
  // The issue's "kill after ~150 uploads": all uploaded, none recorded yet (rows are committed 200 at a time).
  { name: 'small uploads, none recorded', write: burst(200), trigger: puts(120, 190) },
  { name: 'small uploads, after a DB commit', write: burst(240), trigger: puts(205, 235) },
  {
    // The issue's first case: the object is complete, its row not yet written, and its file is deleted just
    // before the kill (the daemon, busy with the burst, has not looked at the delete yet).
    name: 'a file deleted right after its upload',
    write: burst(120),
    trigger: (c) => { const k = c.w.pick(40, 100); return { when: (x) => op(x, 'PutObject') >= k, delayMs: c.w.pick(0, 150), what: `PUT #${k}, then deletes` }; },
    atTrigger: (c) => {
      const seen = c.f.proxy.keysSeen();
      const done = c.created.filter((rel) => seen.has(keyOf(c.f, rel)) && c.w.files.has(rel));
      for (let i = 0; i < 5 && done.length; i++) c.w.remove(done.splice(c.w.pick(0, done.length - 1), 1)[0]!);
    },
  },
  {
    name: 'multipart, after create', write: big,
    faults: { rate: 1, kinds: ['slow'], slowMs: 700, only: (o) => o.op === 'UploadPart' },
    trigger: (c) => ({ when: (x) => op(x, 'CreateMultipartUpload') > 0, delayMs: c.w.pick(0, 60), what: 'create seen' }),
  },
  {
    name: 'multipart, parts in flight', write: big,
    faults: { rate: 1, kinds: ['slow'], slowMs: 700, only: (o) => o.op === 'UploadPart' },
    trigger: (c) => { const k = c.w.pick(1, 3); return { when: (x) => op(x, 'UploadPart') >= k, delayMs: c.w.pick(100, 500), what: `part #${k} seen` }; },
  },
  {
    // The server completes the upload at once; its answer is held back, and the daemon dies waiting for it.
    name: 'multipart, completed, not recorded', write: big,
    faults: { rate: 1, kinds: ['slow'], slowMs: 1500, only: (o) => o.op === 'CompleteMultipartUpload' },
    trigger: (c) => ({ when: (x) => op(x, 'CompleteMultipartUpload') > 0, delayMs: c.w.pick(50, 300), what: 'complete seen' }),
  },
  {
    name: 'deletes in flight',
    write: (c) => { for (let i = c.w.pick(20, 40); i > 0; i--) { const rel = c.w.any(); if (rel) c.w.remove(rel); } },
    faults: { rate: 1, kinds: ['slow'], slowMs: 1500, only: (o) => o.op === 'DeleteObjects' || o.op === 'DeleteObject' },
    trigger: (c) => ({ when: (x) => op(x, 'DeleteObjects') + op(x, 'DeleteObject') > 0, delayMs: c.w.pick(0, 100), what: 'delete seen' }),
  },
  {
    name: 'overwrites while uploading',
    write: (c) => { burst(60)(c); for (let i = 0; i < 20; i++) c.w.overwrite(c.w.any()!); },
    faults: { rate: 0.3, kinds: ['slow'], slowMs: 300, only: (o) => o.op === 'PutObject' },
    churn: true,
    trigger: puts(20, 50),
  },
  {
    name: 'a random moment of a random writer', write: burst(30), churn: true,
    trigger: (c) => ({ when: (x) => op(x, 'PutObject') > 0, delayMs: c.w.pick(300, 2500), what: 'first PUT' }),
  },
  {
    // Killed again while the restarted daemon lists the bucket: the listing is still owed on the next start.
    name: 'small uploads, then the post-crash listing',
    write: burst(100), trigger: puts(40, 90),
    recoveryKill: {
      faults: { rate: 1, kinds: ['slow'], slowMs: 1200, only: (o) => o.op === 'ListObjectsV2' },
      when: (x) => op(x, 'ListObjectsV2') > 0, delayMs: [0, 600], what: 'the post-crash listing',
    },
  },
  {
    // Killed again while the restarted daemon sweeps the open upload: the sweep is still owed on the next start.
    name: 'multipart, then the post-crash sweep', write: big,
    faults: { rate: 1, kinds: ['slow'], slowMs: 700, only: (o) => o.op === 'UploadPart' },
    trigger: (c) => ({ when: (x) => op(x, 'UploadPart') >= 1, delayMs: c.w.pick(0, 300), what: 'part #1 seen' }),
    recoveryKill: {
      faults: { rate: 1, kinds: ['slow'], slowMs: 1500, only: (o) => o.op === 'ListMultipartUploads' },
      when: (x) => op(x, 'ListMultipartUploads') > 0, delayMs: [0, 500], what: 'the post-crash sweep',
    },
  },
];

interface Row { point: string; trigger: string; unrecorded: number; orphans: number; left: number; open: number; uploaded: number; adopted: number; resent: number; ms: number }

describe(`daemon crash: kill -9 at seeded points while a writer works, then restart (seed ${SEED})`, () => {
  let f: Fixture;
  let w: Writer;
  let d: RunningDaemon;
  const table: Row[] = [];
  const started = Date.now();

  before(async () => {
    f = await fixture('daemon-crash', { topYaml: QUIET });
    w = new Writer(f, seeded(SEED));
    for (const [rel, b] of writeTree(f, 200, {}, SEED)) w.files.set(rel, b);
    d = startDaemon(f);
    await d.log(fullReconcile, 'the first reconcile');
    await assertMirror(f, w.files, 'initial');
  });

  after(async () => {
    if (table.length) {
      console.log('\nkill point | trigger | complete objects without their row | orphans | orphans left after restart | open MPUs | recovery uploaded / adopted | re-sent | recovery');
      for (const r of table) console.log(`${r.point} | ${r.trigger} | ${r.unrecorded} | ${r.orphans} | ${r.left} | ${r.open} | ${r.uploaded} / ${r.adopted} | ${r.resent} B | ${r.ms} ms`);
      console.log(`(${Math.round((Date.now() - started) / 1000)} s in all)\n`);
    }
    if (d && !d.exited) {
      d.cli.child.kill('SIGTERM');
      await d.cli.result;
    }
    await f?.close();
  });

  let round = 0;
  for (const point of POINTS) {
    test(`kill -9 during ${point.name}; the restart lists and converges without re-sending`, async () => {
      round++;
      const c: Ctx = { f, w, round, created: [] };
      // The daemon from the previous round (or before()) is running and idle.
      f.proxy.setFaults(point.faults ? { seed: SEED + round, ...point.faults } : undefined);
      f.proxy.resetCounts();
      const { when, delayMs, what } = point.trigger(c);
      const stopChurn = new AbortController();
      point.write(c);
      const churn = point.churn ? w.churn(round, stopChurn.signal) : Promise.resolve();
      await waitFor(() => d.exited || when(f.proxy.counts().byOp), `${what} (${point.name})`, 60_000, 1);
      assert.equal(d.exited, false, 'the daemon is still running at the kill point');
      point.atTrigger?.(c);
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs)); // the seeded moment of the kill after the trigger
      await kill(d);
      stopChurn.abort();
      await churn;

      // While it is down: new files, edits, deletes (among them files whose objects are complete but unrecorded).
      const seen = f.proxy.keysSeen();
      const uploaded = c.created.filter((rel) => seen.has(keyOf(f, rel)) && w.files.has(rel) && !rel.endsWith('.big'));
      for (let i = 0; i < 4 && uploaded.length; i++) w.remove(uploaded.splice(w.pick(0, uploaded.length - 1), 1)[0]!);
      for (let i = 0; i < 2; i++) { const rel = w.any(); if (rel) w.remove(rel); }
      for (let i = 0; i < 2; i++) { const rel = w.any(); if (rel) w.overwrite(rel); }
      for (let i = 0; i < 3; i++) w.create(`down${round}/n${i}.dat`);
      for (const rel of [...w.files.keys()].filter((r) => r.endsWith('.big') && !c.created.includes(r))) w.remove(rel); // an older round's big file
      f.proxy.setFaults(undefined);

      // What the crash left, once the requests already sent have landed.
      const snap = await stableSnapshot(f);
      const rows = new Map(f.rows().map((r) => [r.key, r]));
      const want = new Map([...w.files].map(([rel, b]) => [keyOf(f, rel), b]));
      const complete = new Set([...snap.objects].filter(([k, o]) => want.has(k) && o.etag === expectedEtag(want.get(k)!)).map(([k]) => k));
      const unrecorded = [...complete].filter((k) => rows.get(k)?.etag !== snap.objects.get(k)!.etag).length;
      const orphans = [...snap.objects.keys()].filter((k) => !want.has(k)).length;

      // What status says while the daemon is down (checked below, after the mirror).
      const statusDown = round === 1 ? await f.cmd('status') : undefined;

      // Optionally kill the recovering daemon as well, in the middle of its recovery.
      if (point.recoveryKill) {
        const rk = point.recoveryKill;
        f.proxy.setFaults({ seed: SEED * 2 + round, ...rk.faults });
        f.proxy.resetCounts();
        const r = startDaemon(f);
        await waitFor(() => r.exited || rk.when(f.proxy.counts().byOp), rk.what, 30_000, 1);
        assert.equal(r.exited, false, `the restarted daemon is still running at ${rk.what}`);
        await new Promise((res) => setTimeout(res, w.pick(...rk.delayMs))); // the seeded moment of the second kill
        await kill(r);
        f.proxy.setFaults(undefined);
        await stableSnapshot(f);
      }

      // Restart and wait for its first full reconcile.
      f.proxy.resetCounts();
      const t0 = Date.now();
      d = startDaemon(f);
      const first = await d.log(fullReconcile, 'the first reconcile after the restart', 60_000);
      const ms = Date.now() - t0;
      const logs = d.logs.slice();
      const sent = logs.filter((l) => l.msg === 'uploaded');
      const resent = sent.filter((l) => complete.has(l.key));
      const left = [...(await f.objects()).keys()].filter((k) => !want.has(k)).length;
      table.push({
        point: point.name, trigger: `${what}${delayMs ? ` +${delayMs}ms` : ''}`, unrecorded, orphans, left, open: snap.uploads.length,
        uploaded: sent.length, adopted: logs.filter((l) => l.msg === 'already in the bucket; recorded without upload').length,
        resent: resent.reduce((n, l) => n + l.bytes, 0), ms,
      });
      await assertMirror(f, w.files, `after a kill during ${point.name}`);
      assert.deepEqual(await openUploads(f), [], 'no multipart upload left open');
      // An upload left open is resumed (the restart keeps its parts), or swept when the kill came before it was recorded.
      const resumedKeys = new Set(logs.filter((l) => l.msg === 'resuming an interrupted multipart upload').map((l) => l.key));
      const swept = logs.some((l) => l.msg === 'aborted multipart uploads left open by an interrupted run');
      for (const u of snap.uploads) assert.ok(resumedKeys.has(u.key) || swept, `the open upload of ${u.key} was resumed or swept`);
      assert.deepEqual(resent.map((l) => l.key), [], 'no object already complete in the bucket is sent again');
      // At the proxy too: no more PUTs (small files) or part uploads (big ones) than keys that were not complete.
      const counts = f.proxy.counts().byOp;
      const notComplete = [...want.keys()].filter((k) => !complete.has(k));
      const bigNotComplete = notComplete.filter((k) => k.endsWith('.big')).length;
      assert.ok(op(counts, 'PutObject') <= notComplete.length - bigNotComplete, `PUTs ${op(counts, 'PutObject')} <= ${notComplete.length - bigNotComplete} incomplete small files`);
      assert.ok(op(counts, 'UploadPart') <= BIG_PARTS * bigNotComplete, `parts ${op(counts, 'UploadPart')} <= ${BIG_PARTS} x ${bigNotComplete} incomplete big files`);
      assert.equal(first.kind, 'list', 'after an unclean stop the first reconcile lists the bucket');
      if (statusDown) {
        assert.equal(statusDown.code, 0, statusDown.stderr);
        assert.match(statusDown.stdout, /unclean stop: +needs a listing after an unclean stop/, 'status said the folder owes a listing');
      }
      // Every killed run is closed (swept), only the running daemon's is open; the listing is paid.
      assert.deepEqual(runs(f).filter((r) => r.finished_at === null).length, 1, 'only the running daemon\'s run is unfinished');
      assert.equal(needsList(f), 0, 'the listing owed since the kill is paid');
    });
  }

  test('the last daemon stops cleanly and leaves no run unfinished', async () => {
    d.cli.child.kill('SIGTERM');
    const r = await d.cli.result;
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.deepEqual(runs(f).filter((x) => x.finished_at === null), []);
    await assertMirror(f, w.files, 'at the end');
    const s = await f.cmd('status');
    assert.equal(s.code, 0, s.stderr);
    assert.doesNotMatch(s.stdout, /unclean stop/, 'status: nothing owed');
  });
});

/** folders.needs_list of the fixture's folder, read directly from the state DB. */
function needsList(f: Fixture): number {
  const db = new Database(f.statePath, { readonly: true });
  try {
    return (db.prepare("SELECT needs_list FROM folders WHERE name = 'data'").get() as { needs_list: number }).needs_list;
  } finally {
    db.close();
  }
}

/** Objects and open uploads once two listings 100 ms apart agree (requests the killed process had sent have landed). */
async function stableSnapshot(f: Fixture): Promise<{ objects: Map<string, { size: number; etag: string }>; uploads: { key: string; uploadId: string }[] }> {
  let prev = '';
  let snap: { objects: Map<string, { size: number; etag: string }>; uploads: { key: string; uploadId: string }[] } | undefined;
  await waitFor(async () => {
    const objects = await f.objects();
    const uploads = await openUploads(f);
    const sig = JSON.stringify([[...objects].sort(), uploads.map((u) => u.uploadId).sort()]);
    const same = sig === prev;
    prev = sig;
    snap = { objects, uploads };
    return same;
  }, 'the bucket to settle after the kill', 10_000, 100);
  // A real restart comes RestartSec=5 s later (systemd/r2mirror.service); at least R2's one second per key must
  // pass, or the restarted daemon's first write of a key the killed one had just written is a 429 (R2's rule).
  await new Promise((res) => setTimeout(res, 1100));
  return snap!;
}

describe('daemon: a stop that had to cut transfers off', () => {
  test('owes a listing: status says so, and the next start lists', async () => {
    const f = await fixture('daemon-cut', { topYaml: `${QUIET}\n  stopTimeout: 1s` });
    try {
      const files = writeTree(f, 20, {}, SEED);
      const d1 = startDaemon(f);
      await d1.log(fullReconcile, 'the first reconcile');
      // Each part's answer is held back 3 s: the upload is still running when the stop timeout (1 s) passes.
      f.proxy.setFaults({ seed: SEED, rate: 1, kinds: ['slow'], slowMs: 3000, only: (o) => o.op === 'UploadPart' });
      const big = bytes(20 * MiB, SEED);
      f.write('cut.big', big);
      files.set('cut.big', big);
      await waitFor(() => f.proxy.faultLog().length > 0, 'a part upload in flight', 30_000, 20);
      d1.cli.child.kill('SIGTERM');
      const r1 = await d1.cli.result;
      assert.equal(r1.code, 0, r1.stderr.slice(-2000));
      f.proxy.setFaults(undefined);
      assert.ok(d1.logs.some((l) => l.msg === 'stop timeout: aborting the transfers still running'), 'the stop cut the upload off');
      assert.equal(needsList(f), 1, 'the folder owes a listing');
      const s = await f.cmd('status');
      assert.match(s.stdout, /unclean stop: +needs a listing after an unclean stop/);
      const d2 = startDaemon(f);
      const first = await d2.log(fullReconcile, 'the first reconcile after the restart');
      assert.equal(first.kind, 'list', 'the restart lists the bucket');
      await assertMirror(f, files, 'after the restart');
      assert.equal(needsList(f), 0);
      d2.cli.child.kill('SIGTERM');
      assert.equal((await d2.cli.result).code, 0);
      assert.deepEqual(runs(f).filter((x) => x.finished_at === null), []);
    } finally {
      await f.close();
    }
  });
});
