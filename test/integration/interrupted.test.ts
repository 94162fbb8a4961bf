// After a killed run, the next run, whichever folders it selects, sweeps the open multipart uploads of every
// folder the killed run reconciled (except those recorded to be resumed by the folder's next reconcile; all of a
// folder no longer configured), and closes the killed run only once all of them are swept; the folders it
// did not reconcile itself owe a listing (status says so). And `sync -f X -f X` reconciles X once.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { bytes, fixture, type Fixture } from '../harness/mirror.js';
import { MiB, assertMirror, openUploads, runs, waitFor, writeTree } from '../harness/verify.js';
import { listAll } from '../harness/s3server.js';

/** A second folder `b` beside the fixture's `data`, same bucket, its own prefix. */
function withFolderB(f: Fixture): { root: string; prefix: string } {
  const root = path.join(f.dir, 'b');
  fs.mkdirSync(root);
  const prefix = 'host1/b/';
  f.writeConfig(['  - name: b', `    path: ${root}`, `    bucket: ${f.bucket}`, `    prefix: ${prefix}`].join('\n'));
  return { root, prefix };
}

/** Run `sync` (both folders) and kill -9 it while the multipart upload under `prefix` is open; returns its run row. */
async function killDuringUploadOf(f: Fixture, prefix: string): Promise<{ id: number; finished_at: number | null }> {
  f.proxy.setFaults({ seed: 1, rate: 1, kinds: ['slow'], slowMs: 5000, only: (o) => o.op === 'UploadPart' });
  const cli = f.start(['--json'], { timeoutMs: 60_000 });
  let exited = false;
  void cli.result.then(() => (exited = true));
  await waitFor(() => exited || (f.proxy.counts().byOp.UploadPart ?? 0) > 0, 'a part of b/big.bin on its way', 30_000);
  assert.equal(exited, false, 'the run is still uploading');
  cli.child.kill('SIGKILL');
  await cli.result;
  f.proxy.setFaults(undefined);
  const killed = runs(f).at(-1)!;
  assert.equal(killed.finished_at, null, 'the killed run is unfinished');
  await waitFor(async () => (await openUploads(f)).some((u) => u.key.startsWith(prefix)), 'the open upload of b/big.bin', 10_000, 50);
  return killed;
}

async function statusOf(f: Fixture): Promise<{ json: any; text: string }> {
  const j = await f.cmd('status', ['--json']);
  assert.equal(j.code, 0, j.stderr);
  const t = await f.cmd('status');
  assert.equal(t.code, 0, t.stderr);
  return { json: JSON.parse(j.stdout), text: t.stdout };
}

describe('interrupted runs', () => {
  test('sync --folder A after a kill sweeps folder B too, and closes the killed run only once B is swept', async () => {
    const f = await fixture('interrupted-b');
    try {
      const b = withFolderB(f);
      const files = writeTree(f, 20);
      fs.writeFileSync(path.join(b.root, 'big.bin'), bytes(24 * MiB + 5, 7));
      // The killed run reconciles both folders; B's multipart upload is open (parts held back) when it dies.
      const killed = await killDuringUploadOf(f, b.prefix);
      // Before any restart, status already says both folders owe a listing.
      const before = await statusOf(f);
      assert.deepEqual(before.json.folders.map((x: any) => [x.name, x.needsList]), [['data', true], ['b', true]]);
      assert.match(before.text, /b: [^\n]*\n(  .*\n)*  unclean stop: +needs a listing after an unclean stop/);

      // 1. B's sweep fails (access denied on the listing of its uploads): the run selected only A finishes, the
      //    killed run stays unfinished, so the next start tries again.
      let sweeps = 0;
      f.proxy.setFaults({ seed: 2, rate: 1, kinds: ['403'], only: (o) => o.op === 'ListMultipartUploads' && sweeps++ === 1 });
      const r1 = await f.run(['--json', '-f', 'data']);
      f.proxy.setFaults(undefined);
      assert.equal(r1.code, 0, r1.stderr.slice(-2000));
      assert.ok(r1.logs.some((l) => l.msg.startsWith('could not sweep multipart uploads') && l.folder === 'b'), 'the failed sweep of b is logged');
      assert.ok((await openUploads(f)).some((u) => u.key.startsWith(b.prefix)), 'b/big.bin is still open');
      assert.equal(runs(f).find((r) => r.id === killed.id)!.finished_at, null, 'the killed run stays unfinished while b is not swept');

      // 2. The next run, again only A, sweeps B and closes the killed run. The sweep keeps b/big.bin's upload: it
      //    is recorded, to be resumed by B's next reconcile; an upload nobody recorded is aborted.
      const stray = await f.client.send(new CreateMultipartUploadCommand({ Bucket: f.bucket, Key: `${b.prefix}stray.bin` }));
      const r2 = await f.run(['--json', '-f', 'data']);
      assert.equal(r2.code, 0, r2.stderr.slice(-2000));
      assert.deepEqual((await openUploads(f)).filter((u) => u.key.startsWith(b.prefix)).map((u) => u.key), [`${b.prefix}big.bin`],
        'the unrecorded upload under b aborted by a run that selected only data; the recorded one kept');
      assert.ok(r2.logs.some((l) => l.msg === 'aborted multipart uploads left open by an interrupted run' && l.folder === 'b' && l.aborted === 1));
      assert.ok(stray.UploadId);
      const closed = runs(f).find((r) => r.id === killed.id)!;
      assert.notEqual(closed.finished_at, null, 'the killed run is closed once every folder it touched is swept');
      assert.deepEqual(JSON.parse(closed.summary!), { crashed: true });
      assert.deepEqual(runs(f).filter((r) => r.finished_at === null), [], 'no run left unfinished');
      await assertMirror(f, files, 'data');
      // B was not reconciled yet: it still owes its listing, and status says so; data paid its own.
      const mid = await statusOf(f);
      assert.deepEqual(mid.json.folders.map((x: any) => [x.name, x.needsList]), [['data', false], ['b', true]]);

      // 3. B's own reconcile lists it, pays the debt and resumes the upload.
      const r3 = await f.run(['--json', '--log-level', 'info', '-f', 'b']);
      assert.equal(r3.code, 0, r3.stderr.slice(-2000));
      assert.ok(r3.logs.some((l) => l.msg === 'resuming an interrupted multipart upload' && l.key === `${b.prefix}big.bin`));
      assert.deepEqual(await openUploads(f), [], 'no upload left open');
      const objs = await listAll(f.client, f.bucket, b.prefix);
      assert.deepEqual([...objs.keys()], [b.prefix + 'big.bin']);
      const after = await statusOf(f);
      assert.deepEqual(after.json.folders.map((x: any) => [x.name, x.needsList]), [['data', false], ['b', false]]);
      assert.doesNotMatch(after.text, /unclean stop/);
    } finally {
      await f.close();
    }
  });

  test('a folder removed from the config after the kill is swept at the bucket and prefix the DB recorded', async () => {
    const f = await fixture('interrupted-gone');
    try {
      const b = withFolderB(f);
      writeTree(f, 5);
      fs.writeFileSync(path.join(b.root, 'big.bin'), bytes(24 * MiB + 5, 8));
      await killDuringUploadOf(f, b.prefix);
      f.writeConfig(); // folder b is no longer configured
      const r = await f.run(['--json']);
      assert.equal(r.code, 0, r.stderr.slice(-2000));
      assert.deepEqual(await openUploads(f), [], 'the open upload under the removed folder\'s prefix is aborted');
      assert.ok(r.logs.some((l) => l.msg === 'aborted multipart uploads left open by an interrupted run' && l.folder === 'b'));
      assert.deepEqual(runs(f).filter((x) => x.finished_at === null), [], 'the killed run is closed');
    } finally {
      await f.close();
    }
  });

  test('sync -f data -f data reconciles the folder once: one PUT per file, no failures', async () => {
    const f = await fixture('interrupted-dup');
    try {
      const files = writeTree(f, 40);
      const r = await f.run(['--json', '-f', 'data', '-f', 'data']);
      assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr.slice(-2000)}`);
      assert.equal(r.json.folders.length, 1, 'one folder report');
      assert.equal(r.json.totals.failed, 0);
      assert.equal(r.json.totals.uploaded.files, files.size);
      assert.equal(f.proxy.counts().byOp.PutObject, files.size, `each file PUT once: ${JSON.stringify(f.proxy.counts().byOp)}`);
      assert.equal(new Set(r.logs.filter((l) => l.msg === 'uploaded').map((l) => l.key)).size, files.size);
      await assertMirror(f, files, 'after sync -f data -f data');
    } finally {
      await f.close();
    }
  });
});
