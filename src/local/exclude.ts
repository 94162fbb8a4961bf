// What a scan never mirrors: the gitignore-style matcher of a folder's exclude patterns (plus restore's temporary
// files), excludedPath (a path the walk would not see), and fileMatcher (the state DB's files, wherever reached).
// Must not: read a directory or a file's content; import from state/, remote/ or any layer above local/.

import fs from 'node:fs';
import path from 'node:path';
import ignore from 'ignore';

/** Temporary files of `r2mirror restore` (`.name.r2mirror-tmp-<hex>`): never mirrored, wherever they appear. */
export const RESTORE_TEMP_PATTERN = '*.r2mirror-tmp-*';
const RESTORE_TEMP_MARK = '.r2mirror-tmp-';

/** Tests before a matcher starts afresh: `ignore` memoises every path it is asked about (one per file). */
const MATCHER_TESTS = 10_000;

/** A folder's exclude rules: is this '/'-separated path (a directory ending in '/') excluded? */
export interface Matcher {
  ignores(rel: string): boolean;
}

/**
 * Build the gitignore-style matcher for a folder (its patterns plus restore's temporary files). `ignore` keeps
 * every answer it gave (~85 MB per million files walked), so it is rebuilt every MATCHER_TESTS tests: memory
 * stays flat, and the directories a walk is in are cached again at once.
 */
export function makeMatcher(patterns: readonly string[]): Matcher {
  // Without patterns of the folder's own only RESTORE_TEMP_PATTERN is left: a name containing RESTORE_TEMP_MARK
  // (or under a directory so named) is excluded. A string search is ~20x cheaper than ignore's parse of each path.
  if (patterns.length === 0) return { ignores: (rel) => rel.includes(RESTORE_TEMP_MARK) };
  const rules = [RESTORE_TEMP_PATTERN, ...patterns];
  const fresh = () => ignore({ allowRelativePaths: true }).add(rules);
  let ig = fresh();
  let tests = 0;
  return {
    ignores(rel) {
      if (++tests > MATCHER_TESTS) {
        ig = fresh();
        tests = 0;
      }
      return ig.ignores(rel);
    },
  };
}

/** True when `rel` or one of its parent directories is excluded (what the walk would not see). */
export function excludedPath(ig: Matcher, rel: string): boolean {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) if (ig.ignores(parts.slice(0, i).join('/') + '/')) return true;
  return ig.ignores(rel);
}

/**
 * A test for "is `name` in directory `dir` one of these files": by name first (no syscall for other names), then
 * by the directory's device and inode, so a path through a symbolic link or a bind mount to the same directory
 * matches too; the paths as written always match. The directories are statted once, here; a file's own inode
 * would not do (SQLite's -wal and -shm files come and go).
 */
export function fileMatcher(files: readonly string[]): (dir: string, name: string) => boolean {
  const literal = new Set(files.map((f) => path.resolve(f)));
  const byName = new Map<string, Set<string>>(); // name -> "dev:ino" of the directories that hold it
  for (const f of literal) {
    const ids = byName.get(path.basename(f)) ?? new Set<string>();
    byName.set(path.basename(f), ids);
    try {
      const st = fs.statSync(path.dirname(f), { bigint: true });
      ids.add(`${st.dev}:${st.ino}`);
    } catch {
      // not there (yet): only the path as written matches
    }
  }
  return (dir, name) => {
    const ids = byName.get(name);
    if (!ids) return false;
    if (literal.has(path.join(dir, name))) return true;
    try {
      const st = fs.statSync(dir, { bigint: true });
      return ids.has(`${st.dev}:${st.ino}`);
    } catch {
      return false;
    }
  };
}
