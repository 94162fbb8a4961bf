// `r2mirror status`: per folder what is mirrored, pending and failing, when it was last reconciled and verified,
// and the R2 operations spent. Reads the state DB without locking it, and the live state of a running daemon.
// Must not: write the state DB or take its lock; send any request to the bucket.

import { loadConfig, type FolderConfig } from '../config.js';
import { fmtDuration } from '../config/units.js';
import type { DaemonLive, FolderLive } from '../daemon/live.js';
import { printable } from '../errors.js';
import { Store } from '../state/store.js';
import { configPath, formatBytes, num, parseCommand, reportError, whenAgo } from './common.js';
import type { Command, CommandContext } from './context.js';

export const statusCommand: Command = {
  name: 'status',
  run: runStatus,
};

/** What `status --json` prints for one folder. */
export interface FolderStatusReport {
  name: string;
  path: string;
  bucket: string;
  prefix: string;
  files: number;
  bytes: number;
  /** Live daemon state ('not running' without a daemon). */
  state: FolderLive['state'] | 'not running';
  error: string | null;
  /** The last thing that happened to the folder root (replaced by a remount, back after a pause), and when. */
  notice: { at: number; message: string } | null;
  pending: number | null;
  failed: { rel: string; reason: string; attempts: number; since: number; last: number }[];
  lastReconcile: number | null;
  lastVerify: number | null;
  /** The last `r2mirror verify` of this bucket and prefix, as recorded in the state DB (null: never). */
  verified: { at: number; ok: boolean; keys: number; agree: number; differences: number; error: string | null } | null;
  ops: { classA: number; classB: number; free: number };
  /** An unclean stop (kill, power loss) may have left the DB behind the bucket: the next reconcile lists it. */
  needsList: boolean;
  /**
   * A folder with trashRetention: what its trash held at the last listing, and how it expires ('rule': the bucket's
   * lifecycle rule, 'self': r2mirror deletes expired objects at each listing); null before the first listing.
   */
  trash: { prefix: string; retention: number; expiry: 'rule' | 'self'; reason: string | null; files: number; bytes: number; listedAt: number } | null;
  /** Multipart uploads cut off (a crash, a stop) and recorded to be resumed: the file is not mirrored yet. */
  uploads: { key: string; size: number; sent: number; startedAt: number }[];
}

async function runStatus(ctx: CommandContext): Promise<number> {
  try {
    const { values: v } = parseCommand('status', ctx.args, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } }, 0);
    const config = loadConfig(configPath(v.config, ctx.env), ctx.env);
    const running = Store.inUse(config.state);
    const store = Store.open(config.state, { readonly: true, lock: false });
    let out: { daemon: { pid: number; startedAt: number; updatedAt: number } | null; folders: FolderStatusReport[] };
    try {
      const liveRow = running ? store.live() : undefined;
      const live = liveRow?.state as DaemonLive | undefined;
      const known = new Map(store.folders().map((f) => [f.name, f]));
      // Killed runs not yet recovered (no process holds the DB): the folders they reconciled owe a listing.
      const interrupted = new Set<string>();
      if (!running) for (const r of store.unfinishedRuns()) for (const n of r.folders ?? config.folders.map((f) => f.name)) interrupted.add(n);
      out = {
        daemon: liveRow ? { pid: liveRow.pid, startedAt: liveRow.startedAt, updatedAt: liveRow.updatedAt } : null,
        folders: config.folders.map((f) => {
          const row = known.get(f.name);
          const l = live?.folders.find((x) => x.name === f.name);
          const same = row && row.bucket === f.bucket && row.prefix === f.prefix;
          return {
            name: f.name, path: f.path, bucket: f.bucket, prefix: f.prefix,
            files: same ? row.files : 0, bytes: same ? row.bytes : 0,
            state: l?.state ?? 'not running', error: l?.error ?? null, notice: l?.notice ?? null, pending: l ? l.pending : null,
            failed: store.failures(f.name).map((x) => ({ rel: x.rel, reason: x.reason, attempts: x.attempts, since: x.firstAt, last: x.lastAt })),
            lastReconcile: Math.max(row?.lastSync ?? 0, l?.lastReconcile ?? 0) || null,
            lastVerify: Math.max(row?.lastList ?? 0, l?.lastVerify ?? 0) || null,
            verified: verifiedOf(store, f),
            ops: row?.ops ?? { classA: 0, classB: 0, free: 0 },
            needsList: (!!same && row.needsList) || interrupted.has(f.name),
            trash: trashOf(store, f),
            uploads: store.uploads(f.name).map((u) => ({
              key: u.key, size: u.size, startedAt: u.startedAt, sent: [...(store.upload(f.name, u.key)?.parts.values() ?? [])].reduce((n, p) => n + p.size, 0),
            })),
          };
        }),
      };
    } finally {
      store.close();
    }
    ctx.stdout.write(v.json ? JSON.stringify(out) + '\n' : formatStatus(out, running, Date.now()));
    return 0;
  } catch (err) {
    return reportError(ctx, err, []);
  }
}

/**
 * The folder's last recorded `verify`, when it checked the bucket and prefix the config names now (the result
 * names them: a sync that follows a moved folder keeps the columns, not their meaning).
 */
function verifiedOf(store: Store, f: { name: string; bucket: string; prefix: string }): FolderStatusReport['verified'] {
  const v = store.verification(f.name);
  const r = (v?.result ?? {}) as { bucket?: string; prefix?: string; ok?: boolean; keys?: number; agree?: number; differences?: number; error?: string | null };
  if (!v || r.bucket !== f.bucket || r.prefix !== f.prefix) return null;
  return { at: v.at, ok: r.ok === true, keys: r.keys ?? 0, agree: r.agree ?? 0, differences: r.differences ?? 0, error: r.error ?? null };
}

/** The recorded trash of a folder with trashRetention, when it is the trash the config names now. */
function trashOf(store: Store, f: FolderConfig): FolderStatusReport['trash'] {
  const t = f.trashRetention === undefined ? undefined : store.trash(f.name);
  if (!t || t.prefix !== f.trashPrefix) return null;
  return { prefix: t.prefix, retention: f.trashRetention!, expiry: t.expiry, reason: t.reason ?? null, files: t.files, bytes: t.bytes, listedAt: t.listedAt };
}

function formatStatus(o: { daemon: { pid: number; startedAt: number; updatedAt: number } | null; folders: FolderStatusReport[] }, running: boolean, now: number): string {
  const lines: string[] = [];
  lines.push(o.daemon ? `daemon: running, pid ${o.daemon.pid}, since ${whenAgo(o.daemon.startedAt, now)}`
    : running ? 'daemon: not running (a sync is running)' : 'daemon: not running');
  for (const f of o.folders) {
    lines.push('');
    lines.push(`${f.name}: ${f.path} -> ${f.bucket}/${f.prefix}`);
    lines.push(`  mirrored:        ${num(f.files)} files, ${formatBytes(f.bytes)}`);
    lines.push(`  state:           ${f.state}${f.pending !== null ? `, ${num(f.pending)} pending` : ''}`);
    if (f.error) lines.push(`  error:           ${f.error}`);
    if (f.notice) lines.push(`  notice:          ${whenAgo(f.notice.at, now)}: ${f.notice.message}`);
    if (f.needsList) lines.push('  unclean stop:    needs a listing after an unclean stop (the DB may be behind the bucket; the next reconcile lists it)');
    lines.push(`  last reconcile:  ${whenAgo(f.lastReconcile, now)}`);
    lines.push(`  last verify:     ${whenAgo(f.lastVerify, now)} (full bucket listing)`);
    lines.push(`  last verified:   ${f.verified ? `${whenAgo(f.verified.at, now)}: ${f.verified.ok ? `ok, ${num(f.verified.keys)} keys agree` : `${num(f.verified.differences)} difference(s)`}` : 'never'} (r2mirror verify)`);
    lines.push(`  R2 operations:   Class A ${num(f.ops.classA)}, Class B ${num(f.ops.classB)}, free ${num(f.ops.free)} (all runs)`);
    if (f.trash) {
      const how = f.trash.expiry === 'rule' ? 'by the bucket\'s lifecycle rule' : `by r2mirror at each listing (${f.trash.reason})`;
      lines.push(`  trash:           ${num(f.trash.files)} files, ${formatBytes(f.trash.bytes)} under ${f.trash.prefix} (listed ${whenAgo(f.trash.listedAt, now)}); ` +
        `expire after ${fmtDuration(f.trash.retention)}, ${how}`);
    }
    if (f.uploads.length) {
      lines.push(`  interrupted:     ${num(f.uploads.length)} multipart upload(s) recorded, resumed by the next reconcile`);
      for (const u of f.uploads.slice(0, 10)) lines.push(`    ${u.key}: ${formatBytes(u.sent)} of ${formatBytes(u.size)} sent, began ${whenAgo(u.startedAt, now)}`);
      if (f.uploads.length > 10) lines.push(`    ... and ${num(f.uploads.length - 10)} more (use --json for all)`);
    }
    lines.push(`  failed:          ${num(f.failed.length)}`);
    for (const x of f.failed.slice(0, 50)) lines.push(`    ${x.rel}: ${x.reason}${x.attempts > 1 ? ` (${x.attempts} attempts)` : ''}`);
    if (f.failed.length > 50) lines.push(`    ... and ${num(f.failed.length - 50)} more (use --json for all)`);
  }
  return lines.map(printable).join('\n') + '\n';
}
