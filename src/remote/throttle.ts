// The bandwidth limit: a token bucket per direction shared by every request of the process, and the streams that
// pace bytes through it. A request body (a PutObject's, a part's) leaves at the limit whatever its size, so the
// bytes on the wire are shaped, not only the number of files in flight; a GetObject body is read at the limit, and
// TCP's flow control slows the sender to it. The limit follows a schedule by time of day.
// Must not: buffer more than the chunk it is given, hold a timer after its stream is destroyed, or slow anything
// while the limit is off.

import { Readable, Transform, pipeline } from 'node:stream';
import type { BandwidthEntry, Config } from '../config.js';
import { bandwidthAt } from '../config.js';

/** Bytes released at a time: small enough for a smooth rate, large enough to cost nothing per byte. */
export const PIECE = 64 * 1024;

/** One direction's token bucket; `reserve` takes bytes now and says how long to wait before sending them. */
export class TokenBucket {
  private tokens = 0;
  private last: number;
  private rateNow: number | null;
  private checkedAt = -Infinity;
  constructor(private schedule: readonly BandwidthEntry[], private readonly now: () => number = () => performance.now(),
    private readonly wall: () => Date = () => new Date()) {
    this.last = now();
    this.rateNow = bandwidthAt(schedule, wall());
  }

  /** A new schedule (SIGHUP); the bytes reserved so far stay reserved. */
  set(schedule: readonly BandwidthEntry[]): void {
    this.schedule = schedule;
    this.checkedAt = -Infinity;
  }

  /** Bytes per second in force now (the schedule is read at most once a second); null: no limit. */
  rate(): number | null {
    const t = this.now();
    if (t - this.checkedAt >= 1000) {
      this.checkedAt = t;
      this.rateNow = bandwidthAt(this.schedule, this.wall());
    }
    return this.rateNow;
  }

  /** Take `n` bytes: 0, or the milliseconds to wait before sending them (the bucket goes into debt, FIFO). */
  reserve(n: number): number {
    const r = this.rate();
    const t = this.now();
    if (r === null) {
      this.tokens = 0;
      this.last = t;
      return 0;
    }
    // At most a quarter second of burst, so a pause does not turn into a spike at line speed.
    this.tokens = Math.min(r / 4, this.tokens + ((t - this.last) * r) / 1000);
    this.last = t;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / r;
  }
}

/** A Transform that lets its bytes through at `bucket`'s rate, PIECE bytes at a time. */
export function paced(bucket: TokenBucket): Transform {
  let timer: NodeJS.Timeout | undefined;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      let off = 0;
      const step = (): void => {
        if (off >= chunk.length) return cb();
        const piece = chunk.subarray(off, off + PIECE);
        off += piece.length;
        const wait = bucket.reserve(piece.length);
        if (wait <= 0) {
          this.push(piece);
          return step();
        }
        timer = setTimeout(() => {
          timer = undefined;
          this.push(piece);
          step();
        }, wait);
      };
      step();
    },
    destroy(err, cb) {
      if (timer) clearTimeout(timer);
      cb(err);
    },
  });
}

/**
 * A Buffer as a body read at `bucket`'s rate: a piece is reserved only when the reader asks for it (after an
 * HTTP 100-continue, as the socket drains), so a body nobody reads takes no bandwidth from the others.
 */
export function pacedBuffer(bucket: TokenBucket, buf: Buffer): Readable {
  let off = 0;
  let timer: NodeJS.Timeout | undefined;
  return new Readable({
    read() {
      if (timer) return;
      if (off >= buf.length) {
        this.push(null);
        return;
      }
      const piece = buf.subarray(off, off + PIECE);
      off += piece.length;
      const wait = bucket.reserve(piece.length);
      if (wait <= 0) {
        this.push(piece);
        return;
      }
      timer = setTimeout(() => {
        timer = undefined;
        this.push(piece);
      }, wait);
    },
    destroy(err, cb) {
      if (timer) clearTimeout(timer);
      cb(err);
    },
  });
}

/**
 * What a request may queue behind at the limit: the transfers' memory budget, one part (8 MiB unless set; parts
 * streamed from disk are bigger only for files over 80 GiB) and the chunks of streamed bodies, in ms at the
 * schedule's smallest rate; 0 without a limit.
 */
export function throttleExtraMs(config: Pick<Config, 'bandwidth' | 'memory' | 'partSize' | 'transfers'>): number {
  if (!config.bandwidth) return 0;
  return Throttle.backlogMs(config.bandwidth, config.memory + (config.partSize ?? 8 * 1024 * 1024) + config.transfers * 4 * 1024 * 1024);
}

/** The limit of one process: uploads and downloads each at the rate in force. */
export class Throttle {
  readonly up: TokenBucket;
  readonly down: TokenBucket;
  constructor(schedule: readonly BandwidthEntry[], now?: () => number, wall?: () => Date) {
    this.up = new TokenBucket(schedule, now, wall);
    this.down = new TokenBucket(schedule, now, wall);
  }

  /**
   * How long a request may wait, at the smallest rate of the schedule, behind `backlog` bytes reserved before
   * its own (the transfers' memory budget bounds them): the request timeout is extended by it, or a paced
   * request would time out at a low limit while its bytes are still queued.
   */
  static backlogMs(schedule: readonly BandwidthEntry[], backlog: number): number {
    const rates = schedule.map((e) => e.rate).filter((r): r is number => r !== null);
    return rates.length ? Math.ceil((backlog / Math.min(...rates)) * 1000) : 0;
  }

  /**
   * A request body paced for the wire, or the body itself when the limit is off or it is no byte body. A Buffer
   * stays the caller's (the SDK retries with it): each attempt gets a new paced stream over it.
   */
  body(b: unknown): unknown {
    if (this.up.rate() === null) return b;
    if (b instanceof Uint8Array) return b.length === 0 ? b : pacedBuffer(this.up, Buffer.from(b.buffer, b.byteOffset, b.length));
    return b instanceof Readable ? pipeline(b, paced(this.up), () => undefined) : b;
  }

  /** A response body read at the download limit (GetObject's), or the body itself when the limit is off. */
  response(b: unknown): unknown {
    return b instanceof Readable && this.down.rate() !== null ? pipeline(b, paced(this.down), () => undefined) : b;
  }
}
