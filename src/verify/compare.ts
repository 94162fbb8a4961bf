// PURE: compare one folder's bucket listing, state rows and disk scan key by key -> the differences (`r2mirror
// verify`). No I/O, no clock. It also says which files must be hashed; reading them is the caller's job.
// Must not: do I/O, read the clock, keep state, or import anything but types and keys.ts (pure ETag arithmetic).

import type { DeleteMode } from '../config.js';
import { candidatePartSizes, etagParts } from '../keys.js';
import type { LocalFile } from '../local/scan.js';
import type { RemoteObject } from '../remote/bucket.js';
import type { ObjectRow } from '../state/store.js';

/**
 * How one key fails to agree. Drift (bucket and DB disagree): missing-object, extra-object, missing-row,
 * row-without-object, object-differs. Pending (the disk changed, the next sync mirrors it): changed, deleted,
 * not-uploaded. cannot-check: the disk side could not be read.
 */
export type DifferenceKind =
  | 'missing-object' | 'extra-object' | 'missing-row' | 'row-without-object' | 'object-differs'
  | 'changed' | 'deleted' | 'not-uploaded' | 'cannot-check';

/**
 * What is known of a file's content: `vouched` (its row's size, mtime and inode are unchanged, so the row
 * vouches for it and it was not read), `same` / `differs` (hashed, or a size that differs), `unchecked` (not
 * needed for the verdict, or its ETag cannot be computed).
 */
export type Content = 'vouched' | 'same' | 'differs' | 'unchecked';

/** One difference, with what each side holds (null: nothing there). */
export interface Difference {
  readonly key: string;
  readonly kind: DifferenceKind;
  readonly bucket: { readonly size: number; readonly etag: string } | null;
  readonly db: { readonly size: number; readonly etag: string } | null;
  readonly disk: { readonly rel: string; readonly size: number; readonly content: Content } | null;
  /** Why the disk side could not be checked (cannot-check). */
  readonly reason?: string;
}

/** The result of hashing one file: same content as the reference, different, or not readable (with why). */
export type HashVerdict = { readonly same: boolean } | { readonly error: string };

/** A file to hash: its ETag for each of `partSizes` (0 = plain MD5) is compared with `etag`. */
export interface HashRequest {
  readonly key: string;
  readonly file: LocalFile;
  readonly etag: string;
  readonly partSizes: readonly number[];
}

/** Everything the comparison looks at, for one folder. */
export interface VerifyInput {
  /** The bucket listing under the prefix (trash prefix left out). */
  readonly objects: ReadonlyMap<string, RemoteObject>;
  readonly rows: ReadonlyMap<string, ObjectRow>;
  /** The disk scan; undefined when the disk could not be compared at all (root missing, unmounted). */
  readonly files: ReadonlyMap<string, LocalFile> | undefined;
  /** Keys and key prefixes the scan could not see: their disk side is unknown. */
  readonly unknownPrefixes: readonly string[];
  readonly unknownKeys: ReadonlySet<string>;
  /** Files the scan found but could not check (unreadable, invalid names): each is a cannot-check difference. */
  readonly problems: readonly { readonly key: string; readonly rel: string; readonly reason: string }[];
  /** Keys of excluded paths: not compared. */
  readonly excluded: (key: string) => boolean;
  readonly deletes: DeleteMode;
  /** The configured multipart part size (the first candidate for objects without a row). */
  readonly partSize: number;
}

/** Per-folder counts. */
export interface VerifyCounts {
  /** Keys compared (not excluded). */
  keys: number;
  /** Keys on which bucket, DB and disk agree. */
  agree: number;
  differences: number;
  objects: number;
  rows: number;
  files: number;
  /** Files whose fresh row vouched for them (not read). */
  vouched: number;
  /** Files read to compare their content. */
  hashed: number;
  /** Objects kept for files deleted locally (deletes: keep): expected, not a difference. */
  kept: number;
  /** Keys of excluded paths, not compared. */
  excluded: number;
  /** Keys whose bucket and DB agree but whose disk side could not be seen. */
  unchecked: number;
}

/** True when the row still describes the file (size, mtime and inode unchanged): plan.ts's isFresh rule. */
function fresh(file: LocalFile, row: ObjectRow): boolean {
  return row.size === file.size && row.mtimeNs === file.mtimeNs && row.ino === file.ino;
}

function allKeys(input: VerifyInput): string[] {
  const keys = new Set<string>([...input.objects.keys(), ...input.rows.keys(), ...(input.files?.keys() ?? [])]);
  return [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

const sameObject = (o: RemoteObject, r: ObjectRow) => o.size === r.size && o.etag === r.etag;

/** Part sizes under which a file could hash to `etag` (0 = plain MD5); empty when it cannot be computed. */
function partSizesFor(etag: string, size: number, recorded: number | undefined, ours: number): number[] {
  const parts = etagParts(etag);
  if (parts === 0) return /^[0-9a-f]{32}$/.test(etag) ? [0] : [];
  if (recorded !== undefined && recorded > 0 && Math.max(1, Math.ceil(size / recorded)) === parts) return [recorded];
  return candidatePartSizes(size, parts, 6, ours);
}

/**
 * The files whose content decides their key's verdict and that no fresh row vouches for: a file with a row
 * that is no longer fresh (hashed against the row, with the row's part size), and a file without a row whose
 * object has its size (hashed against the object). A fresh row's file is never in this list.
 */
export function hashesNeeded(input: VerifyInput): HashRequest[] {
  const out: HashRequest[] = [];
  if (!input.files) return out;
  for (const [key, file] of input.files) {
    if (input.excluded(key) || isUnknown(input, key)) continue;
    const o = input.objects.get(key);
    const r = input.rows.get(key);
    if (r) {
      // Without the object, or with an object that disagrees with the row, the verdict does not need the content.
      if (!o || !sameObject(o, r) || fresh(file, r) || file.size !== r.size) continue;
      const partSizes = partSizesFor(r.etag, r.size, r.partSize, input.partSize);
      if (partSizes.length) out.push({ key, file, etag: r.etag, partSizes });
    } else if (o && o.size === file.size) {
      const partSizes = partSizesFor(o.etag, o.size, undefined, input.partSize);
      if (partSizes.length) out.push({ key, file, etag: o.etag, partSizes });
    }
  }
  return out;
}

function isUnknown(input: VerifyInput, key: string): boolean {
  return input.unknownKeys.has(key) || input.unknownPrefixes.some((p) => key.startsWith(p));
}

/**
 * Compare every key seen in the bucket, the DB or on disk. `hashed` holds the verdicts for the requests of
 * {@link hashesNeeded}; a key it lacks is taken as `unchecked` (and so as not agreeing).
 */
export function compareFolder(input: VerifyInput, hashed: ReadonlyMap<string, HashVerdict>): { differences: Difference[]; counts: VerifyCounts } {
  const counts: VerifyCounts = {
    keys: 0, agree: 0, differences: 0, objects: 0, rows: 0, files: 0, vouched: 0, hashed: hashed.size, kept: 0, excluded: 0, unchecked: 0,
  };
  const differences: Difference[] = [];
  for (const key of allKeys(input)) {
    if (input.excluded(key)) {
      counts.excluded++;
      continue;
    }
    counts.keys++;
    const o = input.objects.get(key);
    const r = input.rows.get(key);
    const diskKnown = input.files !== undefined && !isUnknown(input, key);
    const f = diskKnown ? input.files!.get(key) : undefined;
    if (o) counts.objects++;
    if (r) counts.rows++;
    if (f) counts.files++;
    const bucket = o ? { size: o.size, etag: o.etag } : null;
    const db = r ? { size: r.size, etag: r.etag } : null;
    const verdict = hashed.get(key);
    let content: Content = 'unchecked';
    if (f && r && fresh(f, r)) content = 'vouched';
    else if (f && (r ?? o) && f.size !== (r ?? o)!.size) content = 'differs';
    else if (verdict && 'same' in verdict) content = verdict.same ? 'same' : 'differs';
    if (content === 'vouched') counts.vouched++;
    const disk = f ? { rel: f.rel, size: f.size, content } : null;
    const differ = (kind: DifferenceKind, reason?: string) => differences.push({ key, kind, bucket, db, disk, ...(reason !== undefined ? { reason } : {}) });

    if (o && r && !sameObject(o, r)) differ('object-differs');
    else if (!diskKnown) {
      if (r && !o) differ('missing-object');
      else counts.unchecked++; // the folder-level problem (root, unreadable directory) is reported once
    } else if (f && verdict && 'error' in verdict) differ('cannot-check', verdict.error);
    else if (o && r && f) {
      if (content === 'vouched' || content === 'same') counts.agree++;
      else differ('changed');
    } else if (o && r) differ('deleted');
    else if (o && f) differ(content === 'same' ? 'missing-row' : 'not-uploaded');
    else if (o) {
      // deletes: keep leaves the object of a deleted file in the bucket on purpose (sync forgets its row).
      if (input.deletes === 'keep') counts.kept++;
      else differ('extra-object');
    } else if (r && f) differ('missing-object');
    else if (r) differ('row-without-object');
    else differ('not-uploaded');
  }
  for (const p of input.problems) differences.push({ key: p.key, kind: 'cannot-check', bucket: null, db: null, disk: null, reason: `${p.rel}: ${p.reason}` });
  differences.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  counts.differences = differences.length;
  return { differences, counts };
}
