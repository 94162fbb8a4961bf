// What a config file may hold: the known keys at each level, the allowed choices and name rules, and the
// default of every optional key (also shown by README and --help).
// Must not: parse or validate anything (parse.ts and folders.ts do); do I/O.

import { MiB } from './units.js';

/** Freeze an object and everything reachable from it (already frozen objects are not descended into). */
export function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Default values of the optional keys, for README and --help. The trash prefix is trashRoot + prefix. */
export const DEFAULTS = deepFreeze({
  transfers: 8,
  memory: 48 * MiB,
  retries: 5,
  requestTimeout: 120_000,
  logLevel: 'info',
  maxDelete: { kind: 'percent', percent: 50 },
  prefix: '',
  exclude: [],
  deleteExcluded: false,
  deletes: 'mirror',
  trashRoot: '.r2mirror-trash/',
  followSymlinks: false,
  oneFileSystem: false,
  daemon: { quietPeriod: 2000, maxDelay: 30_000, rescanInterval: 3_600_000, verifyInterval: 86_400_000, stopTimeout: 30_000, pollInterval: 300_000 },
} as const);

export const TOP_KEYS = ['remote', 'state', 'transfers', 'memory', 'partSize', 'retries', 'requestTimeout', 'bandwidth', 'logLevel', 'maxDelete', 'daemon', 'metrics', 'folders'] as const;
export const DAEMON_KEYS = ['quietPeriod', 'maxDelay', 'rescanInterval', 'verifyInterval', 'stopTimeout', 'pollInterval'] as const;
export const METRICS_KEYS = ['listen'] as const;
export const REMOTE_KEYS = ['accountId', 'jurisdiction', 'endpoint', 'credentialsFile'] as const;
export const FOLDER_KEYS = ['name', 'path', 'bucket', 'prefix', 'exclude', 'deleteExcluded', 'deletes', 'trashPrefix', 'trashRetention', 'followSymlinks', 'oneFileSystem', 'maxDelete'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const DELETE_MODES = ['mirror', 'keep', 'trash'] as const;
export const JURISDICTIONS = ['eu', 'fedramp'] as const;
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const BUCKET_RE = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
