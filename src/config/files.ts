// The file-system side of the config: reading the config and credentials files (an unreadable file is a
// ConfigError naming it), the default state DB path and the files SQLite makes beside it, and resolving symbolic links for the nesting check.
// Must not: write anything; touch `process` (callers pass env); put a file's contents into a message.

import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, isAbsolute, join, resolve, sep } from 'node:path';
import { ConfigError } from '../errors.js';
import type { Env } from './types.js';

function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const known: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'is a directory' };
  return code && known[code] ? `${known[code]} (${code})` : (err as Error).message;
}

/** The config file for everyone on the machine (and for the daemon under systemd). */
export const SYSTEM_CONFIG = '/etc/r2mirror/config.yaml';

/** A user's config file: $XDG_CONFIG_HOME/r2mirror/config.yaml, else ~/.config/r2mirror/config.yaml (undefined: no HOME). */
export function userConfigPath(env: Env): string | undefined {
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'r2mirror', 'config.yaml');
  const home = env.HOME;
  return home && isAbsolute(home) ? join(home, '.config', 'r2mirror', 'config.yaml') : undefined;
}

/** The config file to read when --config is not given: $R2MIRROR_CONFIG, else the user's if it exists, else the system's. */
export function findConfigFile(env: Env): string {
  if (env.R2MIRROR_CONFIG) return env.R2MIRROR_CONFIG;
  const user = userConfigPath(env);
  return user !== undefined && existsSync(user) ? user : SYSTEM_CONFIG;
}

/** The file's text; a file that cannot be read is "cannot read the <what>: <reason>" naming the file. */
export function readText(file: string, what: 'config file' | 'credentials file'): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const create = what === 'config file' && (err as NodeJS.ErrnoException).code === 'ENOENT' ? '; create one with "r2mirror init"' : '';
    throw new ConfigError(`cannot read the ${what}: ${ioReason(err)}${create}`, { file });
  }
}

/**
 * The state DB's file name for a config file: `state.db` for the config found without --config (the user's or
 * /etc/r2mirror/config.yaml, or none given), else `state-<name>-<8 hex of its path's SHA-256>.db`, so that two
 * config files run side by side (two cron jobs) get a DB each instead of locking each other out (exit 75).
 */
export function stateFileName(configFile: string | undefined, env: Env): string {
  if (configFile === undefined) return 'state.db';
  const file = realPath(resolve(configFile)) ?? resolve(configFile);
  const standard = [SYSTEM_CONFIG, userConfigPath(env)].filter((p): p is string => p !== undefined).map((p) => realPath(p) ?? p);
  if (standard.includes(file)) return 'state.db';
  const name = basename(file).replace(/\.ya?ml$/i, '').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40) || 'config';
  return `state-${name}-${createHash('sha256').update(file).digest('hex').slice(0, 8)}.db`;
}

/**
 * Where the state DB goes when `state` is not set: systemd's STATE_DIRECTORY, then XDG_STATE_HOME, then HOME; the
 * file name is per config file (stateFileName).
 */
export function defaultStatePath(env: Env, configFile?: string): string {
  const db = stateFileName(configFile, env);
  const sd = env.STATE_DIRECTORY?.split(':')[0];
  if (sd && isAbsolute(sd)) return join(sd, db);
  const xdg = env.XDG_STATE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'r2mirror', db);
  const home = env.HOME;
  if (home && isAbsolute(home)) return join(home, '.local', 'state', 'r2mirror', db);
  throw new ConfigError('cannot choose where to keep the state database (HOME is not set): set "state" in the config file');
}

/** The path with symbolic links resolved, or undefined when it does not exist (yet) or cannot be resolved. */
export function realPath(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

/** True when `inner` is `outer` or a path under it. */
export function within(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);
}

/** The state DB and the files SQLite and our lock make beside it: never mirrored, wherever they live. */
export function stateFilesOf(config: { readonly state: string }): string[] {
  return ['', '-wal', '-shm', '-journal', '.lock', '.lock-journal'].map((s) => resolve(config.state + s));
}
