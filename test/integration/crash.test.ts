// kill -9 of `r2mirror sync` at seeded points (scan, small uploads before and after a DB commit, every stage of
// a multipart upload, deletes), then a plain restart: it must end in an exact mirror with the DB agreeing and no
// multipart upload left open, and we record how many bytes the crash made us send again.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListPartsCommand } from '@aws-sdk/client-s3';
import { bytes, fixture, type Fixture } from '../harness/mirror.js';
import type { FaultPlan } from '../harness/r2proxy.js';
import { MiB, assertMirror, expectedEtag, keyOf, openUploads, seeded, waitFor, writeTree } from '../harness/verify.js';

const SEED = Number(process.env.CRASH_SEED ?? 20_260_601);
/** Excluded files the scan still walks (a build cache in the folder): they make the scan last 100-300 ms. */
const EXCLUDED = 16_000;
/** New small files per round: more than one DB commit batch (200), so some uploads are always uncommitted. */
const PER_ROUND = 240;
const BIG = 24 * MiB + 777; // 3 parts of 8 MiB

type Counts = ReturnType<Fixture['proxy']['counts']>['byOp'];

/** One kill point: an optional fault plan that makes the phase last, and when to pull the trigger. */
interface KillPoint {
  name: string;
  /** When to kill: once `when` holds for the proxy's counts, after `delayMs`; `pick` draws seeded numbers. */
  trigger: (pick: (lo: number, hi: number) => number) => { when: (c: Counts) => boolean; delayMs: number; what: string };
  faults?: Omit<FaultPlan, 'seed'>;
  /** The round writes a multipart file. */
  big?: boolean;
  /** Check the state at the moment of the kill. */
  atKill?: (c: Counts) => void;
}

const op = (c: Counts, name: string) => c[name] ?? 0;

const POINTS: KillPoint[] = [
  {
    // The walk and the LIST start together; the walk of this tree takes ~100-300 ms (printed by before()).
    name: 'the scan',
    trigger: (pick) => ({ when: (c) => op(c, 'ListObjectsV2') > 0, delayMs: pick(0, 40), what: 'LIST seen' }),
    atKill: (c) => assert.equal(op(c, 'PutObject'), 0, 'killed before any upload'),
  },
  {
    name: 'scan + a slow listing',
    faults: { rate: 1, kinds: ['slow'], slowMs: 600, only: (o) => o.op === 'ListObjectsV2' },
    trigger: (pick) => ({ when: (c) => op(c, 'ListObjectsV2') > 0, delayMs: pick(40, 450), what: 'LIST seen' }),
    atKill: (c) => assert.equal(op(c, 'PutObject'), 0, 'killed before any upload'),
  },
  {
    name: 'small uploads, first ones',
    trigger: (pick) => { const k = pick(1, 40); return { when: (c) => op(c, 'PutObject') >= k, delayMs: 0, what: `PUT #${k}` }; },
  },
  {
    name: 'small uploads, none committed',
    trigger: (pick) => { const k = pick(120, 190); return { when: (c) => op(c, 'PutObject') >= k, delayMs: 0, what: `PUT #${k}` }; },
  },
  {
    name: 'small uploads, after a commit',
    trigger: (pick) => { const k = pick(205, 235); return { when: (c) => op(c, 'PutObject') >= k, delayMs: 0, what: `PUT #${k}` }; },
  },
  {
    name: 'multipart, after create',
    big: true,
    faults: { rate: 1, kinds: ['slow'], slowMs: 700, only: (o) => o.op === 'UploadPart' },
    trigger: (pick) => ({ when: (c) => op(c, 'CreateMultipartUpload') > 0, delayMs: pick(0, 60), what: 'create seen' }),
  },
  {
    name: 'multipart, parts in flight',
    big: true,
    faults: { rate: 1, kinds: ['slow'], slowMs: 700, only: (o) => o.op === 'UploadPart' },
    trigger: (pick) => { const k = pick(1, 3); return { when: (c) => op(c, 'UploadPart') >= k, delayMs: pick(100, 500), what: `part #${k} seen` }; },
  },
  {
    name: 'multipart, completed, not recorded',
    big: true,
    // the server completes the upload at once; its answer is held back, and we kill while it is
    faults: { rate: 1, kinds: ['slow'], slowMs: 1500, only: (o) => o.op === 'CompleteMultipartUpload' },
    trigger: (pick) => ({ when: (c) => op(c, 'CompleteMultipartUpload') > 0, delayMs: pick(50, 300), what: 'complete seen' }),
  },
  {
    name: 'deletes in flight',
    faults: { rate: 1, kinds: ['slow'], slowMs: 1500, only: (o) => o.op === 'DeleteObjects' },
    trigger: (pick) => ({ when: (c) => op(c, 'DeleteObjects') > 0, delayMs: pick(0, 100), what: 'DeleteObjects seen' }),
  },
  {
    name: 'random moment in uploads',
    big: true,
    trigger: (pick) => ({ when: (c) => op(c, 'PutObject') > 0, delayMs: pick(0, 800), what: 'first PUT' }),
  },
];

interface Row {
  point: string;
  trigger: string;
  killedAtMs: number;
  inBucketNotInDb: number;
  openUploads: number;
  openPartBytes: number;
  uploadedFiles: number;
  uploadedBytes: number;
  adoptedFiles: number;
  adoptedBytes: number;
  resentBytes: number;
  resumedBytes: number;
  recoveryMs: number;
}

describe(`crash: kill -9 at seeded points, then restart (seed ${SEED})`, () => {
  let f: Fixture;
  let files: Map<string, Buffer>;
  const table: Row[] = [];
  const rand = seeded(SEED);
  const pick = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

  before(async () => {
    f = await fixture('crash', { folderYaml: '    exclude: ["*.tmp"]' });
    for (let i = 0; i < EXCLUDED; i++) f.write(`cache/c${i % 40}/x${i}.tmp`, '');
    files = writeTree(f, 300, {}, SEED);
    const r = await f.run(['--json', '--log-level', 'debug']);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    await assertMirror(f, files, 'initial sync');
    const scanned = r.logs.find((l) => l.msg === 'scanned and listed');
    console.log(`crash suite: seed ${SEED}; ${files.size} files mirrored + ${EXCLUDED} excluded; scan took ${Math.round(scanned?.scanMs)} ms`);
  });

  after(async () => {
    if (table.length) {
      const fmt = (n: number) => (n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
      console.log('\nBytes sent again after kill -9 (recovery run = plain `r2mirror sync`):');
      const widths = [34, 24, 10, 18, 18, 22, 18, 10, 10, 9];
      console.log(['kill point', 'trigger', 'killed at', 'in bucket, no row', 'open MPU (parts)', 'recovery uploaded', 'adopted', 'resumed', 're-sent', 'recovery']
        .map((h, i) => h.padEnd(widths[i]!)).join('| '));
      for (const r of table) {
        console.log([
          r.point, r.trigger, `${r.killedAtMs} ms`, String(r.inBucketNotInDb), `${r.openUploads} (${fmt(r.openPartBytes)})`,
          `${r.uploadedFiles} / ${fmt(r.uploadedBytes)}`, `${r.adoptedFiles} / ${fmt(r.adoptedBytes)}`, fmt(r.resumedBytes), fmt(r.resentBytes), `${r.recoveryMs} ms`,
        ].map((c, i) => c.padEnd(widths[i]!)).join('| '));
      }
      console.log('resumed = bytes of multipart uploads left open that the recovery kept (their parts were not sent again);');
      console.log('re-sent = bytes the recovery uploaded although they had reached the server before the kill: objects complete');
      console.log('but not yet recorded and re-uploaded, plus parts of multipart uploads left open that were sent again.\n');
    }
    await f?.close();
  });

  let round = 0;
  for (const point of POINTS) {
    test(`kill -9 during ${point.name}; restart mirrors exactly`, async () => {
      round++;
      // This round's changes: new small files, a few edits and deletes of older files, maybe a multipart file.
      const changed = new Map<string, Buffer>();
      for (let i = 0; i < PER_ROUND; i++) changed.set(`r${round}/f${String(i).padStart(3, '0')}.bin`, bytes((i * 131) % 3000 + 1, SEED + round * 1000 + i));
      if (point.big) changed.set(`r${round}/big.bin`, bytes(BIG, SEED + round));
      const older = [...files.keys()].filter((k) => !k.includes('big.bin'));
      for (let i = 0; i < 5; i++) changed.set(older[pick(0, older.length - 1)]!, bytes(pick(1, 4000), SEED * 3 + round * 10 + i));
      const removed = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const rel = older[pick(0, older.length - 1)]!;
        if (!changed.has(rel)) removed.add(rel);
      }
      for (const rel of [...files.keys()].filter((k) => k.endsWith('big.bin'))) removed.add(rel); // the last round's big file
      for (const [rel, b] of changed) {
        f.write(rel, b);
        files.set(rel, b);
      }
      for (const rel of removed) {
        fs.rmSync(path.join(f.root, rel));
        files.delete(rel);
      }

      // Run and kill.
      f.proxy.setFaults(point.faults ? { seed: SEED + round, ...point.faults } : undefined);
      f.proxy.resetCounts();
      const { when, delayMs, what } = point.trigger(pick);
      const t0 = Date.now();
      const cli = f.start(['--json'], { timeoutMs: 60_000 });
      let exited = false;
      void cli.result.then(() => (exited = true));
      await waitFor(() => exited || when(f.proxy.counts().byOp), `${what} (${point.name})`, 30_000, 1);
      assert.equal(exited, false, `the run ended before the kill point (${what}); make the phase longer`);
      const fired = Date.now();
      if (delayMs) await waitFor(() => exited || Date.now() >= fired + delayMs, 'the kill delay', delayMs + 1000, 1);
      assert.equal(exited, false, `the run ended ${Date.now() - fired} ms after ${what}, before the kill; make the phase longer`);
      const killedAtMs = Date.now() - t0;
      const countsAtKill = f.proxy.counts().byOp;
      cli.child.kill('SIGKILL');
      const killed = await cli.result;
      assert.equal(killed.code, null, `killed by SIGKILL (exit ${killed.code}): ${killed.stderr.slice(-1500)}`);
      point.atKill?.(countsAtKill);

      // What the crash left: wait until requests that were already in flight have landed (the listing is stable).
      const settled = await stableSnapshot(f);
      const rowsAtKill = new Map(f.rows().map((r) => [r.key, r]));
      const want = new Map([...files].map(([rel, b]) => [keyOf(f, rel), b]));
      const completeAtKill = new Set([...settled.objects].filter(([k, o]) => want.has(k) && o.etag === expectedEtag(want.get(k)!)).map(([k]) => k));
      const inBucketNotInDb = [...completeAtKill].filter((k) => rowsAtKill.get(k)?.etag !== settled.objects.get(k)!.etag).length;
      const openParts = new Map<string, number>(); // key -> bytes of the parts the server held at the kill
      for (const u of settled.uploads) {
        const parts = await f.client.send(new ListPartsCommand({ Bucket: f.bucket, Key: u.key, UploadId: u.uploadId }));
        openParts.set(u.key, (openParts.get(u.key) ?? 0) + (parts.Parts ?? []).reduce((n, p) => n + (p.Size ?? 0), 0));
      }
      const openPartBytes = [...openParts.values()].reduce((a, b) => a + b, 0);

      // Restart, without faults or kill.
      f.proxy.setFaults(undefined);
      const t1 = Date.now();
      const r = await f.run(['--json']);
      const recoveryMs = Date.now() - t1;
      assert.equal(r.code, 0, `recovery exit ${r.code}\n${r.stdout}\n${r.stderr.slice(-3000)}`);
      await assertMirror(f, files, `after kill during ${point.name}`);
      assert.deepEqual(await openUploads(f), [], 'no multipart upload left open');
      const uploadedKeys = r.logs.filter((l) => l.msg === 'uploaded');
      // An upload left open is resumed (its parts on the server kept), or, when the kill came before it was recorded
      // (it has no part then), swept.
      const resumed = new Map<string, number>(uploadedKeys.filter((l) => l.resumedBytes).map((l) => [l.key, l.resumedBytes]));
      const swept = r.logs.some((l) => l.msg === 'aborted multipart uploads left open by an interrupted run');
      const resuming = new Set(r.logs.filter((l) => l.msg === 'resuming an interrupted multipart upload').map((l) => l.key));
      for (const u of settled.uploads) assert.ok(resuming.has(u.key) || swept, `the open upload of ${u.key} was resumed or swept`);
      const partsResent = [...openParts].reduce((n, [key, bytes]) => n + bytes - Math.min(bytes, resumed.get(key) ?? 0), 0);
      const resent = uploadedKeys.filter((l) => completeAtKill.has(l.key)).reduce((n, l) => n + l.bytes, 0) + partsResent;
      table.push({
        point: point.name, trigger: `${what}${delayMs ? ` +${delayMs}ms` : ''}`, killedAtMs, inBucketNotInDb, openUploads: settled.uploads.length,
        openPartBytes, uploadedFiles: r.json.totals.uploaded.files, uploadedBytes: r.json.totals.uploaded.bytes,
        adoptedFiles: r.json.totals.adopted.files, adoptedBytes: r.json.totals.adopted.bytes, resentBytes: resent, recoveryMs,
        resumedBytes: r.json.totals.resumed.bytes,
      });
      assert.equal(partsResent, 0, 'no part that was on the server at the kill is sent again: the upload resumes');
      assert.equal(r.json.totals.resumed.bytes, openPartBytes, 'the summary counts the resumed bytes');
      // Objects that were complete at the kill, recorded or not, are adopted or unchanged: never uploaded again.
      assert.deepEqual(uploadedKeys.filter((l) => completeAtKill.has(l.key)).map((l) => l.key), [], 'no object that was complete at the kill is uploaded again');
    });
  }
});

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
  return snap!;
}
