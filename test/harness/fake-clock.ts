// A fake Clock for unit tests of the daemon's scheduling: time moves only when the test says so, and the timers
// due on the way fire in order, each at its own time, with promises settled in between. Test-only.

import type { Clock, TimerHandle } from '../../src/clock.js';

interface Timer {
  at: number;
  readonly fn: () => void;
  readonly every?: number;
  readonly seq: number;
}

/** Settle pending promise chains (and anything else queued for this turn of the event loop). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** Time starts at 0. */
export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn, seq: id });
    return id;
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(1, ms), fn, every: Math.max(1, ms), seq: id });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'number') this.timers.delete(handle);
  }

  clearInterval(handle: TimerHandle): void {
    this.clearTimeout(handle);
  }

  /** Timers still set (an interval counts once). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Move time forward by `ms`, firing every timer due on the way at its time; promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      let next: [number, Timer] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[1].seq < next[1].seq))) next = e;
      if (!next) break;
      const [id, timer] = next;
      this.t = timer.at;
      if (timer.every) timer.at += timer.every;
      else this.timers.delete(id);
      timer.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}
