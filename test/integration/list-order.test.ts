// listInOrder against a real S3 server (Ceph RGW) behind the R2 proxy, with split keys from a real state DB: the
// keys come out exactly once, in compareKeys (UTF-8 byte) order, for the LIST requests of one sequential walk;
// ranges are listed concurrently but at most LIST_PARALLEL (8) ahead of the consumer (the memory bound: ranges x
// pages, not the object count); a failed page is retried after the last key seen; leaving early aborts what is
// in flight and lets no rejection escape; an error that retries cannot fix comes out of next().

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { listInOrder } from '../../src/folder/list.js';
import { compareKeys } from '../../src/keys.js';
import { Bucket, createClient } from '../../src/remote/bucket.js';
import type { RemoteObject } from '../../src/remote/bucket.js';
import { Store } from '../../src/state/store.js';
import { fixture, type Fixture } from '../harness/mirror.js';
import type { OpInfo } from '../harness/r2proxy.js';

const PREFIX = 'lo/';
/** Inside the prefix, so the listing sees it and must leave it out; sorts after every other key (all 'lo/d...'). */
const TRASH = 'lo/zz-trash/';
/** Characters that need escaping in URLs or XML, and ones whose UTF-16 order differs from their UTF-8 order. */
const NAMES = ['plain', 'with space', 'plus+sign', 'per%cent', 'amp&er', '<angle>', '"quote"', "apo'strophe", 'hash#', 'que?ry',
  'eq=semi;comma,', 'bang!star*(paren)', '[br]{ace}|pipe', 'back\\slash', 'caret^tick`at@dollar$', 'tilde~', 'caf\u00e9', 'stra\u00dfe',
  'nb\u00a0sp', '\u4e2d\u6587', '\u{1f600}emoji', '\u{10348}gothic', '\uffeehalfwidth', '\ue000private', '\uffee\u{1f600}', '\u{1f600}\uffee'];
const N = 2_500;
const TRASHED = 20;

let f: Fixture;
let bucket: Bucket;
let client: S3Client;
let store: Store;
let dbDir: string;
/** Every key uploaded under PREFIX (trash included), and the ones a listing must yield, in compareKeys order. */
let all: string[];
let expected: string[];
const inFlight = { now: 0, max: 0 };
const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);

const retry = { retries: 3, baseMs: 10 };
const config = { prefix: PREFIX, trashPrefix: TRASH };
const lists = () => f.proxy.counts().byOp.ListObjectsV2 ?? 0;

/** The keys of a whole listing, in the order yielded, and the page sizes. */
async function collect(iter: AsyncIterable<RemoteObject[]>): Promise<{ keys: string[]; pages: number[] }> {
  const keys: string[] = [];
  const pages: number[] = [];
  for await (const page of iter) {
    pages.push(page.length);
    for (const o of page) keys.push(o.key);
  }
  return { keys, pages };
}

/** ListObjectsV2 requests carrying this query parameter (start-after: ranges but the first). */
const listsWith = (param: string) => (op: OpInfo) => op.op === 'ListObjectsV2' && (op as OpInfo & { query: URLSearchParams }).query.has(param);

describe('listInOrder against RGW', () => {
  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    f = await fixture('list-order', { prefix: PREFIX });
    // maxAttempts 1: faults reach listInOrder's own per-page retry instead of the SDK's.
    ({ client } = createClient({ endpoint: f.proxy.endpoint, accessKeyId: f.env.accessKeyId, secretAccessKey: f.env.secretAccessKey, requestTimeoutMs: 30_000, maxSockets: 16, maxAttempts: 1 }));
    client.middlewareStack.add((next, ctx) => async (args) => {
      if (ctx.commandName !== 'ListObjectsV2Command') return next(args);
      inFlight.max = Math.max(inFlight.max, ++inFlight.now);
      try {
        return await next(args);
      } finally {
        inFlight.now--;
      }
    }, { step: 'deserialize', name: 'testListsInFlight' });
    bucket = new Bucket(client, f.bucket);
    const keys: string[] = [];
    for (let i = 0; keys.length < N - TRASHED; i++) keys.push(`${PREFIX}d${String(i % 40).padStart(2, '0')}/${NAMES[i % NAMES.length]}-${(i * 7919) % 10_007}`);
    for (let i = 0; i < TRASHED; i++) keys.push(`${TRASH}old-${i}`);
    // Straight to the server (not counted): 32 small PUTs at a time.
    for (let i = 0; i < keys.length; i += 32) {
      await Promise.all(keys.slice(i, i + 32).map((Key) => f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key, Body: Key }))));
    }
    all = [...keys].sort(compareKeys);
    expected = all.filter((k) => !k.startsWith(TRASH));
    assert.notDeepEqual(expected, [...expected].sort(), 'the keys are ones where UTF-16 order and byte order differ');
    // The rows a state DB would hold for them: the split keys come from the store, as the merge will take them.
    dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'r2m-list-order-'));
    store = Store.open(path.join(dbDir, 'state.db'));
    store.folder('lo', f.bucket, PREFIX);
    store.batch(() => {
      for (const key of expected) {
        store.put('lo', { key, rel: key.slice(PREFIX.length), size: Buffer.byteLength(key), mtimeNs: '0', ino: '1', etag: 'e', md5: null, partSize: 0, syncedAt: 0 });
      }
    });
  });
  after(async () => {
    store?.close();
    if (dbDir) fs.rmSync(dbDir, { recursive: true, force: true });
    client?.destroy();
    await f?.close();
    process.off('unhandledRejection', onUnhandled);
  });

  test('split by the stored keys: every key once in compareKeys order, trash left out, LISTs of one sequential walk, ranges concurrent', async () => {
    const split = store.splitKeys('lo');
    assert.deepEqual(split, [expected[999], expected[1999]], 'every 1000th stored key');
    f.proxy.resetCounts();
    inFlight.max = 0;
    const { keys, pages } = await collect(listInOrder(bucket, config, split, retry));
    assert.equal(keys.length, expected.length);
    assert.deepEqual(keys, expected, 'exactly the uploaded keys (no trash), in compareKeys order');
    assert.ok(pages.every((n) => n > 0 && n <= 1000), `pages: ${pages.join(', ')}`);
    // Ranges of 1000, 1000 and 480 + 20 trash keys: one request each, as one walk of 2,500 keys would cost.
    assert.equal(lists(), Math.ceil(N / 1000), 'LIST requests');
    assert.equal(inFlight.max, 3, 'the three ranges were listed at the same time');
    assert.equal(inFlight.now, 0);

  });

  test('a slow consumer: at most 8 ranges are listed ahead of it, whatever the number of ranges', async () => {
    const split = store.splitKeys('lo', 100); // 25 ranges of ~100 keys, one request each
    assert.equal(split.length, 24);
    f.proxy.resetCounts();
    inFlight.max = 0;
    const it =  listInOrder(bucket, config, split, retry)[Symbol.asyncIterator]() as AsyncIterator<RemoteObject[], undefined>;
    const first = await it.next();
    assert.deepEqual(first.value?.map((o) => o.key), expected.slice(0, 100));
    await sleep(500); // the consumer dawdles: the listers must not run on through the whole bucket
    assert.equal(lists(), 8, 'LIST requests while the consumer holds the first page: the 8 open ranges only');
    const rest: string[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(...r.value.map((o) => o.key));
    assert.deepEqual([...first.value!.map((o) => o.key), ...rest], expected);
    assert.equal(lists(), 25, 'one request per range');
    assert.ok(inFlight.max <= 8 && inFlight.max >= 2, `at most 8 LISTs at once, and concurrent (${inFlight.max})`);
  });

  test('a page that fails is retried on its own, after the last key seen', async () => {
    // One range of three pages: the requests for pages 2 and 3 (sent with a continuation token) fail once each.
    f.proxy.setFaults({ seed: 1, rate: 1, kinds: ['500', '503'], only: listsWith('continuation-token'), maxFaults: 2 });
    f.proxy.resetCounts();
    try {
      const { keys } = await collect(listInOrder(bucket, config, [], retry));
      assert.deepEqual(keys, expected, 'no key lost or repeated across the retries');
      assert.equal(f.proxy.faultsInjected(), 2);
      assert.equal(lists(), Math.ceil(N / 1000) + 2, 'a request more than the walk per failure: the failed page only');
    } finally {
      f.proxy.setFaults(undefined);
    }
  });

  test('breaking out after the first page aborts the requests in flight; nothing runs on, no rejection escapes', async () => {
    // Ranges but the first answer after 3 s: when the first page arrives, two requests are still running.
    f.proxy.setFaults({ seed: 1, rate: 1, kinds: ['slow'], slowMs: 3_000, only: listsWith('start-after') });
    f.proxy.resetCounts();
    try {
      const t0 = performance.now();
      let got = 0;
      for await (const page of listInOrder(bucket, config, store.splitKeys('lo'), retry)) {
        got += page.length;
        assert.equal(inFlight.now, 2, 'the other two ranges are still being listed');
        break;
      }
      const ms = performance.now() - t0;
      assert.equal(got, 1000);
      assert.equal(inFlight.now, 0, 'no LIST request runs once the loop is left');
      assert.ok(ms < 2_000, `leaving did not wait for the slow answers (${Math.round(ms)} ms)`);
      const count = lists();
      assert.equal(count, 3);
      await sleep(1_000);
      assert.equal(lists(), count, 'no request was sent after the loop was left');
      assert.deepEqual(unhandled, [], 'no unhandled rejection');
    } finally {
      f.proxy.setFaults(undefined);
    }
  });

  test('an error that retries cannot fix ends the iteration with that error; the other ranges stop', async () => {
    // A later range is refused (403, as R2 answers a token without list permission): fatal, never retried.
    f.proxy.setFaults({ seed: 1, rate: 1, kinds: ['403'], only: listsWith('start-after'), maxFaults: 1 });
    f.proxy.resetCounts();
    const split = store.splitKeys('lo');
    try {
      const seen: string[] = [];
      await assert.rejects(async () => {
        for await (const page of listInOrder(bucket, config, split, retry)) seen.push(...page.map((o) => o.key));
      }, (err: Error) => /AccessDenied|403/.test(`${err.name} ${err.message} ${(err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode}`));
      assert.ok(seen.length < expected.length, 'the listing did not end as if it were complete');
      assert.deepEqual(seen, expected.slice(0, seen.length), 'what came before the error was in order');
      assert.equal(f.proxy.faultsInjected(), 1);
      assert.ok(lists() <= 3, `no retry of the refused page (${lists()} LISTs)`);
      assert.equal(inFlight.now, 0);
      await sleep(200);
      assert.deepEqual(unhandled, [], 'no unhandled rejection');
    } finally {
      f.proxy.setFaults(undefined);
    }
  });

  test('split keys out of order are refused at once', () => {
    assert.throws(() => listInOrder(bucket, config, [expected[1999]!, expected[999]!], retry), RangeError);
    assert.throws(() => listInOrder(bucket, config, [expected[5]!, expected[5]!], retry), RangeError);
  });
});
