// Retry with exponential backoff and jitter for requests outside a file transfer (list pages, deletes, copies).
// Only errors that classify() calls 'retry' are retried; the abort signal cuts every wait short.

import { setTimeout as sleep } from 'node:timers/promises';
import { classify, describeError } from './errors.js';
import type { Logger } from './log.js';

/** Exponential backoff with jitter between 50% and 150%, capped at 30 s. */
export function backoff(attempt: number, baseMs: number): number {
  const exp = Math.min(30_000, baseMs * 2 ** attempt);
  return Math.round(exp * (0.5 + Math.random()));
}

/** Options for {@link withRetry}. */
export interface RetryOptions {
  readonly retries: number;
  readonly baseMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly log?: Logger | undefined;
  /** What is being retried, for the log line. */
  readonly what: string;
}

/** Run `fn`, retrying transient failures `retries` times; the last error (or any non-transient one) is thrown. */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (opts.signal?.aborted || classify(err) !== 'retry' || attempt >= opts.retries) throw err;
      const delay = backoff(attempt, opts.baseMs ?? 500);
      opts.log?.warn({ attempt: attempt + 1, delayMs: delay, reason: describeError(err) }, `${opts.what} failed, retrying`);
      await sleep(delay, undefined, { signal: opts.signal });
    }
  }
}
