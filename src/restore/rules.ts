// The pure rules of a restore: which key becomes which local path (nothing escapes the target), which --prefix
// is usable, and which part sizes a multipart ETag is checked with.
// Must not: do I/O, keep state, or import anything but keys.ts.

import { candidatePartSizes, etagParts, partCount } from '../keys.js';

/** Why a --prefix value is unusable (it is relative to the folder's prefix), or undefined. */
export function prefixProblem(p: string): string | undefined {
  if (p.startsWith('/')) return 'must not start with "/": it is relative to the folder\'s prefix';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'must not contain control characters';
  if (p.split('/').some((s) => s === '.' || s === '..')) return 'must not contain "." or ".." segments';
  return undefined;
}

/** Where a key goes under the target directory: a file, a directory marker (`dir/`), or why it must not be written. */
export type RestorePath = { kind: 'file'; rel: string } | { kind: 'dir'; rel: string } | { kind: 'bad'; reason: string };

/**
 * The relative path (with '/' separators) that `key` restores to: the key minus the folder's `prefix`. Keys that
 * could write outside the target directory or are ambiguous as paths ('..' or '.' segments, a leading '/', empty
 * segments, NUL) are refused with a reason. A key ending in '/' is a directory marker.
 */
export function restorePath(key: string, prefix: string): RestorePath {
  if (!key.startsWith(prefix)) return { kind: 'bad', reason: `the key is not under the folder prefix "${prefix}"` };
  const rel = key.slice(prefix.length);
  if (rel === '') return { kind: 'bad', reason: 'the key is the folder prefix itself, which names no file' };
  if (rel.includes('\0')) return { kind: 'bad', reason: 'the key contains a NUL character, which no file name can hold' };
  if (rel.startsWith('/')) return { kind: 'bad', reason: 'the path would be absolute (the key has "/" right after the prefix); not written' };
  const dir = rel.endsWith('/');
  const segments = (dir ? rel.slice(0, -1) : rel).split('/');
  if (segments.some((s) => s === '..')) return { kind: 'bad', reason: 'the key has a ".." segment, which would write outside the target directory; not written' };
  if (segments.some((s) => s === '.')) return { kind: 'bad', reason: 'the key has a "." segment, so two keys could name one file; not written' };
  if (segments.some((s) => s === '')) return { kind: 'bad', reason: 'the key has an empty segment ("//"), so two keys could name one file; not written' };
  return dir ? { kind: 'dir', rel: rel.slice(0, -1) } : { kind: 'file', rel };
}

/**
 * Part sizes to check a multipart ETag with: the one the state DB recorded for this very object first, then the
 * sizes that give the same part count. [0] for a plain MD5. A string says why the content cannot be verified.
 */
export function partSizesFor(o: { size: number; etag: string }, row: { etag: string; partSize: number } | undefined, ours: number): number[] | string {
  if (/^[0-9a-f]{32}$/.test(o.etag)) return [0];
  const parts = etagParts(o.etag);
  if (parts === 0) return `its ETag "${o.etag}" is neither an MD5 nor a multipart ETag, so the content cannot be verified; not restored`;
  const candidates = candidatePartSizes(o.size, parts, 6, ours);
  const recorded = row && row.etag === o.etag && row.partSize > 0 && partCount(o.size, row.partSize) === parts ? [row.partSize] : [];
  const sizes = [...new Set([...recorded, ...candidates])];
  if (sizes.length === 0) return `no part size splits ${o.size} bytes into the ${parts} parts its ETag "${o.etag}" names, so the content cannot be verified; not restored`;
  return sizes;
}
