// The daemon's live state as `status`, systemd's STATUS= line and /metrics show it: the shapes, the status
// line and the Prometheus metric families. Pure functions of a snapshot.
// Must not: read the clock, the state DB or the loops themselves (callers pass a snapshot).

import type { OpCounts } from '../remote/bucket.js';
import type { MetricFamily } from './metrics.js';

/** Per-folder state, as `status` and /metrics show it. */
export interface FolderLive {
  readonly name: string;
  readonly state: 'starting' | 'watching' | 'polling' | 'paused' | 'stopped';
  readonly error?: string | undefined;
  /** The last thing that happened to the folder root (replaced, back after a pause), and when. */
  readonly notice?: { readonly at: number; readonly message: string } | undefined;
  readonly pending: number;
  readonly running: string | undefined;
  readonly watchedDirs: number;
  readonly failedFiles: number;
  readonly lastReconcile?: number | undefined;
  readonly lastVerify?: number | undefined;
}

/** The daemon's live state (published to the state DB for `status`). */
export interface DaemonLive {
  readonly pid: number;
  readonly startedAt: number;
  readonly folders: FolderLive[];
  readonly uploads: number;
  readonly uploadedBytes: number;
  readonly failures: number;
  readonly queue: number;
}

/** What systemd shows as the service's status (STATUS=). */
export function statusLine(l: DaemonLive): string {
  const paused = l.folders.filter((f) => f.state === 'paused').length;
  const pending = l.folders.reduce((n, f) => n + f.pending, 0);
  const running = l.folders.filter((f) => f.running).map((f) => `${f.name}: ${f.running}`).join('; ');
  return `${l.folders.length} folder(s)${paused ? `, ${paused} PAUSED` : ''}; ${l.uploads} uploaded; ${pending} pending` +
    `${running ? `; reconciling ${running}` : ''}${l.failures ? `; ${l.failures} failure(s)` : ''}`;
}

/** What the metrics need beyond the live state. */
export interface MetricsExtra {
  readonly ops: OpCounts;
  /** Times each folder's root was found replaced, by folder name. */
  readonly replacements: (folder: string) => number;
  readonly watchedDirs: number;
  readonly inotifyLimit?: number | undefined;
}

/** Prometheus metric families. */
export function daemonMetrics(live: DaemonLive, x: MetricsExtra): MetricFamily[] {
  const per = (name: string, help: string, type: 'counter' | 'gauge', f: (l: FolderLive) => number): MetricFamily =>
    ({ name, help, type, samples: live.folders.map((l) => ({ labels: { folder: l.name }, value: f(l) })) });
  return [
    { name: 'r2mirror_uploads_total', help: 'Files uploaded since the daemon started.', type: 'counter', samples: [{ value: live.uploads }] },
    { name: 'r2mirror_uploaded_bytes_total', help: 'Bytes uploaded since the daemon started.', type: 'counter', samples: [{ value: live.uploadedBytes }] },
    { name: 'r2mirror_failures_total', help: 'File failures since the daemon started (each attempt).', type: 'counter', samples: [{ value: live.failures }] },
    { name: 'r2mirror_queue_depth', help: 'Transfers queued or running.', type: 'gauge', samples: [{ value: live.queue }] },
    per('r2mirror_pending_paths', 'Changed paths waiting for their quiet period or their reconcile.', 'gauge', (l) => l.pending),
    per('r2mirror_failed_files', 'Files that currently cannot be mirrored.', 'gauge', (l) => l.failedFiles),
    per('r2mirror_folder_paused', '1 while the folder root is missing (nothing is uploaded or deleted).', 'gauge', (l) => (l.state === 'paused' ? 1 : 0)),
    per('r2mirror_root_replacements_total', 'Times the folder root was found replaced (unmounted, remounted) and watched again.', 'counter', (l) => x.replacements(l.name)),
    per('r2mirror_last_reconcile_timestamp_seconds', 'End of the last reconcile of the folder.', 'gauge', (l) => (l.lastReconcile ?? 0) / 1000),
    per('r2mirror_last_verify_timestamp_seconds', 'End of the last full bucket listing of the folder.', 'gauge', (l) => (l.lastVerify ?? 0) / 1000),
    { name: 'r2mirror_watched_directories', help: 'Directories under inotify watch.', type: 'gauge', samples: [{ value: x.watchedDirs }] },
    ...(x.inotifyLimit !== undefined ? [{ name: 'r2mirror_inotify_watch_limit', help: 'fs.inotify.max_user_watches.', type: 'gauge' as const, samples: [{ value: x.inotifyLimit }] }] : []),
    {
      name: 'r2mirror_r2_operations_total', help: 'R2 requests sent since the daemon started, by billing class.', type: 'counter',
      samples: [{ labels: { class: 'A' }, value: x.ops.classA }, { labels: { class: 'B' }, value: x.ops.classB }, { labels: { class: 'free' }, value: x.ops.free }],
    },
  ];
}
