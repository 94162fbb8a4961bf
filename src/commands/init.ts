// `r2mirror init`: write a small, commented config file for one folder (asking on a terminal for what is missing).
// Must not: overwrite a file, write a secret, or write a config that parseConfig would refuse; touch `process`.

import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { stringify } from 'yaml';
import { SYSTEM_CONFIG, parseConfig, userConfigPath } from '../config.js';
import { ConfigError, ExitCode, FatalError, UsageError, isAbortError } from '../errors.js';
import { TargetExistsError, makeDirSync, writeNewFileSync } from '../local/place.js';
import { parseCommand, reportError } from './common.js';
import type { Command, CommandContext } from './context.js';

/** Parsed `init` options. */
export interface InitArgs {
  config: string;
  accountId?: string | undefined;
  endpoint?: string | undefined;
  bucket?: string | undefined;
  path?: string | undefined;
  prefix?: string | undefined;
  name?: string | undefined;
  forceStdout: boolean;
  json: boolean;
  /** -1 quiet, 0, or the number of -v (common.ts levelFor). */
  verbosity: number;
}

/** What goes into the generated config. `path` is absolute (or "~/..."). */
export interface InitAnswers {
  readonly accountId?: string | undefined;
  readonly endpoint?: string | undefined;
  readonly bucket: string;
  readonly path: string;
  readonly prefix: string;
  readonly name: string;
}

/** Parse the arguments after `init`. Throws UsageError. */
export function parseInitArgs(argv: readonly string[], env: CommandContext['env'], uid?: number): InitArgs {
  const { values: v, verbosity } = parseCommand('init', argv, {
    config: { type: 'string', short: 'c' }, 'account-id': { type: 'string' }, endpoint: { type: 'string' },
    bucket: { type: 'string' }, path: { type: 'string' }, prefix: { type: 'string' }, name: { type: 'string' },
    'force-stdout': { type: 'boolean' }, json: { type: 'boolean' },
  }, 0);
  if (v['account-id'] !== undefined && v.endpoint !== undefined) {
    throw new UsageError('init: give either --account-id (Cloudflare R2) or --endpoint (another S3-compatible server), not both');
  }
  if (v.json && v['force-stdout']) throw new UsageError('init: --json and --force-stdout cannot be combined (both print on stdout)');
  return {
    config: v.config ?? env.R2MIRROR_CONFIG ?? (uid === 0 ? undefined : userConfigPath(env)) ?? SYSTEM_CONFIG, accountId: v['account-id'], endpoint: v.endpoint, bucket: v.bucket, path: v.path,
    prefix: v.prefix, name: v.name, forceStdout: !!v['force-stdout'], json: !!v.json, verbosity,
  };
}

/** The options a non-interactive init still needs, as the user would type them. */
export function missingOptions(a: Pick<InitArgs, 'accountId' | 'endpoint' | 'bucket' | 'path'>): string[] {
  const out: string[] = [];
  if (!a.accountId && !a.endpoint) out.push('--account-id ID (or --endpoint URL)');
  if (!a.bucket) out.push('--bucket NAME');
  if (!a.path) out.push('--path DIR');
  return out;
}

/** An absolute folder path from what the user typed: "~/..." is kept (the config expands it), the rest from `cwd`. */
export function folderPath(typed: string, cwd: string): string {
  return typed === '~' || typed.startsWith('~/') ? typed : path.resolve(cwd, typed);
}

/** A folder name from the folder's path: its last component, cut to the characters the config allows. */
export function defaultName(folder: string): string {
  const base = path.basename(folder).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').replace(/-+$/, '').slice(0, 64);
  return base || 'main';
}

const scalar = (v: string): string => stringify(v).trimEnd();

/** The commented config text for these answers: only the keys needed, with pointers to the rest. */
export function renderConfig(a: InitAnswers, credentialsFile = '/etc/r2mirror/credentials'): string {
  const remote = a.endpoint !== undefined
    ? ['  # Any S3-compatible server: an http:// or https:// URL with no path (the bucket is set per folder below).',
      `  endpoint: ${scalar(a.endpoint)}`]
    : ['  # Cloudflare account ID (dashboard -> R2 -> Account details): 32 hexadecimal characters.',
      '  # The endpoint becomes https://<accountId>.r2.cloudflarestorage.com',
      `  accountId: ${scalar(a.accountId ?? '')}`,
      '  # jurisdiction: eu              # only for a bucket created in a jurisdiction: eu | fedramp'];
  return [
    '# r2mirror configuration, written by `r2mirror init`.',
    '# Only the keys this set-up needs are set. Every other key, with its default and its rules, is described in',
    '# config.example.yaml (shipped with r2mirror) and in the README, section "Configuration".',
    '#',
    '# Credentials are NEVER read from this file. r2mirror looks for them in this order:',
    '#   1. remote.credentialsFile (below): a file with the lines R2_ACCESS_KEY_ID=... and',
    '#      R2_SECRET_ACCESS_KEY=..., readable by the r2mirror user only (chmod 600);',
    '#   2. environment R2_ACCESS_KEY_ID + R2_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY);',
    `#   3. under systemd: LoadCredential=credentials:${credentialsFile} (a file as in 1).`,
    '',
    'remote:',
    ...remote,
    `  # credentialsFile: ${scalar(credentialsFile)}`,
    '',
    '# state: /var/lib/r2mirror/state.db  # default: $STATE_DIRECTORY/state.db under systemd, else ~/.local/state/r2mirror/state.db',
    '# transfers: 8                       # files in flight at once',
    '# maxDelete: 50%                     # refuse a delete plan larger than this (per folder and run)',
    '',
    'folders:',
    `  - name: ${scalar(a.name)}`,
    `    path: ${scalar(a.path)}`,
    `    bucket: ${scalar(a.bucket)}`,
    `    prefix: ${scalar(a.prefix)}${a.prefix === '' ? '                # "": the folder mirrors the whole bucket' : ''}`,
    '    # exclude: ["*.tmp", ".git/"]    # gitignore-style patterns',
    '    # deletes: mirror               # a local delete: mirror (delete the object) | keep | trash',
    '',
  ].join('\n');
}

const OPTION_OF: Readonly<Record<string, string>> = {
  'remote.accountId': '--account-id', 'remote.endpoint': '--endpoint', 'folders[0].bucket': '--bucket',
  'folders[0].path': '--path', 'folders[0].prefix': '--prefix', 'folders[0].name': '--name',
};

/** A generated config that parseConfig refuses, blamed on the option that caused it. */
export class AnswerError extends UsageError {
  constructor(readonly option: string | undefined, readonly problem: string) {
    super(`init: ${option ? `${option}: ` : ''}${problem}`);
  }
}

/**
 * Check the generated text with the same parser `sync` uses, so init can never write a config that sync refuses.
 * A problem with a value the user gave is an AnswerError naming the option (exit 2).
 */
export function validateConfig(text: string, file: string, env: CommandContext['env']): void {
  try {
    parseConfig(text, file, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const option = err.location.path === undefined ? undefined : OPTION_OF[err.location.path];
    if (option) throw new AnswerError(option, err.problem);
    throw err;
  }
}

/** Asks one question and resolves to the answer (readline on a terminal; a stub in tests). */
export type Ask = (question: string) => Promise<string>;

type Field = 'remote' | 'bucket' | 'path' | 'prefix' | 'name';
type Draft = Record<Field, string | undefined>;
/** Valid stand-ins for values not known yet, so one value can be checked on its own. */
const STAND_IN: Record<Field, string> = { remote: 'http://127.0.0.1:1', bucket: 'stand-in', path: '/stand-in', prefix: '', name: 'stand-in' };
const FIELD_OF: Readonly<Record<string, Field>> = {
  '--account-id': 'remote', '--endpoint': 'remote', '--bucket': 'bucket', '--path': 'path', '--prefix': 'prefix', '--name': 'name',
};

/** The answers from a draft; unknown values take their stand-ins. */
function answersOf(d: Draft, cwd: string): InitAnswers {
  const remote = d.remote ?? STAND_IN.remote;
  const folder = folderPath(d.path ?? STAND_IN.path, cwd);
  return {
    ...(/^https?:\/\//i.test(remote) ? { endpoint: remote } : { accountId: remote }),
    bucket: d.bucket ?? STAND_IN.bucket, path: folder, prefix: d.prefix ?? STAND_IN.prefix, name: d.name ?? defaultName(folder),
  };
}

/** The AnswerError the parser raises for a draft, if any. */
function refusal(d: Draft, file: string, cwd: string, env: CommandContext['env']): AnswerError | undefined {
  try {
    validateConfig(renderConfig(answersOf(d, cwd), credentialsPath(file)), file, env);
    return undefined;
  } catch (err) {
    if (err instanceof AnswerError) return err;
    throw err;
  }
}

const QUESTIONS: Record<Field, string> = {
  remote: 'Cloudflare account ID (32 hex characters), or the URL of another S3 endpoint',
  bucket: 'Bucket name',
  path: 'Local folder to mirror',
  prefix: 'Key prefix inside the bucket (e.g. host1/photos/)',
  name: 'Name for this folder (used in logs and the state DB)',
};

/**
 * Complete the answers by asking for every value not given as an option (defaults in brackets). Each answer is
 * checked by the config parser at once and asked again, saying why, when refused (5 tries). A value given as an
 * option that the parser refuses is an AnswerError before anything is asked.
 */
export async function askMissing(args: InitArgs, ask: Ask, cwd: string, env: CommandContext['env'], say: (s: string) => void): Promise<InitAnswers> {
  const d: Draft = { remote: args.endpoint ?? args.accountId, bucket: args.bucket, path: args.path, prefix: args.prefix, name: args.name };
  const given = refusal(d, args.config, cwd, env);
  if (given) throw given;
  for (const field of ['remote', 'bucket', 'path', 'prefix', 'name'] as const) {
    if (d[field] !== undefined) continue;
    const def = field === 'prefix' ? '' : field === 'name' ? defaultName(folderPath(d.path ?? STAND_IN.path, cwd)) : undefined;
    for (let tries = 0; ; tries++) {
      if (tries === 5) throw new UsageError(`init: no acceptable answer for "${QUESTIONS[field]}"; nothing written`);
      const a = (await ask(def === undefined ? `${QUESTIONS[field]}: ` : `${QUESTIONS[field]} [${def === '' ? 'none' : def}]: `)).trim();
      const value = a === '' ? def : a;
      if (value === undefined) {
        say('  (a value is needed)\n');
        continue;
      }
      const err = refusal({ ...d, [field]: value }, args.config, cwd, env);
      if (err && FIELD_OF[err.option ?? ''] === field) {
        say(`  ${err.problem}\n`);
        continue;
      }
      if (err) throw err;
      d[field] = value;
      break;
    }
  }
  return answersOf(d, cwd);
}

/**
 * Write `text` to `file` with mode 0600, atomically, creating the parent directory; never replaces an existing
 * file (a hard link from a temp file fails if one appeared; a rename is the fallback where links are unsupported).
 */
export function writeNewFile(file: string, text: string): void {
  const dir = path.dirname(file);
  try {
    makeDirSync(dir);
  } catch (err) {
    throw new FatalError(`cannot create the directory ${dir}: ${(err as Error).message}`, ExitCode.CONFIG, { cause: err });
  }
  try {
    writeNewFileSync(file, text, 0o600);
  } catch (err) {
    if (err instanceof TargetExistsError) throw exists(file);
    throw new FatalError(`cannot write the config file ${file}: ${(err as Error).message}`, ExitCode.CONFIG, { cause: err });
  }
}

function exists(file: string): UsageError {
  return new UsageError(`init: config file exists: ${file}; delete it or pass another --config (init never overwrites a file)`);
}

/** Where init suggests the credentials file: beside the config. */
export function credentialsPath(configFile: string): string {
  return path.join(path.dirname(path.resolve(configFile)), 'credentials');
}

/** What to do after init: credentials, doctor, a dry run; plus notes about the answers. */
export function nextSteps(file: string, a: InitAnswers, folderExists: boolean): { notes: string[]; steps: string[] } {
  const creds = credentialsPath(file);
  const cfg = file.includes(' ') ? JSON.stringify(file) : file;
  const notes: string[] = [];
  if (!folderExists) notes.push(`${a.path} does not exist (yet): sync refuses a folder that is missing`);
  if (a.prefix === '') {
    notes.push(`the prefix is empty, so the folder mirrors the whole bucket "${a.bucket}": objects in it that are not in the ` +
      'folder will be deleted by sync (a delete plan over maxDelete, 50% by default, is refused); set folders[0].prefix to share the bucket');
  }
  const steps = [
    `Give r2mirror an API token with read and write access to bucket "${a.bucket}" (never in the config file), one of:\n` +
    `       - a file ${creds} with the lines R2_ACCESS_KEY_ID=... and R2_SECRET_ACCESS_KEY=..., then\n` +
    `         chmod 600 ${creds} and uncomment remote.credentialsFile in the config;\n` +
    '       - the environment variables R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY;\n' +
    `       - under systemd: LoadCredential=credentials:${creds} (a file as above).`,
    `Check the set-up: r2mirror doctor --config ${cfg}`,
    `See what the first sync would do: r2mirror sync --config ${cfg} --dry-run`,
  ];
  return { notes, steps };
}

export const initCommand: Command = {
  name: 'init',
  run: runInit,
};

async function runInit(ctx: CommandContext): Promise<number> {
  try {
    const args = parseInitArgs(ctx.args, ctx.env, ctx.uid);
    const file = path.resolve(ctx.cwd, args.config);
    if (!args.forceStdout && fs.existsSync(file)) throw exists(file);
    const interactive = !!ctx.stdin.isTTY && !!ctx.stderr.isTTY;
    const missing = missingOptions(args);
    let answers: InitAnswers;
    if (interactive && (missing.length > 0 || args.prefix === undefined || args.name === undefined)) {
      answers = await prompt(ctx, args);
    } else {
      if (missing.length) {
        throw new UsageError(`init: missing ${missing.join(', ')} (stdin or stderr is not a terminal, so init cannot ask for them)`);
      }
      const folder = folderPath(args.path!, ctx.cwd);
      answers = {
        ...(args.endpoint !== undefined ? { endpoint: args.endpoint } : { accountId: args.accountId }),
        bucket: args.bucket!, path: folder, prefix: args.prefix ?? '', name: args.name ?? defaultName(folder),
      };
    }
    const text = renderConfig(answers, credentialsPath(file));
    validateConfig(text, file, ctx.env);
    const local = answers.path.startsWith('~') && ctx.env.HOME ? path.join(ctx.env.HOME, answers.path.slice(1)) : answers.path;
    const { notes, steps } = nextSteps(file, answers, fs.existsSync(local));
    if (args.forceStdout) {
      ctx.stdout.write(text);
      ctx.stderr.write(notes.map((n) => `note: ${n}\n`).join(''));
      return ExitCode.OK;
    }
    writeNewFile(file, text);
    if (args.json) {
      ctx.stdout.write(JSON.stringify({ config: file, mode: '0600', folder: { name: answers.name, path: answers.path, bucket: answers.bucket, prefix: answers.prefix },
        remote: answers.endpoint !== undefined ? { endpoint: answers.endpoint } : { accountId: answers.accountId }, notes, nextSteps: steps }) + '\n');
    } else if (args.verbosity < 0) {
      ctx.stderr.write(notes.map((n) => `note: ${n}\n`).join(''));
    } else {
      ctx.stdout.write(`wrote ${file} (mode 600)\n${notes.map((n) => `note: ${n}\n`).join('')}\nNext steps:\n` +
        steps.map((s, i) => `  ${i + 1}. ${s}\n`).join(''));
    }
    return ExitCode.OK;
  } catch (err) {
    return reportError(ctx, err, []);
  }
}

/** Ask on the terminal (stdin, prompts on stderr) for what the options did not give. */
async function prompt(ctx: CommandContext, args: InitArgs): Promise<InitAnswers> {
  const rl = createInterface({ input: ctx.stdin, output: ctx.stderr as unknown as NodeJS.WritableStream, terminal: true });
  const stop = new AbortController();
  // On a terminal readline reads Ctrl-C as a key: make it stop init like the signal would.
  rl.on('SIGINT', () => stop.abort(new Error('interrupted by SIGINT')));
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  try {
    ctx.stderr.write(`r2mirror init: writing ${path.resolve(ctx.cwd, args.config)}; press Enter to take [defaults], Ctrl-C to stop.\n`);
    return await askMissing(args, async (q) => {
      try {
        return await rl.question(q, { signal });
      } catch (err) {
        if (signal.aborted) throw new FatalError(String((signal.reason as Error)?.message ?? 'interrupted'), 130 as ExitCode);
        // Ctrl-D (end of input) while a question is open.
        if (isAbortError(err)) throw new UsageError('init: no answer (end of input); nothing written');
        throw err;
      }
    }, ctx.cwd, ctx.env, (s) => ctx.stderr.write(s));
  } finally {
    rl.close();
  }
}
