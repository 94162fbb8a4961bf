// Unit tests for src/commands/json-out.ts: the pieces of a streamed --json report are, joined, exactly what
// JSON.stringify prints, for seeded random reports shaped like sync's (big planned lists, undefined fields,
// odd strings); secrets are scrubbed in every batch; and a big plan is written in many writes, not one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonPieces, writeJson } from '../../src/commands/json-out.js';
import { mulberry32 } from '../harness/r2proxy.js';

function randomValue(rnd: () => number, depth: number): unknown {
  const r = rnd();
  if (depth > 3 || r < 0.3) {
    const leaves = [null, true, false, 0, -1.5, 1e21, Number.NaN, 'plain', 'ünïcödé ✓', 'quote " back\\slash', 'ctl\u0001\u2028', undefined, ''];
    return leaves[Math.floor(rnd() * leaves.length)];
  }
  if (r < 0.6) {
    // a long array (streamed element by element) only near the top, with shallow elements, as in a report
    const long = depth <= 1 && rnd() < 0.3;
    const n = long ? 257 + Math.floor(rnd() * 500) : Math.floor(rnd() * 5);
    return Array.from({ length: n }, () => randomValue(rnd, long ? 3 : depth + 1));
  }
  const o: Record<string, unknown> = {};
  for (let i = 0, n = Math.floor(rnd() * 6); i < n; i++) o[`k${i}${rnd() < 0.1 ? ' "x"' : ''}`] = randomValue(rnd, depth + 1);
  return o;
}

test('jsonPieces joined is JSON.stringify, for seeded random values and a sync-shaped report', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const v = { report: randomValue(mulberry32(seed), 0) };
    assert.equal([...jsonPieces(v)].join(''), JSON.stringify(v), `seed ${seed}`);
  }
  const planned = Array.from({ length: 5000 }, (_, i) => ({ action: 'upload', key: `p/f${i}.txt`, reason: i % 2 ? 'new' : undefined, size: i }));
  const report = { ok: true, dryRun: true, folders: [{ name: 'a', planned, estimate: { classA: 5000, classB: 0, free: 0 }, error: undefined }], totals: { uploaded: { files: 0, bytes: 0 } } };
  assert.equal([...jsonPieces(report)].join(''), JSON.stringify(report));
});

test('writeJson: many batched writes, each scrubbed, ending in a newline', () => {
  const secret = 'SECRETKEY1234567';
  const planned = Array.from({ length: 20_000 }, (_, i) => ({ key: `p/${i}`, reason: i === 17_000 ? `token ${secret} leaked` : 'new' }));
  const writes: string[] = [];
  writeJson({ write: (s: string) => writes.push(s) }, { folders: [{ planned }] }, [secret]);
  assert.ok(writes.length > 5, `${writes.length} write(s)`);
  const text = writes.join('');
  assert.ok(text.endsWith('\n'));
  assert.ok(!text.includes(secret));
  assert.equal(text, JSON.stringify({ folders: [{ planned }] }).replace(secret, '[REDACTED]') + '\n');
});
