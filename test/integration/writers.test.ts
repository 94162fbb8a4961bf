// Files that change while r2mirror uploads them: rewritten (same size, mtime put back), truncated mid-multipart,
// deleted mid-upload, or changing on every attempt. A row never records content the file no longer has, a
// deleted file leaves no object and no row, and the next pass mirrors the final content.
// Technique: the proxy holds back the answer ('slow' fault) of that key's PutObject/UploadPart; when the fault log
// shows the request in flight, the test changes the file.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { bytes, fixture, md5, type Fixture, type RunResult } from '../harness/mirror.js';
import { MiB, assertMirror, expectedEtag, keyOf, openUploads, waitFor } from '../harness/verify.js';

/** A fixed mtime (whole seconds) so a rewrite can put it back exactly: only ctime and content then differ. */
const MTIME = 1_700_000_000;

/** Run the CLI; each time the proxy holds back a request for one of `actions`' keys, call its action (at most `maxPerKey` times). */
async function runChanging(f: Fixture, args: string[], actions: Map<string, (nth: number) => void>, maxPerKey = 1): Promise<RunResult> {
  const seen = new Map<string, number>();
  const cli = f.start(args, { timeoutMs: 90_000 });
  let done = false;
  void cli.result.then(() => (done = true));
  let handled = 0;
  await waitFor(() => {
    const log = f.proxy.faultLog();
    for (; handled < log.length; handled++) {
      const rec = log[handled]!;
      const act = rec.key !== undefined ? actions.get(rec.key) : undefined;
      if (!act) continue;
      const n = seen.get(rec.key!) ?? 0;
      if (n >= maxPerKey) continue;
      seen.set(rec.key!, n + 1);
      act(n);
    }
    return done;
  }, 'the sync to finish', 90_000, 2);
  const r = await cli.result;
  for (const key of actions.keys()) assert.ok(seen.has(key), `the test saw an upload of ${key} in flight (exit ${r.code})\n${r.stderr.slice(-3000)}`);
  return r;
}

function setMtime(f: Fixture, rel: string): void {
  fs.utimesSync(path.join(f.root, rel), MTIME, MTIME);
}

describe('writers: files that change while they are uploaded', () => {
  test('rewritten, truncated or deleted mid-upload: never recorded with old content; deleted leaves no object', async () => {
    // 16 MiB of upload memory: a multipart file is read at most two parts ahead of what the server has.
    const f = await fixture('writers', { topYaml: 'memory: 16MiB' });
    try {
      const files = new Map<string, Buffer>();
      const put = (rel: string, b: Buffer) => {
        f.write(rel, b);
        files.set(rel, b);
      };
      for (let i = 0; i < 20; i++) put(`other/f${i}.txt`, bytes(100 + i, i + 1));
      put('rewritten.txt', bytes(5000, 101));
      setMtime(f, 'rewritten.txt');
      put('rewritten-mid.bin', bytes(3 * MiB, 105)); // hashed first, then streamed in one PutObject
      setMtime(f, 'rewritten-mid.bin');
      put('shrunk-mid.bin', bytes(7 * MiB, 106)); // streamed PutObject, cut short by a truncation
      put('truncated.bin', bytes(32 * MiB, 102));
      put('deleted.txt', bytes(3000, 103));
      put('deleted-big.bin', bytes(12 * MiB, 104));
      const finalRewrite = bytes(5000, 201); // same size as before
      const finalMid = bytes(3 * MiB, 205);
      const finalShrunk = files.get('shrunk-mid.bin')!.subarray(0, 512 * 1024);
      const finalTruncated = files.get('truncated.bin')!.subarray(0, 10 * MiB + 5);

      const k = (rel: string) => keyOf(f, rel);
      const slow = new Set([k('rewritten.txt'), k('rewritten-mid.bin'), k('shrunk-mid.bin'), k('truncated.bin'), k('deleted.txt'), k('deleted-big.bin')]);
      f.proxy.setFaults({ seed: 1, rate: 1, kinds: ['slow'], slowMs: 800, only: (o) => (o.op === 'PutObject' || o.op === 'UploadPart') && slow.has(o.key ?? '') });
      const abs = (rel: string) => path.join(f.root, rel);
      const t0 = Date.now();
      const r = await runChanging(f, ['--json'], new Map<string, () => void>([
        [k('rewritten.txt'), () => {
          fs.writeFileSync(abs('rewritten.txt'), finalRewrite);
          setMtime(f, 'rewritten.txt');
          files.set('rewritten.txt', finalRewrite);
        }],
        [k('rewritten-mid.bin'), () => {
          fs.writeFileSync(abs('rewritten-mid.bin'), finalMid);
          setMtime(f, 'rewritten-mid.bin');
          files.set('rewritten-mid.bin', finalMid);
        }],
        [k('shrunk-mid.bin'), () => {
          fs.truncateSync(abs('shrunk-mid.bin'), finalShrunk.length);
          files.set('shrunk-mid.bin', finalShrunk);
        }],
        [k('truncated.bin'), () => {
          fs.truncateSync(abs('truncated.bin'), finalTruncated.length);
          files.set('truncated.bin', finalTruncated);
        }],
        [k('deleted.txt'), () => {
          fs.rmSync(abs('deleted.txt'));
          files.delete('deleted.txt');
        }],
        [k('deleted-big.bin'), () => {
          fs.rmSync(abs('deleted-big.bin'));
          files.delete('deleted-big.bin');
        }],
      ]));
      const ms = Date.now() - t0;
      assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr.slice(-4000)}`);
      assert.deepEqual(r.json.folders[0].failed, []);
      // A request cut short by a shrinking file is abandoned at once, not left waiting for its missing bytes
      // until a server or request timeout (60-120 s).
      assert.ok(ms < 40_000, `the run took ${ms} ms`);
      assert.equal(r.json.totals.uploaded.files, files.size, 'the deleted files count neither as uploaded nor as failed');
      const retried = r.logs.filter((l) => l.msg === 'transfer failed, retrying').map((l) => `${l.key}: ${l.err?.message}`);
      console.log(`retries in the run:\n  ${retried.join('\n  ')}`);
      assert.ok(retried.some((x) => x.startsWith(`${k('rewritten.txt')}: `) && /changed while it was being uploaded/.test(x)), retried.join('\n'));
      assert.ok(retried.some((x) => x.startsWith(`${k('rewritten-mid.bin')}: `)), retried.join('\n'));
      assert.ok(retried.some((x) => x.startsWith(`${k('shrunk-mid.bin')}: `) && /changed while it was (being uploaded|read)/.test(x)), retried.join('\n'));
      assert.ok(retried.some((x) => x.startsWith(`${k('truncated.bin')}: `) && /changed while it was (being uploaded|read)/.test(x)), retried.join('\n'));
      // The retries uploaded the final content; the deleted files left neither an object nor a row.
      await assertMirror(f, files, 'after the run with changing files');
      const rows = new Map(f.rows().map((x) => [x.key, x]));
      assert.equal(rows.get(k('rewritten.txt'))!.etag, md5(finalRewrite));
      assert.equal(rows.get(k('rewritten-mid.bin'))!.etag, md5(finalMid));
      assert.equal(rows.get(k('shrunk-mid.bin'))!.etag, md5(finalShrunk));
      assert.equal(rows.get(k('truncated.bin'))!.etag, expectedEtag(finalTruncated));
      assert.equal(rows.has(k('deleted.txt')) || rows.has(k('deleted-big.bin')), false);
      assert.deepEqual(await openUploads(f), []);

      // The next pass has nothing left to do, and the objects hold the final content.
      f.proxy.setFaults(undefined);
      f.proxy.resetCounts();
      const r2 = await f.run(['--json']);
      assert.equal(r2.code, 0, r2.stderr.slice(-3000));
      assert.equal(r2.json.totals.uploaded.files, 0);
      assert.equal(r2.json.totals.unchanged, files.size);
      assert.deepEqual(f.proxy.counts().byOp, { ListObjectsV2: 1 });
      const objects = await f.objects();
      assert.equal(objects.get(k('rewritten.txt'))!.etag, md5(finalRewrite));
      assert.equal(objects.get(k('rewritten-mid.bin'))!.etag, md5(finalMid));
      assert.equal(objects.get(k('truncated.bin'))!.etag, expectedEtag(finalTruncated));
    } finally {
      await f.close();
    }
  });

  test('a file still changing on every attempt fails with a reason that says so; the next pass uploads the final content', async () => {
    const f = await fixture('writers-busy');
    try {
      fs.writeFileSync(f.configFile, fs.readFileSync(f.configFile, 'utf8').replace('retries: 3', 'retries: 1'));
      for (let i = 0; i < 10; i++) f.write(`quiet/f${i}.txt`, `quiet ${i}`);
      f.write('busy.log', 'line 0\n');
      const key = keyOf(f, 'busy.log');
      f.proxy.setFaults({ seed: 2, rate: 1, kinds: ['slow'], slowMs: 1200, only: (o) => o.op === 'PutObject' && o.key === key });
      let content = 'line 0\n';
      const r = await runChanging(f, ['--json'], new Map([[key, (n: number) => {
        content += `line ${n + 1}: ${'x'.repeat(n * 10)}\n`;
        fs.writeFileSync(path.join(f.root, 'busy.log'), content);
      }]]), 10);
      assert.equal(r.code, 1, `exit ${r.code}\n${r.stdout}\n${r.stderr.slice(-3000)}`);
      const failed = r.json.folders[0].failed as { rel: string; reason: string }[];
      assert.equal(failed.length, 1, JSON.stringify(failed));
      assert.equal(failed[0]!.rel, 'busy.log');
      assert.match(failed[0]!.reason, /changed while it was being uploaded \(still changing after 2 attempts; will retry on the next run\)/);
      assert.equal(f.rows().some((x) => x.key === key), false, 'no row for a file that never held still');
      // The object holds some earlier version, unrecorded; never the final one from a read before the change.
      const before = await f.objects();
      assert.notEqual(before.get(key)?.etag, md5(content), 'the object is not the final content (it was changed after every read)');

      // Quiet now: the next pass uploads the final content and records it.
      f.proxy.setFaults(undefined);
      const r2 = await f.run(['--json']);
      assert.equal(r2.code, 0, r2.stderr.slice(-3000));
      assert.equal(r2.json.totals.uploaded.files, 1);
      const objects = await f.objects();
      assert.equal(objects.get(key)!.etag, md5(content));
      const row = f.rows().find((x) => x.key === key)!;
      assert.equal(row.etag, md5(content));
      assert.equal(row.size, Buffer.byteLength(content));
    } finally {
      await f.close();
    }
  });
});
