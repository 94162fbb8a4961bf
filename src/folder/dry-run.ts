// A dry run's view of a plan: the files of check and copy actions are hashed, so the plan shows what will
// really happen (adopt, copy, or upload after all), and renames are settled as the copies would be.
// Must not: send anything to the bucket or write the state DB; it only reads files.

import type { Action } from '../plan.js';
import { settleRenames } from '../policy.js';
import { matchesExisting, type TransferContext } from '../transfer.js';

/** Hash the files of check/copy actions so a dry run shows what will really happen (adopt, copy or upload). */
export async function resolveForDryRun(actions: Action[], ctx: Pick<TransferContext, 'root' | 'followSymlinks' | 'partSize' | 'signal'>): Promise<Action[]> {
  const out: Action[] = [];
  const copies = new Map<string, string>();
  for (const a of actions) {
    if (a.type !== 'check' && a.type !== 'copy') {
      out.push(a);
      continue;
    }
    const same = await matchesExisting(a, ctx).catch(() => false);
    if (a.type === 'copy') copies.set(a.key, same ? 'copied' : 'uploaded');
    if (same) out.push(a);
    else out.push({ type: 'upload', key: a.key, file: a.file, reason: a.type === 'copy' ? 'new' : 'changed' });
  }
  return settleRenames(out, copies);
}
