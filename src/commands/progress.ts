// The progress line of `sync` and `restore`: on a terminal one redrawn line (files, bytes, percent, rate over the
// last seconds, ETA, the big files in flight), a counter while the folder is still being walked and listed; with
// --progress on a pipe, a plain line every few seconds. Log lines written through log() print above it; after
// stop() nothing is drawn again, so no stale line follows the summary.
// Must not: draw when not asked to, or read anything but the Progress counters it is given.

import type { Progress } from '../folder.js';
import { UsageError, printable } from '../errors.js';
import { displayWidth, fitWidth, formatBytes, num } from './common.js';
import type { Output } from './context.js';

/** `--progress` / `--no-progress`, for the commands that draw the line. */
export const PROGRESS_OPTIONS = { progress: { type: 'boolean' }, 'no-progress': { type: 'boolean' } } as const;

/** The parsed pair: true, false, or undefined (the default: on a terminal unless -q). Throws UsageError for both. */
export function progressOption(command: string, v: { progress?: boolean | undefined; 'no-progress'?: boolean | undefined }): boolean | undefined {
  if (v.progress && v['no-progress']) throw new UsageError(`${command}: --progress and --no-progress cannot be used together`);
  return v.progress ? true : v['no-progress'] ? false : undefined;
}

/** The line a command draws on `out`, or none: --progress/--no-progress, else on a terminal unless -q. */
export function progressLine(out: Output, args: { progress?: boolean | undefined; verbosity: number }, label: string): ProgressLine | undefined {
  const on = args.progress ?? (!!out.isTTY && args.verbosity >= 0);
  return on ? new ProgressLine(out, label, { redraw: !!out.isTTY }) : undefined;
}

/** The rate is measured over this many recent milliseconds, not since the start. */
export const RATE_WINDOW_MS = 10_000;

/** 75 -> "1m15s", 3725 -> "1h02m", 200000 -> "2d07h"; under a minute "42s". */
export function formatEta(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor(s / 3600) % 24)}h`;
}

/** Bytes done over the last RATE_WINDOW_MS, from samples taken at each draw. */
export class RateWindow {
  private readonly samples: { t: number; bytes: number }[] = [];
  /** Record `bytes` done at `t` (ms); returns bytes per second over the window, undefined until 1 s of samples. */
  sample(t: number, bytes: number): number | undefined {
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && this.samples[1]!.t <= t - RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0]!;
    const dt = t - first.t;
    return dt < 1000 ? undefined : ((bytes - first.bytes) * 1000) / dt;
  }
}

/** The text of the line (without the label), at most `width` terminal columns. */
export function progressText(p: Progress, rate: number | undefined, width: number): string {
  const parts: string[] = [];
  if (p.merging > 0) {
    // The walk and the listing still run: the totals still grow, so no percent and no ETA.
    // sync walks and lists; restore only lists
    parts.push(p.scanned || !p.listed ? `scanning: ${num(p.scanned)} files${p.listed ? `, ${num(p.listed)} objects listed` : ''}` : `listing: ${num(p.listed)} objects`);
    if (p.filesTotal) parts.push(`${num(p.filesDone)}/${num(p.filesTotal)} files done`, `${formatBytes(p.bytesDone)}`);
  } else {
    const pct = p.bytesTotal > 0 ? (p.bytesDone / p.bytesTotal) * 100 : p.filesTotal > 0 ? (p.filesDone / p.filesTotal) * 100 : 100;
    parts.push(`${Math.min(100, Math.floor(pct))}%`, `${num(p.filesDone)}/${num(p.filesTotal)} files`, `${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}`);
  }
  if (rate !== undefined) parts.push(`${formatBytes(rate)}/s`);
  const left = p.bytesTotal - p.bytesDone;
  if (p.merging === 0 && rate !== undefined && rate > 0 && left > 0) parts.push(`ETA ${formatEta(left / rate)}`);
  const big = [...p.active.entries()].sort((a, b) => b[1].size - a[1].size);
  if (big.length) {
    // The biggest file in flight, by its path, or by its name alone when the path does not fit.
    const [rel, f] = big[0]!;
    const tail = ` ${Math.floor((f.sent / Math.max(1, f.size)) * 100)}%${big.length > 1 ? ` (+${big.length - 1} more)` : ''}`;
    const room = width - displayWidth(parts.join(' · ')) - 3 - tail.length;
    const name = printable(rel);
    const short = name.includes('/') ? `…/${name.slice(name.lastIndexOf('/') + 1)}` : name;
    parts.push((displayWidth(name) <= room ? name : short) + tail);
  }
  const line = parts.join(' · ');
  return fitWidth(line, width);
}

/** A progress line on `out`; log lines print above it. */
export class ProgressLine {
  private timer: NodeJS.Timeout | undefined;
  private progress: Progress | undefined;
  private shown = false;
  private stopped = false;
  private readonly rate = new RateWindow();
  private readonly redraw: boolean;
  private readonly now: () => number;
  constructor(private readonly out: Output, private readonly label: string, opts: { redraw?: boolean; now?: () => number } = {}) {
    this.redraw = opts.redraw ?? true;
    this.now = opts.now ?? Date.now;
  }

  /** Draw `p` every 250 ms on a terminal, every 5 s elsewhere. */
  start(p: Progress): void {
    this.progress = p;
    this.timer = setInterval(() => this.draw(), this.redraw ? 250 : 5000);
    this.timer.unref();
  }
  /** A log line: printed above the progress line (after stop(), just printed). */
  log(s: string): void {
    this.clear();
    this.out.write(s);
    if (!this.stopped && this.redraw) this.draw();
  }
  /** Remove the line for good: nothing is drawn after this. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.clear();
  }
  private clear(): void {
    if (this.shown) this.out.write('\r\x1b[2K');
    this.shown = false;
  }
  /** Draw the line now (the timer calls it). */
  draw(): void {
    const p = this.progress;
    if (!p || this.stopped) return;
    const rate = this.rate.sample(this.now(), p.bytesDone - p.bytesResumed);
    if (p.merging === 0 && p.filesTotal === 0 && p.scanned === 0 && p.listed === 0) return;
    const width = (this.out.columns || 80) - 1 - this.label.length - 2;
    const line = `${this.label}: ${progressText(p, rate, width)}`;
    if (this.redraw) {
      this.out.write('\r\x1b[2K' + line);
      this.shown = true;
    } else {
      this.out.write(line + '\n');
    }
  }
}
