// YAML config file -> validated, deeply frozen Config; also finds the S3 credentials (loadCredentials).
// Must not touch `process` (callers pass env) and must never put a secret value into an error message.

import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { ConfigError } from './errors.js';
import { MAX_KEY_BYTES } from './keys.js';

/** What a local delete does in the bucket: delete the object, leave it, or move it under trashPrefix. */
export type DeleteMode = 'mirror' | 'keep' | 'trash';
/** pino log levels. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
/** Largest delete plan a reconcile may carry out: an absolute count or a share of the folder's objects. */
export type MaxDelete = { kind: 'count'; count: number } | { kind: 'percent'; percent: number };

/** Where the bucket lives: a resolved endpoint URL, from accountId (+ jurisdiction) or given directly. */
export interface RemoteConfig {
  readonly endpoint: string;
  readonly accountId?: string;
  readonly jurisdiction?: 'eu' | 'fedramp';
  readonly credentialsFile?: string;
}

/** One local folder mirrored to bucket/prefix. Paths are absolute; prefixes are '' or end with '/'. */
export interface FolderConfig {
  readonly name: string;
  readonly path: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly exclude: readonly string[];
  /** Remove objects whose path `exclude` matches (rclone's --delete-excluded); false: leave them alone. */
  readonly deleteExcluded: boolean;
  readonly deletes: DeleteMode;
  readonly trashPrefix: string;
  readonly followSymlinks: boolean;
  /** Stay on the root's file system: a disk mounted inside the folder is neither mirrored nor deleted from. */
  readonly oneFileSystem: boolean;
  readonly maxDelete: MaxDelete;
}

/** The whole validated configuration; sizes in bytes, durations in ms, paths absolute. */
export interface Config {
  readonly file: string;
  readonly remote: RemoteConfig;
  readonly state: string;
  readonly transfers: number;
  readonly memory: number;
  readonly partSize?: number;
  readonly retries: number;
  readonly requestTimeout: number;
  readonly logLevel: LogLevel;
  readonly maxDelete: MaxDelete;
  readonly daemon: DaemonConfig;
  /** The Prometheus endpoint of the daemon; absent when not configured. */
  readonly metrics?: { readonly listen: string };
  readonly folders: readonly FolderConfig[];
}

/** Timings of `r2mirror daemon` (all in ms). */
export interface DaemonConfig {
  /** A changed path is uploaded once no event touched it for this long. */
  readonly quietPeriod: number;
  /** ... or after this long, even while events keep coming. */
  readonly maxDelay: number;
  /** A full local rescan (no R2 cost) catches missed events this often. */
  readonly rescanInterval: number;
  /** A full listing of the bucket catches objects changed or removed behind our back this often. */
  readonly verifyInterval: number;
  /** On SIGTERM, in-flight uploads may finish for this long before they are aborted. */
  readonly stopTimeout: number;
  /** Without file watching (inotify limit reached), rescan this often instead. */
  readonly pollInterval: number;
}

/** An access key pair and where it came from (`env R2_ACCESS_KEY_ID`, `file /etc/r2mirror/credentials`). */
export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly source: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

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

const TOP_KEYS = ['remote', 'state', 'transfers', 'memory', 'partSize', 'retries', 'requestTimeout', 'logLevel', 'maxDelete', 'daemon', 'metrics', 'folders'] as const;
const DAEMON_KEYS = ['quietPeriod', 'maxDelay', 'rescanInterval', 'verifyInterval', 'stopTimeout', 'pollInterval'] as const;
const METRICS_KEYS = ['listen'] as const;
const REMOTE_KEYS = ['accountId', 'jurisdiction', 'endpoint', 'credentialsFile'] as const;
const FOLDER_KEYS = ['name', 'path', 'bucket', 'prefix', 'exclude', 'deleteExcluded', 'deletes', 'trashPrefix', 'followSymlinks', 'oneFileSystem', 'maxDelete'] as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const DELETE_MODES = ['mirror', 'keep', 'trash'] as const;
const JURISDICTIONS = ['eu', 'fedramp'] as const;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const BUCKET_RE = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const SECRET_KEY_RE = /secret|access_?key|passw|token|credential|api_?key/i;

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1, b: 1,
  k: KiB, kib: KiB, kb: 1e3,
  m: MiB, mib: MiB, mb: 1e6,
  g: GiB, gib: GiB, gb: 1e9,
  t: TiB, tib: TiB, tb: 1e12,
};
const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5 };

/** Bytes from a number of bytes or a string like "64MiB", "1.5 GiB", "10MB" (SI); K/M/G/T alone are binary. */
export function parseSize(v: unknown): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(v) : null;
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  const n = m && unit ? Math.round(Number(m[1]) * unit) : NaN;
  if (Number.isSafeInteger(n)) return n;
  throw new Error(`invalid size ${show(v)}: use a number of bytes (1048576) or a number with a unit: ` +
    'KiB, MiB, GiB, TiB (or K, M, G, T: x1024) or KB, MB, GB, TB (x1000)');
}

/** Milliseconds from a number (ms) or a string like "500ms", "30s", "5m", "1h30m", "2.5s", "1d". */
export function parseDuration(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v);
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^\d+(?:\.\d+)?$/.test(s)) return Math.round(Number(s));
    const re = /\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/y; // 'ms' before 'm' so "500ms" is not read as minutes
    let ms = 0;
    let end = 0;
    for (let m = re.exec(s); m; m = re.exec(s)) {
      ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
      end = re.lastIndex;
    }
    if (end > 0 && end === s.length) return Math.round(ms);
  }
  throw new Error(`invalid duration ${show(v)}: use milliseconds (1500) or numbers with units ms, s, m, h, d ("30s", "1h30m")`);
}

/** Freeze an object and everything reachable from it (already frozen objects are not descended into). */
export function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Where the state DB goes when `state` is not set: systemd's STATE_DIRECTORY, then XDG_STATE_HOME, then HOME. */
export function defaultStatePath(env: Env): string {
  const sd = env.STATE_DIRECTORY?.split(':')[0];
  if (sd && isAbsolute(sd)) return join(sd, 'state.db');
  const xdg = env.XDG_STATE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'r2mirror', 'state.db');
  const home = env.HOME;
  if (home && isAbsolute(home)) return join(home, '.local', 'state', 'r2mirror', 'state.db');
  throw new ConfigError('cannot choose where to keep the state database (HOME is not set): set "state" in the config file');
}

/** Read the config file and parseConfig it; an unreadable file is a ConfigError naming it. */
export function loadConfig(file: string, env: Env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the config file: ${ioReason(err)}`, { file });
  }
  return parseConfig(text, file, env);
}

// ---- YAML walking ------------------------------------------------------------------------------------

interface Ctx {
  readonly file: string;
  readonly dir: string;
  readonly lc: LineCounter;
  readonly doc: Document;
  readonly env: Env;
}

/** A value in the document with the key path that leads to it; `at` is where to point when it is empty. */
interface Field {
  readonly node: YamlNode | null;
  readonly at: YamlNode | null;
  readonly path: string;
}

type Fields<K extends string> = Partial<Record<K, Field>>;

function fail(c: Ctx, node: YamlNode | null | undefined, path: string, problem: string): never {
  const pos = node?.range ? c.lc.linePos(node.range[0]) : undefined;
  throw new ConfigError(problem, { file: c.file, line: pos?.line, col: pos?.col, path: path || undefined });
}

function failAt(c: Ctx, f: Field, problem: string): never {
  return fail(c, f.node?.range ? f.node : f.at, f.path, problem);
}

function deref(c: Ctx, n: unknown): unknown {
  return isAlias(n) ? n.resolve(c.doc) : n;
}

/** A value for messages: strings quoted, collections named. */
function show(v: unknown): string {
  if (isMap(v)) return 'a mapping';
  if (isSeq(v) || Array.isArray(v)) return 'a list';
  const x = isScalar(v) ? v.value : v;
  if (x === null || x === undefined) return 'an empty value';
  if (typeof x === 'string') return JSON.stringify(x);
  return typeof x === 'object' ? 'a mapping' : String(x);
}

/** The mapping at f, checked against the known keys (unknown keys are errors, with a suggestion). */
function fields<K extends string>(c: Ctx, f: Field, known: readonly K[]): Fields<K> {
  const map = deref(c, f.node);
  if (!isMap(map)) failAt(c, f, `${f.path ? 'must' : 'the top level must'} be a mapping of keys (got ${show(map)})`);
  const out: Fields<K> = {};
  for (const pair of map.items) {
    const keyNode = pair.key as YamlNode | null;
    if (!isScalar(keyNode)) fail(c, keyNode ?? (map as YamlNode), f.path, `keys must be plain words (got ${show(keyNode)})`);
    const key = String(keyNode.value);
    if (!(known as readonly string[]).includes(key)) fail(c, keyNode, f.path, unknownKey(key, known));
    out[key as K] = { node: pair.value as YamlNode | null, at: keyNode, path: f.path ? `${f.path}.${key}` : key };
  }
  return out;
}

function unknownKey(key: string, known: readonly string[]): string {
  const best = known.map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) })).sort((a, b) => a.d - b.d)[0];
  if (best && best.d <= 2) return `unknown key ${JSON.stringify(key)} (did you mean ${JSON.stringify(best.k)}?)`;
  if (SECRET_KEY_RE.test(key)) {
    return `unknown key ${JSON.stringify(key)}: secrets are not read from the config file; set R2_ACCESS_KEY_ID and ` +
      'R2_SECRET_ACCESS_KEY in the environment, or point remote.credentialsFile at a file that holds them';
  }
  return `unknown key ${JSON.stringify(key)} (known keys: ${known.join(', ')})`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The scalar value at f; a list or mapping is an error saying what was expected. */
function scalar(c: Ctx, f: Field, expected: string): unknown {
  const n = deref(c, f.node);
  if (n !== null && n !== undefined && !isScalar(n)) failAt(c, f, `must be ${expected} (got ${show(n)})`);
  return isScalar(n) ? n.value : null;
}

function str(c: Ctx, f: Field): string {
  const v = scalar(c, f, 'a string');
  if (typeof v !== 'string') failAt(c, f, `must be a string (got ${show(v)})`);
  return v;
}

function int(c: Ctx, f: Field, min: number, max: number): number {
  const v = scalar(c, f, 'an integer');
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    failAt(c, f, `must be an integer from ${min} to ${max} (got ${show(v)})`);
  }
  return v;
}

function bool(c: Ctx, f: Field): boolean {
  const v = scalar(c, f, 'true or false');
  if (typeof v !== 'boolean') failAt(c, f, `must be true or false (got ${show(v)})`);
  return v;
}

function oneOf<T extends string>(c: Ctx, f: Field, choices: readonly T[]): T {
  const v = scalar(c, f, `one of ${choices.join(', ')}`);
  if (!(choices as readonly unknown[]).includes(v)) failAt(c, f, `must be one of ${choices.join(', ')} (got ${show(v)})`);
  return v as T;
}

/** A size or duration at f, parsed and range-checked; `fmt` writes the limits back in the user's units. */
function bounded(c: Ctx, f: Field, parse: (v: unknown) => number, min: number, max: number, fmt: (n: number) => string): number {
  const v = scalar(c, f, 'a single value');
  let n: number;
  try {
    n = parse(v);
  } catch (err) {
    return failAt(c, f, (err as Error).message);
  }
  const limits = max === Infinity ? `at least ${fmt(min)}` : `from ${fmt(min)} to ${fmt(max)}`;
  if (n < min || n > max) failAt(c, f, `must be ${limits} (got ${show(v)})`);
  return n;
}

const SIZE_NAMES = [['TiB', TiB], ['GiB', GiB], ['MiB', MiB], ['KiB', KiB], ['bytes', 1]] as const;
const DURATION_NAMES = [['d', 864e5], ['h', 36e5], ['m', 6e4], ['s', 1e3], ['ms', 1]] as const;
const fmtSize = (n: number): string => inUnits(n, SIZE_NAMES, ' ');
const fmtDuration = (n: number): string => inUnits(n, DURATION_NAMES, '');

function inUnits(n: number, units: ReadonlyArray<readonly [string, number]>, sep: string): string {
  const [name, k] = units.find(([, k]) => n >= k && n % k === 0) ?? units[units.length - 1]!;
  return `${n / k}${sep}${name}`;
}

function maxDelete(c: Ctx, f: Field): MaxDelete {
  const v = scalar(c, f, 'a count or a percentage');
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return { kind: 'count', count: v };
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v) : null;
  if (m && Number(m[1]) <= 100) return { kind: 'percent', percent: Number(m[1]) };
  return failAt(c, f, `must be a number of files (an integer >= 0) or a percentage from "0%" to "100%" (got ${show(v)})`);
}

/** An absolute local path: '~' and '~/...' use env.HOME; relative paths are taken from the config file's dir. */
function localPath(c: Ctx, f: Field): string {
  const s = str(c, f);
  if (s === '') failAt(c, f, 'must not be empty');
  if (s !== '~' && !s.startsWith('~/')) {
    if (s.startsWith('~')) failAt(c, f, `"~user" paths are not supported; write the full path (got ${show(s)})`);
    return resolve(c.dir, s);
  }
  const home = c.env.HOME;
  if (!home || !isAbsolute(home)) failAt(c, f, `cannot expand "~" because HOME is not set (got ${show(s)})`);
  return resolve(home, `.${s.slice(1)}`);
}

/**
 * '' or a key prefix ending with '/' (one is appended), in Unicode NFC like every key (a prefix typed in NFD
 * would list nothing of what was uploaded); no leading '/', no '//', no '.' or '..' segments, and short enough
 * that a file name still fits in a key.
 */
function keyPrefix(c: Ctx, f: Field): string {
  const s = str(c, f);
  if (s === '') return '';
  const p = (s.endsWith('/') ? s : `${s}/`).normalize('NFC');
  if (p.startsWith('/')) failAt(c, f, `must not start with "/" (got ${show(s)})`);
  if (p.includes('//')) failAt(c, f, `must not contain "//" (got ${show(s)})`);
  if (p.split('/').some((seg) => seg === '.' || seg === '..')) failAt(c, f, `must not contain "." or ".." segments (got ${show(s)})`);
  if (/[\x00-\x1f\x7f]/.test(p)) failAt(c, f, `must not contain control characters (got ${show(s)})`);
  const bytes = Buffer.byteLength(p, 'utf8');
  if (bytes >= MAX_KEY_BYTES) {
    failAt(c, f, `is ${bytes} bytes long (with its "/"); object keys have at most ${MAX_KEY_BYTES} bytes, so no file name would fit after it`);
  }
  return p;
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

/** A folder as parsed, with its fields kept so that cross-folder checks can point at the right line. */
interface Draft {
  readonly cfg: FolderConfig;
  readonly f: Field;
  readonly m: Fields<(typeof FOLDER_KEYS)[number]>;
}

function folder(c: Ctx, f: Field, topMaxDelete: MaxDelete): Draft {
  const m = fields(c, f, FOLDER_KEYS);
  const need = (k: 'name' | 'path' | 'bucket'): Field => m[k] ?? failAt(c, f, `missing required key "${k}"`);
  const nameF = need('name');
  const pathF = need('path');
  const bucketF = need('bucket');
  const name = str(c, nameF);
  if (!NAME_RE.test(name)) {
    failAt(c, nameF, `must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit (got ${show(name)})`);
  }
  const path = localPath(c, pathF);
  if (path === '/') failAt(c, pathF, 'must not be "/": mirror a folder, not the whole filesystem');
  if (realPath(path) === '/') failAt(c, pathF, `leads to "/" through a symbolic link (got ${show(path)}): mirror a folder, not the whole filesystem`);
  const bucket = str(c, bucketF);
  if (!BUCKET_RE.test(bucket)) {
    failAt(c, bucketF, `must be a bucket name of 3-63 lowercase letters, digits and "-", starting and ending with a letter or digit (got ${show(bucket)})`);
  }
  const prefix = m.prefix ? keyPrefix(c, m.prefix) : DEFAULTS.prefix;
  const trashPrefix = m.trashPrefix ? keyPrefix(c, m.trashPrefix) : DEFAULTS.trashRoot + prefix;
  if (m.trashPrefix && trashPrefix === '') failAt(c, m.trashPrefix, 'must not be empty');
  const exclude = m.exclude ? patterns(c, m.exclude) : [];
  const cfg: FolderConfig = {
    name,
    path,
    bucket,
    prefix,
    exclude,
    deleteExcluded: m.deleteExcluded ? bool(c, m.deleteExcluded) : DEFAULTS.deleteExcluded,
    deletes: m.deletes ? oneOf(c, m.deletes, DELETE_MODES) : DEFAULTS.deletes,
    trashPrefix,
    followSymlinks: m.followSymlinks ? bool(c, m.followSymlinks) : DEFAULTS.followSymlinks,
    oneFileSystem: m.oneFileSystem ? bool(c, m.oneFileSystem) : DEFAULTS.oneFileSystem,
    maxDelete: m.maxDelete ? maxDelete(c, m.maxDelete) : topMaxDelete,
  };
  return { cfg, f, m };
}

function patterns(c: Ctx, f: Field): string[] {
  const seq = deref(c, f.node);
  if (!isSeq(seq)) failAt(c, f, `must be a list of gitignore-style patterns, e.g. ["*.tmp", ".git/"] (got ${show(seq)})`);
  return seq.items.map((item, i) => {
    const it: Field = { node: item as YamlNode | null, at: f.node, path: `${f.path}[${i}]` };
    const p = str(c, it);
    if (p.trim() === '') failAt(c, it, 'must not be empty');
    return p;
  });
}

/** Two key prefixes overlap when one starts with the other ('' overlaps everything). */
function overlaps(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

// Two folders writing into the same keys would delete each other's objects; a trash prefix inside a
// mirrored prefix would be mirrored over (or deleted as "gone locally") by that folder.
function checkOverlaps(c: Ctx, ds: readonly Draft[]): void {
  ds.forEach((b, j) => {
    for (const a of ds.slice(0, j)) {
      if (a.cfg.bucket !== b.cfg.bucket || !overlaps(a.cfg.prefix, b.cfg.prefix)) continue;
      fail(c, b.m.prefix?.node ?? b.f.node, `${b.f.path}.prefix`,
        `folders "${a.cfg.name}" (${a.f.path}) and "${b.cfg.name}" overlap in bucket "${b.cfg.bucket}": ` +
        `prefixes ${show(a.cfg.prefix)} and ${show(b.cfg.prefix)}; give each folder a prefix that is not inside the other's`);
    }
  });
  for (const t of ds.filter((d) => d.cfg.deletes === 'trash')) {
    for (const g of ds) {
      if (g.cfg.bucket !== t.cfg.bucket || !overlaps(t.cfg.trashPrefix, g.cfg.prefix)) continue;
      const where = t.m.trashPrefix ?? t.m.deletes!;
      const whose = g === t ? 'the folder\'s own prefix' : `the prefix of folder "${g.cfg.name}" (${g.f.path})`;
      // Only a folder's own '' prefix gets here: two folders in one bucket with '' would already overlap.
      const fix = g.cfg.prefix === ''
        ? 'the folder mirrors the whole bucket, so every trashPrefix would be inside it: set a prefix for it ' +
          '(and, if needed, a trashPrefix outside that prefix), or use deletes: mirror or keep'
        : 'set trashPrefix to a prefix outside every mirrored prefix in this bucket';
      fail(c, where.node, where.path,
        `trash prefix ${show(t.cfg.trashPrefix)}${t.m.trashPrefix ? '' : ' (the default)'} overlaps ${whose} ` +
        `${show(g.cfg.prefix)} in bucket "${t.cfg.bucket}", so trashed objects would be mirrored or deleted; ${fix}`);
    }
  }
}

/** The path with symbolic links resolved, or undefined when it does not exist (yet) or cannot be resolved. */
function realPath(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

/** True when `inner` is `outer` or a path under it. */
function within(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);
}

// Two folders whose local trees nest would upload the inner tree twice (and watch it twice): as written, and
// after resolving symbolic links, for paths that exist.
function checkNesting(c: Ctx, ds: readonly Draft[]): void {
  const paths = ds.map((d) => ({ d, as: d.cfg.path, real: realPath(d.cfg.path) }));
  type P = (typeof paths)[number];
  const literally = (x: P, y: P) => within(x.as, y.as);
  const really = (x: P, y: P) => x.real !== undefined && y.real !== undefined && within(x.real, y.real);
  const inside = (x: P, y: P) => literally(x, y) || really(x, y);
  paths.forEach((b, j) => {
    for (const a of paths.slice(0, j)) {
      if (!inside(a, b) && !inside(b, a)) continue;
      const how = inside(a, b) && inside(b, a) ? 'are the same directory'
        : inside(b, a) ? `nest: ${show(b.as)} is inside ${show(a.as)}` : `nest: ${show(a.as)} is inside ${show(b.as)}`;
      const viaLinks = !literally(a, b) && !literally(b, a) ? ' (after resolving symbolic links)' : '';
      fail(c, b.d.m.path?.node ?? b.d.f.node, `${b.d.f.path}.path`,
        `the paths of folders "${a.d.cfg.name}" (${a.d.f.path}) and "${b.d.cfg.name}" ${how}${viaLinks}, so their files would be ` +
        'uploaded twice; mirror the outer folder only (with exclude patterns for what it should skip) or give each folder its own tree');
    }
  });
}

function yamlProblem(err: Error): string {
  // yaml appends " at line L, column C:" and a copy of the source line; drop both (the line may hold a secret).
  return (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?\s*$/, '');
}

/** Parse and validate config text (pure apart from path resolution); `file` is for messages and relative paths. */
export function parseConfig(text: string, file: string, env: Env): Config {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  const bad = doc.errors[0];
  if (bad) {
    const pos = bad.linePos?.[0];
    throw new ConfigError(`invalid YAML: ${yamlProblem(bad)}`, { file, line: pos?.line, col: pos?.col });
  }
  const abs = resolve(file);
  const c: Ctx = { file, dir: dirname(abs), lc, doc, env };
  const root = doc.contents as YamlNode | null;
  if (root === null || (isScalar(root) && root.value === null)) {
    throw new ConfigError('the config file is empty; see config.example.yaml for every key', { file });
  }
  const top = fields(c, { node: root, at: root, path: '' }, TOP_KEYS);
  const need = (k: 'remote' | 'folders'): Field => top[k] ?? fail(c, root, '', `missing required key "${k}"`);
  const remoteF = need('remote');
  const state = top.state ? localPath(c, top.state) : stateDefault(c);
  const memory = top.memory ? bounded(c, top.memory, parseSize, 16 * MiB, Infinity, fmtSize) : DEFAULTS.memory;
  const partSize = top.partSize && bounded(c, top.partSize, parseSize, 5 * MiB, 5 * GiB, fmtSize);
  if (top.partSize && partSize && partSize > memory) failAt(c, top.partSize, `must not be larger than memory (${fmtSize(memory)})`);
  const settings = {
    file: abs,
    remote: remote(c, remoteF),
    state,
    transfers: top.transfers ? int(c, top.transfers, 1, 256) : DEFAULTS.transfers,
    memory,
    ...(partSize ? { partSize } : {}),
    retries: top.retries ? int(c, top.retries, 0, 100) : DEFAULTS.retries,
    requestTimeout: top.requestTimeout ? bounded(c, top.requestTimeout, parseDuration, 1000, 864e5, fmtDuration) : DEFAULTS.requestTimeout,
    logLevel: top.logLevel ? oneOf(c, top.logLevel, LOG_LEVELS) : DEFAULTS.logLevel,
    maxDelete: top.maxDelete ? maxDelete(c, top.maxDelete) : DEFAULTS.maxDelete,
    daemon: top.daemon ? daemonSettings(c, top.daemon) : DEFAULTS.daemon,
    ...(top.metrics ? { metrics: metricsSettings(c, top.metrics) } : {}),
  };

  const foldersF = need('folders');
  const seq = deref(c, foldersF.node);
  if (!isSeq(seq)) failAt(c, foldersF, `must be a list of folders (got ${show(seq)})`);
  if (seq.items.length === 0) failAt(c, foldersF, 'must list at least one folder');
  const drafts: Draft[] = [];
  const seen = new Map<string, Draft>();
  seq.items.forEach((item, i) => {
    const d = folder(c, { node: item as YamlNode | null, at: foldersF.node, path: `folders[${i}]` }, settings.maxDelete);
    const prev = seen.get(d.cfg.name);
    if (prev) failAt(c, d.m.name!, `duplicate folder name ${show(d.cfg.name)} (also used by ${prev.f.path})`);
    seen.set(d.cfg.name, d);
    drafts.push(d);
  });
  checkOverlaps(c, drafts);
  checkNesting(c, drafts);
  return deepFreeze<Config>({ ...settings, folders: drafts.map((d) => d.cfg) });
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
    return defaultStatePath(c.env);
  } catch (err) {
    throw new ConfigError((err as ConfigError).problem, { file: c.file });
  }
}

// ---- credentials -------------------------------------------------------------------------------------

const ID_KEYS = new Set(['r2_access_key_id', 'aws_access_key_id', 'access_key_id']);
const SECRET_KEYS = new Set(['r2_secret_access_key', 'aws_secret_access_key', 'secret_access_key']);

function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const known: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'is a directory' };
  return code && known[code] ? `${known[code]} (${code})` : (err as Error).message;
}

/** Reads `KEY=value` / `key = value` lines; ignores blanks, `#`/`;` comments, `[section]` headers and other keys. */
function credentialsFromFile(file: string): Credentials {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the credentials file: ${ioReason(err)}`, { file });
  }
  let id: string | undefined;
  let secret: string | undefined;
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || /^\[[^\]]*\]$/.test(line)) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    // Never echo the line: it may hold a secret.
    if (!m) throw new ConfigError('expected KEY=value (the line is not shown because it may hold a secret)', { file, line: i + 1 });
    const key = m[1]!.toLowerCase();
    const value = m[2]!.replace(/^(["'])(.*)\1$/, '$2');
    const wanted = (ID_KEYS.has(key) && id === undefined) || (SECRET_KEYS.has(key) && secret === undefined);
    const problem = wanted && value ? credentialProblem(value) : undefined;
    if (problem) throw new ConfigError(`${m[1]} ${problem}`, { file, line: i + 1 });
    if (ID_KEYS.has(key)) id ??= value || undefined;
    else if (SECRET_KEYS.has(key)) secret ??= value || undefined;
  }
  if (!id) throw new ConfigError('no access key ID: add a line R2_ACCESS_KEY_ID=... (or aws_access_key_id = ...)', { file });
  if (!secret) throw new ConfigError('no secret access key: add a line R2_SECRET_ACCESS_KEY=... (or aws_secret_access_key = ...)', { file });
  return { accessKeyId: id, secretAccessKey: secret, source: `file ${file}` };
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
  if (id && secret) return { accessKeyId: id, secretAccessKey: secret, source: `env ${idVar}` };
  if (id) throw new ConfigError(`${idVar} is set but ${secretVar} is not; set both or neither`);
  if (secret) throw new ConfigError(`${secretVar} is set but ${idVar} is not; set both or neither`);
  return undefined;
}

/**
 * Find the access key pair, first match wins: (1) remote.credentialsFile, (2) env R2_ACCESS_KEY_ID +
 * R2_SECRET_ACCESS_KEY, (3) env AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, (4) $CREDENTIALS_DIRECTORY/credentials.
 */
export function loadCredentials(config: Config, env: Env): Credentials {
  if (config.remote.credentialsFile) return credentialsFromFile(config.remote.credentialsFile);
  const fromEnv = credentialsFromEnv(env, 'R2_ACCESS_KEY_ID', 'R2_SECRET_ACCESS_KEY')
    ?? credentialsFromEnv(env, 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY');
  if (fromEnv) return fromEnv;
  const dir = env.CREDENTIALS_DIRECTORY;
  const systemd = dir ? join(dir, 'credentials') : undefined;
  if (systemd && existsSync(systemd)) return credentialsFromFile(systemd);
  throw new ConfigError('no credentials found; tried (1) remote.credentialsFile in the config file: not set; ' +
    '(2) R2_ACCESS_KEY_ID + R2_SECRET_ACCESS_KEY: not set; (3) AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY: not set; ' +
    `(4) $CREDENTIALS_DIRECTORY/credentials: ${systemd ? `${systemd} does not exist` : 'CREDENTIALS_DIRECTORY not set'}`,
    { file: config.file });
}
