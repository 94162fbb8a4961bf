// parseConfig: config text -> validated, deeply frozen Config. Reads the top-level settings, `remote` (the
// endpoint URL from accountId or given), `daemon` and `metrics` here; the `folders` list in folders.ts.
// Must not: read the config file (config.ts does) or touch `process`; put a secret value into a message.

import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { folders } from './folders.js';
import { defaultStatePath } from './files.js';
import { DAEMON_KEYS, DEFAULTS, JURISDICTIONS, LOG_LEVELS, METRICS_KEYS, REMOTE_KEYS, TOP_KEYS, deepFreeze } from './schema.js';
import type { BandwidthEntry, Config, DaemonConfig, Env, RemoteConfig } from './types.js';
import { GiB, MiB, fmtDuration, fmtSize, parseBandwidth, parseDuration, parseSize } from './units.js';
import { localPath, maxDelete } from './values.js';
import { bounded, fail, failAt, fields, int, oneOf, openDocument, scalar, show, str, type Ctx, type Field } from './yaml.js';

/** Parse and validate config text (pure apart from path resolution); `file` is for messages and relative paths. */
export function parseConfig(text: string, file: string, env: Env): Config {
  const { c, root } = openDocument(text, file, env);
  const top = fields(c, { node: root, at: root, path: '' }, TOP_KEYS);
  const need = (k: 'remote' | 'folders'): Field => top[k] ?? fail(c, root, '', `missing required key "${k}"`);
  const remoteF = need('remote');
  const state = top.state ? localPath(c, top.state) : stateDefault(c);
  const memory = top.memory ? bounded(c, top.memory, parseSize, 16 * MiB, Infinity, fmtSize) : DEFAULTS.memory;
  const partSize = top.partSize && bounded(c, top.partSize, parseSize, 5 * MiB, 5 * GiB, fmtSize);
  if (top.partSize && partSize && partSize > memory) failAt(c, top.partSize, `must not be larger than memory (${fmtSize(memory)})`);
  const settings = {
    file: resolve(file),
    remote: remote(c, remoteF),
    state,
    transfers: top.transfers ? int(c, top.transfers, 1, 256) : DEFAULTS.transfers,
    memory,
    ...(partSize ? { partSize } : {}),
    retries: top.retries ? int(c, top.retries, 0, 100) : DEFAULTS.retries,
    requestTimeout: top.requestTimeout ? bounded(c, top.requestTimeout, parseDuration, 1000, 864e5, fmtDuration) : DEFAULTS.requestTimeout,
    logLevel: top.logLevel ? oneOf(c, top.logLevel, LOG_LEVELS) : DEFAULTS.logLevel,
    maxDelete: top.maxDelete ? maxDelete(c, top.maxDelete) : DEFAULTS.maxDelete,
    ...(top.bandwidth ? { bandwidth: bandwidth(c, top.bandwidth) } : {}),
    daemon: top.daemon ? daemonSettings(c, top.daemon) : DEFAULTS.daemon,
    ...(top.metrics ? { metrics: metricsSettings(c, top.metrics) } : {}),
  };
  return deepFreeze<Config>({ ...settings, folders: folders(c, need('folders'), settings.maxDelete) });
}

/** `bandwidth`: units.ts's grammar (shared with --bwlimit), its errors at the value's line. */
function bandwidth(c: Ctx, f: Field): BandwidthEntry[] {
  const v = scalar(c, f, 'a rate or a schedule');
  try {
    return parseBandwidth(v);
  } catch (err) {
    return failAt(c, f, (err as Error).message);
  }
}

function daemonSettings(c: Ctx, f: Field): DaemonConfig {
  const m = fields(c, f, DAEMON_KEYS);
  const d = DEFAULTS.daemon;
  const dur = (k: (typeof DAEMON_KEYS)[number], min: number, max: number) => (m[k] ? bounded(c, m[k], parseDuration, min, max, fmtDuration) : d[k]);
  const out: DaemonConfig = {
    quietPeriod: dur('quietPeriod', 100, 3_600_000),
    maxDelay: dur('maxDelay', 1000, 86_400_000),
    rescanInterval: dur('rescanInterval', 60_000, 30 * 86_400_000),
    verifyInterval: dur('verifyInterval', 60_000, 365 * 86_400_000),
    stopTimeout: dur('stopTimeout', 0, 3_600_000),
    pollInterval: dur('pollInterval', 10_000, 86_400_000),
  };
  if (m.maxDelay && out.maxDelay < out.quietPeriod) failAt(c, m.maxDelay, `must not be shorter than quietPeriod (${fmtDuration(out.quietPeriod)})`);
  return out;
}

function metricsSettings(c: Ctx, f: Field): { listen: string } {
  const m = fields(c, f, METRICS_KEYS);
  if (!m.listen) failAt(c, f, 'missing required key "listen" (for example 127.0.0.1:9464)');
  const listen = str(c, m.listen).trim();
  const hp = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(listen);
  if (!hp || Number(hp[3]) > 65535) failAt(c, m.listen, `must be host:port, [ipv6]:port or :port (got ${show(listen)})`);
  return { listen };
}

function stateDefault(c: Ctx): string {
  try {
    return defaultStatePath(c.env, c.file);
  } catch (err) {
    throw new ConfigError((err as ConfigError).problem, { file: c.file });
  }
}

/** The endpoint's origin. A URL with user:password@ in it is refused without being echoed. */
function endpointUrl(c: Ctx, f: Field): string {
  const s = str(c, f);
  const shown = s.includes('@') ? 'value not shown: it may contain credentials' : `got ${show(s)}`;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return failAt(c, f, `must be an http:// or https:// URL such as "http://127.0.0.1:7480" (${shown})`);
  }
  if (u.username || u.password) {
    failAt(c, f, 'must not contain credentials; set R2_ACCESS_KEY_ID/R2_SECRET_ACCESS_KEY or remote.credentialsFile instead');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') failAt(c, f, `must be an http:// or https:// URL (${shown})`);
  if (u.pathname !== '/' || u.search || u.hash) {
    failAt(c, f, `must have no path, query or fragment: the bucket is set per folder (${shown})`);
  }
  return u.origin;
}

function remote(c: Ctx, f: Field): RemoteConfig {
  const r = fields(c, f, REMOTE_KEYS);
  const credentialsFile = r.credentialsFile && localPath(c, r.credentialsFile);
  const extra = credentialsFile ? { credentialsFile } : {};
  if (r.accountId && r.endpoint) {
    failAt(c, r.endpoint, 'set either remote.accountId (Cloudflare R2) or remote.endpoint (another S3-compatible server), not both');
  }
  if (r.endpoint) {
    if (r.jurisdiction) failAt(c, r.jurisdiction, 'only applies with remote.accountId; with remote.endpoint, give the jurisdiction\'s own URL');
    return { endpoint: endpointUrl(c, r.endpoint), ...extra };
  }
  if (!r.accountId) {
    failAt(c, f, 'set remote.accountId (Cloudflare R2) or remote.endpoint (another S3-compatible server)');
  }
  const raw = str(c, r.accountId);
  const accountId = raw.toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(accountId)) {
    failAt(c, r.accountId, `must be the 32 hexadecimal characters of the Cloudflare account ID (got ${show(raw)})`);
  }
  const jurisdiction = r.jurisdiction && oneOf(c, r.jurisdiction, JURISDICTIONS);
  const endpoint = `https://${accountId}.${jurisdiction ? `${jurisdiction}.` : ''}r2.cloudflarestorage.com`;
  return { endpoint, accountId, ...(jurisdiction ? { jurisdiction } : {}), ...extra };
}
