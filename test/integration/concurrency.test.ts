// Two r2mirror processes on one state DB: the second refuses at once (exit 75, "in use by another r2mirror
// process") and touches nothing; the first finishes normally and its DB is intact and agrees with the bucket.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixture } from '../harness/mirror.js';
import { assertMirror, integrity, runs, waitFor, writeTree } from '../harness/verify.js';

test('a second sync on the same state DB exits 75 while the first runs; the first completes, DB intact', async () => {
  const f = await fixture('concurrency');
  try {
    const files = writeTree(f, 60);
    // Hold back every PUT's answer a little, so the first run is still uploading when the second starts.
    f.proxy.setFaults({ seed: 1, rate: 1, kinds: ['slow'], slowMs: 400, only: (o) => o.op === 'PutObject' });
    const first = f.start(['--json'], { timeoutMs: 60_000 });
    let firstDone = false;
    void first.result.then(() => (firstDone = true));
    await waitFor(() => firstDone || (f.proxy.counts().byOp.PutObject ?? 0) > 0, 'the first run to start uploading');
    assert.equal(firstDone, false, 'the first run is still going');

    const t0 = Date.now();
    const second = await f.run(['--json'], { timeoutMs: 30_000 });
    const ms = Date.now() - t0;
    assert.equal(firstDone, false, 'the second run was refused while the first was running');
    assert.equal(second.code, 75, `exit ${second.code}\n${second.stderr}`);
    assert.match(second.stderr, new RegExp(`state DB ${f.statePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another r2mirror process`));
    assert.equal(second.stdout, '', 'no summary from the refused run');
    assert.ok(ms < 10_000, `refused in ${ms} ms (no waiting for the lock)`);

    const r = await first.result;
    assert.equal(r.code, 0, `first run: exit ${r.code}\n${r.stderr.slice(-3000)}`);
    assert.equal(r.json.totals.uploaded.files, files.size);
    await assertMirror(f, files, 'after the first run');
    assert.equal(integrity(f), 'ok');
    const rs = runs(f);
    assert.equal(rs.length, 1, 'the refused run left no trace in the DB');
    assert.notEqual(rs[0]!.finished_at, null);

    // With the first gone, the lock is free again.
    f.proxy.setFaults(undefined);
    const third = await f.run(['--json']);
    assert.equal(third.code, 0, third.stderr.slice(-2000));
    assert.equal(third.json.totals.unchanged, files.size);
  } finally {
    await f.close();
  }
});
