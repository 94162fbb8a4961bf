// Set-up shared by the commands: option parsing with usage errors, config + credentials + logger, the S3 client,
// and turning an error into the one stderr line and exit code the user sees. Never prints a secret.
// Must not: print a secret; touch `process` (cli.ts does); hold an engine (queues, retry loops, SQLite).

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { S3Client } from '@aws-sdk/client-s3';
import { findConfigFile, loadConfig, loadCredentials, parseBandwidth, secretsOf, type BandwidthEntry, type Config, type Credentials } from '../config.js';
import { ConfigError, ExitCode, FatalError, UsageError, describeError, interruptedExitCode, isAbortError, printable, scrub } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { formatBytes } from '../config/units.js';
import { closest } from '../suggest.js';
import { createClient, type OpCounter } from '../remote/bucket.js';
import { Throttle, throttleExtraMs } from '../remote/throttle.js';
import type { CommandContext, Output } from './context.js';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The config file: --config, else $R2MIRROR_CONFIG, else the user's ($XDG_CONFIG_HOME/r2mirror/config.yaml or
 * ~/.config/...) when it exists, else /etc/r2mirror/config.yaml.
 */
export function configPath(value: string | undefined, env: CommandContext['env']): string {
  return value ?? findConfigFile(env);
}

/**
 * -q/--quiet and -v/--verbose, which every command takes: a verbosity of -1 (errors only: no progress line, no
 * summary a script does not need), 0, or the number of -v (1 a line per file, 2 debug, 3 trace).
 */
const VERBOSITY = { quiet: { type: 'boolean', short: 'q' }, verbose: { type: 'boolean', short: 'v', multiple: true } } as const;

/** node:util parseArgs with -q/-v added, its errors turned into UsageError and a bound on positionals. */
export function parseCommand<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string, args: readonly string[], options: T, maxPositionals: number,
) {
  let parsed;
  const all = { ...options, ...VERBOSITY };
  try {
    parsed = parseArgs({ args: [...args], options: all, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${command}: ${withSuggestion(err as Error & { code?: string }, all)}`);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`${command}: unexpected argument "${parsed.positionals[maxPositionals]}"`);
  }
  const { quiet, verbose } = parsed.values as { quiet?: boolean; verbose?: boolean[] };
  if (quiet && verbose?.length) throw new UsageError(`${command}: -q/--quiet and -v/--verbose cannot be used together`);
  return { ...parsed, verbosity: quiet ? -1 : verbose?.length ?? 0 };
}

/** parseArgs's message; for an unknown option, the closest known one instead of its hint about positionals. */
function withSuggestion(err: Error & { code?: string }, options: NonNullable<ParseArgsConfig['options']>): string {
  const typed = err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'(--?[^'=]+)/.exec(err.message)?.[1] : undefined;
  if (typed === undefined) return err.message;
  const names = Object.entries(options).flatMap(([long, o]) => [`--${long}`, ...(o.short ? [`-${o.short}`] : [])]);
  const guess = closest(typed, [...names.filter((n) => n.startsWith('--')), '--help']);
  return guess === undefined ? err.message : `Unknown option '${typed}'. Did you mean ${guess}?`;
}

/** `--bwlimit RATE|SCHEDULE` (the config's bandwidth grammar), or undefined. Throws UsageError. */
export function bwlimitOption(v: string | undefined): readonly BandwidthEntry[] | undefined {
  if (v === undefined) return undefined;
  try {
    return parseBandwidth(v);
  } catch (err) {
    throw new UsageError(`--bwlimit: ${(err as Error).message}`);
  }
}

/** The config with --bwlimit in place of its bandwidth (when given). */
export function withBandwidth(config: Config, bw: readonly BandwidthEntry[] | undefined): Config {
  return bw === undefined ? config : { ...config, bandwidth: bw };
}

/** Validate a --log-level value. */
export function logLevelOption(v: string | undefined): string | undefined {
  if (v !== undefined && !(LEVELS as readonly string[]).includes(v)) throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}`);
  return v;
}

const ORDER = ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/**
 * The log level of a command: --log-level when given; -q errors only; else the default (warn on a terminal, where
 * the progress line and the summary say what happened, or `base`), raised by each -v to info, debug, trace.
 */
export function levelFor(opts: { logLevel?: string | undefined; verbosity?: number | undefined }, base: string): string {
  if (opts.logLevel !== undefined) return opts.logLevel;
  const v = opts.verbosity ?? 0;
  const louder = (a: string, b: string) => (ORDER.indexOf(a) > ORDER.indexOf(b) ? a : b);
  // -q: errors only, or quieter still when the config says so; no -v: the default as it is (a config's "error" stays)
  if (v < 0) return louder(base, 'error') === base ? 'error' : base;
  return v === 0 ? base : louder(ORDER[Math.min(3 + v, ORDER.length - 1)]!, base);
}

/** What most commands start from. */
export interface Setup {
  readonly config: Config;
  readonly credentials: Credentials;
  readonly log: Logger;
  /** Values scrubbed from every output line. */
  readonly secrets: string[];
}

/**
 * Load the config and credentials and build the logger (JSON on stderr; short human lines at `warn` on a
 * terminal unless --log-level says otherwise). `secrets` is filled as soon as the credentials are known, so
 * an error reported after a failure here is scrubbed too.
 */
export function setup(ctx: CommandContext, opts: {
  config: string; logLevel?: string | undefined; verbosity?: number | undefined; secrets: string[]; out?: Output;
  /** The level on a terminal when neither --log-level nor -q/-v says (the daemon's is info: a line per change). */
  ttyLevel?: string | undefined;
  /** Checks on the config that must fail before credentials are needed (a --folder typo). */
  check?: (config: Config) => void;
}): Setup {
  const config = loadConfig(opts.config, ctx.env);
  opts.check?.(config);
  const credentials = loadCredentials(config, ctx.env);
  opts.secrets.push(...secretsOf(credentials));
  const tty = !!ctx.stderr.isTTY;
  const level = levelFor(opts, tty ? opts.ttyLevel ?? 'warn' : config.logLevel) as 'info';
  const out = opts.out ?? ctx.stderr;
  const log = createLogger({ level, secrets: opts.secrets, pretty: tty, journal: !tty && out === ctx.stderr && !!ctx.journal, out });
  const shared = sharedStateBefore(config);
  if (shared) {
    // constant message (one literal)
    log.warn({ state: config.state, shared }, 'the default state DB is now one per config file: this config starts a new one, and the first sync adopts what is already in the bucket without uploading it again; set "state" to the shared file to keep using it');
  }
  return { config, credentials, log, secrets: opts.secrets };
}

/**
 * The shared `state.db` an upgraded r2mirror used for this config before the default became per config file, when
 * the config's own DB does not exist yet and that one does (then the user is told once, on the first run).
 */
export function sharedStateBefore(config: Config): string | undefined {
  const name = path.basename(config.state);
  if (!/^state-.+-[0-9a-f]{8}\.db$/.test(name) || fs.existsSync(config.state)) return undefined;
  const shared = path.join(path.dirname(config.state), 'state.db');
  return fs.existsSync(shared) ? shared : undefined;
}

/** The S3 client every command shares with the engine (R2 checksum settings, op counting, timeouts). */
export function clientFor(config: Config, credentials: Credentials, maxSockets = config.transfers * 4 + 4): { client: S3Client; ops: OpCounter } {
  return createClient({
    endpoint: config.remote.endpoint, accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken,
    requestTimeoutMs: config.requestTimeout, maxSockets, throttle: config.bandwidth ? new Throttle(config.bandwidth) : undefined,
    throttleExtraMs: throttleExtraMs(config),
  });
}

/** Refuse --folder names the config does not have (a usage error, exit 2). */
export function checkFolderNames(config: Config, names: readonly string[]): void {
  const unknown = names.find((n) => !config.folders.some((f) => f.name === n));
  if (unknown !== undefined) {
    throw new UsageError(`no folder named "${unknown}" in ${config.file} (folders: ${config.folders.map((f) => f.name).join(', ')})`);
  }
}

/** Print an error as one `r2mirror: ...` line on stderr and return its exit code. */
export function reportError(ctx: CommandContext, err: unknown, secrets: readonly string[]): number {
  if (err instanceof UsageError) {
    ctx.stderr.write(`r2mirror: ${printable(scrub(err.message, secrets))}\nTry "r2mirror --help".\n`);
    return ExitCode.USAGE;
  }
  if (ctx.signal.aborted && (err === ctx.signal.reason || isAbortError(err) || /^interrupted by/.test(String((err as Error)?.message)))) {
    ctx.stderr.write(`r2mirror: ${String((ctx.signal.reason as Error)?.message ?? 'interrupted')}\n`);
    return interruptedExitCode(ctx.signal.reason);
  }
  const code = err instanceof ConfigError || err instanceof FatalError ? err.exitCode : ExitCode.SOFTWARE;
  const text = code === ExitCode.SOFTWARE ? `internal error: ${(err as Error)?.stack ?? String(err)}` : describeError(err);
  // Messages name files and keys: escaped like every human line, one line (only a stack keeps its line breaks).
  const clean = scrub(text, secrets);
  const lines = `r2mirror: ${code === ExitCode.SOFTWARE ? clean.split('\n').map(printable).join('\n') : printable(clean)}`.split('\n');
  // In the journal each line is an entry of its own: every one at priority err, so `journalctl -p err` shows it.
  ctx.stderr.write(lines.map((l) => (ctx.journal ? `<3>${l}` : l)).join('\n') + '\n');
  return code;
}

/** 1234567 -> "1,234,567" (without Intl, whose first use costs ~15 ms of start-up). */
export const num = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** `2026-12-03T14:20:05Z (5 min ago)`, or `never`. */
export function whenAgo(t: number | null | undefined, now: number): string {
  if (!t) return 'never';
  const s = Math.max(0, Math.round((now - t) / 1000));
  const rel = s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : s < 172_800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} d`;
  return `${new Date(t).toISOString().replace(/\.\d+Z$/, 'Z')} (${rel} ago)`;
}

/** Code points a terminal draws two columns wide (East Asian Wide and Fullwidth, emoji), as [first, last]. */
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f], [0x2e80, 0x303e], [0x3041, 0x33ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf],
  [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe30, 0xfe4f], [0xff00, 0xff60], [0xffe0, 0xffe6], [0x1f300, 0x1f64f],
  [0x1f900, 0x1f9ff], [0x20000, 0x3fffd],
];

/** Columns one code point takes: 0 for a combining mark, 2 for a wide one, else 1. */
function columnsOf(cp: number): number {
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f)) return 0;
  return WIDE.some(([a, b]) => cp >= a && cp <= b) ? 2 : 1;
}

/** The columns `s` takes on a terminal (a file name in Japanese takes two per character). */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += columnsOf(ch.codePointAt(0)!);
  return w;
}

/** `s` cut to at most `width` columns, with "…" where it was cut. */
export function fitWidth(s: string, width: number): string {
  if (displayWidth(s) <= width) return s;
  let out = '';
  let w = 0;
  for (const ch of s) {
    const c = columnsOf(ch.codePointAt(0)!);
    if (w + c > width - 1) break;
    out += ch;
    w += c;
  }
  return out + '…';
}

/**
 * `line` broken at spaces into lines of at most `columns` terminal columns (a word longer than that stays whole),
 * continuation lines indented two more than the first: a summary on a terminal never wraps mid-word. No
 * `columns` (not a terminal): the line as it is.
 */
export function wrap(line: string, columns: number | undefined): string[] {
  if (!columns || displayWidth(line) <= columns) return [line];
  const indent = ' '.repeat(Math.min(line.length - line.trimStart().length + 2, Math.floor(columns / 2)));
  const out: string[] = [];
  let cur = '';
  for (const word of line.trimStart().split(' ')) {
    const lead = out.length ? indent : line.slice(0, line.length - line.trimStart().length);
    if (cur && displayWidth(lead + cur + ' ' + word) > columns) {
      out.push(lead + cur);
      cur = word;
    } else {
      cur = cur ? `${cur} ${word}` : word;
    }
  }
  out.push((out.length ? indent : line.slice(0, line.length - line.trimStart().length)) + cur);
  return out;
}

/** The R2 bill of a run on one line: operations by class, then by operation. */
export function billLine(ops: { classA: number; classB: number; free: number; byOp: Readonly<Record<string, number>> }, label = 'R2 bill'): string {
  const by = Object.entries(ops.byOp).map(([k, v]) => `${k} ${num(v)}`).join(', ');
  return `${label}: Class A ${num(ops.classA)}, Class B ${num(ops.classB)}, free ${num(ops.free)}${by ? ` (${by})` : ''}`;
}

export { formatBytes };
