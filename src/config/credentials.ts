// Where the S3 access key pair comes from (credentials file, R2_*/AWS_* environment variables, systemd's
// $CREDENTIALS_DIRECTORY, the AWS shared credentials file's $AWS_PROFILE section), and the check that a key
// looks like key material (printable ASCII, no spaces).
// Must not: put a key, a secret or a credentials-file line into a message or a log; touch `process` (callers
// pass env).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { readText } from './files.js';
import type { Config, Credentials, Env } from './types.js';

const ID_KEYS = new Set(['r2_access_key_id', 'aws_access_key_id', 'access_key_id']);
const SECRET_KEYS = new Set(['r2_secret_access_key', 'aws_secret_access_key', 'secret_access_key']);
const TOKEN_KEYS = new Set(['aws_session_token', 'session_token']);

/**
 * The `[section]` of a credentials file to read: $AWS_PROFILE's (an error naming it when the file has no such
 * section), else `[default]`, else the only one; a file with several sections and none of these is an error
 * naming them (taking the first would use keys the user did not choose). Undefined: the file has no sections
 * (then AWS_PROFILE does not apply).
 */
function sectionOf(text: string, file: string, profile: string | undefined): string | undefined {
  const names = [...text.matchAll(/^\s*\[\s*(?:profile\s+)?([^\]]*?)\s*\]\s*$/gm)].map((m) => m[1]!);
  // A file without sections (R2_ACCESS_KEY_ID=... lines) holds one key pair, whatever AWS_PROFILE says.
  if (names.length === 0) return undefined;
  if (profile !== undefined) {
    if (names.includes(profile)) return profile;
    throw new ConfigError(`AWS_PROFILE names the profile "${profile}", but the file has no [${profile}] section` +
      ` (profiles: ${names.join(', ')})`, { file });
  }
  if (names.includes('default')) return 'default';
  if (names.length === 1) return names[0];
  throw new ConfigError(`the file has several profiles (${names.join(', ')}) and no [default]: set AWS_PROFILE to the one to use`, { file });
}

/**
 * Reads `KEY=value` / `key = value` lines, of the chosen `[section]` when the file has sections (sectionOf);
 * ignores blanks, `#`/`;` comments and other keys.
 */
function credentialsFromFile(file: string, profile: string | undefined): Credentials {
  const text = readText(file, 'credentials file');
  const section = sectionOf(text, file, profile);
  let current: string | undefined;
  let id: string | undefined;
  let secret: string | undefined;
  let token: string | undefined;
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[\s*(?:profile\s+)?([^\]]*?)\s*\]$/.exec(line);
    if (header) {
      current = header[1];
      continue;
    }
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    // Never echo the line: it may hold a secret.
    if (!m) throw new ConfigError('expected KEY=value (the line is not shown because it may hold a secret)', { file, line: i + 1 });
    if (section !== undefined && current !== section) continue;
    const key = m[1]!.toLowerCase();
    const value = m[2]!.replace(/^(["'])(.*)\1$/, '$2');
    const wanted = (ID_KEYS.has(key) && id === undefined) || (SECRET_KEYS.has(key) && secret === undefined);
    const problem = wanted && value ? credentialProblem(value) : undefined;
    if (problem) throw new ConfigError(`${m[1]} ${problem}`, { file, line: i + 1 });
    if (ID_KEYS.has(key)) id ??= value || undefined;
    else if (SECRET_KEYS.has(key)) secret ??= value || undefined;
    else if (TOKEN_KEYS.has(key)) token ??= value || undefined;
  }
  const where = section === undefined ? '' : ` in [${section}]`;
  if (!id) throw new ConfigError(`no access key ID${where}: add a line R2_ACCESS_KEY_ID=... (or aws_access_key_id = ...)`, { file });
  if (!secret) throw new ConfigError(`no secret access key${where}: add a line R2_SECRET_ACCESS_KEY=... (or aws_secret_access_key = ...)`, { file });
  return { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}), source: `file ${file}${where}` };
}

/**
 * Why a key ID or secret cannot be right, without showing it: anything but printable ASCII (a newline left by
 * `echo` or an editor, a space, a control or non-ASCII character). The SDK would put it into a header and fail.
 */
function credentialProblem(value: string): string | undefined {
  const i = value.search(/[^\x21-\x7e]/);
  if (i < 0) return undefined;
  const ch = value.charCodeAt(i);
  const hex = `U+${ch.toString(16).toUpperCase().padStart(4, '0')}`;
  const names: Record<number, string> = { 9: 'a tab', 10: 'a newline', 13: 'a carriage return', 32: 'a space' };
  const what = names[ch] ?? (ch < 0x20 || ch === 0x7f ? `a control character (${hex})` : `a non-ASCII character (${hex})`);
  const where = i === value.length - 1 ? 'at its end' : i === 0 ? 'at its start' : `at character ${i + 1}`;
  return `holds ${what} ${where} (the value is not shown); access keys are printable ASCII without spaces: remove it`;
}

function credentialsFromEnv(env: Env, idVar: string, secretVar: string): Credentials | undefined {
  const id = env[idVar];
  const secret = env[secretVar];
  for (const [name, value] of [[idVar, id], [secretVar, secret]] as const) {
    const problem = value ? credentialProblem(value) : undefined;
    if (problem) throw new ConfigError(`environment variable ${name} ${problem}`);
  }
  // A session token goes with the AWS_* pair it was issued for (temporary credentials).
  const token = idVar.startsWith('AWS_') ? env.AWS_SESSION_TOKEN : undefined;
  if (id && secret) return { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}), source: `env ${idVar}` };
  if (id) throw new ConfigError(`${idVar} is set but ${secretVar} is not; set both or neither`);
  if (secret) throw new ConfigError(`${secretVar} is set but ${idVar} is not; set both or neither`);
  return undefined;
}

/**
 * Find the access key pair, first match wins: (1) remote.credentialsFile, (2) env R2_ACCESS_KEY_ID +
 * R2_SECRET_ACCESS_KEY, (3) env AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), (4)
 * $CREDENTIALS_DIRECTORY/credentials, (5) when AWS_PROFILE or AWS_SHARED_CREDENTIALS_FILE is set, the AWS shared
 * credentials file ($AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials). In a file with `[sections]`,
 * AWS_PROFILE picks one (sectionOf).
 */
export function loadCredentials(config: Config, env: Env): Credentials {
  const profile = env.AWS_PROFILE || undefined;
  if (config.remote.credentialsFile) return credentialsFromFile(config.remote.credentialsFile, profile);
  const fromEnv = credentialsFromEnv(env, 'R2_ACCESS_KEY_ID', 'R2_SECRET_ACCESS_KEY')
    ?? credentialsFromEnv(env, 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY');
  if (fromEnv) return fromEnv;
  const dir = env.CREDENTIALS_DIRECTORY;
  const systemd = dir ? join(dir, 'credentials') : undefined;
  if (systemd && existsSync(systemd)) return credentialsFromFile(systemd, profile);
  const shared = env.AWS_SHARED_CREDENTIALS_FILE || (env.HOME ? join(env.HOME, '.aws', 'credentials') : undefined);
  if (shared && (profile !== undefined || env.AWS_SHARED_CREDENTIALS_FILE)) return credentialsFromFile(shared, profile);
  throw new ConfigError('no credentials found; tried (1) remote.credentialsFile in the config file: not set; ' +
    '(2) R2_ACCESS_KEY_ID + R2_SECRET_ACCESS_KEY: not set; (3) AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY: not set; ' +
    `(4) $CREDENTIALS_DIRECTORY/credentials: ${systemd ? `${systemd} does not exist` : 'CREDENTIALS_DIRECTORY not set'}; ` +
    '(5) ~/.aws/credentials: AWS_PROFILE not set',
    { file: config.file });
}

/** The values every output line must scrub: the secret, the key ID and, with temporary keys, the session token. */
export function secretsOf(c: Credentials): string[] {
  return c.sessionToken ? [c.secretAccessKey, c.accessKeyId, c.sessionToken] : [c.secretAccessKey, c.accessKeyId];
}
