// Unit tests for src/daemon/folder-loop.ts: one folder's loop driven with a fake reconcile, a fake watcher, a
// fake root and a fake clock; no server, no file system, no real timers (each test takes milliseconds). They
// assert what a user notices: which scopes were reconciled, in what order and at which (fake) times, and what
// `status` shows (FolderLive).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FolderLoop, OUTAGE_BASE_MS, RETRY_BASE_MS, type FolderLoopDeps } from '../../src/daemon/folder-loop.js';
import { ROOT_POLL_MS, type LoopWatcher, type WatchHandlers } from '../../src/daemon/folder-watch.js';
import type { RootIdentity } from '../../src/daemon/root.js';
import { ExitCode, FatalError } from '../../src/errors.js';
import type { FolderReport, Scope } from '../../src/folder.js';
import type { WatchBatch } from '../../src/local/watch.js';
import { createLogger } from '../../src/log.js';
import { FakeClock, settle } from '../harness/fake-clock.js';

const ROOT = '/data/photos';
const ID: RootIdentity = { dev: '2049', ino: '2', mount: '31' };

/** A report of a reconcile that did nothing, with `over` applied. */
function report(over: Partial<FolderReport> = {}): FolderReport {
  return {
    name: 'photos', path: ROOT, ok: true, uploaded: { files: 0, bytes: 0 }, resumed: { files: 0, bytes: 0 }, adopted: { files: 0, bytes: 0 }, copied: { files: 0, bytes: 0 },
    deleted: 0, trashed: 0, unchanged: 0, skipped: [], failed: [], ...over,
  };
}

/** A reconcile the test ends: resolve(report) or reject(err). */
interface Call {
  readonly scope: Scope;
  readonly at: number;
  resolve(r?: FolderReport): void;
  reject(err: unknown): void;
}

class FakeWatcher implements LoopWatcher {
  pending = 0;
  watchedDirs = 3;
  closed = false;
  constructor(readonly on: WatchHandlers) {}
  batch(b: WatchBatch): void {
    this.on.onBatch(b);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A loop on fakes. `auto`: each reconcile resolves at once with this (else the test ends each call). */
function harness(opts: { auto?: (scope: Scope) => FolderReport | Error; needsList?: boolean; over?: Partial<FolderLoopDeps> } = {}) {
  const clock = new FakeClock();
  const calls: Call[] = [];
  const watchers: FakeWatcher[] = [];
  const logs: { msg: string; [k: string]: unknown }[] = [];
  const fatals: unknown[] = [];
  const reports: FolderReport[] = [];
  const state = { root: ID as RootIdentity | undefined, needsList: !!opts.needsList, failures: 0, looks: 0 };
  const loop = new FolderLoop({
    name: 'photos', root: ROOT, clock,
    log: createLogger({ level: 'debug', out: { write: (s: string) => logs.push(JSON.parse(s)) } }),
    reconcile: (scope) => new Promise<FolderReport>((resolve, reject) => {
      const call: Call = { scope, at: clock.now(), resolve: (r = report()) => resolve(r), reject };
      calls.push(call);
      const r = opts.auto?.(scope);
      if (r instanceof Error) reject(r);
      else if (r) resolve(r);
    }),
    watch: async (on) => {
      const w = new FakeWatcher(on);
      watchers.push(w);
      return w;
    },
    rootIdentity: () => {
      state.looks++;
      return state.root;
    },
    needsList: () => state.needsList,
    failures: () => state.failures,
    pollInterval: 60_000,
    countWatchedDirs: async () => 3,
    onChange: () => {},
    onReport: (r) => reports.push(r),
    onFatal: (err) => fatals.push(err),
    ...opts.over,
  });
  /** The scopes reconciled so far, as `kind` or `kind:path,path` strings with their fake times. */
  const seen = () => calls.map((c) => `${c.at} ${c.scope.kind === 'paths' ? `paths:${[...c.scope.paths].sort().join(',')}` : c.scope.kind}`);
  return { clock, calls, watchers, logs, fatals, reports, state, loop, seen, watcher: () => watchers.at(-1)! };
}

const outage = () => new FatalError('folder photos, bucket b: the endpoint http://r2 did not answer usefully after retries: ECONNREFUSED', ExitCode.TEMPFAIL);

test('the first full reconcile after an unclean stop lists, whatever asked for it; later rescans are local', async () => {
  const h = harness({ needsList: true });
  await h.loop.start();
  h.loop.begin({ kind: 'local' }, undefined);
  assert.equal(h.loop.live().running, 'list', 'status says it lists');
  h.state.needsList = false; // the listing converged
  h.calls[0]!.resolve();
  await settle();
  assert.equal(h.loop.live().lastVerify, 0, 'a listing is a verification');
  h.loop.request({ kind: 'local' });
  h.calls[1]!.resolve();
  await settle();
  assert.deepEqual(h.seen(), ['0 listing', '0 local']);
  assert.equal(h.loop.live().running, undefined);
  assert.equal(h.loop.live().state, 'watching');
});

test('endpoint down (TEMPFAIL): the work is kept and retried after 5 s, 10 s, 20 s; success resets the backoff', async () => {
  let failing = 3;
  const h = harness({ auto: () => (failing-- > 0 ? outage() : report()) });
  await h.loop.start();
  h.watcher().batch({ kind: 'paths', paths: ['a.jpg'] });
  await settle();
  assert.match(h.loop.live().error ?? '', /did not answer/, 'status shows why');
  assert.equal(h.loop.live().pending, 1, 'the work is kept');
  await h.clock.advance(1000);
  h.watcher().batch({ kind: 'paths', paths: ['b.jpg'] }); // arrives during the outage: waits with the rest
  await settle();
  assert.equal(h.calls.length, 1, 'nothing is tried before the back-off ends');
  await h.clock.advance(60_000);
  const t1 = OUTAGE_BASE_MS;
  const t2 = t1 + 2 * OUTAGE_BASE_MS;
  const t3 = t2 + 4 * OUTAGE_BASE_MS;
  assert.deepEqual(h.seen(), ['0 paths:a.jpg', `${t1} paths:a.jpg,b.jpg`, `${t2} paths:a.jpg,b.jpg`, `${t3} paths:a.jpg,b.jpg`]);
  assert.deepEqual(h.logs.filter((l) => l.msg === 'reconcile failed; will retry').map((l) => l.retryInMs), [t1, 2 * OUTAGE_BASE_MS, 4 * OUTAGE_BASE_MS]);
  assert.equal(h.loop.live().error, undefined, 'cleared by the successful reconcile');
  assert.equal(h.loop.live().pending, 0);
  // The next outage starts again at 5 s.
  failing = 1;
  h.watcher().batch({ kind: 'paths', paths: ['c.jpg'] });
  await h.clock.advance(OUTAGE_BASE_MS);
  const last = h.calls.slice(4).map((c) => c.at - h.calls[4]!.at);
  assert.deepEqual(last, [0, OUTAGE_BASE_MS]);
  assert.deepEqual(h.fatals, []);
});

test('any other error of a reconcile is fatal: handed to the daemon, not retried', async () => {
  const err = new FatalError('folder photos, bucket b: the bucket does not exist', ExitCode.CONFIG);
  const h = harness({ auto: () => err });
  await h.loop.start();
  h.loop.request({ kind: 'local' });
  await h.clock.advance(3_600_000);
  assert.deepEqual(h.fatals, [err]);
  assert.deepEqual(h.seen(), ['0 local']);
});

test('a root that goes away pauses the folder (no reconcile, watcher closed); when it is back: watched again and rescanned', async () => {
  const h = harness({ auto: () => report() });
  await h.loop.start();
  h.state.root = undefined; // unmounted
  h.watcher().batch({ kind: 'paths', paths: ['a.jpg'] });
  await settle();
  assert.deepEqual(h.calls, [], 'nothing is reconciled on a missing root');
  const paused = h.loop.live();
  assert.equal(paused.state, 'paused');
  assert.match(paused.error ?? '', /is missing or not a directory .*paused: nothing is uploaded or deleted/);
  assert.equal(h.watchers[0]!.closed, true, 'the old watches are closed');
  h.loop.request({ kind: 'local' }); // the hourly rescan while paused
  await h.clock.advance(3 * ROOT_POLL_MS);
  assert.deepEqual(h.calls, [], 'still nothing while paused');
  h.state.root = ID;
  const back = h.clock.now();
  await h.clock.advance(ROOT_POLL_MS);
  assert.equal(h.watchers.length, 2, 'a new watcher');
  assert.deepEqual(h.seen(), [`${back + ROOT_POLL_MS} local`], 'one rescan after the watch is armed');
  const live = h.loop.live();
  assert.equal(live.state, 'watching');
  assert.equal(live.error, undefined);
  assert.match(live.notice?.message ?? '', /folder root \/data\/photos is back; watched again and rescanned/);
});

test('a root gone during a reconcile pauses the folder in the words of the report', async () => {
  const why = `folder path ${ROOT} does not exist (unmounted disk?); nothing was uploaded or deleted`;
  const h = harness();
  await h.loop.start();
  h.loop.request({ kind: 'paths', paths: ['a.jpg'] });
  h.state.root = undefined;
  h.calls[0]!.resolve(report({ ok: false, error: why }));
  await settle();
  assert.equal(h.loop.live().state, 'paused');
  assert.equal(h.loop.live().error, why);
});

test('a replaced root (remount) is said, watched again and rescanned', async () => {
  const h = harness({ auto: () => report() });
  await h.loop.start();
  h.state.root = { ...ID, mount: '44' };
  await h.clock.advance(ROOT_POLL_MS);
  assert.equal(h.watchers.length, 2);
  assert.equal(h.watchers[0]!.closed, true);
  assert.deepEqual(h.seen(), [`${ROOT_POLL_MS} local`]);
  assert.equal(h.loop.replacements, 1);
  assert.match(h.loop.live().notice?.message ?? '', /was replaced \(remounted\?\): device .* mount 31 -> .* mount 44; watched again and rescanned/);
  assert.equal(h.logs.filter((l) => l.msg === 'folder root was replaced (remounted?); watching it again and rescanning').length, 1);
  // The watch on the root ended although the root looks the same (mounted again at once): the same.
  h.watcher().on.onRootGone();
  await settle();
  assert.equal(h.watchers.length, 3);
  assert.equal(h.loop.replacements, 2);
  assert.equal(h.calls.length, 2);
});

test('a listing owed while the root is away is not forgotten: it runs once the disk is back', async () => {
  // The daemon starts before the disk is mounted, and the folder was never listed (new folder, new bucket).
  const h = harness({ auto: () => report() });
  h.state.root = undefined;
  await h.loop.start();
  h.loop.begin({ kind: 'listing' }, undefined);
  h.watcher()?.batch({ kind: 'paths', paths: ['a.jpg'] });
  await h.clock.advance(2 * ROOT_POLL_MS);
  assert.deepEqual(h.calls, [], 'nothing runs on a missing root');
  h.state.root = ID;
  const back = h.clock.now();
  await h.clock.advance(ROOT_POLL_MS);
  // a listing covers the rescan after the re-arm: one reconcile, and it lists (adopts what the bucket holds)
  assert.deepEqual(h.seen(), [`${back + ROOT_POLL_MS} listing`]);
});

test('a listing asked for while a reconcile runs survives a remount meanwhile', async () => {
  const h = harness();
  await h.loop.start();
  h.loop.begin({ kind: 'local' }, 1);
  h.loop.request({ kind: 'listing' }); // the verify timer, while the first reconcile runs
  h.state.root = { ...ID, mount: '44' }; // remounted meanwhile
  h.calls[0]!.resolve();
  await h.clock.advance(ROOT_POLL_MS);
  for (const c of h.calls.slice(1)) c.resolve();
  await settle();
  assert.deepEqual(h.seen().map((s) => s.split(' ')[1]), ['local', 'listing'], 'the listing still runs after the re-arm');
});

test('failed files are retried alone after 10 s, 20 s, 40 s ... and no more once they succeed', async () => {
  let bad = 3;
  const h = harness({
    auto: (scope) => {
      const failing = scope.kind === 'paths' && scope.paths.includes('bad.jpg') && bad-- > 0;
      h.state.failures = failing ? 1 : 0;
      return report({ ok: !failing, failed: failing ? [{ rel: 'bad.jpg', reason: 'HTTP 500' }] : [] });
    },
  });
  await h.loop.start();
  h.loop.request({ kind: 'paths', paths: ['bad.jpg', 'ok.jpg'] });
  await settle();
  assert.equal(h.loop.live().failedFiles, 1, 'status counts the failing file');
  await h.clock.advance(3_600_000);
  const b = RETRY_BASE_MS;
  assert.deepEqual(h.seen(), ['0 paths:bad.jpg,ok.jpg', `${b} paths:bad.jpg`, `${3 * b} paths:bad.jpg`, `${7 * b} paths:bad.jpg`]);
  assert.equal(h.loop.live().failedFiles, 0);
});

test('a full rescan that no longer fails a file cancels its retry', async () => {
  let first = true;
  const h = harness({
    auto: () => {
      const fail = first;
      first = false;
      return report({ failed: fail ? [{ rel: 'dir/bad.jpg', reason: 'EACCES' }] : [] });
    },
  });
  await h.loop.start();
  h.loop.request({ kind: 'paths', paths: ['dir/bad.jpg'] });
  await h.clock.advance(1000);
  h.loop.request({ kind: 'local' }); // covers everything, and it succeeds
  await h.clock.advance(3_600_000);
  assert.deepEqual(h.seen(), ['0 paths:dir/bad.jpg', '1000 local']);
});

test('event storms: "everything" is one local rescan; batches while a reconcile runs become one reconcile', async () => {
  const h = harness();
  await h.loop.start();
  h.watcher().batch({ kind: 'everything', reason: 'event storm' });
  assert.equal(h.logs.filter((l) => l.msg === 'rescanning the folder' && l.reason === 'event storm').length, 1);
  assert.equal(h.loop.live().running, 'local');
  for (let i = 0; i < 200; i++) h.watcher().batch({ kind: 'paths', paths: [`f${i}.jpg`, 'same.jpg'] });
  assert.equal(h.calls.length, 1, 'one reconcile at a time');
  assert.equal(h.loop.live().pending, 201, 'the paths wait, each once');
  h.calls[0]!.resolve();
  await settle();
  assert.equal(h.calls.length, 2, 'the waiting paths are one reconcile');
  const second = h.calls[1]!.scope;
  assert.equal(second.kind, 'paths');
  assert.equal(second.kind === 'paths' && second.paths.length, 201);
  assert.equal(h.loop.live().running, '201 path(s)');
  // A rescan asked for while paths wait covers them; a batch naming the root itself is a rescan too.
  h.watcher().batch({ kind: 'paths', paths: ['x.jpg'] });
  h.watcher().batch({ kind: 'paths', paths: [''] });
  h.calls[1]!.resolve();
  await settle();
  h.calls[2]!.resolve();
  await settle();
  assert.deepEqual(h.seen().map((s) => s.split(' ')[1]!.split(':')[0]), ['local', 'paths', 'local']);
});

test('stop while a reconcile runs: nothing new starts, idle() resolves when it ends, timers are gone', async () => {
  const h = harness();
  await h.loop.start();
  h.loop.request({ kind: 'paths', paths: ['x.jpg'] });
  h.calls[0]!.resolve(report({ ok: false, failed: [{ rel: 'x.jpg', reason: 'EACCES' }] })); // a retry is due in 10 s
  await settle();
  h.loop.request({ kind: 'paths', paths: ['a.jpg'] });
  h.loop.request({ kind: 'paths', paths: ['b.jpg'] }); // waits for the running one
  const closing = h.loop.close();
  assert.equal(h.loop.live().state, 'stopped');
  await closing;
  assert.equal(h.watcher().closed, true);
  assert.equal(h.clock.pendingTimers, 0, 'no timer left to keep the process alive (root checks, the retry)');
  h.loop.request({ kind: 'local' });
  assert.equal(h.loop.live().pending, 1, 'b.jpg still waits (the next start covers it); nothing is added after stop');
  let idle = false;
  void h.loop.idle().then(() => (idle = true));
  await settle();
  assert.equal(idle, false, 'the running reconcile is still running');
  // It ends with an abort (the daemon's hard stop): not fatal when stopping.
  h.calls[1]!.reject(Object.assign(new Error('stopped'), { name: 'AbortError' }));
  await settle();
  assert.equal(idle, true);
  await h.clock.advance(3_600_000);
  assert.deepEqual(h.seen(), ['0 paths:x.jpg', '0 paths:a.jpg'], 'no reconcile after stop, not even the retry');
  assert.deepEqual(h.fatals, []);
});

test('the root is looked at once before and once after a reconcile; back to back, the look after serves the next', async () => {
  const h = harness();
  await h.loop.start();
  const start = h.state.looks;
  h.loop.request({ kind: 'paths', paths: ['a.jpg'] });
  assert.equal(h.state.looks - start, 1, 'one look before');
  h.loop.request({ kind: 'paths', paths: ['b.jpg'] });
  h.calls[0]!.resolve();
  await settle();
  assert.equal(h.calls.length, 2);
  assert.equal(h.state.looks - start, 2, 'the look after the first reconcile is the look before the second');
  h.calls[1]!.resolve();
  await settle();
  assert.equal(h.state.looks - start, 3);
});
