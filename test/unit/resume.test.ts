// Unit tests for the multipart-upload journal (src/state/uploads.ts through Store) and for the rule that says when a
// recorded upload may be resumed (src/transfer/resume.ts unfit): a changed file, another part size or bucket, or an
// upload older than RESUME_MAX_AGE_MS starts over.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/state/store.js';
import { RESUME_MAX_AGE_MS, unfit } from '../../src/transfer/resume.js';

const dir = mkdtempSync(join(tmpdir(), 'r2mirror-resume-'));
const store = Store.open(join(dir, 'state.db'));
after(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
const file = { size: 20 * MiB, mtimeNs: '1700000000123456789', ctimeNs: '1700000000223456789', ino: '42' };
const begun = (uploadId: string, key = 'p/big.bin') => ({ key, uploadId, bucket: 'b', partSize: 8 * MiB, ...file, startedAt: 1_000 });

test('the journal records an upload and its confirmed parts, and forgets both when the upload ends', () => {
  store.folder('photos', 'b', 'p/');
  assert.equal(store.upload('photos', 'p/big.bin'), undefined);
  store.uploadBegun('photos', begun('U1'));
  store.uploadPart('photos', 'p/big.bin', 'U1', 1, { size: 8 * MiB, md5: 'a'.repeat(32), etag: 'a'.repeat(32) });
  store.uploadPart('photos', 'p/big.bin', 'U1', 2, { size: 8 * MiB, md5: 'b'.repeat(32), etag: 'b'.repeat(32) });
  store.uploadPart('photos', 'p/big.bin', 'OTHER', 3, { size: 4 * MiB, md5: 'c'.repeat(32), etag: 'c'.repeat(32) }); // not this upload: ignored
  const u = store.upload('photos', 'p/big.bin')!;
  assert.equal(u.uploadId, 'U1');
  assert.equal(u.touchedAt, 1_000, 'touched when it began');
  assert.deepEqual([...u.parts.keys()], [1, 2]);
  assert.deepEqual(u.parts.get(2), { size: 8 * MiB, md5: 'b'.repeat(32), etag: 'b'.repeat(32) });
  store.uploadTouched('photos', 'p/big.bin', 'U1', 5_000);
  assert.equal(store.uploads('photos')[0]!.touchedAt, 5_000);
  store.uploadEnded('photos', 'p/big.bin', 'NOT-U1');
  assert.ok(store.upload('photos', 'p/big.bin'), 'ending another upload id leaves this one');
  store.uploadEnded('photos', 'p/big.bin', 'U1');
  assert.equal(store.upload('photos', 'p/big.bin'), undefined);
  assert.deepEqual(store.uploads('photos'), []);
});

test('a new upload of a key replaces the old record and its parts', () => {
  store.folder('photos', 'b', 'p/');
  store.uploadBegun('photos', begun('U1'));
  store.uploadPart('photos', 'p/big.bin', 'U1', 1, { size: 8 * MiB, md5: 'a'.repeat(32), etag: 'a'.repeat(32) });
  store.uploadBegun('photos', begun('U2'));
  const u = store.upload('photos', 'p/big.bin')!;
  assert.equal(u.uploadId, 'U2');
  assert.equal(u.parts.size, 0, 'the old upload\'s parts are gone with it');
  store.uploadEnded('photos', 'p/big.bin', 'U2');
});

test('unfit: only the same file version, part size and bucket within the age limit is resumed', () => {
  const rec = begun('U1');
  const t = { size: file.size };
  assert.equal(unfit(rec, file, t, 8 * MiB, 'b', 2_000), undefined);
  assert.equal(unfit(rec, { ...file, mtimeNs: '1700000000999999999' }, t, 8 * MiB, 'b', 2_000), 'the file changed since it began');
  assert.equal(unfit(rec, { ...file, ctimeNs: '1' }, t, 8 * MiB, 'b', 2_000), 'the file changed since it began');
  assert.equal(unfit(rec, { ...file, ino: '43' }, t, 8 * MiB, 'b', 2_000), 'the file changed since it began');
  assert.equal(unfit(rec, { ...file, size: file.size + 1 }, { size: file.size + 1 }, 8 * MiB, 'b', 2_000), 'the file changed since it began');
  assert.equal(unfit(rec, file, t, 16 * MiB, 'b', 2_000), `it used ${8 * MiB}-byte parts, now ${16 * MiB}`);
  assert.equal(unfit(rec, file, t, 8 * MiB, 'other', 2_000), 'it went to bucket b');
  assert.equal(unfit(rec, file, t, 8 * MiB, 'b', 1_000 + RESUME_MAX_AGE_MS), undefined, 'at the limit: still resumed');
  assert.equal(unfit(rec, file, t, 8 * MiB, 'b', 1_001 + RESUME_MAX_AGE_MS), 'it began more than 5 days ago');
});
