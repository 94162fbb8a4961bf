// r2mirror on a real terminal (a pseudo-terminal from util-linux `script`, 100 columns): the progress line while a
// sync runs and none after its summary, the summary table, -q, and the daemon's one line per change.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bytes, fixture, type Fixture } from '../harness/mirror.js';
import { waitFor } from '../harness/verify.js';

const MiB = 1024 * 1024;
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = path.join(REPO, 'src/cli.ts');
const hasScript = spawnSync('script', ['--version']).status === 0;
const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Run `r2mirror ARGS` on a pseudo-terminal of 100 columns; resolves to its exit code and everything the terminal got. */
function onTerminal(f: Fixture, args: string[], opts: { whileRunning?: (out: () => string, pid: () => number | undefined) => Promise<void> } = {}) {
  const cmd = `stty cols 100 rows 40; exec ${[process.execPath, '--import', 'tsx', CLI, ...args, '--config', f.configFile].map(sh).join(' ')}`;
  const env = { ...process.env, R2_ACCESS_KEY_ID: f.env.accessKeyId, R2_SECRET_ACCESS_KEY: f.env.secretAccessKey };
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: REPO, env });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.on('close', (code) => resolve({ code, out })));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const pid = () => Number(spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout.trim().split('\n')[0]) || undefined;
  return (async () => {
    await opts.whileRunning?.(() => out, pid);
    const r = await done;
    clearTimeout(timer);
    return r;
  })();
}

describe('on a terminal', { skip: !hasScript && 'util-linux script is not installed' }, () => {
  let f: Fixture;
  before(async () => {
    f = await fixture('terminal');
  });
  after(async () => {
    await f.close();
  });

  test('sync: a progress line while it runs, a table after, and no progress line redrawn after the summary', async () => {
    for (let i = 0; i < 30; i++) f.write(`small/${i}.txt`, `file ${i}\n`);
    f.write('video/big.mp4', bytes(40 * MiB, 3));
    // Slow parts, so the line is drawn several times while the big file goes
    f.proxy.setFaults({ seed: 1, rate: 1, kinds: ['slow'], slowMs: 400, only: (op) => op.op === 'UploadPart' });
    const r = await onTerminal(f, ['sync']);
    f.proxy.setFaults(undefined);
    assert.equal(r.code, 0, r.out);
    const frames = r.out.split('\r\x1b[2K').filter((s) => s.startsWith('r2mirror: '));
    assert.ok(frames.length >= 2, `progress frames: ${frames.length}\n${r.out}`);
    assert.ok(frames.some((s) => /^r2mirror: \d+% · \d+\/\d+ files · [\d.]+ \w+\/[\d.]+ \w+/.test(s)), 'percent, files and bytes');
    assert.ok(frames.some((s) => /video\/big\.mp4 \d+%/.test(s)), `the big file in flight by name:\n${frames.join('\n')}`);
    for (const s of frames) assert.ok(s.replace(/\r?\n[\s\S]*$/, '').length <= 99, `a frame wider than the terminal: ${s}`);
    assert.doesNotMatch(r.out, /ETA \d{3,} s|ETA \d+ s\b/, 'a human ETA');
    const summary = r.out.slice(r.out.indexOf('r2mirror sync: done'));
    assert.ok(summary.length > 0, r.out);
    assert.doesNotMatch(summary, /r2mirror: \d+%|scanning:/, 'no progress line after the summary');
    assert.match(summary, /^ {4}uploaded +31 {2}40 MiB\r?$/m);
    for (const l of summary.split(/\r?\n/)) assert.ok(l.length <= 100, `wrapped to the terminal: ${l}`);
    assert.doesNotMatch(summary, /adopted|renamed|deleted|failed/, 'zero counters left out');
    assert.match(summary, /^R2 bill: Class A \d+, Class B \d+, free \d+ \(/m);
    assert.equal(f.rows().length, 31);
  });

  test('sync -q on a terminal prints nothing when all went well; --no-progress draws no line', async () => {
    f.write('small/new.txt', 'new\n');
    const q = await onTerminal(f, ['sync', '-q']);
    assert.equal(q.code, 0);
    assert.equal(q.out.trim(), '', `-q printed: ${JSON.stringify(q.out)}`);
    assert.equal(f.rows().length, 32, 'and still synced');
    f.write('small/new2.txt', 'new2\n');
    const n = await onTerminal(f, ['sync', '--no-progress']);
    assert.equal(n.code, 0);
    assert.doesNotMatch(n.out, /\x1b\[2K/);
    assert.match(n.out, /r2mirror sync: done/);
  });

  test('daemon: "watching N folders (M directories)", one line per change, a line when it stops', async () => {
    const r = await onTerminal(f, ['daemon'], {
      whileRunning: async (out, pid) => {
        await waitFor(() => /in sync|compared with the bucket/.test(out()), 'the first reconcile', 30_000, 50);
        f.write('small/from-daemon.txt', 'hello\n');
        await waitFor(() => /uploaded host1\/data\/small\/from-daemon\.txt/.test(out()), 'the upload line', 30_000, 50);
        fs.rmSync(path.join(f.root, 'small/0.txt'));
        await waitFor(() => /deleted host1\/data\/small\/0\.txt/.test(out()), 'the delete line', 30_000, 50);
        process.kill(pid()!, 'SIGTERM');
      },
    });
    assert.equal(r.code, 0, r.out);
    const lines = r.out.split(/\r?\n/).filter(Boolean);
    assert.ok(lines.some((l) => /^\d\d:\d\d:\d\d watching 1 folder \(\d+ directories\)$/.test(l)), r.out);
    assert.ok(lines.some((l) => /^\d\d:\d\d:\d\d data: uploaded host1\/data\/small\/from-daemon\.txt \(6 B\)$/.test(l)), r.out);
    assert.ok(lines.some((l) => /^\d\d:\d\d:\d\d data: deleted host1\/data\/small\/0\.txt$/.test(l)), r.out);
    assert.match(lines.at(-1)!, /^\d\d:\d\d:\d\d stopped$/, r.out);
    assert.doesNotMatch(r.out, /^\{"level"/m, 'no JSON on a terminal');
  });
});
