// `presign` without a server: --expires parsing and range, option rules, and how an argument becomes bucket + key
// (local path through the folder mapping, or a bare key). The file system is a fake PathProbe.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FolderConfig } from '../../src/config.js';
import { normaliseCharset, parseExpires, parsePresignArgs, resolvePresignTarget, type PathProbe } from '../../src/commands/presign.js';
import { checksumParams } from '../../src/remote/presign.js';

const folder = (name: string, path: string, bucket: string, prefix: string, exclude: string[] = []): FolderConfig => ({
  name, path, bucket, prefix, exclude, deleteExcluded: false, deletes: 'mirror', trashPrefix: '.trash/', followSymlinks: false, oneFileSystem: false, maxDelete: { kind: 'percent', percent: 50 },
});

const PHOTOS = folder('photos', '/srv/photos', 'media', 'host1/photos/');
const DOCS = folder('docs', '/home/u/docs', 'office', '');
const ALSO_MEDIA = folder('music', '/srv/music', 'media', 'music/');

/** A fake file system: these files and directories exist; /link/... is a symbolic link to /srv/photos/... */
function probe(files: string[], dirs: string[] = []): PathProbe {
  return {
    kind: (abs) => (files.includes(abs) ? 'file' : dirs.includes(abs) ? 'dir' : undefined),
    realpath: (abs) => abs.replace(/^\/link(?=\/|$)/, '/srv/photos'),
  };
}

test('parseExpires: units, bare seconds, default, range 1 s .. 7 d inclusive', () => {
  assert.equal(parseExpires(undefined), 3600);
  assert.equal(parseExpires('30s'), 30);
  assert.equal(parseExpires('15m'), 900);
  assert.equal(parseExpires('1h'), 3600);
  assert.equal(parseExpires('1h30m'), 5400);
  assert.equal(parseExpires('7d'), 604800);
  assert.equal(parseExpires('604800'), 604800);
  assert.equal(parseExpires('1s'), 1);
  assert.equal(parseExpires('1'), 1);
  assert.throws(() => parseExpires('8d'), /--expires "8d" is out of range: a presigned URL is valid for 1 s to 7 days \(604800 s\)/);
  assert.throws(() => parseExpires('604801'), /--expires "604801" is out of range/);
  assert.throws(() => parseExpires('0s'), /--expires "0s" is out of range/);
  assert.throws(() => parseExpires('0'), /--expires "0" is out of range/);
  assert.throws(() => parseExpires('1500ms'), /--expires "1500ms" is not a whole number of seconds/);
  assert.throws(() => parseExpires('soon'), /--expires "soon" is not a duration \(e\.g\. 30s, 15m, 1h, 7d\)/);
  assert.throws(() => parseExpires('-1h'), /is not a duration/);
});

test('parsePresignArgs: options and usage errors', () => {
  assert.deepEqual(parsePresignArgs(['a.txt', '--put', '--content-type', 'image/png', '--expires', '15m', '-f', 'photos', '--json', '-c', '/c.yaml'], {}), {
    config: '/c.yaml', target: 'a.txt', folder: 'photos', method: 'PUT', contentType: 'image/png', expires: 900, json: true, verbosity: 0,
  });
  assert.deepEqual(parsePresignArgs(['k'], { R2MIRROR_CONFIG: '/e.yaml' }), {
    config: '/e.yaml', target: 'k', folder: undefined, method: 'GET', contentType: undefined, expires: 3600, json: false, verbosity: 0,
  });
  // XMLHttpRequest sends charset=UTF-8 whatever the page set: the link is signed for that spelling
  const utf8 = parsePresignArgs(['k', '--put', '--content-type', 'text/plain; charset=utf-8'], {});
  assert.equal(utf8.contentType, 'text/plain; charset=UTF-8');
  assert.equal(utf8.contentTypeTyped, 'text/plain; charset=utf-8');
  assert.equal(parsePresignArgs(['k', '--put', '--content-type', 'text/plain; charset=UTF-8'], {}).contentTypeTyped, undefined);
  assert.equal(normaliseCharset('text/html;charset="Utf-8"'), 'text/html;charset="UTF-8"');
  assert.equal(normaliseCharset('text/plain; charset=utf-8; format=flowed'), 'text/plain; charset=UTF-8; format=flowed');
  assert.equal(normaliseCharset('text/plain; charset=iso-8859-1'), 'text/plain; charset=iso-8859-1');
  assert.equal(normaliseCharset('text/plain; charset=utf-16'), 'text/plain; charset=utf-16');
  assert.equal(normaliseCharset('image/png'), 'image/png');
  assert.throws(() => parsePresignArgs([], {}), /presign: name a local file or an object key/);
  assert.throws(() => parsePresignArgs(['a', 'b'], {}), /unexpected argument "b"/);
  assert.throws(() => parsePresignArgs(['k', '--content-type', 'text/plain'], {}), /--content-type only applies to upload links \(add --put\)/);
  assert.throws(() => parsePresignArgs(['k', '--put', '--content-type', 'plain'], {}), /--content-type "plain" is not a media type/);
  assert.throws(() => parsePresignArgs(['k', '--put', '--content-type', 'text/plain\r\nX-Evil: 1'], {}), /is not a media type/);
});

test('a local path maps through the folder: prefix + path relative to the root, NFC, "/" separators', () => {
  const folders = [PHOTOS, DOCS];
  const p = probe(['/srv/photos/2024/trip/img 1.jpg', '/home/u/docs/cafe\u0301.txt']);
  assert.deepEqual(resolvePresignTarget('/srv/photos/2024/trip/img 1.jpg', folders, { cwd: '/', probe: p }), {
    bucket: 'media', key: 'host1/photos/2024/trip/img 1.jpg', folder: PHOTOS, path: '/srv/photos/2024/trip/img 1.jpg', rel: '2024/trip/img 1.jpg',
  });
  // relative to cwd, and the folder with the other bucket; NFD on disk becomes an NFC key (as sync stores it)
  const t = resolvePresignTarget('docs/cafe\u0301.txt', folders, { cwd: '/home/u', probe: p });
  assert.equal(t.bucket, 'office');
  assert.equal(t.key, 'caf\u00e9.txt');
  // ./ and ../ are paths
  assert.equal(resolvePresignTarget('../photos/2024/trip/img 1.jpg', folders, { cwd: '/srv/music', probe: p }).key, 'host1/photos/2024/trip/img 1.jpg');
});

test('a path under a folder root that does not exist yet is still a path (an upload link for a new file)', () => {
  const t = resolvePresignTarget('/srv/photos/new/later.png', [PHOTOS, DOCS], { cwd: '/', probe: probe([]) });
  assert.deepEqual([t.bucket, t.key], ['media', 'host1/photos/new/later.png']);
  // relative, with cwd inside the root: the name is a path too
  assert.equal(resolvePresignTarget('x/y.txt', [PHOTOS], { cwd: '/srv/photos/2024', probe: probe([]) }).key, 'host1/photos/2024/x/y.txt');
});

test('a path reached through a symbolic link maps like the real path', () => {
  const t = resolvePresignTarget('/link/a.jpg', [PHOTOS], { cwd: '/', probe: probe(['/link/a.jpg']) });
  assert.equal(t.key, 'host1/photos/a.jpg');
});

test('a path outside every folder is a usage error naming the path and the roots', () => {
  assert.throws(() => resolvePresignTarget('/etc/passwd', [PHOTOS, DOCS], { cwd: '/', probe: probe(['/etc/passwd']) }),
    { message: 'presign: /etc/passwd is outside every folder (roots: photos: /srv/photos, docs: /home/u/docs)' });
  assert.throws(() => resolvePresignTarget('./notes.txt', [PHOTOS], { cwd: '/tmp', probe: probe([]) }),
    { message: 'presign: ./notes.txt (/tmp/notes.txt) is outside every folder (roots: photos: /srv/photos)' });
  // a sibling whose name starts like the root is outside it
  assert.throws(() => resolvePresignTarget('/srv/photos2/a.jpg', [PHOTOS], { cwd: '/', probe: probe(['/srv/photos2/a.jpg']) }), /is outside every folder/);
  // with --folder: must be under that folder
  assert.throws(() => resolvePresignTarget('/home/u/docs/a', [PHOTOS, DOCS], { cwd: '/', folder: 'photos', probe: probe(['/home/u/docs/a']) }),
    { message: 'presign: /home/u/docs/a is not under the root of folder photos (/srv/photos)' });
});

test('the root itself and directories are refused', () => {
  assert.throws(() => resolvePresignTarget('/srv/photos', [PHOTOS], { cwd: '/', probe: probe([], ['/srv/photos']) }), /is the root of folder photos, not a file/);
  assert.throws(() => resolvePresignTarget('/srv/photos/2024', [PHOTOS], { cwd: '/', probe: probe([], ['/srv/photos/2024']) }), /is a directory; a presigned URL is for one object/);
});

test('a bare key is used as it is: the only bucket, or the bucket of --folder; no prefix is added', () => {
  const p = probe([]);
  assert.deepEqual(resolvePresignTarget('some/key.txt', [PHOTOS], { cwd: '/', probe: p }), { bucket: 'media', key: 'some/key.txt', folder: PHOTOS });
  // several folders in one bucket: no --folder needed
  assert.equal(resolvePresignTarget('k', [PHOTOS, ALSO_MEDIA], { cwd: '/', probe: p }).bucket, 'media');
  assert.equal(resolvePresignTarget('k', [PHOTOS, DOCS], { cwd: '/', folder: 'docs', probe: p }).bucket, 'office');
  assert.throws(() => resolvePresignTarget('k', [PHOTOS, DOCS], { cwd: '/', probe: p }),
    { message: 'presign: "k" is not a local path under a folder, and the folders use several buckets (photos: media, docs: office): name one with --folder NAME' });
  assert.throws(() => resolvePresignTarget('k', [PHOTOS], { cwd: '/', folder: 'nope', probe: p }), /no folder named "nope" \(folders: photos\)/);
  assert.throws(() => resolvePresignTarget('x'.repeat(1025), [PHOTOS], { cwd: '/', probe: p }), /cannot be an object: its key is 1025 bytes long/);
});

test('checksumParams finds every checksum query parameter R2 refuses', () => {
  assert.deepEqual(checksumParams('https://h/b/k?X-Amz-Signature=1&x-amz-checksum-crc32=AAAAAA%3D%3D&x-amz-sdk-checksum-algorithm=CRC32'),
    ['x-amz-checksum-crc32', 'x-amz-sdk-checksum-algorithm']);
  assert.deepEqual(checksumParams('https://h/b/k?X-Amz-Signature=1&x-id=GetObject'), []);
});
