// What a person sees on a terminal: the progress line (percent, a rate over a recent window, a human ETA, the big
// files in flight, a counter while walking, nothing drawn after stop), the summary table (zero counters left out,
// wrapped to the width, the bill on its own line) and the human log lines of the daemon and `sync -v`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressLine, RateWindow, formatEta, progressLine, progressText } from '../../src/commands/progress.js';
import { formatReport } from '../../src/commands/sync.js';
import { displayWidth, fitWidth, wrap } from '../../src/commands/common.js';
import type { SyncReport } from '../../src/engine.js';
import { newProgress, type Progress } from '../../src/folder.js';
import { prettyLine } from '../../src/log.js';
import { ByteCount } from '../../src/folder/transfers.js';

const MiB = 1024 * 1024;
const progress = (p: Partial<Progress>): Progress => Object.assign(newProgress(), p);

test('the ETA is human: 42s, 1m15s, 1h02m, 2d07h (never "ETA 7200 s")', () => {
  assert.equal(formatEta(42.4), '42s');
  assert.equal(formatEta(0.2), '1s');
  assert.equal(formatEta(75), '1m15s');
  assert.equal(formatEta(3725), '1h02m');
  assert.equal(formatEta(7200), '2h00m');
  assert.equal(formatEta(2 * 86_400 + 7 * 3600 + 5), '2d07h');
});

test('the rate is measured over the last 10 s, not since the start', () => {
  const w = new RateWindow();
  assert.equal(w.sample(0, 0), undefined, 'no rate before a second of samples');
  // 100 MiB/s for 20 s, then a stall: 10 s later the rate says 0, not the average since the start
  for (let t = 1000; t <= 20_000; t += 1000) w.sample(t, (t / 1000) * 100 * MiB);
  assert.equal(Math.round(w.sample(21_000, 2100 * MiB)! / MiB), 100);
  let r = 0;
  for (let t = 22_000; t <= 31_000; t += 1000) r = w.sample(t, 2100 * MiB)!;
  assert.equal(r, 0);
});

test('the progress line: a counter while walking and listing, then percent, rate and ETA, and the big file in flight', () => {
  const scanning = progressText(progress({ merging: 1, scanned: 12_345, listed: 10_000 }), undefined, 200);
  assert.equal(scanning, 'scanning: 12,345 files, 10,000 objects listed');
  assert.doesNotMatch(scanning, /ETA|%/, 'no percent or ETA while the totals still grow');
  const sending = progressText(progress({ merging: 1, scanned: 500, filesTotal: 20, filesDone: 5, bytesDone: 3 * MiB }), 2 * MiB, 200);
  assert.equal(sending, 'scanning: 500 files · 5/20 files done · 3.0 MiB · 2.0 MiB/s');
  assert.equal(progressText(progress({ merging: 1, listed: 3000, filesTotal: 9 }), undefined, 200), 'listing: 3,000 objects · 0/9 files done · 0 B', 'a restore lists, it does not walk');
  const big = progress({ filesTotal: 4, filesDone: 1, bytesTotal: 400 * MiB, bytesDone: 100 * MiB });
  big.active.set('videos/a.mp4', { size: 300 * MiB, sent: 99 * MiB });
  big.active.set('small.bin', { size: 20 * MiB, sent: 0 });
  assert.equal(progressText(big, 10 * MiB, 200), '25% · 1/4 files · 100 MiB/400 MiB · 10 MiB/s · ETA 30s · videos/a.mp4 33% (+1 more)');
  assert.doesNotMatch(progressText(big, 0, 200), /ETA/, 'no ETA at 0 B/s');
  assert.doesNotMatch(progressText(big, undefined, 200), /ETA/, 'no ETA before a rate is known');
  assert.ok(progressText(big, 10 * MiB, 40).length <= 40, 'cut to the width');
  assert.match(progressText(big, 10 * MiB, 80), / · …\/a\.mp4 33% \(\+1 more\)$/, 'the name alone when the path does not fit');
  const wide = progress({ filesTotal: 1, bytesTotal: 300 * MiB });
  wide.active.set('写真/北海道の旅行/夕焼けの海岸線と灯台.mp4', { size: 300 * MiB, sent: 0 });
  for (const w of [40, 60, 80]) assert.ok(displayWidth(progressText(wide, MiB, w)) <= w, `Japanese names fit ${w} columns: ${progressText(wide, MiB, w)}`);
  assert.equal(displayWidth('夕焼け'), 6);
  assert.equal(displayWidth('cafe\u0301'), 4, 'a combining accent takes no column');
  assert.equal(fitWidth('写真写真写真', 7), '写真写…');
  const evil = progress({ filesTotal: 1, bytesTotal: 10 * MiB });
  evil.active.set('a\x1b[2Jb', { size: 10 * MiB, sent: 0 });
  assert.doesNotMatch(progressText(evil, undefined, 200), /\x1b/, 'a name cannot drive the terminal');
});

test('the byte counts stay true: a retry is not counted twice, an adoption or failure takes its bytes out, a copy that uploads adds them', () => {
  const p = progress({});
  const file = (size: number) => ({ type: 'upload', key: 'k', reason: 'new', file: { rel: 'videos/a.mp4', key: 'k', size } }) as never;
  p.bytesTotal += 100;
  const up = new ByteCount(p, file(100), 100, true);
  up.onBytes(60);
  up.onBytes(60); // a retry sends the first part again
  assert.equal(p.bytesDone, 100, 'never past the size');
  assert.deepEqual(p.active.get('videos/a.mp4'), { size: 100, sent: 100 }, 'the file in flight is at most 100%');
  up.settle(100);
  assert.deepEqual([p.bytesDone, p.bytesTotal], [100, 100]);
  p.bytesTotal += 50;
  const failed = new ByteCount(p, file(50), 50, false);
  failed.onBytes(20);
  failed.settle(undefined);
  assert.deepEqual([p.bytesDone, p.bytesTotal], [100, 100], 'a failed or adopted file leaves the line as if it was never queued');
  const copy = new ByteCount(p, file(30), 0, false); // a rename's copy, expected to send nothing
  copy.onBytes(30);
  copy.settle(30);
  assert.deepEqual([p.bytesDone, p.bytesTotal], [130, 130], 'it became an upload');
  p.bytesTotal += 80;
  const resumed = new ByteCount(p, file(80), 80, true);
  resumed.onResumed(48); // parts already on the server
  resumed.onBytes(32);
  assert.deepEqual([p.bytesDone, p.bytesResumed], [210, 48], 'resumed bytes are done, and kept apart from the rate');
  const cut = new ByteCount(p, file(80), 80, true);
  p.bytesTotal += 80;
  cut.onResumed(40);
  cut.settle(undefined);
  assert.deepEqual([p.bytesDone, p.bytesResumed, p.bytesTotal], [210, 48, 210], 'a failed resume takes them out again');
});

test('the rate leaves out the bytes a resumed upload did not send', () => {
  let out = '';
  let now = 0;
  const line = new ProgressLine({ write: (s: string) => (out += s), isTTY: true, columns: 120 }, 'r2mirror', { redraw: true, now: () => now });
  const p = progress({ filesTotal: 1, bytesTotal: 96 * MiB });
  line.start(p);
  line.draw();
  now = 1000;
  p.bytesDone = 40 * MiB; // found on the server
  p.bytesResumed = 40 * MiB;
  line.draw();
  now = 2000;
  p.bytesDone = 48 * MiB; // one 8 MiB part sent in this second
  line.draw();
  line.stop();
  const frames = out.split('\r\x1b[2K').filter(Boolean);
  assert.match(frames.at(-1)!, /50% · 0\/1 files · 48 MiB\/96 MiB · 4\.0 MiB\/s/, `the rate is what was sent: ${frames.at(-1)}`);
});

test('the progress line is never drawn again after stop(): no stale line follows the summary', () => {
  let out = '';
  let now = 0;
  const line = new ProgressLine({ write: (s: string) => (out += s), isTTY: true, columns: 100 }, 'r2mirror', { redraw: true, now: () => now });
  const p = progress({ filesTotal: 2, bytesTotal: 2 * MiB });
  line.start(p);
  line.draw();
  assert.match(out, /\r\x1b\[2Kr2mirror: 0% · 0\/2 files/);
  now = 2000;
  p.bytesDone = MiB;
  line.log('WARN something\n');
  assert.match(out, /WARN something\n\r\x1b\[2Kr2mirror: 50%/, 'a log line prints above the line, which is redrawn');
  line.stop();
  out = '';
  line.log('a late warning\n');
  line.draw();
  assert.equal(out, 'a late warning\n', 'after stop() a log line is only printed');
});

test('--progress on a pipe draws plain lines; --no-progress and -q draw none; the default follows the terminal', () => {
  const tty = { write: () => true, isTTY: true, columns: 80 };
  const pipe = { write: () => true, isTTY: false };
  assert.ok(progressLine(tty, { verbosity: 0 }, 'x'));
  assert.equal(progressLine(tty, { verbosity: -1 }, 'x'), undefined);
  assert.equal(progressLine(tty, { verbosity: 0, progress: false }, 'x'), undefined);
  assert.equal(progressLine(pipe, { verbosity: 0 }, 'x'), undefined);
  let out = '';
  const forced = progressLine({ write: (s: string) => (out += s), isTTY: false }, { verbosity: 0, progress: true }, 'r2mirror')!;
  forced.start(progress({ filesTotal: 1, bytesTotal: 10 }));
  forced.draw();
  forced.stop();
  assert.equal(out, 'r2mirror: 0% · 0/1 files · 0 B/10 B\n', 'a line of its own, no escape codes');
});

const tally = (files: number, bytes = 0) => ({ files, bytes });
const report = (f: Partial<SyncReport['folders'][number]>, ops: Partial<SyncReport['ops']> = {}): SyncReport => ({
  ok: true, dryRun: false, exitCode: 0, durationMs: 12_345,
  folders: [{
    name: 'photos', path: '/home/me/Pictures', ok: true, uploaded: tally(0), resumed: tally(0), adopted: tally(0), copied: tally(0),
    deleted: 0, trashed: 0, unchanged: 0, skipped: [], failed: [], ...f,
  }],
  totals: { uploaded: tally(0), resumed: tally(0), adopted: tally(0), copied: tally(0), deleted: 0, trashed: 0, unchanged: 0, skipped: 0, failed: 0 },
  ops: { classA: 0, classB: 0, free: 0, byOp: {}, ...ops },
} as SyncReport);

test('the summary: a short table without zero counters, the bill on its own line', () => {
  const text = formatReport(report({ uploaded: tally(1234, 5 * 1024 * MiB), deleted: 2, unchanged: 10_000 }, { classA: 1240, free: 2, byOp: { PutObject: 1234, ListObjectsV2: 6 } }));
  assert.equal(text, [
    'r2mirror sync: done in 12.3 s',
    '  photos (/home/me/Pictures)',
    '    uploaded   1,234  5.0 GiB',
    '    deleted        2',
    '    unchanged 10,000',
    'R2 bill: Class A 1,240, Class B 0, free 2 (PutObject 1,234, ListObjectsV2 6)',
    '',
  ].join('\n'));
  assert.doesNotMatch(text, /resumed|adopted|renamed|trashed|skipped|failed/, 'zero counters are left out');
  assert.match(formatReport(report({ uploaded: tally(1, 24 * MiB), resumed: tally(1, 16 * MiB) })), /^ {4}uploaded {2}1 {2}24 MiB\n {4}resumed {3}1 {2}16 MiB$/m, 'a resumed upload shows the bytes it did not send again');
  assert.match(formatReport(report({})), /^ {4}nothing to mirror: no files$/m);
});

test('the summary wraps to the terminal at word boundaries; on a pipe it does not', () => {
  const byOp = { PutObject: 1234, ListObjectsV2: 6, CopyObject: 3, DeleteObjects: 1, CreateMultipartUpload: 10, UploadPart: 400, CompleteMultipartUpload: 10 };
  const r = report({ unchanged: 1 }, { classA: 1663, byOp });
  const narrow = formatReport(r, Date.now(), 50).split('\n').filter(Boolean);
  for (const l of narrow) assert.ok(l.length <= 50, `"${l}" is wider than 50`);
  const bill = narrow.slice(narrow.findIndex((l) => l.startsWith('R2 bill:')));
  assert.ok(bill.length > 1 && bill.slice(1).every((l) => l.startsWith('  ')), 'continuation lines are indented');
  assert.equal(bill.join(' ').replace(/\s+/g, ' '), formatReport(r).split('\n').find((l) => l.startsWith('R2 bill:')), 'no word lost or cut');
  assert.equal(formatReport(r).split('\n').filter((l) => l.startsWith('R2 bill')).length, 1);
  assert.deepEqual(wrap('    short', 80), ['    short']);
  for (const l of wrap('    failed: 写真/北海道 の 旅行 夕焼け の 海岸線 と 灯台 が 見える', 24)) assert.ok(displayWidth(l) <= 24, `"${l}" is wider than 24 columns`);
  assert.deepEqual(wrap('    a-very-long-word-that-cannot-break', 10), ['    a-very-long-word-that-cannot-break']);
});

test('log lines on a terminal: a sentence per change with the time, other lines as LEVEL message fields', () => {
  const time = '2026-12-04T10:11:12.000Z';
  const clock = new Date(time).toTimeString().slice(0, 8);
  const line = (o: object) => prettyLine(JSON.stringify({ level: 30, time, ...o }));
  assert.equal(line({ folder: 'photos', key: 'p/a.jpg', bytes: 1536, ms: 3, msg: 'uploaded' }), `${clock} photos: uploaded p/a.jpg (1.5 KiB)\n`);
  assert.equal(line({ folders: 2, watching: 2, dirs: 1234, msg: 'watchers armed' }), `${clock} watching 2 folders (1234 directories)\n`);
  assert.equal(line({ folder: 'photos', key: 'p/b.jpg', msg: 'deleted' }), `${clock} photos: deleted p/b.jpg\n`);
  assert.equal(line({ msg: 'stopped' }), `${clock} stopped\n`);
  assert.equal(line({ folder: 'photos', kind: 'local', uploaded: 0, renamed: 0, deleted: 0, failed: 0, ms: 26, msg: 'reconciled' }), `${clock} photos: checked against the state DB: in sync (26 ms)\n`);
  assert.equal(line({ folder: 'photos', kind: 'list', uploaded: 3, renamed: 0, deleted: 1, failed: 0, ms: 9, msg: 'reconciled' }), `${clock} photos: compared with the bucket: 3 uploaded, 1 deleted (9 ms)\n`);
  assert.equal(line({ folder: 'photos', kind: 'changes', uploaded: 1, failed: 0, msg: 'reconciled' }), '', 'after changes the per-file lines said it');
  assert.equal(prettyLine(JSON.stringify({ level: 40, time, folder: 'photos', msg: 'deletes refused', limit: 5 })), `${clock} WARN deletes refused folder="photos" limit=5\n`);
  assert.doesNotMatch(line({ folder: 'p', key: 'a\x1b[2Jb\u009b', bytes: 1, msg: 'uploaded' }), /[\x1b\u009b]/);
});
