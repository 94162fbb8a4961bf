// `r2mirror sync` under injected faults: transient ones (500, 503, 429, resets, slow answers) on a seeded ~10%
// of requests end in an exact mirror at a bounded cost; permanent ones (403, missing bucket, no endpoint) stop
// the run early with the documented exit code and a message that names what is wrong.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fixture, type Fixture } from '../harness/mirror.js';
import type { FaultKind } from '../harness/r2proxy.js';
import { MiB, assertMirror, openUploads, writeTree } from '../harness/verify.js';

const SMALL = 200;
/** Two multipart files: 3 parts (the last one short) and 2 parts. */
const BIG = { 'big/three-parts.bin': 20 * MiB + 4321, 'big/two-parts.bin': 9 * MiB };
const TRANSIENT: FaultKind[] = ['500', '503', '429', 'reset-request', 'reset-response', 'slow'];
const RATE = 0.1;
const SEEDS = [11, 2024, 77777];

/**
 * No R2 rule broken, except one: a write retried after a lost answer (reset-response: the server stored it) meets
 * the one-write-per-second rule, and the proxy answers 429 as R2 would. Such a 429 must follow an injected fault
 * on the same key; any other rule break is a bug.
 */
function assertRulesKept(f: Fixture): void {
  const faulted = new Set(f.proxy.faultLog().map((x) => x.key));
  const unexplained = f.proxy.violations().filter((v) => {
    const m = /^\w+ [^/]+\/(.*?): 429 SlowDown: .*one write per second/.exec(v);
    return !m || !faulted.has(m[1]);
  });
  assert.deepEqual(unexplained, [], 'R2 rules broken');
}

describe('sync with ~10% transient faults', () => {
  /** Requests a fault-free sync of the same tree sends (measured, not assumed). */
  let faultFree = 0;

  before(async () => {
    const f = await fixture('faults-baseline');
    try {
      const files = writeTree(f, SMALL, BIG);
      const r = await f.run(['--json']);
      assert.equal(r.code, 0, r.stderr.slice(-3000));
      await assertMirror(f, files, 'fault-free baseline');
      faultFree = f.proxy.counts().total;
      // 1 LIST + 200 PUT + 2 x (create + parts + complete) = 208 at least; RGW adds a HEAD per multipart ETag.
      assert.ok(faultFree >= 1 + SMALL + 2 * 2 + 5, `fault-free run sent ${faultFree} requests`);
    } finally {
      await f.close();
    }
  });

  for (const seed of SEEDS) {
    test(`seed ${seed}: exact mirror, exit 0, rows = bucket, no open upload, bounded retries`, async () => {
      const f = await fixture(`faults-${seed}`, { allowViolations: true }); // checked by assertRulesKept
      try {
        const files = writeTree(f, SMALL, BIG, seed);
        f.proxy.setFaults({ seed, rate: RATE, kinds: TRANSIENT, slowMs: 200 });
        const t0 = Date.now();
        const r = await f.run(['--json']);
        const ms = Date.now() - t0;
        const injected = f.proxy.faultsInjected();
        const total = f.proxy.counts().total;
        const kinds = Object.fromEntries(TRANSIENT.map((k) => [k, f.proxy.faultLog().filter((x) => x.kind === k).length]));
        console.log(`seed ${seed}: ${injected} faults ${JSON.stringify(kinds)}, ${total} requests (fault-free ${faultFree}), ${ms} ms`);
        assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr.slice(-4000)}`);
        assert.equal(r.json.totals.failed, 0);
        assert.ok(injected >= 10, `only ${injected} faults injected: the schedule did not exercise the client`);
        await assertMirror(f, files, `seed ${seed}`);
        assert.deepEqual(await openUploads(f), [], 'no multipart upload left open');
        assertRulesKept(f);
        // Bound: each request fails independently with p = 0.1, so a request needs 1/(1-p) = 1.11 attempts on
        // average; a reset-response on a write makes its retry meet the one-write-per-second rule (a few more
        // 429s), and a failed multipart part redoes that file (at most ~6 requests). That is ~1.2-1.4x the
        // fault-free count; 2x leaves room for bad luck yet catches a retry storm (SDK attempts x file retries
        // compound to 12x per request) or a run that re-uploads everything.
        assert.ok(total < 2 * faultFree, `${total} requests through the proxy; bound 2 x ${faultFree} (fault-free)`);
        // the run's own op count (what the summary reports as spent) includes every retry the proxy saw
        assert.equal(r.json.ops.classA + r.json.ops.classB + r.json.ops.free, total);

        // and the next run finds nothing to do
        f.proxy.setFaults(undefined);
        f.proxy.resetCounts();
        const r2 = await f.run(['--json']);
        assert.equal(r2.code, 0, r2.stderr.slice(-3000));
        assert.equal(r2.json.totals.unchanged, files.size);
        assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 1 });
      } finally {
        await f.close();
      }
    });
  }
});

describe('multipart calls under heavy faults (35% of Create/UploadPart/Complete/Abort/HEAD)', () => {
  const MULTIPART = new Set(['CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'AbortMultipartUpload', 'HeadObject']);
  // Seed 4 loses the answers of two CreateMultipartUpload calls (reset-response): the server made an upload the
  // client never heard of. Seed 8 also fails an AbortMultipartUpload.
  for (const seed of [4, 8]) {
    test(`seed ${seed}: every file mirrored, and no upload left open by a lost create or a failed abort`, async () => {
      const f = await fixture(`faults-mp-${seed}`, { allowViolations: true }); // checked by assertRulesKept
      try {
        const files = writeTree(f, 0, { 'a.bin': 20 * MiB + 1, 'b.bin': 9 * MiB, 'c.bin': 17 * MiB, 'd.bin': 12 * MiB }, seed);
        f.proxy.setFaults({ seed, rate: 0.35, kinds: TRANSIENT, only: (o) => MULTIPART.has(o.op), slowMs: 200 });
        const r = await f.run(['--json']);
        const log = f.proxy.faultLog().map((x) => `${x.op}:${x.kind}`);
        console.log(`multipart seed ${seed}: ${log.length} faults: ${log.join(' ')}`);
        assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr.slice(-4000)}`);
        assert.ok(log.length >= 8, 'the schedule exercised the multipart calls');
        await assertMirror(f, files, `multipart seed ${seed}`);
        assert.deepEqual(await openUploads(f), [], 'no multipart upload left open');
        assertRulesKept(f);
      } finally {
        await f.close();
      }
    });
  }
});

describe('permanent failures stop the run with a clear error', () => {
  test('403 on every write (a read-only token): exit 78 early, access denied named, no row written', async () => {
    const f = await fixture('faults-403');
    try {
      writeTree(f, SMALL, BIG);
      const writes = new Set(['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'CopyObject']);
      f.proxy.setFaults({ seed: 1, rate: 1, kinds: ['403'], only: (op) => writes.has(op.op) });
      const r = await f.run(['--json']);
      assert.equal(r.code, 78, `exit ${r.code}\n${r.stderr.slice(-3000)}`);
      assert.match(r.stderr, new RegExp(`bucket ${f.bucket}: access denied .*AccessDenied`));
      assert.match(r.stderr, /needs read and write access/);
      assert.equal(r.stdout, '', 'no summary for a run that stopped');
      assert.equal(f.rows().length, 0, 'no object rows');
      assert.equal((await f.objects()).size, 0);
      assert.deepEqual(await openUploads(f), []);
      // Stops early: only the writes already in flight when the first 403 came back (transfers: 8, plus a few
      // started in the same instant), not one per file; queued files are dropped; none retried (not transient).
      const c = f.proxy.counts().byOp;
      const tried = (c.PutObject ?? 0) + (c.CreateMultipartUpload ?? 0);
      console.log(`403: ${tried} writes tried of ${SMALL + 2} files; ${JSON.stringify(c)}`);
      assert.ok(tried <= 8 + 4, `${tried} writes tried (transfers 8); ${SMALL + 2} files`);
      assert.equal(f.proxy.faultsInjected(), tried + (c.UploadPart ?? 0) + (c.CompleteMultipartUpload ?? 0), 'every write was refused once, none retried');
    } finally {
      await f.close();
    }
  });

  test('a missing bucket, even behind transient faults: exit 78 naming the bucket', async () => {
    const f = await fixture('faults-nobucket');
    try {
      writeTree(f, 20);
      fs.writeFileSync(f.configFile, fs.readFileSync(f.configFile, 'utf8').replace(`bucket: ${f.bucket}`, 'bucket: r2m-no-such-bucket-h5'));
      f.proxy.setFaults({ seed: 5, rate: 0.3, kinds: ['500', '503', 'reset-request'] });
      const r = await f.run([]);
      assert.equal(r.code, 78, `exit ${r.code}\n${r.stderr.slice(-3000)}`);
      assert.match(r.stderr, /bucket r2m-no-such-bucket-h5: the bucket does not exist/);
      assert.equal(f.rows().length, 0);
    } finally {
      await f.close();
    }
  });

  describe('an endpoint that does not answer', () => {
    let blackhole: Server;
    const sockets = new Set<Socket>();
    let closedPort = 0;
    before(async () => {
      // a port that was just free: nothing listens on it (connection refused)
      const tmp = createServer();
      await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
      closedPort = (tmp.address() as { port: number }).port;
      await new Promise<void>((r) => tmp.close(() => r()));
      // a server that accepts connections and never says a word
      blackhole = createServer((s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      });
      await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    });
    after(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => blackhole.close(() => r()));
    });

    for (const kind of ['closed port', 'silent server'] as const) {
      test(`${kind}: exit 75 naming the endpoint, in bounded time`, async () => {
        const f = await fixture(`faults-noanswer`);
        try {
          writeTree(f, 5);
          const port = kind === 'closed port' ? closedPort : (blackhole.address() as { port: number }).port;
          const endpoint = `http://127.0.0.1:${port}`;
          fs.writeFileSync(f.configFile, fs.readFileSync(f.configFile, 'utf8')
            .replace(`endpoint: ${f.proxy.endpoint}`, `endpoint: ${endpoint}`)
            .replace('retries: 3', 'retries: 1\nrequestTimeout: 1s'));
          const t0 = Date.now();
          const r = await f.run([], { timeoutMs: 60_000 });
          const ms = Date.now() - t0;
          console.log(`${kind}: exit ${r.code} after ${ms} ms: ${r.stderr.trim().split('\n').at(-1)}`);
          assert.equal(r.code, 75, `exit ${r.code}\n${r.stderr.slice(-3000)}`);
          assert.ok(r.stderr.includes(endpoint), `the message names the endpoint ${endpoint}:\n${r.stderr.slice(-1500)}`);
          // 2 tries of the LIST x 3 SDK attempts x (1 s timeout + backoff): well under 20 s
          assert.ok(ms < 20_000, `took ${ms} ms`);
          assert.equal(f.rows().length, 0);
        } finally {
          await f.close();
        }
      });
    }
  });
});
