// Arms the daemon's Watcher (src/local/watch.ts) alone on an existing tree, as folder-watch.ts does, and prints the
// time to arm, the watched directories and the RSS (after arming, after a GC when --expose-gc, and the peak).
// Usage: node --import tsx [--cpu-prof|--heap-prof] [--expose-gc] bench/watch-arm.ts ROOT [--probe] [--snapshot FILE]
// --snapshot: write a V8 heap snapshot to FILE after arming (and the GC).
// --probe: after arming, write, change and remove a file and make a directory with a file, and wait for their batches.
// Bench-only: nothing in src/ or test/ imports this.
// Must not: write anywhere but under ROOT (and only with --probe) and the --snapshot file.

import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { Watcher, type WatchBatch } from '../src/local/watch.js';

const root = process.argv[2];
if (!root) throw new Error('usage: watch-arm.ts ROOT [--probe]');
const probe = process.argv.includes('--probe');
const mib = (b: number) => (b / 1024 / 1024).toFixed(0);
const hwm = () => /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
const batches: WatchBatch[] = [];
const t0 = performance.now();
const w = await Watcher.start({
  root, exclude: [], followSymlinks: false, quietMs: 200, maxDelayMs: 2000, stormLimit: 10_000,
  onBatch: (b) => batches.push(b), onError: (err) => console.error('watch error', err.code, err.message),
});
const armMs = performance.now() - t0;
const m = process.memoryUsage();
console.log(`heapTotal ${mib(m.heapTotal)} MiB`);
console.log(`armed ${w.watchedDirs} dirs in ${(armMs / 1000).toFixed(2)} s; rss ${mib(m.rss)} MiB heapUsed ${mib(m.heapUsed)} MiB external ${mib(m.external)} MiB; VmHWM ${Math.round(Number(hwm()) / 1024)} MiB`);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc) {
  await new Promise((r) => setTimeout(r, 500));
  gc();
  const g = process.memoryUsage();
  console.log(`after gc: rss ${mib(g.rss)} MiB heapUsed ${mib(g.heapUsed)} MiB`);
}
const snap = process.argv.indexOf('--snapshot');
if (snap > 0 && process.argv[snap + 1]) console.log(`heap snapshot: ${v8.writeHeapSnapshot(process.argv[snap + 1])}`);
if (probe) {
  const named = () => new Set(batches.flatMap((b) => (b.kind === 'paths' ? b.paths : ['*'])));
  const until = async (what: string, cond: () => boolean) => {
    const end = performance.now() + 10_000;
    while (!cond()) {
      if (performance.now() > end) throw new Error(`no batch for ${what}: ${JSON.stringify(batches)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const sub = fs.readdirSync(root).find((n) => fs.statSync(path.join(root, n)).isDirectory()) ?? '';
  const f = path.join(sub, 'probe.txt');
  fs.writeFileSync(path.join(root, f), '1');
  await until('add', () => named().has(f));
  batches.length = 0;
  fs.appendFileSync(path.join(root, f), '2');
  await until('change', () => named().has(f));
  batches.length = 0;
  fs.rmSync(path.join(root, f));
  await until('unlink', () => named().has(f));
  fs.mkdirSync(path.join(root, sub, 'probe-dir'));
  await until('mkdir', () => named().has(`${sub}/probe-dir`));
  fs.writeFileSync(path.join(root, sub, 'probe-dir', 'g.txt'), '1');
  await until('a file in the new dir', () => named().has(`${sub}/probe-dir/g.txt`));
  fs.rmSync(path.join(root, sub, 'probe-dir'), { recursive: true });
  console.log('probe: add, change, unlink, mkdir, file in new dir all reported');
}
const tc = performance.now();
await w.close();
console.log(`closed in ${((performance.now() - tc) / 1000).toFixed(2)} s`);
