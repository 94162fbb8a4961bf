// A trash that empties itself: trashRetention puts an expiry rule in the bucket's lifecycle configuration (and keeps
// it, without touching other rules); where the bucket has no lifecycle API, the listing deletes expired trash
// itself; `status` shows the trash; `restore --from-trash` brings a deleted file back.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetBucketLifecycleConfigurationCommand, ListObjectsV2Command, PutBucketLifecycleConfigurationCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { loadConfig } from '../../src/config.js';
import { tendTrash } from '../../src/folder/trash.js';
import { createLogger } from '../../src/log.js';
import { createClient } from '../../src/remote/bucket.js';
import { Store } from '../../src/state/store.js';
import { fixture, md5, type Fixture } from '../harness/mirror.js';

const TRASH = 'trash/host1/data/';

describe('trashRetention', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture('trashexpiry', { folderYaml: `    deletes: trash\n    trashPrefix: ${TRASH}\n    trashRetention: 30d` });
  });
  after(async () => {
    await f.close();
  });

  const rules = async () => (await f.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: f.bucket }))).Rules ?? [];

  test('a lifecycle rule expires the trash after 30 days; the bucket\'s other rules stay; set once, not on every sync', async () => {
    await f.client.send(new PutBucketLifecycleConfigurationCommand({
      Bucket: f.bucket, LifecycleConfiguration: { Rules: [{ ID: 'someone-else', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 7 } }] },
    }));
    for (const n of ['a.txt', 'b.txt', 'c.txt']) f.write(n, `content of ${n}\n`);
    f.proxy.resetCounts();
    assert.equal((await f.run([])).code, 0);
    fs.rmSync(path.join(f.root, 'b.txt'));
    const r = await f.run(['--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.totals.trashed, 1);
    const got = await rules();
    const ours = got.find((x) => x.ID === `r2mirror-trash:${TRASH}`);
    assert.ok(ours, JSON.stringify(got));
    assert.equal(ours.Filter?.Prefix, TRASH);
    assert.equal(ours.Expiration?.Days, 30);
    assert.ok(got.some((x) => x.ID === 'someone-else'), 'the other rule is kept');
    assert.equal(f.proxy.counts().byOp.PutBucketLifecycleConfiguration, 1, 'written by the first listing, not again by the second');
    // a listing finds the rule in place: it reads it (one Class B), writes nothing
    f.proxy.resetCounts();
    const third = await f.run(['--json']);
    assert.equal(third.code, 0);
    const seen = f.proxy.counts();
    assert.equal(seen.byOp.PutBucketLifecycleConfiguration ?? 0, 0);
    assert.equal(seen.byOp.GetBucketLifecycleConfiguration, 1);
    assert.deepEqual([third.json.ops.classA, third.json.ops.classB], [seen.classA, seen.classB], 'the summary bills as R2 does (the rule read is Class B)');
    const st = await f.cmd('status', ['--json']);
    const trash = st.json.folders[0].trash;
    assert.deepEqual({ ...trash, listedAt: 0 }, { prefix: TRASH, retention: 30 * 86_400_000, expiry: 'rule', reason: null, files: 1, bytes: 'content of b.txt\n'.length, listedAt: 0 });
    const human = await f.cmd('status');
    assert.match(human.stdout, /trash: +1 files, 17 B under trash\/host1\/data\/ \(listed .*\); expire after 30d, by the bucket's lifecycle rule/);
  });

  test('restore --from-trash brings the deleted file back where it was', async () => {
    const r = await f.cmd('restore', ['--folder', 'data', '--to', f.root, '--from-trash', '--prefix', 'b.txt', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.restored, 1);
    assert.equal(fs.readFileSync(path.join(f.root, 'b.txt'), 'utf8'), 'content of b.txt\n');
    // the next sync uploads it again under its own key
    const s = await f.run(['--json']);
    assert.equal(s.json.totals.uploaded.files, 1);
    assert.equal((await f.objects()).get(`${f.prefix}b.txt`)?.etag, md5('content of b.txt\n'));
  });

  test('without a lifecycle API the listing deletes the expired trash itself: only trash, only when expired; said once', async () => {
    f.proxy.lifecycle = false;
    fs.rmSync(path.join(f.root, 'c.txt'));
    const first = await f.run(['--json']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.json.totals.trashed, 1);
    assert.ok(first.logs.some((l) => l.msg === 'no lifecycle rule for the trash: expired trash is deleted at each listing instead'), first.stderr);
    assert.ok((await listKeys(f, TRASH)).includes(`${TRASH}c.txt`), 'just trashed: not expired');
    const again = await f.run([]);
    assert.ok(!again.logs.some((l) => l.msg === 'no lifecycle rule for the trash: expired trash is deleted at each listing instead'), 'said once');
    // a sibling prefix that merely starts like the trash, and the mirror itself, are never touched
    await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: 'trash/host1/data2/other.txt', Body: 'not ours' }));
    // 31 days later (the listing's clock, the way the engine calls it after a listing reconcile)
    const config = loadConfig(f.configFile, {});
    const { client } = createClient({ endpoint: f.proxy.endpoint, accessKeyId: f.env.accessKeyId, secretAccessKey: f.env.secretAccessKey, requestTimeoutMs: 30_000, maxSockets: 4 });
    const store = Store.open(f.statePath, { readonly: false, lock: true });
    try {
      await tendTrash(client, config.folders[0]!, store, createLogger({ level: 'silent', out: { write: () => true } }), undefined, Date.now() + 31 * 86_400_000);
      assert.deepEqual(await listKeys(f, TRASH), [], 'the expired trash is gone');
      assert.deepEqual(await listKeys(f, 'trash/host1/data2/'), ['trash/host1/data2/other.txt'], 'a sibling prefix is kept');
      assert.deepEqual((await listKeys(f, f.prefix)).sort(), [`${f.prefix}a.txt`, `${f.prefix}b.txt`], 'the mirror is kept');
      assert.equal(store.trash('data')?.files, 0);
    } finally {
      store.close();
      client.destroy();
    }
    const st = await f.cmd('status', ['--json']);
    assert.equal(st.json.folders[0].trash.expiry, 'self');
    assert.match(st.json.folders[0].trash.reason, /no bucket lifecycle API/);
    f.proxy.lifecycle = true;
  });

  test("taking trashRetention off removes r2mirror's rule (and only it): the trash is kept again", async () => {
    // the lifecycle API is back: the listing records the rule as r2mirror's
    assert.equal((await f.run([])).code, 0);
    assert.equal((await f.cmd('status', ['--json'])).json.folders[0].trash.expiry, 'rule');
    assert.ok((await rules()).some((x) => x.ID === `r2mirror-trash:${TRASH}`));
    f.writeConfig(`    deletes: trash\n    trashPrefix: ${TRASH}`);
    const r = await f.run([]);
    assert.equal(r.code, 0, r.stderr);
    const left = await rules();
    assert.ok(!left.some((x) => x.ID === `r2mirror-trash:${TRASH}`), JSON.stringify(left));
    assert.ok(left.some((x) => x.ID === 'someone-else'), 'the other rule is kept');
    assert.equal((await f.cmd('status', ['--json'])).json.folders[0].trash, null);
  });

  test('--from-trash on a folder without a trash is a usage error', async () => {
    f.writeConfig('    deletes: mirror');
    const r = await f.cmd('restore', ['--folder', 'data', '--to', path.join(f.dir, 'x'), '--from-trash']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /restore --from-trash: folder data keeps no trash \(deletes: mirror/);
    f.writeConfig();
  });
});

/** The keys under `prefix`, straight from the server. */
async function listKeys(f: Fixture, prefix: string): Promise<string[]> {
  const res = await f.client.send(new ListObjectsV2Command({ Bucket: f.bucket, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key!);
}
