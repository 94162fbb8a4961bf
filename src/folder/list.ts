// Lists a folder's prefix in the bucket in key order (compareKeys: UTF-8 bytes, the order ListObjectsV2 lists
// in), page by page, for the streamed reconcile's merge. Split keys (every 1000th stored key) cut the key space
// into ranges of ~1,000 keys, listed concurrently: the same LIST requests as one sequential walk, in the time of
// about one. Each page is retried on its own; objects under the trash prefix are left out.
// Memory: at most LIST_PARALLEL ranges are open (started and not yet consumed), each holding at most AHEAD pages
// (buffered, or the one in flight) of at most 1,000 objects, plus the page the consumer holds: about 17,000
// RemoteObjects (a few MB) whatever the object count. A finished range keeps its slot until it is consumed, or
// the finished ranges of a slow consumer would pile up without bound.
// Must not: write the state DB or decide anything from the listing (the planner does).

import type { FolderConfig } from '../config.js';
import { compareKeys } from '../keys.js';
import type { Bucket, RemoteObject } from '../remote/bucket.js';
import { withRetry, type RetryOptions } from '../retry.js';

/** Ranges open at once (each with at most one LIST request in flight). */
const LIST_PARALLEL = 8;
/** Pages a range may hold ahead of the consumer, the one being fetched included. */
const AHEAD = 2;

/**
 * The prefix's objects in key order, page by page. Ranges between split keys are listed concurrently
 * (at most LIST_PARALLEL at once), each buffering at most 2 pages ahead of the consumer, so memory is
 * bounded by ranges x pages, not by the object count. Each page is retried on its own (resuming after the
 * last key seen). Objects under config.trashPrefix are left out, as today. Nothing is sent before the first
 * next(); leaving the loop early (break, return, a throw) aborts the requests in flight and resolves once
 * they have settled. An error that retries cannot fix (or an abort) is thrown from next(), and the
 * other ranges' requests are aborted. `splitKeys` must be strictly ascending in compareKeys order.
 */
export function listInOrder(bucket: Bucket, config: Pick<FolderConfig, 'prefix' | 'trashPrefix'>, splitKeys: readonly string[], retry: Omit<RetryOptions, 'what'>): AsyncIterable<RemoteObject[]> {
  for (let i = 1; i < splitKeys.length; i++) {
    if (compareKeys(splitKeys[i - 1]!, splitKeys[i]!) >= 0) throw new RangeError(`split keys must be strictly ascending in key order; ${i - 1} and ${i} are not`);
  }
  const bounds = [undefined, ...splitKeys];
  const ranges = () => bounds.map((startAfter, i): Range => ({ startAfter, endAt: bounds[i + 1], pages: [], done: false }));
  return { [Symbol.asyncIterator]: () => pagesInOrder(bucket, config, ranges(), retry) };
}

/** One range (startAfter, endAt] of the key space and the pages listed from it, not yet consumed. */
interface Range {
  readonly startAfter: string | undefined;
  readonly endAt: string | undefined;
  readonly pages: RemoteObject[][];
  /** No more pages will come (listed to the end, failed or stopped). */
  done: boolean;
}

/** What every range's lister shares. */
interface Lister {
  readonly bucket: Bucket;
  readonly config: Pick<FolderConfig, 'prefix' | 'trashPrefix'>;
  readonly retry: RetryOptions & { readonly signal: AbortSignal };
  readonly wake: Wakeup;
  /** Record a range's failure: called before the range is marked done, so a failed range never looks complete. */
  readonly fail: (err: unknown) => void;
}

/** Hand out the ranges' pages in order, opening ranges up to LIST_PARALLEL ahead of the one being consumed. */
async function* pagesInOrder(bucket: Bucket, config: Lister['config'], ranges: Range[], retry: Omit<RetryOptions, 'what'>): AsyncGenerator<RemoteObject[]> {
  const stop = new AbortController();
  const signal = retry.signal ? AbortSignal.any([retry.signal, stop.signal]) : stop.signal;
  const wake = wakeup();
  signal.addEventListener('abort', wake.fire);
  let failure: { err: unknown } | undefined;
  const fail = (err: unknown) => {
    failure ??= { err };
    stop.abort(); // the other ranges are of no use now
    wake.fire();
  };
  const lister: Lister = { bucket, config, retry: { ...retry, signal, what: 'list' }, wake, fail };
  const running: Promise<void>[] = [];
  let last: string | undefined;
  try {
    for (let i = 0; i < ranges.length; i++) {
      // A range's slot is freed only once it is consumed (see the header: memory).
      while (running.length < Math.min(ranges.length, i + LIST_PARALLEL)) running.push(fill(ranges[running.length]!, lister).catch(fail));
      const r = ranges[i]!;
      for (;;) {
        if (failure) throw failure.err;
        const page = r.pages.shift();
        if (page) {
          wake.fire(); // room in this range: its lister may fetch on while the consumer works
          last = checkOrder(page, last);
          yield page;
        } else if (r.done) {
          break;
        } else {
          await wake.wait();
        }
      }
    }
    if (failure) throw failure.err;
  } finally {
    stop.abort();
    signal.removeEventListener('abort', wake.fire);
    await Promise.all(running); // they never reject (failures go to fail()); return only once no request is left
  }
}

/** List one range into its pages, fetching only while it holds fewer than AHEAD of them. */
async function fill(r: Range, l: Lister): Promise<void> {
  const { signal } = l.retry;
  let resume = r.startAfter;
  let pages: AsyncGenerator<RemoteObject[]> | undefined;
  try {
    for (;;) {
      while (r.pages.length >= AHEAD) {
        signal.throwIfAborted();
        await l.wake.wait();
      }
      // Each page is retried on its own: a failed request ends its generator, and the next attempt starts a new
      // one after the last key already seen (the same requests as a continuation token would make).
      const next = await withRetry(async () => {
        pages ??= l.bucket.list(l.config.prefix, signal, { startAfter: resume, endAt: r.endAt });
        try {
          return await pages.next();
        } catch (err) {
          pages = undefined;
          throw err;
        }
      }, l.retry);
      if (next.done) return;
      const raw = next.value;
      if (raw.length === 0) continue;
      resume = raw[raw.length - 1]!.key;
      const page = raw.filter((o) => !o.key.startsWith(l.config.trashPrefix));
      if (page.length > 0) {
        r.pages.push(page);
        l.wake.fire();
      }
    }
  } catch (err) {
    l.fail(err);
  } finally {
    r.done = true;
    l.wake.fire();
    await pages?.return(undefined);
  }
}

/** The merge relies on the order: a server that lists otherwise must stop the run, not mislead the planner. */
function checkOrder(page: readonly RemoteObject[], last: string | undefined): string | undefined {
  for (const o of page) {
    if (last !== undefined && compareKeys(last, o.key) >= 0) {
      throw new Error(`the bucket listed ${JSON.stringify(o.key)} after ${JSON.stringify(last)}: ListObjectsV2 must list keys in UTF-8 byte order`);
    }
    last = o.key;
  }
  return last;
}

/** Wakes everyone waiting at once; each waiter checks again what it waits for (the consumer and up to 8 listers). */
interface Wakeup {
  wait(): Promise<void>;
  fire(): void;
}

function wakeup(): Wakeup {
  let pending: Promise<void> | undefined;
  let resolve = () => {};
  return {
    wait: () => (pending ??= new Promise<void>((r) => (resolve = r))),
    fire: () => {
      pending = undefined;
      resolve();
    },
  };
}
