// Temporary folders with given files for the unit tests of the local layer; removed when the test file ends
// (made readable first, so a directory a failed test left unreadable cannot block the cleanup). Test-only.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';

const made: string[] = [];
after(() => {
  for (const d of made) {
    try {
      execFileSync('chmod', ['-R', 'u+rwx', d]);
    } catch {
      // already gone, or nothing to fix
    }
    rmSync(d, { recursive: true, force: true });
  }
});

/** A temp folder with `files` (path -> content); a path ending in '/' is an (empty) directory. */
export function tree(files: Record<string, string> = {}, name = 'tree'): string {
  const root = mkdtempSync(join(tmpdir(), `r2mirror-${name}-`));
  made.push(root);
  for (const [rel, content] of Object.entries(files)) {
    const abs = join(root, rel);
    mkdirSync(dirname(abs), { recursive: true });
    if (rel.endsWith('/')) mkdirSync(abs, { recursive: true });
    else writeFileSync(abs, content);
  }
  return root;
}
