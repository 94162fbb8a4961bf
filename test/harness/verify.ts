// Checks shared by the reliability suites (faults, crash, writers, concurrency): "the bucket is an exact mirror
// of the folder and the state DB agrees", open multipart uploads, and polling with deadlines. Test-only.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { Database } from '../../src/state/sqlite.js';
import { bytes, md5, multipartEtag, type Fixture } from './mirror.js';
import { mulberry32 } from './r2proxy.js';

export const MiB = 1024 * 1024;
/** r2mirror's default part size: files up to it go in one PutObject. */
export const PART = 8 * MiB;

/** The ETag S3/R2 gives `b` as r2mirror uploads it (single PUT up to 8 MiB, else 8 MiB parts), computed here. */
export function expectedEtag(b: Buffer): string {
  return b.length > PART ? multipartEtag(b, PART) : md5(b);
}

/** The key of a relative path in the fixture's prefix, NFC as R2 stores it. */
export const keyOf = (f: Fixture, rel: string): string => (f.prefix + rel).normalize('NFC');

/**
 * Writes `count` small files (0..6 KiB, seeded content) spread over nested directories, plus the given big
 * files, into the fixture's folder. Returns rel -> content.
 */
export function writeTree(f: Fixture, count: number, big: Record<string, number> = {}, seed = 1): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const rel = `d${i % 7}/sub${i % 3}/file-${String(i).padStart(4, '0')}.dat`;
    files.set(rel, bytes((i * 997) % 6144, seed * 100_003 + i));
  }
  let n = 0;
  for (const [rel, size] of Object.entries(big)) files.set(rel, bytes(size, seed * 7919 + ++n));
  for (const [rel, b] of files) f.write(rel, b);
  return files;
}

/**
 * The bucket holds exactly `files` under the prefix (keys, sizes, ETags computed independently), and the state
 * DB has one row per object with the same size and ETag.
 */
export async function assertMirror(f: Fixture, files: ReadonlyMap<string, Buffer>, what = ''): Promise<void> {
  const objects = await f.objects();
  const want = new Map([...files].map(([rel, b]) => [keyOf(f, rel), b]));
  const missing = [...want.keys()].filter((k) => !objects.has(k));
  const extra = [...objects.keys()].filter((k) => !want.has(k));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${what}: bucket keys differ from the folder`);
  const wrong: string[] = [];
  for (const [key, b] of want) {
    const o = objects.get(key)!;
    if (o.size !== b.length || o.etag !== expectedEtag(b)) wrong.push(`${key}: ${o.size} ${o.etag}, want ${b.length} ${expectedEtag(b)}`);
  }
  assert.deepEqual(wrong, [], `${what}: objects with the wrong content`);
  assertRowsMatchBucket(f.rows(), objects, what);
}

/** Rows and bucket agree: same keys, and per key the same size and ETag. */
export function assertRowsMatchBucket(
  rows: { key: string; size: number; etag: string }[],
  objects: ReadonlyMap<string, { size: number; etag: string }>,
  what = '',
): void {
  assert.deepEqual(rows.map((r) => r.key).sort(), [...objects.keys()].sort(), `${what}: DB rows and bucket keys differ`);
  const wrong = rows.filter((r) => objects.get(r.key)!.etag !== r.etag || objects.get(r.key)!.size !== r.size);
  assert.deepEqual(wrong.map((r) => `${r.key}: row ${r.size} ${r.etag}, object ${JSON.stringify(objects.get(r.key))}`), [],
    `${what}: rows that disagree with their object`);
}

/** Multipart uploads still open in the fixture's bucket (asked directly, not through the proxy). */
export async function openUploads(f: Fixture): Promise<{ key: string; uploadId: string }[]> {
  const out: { key: string; uploadId: string }[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    const res = await f.client.send(new ListMultipartUploadsCommand({ Bucket: f.bucket, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
    for (const u of res.Uploads ?? []) out.push({ key: u.Key!, uploadId: u.UploadId! });
    keyMarker = res.IsTruncated ? res.NextKeyMarker : undefined;
    uploadIdMarker = res.IsTruncated ? res.NextUploadIdMarker : undefined;
  } while (keyMarker);
  return out;
}

/** Poll `cond` every `intervalMs` until it returns a truthy value; fail with `what` after `timeoutMs`. */
export async function waitFor<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 20_000, intervalMs = 5): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Rows of the runs table (id, finished or not). */
export function runs(f: Fixture): { id: number; finished_at: number | null; summary: string | null }[] {
  if (!fs.existsSync(f.statePath)) return [];
  const db = new Database(f.statePath, { readonly: true });
  try {
    return db.prepare('SELECT id, finished_at, summary FROM runs ORDER BY id').all() as { id: number; finished_at: number | null; summary: string | null }[];
  } finally {
    db.close();
  }
}

/** PRAGMA integrity_check of the state DB ('ok' when intact). */
export function integrity(f: Fixture): string {
  const db = new Database(f.statePath, { readonly: true });
  try {
    return (db.pragma('integrity_check', { simple: true }) as string) ?? '';
  } finally {
    db.close();
  }
}

/** mulberry32: seeded random numbers in [0, 1), so kill points and delays reproduce. */
export const seeded = mulberry32;
