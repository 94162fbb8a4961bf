// `sync --trust-state`: a folder whose prefix was listed less than daemon.verifyInterval ago, with no unclean stop
// since, is compared with the state DB alone. An unchanged folder then costs no request at all, changes cost
// exactly their PUT/DELETE, and the listing comes back when it is due, after an unclean stop, or for a folder
// never listed. The summary (human and --json) says which it was and when the prefix was last listed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { fixture, type Fixture } from '../harness/mirror.js';
import { Database } from '../../src/state/sqlite.js';

const keyOf = (f: Fixture, rel: string) => f.prefix + rel;
const total = (f: Fixture) => { const c = f.proxy.counts(); return c.classA + c.classB + c.free; };

function setFolder(f: Fixture, sql: string, ...params: unknown[]): void {
  const db = new Database(f.statePath);
  try {
    assert.equal(db.prepare(sql).run(...params).changes, 1);
  } finally {
    db.close();
  }
}

describe('sync --trust-state', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture('trust-state');
    for (let i = 0; i < 6; i++) f.write(`d/f${i}.txt`, `file ${i}`);
  });
  after(() => f.close());

  test('a folder never listed is listed, and the summary says why', async () => {
    const r = await f.run(['--trust-state', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json.folders[0].listing, { listed: true, why: 'never listed' });
    assert.equal(r.json.totals.uploaded.files, 6);
    assert.ok((f.proxy.counts().byOp.ListObjectsV2 ?? 0) >= 1);
  });

  test('unchanged since a recent listing: no request at all', async () => {
    f.proxy.resetCounts();
    const r = await f.run(['--trust-state', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.folders[0].listing.listed, false);
    assert.ok(Math.abs(r.json.folders[0].listing.lastListedAt - Date.now()) < 120_000, 'the listing of the first run');
    assert.equal(r.json.totals.unchanged, 6);
    assert.deepEqual(f.proxy.counts().byOp, {});
    assert.equal(total(f), 0);
    const human = await f.run(['--trust-state']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /state DB trusted, bucket not listed \(last listed \d{4}-\d\d-\d\dT[\d:]+Z \(\d+ s ago\)\)/);
    assert.equal(total(f), 0);
  });

  test('changes cost exactly their PUT and DELETE, no LIST; the delete guard still counts', async () => {
    f.write('new.txt', 'new');
    fs.rmSync(path.join(f.root, 'd/f0.txt'));
    f.proxy.resetCounts();
    const r = await f.run(['--trust-state', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(f.proxy.counts().byOp, { PutObject: 1, DeleteObjects: 1 });
    assert.equal(r.json.totals.uploaded.files, 1);
    assert.equal(r.json.totals.deleted, 1);
    // four files gone, two allowed: refused whole, without a listing too
    for (const i of [1, 2, 3, 4]) fs.rmSync(path.join(f.root, `d/f${i}.txt`));
    f.proxy.resetCounts();
    const refused = await f.run(['--trust-state', '--max-delete', '2', '--json']);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.json.folders[0].error, /refusing to delete 4 of 6 objects/);
    assert.equal(refused.json.folders[0].listing.listed, false);
    assert.equal(f.proxy.counts().byOp.DeleteObjects, undefined);
    for (const i of [1, 2, 3, 4]) f.write(`d/f${i}.txt`, `file ${i}`);
    assert.equal((await f.run([])).code, 0);
  });

  test('a listing older than daemon.verifyInterval is due: listed, and drift behind our back is repaired', async () => {
    await f.client.send(new DeleteObjectCommand({ Bucket: f.bucket, Key: keyOf(f, 'd/f5.txt') })); // another tool
    f.proxy.resetCounts();
    const trusted = await f.run(['--trust-state', '--json']);
    assert.equal(trusted.json.folders[0].listing.listed, false);
    assert.equal(trusted.json.totals.uploaded.files, 0, 'trusted state cannot see drift: that is what the listing is for');
    const old = Date.now() - 25 * 3600_000;
    setFolder(f, 'UPDATE folders SET last_list = ?', old);
    const r = await f.run(['--trust-state', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json.folders[0].listing, { listed: true, why: 'listing due', lastListedAt: old });
    assert.ok((f.proxy.counts().byOp.ListObjectsV2 ?? 0) >= 1);
    assert.equal(r.json.totals.uploaded.files, 1, 'the object deleted behind our back is uploaded again');
    assert.ok((await f.objects()).has(keyOf(f, 'd/f5.txt')));
    setFolder(f, 'UPDATE folders SET last_list = ?', old);
    const human = await f.run(['--trust-state']);
    assert.match(human.stdout, /bucket listed: the last listing is older than daemon\.verifyInterval \(last listed .* \(\d+ h ago\)\)/);
  });

  test('after an unclean stop the folder owes a listing: listed even though the last one is recent', async () => {
    setFolder(f, 'UPDATE folders SET needs_list = 1');
    f.proxy.resetCounts();
    const r = await f.run(['--trust-state', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.folders[0].listing.listed, true);
    assert.equal(r.json.folders[0].listing.why, 'unclean stop');
    assert.ok((f.proxy.counts().byOp.ListObjectsV2 ?? 0) >= 1);
    // the listing converged: trusted again
    f.proxy.resetCounts();
    const next = await f.run(['--trust-state', '--json']);
    assert.equal(next.json.folders[0].listing.listed, false);
    assert.equal(total(f), 0);
  });

  test('without --trust-state every sync lists, and the summary has no listing line', async () => {
    f.proxy.resetCounts();
    const r = await f.run(['--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.folders[0].listing, undefined);
    assert.ok((f.proxy.counts().byOp.ListObjectsV2 ?? 0) >= 1);
  });
});
