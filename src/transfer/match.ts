// The actions that may need no upload: a check (adopt an object already there, or a touched file) and a rename
// (copy server-side). The file is hashed under the part sizes the object's ETag allows; a match is recorded
// (adopt) or copied, and only a file that does not match goes on to an upload.
// Must not: upload or delete, or record a match unless the re-stat after the read shows the same file.

import path from 'node:path';
import { candidatePartSizes, etagParts } from '../keys.js';
import { hashFile } from '../local/hash.js';
import { openScanned } from '../local/open.js';
import { statFile, versionOf, type FileVersion } from '../local/scan.js';
import type { Logger } from '../log.js';
import type { Action, Against } from '../plan.js';
import { rowFor, type Outcome, type TransferContext } from './outcome.js';
import { confirmUnchanged, expectBytes } from './unchanged.js';

type MatchAction = Extract<Action, { type: 'check' | 'copy' }>;

/**
 * Adopt or copy when the file at version `s0` matches the object the action names; undefined when it does
 * not (the caller uploads it).
 */
export async function adoptOrCopy(action: MatchAction, abs: string, s0: FileVersion, ctx: TransferContext, log: Logger): Promise<Outcome | undefined> {
  const match = await matches(abs, s0, action.against, ctx);
  if (match === undefined) return undefined;
  await confirmUnchanged(abs, s0, ctx.followSymlinks);
  if (action.type === 'check') {
    log.debug({ reason: action.reason }, 'matches the object already there; recorded without upload');
    return { kind: 'adopted', key: action.key, rel: action.file.rel, bytes: s0.size, row: rowFor(action, s0, action.against.etag, match) };
  }
  let etag = await ctx.bucket.copy(action.from, action.key, ctx.signal);
  if (!etag) etag = (await ctx.bucket.head(action.key, ctx.signal))?.etag ?? action.against.etag;
  log.debug({ from: action.from }, 'renamed: copied server-side');
  const partSize = etagParts(etag) > 0 ? match : 0;
  return { kind: 'copied', key: action.key, rel: action.file.rel, bytes: s0.size, row: rowFor(action, s0, etag, partSize) };
}

/**
 * Dry runs: whether the file of a check/copy action already matches the object it names, so the plan can say
 * "adopt" or "copy" rather than "upload". Reads the file; sends nothing.
 */
export async function matchesExisting(action: MatchAction, ctx: Pick<TransferContext, 'root' | 'followSymlinks' | 'partSize' | 'signal'>): Promise<boolean> {
  const abs = path.join(ctx.root, ...action.file.rel.split('/'));
  const st = await statFile(abs, ctx.followSymlinks);
  return !!st && st.isFile() && (await matches(abs, versionOf(st), action.against, ctx)) !== undefined;
}

/** The part size under which the file hashes to `against.etag`, or undefined. */
async function matches(abs: string, s0: FileVersion, against: Against, ctx: Pick<TransferContext, 'followSymlinks' | 'partSize' | 'signal'>): Promise<number | undefined> {
  const size = Number(s0.size);
  if (size !== against.size) return undefined;
  const parts = etagParts(against.etag);
  const sizes = against.partSize !== undefined ? [against.partSize] : parts === 0 ? [0] : candidatePartSizes(size, parts, 6, ctx.partSize);
  if (sizes.length === 0) return undefined;
  const { handle } = await openScanned(abs, s0, ctx.followSymlinks);
  try {
    const { bytes, etags } = await hashFile(handle, sizes, ctx.signal);
    expectBytes(bytes, size);
    for (const [p, etag] of etags) if (etag === against.etag) return p;
    return undefined;
  } finally {
    await handle.close();
  }
}
