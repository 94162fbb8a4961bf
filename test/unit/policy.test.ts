// Unit tests for src/policy.ts, the guards around a plan, as tables (each row: inputs -> decision): the delete
// guard at and around its limit (count and percent), "suddenly empty" (0 stored rows, allowEmpty, DB vs
// bucket evidence), the scoped root check, the device checks, the cost estimate, and when the state DB may be
// trusted instead of listing. Pure: no files, no server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeleteMode, MaxDelete } from '../../src/config.js';
import { choosePartSize, MiB, partCount } from '../../src/keys.js';
import type { LocalFile } from '../../src/local/scan.js';
import type { Action } from '../../src/plan.js';
import {
  checkDeletes, checksDevices, deleteLimit, estimate, missingRecorded, mustCheckRoot, rootEmptied, suddenlyEmpty, trustState, withoutDeletes,
  type FolderPlace,
} from '../../src/policy.js';
import type { ObjectRow } from '../../src/state/store.js';

const PLACE: FolderPlace = { name: 'photos', path: '/mnt/photos', bucket: 'b', prefix: 'p/' };

function file(rel: string, size: number): LocalFile {
  return { rel, key: 'p/' + rel, size, mtimeNs: '1', mtimeMs: 0, ctimeNs: '1', ino: '1' };
}
const del = (n: number, over: Partial<Extract<Action, { type: 'delete' }>> = {}): Action[] =>
  Array.from({ length: n }, (_, i) => ({ type: 'delete', key: `p/d${i}`, ...over }));
const trash = (n: number): Action[] => Array.from({ length: n }, (_, i) => ({ type: 'trash', key: `p/t${i}`, to: `.trash/t${i}` }));
const forget = (n: number): Action[] => Array.from({ length: n }, (_, i) => ({ type: 'forget', key: `p/f${i}` }));
const upload = (size: number): Action => ({ type: 'upload', key: 'p/u', file: file('u', size), reason: 'new' });
const count = (n: number): MaxDelete => ({ kind: 'count', count: n });
const percent = (n: number): MaxDelete => ({ kind: 'percent', percent: n });

test('delete guard: a plan with more deletes than maxDelete allows is refused, one at the limit goes ahead', () => {
  const rows: { name: string; actions: Action[]; total: number; max: MaxDelete; refused: false | { removals: number; limit: number } }[] = [
    { name: 'count: exactly maxDelete', actions: del(10), total: 100, max: count(10), refused: false },
    { name: 'count: one over', actions: del(11), total: 100, max: count(10), refused: { removals: 11, limit: 10 } },
    { name: 'count 0: no delete at all', actions: [], total: 100, max: count(0), refused: false },
    { name: 'count 0: a single delete', actions: del(1), total: 100, max: count(0), refused: { removals: 1, limit: 0 } },
    { name: 'count: trash counts as a delete', actions: [...del(6), ...trash(5)], total: 100, max: count(10), refused: { removals: 11, limit: 10 } },
    { name: 'count: forgets cost nothing, are not counted', actions: forget(50), total: 100, max: count(10), refused: false },
    { name: 'count: a rename\'s old name is not a delete', actions: [...del(10), ...del(30, { renamedTo: 'p/new' })], total: 100, max: count(10), refused: false },
    { name: 'percent: exactly the share', actions: del(15), total: 30, max: percent(50), refused: false },
    { name: 'percent: one over the share', actions: del(16), total: 30, max: percent(50), refused: { removals: 16, limit: 15 } },
    { name: 'percent: never fewer than 10 allowed', actions: del(10), total: 20, max: percent(10), refused: false },
    { name: 'percent: the floor of 10, one over', actions: del(11), total: 20, max: percent(10), refused: { removals: 11, limit: 10 } },
    { name: 'percent: 0 stored objects still allows 10', actions: del(10), total: 0, max: percent(50), refused: false },
    { name: 'percent: a fraction, computed without float error (18.4% of 375 is 69)', actions: del(69), total: 375, max: percent(18.4), refused: false },
    { name: 'percent: a fraction, one over', actions: del(70), total: 375, max: percent(18.4), refused: { removals: 70, limit: 69 } },
    { name: 'percent 100: everything', actions: del(375), total: 375, max: percent(100), refused: false },
  ];
  for (const r of rows) {
    const v = checkDeletes(r.actions, r.total, r.max, PLACE);
    if (!r.refused) {
      assert.deepEqual(v, { refused: false }, r.name);
      continue;
    }
    assert.equal(v.refused, true, r.name);
    if (!v.refused) continue;
    assert.deepEqual({ removals: v.removals, limit: v.limit }, r.refused, r.name);
    assert.equal(v.limit, deleteLimit(r.max, r.total), r.name);
  }
});

test('delete guard: the refusal names the folder, the limit as configured, and the way to allow it once', () => {
  const byPercent = checkDeletes(del(20), 30, percent(50), PLACE);
  assert.ok(byPercent.refused);
  assert.equal(byPercent.message, 'refusing to delete 20 of 30 objects under b/p/ (maxDelete 50% allows 15); nothing was deleted. ' +
    'Check that /mnt/photos is the right disk; to allow it once: r2mirror sync --folder photos --max-delete 20');
  const byCount = checkDeletes(del(100), 100, count(10), PLACE);
  assert.ok(byCount.refused);
  assert.match(byCount.message, /^refusing to delete 100 of 100 objects .*maxDelete 10 allows 10/);
});

test('delete guard: a refused plan keeps everything but its deletes (renames and forgets go ahead)', () => {
  const up = upload(1);
  const rename: Action = { type: 'delete', key: 'p/old', renamedTo: 'p/new' };
  assert.deepEqual(withoutDeletes([up, ...del(2), ...trash(1), rename, ...forget(1)]), [up, rename, ...forget(1)]);
});

test('suddenly empty: a whole-folder scan with no regular file, where the DB or the bucket says files were', () => {
  const rows: { name: string; regularFiles: number; stored: number; remote: number; allowEmpty?: boolean; refusal?: RegExp }[] = [
    { name: 'nothing recorded anywhere (a new, empty folder)', regularFiles: 0, stored: 0, remote: 0 },
    { name: 'files on disk', regularFiles: 1, stored: 100, remote: 100 },
    { name: 'allowEmpty', regularFiles: 0, stored: 5, remote: 5, allowEmpty: true },
    { name: 'the DB recorded files', regularFiles: 0, stored: 5, remote: 0, refusal: /the state DB recorded 5 files from it/ },
    { name: 'DB and bucket agree: the DB is named', regularFiles: 0, stored: 3, remote: 3, refusal: /the state DB recorded 3 files from it/ },
    { name: 'a fresh DB, the bucket holds objects', regularFiles: 0, stored: 0, remote: 3, refusal: /the bucket holds 3 objects under its prefix/ },
    { name: 'the bucket holds more than the DB', regularFiles: 0, stored: 2, remote: 3, refusal: /the bucket holds 3 objects under its prefix/ },
  ];
  for (const r of rows) {
    const got = suddenlyEmpty({ regularFiles: r.regularFiles, stored: r.stored, remote: r.remote, allowEmpty: r.allowEmpty ?? false }, PLACE);
    if (!r.refusal) assert.equal(got, undefined, r.name);
    else {
      assert.match(got ?? '', r.refusal, r.name);
      assert.match(got ?? '', /^folder path \/mnt\/photos is empty, but .* \(unmounted disk\?\); nothing was deleted\. If the folder really is empty now, run: r2mirror sync --folder photos --allow-empty$/, r.name);
    }
  }
});

test('scoped reconcile: the root is checked for files only before a removal, with files on record, without allowEmpty', () => {
  const rows: { name: string; actions: Action[]; recorded: number; allowEmpty: boolean; check: boolean }[] = [
    { name: 'a delete, files on record', actions: del(1), recorded: 3, allowEmpty: false, check: true },
    { name: 'a trash, files on record', actions: trash(1), recorded: 3, allowEmpty: false, check: true },
    { name: 'a rename\'s removal counts too', actions: del(1, { renamedTo: 'p/x' }), recorded: 3, allowEmpty: false, check: true },
    { name: 'uploads only', actions: [upload(1)], recorded: 3, allowEmpty: false, check: false },
    { name: 'forgets only', actions: forget(2), recorded: 3, allowEmpty: false, check: false },
    { name: '0 files on record', actions: del(1), recorded: 0, allowEmpty: false, check: false },
    { name: 'allowEmpty', actions: del(1), recorded: 3, allowEmpty: true, check: false },
  ];
  for (const r of rows) assert.equal(mustCheckRoot(r.actions, r.recorded, r.allowEmpty), r.check, r.name);
  assert.equal(rootEmptied(3, PLACE), 'folder path /mnt/photos is empty, but the state DB recorded 3 files from it (unmounted disk?); ' +
    'nothing was deleted. If the folder really is empty now, run: r2mirror sync --folder photos --allow-empty');
});

test('devices: checked unless deletes are kept or allowEmpty; the suspects are rows with a device whose file is missing', () => {
  const rows: [DeleteMode, boolean, boolean][] = [['mirror', false, true], ['trash', false, true], ['keep', false, false], ['mirror', true, false], ['trash', true, false]];
  for (const [deletes, allowEmpty, check] of rows) assert.equal(checksDevices(deletes, allowEmpty), check, `${deletes}, allowEmpty ${allowEmpty}`);

  const r = (rel: string, dev: string | null | undefined): ObjectRow => ({ key: 'p/' + rel, rel, size: 1, mtimeNs: '1', ino: '1', etag: 'e', md5: null, partSize: 0, syncedAt: 1, dev });
  const stored = new Map([r('here', '1'), r('gone', '1'), r('no-dev', null), r('old-row', undefined), r('unseen/a', '1'), r('unknown', '1')].map((x) => [x.key, x]));
  const scan = { files: new Map([['p/here', file('here', 1)]]), unknownKeys: new Set(['p/unknown']), unknownPrefixes: ['p/unseen/'] };
  assert.deepEqual(missingRecorded(scan, stored).map((x) => x.rel), ['gone']);
  assert.deepEqual(missingRecorded(scan, new Map()), []);
});

test('estimate: PUTs and parts in Class A, copies and trash copies one each, deletes free 1,000 a request', () => {
  const part = 8 * MiB;
  const parts = (size: number) => partCount(size, choosePartSize(size, part));
  const rows: { name: string; actions: Action[]; want: { classA: number; classB: number; free: number } }[] = [
    { name: 'nothing', actions: [], want: { classA: 0, classB: 0, free: 0 } },
    { name: 'a file of exactly the part size: one PUT', actions: [upload(part)], want: { classA: 1, classB: 0, free: 0 } },
    { name: 'one byte more: create + 2 parts + complete', actions: [upload(part + 1)], want: { classA: 4, classB: 0, free: 0 } },
    { name: 'an empty file: one PUT', actions: [upload(0)], want: { classA: 1, classB: 0, free: 0 } },
    { name: 'a copy', actions: [{ type: 'copy', key: 'p/n', file: file('n', 5), from: 'p/o', against: { etag: 'e', size: 5 } }], want: { classA: 1, classB: 0, free: 0 } },
    { name: 'a check costs nothing', actions: [{ type: 'check', key: 'p/c', file: file('c', 5), against: { etag: 'e', size: 5 }, reason: 'adopt' }], want: { classA: 0, classB: 0, free: 0 } },
    { name: 'forgets cost nothing', actions: forget(3), want: { classA: 0, classB: 0, free: 0 } },
    { name: 'one delete: one free request', actions: del(1), want: { classA: 0, classB: 0, free: 1 } },
    { name: '1,000 deletes: one request', actions: del(1000), want: { classA: 0, classB: 0, free: 1 } },
    { name: '1,001 deletes: two', actions: del(1001), want: { classA: 0, classB: 0, free: 2 } },
    { name: 'trash: a copy, then a delete', actions: trash(2), want: { classA: 2, classB: 0, free: 1 } },
  ];
  for (const r of rows) assert.deepEqual(estimate(r.actions, part, parts), r.want, r.name);
});

test('trustState: list unless the last listing is younger than verifyInterval and no unclean stop since', () => {
  const H = 3600_000;
  const now = 100 * H;
  const rows: { name: string; lastListedAt: number | undefined; needsListing: boolean; want: ReturnType<typeof trustState> }[] = [
    { name: 'never listed', lastListedAt: undefined, needsListing: false, want: { trust: false, why: 'never listed' } },
    { name: 'never listed and owing one', lastListedAt: undefined, needsListing: true, want: { trust: false, why: 'never listed' } },
    { name: 'listed an hour ago', lastListedAt: now - H, needsListing: false, want: { trust: true, lastListedAt: now - H } },
    { name: 'listed just now', lastListedAt: now, needsListing: false, want: { trust: true, lastListedAt: now } },
    { name: 'one ms before due', lastListedAt: now - 24 * H + 1, needsListing: false, want: { trust: true, lastListedAt: now - 24 * H + 1 } },
    { name: 'exactly due', lastListedAt: now - 24 * H, needsListing: false, want: { trust: false, why: 'listing due', lastListedAt: now - 24 * H } },
    { name: 'long overdue', lastListedAt: now - 90 * H, needsListing: false, want: { trust: false, why: 'listing due', lastListedAt: now - 90 * H } },
    { name: 'recent but an unclean stop since', lastListedAt: now - H, needsListing: true, want: { trust: false, why: 'unclean stop', lastListedAt: now - H } },
  ];
  for (const r of rows) {
    assert.deepEqual(trustState({ lastListedAt: r.lastListedAt, needsListing: r.needsListing, now, verifyInterval: 24 * H }), r.want, r.name);
  }
});
