// The bandwidth limit: the grammar shared by the config's `bandwidth` and `--bwlimit`, the schedule by time of
// day, and the token bucket and paced streams that shape the bytes (fake clocks; the real wire in
// test/integration/bandwidth.test.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Readable } from 'node:stream';
import { bandwidthAt, fmtBandwidth, parseBandwidth, parseConfig } from '../../src/config.js';
import { TokenBucket, Throttle, paced, throttleExtraMs } from '../../src/remote/throttle.js';
import { parseSyncArgs } from '../../src/commands/sync.js';
import { parseRestoreArgs } from '../../src/commands/restore.js';

const MiB = 1024 * 1024;
const at = (h: number, m = 0) => new Date(2026, 11, 4, h, m);

test('a rate, "off", or a schedule of HH:MM,RATE entries', () => {
  assert.deepEqual(parseBandwidth('10MiB'), [{ minute: 0, rate: 10 * MiB }]);
  assert.deepEqual(parseBandwidth('4 MiB/s'), [{ minute: 0, rate: 4 * MiB }]);
  assert.deepEqual(parseBandwidth(1048576), [{ minute: 0, rate: MiB }]);
  assert.deepEqual(parseBandwidth('off'), [{ minute: 0, rate: null }]);
  assert.deepEqual(parseBandwidth('08:00,2MiB 19:30,off'), [{ minute: 480, rate: 2 * MiB }, { minute: 1170, rate: null }]);
  assert.equal(fmtBandwidth(parseBandwidth('08:00,2MiB 19:30,off')), '08:00,2.0 MiB/s 19:30,off');
  assert.equal(fmtBandwidth(parseBandwidth('10MiB')), '10 MiB/s');
});

test('a bad limit says what is wrong and how to write it', () => {
  assert.throws(() => parseBandwidth('fast'), /invalid bandwidth "fast": use bytes per second \("10MiB", "500KiB"\), "off", or a schedule/);
  assert.throws(() => parseBandwidth('1KiB'), /"1KiB" is below the smallest limit, 16 KiB per second/);
  assert.throws(() => parseBandwidth('25:00,1MiB'), /invalid bandwidth schedule entry "25:00,1MiB": write HH:MM,RATE \(00:00 to 23:59\)/);
  assert.throws(() => parseBandwidth('08:00,lots'), /invalid rate in bandwidth schedule entry "08:00,lots"/);
  assert.throws(() => parseBandwidth('19:00,off 08:00,1MiB'), /"08:00,1MiB" must come later in the day than the one before it/);
  assert.throws(() => parseBandwidth(''), /invalid bandwidth/);
  const config = (v: string) => parseConfig(`remote:\n  endpoint: http://127.0.0.1:9\nbandwidth: ${v}\nfolders:\n  - name: a\n    path: /srv/a\n    bucket: photos\nstate: /tmp/r2.db\n`, '/etc/r2.yaml', {});
  assert.deepEqual(config('"08:00,2MiB 19:00,off"').bandwidth, parseBandwidth('08:00,2MiB 19:00,off'));
  assert.throws(() => config('sometimes'), { message: /^\/etc\/r2\.yaml:3:12: bandwidth: invalid bandwidth "sometimes"/ });
  assert.equal(parseSyncArgs([], {}).bandwidth, undefined);
  assert.deepEqual(parseSyncArgs(['--bwlimit', '4MiB'], {}).bandwidth, [{ minute: 0, rate: 4 * MiB }]);
  assert.deepEqual(parseRestoreArgs(['-f', 'a', '--to', '/t', '--bwlimit', 'off'], {}, '/').bandwidth, [{ minute: 0, rate: null }]);
  assert.throws(() => parseSyncArgs(['--bwlimit', 'x'], {}), /--bwlimit: invalid bandwidth "x"/);
});

test('the schedule: each entry from its time on, the last one past midnight until the first', () => {
  const s = parseBandwidth('08:00,2MiB 19:00,off');
  assert.equal(bandwidthAt(s, at(7, 59)), null, 'before 08:00: the 19:00 entry of yesterday');
  assert.equal(bandwidthAt(s, at(8, 0)), 2 * MiB);
  assert.equal(bandwidthAt(s, at(18, 59)), 2 * MiB);
  assert.equal(bandwidthAt(s, at(19, 0)), null);
  assert.equal(bandwidthAt(parseBandwidth('3MiB'), at(23, 59)), 3 * MiB);
});

test('the token bucket: a quarter second of burst, then the rate; a change of the schedule applies within a second', () => {
  let now = 0;
  let wall = at(12);
  const b = new TokenBucket(parseBandwidth('08:00,1MiB 13:00,off'), () => now, () => wall);
  now = 1000; // idle for a second: the burst is capped at a quarter second of bytes
  assert.equal(b.reserve(MiB / 4), 0);
  assert.equal(b.reserve(MiB / 2), 500, 'half a MiB more at 1 MiB/s: wait 500 ms');
  assert.equal(b.reserve(MiB / 4), 750, 'queued behind it');
  now = 2000;
  wall = at(13); // the schedule says off now
  assert.equal(b.reserve(100 * MiB), 0);
  b.set(parseBandwidth('2MiB'));
  now = 3000;
  assert.equal(b.rate(), 2 * MiB, 'a new schedule (SIGHUP) at once');
});

test('paced streams: bytes released at the rate, a Buffer body kept for the next attempt, nothing in the way when off', async () => {
  const t = new Throttle(parseBandwidth('2MiB'));
  const buf = Buffer.alloc(MiB, 7);
  const t0 = performance.now();
  const body = t.body(buf) as Readable;
  let got = 0;
  for await (const c of body) got += (c as Buffer).length;
  const ms = performance.now() - t0;
  assert.equal(got, MiB);
  assert.ok(ms >= 300, `1 MiB at 2 MiB/s after a quarter second of burst took ${ms.toFixed(0)} ms`);
  assert.equal(buf[0], 7, 'the caller keeps its buffer');
  const off = new Throttle(parseBandwidth('off'));
  assert.equal(off.body(buf), buf, 'the limit off: the body itself');
  const src = Readable.from([Buffer.alloc(10)]);
  assert.equal(off.response(src), src);
  // a Buffer body nobody reads reserves nothing: another body gets the whole rate
  const shared = new Throttle(parseBandwidth('1MiB'));
  const unread = shared.body(Buffer.alloc(4 * MiB)) as Readable;
  assert.equal(shared.up.reserve(0), 0, 'nothing was reserved by the unread body');
  unread.destroy();
  // the request timeout grows by what the memory budget takes at the smallest rate of the schedule
  assert.equal(throttleExtraMs({ memory: 48 * MiB, transfers: 8, bandwidth: parseBandwidth('08:00,1MiB 19:00,4MiB') }), (48 + 8 + 32) * 1000);
  assert.equal(throttleExtraMs({ memory: 48 * MiB, transfers: 8, bandwidth: parseBandwidth('off') }), 0);
  assert.equal(throttleExtraMs({ memory: 48 * MiB, transfers: 8 }), 0);
  // a destroyed paced stream leaves no timer behind (the test would hang otherwise)
  const p = paced(new TokenBucket(parseBandwidth('16KiB')));
  p.write(Buffer.alloc(MiB));
  p.destroy();
});
