// The "file did not change while it was read" checks every transfer makes before its result may become a row:
// the bytes read are the bytes the stat promised, the open descriptor still has the scanned version, and a
// re-stat of the path after the upload still matches it.
// Must not: retry, log or send anything: a failed check throws, and transferFile's retry starts over.

import type fs from 'node:fs';
import { FileChangedError } from '../errors.js';
import { sameVersion, statFile, versionOf, type FileVersion } from '../local/scan.js';

/** The file is gone (deleted or moved away) since it was scanned: nothing to mirror, nothing to record. */
export class VanishedError extends Error {}

/** The one "bytes as expected" check: `read` bytes came where the stat promised `expected`. */
export function expectBytes(read: number, expected: number): void {
  if (read !== expected) throw new FileChangedError(`file changed while it was read (${read} bytes read, ${expected} expected)`);
}

/** Throws FileChangedError when the open file's descriptor no longer has the version `s0` (checked between parts). */
export async function expectSameHandle(handle: fs.promises.FileHandle, s0: FileVersion): Promise<void> {
  if (!sameVersion(s0, versionOf(await handle.stat({ bigint: true })))) throw new FileChangedError('file changed while it was being uploaded');
}

/** Re-stat the path: VanishedError when it is gone, FileChangedError when it is not version `s0` any more. */
export async function confirmUnchanged(abs: string, s0: FileVersion, followSymlinks: boolean): Promise<void> {
  const s1 = await statFile(abs, followSymlinks);
  if (!s1) throw new VanishedError('file vanished');
  if (!s1.isFile() || !sameVersion(s0, versionOf(s1))) throw new FileChangedError('file changed while it was being uploaded');
}
