// The records a scan of a folder reports (LocalFile, FileVersion, ScanProblem, ScanResult) and the options it takes,
// shared by the ordered walk (walk.ts) and the scan (scan.ts), which re-exports them. Also versionOf and deviceName.
// Must not: do I/O; import from state/, remote/ or any layer above local/.

import type fs from 'node:fs';

/** What identifies one version of a file's content without reading it. */
export interface FileVersion {
  readonly size: number;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly ino: string;
  /** st_dev (decimal): the file system the file is on. Not part of the version (sameVersion ignores it). */
  readonly dev?: string | undefined;
}

/** One regular file on disk, as the scan saw it. */
export interface LocalFile extends FileVersion {
  /** Path relative to the folder root, '/' separated, as on disk (not normalised). */
  readonly rel: string;
  readonly key: string;
  readonly mtimeMs: number;
}

/** The version fields of a stat result. */
export function versionOf(st: fs.BigIntStats): FileVersion {
  return { size: Number(st.size), mtimeNs: st.mtimeNs.toString(), ctimeNs: st.ctimeNs.toString(), ino: st.ino.toString(), dev: st.dev.toString() };
}

/** A path the scan could not turn into a key; `failed` ones make the run exit 1, `skipped` ones are notices. */
export interface ScanProblem {
  readonly rel: string;
  readonly reason: string;
  readonly kind: 'failed' | 'skipped';
}

/** What a scan found. Keys under `unknownPrefixes` and in `unknownKeys` must not be deleted: we could not see them. */
export interface ScanResult {
  readonly files: Map<string, LocalFile>;
  readonly problems: ScanProblem[];
  readonly unknownPrefixes: string[];
  readonly unknownKeys: Set<string>;
  dirs: number;
  /** Regular files seen, mirrorable or not: the only evidence that a root is populated (not links, not FIFOs). */
  regularFiles: number;
}

/** Scan options. */
export interface ScanOptions {
  readonly root: string;
  readonly prefix: string;
  readonly exclude: readonly string[];
  readonly followSymlinks: boolean;
  /**
   * Files never mirrored (the state DB when it lives inside the folder), as absolute paths; matched wherever the
   * walk reaches them, through symbolic links and bind mounts too (see fileMatcher).
   */
  readonly alwaysExclude?: readonly string[];
  readonly signal?: AbortSignal | undefined;
  /**
   * Only these paths (relative to the root, '/'-separated): files are statted, directories walked, missing
   * paths are simply absent from the result. The daemon's scope: the paths its watcher named.
   */
  readonly only?: readonly string[] | undefined;
  /** Do not enter directories (or take files) on another file system than the root's; nothing under them is deleted. */
  readonly oneFileSystem?: boolean | undefined;
}

/** A device number as `major:minor` (what `mountpoint -d` and /proc/self/mountinfo show). */
export function deviceName(dev: bigint | string): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}
