// The memory budget of all transfers: upload buffers and parts in flight never hold more than its total.
// Must not: do I/O, or know what the bytes are for (the put strategies decide what to charge).

/** A byte budget shared by all transfers: upload buffers never exceed it (one oversized holder at a time). */
export class ByteBudget {
  private used = 0;
  private readonly waiters: { n: number; resolve: () => void }[] = [];
  constructor(readonly total: number) {}

  /** Wait until `n` bytes (capped at the total) are free; returns the release function. */
  async acquire(n: number, signal?: AbortSignal): Promise<() => void> {
    const want = Math.min(n, this.total);
    if (this.used + want > this.total || this.waiters.length > 0) {
      await new Promise<void>((resolve, reject) => {
        const w = { n: want, resolve };
        this.waiters.push(w);
        signal?.addEventListener('abort', () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
        }, { once: true });
      });
    } else this.used += want;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= want;
      while (this.waiters.length > 0 && this.used + this.waiters[0]!.n <= this.total) {
        const w = this.waiters.shift()!;
        this.used += w.n;
        w.resolve();
      }
    };
  }
}
