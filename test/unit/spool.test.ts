// Unit tests for src/state/spool.ts: SpillList keeps order and count across memory, disk pages and the partial
// last page; Spool.hold drops exactly the keys under a prefix (the device hold), in UTF-8 key order.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Spool, SpillList } from '../../src/state/spool.js';

test('SpillList: the first items in memory, the rest in pages on disk, read back whole and in order', () => {
  for (const n of [0, 5, 1000, 1001, 2999, 3000, 4321]) {
    const l = new SpillList<{ i: number }>(1000);
    for (let i = 0; i < n; i++) l.push({ i });
    assert.equal(l.length, n);
    assert.deepEqual([...l].map((x) => x.i), Array.from({ length: n }, (_, i) => i), `n = ${n}`);
    assert.deepEqual(l.head(3).map((x) => x.i), Array.from({ length: Math.min(3, n) }, (_, i) => i));
    assert.equal(JSON.stringify(l), JSON.stringify(Array.from({ length: n }, (_, i) => ({ i }))), 'JSON shows an array');
  }
});

test('Spool.hold: nothing at or under the prefix is removed, everything else is', () => {
  const spool = new Spool();
  const keys = ['p/a', 'p/a/', 'p/a/b', 'p/a/\u{1f600}', 'p/a0', 'p/a.txt', 'p/\uffee/x', 'p/\uffee0', 'q'];
  for (const k of keys) spool.addGone(k, 'remove', undefined, false);
  spool.hold('p/a/');
  spool.hold('p/\uffee/');
  const left = [...spool.goneEntries()].flat().map((e) => e.key);
  assert.deepEqual(left, ['p/a', 'p/a.txt', 'p/a0', 'p/\uffee0', 'q']);
  spool.hold('');
  assert.deepEqual([...spool.goneEntries()].flat(), [], "the root's prefix '' holds everything");
  spool.close();
});
