// The config's entry point: loadConfig (YAML file -> validated, deeply frozen Config) and loadCredentials (the
// S3 key pair), with every config type and helper other modules use. The parts live in src/config/:
// types (shapes), schema (keys, choices, defaults), yaml (walking the document, positioned errors),
// units (sizes, durations, maxDelete), values (paths, prefixes, patterns), folders (the folder list and its
// cross-checks), parse (parseConfig), files (reading files, default paths), credentials (where keys come from).
// Must not: touch `process` (callers pass env); put a secret value into an error message; log anything.

import { parseConfig } from './config/parse.js';
import { readText } from './config/files.js';
import type { Config, Env } from './config/types.js';

export type {
  BandwidthEntry, Config, Credentials, DaemonConfig, DeleteMode, FolderConfig, LogLevel, MaxDelete, RemoteConfig,
} from './config/types.js';
export { DEFAULTS, deepFreeze } from './config/schema.js';
export { bandwidthAt, fmtBandwidth, parseBandwidth, parseDuration, parseMaxDelete, parseSize } from './config/units.js';
export { SYSTEM_CONFIG, defaultStatePath, findConfigFile, stateFileName, stateFilesOf, userConfigPath } from './config/files.js';
export { loadCredentials, secretsOf } from './config/credentials.js';
export { parseConfig };

/** Read the config file and parseConfig it; an unreadable file is a ConfigError naming it. */
export function loadConfig(file: string, env: Env): Config {
  return parseConfig(readText(file, 'config file'), file, env);
}
