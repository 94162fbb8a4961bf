// Putting files into the user's folders: a temp file beside the target (same directory, so the rename is
// atomic), written, fsynced, given its mtime, then moved into place; the directories fsynced at the end.
// Must not: be bypassed (it is the only module that writes into the user's folders); import from remote/,
// state/ or upward; leave a temp file behind, whatever fails.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { errorCode } from '../errors.js';
import { mtimeToMetadata } from '../keys.js';

/** The temp file a download is written to before it is renamed into place (same directory, so rename is atomic). */
export function tempName(base: string): string {
  const tag = `.r2mirror-tmp-${randomBytes(4).toString('hex')}`;
  // A long name plus the suffix could pass the 255-byte limit of a file name.
  return Buffer.byteLength(base) > 200 ? tag : `.${base}${tag}`;
}

/** The target's directory resolves outside the allowed root (through a symbolic link): nothing was written. */
export class OutsideRootError extends Error {
  constructor(readonly dir: string, readonly root: string) {
    super(`${dir} leads outside ${root} (through a symbolic link); not written`);
  }
}

/** Without `replace`, a file appeared at the target while the temp file was written: it was not clobbered. */
export class TargetExistsError extends Error {
  constructor(readonly target: string) {
    super(`${target} appeared meanwhile; not replaced`);
  }
}

/** Link errors of file systems without hard links: there the temp file is renamed instead. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

/** How a finished temp file goes into place. */
export interface CommitOptions {
  /** Rename over an existing target. Without, a target that appeared meanwhile is refused (TargetExistsError). */
  readonly replace: boolean;
  /** Modification time to give the file, in ns since the epoch (any sign); unchanged when undefined. */
  readonly mtimeNs?: bigint | undefined;
}

/**
 * A file being written beside `target`. create() makes the parent directories and the temp file; write() it,
 * then commit() (fsync, mtime, move into place) or discard(). discard() is safe to call always (a `finally`):
 * after a commit it does nothing, else it closes and removes the temp file.
 */
export class TempFile {
  private closed = false;
  private done = false;

  private constructor(readonly target: string, readonly dir: string, readonly path: string, private readonly fh: fsp.FileHandle) {}

  /**
   * Create the parent directories of `target` and an empty temp file beside it. With `root` (a real path), a
   * parent directory that resolves outside it is refused with OutsideRootError: a symbolic link inside the
   * tree must not carry a file somewhere else.
   */
  static async create(target: string, opts: { root?: string | undefined } = {}): Promise<TempFile> {
    const dir = path.dirname(target);
    await fsp.mkdir(dir, { recursive: true });
    const real = await fsp.realpath(dir);
    if (opts.root !== undefined && real !== opts.root && !real.startsWith(opts.root + path.sep)) throw new OutsideRootError(dir, opts.root);
    const tmp = path.join(dir, tempName(path.basename(target)));
    const fh = await fsp.open(tmp, 'wx', 0o666);
    return new TempFile(target, dir, tmp, fh);
  }

  /** Append `chunk` (all of it: short writes are continued). */
  async write(chunk: Uint8Array): Promise<void> {
    for (let off = 0; off < chunk.length;) off += (await this.fh.write(chunk, off)).bytesWritten;
  }

  /** fsync and close the temp file, set its mtime, and move it to the target. The directory is not fsynced: syncDirs(). */
  async commit(opts: CommitOptions): Promise<void> {
    await this.fh.sync();
    await this.fh.close();
    this.closed = true;
    if (opts.mtimeNs !== undefined) {
      // As a decimal string: Node turns a negative number of seconds into "now", but takes any sign in a string.
      const mtime = mtimeToMetadata(opts.mtimeNs);
      await fsp.utimes(this.path, mtime, mtime);
    }
    await moveIntoPlace(this.path, this.target, opts.replace);
    this.done = true;
  }

  /** Close and remove the temp file unless it was committed; never throws. */
  async discard(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => undefined);
    }
    if (!this.done) {
      this.done = true;
      await fsp.rm(this.path, { force: true }).catch(() => undefined);
    }
  }
}

/**
 * Move the finished temp file to the target. Without `replace`, a hard link is made first, which fails when a file
 * appeared there meanwhile (no clobbering a file the caller did not check); file systems without hard links get a
 * rename.
 */
async function moveIntoPlace(tmp: string, target: string, replace: boolean): Promise<void> {
  if (!replace) {
    try {
      await fsp.link(tmp, target);
      await fsp.unlink(tmp);
      return;
    } catch (err) {
      const code = errorCode(err);
      if (code === 'EEXIST') throw new TargetExistsError(target);
      if (!NO_LINKS.has(code ?? '')) throw err;
    }
  }
  await fsp.rename(tmp, target);
}

/** Create a directory and its parents (a directory marker of the bucket); nothing if it exists. */
export async function makeDir(dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
}

/** fsync directories that got new entries, so the renames survive a crash. Best effort: never throws. */
export async function syncDirs(dirs: Iterable<string>): Promise<void> {
  for (const d of dirs) {
    const fh = await fsp.open(d, 'r').catch(() => undefined);
    await fh?.sync().catch(() => undefined);
    await fh?.close().catch(() => undefined);
  }
}

/** Create a directory and its parents (synchronously: init writes its config before anything else runs). */
export function makeDirSync(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
}

/**
 * Write `text` to `file` (whose directory exists) with `mode`, atomically, never replacing a file: a hard link
 * from an fsynced temp file fails if one is there or appeared meanwhile (TargetExistsError); where links are
 * unsupported a rename is the fallback. The directory is fsynced; no temp file is left, whatever fails.
 */
export function writeNewFileSync(file: string, text: string, mode: number): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, tempName(path.basename(file)));
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode);
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    try {
      fs.linkSync(tmp, file);
    } catch (err) {
      if (errorCode(err) === 'EEXIST') throw new TargetExistsError(file);
      if (!NO_LINKS.has(errorCode(err) ?? '')) throw err;
      if (fs.existsSync(file)) throw new TargetExistsError(file);
      fs.renameSync(tmp, file);
    }
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
  }
}
