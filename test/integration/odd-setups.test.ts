// Set-ups that used to go wrong quietly, with the real CLI against RGW behind the R2 proxy: a state DB reached
// through a symbolic link into the folder, a prefix typed in Unicode NFD, mtimes before 1970, and file names that
// hold terminal escape sequences. Each test asserts what a user sees: objects, requests, exit codes, output.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { fixture } from '../harness/mirror.js';
import { listAll } from '../harness/s3server.js';
import { keyOf } from '../harness/verify.js';

/** Bytes a terminal acts on (C0 but the line feed, DEL, C1): none may reach a human output raw. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

describe('odd set-ups', () => {
  test('a state DB reached through a symbolic link into the folder is never mirrored, either way round', async () => {
    const f = await fixture('state-link');
    try {
      f.write('a.txt', 'a');
      fs.mkdirSync(path.join(f.root, '.r2mirror'));
      const link = path.join(f.dir, 'state-link');
      fs.symlinkSync(path.join(f.root, '.r2mirror'), link);
      const config = fs.readFileSync(f.configFile, 'utf8');
      const only = [keyOf(f, 'a.txt')];
      // (1) the config names the DB through a link that leads into the folder
      fs.writeFileSync(f.configFile, config.replace(/^state: .*$/m, `state: ${path.join(link, 'state.db')}`));
      for (const run of [1, 2]) {
        f.proxy.resetCounts();
        const r = await f.run(['--json']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.json.totals.uploaded.files, run === 1 ? 1 : 0, `run ${run} uploads ${run === 1 ? 'a.txt' : 'nothing'}`);
        assert.equal(f.proxy.counts().byOp.PutObject ?? 0, run === 1 ? 1 : 0, `run ${run}: ${JSON.stringify(f.proxy.counts().byOp)}`);
        assert.deepEqual([...(await f.objects()).keys()], only, `run ${run}: nothing of state.db* in the bucket`);
      }
      assert.ok(fs.existsSync(path.join(f.root, '.r2mirror', 'state.db')), 'the DB really is inside the folder');
      // (2) the folder through a link, the DB by its real path
      const rootLink = path.join(f.dir, 'root-link');
      fs.symlinkSync(f.root, rootLink);
      fs.writeFileSync(f.configFile, config.replace(/^state: .*$/m, `state: ${path.join(f.root, '.r2mirror', 'state.db')}`)
        .replace(`    path: ${f.root}`, `    path: ${rootLink}`));
      f.proxy.resetCounts();
      const r = await f.run(['--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.totals.uploaded.files, 0);
      assert.equal(f.proxy.counts().byOp.PutObject ?? 0, 0);
      assert.deepEqual([...(await f.objects()).keys()], only);
    } finally {
      await f.close();
    }
  });

  test('a prefix typed in NFD: the second sync uploads nothing and a delete reaches the bucket', async () => {
    const nfd = 'cafe\u0301/data/';
    const nfc = nfd.normalize('NFC');
    assert.notEqual(nfd, nfc);
    const f = await fixture('nfd-prefix', { prefix: nfd });
    try {
      const keys = async () => [...(await listAll(f.client, f.bucket, nfc)).keys()].sort();
      f.write('a.txt', 'a');
      f.write('b.txt', 'b');
      let r = await f.run(['--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.totals.uploaded.files, 2);
      assert.deepEqual(await keys(), [`${nfc}a.txt`, `${nfc}b.txt`]);
      f.proxy.resetCounts();
      r = await f.run(['--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.totals.uploaded.files, 0, 'nothing uploaded again');
      assert.equal(f.proxy.counts().byOp.PutObject ?? 0, 0);
      fs.rmSync(path.join(f.root, 'b.txt'));
      r = await f.run(['--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.totals.deleted, 1, 'the delete propagates');
      assert.deepEqual(await keys(), [`${nfc}a.txt`]);
      for (const k of f.proxy.keysSeen()) assert.equal(k, k.normalize('NFC'), 'every key sent is NFC');
    } finally {
      await f.close();
    }
  });

  test('an mtime before 1970 is stored as rclone writes it and restored exactly', async () => {
    const f = await fixture('old-mtime');
    try {
      f.write('old.txt', 'from 1960');
      const file = path.join(f.root, 'old.txt');
      // 1960-01-01T00:00:00.5Z; as a string, because Node turns a negative number of seconds into "now"
      fs.utimesSync(file, '-315619199.5', '-315619199.5');
      const ns = fs.statSync(file, { bigint: true }).mtimeNs;
      assert.equal(ns, -315619199_500000000n, 'the file system holds the old mtime');
      const r = await f.run(['--json']);
      assert.equal(r.code, 0, r.stderr);
      const head = await f.client.send(new HeadObjectCommand({ Bucket: f.bucket, Key: keyOf(f, 'old.txt') }));
      assert.equal(head.Metadata?.mtime, '-315619199.500000000', 'the sign in front of the whole value (rclone reads it back exactly)');
      const to = path.join(f.dir, 'restored');
      const back = await f.cmd('restore', ['--folder', 'data', '--to', to, '--json']);
      assert.equal(back.code, 0, back.stderr);
      assert.equal(back.json.restored, 1);
      const got = fs.statSync(path.join(to, 'old.txt'), { bigint: true }).mtimeNs;
      const d = got - ns;
      assert.ok(d < 1000n && d > -1000n, `restored mtime ${got} ns, expected ${ns} ns (utimes takes a double of seconds)`);
    } finally {
      await f.close();
    }
  });

  test('file names with escape sequences reach no output raw: sync summary, dry run, status', async () => {
    const f = await fixture('escapes');
    try {
      const evil = 'bad\x1b[2J\rname.txt'; // ESC clears the screen, CR rewrites the line
      const c1 = 'csi\u009b2Jname.txt'; // valid UTF-8, a valid key; an 8-bit CSI on some terminals
      f.write('ok.txt', 'ok');
      f.write(evil, 'x');
      f.write(c1, 'y');
      const dry = await f.run(['--dry-run']);
      assert.ok(dry.code === 0 || dry.code === 1, dry.stderr);
      assert.ok(dry.stdout.includes(`upload ${keyOf(f, 'csi\\u009b2Jname.txt')}`), dry.stdout);
      const r = await f.run([]);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stdout.includes('failed: bad\\u001b[2J\\rname.txt: cannot be mirrored: its name contains a control character'), r.stdout);
      const status = await f.cmd('status', []);
      assert.equal(status.code, 0, status.stderr);
      assert.ok(status.stdout.includes('bad\\u001b[2J\\rname.txt: cannot be mirrored'), status.stdout);
      for (const [what, text] of [['dry run', dry.stdout], ['summary', r.stdout], ['status', status.stdout], ['log lines', r.stderr]]) {
        assert.doesNotMatch(text!, RAW_CONTROL, `${what}: ${JSON.stringify(text)}`);
      }
    } finally {
      await f.close();
    }
  });
});
