// Resuming interrupted multipart uploads against RGW behind the R2 proxy: a kill -9 or a daemon stop that cuts an
// upload leaves it open and recorded; the next run sends only the parts the server does not hold (a part whose
// answer was lost is re-hashed and kept); a changed file, a deleted file or an upload the server dropped starts
// over or is aborted; the sweep after a crash never aborts an upload it is about to resume.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AbortMultipartUploadCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { bytes, fixture, multipartEtag, type Fixture, type RunResult } from '../harness/mirror.js';
import { startDaemon } from '../harness/daemon.js';
import { Database } from '../../src/state/sqlite.js';
import { MiB, keyOf, openUploads, waitFor } from '../harness/verify.js';

const SEED = 20_261_204;
const PART = 8 * MiB;
const BIG = 5 * PART + 123; // 6 parts
const PARTS = 6;
const QUIET = 'daemon:\n  quietPeriod: 400ms\n  maxDelay: 10s';
const fullReconcile = (l: any) => l.msg === 'reconciled' && (l.kind === 'list' || l.kind === 'local');

/** Rows of the uploads tables, read beside the running process (WAL). */
function journal(f: Fixture): { uploads: { key: string; upload_id: string }[]; parts: number } {
  if (!fs.existsSync(f.statePath)) return { uploads: [], parts: 0 };
  const db = new Database(f.statePath, { readonly: true });
  try {
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'uploads'").get();
    if (!hasTable) return { uploads: [], parts: 0 };
    return {
      uploads: db.prepare('SELECT key, upload_id FROM uploads').all() as { key: string; upload_id: string }[],
      parts: (db.prepare('SELECT count(*) AS n FROM upload_parts').get() as { n: number }).n,
    };
  } finally {
    db.close();
  }
}

/** How many parts the server holds for the open upload of `key`, and their bytes. */
async function serverParts(f: Fixture, key: string, uploadId: string): Promise<{ n: number; bytes: number }> {
  const res = await f.client.send(new ListPartsCommand({ Bucket: f.bucket, Key: key, UploadId: uploadId }));
  return { n: (res.Parts ?? []).length, bytes: (res.Parts ?? []).reduce((a, p) => a + (p.Size ?? 0), 0) };
}

/** The parts of the upload once two looks 300 ms apart agree (a part whose body had fully arrived may still land). */
async function settledParts(f: Fixture, key: string, uploadId: string): Promise<{ n: number; bytes: number }> {
  let prev = -1;
  let got = { n: 0, bytes: 0 };
  await waitFor(async () => {
    got = await serverParts(f, key, uploadId);
    const same = got.n === prev;
    prev = got.n;
    return same;
  }, 'the parts on the server to settle', 10_000, 300);
  return got;
}

const op = (f: Fixture, name: string) => f.proxy.counts().byOp[name] ?? 0;

describe('resume of interrupted multipart uploads', () => {
  let f: Fixture;
  let round = 0;
  before(async () => {
    f = await fixture('resume');
  });
  after(async () => {
    await f?.close();
  });

  /**
   * Write a big file and `sync` it with `bandwidth: 8MiB` (about 5 s), kill -9 once the journal holds `parts` parts
   * (or, with `lostAnswers`, once the server holds parts whose answers the proxy is still holding back).
   */
  async function killMidUpload(rel: string, opts: { parts?: number; lostAnswers?: boolean } = {}): Promise<{ content: Buffer; key: string; uploadId: string; recorded: number; onServer: number; serverBytes: number }> {
    round++;
    const content = bytes(BIG, SEED + round);
    f.write(rel, content);
    const key = keyOf(f, rel);
    if (opts.lostAnswers) {
      // every part's answer is held back 4 s: the parts are on the server, the journal does not know them yet
      f.writeConfig();
      f.proxy.setFaults({ seed: SEED + round, rate: 1, kinds: ['slow'], slowMs: 4000, only: (o) => o.op === 'UploadPart' });
    } else f.writeConfig('', 'bandwidth: 8MiB');
    f.proxy.resetCounts();
    const cli = f.start(['--json'], { timeoutMs: 60_000 });
    if (opts.lostAnswers) {
      await waitFor(() => op(f, 'UploadPart') >= 4, 'four parts sent', 30_000, 10);
      await new Promise((r) => setTimeout(r, 1500)); // the server has stored them by now; their answers wait
    } else await waitFor(() => journal(f).parts >= (opts.parts ?? 2), 'parts recorded', 30_000, 10);
    cli.child.kill('SIGKILL');
    const killed = await cli.result;
    assert.equal(killed.code, null, 'killed mid-upload');
    f.proxy.setFaults(undefined);
    f.writeConfig();
    const j = journal(f);
    const rec = j.uploads.find((u) => u.key === key);
    assert.ok(rec, 'the open upload is recorded in the state DB');
    const open = await openUploads(f);
    assert.deepEqual(open.map((u) => u.uploadId), [rec.upload_id], 'the recorded upload is the one open on the server');
    const held = await settledParts(f, key, rec.upload_id);
    return { content, key, uploadId: rec.upload_id, recorded: j.parts, onServer: held.n, serverBytes: held.bytes };
  }

  async function recover(): Promise<RunResult & { json: any }> {
    f.proxy.resetCounts();
    const r = await f.run(['--json', '--log-level', 'info']);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    return r as RunResult & { json: any };
  }

  async function assertDone(key: string, content: Buffer): Promise<void> {
    const o = (await f.objects()).get(key);
    assert.equal(o?.etag, multipartEtag(content, PART), 'the object holds the file');
    assert.ok(f.rows().some((r) => r.key === key && r.etag === o!.etag), 'and its row agrees');
    assert.deepEqual(await openUploads(f), [], 'no multipart upload left open');
    assert.deepEqual(journal(f).uploads, [], 'no upload left in the journal');
    assert.deepEqual(JSON.parse((await f.cmd('status', ['--json'])).stdout).folders[0].uploads, [], 'status shows none');
  }

  test('after kill -9, the next sync sends only the parts the server does not hold; the sweep keeps the upload', async () => {
    const k = await killMidUpload('a/video.bin');
    assert.ok(k.recorded >= 2 && k.onServer < PARTS, `killed with ${k.recorded} parts recorded, ${k.onServer} on the server`);
    // status says the file is not mirrored yet, and how far its upload got
    const st = await f.cmd('status', ['--json']);
    assert.equal(st.code, 0, st.stderr);
    const up = JSON.parse(st.stdout).folders[0].uploads;
    assert.deepEqual(up.map((u: any) => [u.key, u.size]), [[k.key, BIG]]);
    assert.ok(up[0].sent >= 2 * PART, `status counts the recorded parts (${up[0].sent} bytes)`);
    assert.match((await f.cmd('status')).stdout, /interrupted: +1 multipart upload\(s\) recorded, resumed by the next reconcile\n {4}host1\/data\/a\/video\.bin: \d+ MiB of 40 MiB sent/);
    const r = await recover();
    await assertDone(k.key, k.content);
    const resuming = r.logs.find((l) => l.msg === 'resuming an interrupted multipart upload');
    assert.equal(resuming?.uploadId, k.uploadId, 'the recorded upload was resumed, not swept');
    assert.equal(resuming.bytes, k.serverBytes);
    assert.ok(r.logs.some((l) => l.msg === 'an earlier run stopped uncleanly: aborting the multipart uploads it left open that cannot be resumed; its folders are listed on their next reconcile'));
    assert.equal(op(f, 'CreateMultipartUpload'), 0, 'no new upload');
    assert.equal(op(f, 'ListParts'), 1);
    assert.equal(op(f, 'UploadPart'), PARTS - k.onServer, 'only the missing parts were sent');
    assert.equal(r.json.totals.resumed.bytes, k.serverBytes, 'the summary counts the bytes not sent again');
    const uploaded = r.logs.find((l) => l.msg === 'uploaded' && l.key === k.key);
    assert.equal(uploaded?.resumedBytes, k.serverBytes);
  });

  test('a part the server stored but whose answer was lost is re-hashed and kept, not sent again', async () => {
    const k = await killMidUpload('b/lost.bin', { lostAnswers: true });
    assert.ok(k.onServer > k.recorded, `the server holds ${k.onServer} parts, the journal ${k.recorded}`);
    const r = await recover();
    await assertDone(k.key, k.content);
    const resuming = r.logs.find((l) => l.msg === 'resuming an interrupted multipart upload');
    assert.equal(resuming?.rehashed, k.onServer - k.recorded, 'the unrecorded parts were checked against the file');
    assert.equal(op(f, 'UploadPart'), PARTS - k.onServer);
  });

  test('a file that changed since the upload began starts over; the old upload is aborted', async () => {
    const k = await killMidUpload('c/edited.bin');
    const edited = bytes(BIG, SEED + 999);
    f.write('c/edited.bin', edited);
    const r = await recover();
    await assertDone(k.key, edited);
    const not = r.logs.find((l) => l.msg === 'not resuming the interrupted multipart upload; starting over');
    assert.equal(not?.reason, 'the file changed since it began');
    assert.equal(op(f, 'CreateMultipartUpload'), 1);
    assert.equal(op(f, 'UploadPart'), PARTS, 'every part of the new content was sent');
  });

  test('an upload the server no longer knows starts over', async () => {
    const k = await killMidUpload('d/dropped.bin');
    await f.client.send(new AbortMultipartUploadCommand({ Bucket: f.bucket, Key: k.key, UploadId: k.uploadId }));
    const r = await recover();
    await assertDone(k.key, k.content);
    assert.ok(r.logs.some((l) => l.msg === 'the interrupted multipart upload is gone from the server; starting over'));
    assert.equal(op(f, 'UploadPart'), PARTS);
  });

  test('the upload of a file deleted meanwhile is aborted by the next full reconcile', async () => {
    const k = await killMidUpload('e/deleted.bin');
    fs.rmSync(path.join(f.root, 'e', 'deleted.bin'));
    const r = await recover();
    assert.ok(r.logs.some((l) => l.msg === 'aborted an interrupted multipart upload that is no longer needed' && l.uploadId === k.uploadId));
    assert.equal((await f.objects()).has(k.key), false);
    assert.deepEqual(await openUploads(f), []);
    assert.deepEqual(journal(f).uploads, []);
  });

  test('a daemon stop that cuts an upload off keeps it; the next start resumes it', async () => {
    round++;
    // Two 8 MiB parts in flight (memory: 16MiB) at 4 MiB/s: a pair is confirmed every 4 s, so the stop lands mid-upload.
    f.writeConfig('', `bandwidth: 4MiB\nmemory: 16MiB\n${QUIET}\n  stopTimeout: 1s`);
    const d1 = startDaemon(f);
    await d1.log(fullReconcile, 'the first reconcile', 30_000);
    const content = bytes(BIG, SEED + round);
    f.write('f/cut.bin', content);
    const key = keyOf(f, 'f/cut.bin');
    await waitFor(() => journal(f).parts >= 2, 'parts recorded', 30_000, 10);
    const r1 = await d1.stop('SIGTERM');
    assert.equal(r1.code, 0, r1.stderr.slice(-2000));
    assert.ok(d1.logs.some((l) => l.msg === 'stop timeout: aborting the transfers still running'), `the stop cut the upload off: ${d1.logs.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
    const rec = journal(f).uploads.find((u) => u.key === key);
    assert.ok(rec, 'the cut upload is still recorded');
    assert.deepEqual((await openUploads(f)).map((u) => u.uploadId), [rec.upload_id], 'and still open on the server');
    const onServer = (await settledParts(f, key, rec.upload_id)).n;
    f.writeConfig('', QUIET);
    f.proxy.resetCounts();
    const d2 = startDaemon(f);
    const resuming = await d2.log((l) => l.msg === 'resuming an interrupted multipart upload', 'the resume', 60_000);
    assert.equal(resuming.uploadId, rec.upload_id);
    await d2.log((l) => l.msg === 'uploaded' && l.key === key, 'the upload to complete', 60_000);
    assert.equal(op(f, 'UploadPart'), PARTS - onServer, 'only the missing parts were sent');
    const r2 = await d2.stop('SIGTERM');
    assert.equal(r2.code, 0, r2.stderr.slice(-2000));
    await assertDone(key, content);
  });
});
