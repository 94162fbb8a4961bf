// Benchmark preload (`node --import bench/rusage.mjs ...`): on exit, writes the process's own resource usage
// (CPU microseconds, peak RSS in KiB) as JSON to the file named by R2M_BENCH_RUSAGE, plus a 50 ms sample of
// process.memoryUsage() taken at the highest RSS seen (where the memory was). Bench-only; changes nothing else.
import { writeFileSync } from 'node:fs';

const out = process.env.R2M_BENCH_RUSAGE;
delete process.env.R2M_BENCH_RUSAGE; // not inherited by anything the measured program starts
if (out) {
  let peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > peak.rss) peak = { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
  };
  setInterval(sample, 50).unref();
  process.on('exit', (code) => {
    sample();
    const r = process.resourceUsage();
    try {
      writeFileSync(out, JSON.stringify({ userCPUTime: r.userCPUTime, systemCPUTime: r.systemCPUTime, maxRSS: r.maxRSS, exitCode: code, peak }));
    } catch {
      // nothing useful to do while exiting; the bench reports the missing file
    }
  });
}
