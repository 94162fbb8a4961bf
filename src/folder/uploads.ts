// A folder's open multipart uploads: the journal its transfers record them in (the state DB's uploads tables bound
// to the folder); after a whole-folder reconcile, the abort of those it did not resume (their file was deleted,
// excluded, adopted or is unchanged now), so no upload of ours stays open and billed; and the sweep after an
// interrupted run, which aborts what the journal does not know.
// Must not: abort an upload a transfer of this reconcile touched (it failed and is kept to be resumed next time), or
// one the sweep may leave to be resumed.

import type { Logger } from '../log.js';
import { Bucket } from '../remote/bucket.js';
import type { Store } from '../state/store.js';
import type { UploadJournal } from '../transfer/outcome.js';
import { RESUME_MAX_AGE_MS } from '../transfer/resume.js';

/** The journal of folder `name`'s multipart uploads, in the state DB. */
export function journalOf(store: Store, name: string): UploadJournal {
  return {
    find: (key) => store.upload(name, key),
    begin: (u) => store.uploadBegun(name, u),
    part: (key, uploadId, n, p) => store.uploadPart(name, key, uploadId, n, p),
    touch: (key, uploadId) => store.uploadTouched(name, key, uploadId, Date.now()),
    end: (key, uploadId) => store.uploadEnded(name, key, uploadId),
  };
}

/**
 * After a whole-folder reconcile that began at `since`: abort (free) and forget every recorded upload of the folder
 * that no transfer touched since then. A failed abort keeps its record, to be tried again after the next reconcile.
 */
export async function abandonUploads(store: Store, name: string, bucket: Bucket, since: number, log: Logger): Promise<void> {
  for (const u of store.uploads(name)) {
    if (u.touchedAt >= since) continue;
    const b = u.bucket === bucket.name ? bucket : new Bucket(bucket.client, u.bucket);
    if (await b.abortUpload(u.key, u.uploadId)) {
      store.uploadEnded(name, u.key, u.uploadId);
      log.info({ key: u.key, uploadId: u.uploadId }, 'aborted an interrupted multipart upload that is no longer needed');
    }
  }
}

/**
 * The sweep of folder `name`'s prefix after an interrupted run: abort (free) every open multipart upload there
 * except the recorded ones its next reconcile may resume (none when the folder is no longer configured, nor any
 * too old to resume), and forget the records of those it did not keep. Returns how many it aborted.
 */
export async function sweepOpenUploads(store: Store, name: string, bucket: Bucket, prefix: string, configured: boolean, signal?: AbortSignal): Promise<number> {
  const recorded = store.uploads(name).filter((u) => u.bucket === bucket.name);
  const now = Date.now();
  const keep = new Set(configured ? recorded.filter((u) => now - u.startedAt <= RESUME_MAX_AGE_MS).map((u) => u.uploadId) : []);
  const aborted = await bucket.abortStaleUploads(prefix, signal, { keep: (_key, uploadId) => keep.has(uploadId) });
  for (const u of recorded) if (!keep.has(u.uploadId)) store.uploadEnded(name, u.key, u.uploadId);
  return aborted;
}
