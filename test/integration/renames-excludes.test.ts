// What is not a delete must not count or act as one: a renamed directory (server-side copies whose old names
// go away) and paths newly excluded. The real CLI against RGW behind the R2 proxy; asserts bucket, DB, exit codes.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { fixture, type Fixture } from '../harness/mirror.js';

/** 100 files of one size (every one a rename candidate for every other), distinct contents. */
function fillDir(f: Fixture, dir: string, tag: string): void {
  for (let i = 0; i < 100; i++) f.write(`${dir}/f${String(i).padStart(3, '0')}.txt`, `${tag} content of file ${String(i).padStart(3, '0')}\n`);
}

const under = (keys: Iterable<string>, p: string) => [...keys].filter((k) => k.startsWith(p)).length;

describe('renames are not deletes', () => {
  test('a renamed directory of 100 files plus 3 deletes, under maxDelete 10: 100 renames, 3 deletes, exit 0', async () => {
    const f = await fixture('dirrename', { folderYaml: '    maxDelete: 10' });
    try {
      fillDir(f, 'a', 'same');
      for (const n of ['x1', 'x2', 'x3', 'keep']) f.write(`${n}.txt`, `other ${n}`);
      assert.equal((await f.run([])).code, 0);
      fs.renameSync(path.join(f.root, 'a'), path.join(f.root, 'b'));
      for (const n of ['x1', 'x2', 'x3']) fs.rmSync(path.join(f.root, `${n}.txt`));

      // The dry run shows the plan the same way: copies with their old names, 3 plain deletes, no refusal.
      const dry = await f.run(['--dry-run']);
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      assert.doesNotMatch(dry.stdout, /ERROR/);
      assert.equal(dry.stdout.match(/^ {4}copy +\S+b\/f\d+\.txt \(renamed from \S+a\/f\d+\.txt\)$/gm)?.length, 100, dry.stdout.slice(0, 2000));
      assert.equal(dry.stdout.match(/^ {4}delete \S+a\/f\d+\.txt \(renamed to \S+b\/f\d+\.txt\)$/gm)?.length, 100);
      assert.equal(dry.stdout.match(/^ {4}delete \S+x\d\.txt$/gm)?.length, 3);

      f.proxy.resetCounts();
      const r = await f.run(['--json']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.folders[0].error, undefined);
      assert.equal(r.json.totals.copied.files, 100, 'renamed 100');
      assert.equal(r.json.totals.deleted, 3, 'deleted 3: only the files really deleted');
      assert.equal(r.json.totals.uploaded.files, 0);
      const ops = f.proxy.counts().byOp;
      assert.equal(ops.CopyObject, 100);
      assert.equal(ops.PutObject, undefined, 'nothing uploaded again');
      const objects = await f.objects();
      assert.equal(under(objects.keys(), f.prefix + 'b/'), 100);
      assert.equal(under(objects.keys(), f.prefix + 'a/'), 0);
      assert.deepEqual([...objects.keys()].filter((k) => !k.startsWith(f.prefix + 'b/')), [f.prefix + 'keep.txt']);
      assert.deepEqual(f.rows().map((x) => x.key).sort(), [...objects.keys()].sort(), 'the DB agrees with the bucket');
      for (const row of f.rows()) assert.equal(row.etag, objects.get(row.key)!.etag, row.key);
    } finally {
      await f.close();
    }
  });

  test('a wrong disk (the directory replaced by same-size files of other content) is still refused by maxDelete', async () => {
    const f = await fixture('wrongdisk', { folderYaml: '    maxDelete: 10' });
    try {
      fillDir(f, 'a', 'real');
      assert.equal((await f.run([])).code, 0);
      fs.rmSync(path.join(f.root, 'a'), { recursive: true });
      fillDir(f, 'b', 'fake'); // same sizes, so every file is a rename candidate; the hashes say otherwise

      const dry = await f.run(['--dry-run', '--json']);
      assert.equal(dry.code, 1);
      assert.match(dry.json.folders[0].error, /refusing to delete 100 of 100 objects .*maxDelete 10 allows 10/);
      assert.equal(dry.json.folders[0].planned.filter((p: any) => p.action === 'delete' || p.action === 'copy').length, 0);

      f.proxy.resetCounts();
      const r = await f.run(['--json']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.json.folders[0].error, /refusing to delete 100 of 100 objects .*maxDelete 10 allows 10/);
      assert.equal(r.json.totals.deleted, 0);
      assert.equal(r.json.totals.copied.files, 0);
      assert.equal(r.json.totals.uploaded.files, 100, 'the new files are uploaded, as with any refused delete plan');
      const ops = f.proxy.counts().byOp;
      assert.equal(ops.CopyObject, undefined);
      assert.equal(ops.DeleteObjects, undefined, 'nothing deleted');
      const objects = await f.objects();
      assert.equal(under(objects.keys(), f.prefix + 'a/'), 100, 'the old objects are all still there');
      assert.equal(under(objects.keys(), f.prefix + 'b/'), 100);
      assert.equal(under(f.rows().map((x) => x.key), f.prefix + 'a/'), 100, 'and so are their rows');
    } finally {
      await f.close();
    }
  });

  test('deletes: trash: a rename is counted as renamed and a delete as trashed', async () => {
    const f = await fixture('trashrename', { folderYaml: '    deletes: trash\n    trashPrefix: trash/host1/data/' });
    try {
      // One size for both: the renamed file must pair with its own old name (same inode), not with the deleted
      // file that sorts first (its hash would not match: an upload, and its old name a delete).
      f.write('old name.txt', 'renamed content');
      f.write('gone.txt', 'deleted content');
      assert.equal((await f.run([])).code, 0);
      fs.renameSync(path.join(f.root, 'old name.txt'), path.join(f.root, 'new name.txt'));
      fs.rmSync(path.join(f.root, 'gone.txt'));
      const r = await f.run(['--json']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.totals.copied.files, 1);
      assert.equal(r.json.totals.trashed, 1, 'only the deleted file');
      assert.equal(r.json.totals.deleted, 0);
      assert.deepEqual([...(await f.objects()).keys()], [f.prefix + 'new name.txt']);
    } finally {
      await f.close();
    }
  });
});

describe('excluded paths are left alone', () => {
  test('adding exclude patterns deletes nothing; deleteExcluded: true deletes what they match', async () => {
    const f = await fixture('excluded');
    try {
      f.write('a/x.log', 'a log');
      f.write('b.txt', 'b');
      f.write('build/out/app.bin', 'built');
      f.write('buildx.txt', 'not under build/');
      assert.equal((await f.run([])).code, 0);
      // Another tool's object under an excluded path: not ours to delete either.
      await f.client.send(new PutObjectCommand({ Bucket: f.bucket, Key: f.prefix + 'c/other.log', Body: 'theirs' }));
      const before = [...(await f.objects()).keys()].sort();
      assert.equal(before.length, 5);

      f.writeConfig('    exclude: ["*.log", "build/"]');
      f.write('new.log', 'never mirrored');
      const r = await f.run(['--json']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.totals.deleted, 0);
      assert.equal(r.json.totals.uploaded.files, 0);
      assert.deepEqual([...(await f.objects()).keys()].sort(), before, 'every object is still there');
      assert.deepEqual(f.rows().map((x) => x.key).sort(), before.filter((k) => !k.endsWith('other.log')), 'rows kept');
      // A second run is a no-change run, not a delayed delete.
      const r2 = await f.run(['--json']);
      assert.equal(r2.code, 0);
      assert.equal(r2.json.totals.deleted, 0);

      f.writeConfig('    exclude: ["*.log", "build/"]\n    deleteExcluded: true');
      const r3 = await f.run(['--json']);
      assert.equal(r3.code, 0, r3.stdout + r3.stderr);
      assert.equal(r3.json.totals.deleted, 3);
      assert.deepEqual([...(await f.objects()).keys()].sort(), [f.prefix + 'b.txt', f.prefix + 'buildx.txt']);
      assert.deepEqual(f.rows().map((x) => x.key).sort(), [f.prefix + 'b.txt', f.prefix + 'buildx.txt']);
    } finally {
      await f.close();
    }
  });
});
