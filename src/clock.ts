// The time and timers the daemon and the watcher's aggregator run on: the real ones in production, a fake one
// in tests (so a test of an hour's backoff takes milliseconds). A base module: any layer may import it.
// Must not: hold state of its own beyond the real clock, or be read as a global by the modules that take one.

/** A handle returned by setTimeout/setInterval, given back to clearTimeout/clearInterval. */
export type TimerHandle = unknown;

/** Time and timers. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
  /** Clears a timer of either kind (as Node's do); undefined is ignored. */
  clearTimeout(handle: TimerHandle): void;
  /** The same as clearTimeout, for readers of the code that set an interval. */
  clearInterval(handle: TimerHandle): void;
}

/** Date.now() and the global timers. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout | undefined),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout | undefined),
};
