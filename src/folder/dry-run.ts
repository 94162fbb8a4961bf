// A dry run's view of a plan: the files of check and copy actions are hashed, so the plan shows what will
// really happen (adopt, copy, or upload after all), and renames are settled as the copies would be.
// DryRunSink does the same for a streamed reconcile, action by action.
// Must not: send anything to the bucket or write the state DB; it only reads files.

import type { Action } from '../plan.js';
import { estimate, isRemoval, settleRenames } from '../policy.js';
import { partCount, choosePartSize } from '../keys.js';
import { SpillList, type Spool } from '../state/spool.js';
import { matchesExisting, type TransferContext } from '../transfer.js';
import { describeAction } from './report.js';
import type { StreamSink } from './stream.js';
import type { PlannedAction } from './types.js';

type ResolveContext = Pick<TransferContext, 'root' | 'followSymlinks' | 'partSize' | 'signal'>;

/** Hash the files of check/copy actions so a dry run shows what will really happen (adopt, copy or upload). */
export async function resolveForDryRun(actions: Action[], ctx: ResolveContext): Promise<Action[]> {
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

/** A streamed reconcile's dry run: each action resolved as above and shown; the plan spills to disk, not the heap. */
export class DryRunSink implements StreamSink {
  readonly planned = new SpillList<PlannedAction>();
  readonly stopped = false;
  private classA = 0;
  private removed = 0;
  constructor(private readonly ctx: ResolveContext, private readonly spool: Spool) {}

  async file(a: Parameters<StreamSink['file']>[0]): Promise<void> {
    if (a.type !== 'check' && a.type !== 'copy') return this.show(a);
    const same = await matchesExisting(a, this.ctx).catch(() => false);
    if (a.type === 'copy') this.spool.settle(a.from, same ? 'copied' : 'uploaded');
    this.show(same ? a : { type: 'upload', key: a.key, file: a.file, reason: a.type === 'copy' ? 'new' : 'changed' });
  }

  async settle(): Promise<void> {}

  async removals(actions: Action[]): Promise<void> {
    for (const a of actions) this.show(a);
  }

  /** What the plan would spend (policy.estimate, added up action by action). */
  get estimate(): { classA: number; classB: number; free: number } {
    return { classA: this.classA, classB: 0, free: Math.ceil(this.removed / 1000) };
  }

  private show(a: Action): void {
    this.planned.push(describeAction(a));
    const partSize = this.ctx.partSize;
    this.classA += estimate([a], partSize, (size) => partCount(size, choosePartSize(size, partSize))).classA;
    if (isRemoval(a)) this.removed++;
  }
}
