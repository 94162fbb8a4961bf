// Unit tests for withRetry (src/retry.ts): what it retries, what it logs (a constant message, `what` and `err`
// as fields), the attempt number it passes, the caller's narrowing, and an abort during the wait. No server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FileChangedError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { RETRY_MESSAGE, withRetry } from '../../src/retry.js';

/** A logger that keeps its JSON lines. */
function memLog(): { log: ReturnType<typeof createLogger>; lines: Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  return { log: createLogger({ level: 'debug', out: { write: (s) => lines.push(JSON.parse(s)) } }), lines };
}
const transient = (): Error => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

test('withRetry retries transient errors, passes the attempt number, logs a constant message with fields', async () => {
  const { log, lines } = memLog();
  const seen: number[] = [];
  const out = await withRetry(async (attempt) => {
    seen.push(attempt);
    if (attempt < 2) throw transient();
    return 'done';
  }, { retries: 3, baseMs: 1, log, what: 'list' });
  assert.equal(out, 'done');
  assert.deepEqual(seen, [0, 1, 2]);
  assert.deepEqual(lines.map((l) => [l.msg, l.what, l.attempt, l.err?.code, typeof l.delayMs]), [
    [RETRY_MESSAGE, 'list', 1, 'ECONNRESET', 'number'],
    [RETRY_MESSAGE, 'list', 2, 'ECONNRESET', 'number'],
  ]);
  assert.equal(RETRY_MESSAGE, 'request failed, retrying');
});

test('withRetry: the caller may name the message; without a logger retries are silent', async () => {
  const { log, lines } = memLog();
  let n = 0;
  await withRetry(async () => {
    if (n++ === 0) throw transient();
  }, { retries: 1, baseMs: 1, log, what: 'transfer', message: 'transfer failed, retrying' });
  assert.deepEqual(lines.map((l) => [l.msg, l.what]), [['transfer failed, retrying', 'transfer']]);
  n = 0;
  await withRetry(async () => {
    if (n++ === 0) throw transient();
  }, { retries: 1, baseMs: 1, what: 'part' });
  assert.equal(n, 2);
});

test('withRetry throws at once: a non-transient error, the last attempt, an error the caller excludes', async () => {
  const cases: { name: string; err: () => Error; retries: number; retryable?: (e: unknown) => boolean; calls: number }[] = [
    { name: 'not transient', err: () => new Error('no such file'), retries: 3, calls: 1 },
    { name: 'retries used up', err: transient, retries: 2, calls: 3 },
    { name: 'zero retries', err: transient, retries: 0, calls: 1 },
    { name: 'excluded by the caller', err: () => new FileChangedError('changed'), retries: 3, retryable: (e) => !(e instanceof FileChangedError), calls: 1 },
    { name: 'allowed by the caller', err: () => new FileChangedError('changed'), retries: 1, retryable: () => true, calls: 2 },
  ];
  for (const c of cases) {
    let calls = 0;
    const thrown = c.err();
    await assert.rejects(withRetry(async () => {
      calls++;
      throw thrown;
    }, { retries: c.retries, baseMs: 1, what: 'x', retryable: c.retryable }), (e) => e === thrown, c.name);
    assert.equal(calls, c.calls, c.name);
  }
});

test('withRetry: an aborted signal stops it; an abort during the wait throws the wait\'s AbortError', async () => {
  const gone = new AbortController();
  gone.abort(new Error('stopped'));
  let calls = 0;
  const thrown = transient();
  await assert.rejects(withRetry(async () => {
    calls++;
    throw thrown;
  }, { retries: 3, baseMs: 1, what: 'x', signal: gone.signal }), (e) => e === thrown);
  assert.equal(calls, 1);

  const later = new AbortController();
  const run = withRetry(async () => {
    setImmediate(() => later.abort(new Error('stopped')));
    throw transient();
  }, { retries: 3, baseMs: 60_000, what: 'x', signal: later.signal });
  await assert.rejects(run, (e: Error) => e.name === 'AbortError');
});
