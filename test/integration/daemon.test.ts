// `r2mirror daemon` against RGW behind the R2 proxy: every kind of change reaches the bucket (and the state DB)
// through the watcher, renames are server-side copies, storms and vanished roots are safe, signals do what
// the README says. Every wait is on observable state with a deadline; no fixed sleeps.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { spawn, spawnSync } from 'node:child_process';
import { bytes, fixture, startCli, type Fixture } from '../harness/mirror.js';
import { MiB, assertMirror, expectedEtag, keyOf, openUploads, waitFor } from '../harness/verify.js';
import { mirrored, startDaemon } from '../harness/daemon.js';

const QUIET = 'daemon:\n  quietPeriod: 400ms\n  maxDelay: 10s';

async function gone(f: Fixture, rel: string, timeoutMs = 20_000): Promise<void> {
  const key = keyOf(f, rel);
  await waitFor(async () => !(await f.objects()).has(key) && !f.rows().some((r) => r.key === key), `${rel} deleted from bucket and DB`, timeoutMs, 50);
}

const initialDone = (l: any) => l.msg === 'reconciled' && (l.kind === 'list' || l.kind === 'local');

describe('daemon: changes reach the bucket', () => {
  test('create, modify, append, truncate, rename (server-side copy), delete, mkdir, rmdir', async () => {
    const f = await fixture('daemon-basic', { topYaml: QUIET });
    try {
      const files = new Map<string, Buffer>([['a.txt', bytes(3000, 1)], ['dir/b.txt', bytes(5000, 2)]]);
      for (const [rel, b] of files) f.write(rel, b);
      const d = startDaemon(f);
      await d.log(initialDone, 'the initial reconcile');
      await assertMirror(f, files, 'after start');

      // create
      files.set('new.txt', bytes(1234, 3));
      f.write('new.txt', files.get('new.txt')!);
      await mirrored(f, 'new.txt', files.get('new.txt')!);
      // modify (same size, new content)
      files.set('a.txt', bytes(3000, 4));
      f.write('a.txt', files.get('a.txt')!);
      await mirrored(f, 'a.txt', files.get('a.txt')!);
      // append
      fs.appendFileSync(path.join(f.root, 'a.txt'), 'appended');
      files.set('a.txt', Buffer.concat([files.get('a.txt')!, Buffer.from('appended')]));
      await mirrored(f, 'a.txt', files.get('a.txt')!);
      // truncate
      fs.truncateSync(path.join(f.root, 'dir/b.txt'), 100);
      files.set('dir/b.txt', files.get('dir/b.txt')!.subarray(0, 100));
      await mirrored(f, 'dir/b.txt', files.get('dir/b.txt')!);

      // rename: a copy on the server, no new PutObject of the content
      f.proxy.resetCounts();
      fs.renameSync(path.join(f.root, 'new.txt'), path.join(f.root, 'renamed.txt'));
      files.set('renamed.txt', files.get('new.txt')!);
      files.delete('new.txt');
      await mirrored(f, 'renamed.txt', files.get('renamed.txt')!);
      await gone(f, 'new.txt');
      const c = f.proxy.counts();
      assert.equal(c.byOp.CopyObject, 1, `a rename is one CopyObject: ${JSON.stringify(c.byOp)}`);
      assert.equal(c.byOp.PutObject ?? 0, 0, `a rename uploads nothing: ${JSON.stringify(c.byOp)}`);
      assert.ok(d.logs.some((l) => l.msg === 'renamed (server-side copy)' && l.key === keyOf(f, 'renamed.txt')), 'the log says renamed');

      // delete
      fs.rmSync(path.join(f.root, 'renamed.txt'));
      files.delete('renamed.txt');
      await gone(f, 'renamed.txt');

      // mkdir with files, written after the directory appeared (the new directory is watched)
      fs.mkdirSync(path.join(f.root, 'newdir/deep'), { recursive: true });
      files.set('newdir/deep/c.txt', bytes(700, 5));
      f.write('newdir/deep/c.txt', files.get('newdir/deep/c.txt')!);
      await mirrored(f, 'newdir/deep/c.txt', files.get('newdir/deep/c.txt')!);
      files.set('newdir/deep/d.txt', bytes(800, 6));
      f.write('newdir/deep/d.txt', files.get('newdir/deep/d.txt')!);
      await mirrored(f, 'newdir/deep/d.txt', files.get('newdir/deep/d.txt')!);

      // rmdir: the directory's files are deleted
      fs.rmSync(path.join(f.root, 'newdir'), { recursive: true });
      files.delete('newdir/deep/c.txt');
      files.delete('newdir/deep/d.txt');
      await gone(f, 'newdir/deep/c.txt');
      await gone(f, 'newdir/deep/d.txt');
      await assertMirror(f, files, 'at the end');

      const r = await d.stop();
      assert.equal(r.code, 0, r.stderr.slice(-2000));
    } finally {
      await f.close();
    }
  });

  test('a file written slowly over several seconds is uploaded once, with its final content', async () => {
    const f = await fixture('daemon-slow', { topYaml: 'daemon:\n  quietPeriod: 1s\n  maxDelay: 20s' });
    try {
      const d = startDaemon(f);
      await d.log(initialDone, 'the initial reconcile');
      f.proxy.resetCounts();
      const file = path.join(f.root, 'slow.log');
      const chunks: Buffer[] = [];
      const fd = fs.openSync(file, 'w');
      try {
        // 12 writes, 300 ms apart: 3.6 s of writing, never quiet for the 1 s quiet period.
        for (let i = 0; i < 12; i++) {
          const c = bytes(2000, 100 + i);
          chunks.push(c);
          fs.writeSync(fd, c);
          await new Promise((r) => setTimeout(r, 300)); // the writer's pace, not a wait for the daemon
        }
      } finally {
        fs.closeSync(fd);
      }
      const all = Buffer.concat(chunks);
      await mirrored(f, 'slow.log', all);
      const uploads = d.logs.filter((l) => l.msg === 'uploaded' && l.key === keyOf(f, 'slow.log'));
      assert.equal(uploads.length, 1, `uploaded once: ${JSON.stringify(uploads)}`);
      assert.equal(f.proxy.counts().byOp.PutObject, 1);
      assert.equal((await d.stop()).code, 0);
    } finally {
      await f.close();
    }
  });

  test('1,000 files created at once: all mirrored, bounded work, no rule broken', async () => {
    const f = await fixture('daemon-burst', { topYaml: QUIET });
    try {
      const d = startDaemon(f);
      await d.log(initialDone, 'the initial reconcile');
      const files = new Map<string, Buffer>();
      for (let i = 0; i < 1000; i++) {
        const rel = `burst/d${i % 10}/f${i}.txt`;
        files.set(rel, Buffer.from(`file ${i}\n`));
        f.write(rel, files.get(rel)!);
      }
      await waitFor(() => f.rows().length === 1000, 'all 1,000 rows', 90_000, 200).catch((err: Error) => {
        const have = new Set(f.rows().map((r) => r.key));
        const missing = [...files.keys()].filter((rel) => !have.has(keyOf(f, rel)));
        throw new Error(`${err.message}; ${missing.length} missing, e.g. ${missing.slice(0, 5).join(', ')}`);
      });
      await assertMirror(f, files, 'after the burst');
      assert.equal((await d.stop()).code, 0);
    } finally {
      await f.close();
    }
  });
});

describe('daemon: safety and lifecycle', () => {
  test('a root that disappears pauses the folder (no deletes) and resumes when it is back', async () => {
    const f = await fixture('daemon-root', { topYaml: QUIET });
    try {
      const files = new Map<string, Buffer>([['x.txt', bytes(100, 1)], ['y/z.txt', bytes(200, 2)]]);
      for (const [rel, b] of files) f.write(rel, b);
      const d = startDaemon(f);
      await d.log(initialDone, 'the initial reconcile');
      const away = f.root + '.away';
      fs.renameSync(f.root, away); // an unmounted disk
      await d.log((l) => l.msg === 'folder paused', 'the folder to pause');
      const status = await waitFor(async () => {
        const s = await f.cmd('status', ['--json']);
        assert.equal(s.code, 0, s.stderr);
        return s.json.folders[0].state === 'paused' ? s : undefined;
      }, 'status to show the pause', 10_000, 100);
      assert.match(status.json.folders[0].error, /missing or not a directory/);
      await assertMirror(f, files, 'while paused: nothing deleted');
      fs.renameSync(away, f.root);
      await d.log((l) => l.msg === 'folder path is back; resuming', 'the folder to resume', 30_000);
      files.set('after.txt', bytes(300, 3));
      f.write('after.txt', files.get('after.txt')!);
      await mirrored(f, 'after.txt', files.get('after.txt')!);
      await assertMirror(f, files, 'after resuming');
      assert.equal(d.logs.filter((l) => l.msg === 'deleted').length, 0);
      assert.equal((await d.stop()).code, 0);
    } finally {
      await f.close();
    }
  });

  test('SIGTERM during a multipart upload: exit 0, the upload kept open to resume, a half-sent file is not recorded', async () => {
    const f = await fixture('daemon-term', { topYaml: `${QUIET}\n  stopTimeout: 1s` });
    try {
      const d = startDaemon(f);
      await d.log(initialDone, 'the initial reconcile');
      // Each part answer is held back 3 s: the upload is still running when the stop timeout (1 s) passes.
      f.proxy.setFaults({ seed: 1, rate: 1, kinds: ['slow'], slowMs: 3000, only: (op) => op.op === 'UploadPart' });
      f.write('big.bin', bytes(20 * MiB, 9));
      await waitFor(() => f.proxy.faultLog().length > 0, 'a part upload in flight', 30_000, 20);
      const r = await d.stop('SIGTERM');
      assert.equal(r.code, 0, r.stderr.slice(-2000));
      f.proxy.setFaults(undefined);
      assert.ok(d.logs.some((l) => l.msg === 'stop timeout: aborting the transfers still running'), 'the stop timeout cut the upload');
      // The cut upload stays open, to be resumed (a reboot must not cost the parts already sent); nothing else is.
      assert.deepEqual((await openUploads(f)).map((u) => u.key), [keyOf(f, 'big.bin')], 'only the cut upload is left open');
      assert.equal(f.rows().filter((x) => x.key === keyOf(f, 'big.bin')).length, 0, 'the unfinished file has no row');
      assert.equal((await f.objects()).has(keyOf(f, 'big.bin')), false);
      // and the next run resumes it, leaving no upload open
      const s = await f.run(['--log-level', 'info']);
      assert.equal(s.code, 0, s.stderr);
      assert.ok(s.logs.some((l) => l.msg === 'resuming an interrupted multipart upload'), 'the next run resumed the upload');
      assert.equal((await f.objects()).get(keyOf(f, 'big.bin'))?.size, 20 * MiB);
      assert.deepEqual(await openUploads(f), [], 'no multipart upload left open');
    } finally {
      await f.close();
    }
  });

  test('SIGHUP: a valid new config is applied, an invalid one is refused and the daemon keeps running', async () => {
    const f = await fixture('daemon-hup', { topYaml: QUIET });
    try {
      f.write('keep/a.txt', bytes(100, 1));
      f.write('skip/b.txt', bytes(100, 2));
      const d = startDaemon(f);
      await d.log(initialDone, 'the initial reconcile');
      assert.ok((await f.objects()).has(keyOf(f, 'skip/b.txt')));

      // invalid: a YAML error. The old config stays in force and changes keep flowing.
      const good = fs.readFileSync(f.configFile, 'utf8');
      fs.writeFileSync(f.configFile, good + 'transfers: [oops\n');
      d.cli.child.kill('SIGHUP');
      const refused = await d.log((l) => /new configuration is invalid/.test(l.msg ?? ''), 'the refusal');
      assert.match(refused.reason, /r2mirror\.yaml:\d+:\d+/, 'the reason names file and line');
      f.write('keep/c.txt', bytes(100, 3));
      await mirrored(f, 'keep/c.txt', bytes(100, 3));

      // valid: exclude skip/ from now on; new files there are not uploaded
      fs.writeFileSync(f.configFile, good.replace(`    prefix: ${f.prefix}`, `    prefix: ${f.prefix}\n    exclude: ["skip/"]`));
      d.cli.child.kill('SIGHUP');
      await d.log((l) => l.msg === 'configuration reloaded', 'the reload');
      await waitFor(() => d.logs.filter(initialDone).length >= 2, 'the reconcile after the reload', 30_000, 20);
      f.write('skip/new.txt', bytes(100, 4));
      f.write('keep/d.txt', bytes(100, 5));
      await mirrored(f, 'keep/d.txt', bytes(100, 5));
      assert.equal((await f.objects()).has(keyOf(f, 'skip/new.txt')), false, 'excluded after the reload');
      assert.ok((await f.objects()).has(keyOf(f, 'skip/b.txt')), 'what was mirrored before the exclude is left alone');
      assert.equal((await d.stop()).code, 0);
    } finally {
      await f.close();
    }
  });

  test('systemd notify protocol: READY=1 after the watchers are armed, STATUS=, STOPPING=1', async (t) => {
    // Node cannot bind a datagram unix socket: python3 is the receiver; the daemon sends through the real
    // systemd-notify, as under systemd.
    const python = spawnSync('python3', ['-c', 'import socket'], { stdio: 'ignore' }).status === 0;
    if (!python || !fs.existsSync('/usr/bin/systemd-notify')) {
      t.skip(!python ? 'python3 (the receiver) is not installed' : 'systemd-notify is not installed (Debian: package systemd)');
      return;
    }
    const f = await fixture('daemon-notify', { topYaml: QUIET });
    const sockPath = path.join(f.dir, 'notify.sock');
    const got: string[] = [];
    const py = 'import json,socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\n' +
      'print(json.dumps("bound"),flush=True)\nwhile True:\n  print(json.dumps(s.recv(65536).decode()),flush=True)\n';
    const server = spawn('python3', ['-c', py, sockPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    server.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      got.push(...lines.map((l) => JSON.parse(l) as string));
    });
    try {
      await waitFor(() => got.includes('bound'), 'the receiver to bind', 10_000, 20);
      f.write('a.txt', bytes(10, 1));
      const d = startDaemon(f, { NOTIFY_SOCKET: sockPath, WATCHDOG_USEC: '2000000' });
      await waitFor(() => got.some((m) => m.split('\n').includes('READY=1')), 'READY=1', 30_000, 20);
      assert.ok(d.logs.some((l) => l.msg === 'watchers armed'), 'READY=1 comes after the watchers are armed');
      await waitFor(() => got.some((m) => m === 'WATCHDOG=1'), 'a watchdog ping', 10_000, 20);
      await waitFor(() => got.some((m) => m.startsWith('STATUS=') && /uploaded/.test(m)), 'a STATUS= line', 10_000, 20);
      const r = await d.stop();
      assert.equal(r.code, 0);
      assert.ok(got.some((m) => m.split('\n').includes('STOPPING=1')), `STOPPING=1 in ${JSON.stringify(got)}`);
    } finally {
      server.kill();
      await f.close();
    }
  });

  test('status and /metrics while the daemon runs; status after it stopped', async () => {
    const f = await fixture('daemon-status', { topYaml: `${QUIET}\nmetrics:\n  listen: 127.0.0.1:0` });
    try {
      f.write('a.txt', bytes(1000, 1));
      f.write('b.txt', bytes(2000, 2));
      fs.writeFileSync(path.join(f.root, 'bad\u0001name.txt'), 'x');
      const d = startDaemon(f);
      await d.log(initialDone, 'the initial reconcile');
      const listening = await d.log((l) => l.msg === 'metrics endpoint listening', 'the metrics endpoint');
      const metrics = await (await fetch(new URL('metrics', listening.url))).text();
      assert.match(metrics, /^r2mirror_uploads_total 2$/m);
      assert.match(metrics, /^r2mirror_failed_files\{folder="data"\} 1$/m);
      assert.match(metrics, /^r2mirror_r2_operations_total\{class="A"\} \d+$/m);
      assert.match(metrics, /^r2mirror_watched_directories [1-9]\d*$/m);
      const health = await fetch(new URL('healthz', listening.url));
      assert.equal(health.status, 200, await health.text());

      const live = await waitFor(async () => {
        const s = await f.cmd('status', ['--json']);
        return s.json?.daemon ? s : undefined;
      }, 'status to show the running daemon', 10_000, 200);
      const folder = live.json.folders[0];
      assert.equal(folder.files, 2);
      assert.equal(folder.bytes, 3000);
      assert.equal(folder.state, 'watching');
      assert.equal(folder.failed.length, 1);
      assert.match(folder.failed[0].rel, /bad/);
      assert.ok(folder.ops.classA >= 3, JSON.stringify(folder.ops));
      assert.ok(folder.lastReconcile > 0 && folder.lastVerify > 0);

      assert.equal((await d.stop()).code, 0);
      const after = await f.cmd('status', []);
      assert.equal(after.code, 0, after.stderr);
      assert.match(after.stdout, /daemon: not running/);
      assert.match(after.stdout, /2 files/);
      assert.match(after.stdout, /bad.*name\.txt/);
    } finally {
      await f.close();
    }
  });

  test('out of inotify watches (ENOSPC): the fix is logged and the folder is rescanned periodically', async (t) => {
    // A user namespace with its own, tiny watch limit: a real ENOSPC without touching the host's sysctl.
    const probe = spawnSync('unshare', ['-U', '-r', 'sh', '-c', 'echo 5 > /proc/sys/user/max_inotify_watches']);
    if (probe.status !== 0) {
      t.skip(`cannot make a user namespace with its own inotify limit here: ${probe.stderr.toString().trim()}`);
      return;
    }
    const f = await fixture('daemon-enospc', { topYaml: `${QUIET}\n  pollInterval: 10s` });
    try {
      for (let i = 0; i < 20; i++) f.write(`d${i}/f.txt`, bytes(10, i));
      const cli = startCli(['daemon', '--config', f.configFile], { R2_ACCESS_KEY_ID: f.env.accessKeyId, R2_SECRET_ACCESS_KEY: f.env.secretAccessKey },
        120_000, ['unshare', '-U', '-r', 'sh', '-c', 'echo 5 > /proc/sys/user/max_inotify_watches && exec "$@"', 'sh']);
      const logs: any[] = [];
      cli.child.stderr!.on('data', (d: Buffer) => {
        for (const line of d.toString().split('\n')) if (line.startsWith('{')) logs.push(JSON.parse(line));
      });
      const err = await waitFor(() => logs.find((l) => /out of inotify watches/.test(l.msg ?? '')), 'the ENOSPC report', 30_000, 20);
      assert.match(err.fix, /sysctl -w fs\.inotify\.max_user_watches=\d+/);
      assert.equal(err.watchLimit, 5);
      await waitFor(() => f.rows().length === 20, 'the initial rescan to mirror all 20 files', 30_000, 50);
      f.write('late/new.txt', bytes(30, 99));
      await mirrored(f, 'late/new.txt', bytes(30, 99), 30_000); // within pollInterval (10 s) + a reconcile
      cli.child.kill('SIGTERM');
      const r = await cli.result;
      assert.equal(r.code, 0, r.stderr.slice(-2000));
    } finally {
      await f.close();
    }
  });

  test('a file that keeps failing is recorded with its reason and retried with backoff until it lands', async () => {
    const f = await fixture('daemon-retry', { topYaml: QUIET });
    try {
      const d = startDaemon(f);
      await d.log(initialDone, 'the initial reconcile');
      // The first 14 PUTs of this key fail: one reconcile's attempts (3 by the SDK x 4 by us = 12), and the
      // first two of the retry's.
      f.proxy.setFaults({ seed: 3, rate: 1, kinds: ['500'], maxFaults: 14, only: (op) => op.op === 'PutObject' && !!op.key?.endsWith('/flaky.txt') });
      f.write('flaky.txt', bytes(500, 1));
      const failed = await d.log((l) => l.msg === 'reconciled' && l.failed === 1, 'a reconcile that failed the file', 60_000);
      assert.equal(failed.kind, 'changes');
      const s = await waitFor(async () => {
        const r = await f.cmd('status', ['--json']);
        return r.json?.folders?.[0]?.failed?.length === 1 ? r : undefined;
      }, 'status to list the failure', 10_000, 200);
      assert.equal(s.json.folders[0].failed[0].rel, 'flaky.txt');
      assert.match(s.json.folders[0].failed[0].reason, /500|InternalError|server/i);
      // No new event: the daemon's own retry timer brings it back (10 s, then doubling).
      await mirrored(f, 'flaky.txt', bytes(500, 1), 90_000);
      assert.equal(f.proxy.faultsInjected(), 14);
      // The object can land before the retry's 'reconciled' line is written: wait for that line, not just look.
      await d.log((l) => l.msg === 'reconciled' && l.paths === 1 && l.uploaded === 1, 'the retry that uploaded the file', 10_000);
      const reconciles = d.logs.filter((l) => l.msg === 'reconciled' && l.paths === 1);
      assert.ok(reconciles.length >= 2, 'the file was tried again by a later reconcile');
      const after = await waitFor(async () => {
        const r = await f.cmd('status', ['--json']);
        return r.json?.folders?.[0]?.failed?.length === 0 ? r : undefined;
      }, 'the failure to clear', 10_000, 200);
      assert.equal(after.code, 0);
      assert.equal((await d.stop()).code, 0);
    } finally {
      f.proxy.setFaults(undefined);
      await f.close();
    }
  });

  test('an idle daemon sends no request', async () => {
    const f = await fixture('daemon-idle', { topYaml: QUIET });
    try {
      f.write('a.txt', bytes(10, 1));
      const d = startDaemon(f);
      await d.log(initialDone, 'the initial reconcile');
      f.proxy.resetCounts();
      // touch without change: a stat-level event that must not cost a request either
      const t = new Date();
      fs.utimesSync(path.join(f.root, 'a.txt'), t, t);
      await d.log((l) => l.msg === 'reconciled' && l.kind === 'changes' && l.paths === 1, 'the reconcile of the touched file');
      assert.equal(f.proxy.counts().total, 0, JSON.stringify(f.proxy.counts().byOp));
      assert.equal((await d.stop()).code, 0);
    } finally {
      await f.close();
    }
  });
});

describe('daemon: its own state DB', () => {
  test('a state DB reached through a symbolic link into the folder is never uploaded, however often it changes', async () => {
    const f = await fixture('daemon-state-link', { topYaml: QUIET });
    try {
      fs.mkdirSync(path.join(f.root, '.r2mirror'));
      const link = path.join(f.dir, 'state-link');
      fs.symlinkSync(path.join(f.root, '.r2mirror'), link);
      fs.writeFileSync(f.configFile, fs.readFileSync(f.configFile, 'utf8').replace(/^state: .*$/m, `state: ${path.join(link, 'state.db')}`));
      f.write('a.txt', bytes(10, 1));
      const d = startDaemon(f);
      await d.log(initialDone, 'the initial reconcile');
      assert.deepEqual([...(await f.objects()).keys()], [keyOf(f, 'a.txt')], 'the initial reconcile left the DB alone');
      // Every upload commits a row, so the DB's -wal changes in the watched folder each time: that must not be
      // uploaded (which would change the DB again, and so on, forever).
      f.proxy.resetCounts();
      for (const [rel, seed] of [['b.txt', 2], ['c.txt', 3]] as const) {
        f.write(rel, bytes(20, seed));
        // (mirrored() reads the fixture's usual DB path; this DB is elsewhere)
        await waitFor(async () => (await f.objects()).get(keyOf(f, rel))?.etag === expectedEtag(bytes(20, seed)), `${rel} in the bucket`);
      }
      assert.equal(f.proxy.counts().byOp.PutObject, 2, JSON.stringify(f.proxy.counts().byOp));
      assert.deepEqual([...(await f.objects()).keys()].sort(), ['a.txt', 'b.txt', 'c.txt'].map((r) => keyOf(f, r)));
      assert.ok(!d.logs.some((l) => typeof l.key === 'string' && l.key.includes('state.db')), 'no log line names a state file');
      assert.equal((await d.stop()).code, 0);
    } finally {
      await f.close();
    }
  });
});
