// Retry with exponential backoff and jitter: the one retry loop, for requests outside a file transfer (list
// pages, deletes, copies), for a whole file transfer and for one streamed part. Only errors that classify()
// calls 'retry' are retried (a caller may narrow that further); the abort signal cuts every wait short.
// Must not: decide what an error means (classify() does), or retry anything once the signal is aborted.

import { setTimeout as sleep } from 'node:timers/promises';
import { classify } from './errors.js';
import type { Logger } from './log.js';

/** Exponential backoff with jitter between 50% and 150%, capped at 30 s. */
export function backoff(attempt: number, baseMs: number): number {
  const exp = Math.min(30_000, baseMs * 2 ** attempt);
  return Math.round(exp * (0.5 + Math.random()));
}

/** The log message of a retry when the caller names none: a constant, what failed is the `what` field. */
export const RETRY_MESSAGE = 'request failed, retrying';

/** Options for {@link withRetry}. */
export interface RetryOptions {
  readonly retries: number;
  readonly baseMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Where each retry is logged (warn: `{ what, attempt, delayMs, err }`); none: retries are silent. */
  readonly log?: Logger | undefined;
  /** What is being retried: the `what` field of the log line. */
  readonly what: string;
  /** The log line's message, a constant string (default {@link RETRY_MESSAGE}). */
  readonly message?: string | undefined;
  /** Narrows which transient errors are retried: false makes withRetry throw the error at once. */
  readonly retryable?: ((err: unknown) => boolean) | undefined;
}

/**
 * Run `fn` (given the attempt number, from 0), retrying transient failures `retries` times; the last error (or
 * any non-transient one) is thrown. An abort during the wait between attempts throws the wait's AbortError.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted || classify(err) !== 'retry' || attempt >= opts.retries) throw err;
      if (opts.retryable && !opts.retryable(err)) throw err;
      const delay = backoff(attempt, opts.baseMs ?? 500);
      // constant message: RETRY_MESSAGE or the caller's own literal
      opts.log?.warn({ what: opts.what, attempt: attempt + 1, delayMs: delay, err }, opts.message ?? RETRY_MESSAGE);
      await sleep(delay, undefined, { signal: opts.signal });
    }
  }
}
