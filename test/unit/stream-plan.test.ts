// Property test: the streamed reconcile (folder/merge.ts + folder/stream.ts, its spool in SQLite) decides exactly
// what the in-memory planner (plan.ts + policy.settleRenames + the delete guard) decides, on random trees, rows and
// listings: same actions (uploads, checks, copies from the same sources, deletes, trashes, forgets), same
// unchanged count, same delete-guard verdict. Seeded; a failure prints the seed and the case.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeleteMode } from '../../src/config.js';
import { FolderUnsafeError } from '../../src/errors.js';
import { Merge } from '../../src/folder/merge.js';
import { emptyReport } from '../../src/folder/report.js';
import { StreamedReconcile, type StreamSink } from '../../src/folder/stream.js';
import type { FolderDeps } from '../../src/folder/types.js';
import { compareKeys, toKey } from '../../src/keys.js';
import type { LocalFile } from '../../src/local/scan.js';
import type { WalkItem } from '../../src/local/walk.js';
import { createLogger } from '../../src/log.js';
import { plan, type Action } from '../../src/plan.js';
import { checkDeletes, settleRenames, withoutDeletes } from '../../src/policy.js';
import type { RemoteObject } from '../../src/remote/bucket.js';
import { Spool } from '../../src/state/spool.js';
import type { ObjectRow } from '../../src/state/store.js';

const PREFIX = 'p/';
const NAMES = ['a', 'b', 'a.txt', 'a0', 'x', '\u00e9', 'e\u0301x', '\uffee', '\u{1f600}', 'z'];

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s % n;
  };
}

interface Case {
  local: Map<string, LocalFile>;
  stored: Map<string, ObjectRow>;
  remote: Map<string, RemoteObject> | undefined;
  unknownPrefixes: string[];
  unknownKeys: Set<string>;
  deletes: DeleteMode;
  maxDelete: number;
}

const sorted = <T>(m: Map<string, T>) => new Map([...m].sort(([a], [b]) => compareKeys(a, b)));

/** A random folder: paths of up to 3 components, files, rows of them (fresh, stale or gone), a listing that drifts. */
function randomCase(seed: number): Case {
  const r = rng(seed);
  const relOf = () => Array.from({ length: 1 + r(3) }, () => NAMES[r(NAMES.length)]).join('/');
  const rels = new Set<string>();
  for (let i = 0, n = 5 + r(30); i < n; i++) rels.add(relOf());
  // a path can't be a file and a directory at once: drop files that are a parent of another path
  const paths = [...rels].filter((p) => ![...rels].some((q) => q.startsWith(p + '/')));
  const local = new Map<string, LocalFile>();
  const stored = new Map<string, ObjectRow>();
  const remote = new Map<string, RemoteObject>();
  const listed = r(3) > 0;
  for (const rel of paths) {
    const key = toKey(PREFIX, rel);
    if (local.has(key) || stored.has(key)) continue;
    const size = 1 + r(3);
    const ino = String(r(6));
    const file: LocalFile = { rel, key, size, mtimeNs: String(r(3)), ctimeNs: '0', ino, mtimeMs: 0 };
    const here = r(4) > 0;
    if (here) local.set(key, file);
    const hasRow = r(3) > 0;
    const etag = `e${r(3)}`;
    if (hasRow) {
      const stale = r(3) === 0;
      stored.set(key, { key, rel, size: stale ? 1 + r(3) : size, mtimeNs: stale ? '9' : file.mtimeNs, ino: r(4) === 0 ? String(r(6)) : ino, etag, md5: null, partSize: 0, syncedAt: 0 });
    }
    const obj = r(4);
    if (obj > 0) remote.set(key, { key, size: obj === 1 ? 1 + r(3) : (hasRow ? stored.get(key)!.size : size), etag: obj === 2 ? `e${r(3)}` : etag });
  }
  const unknownPrefixes = r(3) === 0 ? [toKey(PREFIX, NAMES[r(NAMES.length)]! + '/')] : [];
  const unknownKeys = new Set<string>();
  for (const k of [...stored.keys(), ...remote.keys()]) if (!local.has(k) && r(10) === 0) unknownKeys.add(k);
  const modes: DeleteMode[] = ['mirror', 'trash', 'keep'];
  return {
    local: sorted(local), stored: sorted(stored), remote: listed ? sorted(remote) : undefined, unknownPrefixes, unknownKeys,
    deletes: modes[r(3)]!, maxDelete: r(2) ? 1e9 : r(4),
  };
}

const spared = (rel: string) => rel.startsWith('x');

/** The in-memory planner, with every copy succeeding and the delete guard applied, as folder.ts did. */
function inMemory(c: Case): { actions: Action[]; unchanged: number; refused: boolean } {
  const p = plan({
    local: c.local, stored: c.stored, remote: c.remote, prefix: PREFIX, deletes: c.deletes, trashPrefix: 't/',
    unknownPrefixes: c.unknownPrefixes, unknownKeys: c.unknownKeys, excluded: spared, deleteExcluded: false,
  });
  const copies = new Map(p.actions.filter((a) => a.type === 'copy').map((a) => [a.key, 'copied']));
  const settled = settleRenames(p.actions, copies);
  const total = Math.max(c.stored.size, c.remote?.size ?? 0);
  const v = checkDeletes(settled, total, { kind: 'count', count: c.maxDelete }, { name: 'f', path: '/x', bucket: 'b', prefix: PREFIX });
  return { actions: v.refused ? withoutDeletes(settled) : settled, unchanged: p.unchanged, refused: v.refused };
}

/** The walk's items for the case: files, unknown keys and prefixes, in key order (a prefix before the keys under it). */
function walkItems(c: Case): WalkItem[] {
  const items: WalkItem[] = [...c.local.values()].map((file) => ({ kind: 'file', file }));
  for (const key of c.unknownKeys) items.push({ kind: 'unknown-key', key });
  for (const prefix of c.unknownPrefixes) items.push({ kind: 'unknown-prefix', prefix });
  const pos = (w: WalkItem) => (w.kind === 'file' ? w.file.key : w.kind === 'unknown-prefix' ? w.prefix : w.key);
  return items.sort((a, b) => compareKeys(pos(a), pos(b)) || (a.kind === 'unknown-prefix' ? -1 : 1));
}

async function* pages<T>(items: T[], size: number): AsyncGenerator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** The streamed reconcile of the case, with a sink that records what it is given (every copy succeeds). */
async function streamed(c: Case, pageSize: number): Promise<{ actions: Action[]; unchanged: number; refused: boolean }> {
  const spool = new Spool();
  const actions: Action[] = [];
  const sink: StreamSink = {
    stopped: false,
    async file(a) {
      actions.push(a);
      if (a.type === 'copy') spool.settle(a.from, 'copied');
    },
    async settle() {},
    async removals(list) {
      actions.push(...list);
    },
  };
  const report = emptyReport({ name: 'f', path: '/x' });
  const deps = { config: { name: 'f', path: '/x', bucket: 'b', prefix: PREFIX, deletes: c.deletes, trashPrefix: 't/' } } as unknown as FolderDeps;
  const rows = [...c.stored.values()];
  const rowPages = Array.from({ length: Math.ceil(rows.length / pageSize) }, (_, i) => rows.slice(i * pageSize, (i + 1) * pageSize));
  const merge = new Merge(pages(walkItems(c), pageSize), rowPages, c.remote ? pages([...c.remote.values()], pageSize) : undefined);
  try {
    await new StreamedReconcile(deps, spool, sink, {
      listed: !!c.remote, maxDelete: { kind: 'count', count: c.maxDelete }, allowEmpty: true, deferNew: c.stored.size > 0,
      spared, merged: () => c.local.size,
    }, report, createLogger({ level: 'silent', out: { write: () => undefined } })).run(merge);
  } finally {
    spool.close();
  }
  return { actions, unchanged: report.unchanged, refused: report.error !== undefined };
}

const show = (a: Action) => JSON.stringify({ ...a, file: 'file' in a ? a.file.rel : undefined });
const canon = (as: Action[]) => as.map(show).sort();

test('the streamed reconcile decides what the in-memory planner decides (2,000 random folders)', async () => {
  for (let seed = 1; seed <= 2000; seed++) {
    const c = randomCase(seed);
    const want = inMemory(c);
    const got = await streamed(c, 1 + (seed % 4));
    const where = `seed ${seed}: ${JSON.stringify({ local: [...c.local.keys()], stored: [...c.stored.values()], remote: c.remote && [...c.remote.values()], unknown: [...c.unknownKeys, ...c.unknownPrefixes], deletes: c.deletes, maxDelete: c.maxDelete })}`;
    assert.deepEqual(canon(got.actions), canon(want.actions), where);
    assert.equal(got.unchanged, want.unchanged, where);
    assert.equal(got.refused, want.refused, where);
  }
});

test('the streamed reconcile of a root gone empty refuses before any removal, as the in-memory one did', async () => {
  const c = randomCase(5);
  c.local.clear();
  c.stored.set('p/q', { key: 'p/q', rel: 'q', size: 1, mtimeNs: '1', ino: '1', etag: 'e', md5: null, partSize: 0, syncedAt: 0 });
  const spool = new Spool();
  const removed: Action[] = [];
  const sink: StreamSink = { stopped: false, async file() {}, async settle() {}, async removals(l) { removed.push(...l); } };
  const deps = { config: { name: 'f', path: '/x', bucket: 'b', prefix: PREFIX, deletes: 'mirror', trashPrefix: 't/' } } as unknown as FolderDeps;
  const merge = new Merge(pages([], 1), [[...c.stored.values()]], undefined);
  const run = new StreamedReconcile(deps, spool, sink, {
    listed: false, maxDelete: { kind: 'count', count: 1e9 }, allowEmpty: false, deferNew: true, spared, merged: () => 0,
  }, emptyReport({ name: 'f', path: '/x' }), createLogger({ level: 'silent', out: { write: () => undefined } })).run(merge);
  await assert.rejects(run, (err: unknown) => err instanceof FolderUnsafeError && /is empty, but the state DB recorded/.test((err as Error).message));
  spool.close();
  assert.deepEqual(removed, [], 'nothing removed or forgotten');
});

test('a graceful stop during the merge: the queued transfers settle, nothing more is sent, no removal runs', async () => {
  const c = randomCase(11);
  c.deletes = 'mirror';
  const local = new Map<string, LocalFile>();
  for (let i = 0; i < 50; i++) {
    const key = `p/f${String(i).padStart(2, '0')}`;
    local.set(key, { rel: key.slice(2), key, size: 1, mtimeNs: '1', ctimeNs: '0', ino: String(i), mtimeMs: 0 });
  }
  const rows = [{ key: 'p/gone', rel: 'gone', size: 5, mtimeNs: '1', ino: '99', etag: 'e', md5: null, partSize: 0, syncedAt: 0 }];
  const spool = new Spool();
  let sent = 0;
  let settled = 0;
  const removed: Action[] = [];
  const sink: StreamSink = {
    get stopped() { return sent >= 10; },
    async file() { sent++; },
    async settle() { settled++; },
    async removals(l) { removed.push(...l); },
  };
  const deps = { config: { name: 'f', path: '/x', bucket: 'b', prefix: PREFIX, deletes: 'mirror', trashPrefix: 't/' } } as unknown as FolderDeps;
  const merge = new Merge(pages([...local.values()].map((file): WalkItem => ({ kind: 'file', file })), 7), [rows], undefined);
  const complete = await new StreamedReconcile(deps, spool, sink, {
    listed: false, maxDelete: { kind: 'count', count: 1e9 }, allowEmpty: false, deferNew: false, spared, merged: () => 50,
  }, emptyReport({ name: 'f', path: '/x' }), createLogger({ level: 'silent', out: { write: () => undefined } })).run(merge);
  spool.close();
  assert.equal(complete, false, 'not a complete reconcile: the folder is not marked synced or listed');
  assert.equal(sent, 10, 'nothing queued after the stop');
  assert.ok(settled >= 1, 'the queued transfers were waited for');
  assert.deepEqual(removed, [], 'removals wait for the next run');
});
