// What a file transfer is given (TransferContext) and what it returns (Outcome), and the row an outcome carries.
// Must not: do I/O or write the state DB: the folder records rows, only from outcomes.

import type { Logger } from '../log.js';
import type { Action } from '../plan.js';
import type { Bucket } from '../remote/bucket.js';
import type { ObjectRow, UploadPartRow, UploadRow } from '../state/store.js';
import type { FileVersion } from '../local/scan.js';
import type { ByteBudget } from './budget.js';

/** What a transfer needs to know; built by the folder. */
export interface TransferContext {
  readonly bucket: Bucket;
  readonly root: string;
  readonly followSymlinks: boolean;
  /** Configured multipart part size (files larger than it go multipart). */
  readonly partSize: number;
  readonly budget: ByteBudget;
  readonly retries: number;
  /** Delete the object we just uploaded when its file vanished meanwhile (deletes: mirror). */
  readonly deleteVanished: boolean;
  readonly log: Logger;
  readonly signal?: AbortSignal | undefined;
  /** Bytes read and sent, for progress. */
  readonly onBytes?: ((n: number) => void) | undefined;
  /** Bytes a resumed upload found on the server: done for progress, but not sent (not in the rate). */
  readonly onResumed?: ((n: number) => void) | undefined;
  /** Backoff base in ms (tests shorten it). */
  readonly backoffMs?: number | undefined;
  /** Where multipart uploads record themselves and their parts, to be resumed after an interruption. */
  readonly journal: UploadJournal;
}

/** The folder's record of its open multipart uploads (the state DB's uploads tables, bound to the folder). */
export interface UploadJournal {
  find(key: string): UploadRow | undefined;
  begin(u: Omit<UploadRow, 'parts' | 'touchedAt'>): void;
  part(key: string, uploadId: string, n: number, p: UploadPartRow): void;
  touch(key: string, uploadId: string): void;
  end(key: string, uploadId: string): void;
}

/** The outcome of one file action. */
export type Outcome =
  | {
    readonly kind: 'uploaded' | 'adopted' | 'copied'; readonly key: string; readonly rel: string; readonly bytes: number; readonly row: ObjectRow;
    /** An upload that resumed an interrupted multipart upload: the bytes already on the server, not sent again. */
    readonly resumedBytes?: number | undefined;
  }
  | { readonly kind: 'gone'; readonly key: string; readonly rel: string }
  | { readonly kind: 'failed'; readonly key: string; readonly rel: string; readonly reason: string };

/** The actions a transfer performs: the ones that read a file. */
export type FileAction = Extract<Action, { type: 'upload' | 'check' | 'copy' }>;

/** The row to record for `action`'s file at version `st`, now held by an object with `etag`. */
export function rowFor(action: FileAction, st: FileVersion, etag: string, partSize: number): ObjectRow {
  return {
    key: action.key, rel: action.file.rel, size: st.size, mtimeNs: st.mtimeNs, ino: st.ino, etag, md5: partSize === 0 && /^[0-9a-f]{32}$/.test(etag) ? etag : null,
    partSize, syncedAt: Date.now(), dev: st.dev ?? null,
  };
}


