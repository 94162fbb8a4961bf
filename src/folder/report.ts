// The report of one folder's reconcile: a fresh one, and the rule for adding a problem to it. What a dry run
// shows of each planned action.
// Must not: log or do I/O; the folder and its executor fill the report.

import type { FolderConfig } from '../config.js';
import type { FolderReport, PlannedAction, Progress } from './types.js';
import type { Action } from '../plan.js';

/** Progress counters at zero. */
export function newProgress(): Progress {
  return { filesTotal: 0, filesDone: 0, bytesTotal: 0, bytesDone: 0, bytesResumed: 0, scanned: 0, listed: 0, merging: 0, active: new Map() };
}

/** A report with nothing done yet. */
export function emptyReport(config: Pick<FolderConfig, 'name' | 'path'>): FolderReport {
  return {
    name: config.name, path: config.path, ok: true, uploaded: { files: 0, bytes: 0 }, resumed: { files: 0, bytes: 0 }, adopted: { files: 0, bytes: 0 },
    copied: { files: 0, bytes: 0 }, deleted: 0, trashed: 0, unchanged: 0, skipped: [], failed: [],
  };
}

/** The folder is not ok; `msg` joins an error already there (after a device hold, keep both). */
export function addError(report: FolderReport, msg: string): void {
  report.ok = false;
  report.error = report.error ? `${report.error}; ${msg}` : msg;
}

/** One planned action as `--dry-run` shows it. */
export function describeAction(a: Action): PlannedAction {
  switch (a.type) {
    case 'upload':
      return { action: 'upload', key: a.key, reason: a.reason, size: a.file.size };
    case 'check':
      return { action: 'adopt', key: a.key, reason: a.reason === 'adopt' ? 'already in the bucket' : 'touched, same content', size: a.file.size };
    case 'copy':
      return { action: 'copy', key: a.key, from: a.from, size: a.file.size };
    case 'trash':
      return { action: 'trash', key: a.key, to: a.to, ...(a.renamedTo !== undefined ? { renamedTo: a.renamedTo } : {}) };
    case 'delete':
      return { action: 'delete', key: a.key, ...(a.renamedTo !== undefined ? { renamedTo: a.renamedTo } : {}) };
    default:
      return { action: a.type, key: a.key };
  }
}
