// A folder root's identity (device, inode, mount id): how the daemon tells that the directory it watches was
// replaced (unmounted, or unmounted and mounted again) or is gone, and how it says so.
// Must not: write anything, or read more than the root directory itself and its /proc fdinfo line.

import fs from 'node:fs';
import { deviceName } from '../local/scan.js';

/** What a folder root is: its device and inode, and (Linux) the id of the mount it belongs to. */
export interface RootIdentity {
  readonly dev: string;
  readonly ino: string;
  /**
   * The mount id (/proc/self/fdinfo mnt_id): tells a remount of the same disk (same dev and inode) apart, unless
   * the kernel reused the id (it does, for the lowest free one): Watcher's onRootGone covers that case.
   */
  readonly mount?: string | undefined;
}

/**
 * The identity of a directory, or undefined when it is missing or not a directory. One lookup of the path: the
 * directory is opened for a moment and its fd answers device, inode and (Linux) mount id; where it cannot be
 * opened (no read permission, not Linux) a stat answers device and inode.
 */
export function rootIdentity(root: string): RootIdentity | undefined {
  let fd: number;
  try {
    fd = fs.openSync(root, fs.constants.O_RDONLY | (fs.constants.O_DIRECTORY ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? undefined : statIdentity(root);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isDirectory()) return undefined;
    let mount: string | undefined;
    try {
      mount = /^mnt_id:\s*(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    } catch {
      mount = undefined; // not Linux, or unreadable: device and inode still tell most replacements
    }
    return { dev: String(st.dev), ino: String(st.ino), mount };
  } finally {
    fs.closeSync(fd);
  }
}

/** Device and inode by stat, for a directory that cannot be opened. */
function statIdentity(root: string): RootIdentity | undefined {
  try {
    const st = fs.statSync(root);
    return st.isDirectory() ? { dev: String(st.dev), ino: String(st.ino), mount: undefined } : undefined;
  } catch {
    return undefined;
  }
}

/** True when two identities name the same directory on the same mount. */
export function sameRoot(a: RootIdentity, b: RootIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && (a.mount === undefined || b.mount === undefined || a.mount === b.mount);
}

/** A root identity as the log and `status` show it: device and inode, and the mount id when known. */
export function showRoot(r: RootIdentity): string {
  return `device ${deviceName(r.dev)} inode ${r.ino}${r.mount !== undefined ? ` mount ${r.mount}` : ''}`;
}
