// Uploads one file: opens it (checked against the scan), picks the put strategy by size and memory budget (one
// buffered PUT, one streamed PUT, a resumable multipart upload from part buffers or from disk), then re-stats it:
// only a file that did not change while it was read becomes an 'uploaded' outcome.
// Must not: retry (transferFile does), write the state DB, or return a row for a file that changed.

import type { Logger } from '../log.js';
import { mtimeToMetadata } from '../keys.js';
import { openScanned } from '../local/open.js';
import type { FileVersion } from '../local/scan.js';
import { putMultipart } from './multipart.js';
import { rowFor, type FileAction, type Outcome, type TransferContext } from './outcome.js';
import { BUFFERED_PUT_MAX, putBuffered, putStreamed, type PutTarget, type Sent } from './put.js';
import { confirmUnchanged, VanishedError } from './unchanged.js';

// Loaded on the first upload, not at start-up: a no-change sync never needs it.
let mimeModule: Promise<typeof import('mime-types')> | undefined;
const mimeTypes = () => (mimeModule ??= import('mime-types').then((m) => m.default ?? m));

/** Upload the file of `action` at version `s0` (its path: `abs`). */
export async function upload(action: FileAction, abs: string, s0: FileVersion, ctx: TransferContext, log: Logger): Promise<Outcome> {
  const size = Number(s0.size);
  const target: PutTarget = {
    key: action.key, size, contentType: (await mimeTypes()).lookup(action.file.rel) || 'application/octet-stream',
    // rclone's convention: mtime as seconds with a fraction, so other tools restore it.
    metadata: { mtime: mtimeToMetadata(BigInt(s0.mtimeNs)) },
  };
  // Every read below goes through this descriptor, checked against the scan (never a FIFO, never blocking).
  const { handle } = await openScanned(abs, s0, ctx.followSymlinks);
  let sent: Sent;
  try {
    sent = size <= BUFFERED_PUT_MAX ? await putBuffered(handle, target, ctx)
      : size <= ctx.partSize ? await putStreamed(handle, target, ctx)
      : await putMultipart(handle, s0, target, ctx);
  } finally {
    await handle.close();
  }

  try {
    await confirmUnchanged(abs, s0, ctx.followSymlinks);
  } catch (err) {
    if (err instanceof VanishedError) {
      if (ctx.deleteVanished) await ctx.bucket.deleteMany([action.key], ctx.signal);
      log.info('file was deleted while it was uploaded; not recorded');
      return { kind: 'gone', key: action.key, rel: action.file.rel };
    }
    throw err;
  }
  return {
    kind: 'uploaded', key: action.key, rel: action.file.rel, bytes: size, row: { ...rowFor(action, s0, sent.etag, sent.partSize), md5: sent.md5 },
    ...(sent.resumedBytes ? { resumedBytes: sent.resumedBytes } : {}),
  };
}
