// The one redrawn progress line of `sync` and `restore` on a terminal: files, bytes, rate, ETA.
// Log lines written through log() print above it; nothing is drawn when stderr is not a terminal.
// Must not: draw when stderr is not a terminal, or read anything but the Progress counters it is given.

import type { Progress } from '../folder.js';
import { formatBytes, num } from './common.js';
import type { Output } from './context.js';

/** A single redrawn status line on a terminal: files, bytes, rate, ETA. Log lines print above it. */
export class ProgressLine {
  private timer: NodeJS.Timeout | undefined;
  private progress: Progress | undefined;
  private shown = false;
  private readonly t0 = Date.now();
  constructor(private readonly out: Output, private readonly label: string) {}

  start(p: Progress): void {
    this.progress = p;
    this.timer = setInterval(() => this.draw(), 250);
    this.timer.unref();
  }
  log(s: string): void {
    this.clear();
    this.out.write(s);
    this.draw();
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.clear();
  }
  private clear(): void {
    if (this.shown) this.out.write('\r\x1b[2K');
    this.shown = false;
  }
  private draw(): void {
    const p = this.progress;
    if (!p || p.filesTotal === 0) return;
    const secs = (Date.now() - this.t0) / 1000;
    const rate = p.bytesDone / Math.max(secs, 0.001);
    const eta = rate > 0 ? Math.max(0, (p.bytesTotal - p.bytesDone) / rate) : 0;
    const line = `${this.label}: ${num(p.filesDone)}/${num(p.filesTotal)} files, ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}, ` +
      `${formatBytes(rate)}/s, ETA ${eta < 1 ? '<1' : Math.round(eta)} s`;
    this.out.write('\r\x1b[2K' + line.slice(0, (this.out.columns || 120) - 1));
    this.shown = true;
  }
}
