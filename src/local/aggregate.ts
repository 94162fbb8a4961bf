// The watcher's quiet-period aggregator: events on relative paths in, batches of settled paths (or "everything",
// after an event storm) out. Pure bookkeeping on an injected clock, so it can be driven without real time.
// Must not: touch the file system, or read the real clock when given one.

import { realClock, type Clock } from '../clock.js';

/** What the watcher hands to the daemon. */
export type WatchBatch =
  | { readonly kind: 'paths'; readonly paths: string[] }
  /** An event storm, or events we could not follow: rescan the whole folder. */
  | { readonly kind: 'everything'; readonly reason: string };

/** The time and the one-shot timers the aggregator uses (the real ones by default). */
export type WatchClock = Pick<Clock, 'now' | 'setTimeout' | 'clearTimeout'>;

/** Options for {@link Aggregator}. */
export interface AggregatorOptions {
  /** A path is handed over once no event touched it for this long. */
  readonly quietMs: number;
  /** ... or once it has been dirty this long, even if events keep coming (a log file written forever). */
  readonly maxDelayMs: number;
  /** More dirty paths than this at once is a storm: forget them and rescan the folder once it is quiet. */
  readonly stormLimit: number;
  readonly onBatch: (batch: WatchBatch) => void;
  readonly clock?: WatchClock | undefined;
}

interface Dirty {
  first: number;
  last: number;
  /** The last event said the path is gone: nothing left to settle, so it may go with any batch. */
  removed: boolean;
}

/** Coalesces events per path until each is quiet; degrades to one "everything" batch in a storm. close() is final. */
export class Aggregator {
  private readonly dirty = new Map<string, Dirty>();
  private storm: { since: number; last: number } | undefined;
  private timer: unknown;
  private closed = false;
  readonly clock: WatchClock;

  constructor(private readonly opts: AggregatorOptions) {
    this.clock = opts.clock ?? realClock;
  }

  /** Paths waiting for their quiet period (a storm counts as its limit). */
  get pending(): number {
    return this.storm ? this.opts.stormLimit : this.dirty.size;
  }

  /** Record an event on `rel` ('' is the root itself: something happened to the folder as a whole). */
  touch(rel: string, now = this.clock.now(), removed = false): void {
    if (this.closed) return;
    if (rel === '') {
      this.startStorm(now);
    } else if (this.storm) {
      this.storm.last = now;
    } else {
      const d = this.dirty.get(rel);
      if (d) {
        d.last = now;
        d.removed = removed;
      } else this.dirty.set(rel, { first: now, last: now, removed });
      if (this.dirty.size > this.opts.stormLimit) this.startStorm(now);
    }
    this.schedule(now);
  }

  /** Drop what is pending; nothing is handed over after this. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.dirty.clear();
  }

  private startStorm(now: number): void {
    // Memory stays flat: the paths are forgotten, the rescan finds whatever they were.
    this.dirty.clear();
    this.storm ??= { since: now, last: now };
    this.storm.last = now;
  }

  private schedule(now: number): void {
    if (this.timer !== undefined) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.flush(this.clock.now());
    }, Math.max(10, this.nextDue(now) - now));
  }

  private nextDue(now: number): number {
    const { quietMs, maxDelayMs } = this.opts;
    if (this.storm) return Math.min(this.storm.last + quietMs, this.storm.since + maxDelayMs * 4);
    let due = Infinity;
    for (const d of this.dirty.values()) due = Math.min(due, d.last + quietMs, d.first + maxDelayMs);
    return due === Infinity ? now : due;
  }

  /** Hand over what is due; reschedule for the rest. */
  private flush(now: number): void {
    if (this.closed) return;
    if (this.storm) this.flushStorm(now);
    else this.flushPaths(now);
    if (this.storm || this.dirty.size) this.schedule(now);
  }

  private flushStorm(now: number): void {
    const { quietMs, maxDelayMs } = this.opts;
    // A storm ends when it has been quiet for the quiet period; a storm that never ends is rescanned anyway
    // every few max delays so changes still arrive.
    if (this.storm && (now - this.storm.last >= quietMs || now - this.storm.since >= maxDelayMs * 4)) {
      this.storm = undefined;
      this.opts.onBatch({ kind: 'everything', reason: 'event storm' });
    }
  }

  private flushPaths(now: number): void {
    const { quietMs, maxDelayMs } = this.opts;
    const due: string[] = [];
    const again: string[] = [];
    // Paths whose quiet period ends within the slack go along: one `mv` or `cp -r` makes events microseconds
    // apart, and both halves of a rename must meet in one reconcile to become a copy.
    const slack = Math.min(100, quietMs / 4);
    for (const [rel, d] of this.dirty) {
      if (now - d.last >= quietMs - slack) due.push(rel);
      else if (now - d.first >= maxDelayMs) {
        due.push(rel);
        // Handed over while still changing: chokidar drops a change within 50 ms of the previous one without a
        // catch-up event, so a last write right after this handover could go unreported. Look once more
        // after a quiet period (a stat if nothing changed).
        again.push(rel);
      }
    }
    // A rename is an add and an unlink (chokidar's atomic mode delays the unlink ~100 ms): removed paths go
    // with whatever batch leaves next, so the reconcile sees both sides and copies instead of uploading.
    if (due.length) for (const [rel, d] of this.dirty) if (d.removed && !(now - d.last >= quietMs || now - d.first >= maxDelayMs)) due.push(rel);
    for (const rel of due) this.dirty.delete(rel);
    for (const rel of again) this.dirty.set(rel, { first: now, last: now, removed: false });
    if (due.length) this.opts.onBatch({ kind: 'paths', paths: due });
  }
}
