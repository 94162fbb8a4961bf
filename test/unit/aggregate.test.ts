// Unit tests for src/local/aggregate.ts, the watcher's quiet-period aggregator, on a fake clock: when a path is
// handed over (quiet period, max delay), how a rename's halves meet, and the storm that becomes one rescan.
// No file system, no real timers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator, type WatchBatch } from '../../src/local/aggregate.js';
import { FakeClock } from '../harness/fake-clock.js';

const QUIET = 2000;
const MAX = 30_000;

function start(stormLimit = 100) {
  const clock = new FakeClock();
  const batches: { at: number; batch: WatchBatch }[] = [];
  const agg = new Aggregator({ quietMs: QUIET, maxDelayMs: MAX, stormLimit, clock, onBatch: (batch) => batches.push({ at: clock.now(), batch }) });
  return { clock, agg, batches };
}

test('a path is handed over once it was quiet for the quiet period, named once however often it was touched', async () => {
  const { clock, agg, batches } = start();
  agg.touch('a.txt');
  await clock.advance(1500);
  agg.touch('a.txt'); // still being written
  await clock.advance(1000);
  assert.deepEqual(batches, [], 'not quiet yet');
  await clock.advance(QUIET);
  assert.deepEqual(batches, [{ at: 1500 + QUIET, batch: { kind: 'paths', paths: ['a.txt'] } }], 'at the end of its quiet period');
  assert.equal(agg.pending, 0);
});

test('a path that keeps changing goes after maxDelay, and is looked at once more a quiet period later', async () => {
  const { clock, agg, batches } = start();
  for (let t = 0; t < MAX; t += 500) {
    agg.touch('app.log');
    await clock.advance(500);
  }
  // The last write was at MAX - 500, half a second before the handover at MAX: it may have gone unreported.
  await clock.advance(10 * QUIET);
  assert.deepEqual(batches.map((b) => b.at), [MAX, MAX + QUIET], 'at maxDelay, then once more after a quiet period');
  assert.ok(batches.every((b) => b.batch.kind === 'paths' && b.batch.paths.join() === 'app.log'));
});

test('a removed path leaves with the next batch, so a rename is one reconcile', async () => {
  const { clock, agg, batches } = start();
  agg.touch('new.txt');
  await clock.advance(QUIET - 500);
  agg.touch('old.txt', clock.now(), true); // the unlink half arrives later
  await clock.advance(600);
  assert.deepEqual(batches.map((b) => b.batch), [{ kind: 'paths', paths: ['new.txt', 'old.txt'] }]);
});

test('more paths than the storm limit: forgotten, one "everything" batch once quiet; pending counts the limit', async () => {
  const { clock, agg, batches } = start(50);
  for (let i = 0; i < 500; i++) agg.touch(`f${i}`);
  assert.equal(agg.pending, 50);
  await clock.advance(QUIET);
  assert.deepEqual(batches, [{ at: QUIET, batch: { kind: 'everything', reason: 'event storm' } }]);
  assert.equal(agg.pending, 0);
  agg.touch(''); // the root itself: a storm of its own
  await clock.advance(QUIET);
  assert.equal(batches.length, 2);
});

test('close() drops what is pending and nothing is handed over after it', async () => {
  const { clock, agg, batches } = start();
  agg.touch('a.txt');
  agg.close();
  agg.close();
  agg.touch('b.txt');
  await clock.advance(MAX * 10);
  assert.deepEqual(batches, []);
  assert.equal(agg.pending, 0);
  assert.equal(clock.pendingTimers, 0);
});
