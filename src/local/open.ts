// Opens a file the scan saw, for reading, without ever blocking: every read of a mirrored file goes through here.
// Never writes; never follows a symbolic link unless asked; refuses what is no longer the file the scan saw.
// Must not: write, block on a FIFO or device, or import from remote/, state/ or above.

import fs from 'node:fs';
import { Readable } from 'node:stream';
import { FileChangedError } from '../errors.js';
import { sameVersion, versionOf, type FileVersion } from './scan.js';

/** What a path is, in words, for "no longer a regular file (now a FIFO)". */
export function kindOf(st: fs.BigIntStats | fs.Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** The reason given for a path that is no longer a regular file (a per-file failure, not retried). */
export function notRegularReason(st: fs.BigIntStats | fs.Stats): string {
  return `no longer a regular file (now ${kindOf(st)}); not read`;
}

/** A file opened by {@link openScanned}: its handle and the version its descriptor has. Close it when done. */
export interface OpenedFile {
  readonly handle: fs.promises.FileHandle;
  readonly version: FileVersion;
}

/**
 * Open `abs` read-only and check the descriptor against the scan's `expected` version:
 * - O_NONBLOCK: a path that became a FIFO or device opens at once instead of waiting for a writer (a plain
 *   open of a FIFO blocks the thread until someone opens it for writing: forever, and the main thread with it
 *   for a synchronous read);
 * - O_NOFOLLOW unless `followSymlinks`: a file replaced by a link is not read through it;
 * - fstat of the descriptor: anything but a regular file is refused (a plain Error, so the caller reports the
 *   file as failed), and another version (inode, size, mtime, ctime) than the scan saw is a FileChangedError
 *   (retried with a fresh stat).
 * ENOENT/ENOTDIR pass through (the file is gone).
 */
export async function openScanned(abs: string, expected: FileVersion | undefined, followSymlinks: boolean): Promise<OpenedFile> {
  const flags = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (followSymlinks ? 0 : fs.constants.O_NOFOLLOW);
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(abs, flags);
  } catch (err) {
    // O_NOFOLLOW on a symbolic link fails with ELOOP: name what the path became.
    if ((err as NodeJS.ErrnoException).code === 'ELOOP' && !followSymlinks) {
      const st = fs.lstatSync(abs, { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) throw new Error(notRegularReason(st));
    }
    throw err;
  }
  try {
    const st = await handle.stat({ bigint: true });
    if (!st.isFile()) throw new Error(notRegularReason(st));
    const version = versionOf(st);
    if (expected && !sameVersion(version, expected)) {
      throw new FileChangedError(version.ino !== expected.ino ? 'file was replaced since it was scanned' : 'file changed since it was scanned');
    }
    return { handle, version };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

/**
 * A stream of `length` bytes from `start` of an open file (fewer if the file shrank), read with positional
 * reads in chunks of `chunk` bytes. Ending or destroying it leaves the handle open (fs streams close their
 * descriptor on destroy, even with autoClose: false); FileHandle.close() waits for a read still in flight.
 */
export function rangeStream(handle: fs.promises.FileHandle, start: number, length: number, chunk = 1024 * 1024): Readable {
  let pos = start;
  const end = start + length;
  return new Readable({
    highWaterMark: chunk,
    read() {
      const n = Math.min(chunk, end - pos);
      if (n <= 0) {
        this.push(null);
        return;
      }
      const buf = Buffer.allocUnsafe(n);
      handle.read(buf, 0, n, pos).then(({ bytesRead }) => {
        if (this.destroyed) return;
        if (bytesRead === 0) {
          this.push(null);
          return;
        }
        pos += bytesRead;
        this.push(bytesRead < n ? buf.subarray(0, bytesRead) : buf);
      }, (err: Error) => this.destroy(err));
    },
  });
}
