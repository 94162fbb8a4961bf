// Unit tests for src/local/open.ts: openScanned never blocks (a FIFO opens at once and is refused), follows no
// symbolic link unless asked, and refuses a file that is not the one the scan saw. Temp files under os.tmpdir().

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileChangedError } from '../../src/errors.js';
import { openScanned } from '../../src/local/open.js';
import { versionOf } from '../../src/local/scan.js';

let dir = '';
const version = (p: string) => versionOf(fs.lstatSync(p, { bigint: true }));

before(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'r2mirror-open-'));
  fs.writeFileSync(join(dir, 'file'), 'hello');
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('openScanned opens the file the scan saw and returns its descriptor version', async () => {
  const p = join(dir, 'file');
  const { handle, version: v } = await openScanned(p, version(p), false);
  try {
    assert.deepEqual(v, version(p));
    assert.equal((await handle.readFile()).toString(), 'hello');
  } finally {
    await handle.close();
  }
});

test('openScanned refuses a FIFO at once instead of waiting for a writer', async () => {
  const p = join(dir, 'fifo');
  const scanned = version(join(dir, 'file'));
  execFileSync('mkfifo', [p]);
  const t0 = Date.now();
  // A plain open of a FIFO for reading blocks until a writer comes: this would never settle.
  await assert.rejects(openScanned(p, scanned, false), (err: Error) => {
    assert.equal(err.message, 'no longer a regular file (now a FIFO); not read');
    assert.ok(!(err instanceof FileChangedError), 'not retried as a change');
    return true;
  });
  await assert.rejects(openScanned(p, undefined, true), /now a FIFO/);
  assert.ok(Date.now() - t0 < 2000, 'did not wait');
});

test('openScanned does not read through a symbolic link unless followSymlinks', async () => {
  const p = join(dir, 'link');
  fs.symlinkSync(join(dir, 'file'), p);
  await assert.rejects(openScanned(p, version(join(dir, 'file')), false), { message: 'no longer a regular file (now a symbolic link); not read' });
  const followed = await openScanned(p, versionOf(fs.statSync(p, { bigint: true })), true);
  await followed.handle.close();
});

test('openScanned refuses a directory', async () => {
  const p = join(dir, 'sub');
  fs.mkdirSync(p);
  await assert.rejects(openScanned(p, undefined, false), { message: 'no longer a regular file (now a directory); not read' });
});

test('openScanned refuses a file replaced (another inode) or changed since the scan, as a change to retry', async () => {
  const p = join(dir, 'replaced');
  fs.writeFileSync(p, 'old content');
  const scanned = version(p);
  fs.writeFileSync(`${p}.new`, 'new content');
  fs.renameSync(`${p}.new`, p);
  await assert.rejects(openScanned(p, scanned, false), (err: Error) => err instanceof FileChangedError && /replaced/.test(err.message));
  const again = version(p);
  fs.appendFileSync(p, '!');
  await assert.rejects(openScanned(p, again, false), (err: Error) => err instanceof FileChangedError && /changed since it was scanned/.test(err.message));
});

test('openScanned passes ENOENT through (the file is gone)', async () => {
  await assert.rejects(openScanned(join(dir, 'nope'), undefined, false), { code: 'ENOENT' });
});
