// `r2mirror doctor`: check a set-up (Node, config, credentials, folders, buckets, clock, inotify, state DB) and say
// how to fix what fails. Read-only everywhere: sends HeadBucket and ListObjectsV2 only, never opens the DB for writing.
// Must not: send a request that writes, open the state DB for writing, or word S3 errors itself (errors.ts's table does).

import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, loadCredentials, secretsOf, type Config, type Credentials, type FolderConfig } from '../config.js';
import { ConfigError, ExitCode, classify, describeError, explainS3, printable, scrub } from '../errors.js';
import { countWatchedDirectories, readInotifyLimit, suggestedWatchLimit } from '../local/watch.js';
import { probeBucket, watchServerClock, type ClockSample } from '../remote/probe.js';
import { inspectState, lockHeldReadOnly, probeSqliteBinding } from '../state/inspect.js';
import { SCHEMA_VERSION } from '../state/schema.js';
import { findSystemdNotify } from '../daemon/notify.js';
import { MIN_NODE_TEXT, RECOMMENDED_NODE, nodeSupported } from '../platform.js';
import { clientFor, configPath, parseCommand, reportError } from './common.js';
import type { Command, CommandContext } from './context.js';

/** ok and warn pass; fail makes the exit code 1; skip: not checked because an earlier check failed. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

/** One line of the report. */
export interface Check {
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
  readonly fix?: string;
}

/** Clock skew that warns, and that fails (SigV4 signatures are refused beyond 15 minutes). */
export const SKEW_WARN_MS = 30_000;
export const SKEW_FAIL_MS = 5 * 60_000;
/** A bucket probe that gets no answer within this time fails. */
const PROBE_TIMEOUT_MS = 30_000;

const check = (name: string, status: CheckStatus, detail: string, fix?: string): Check => (fix === undefined ? { name, status, detail } : { name, status, detail, fix });

/** The Node.js version check ("24.11.0" without the v). */
export function nodeCheck(version: string): Check {
  return nodeSupported(version)
    ? check('node', 'ok', `Node.js ${version} (r2mirror needs ${MIN_NODE_TEXT} or later)`)
    : check('node', 'fail', `Node.js ${version || 'unknown'} is no longer supported: r2mirror needs ${MIN_NODE_TEXT} or later (its SQLite binding crashes on older ones)`,
      `install ${RECOMMENDED_NODE} (or ${MIN_NODE_TEXT} or later), then reinstall r2mirror with it`);
}

/**
 * The SQLite binding loads and opens a database (in memory: the state DB is not touched). Not tried on a Node
 * r2mirror does not support: the binding would crash the process there.
 */
export function sqliteCheck(nodeOk: boolean): Check {
  if (!nodeOk) return check('sqlite', 'skip', 'not checked: this Node.js cannot load the SQLite binding (see the node check)');
  const fix = 'reinstall r2mirror (npm install -g r2mirror) with the Node.js that runs it; the binding ships prebuilt for Linux, macOS and Windows on x64 and arm64';
  try {
    const { binding, sqlite } = probeSqliteBinding();
    return check('sqlite', 'ok', `the state DB binding works (better-sqlite3 ${binding}, SQLite ${sqlite})`);
  } catch (err) {
    return check('sqlite', 'fail', `the state DB binding does not load: ${describeError(err)}`, fix);
  }
}

/**
 * How the daemon will tell systemd it is ready (through systemd-notify, see daemon/notify.ts): fails when systemd
 * runs this machine and there is no systemd-notify, because a Type=notify start would then time out.
 */
export function notifyCheck(command: string | undefined, systemdRuns: boolean): Check {
  if (command) return check('notify', 'ok', `the daemon tells systemd it is ready through ${command} (the shipped unit's NotifyAccess=all accepts it)`);
  return systemdRuns
    ? check('notify', 'fail', 'systemd-notify is not on PATH: the daemon cannot tell systemd it is ready, so a Type=notify start times out',
      'install systemd-notify (Debian and Ubuntu: package systemd), or run the daemon with Type=simple in a drop-in')
    : check('notify', 'ok', 'no systemd here, so nothing to notify (systemd-notify is not on PATH either)');
}

/**
 * The clock check from the server's Date header: skew = server - local. The header has whole seconds, so up to
 * 1 s of the value is rounding.
 */
export function clockCheck(samples: readonly ClockSample[], endpoint: string): Check {
  const s = samples.at(-1);
  if (!s) return check('clock', 'skip', `no answer from ${endpoint} carried a Date header, so the clock could not be compared`);
  const skew = s.serverMs - s.localMs;
  const secs = Math.abs(skew) / 1000;
  const how = Math.abs(skew) < 1000 ? 'agrees with the server\'s (within the 1 s the Date header resolves)'
    : `is ${secs.toFixed(0)} s ${skew > 0 ? 'behind' : 'ahead of'} the server's`;
  const detail = `this machine's clock ${how} (skew ${(Math.round(skew / 100) / 10).toFixed(1)} s)`;
  const fix = 'synchronise the clock with NTP (timedatectl set-ntp true, or chrony/ntpd)';
  if (Math.abs(skew) > SKEW_FAIL_MS) return check('clock', 'fail', `${detail}; requests signed more than 15 minutes off are refused (RequestTimeTooSkewed)`, fix);
  if (Math.abs(skew) > SKEW_WARN_MS) return check('clock', 'warn', `${detail}; more than 15 minutes and the server refuses every request`, fix);
  return check('clock', 'ok', detail);
}

/** Watches a folder needs from inotify: one per directory (file events come from their directory's watch). */
export interface WatchCount {
  readonly folder: string;
  readonly dirs: number;
  /** The walk stopped early: there are more. */
  readonly capped: boolean;
}

/** The inotify check: the folders' watches against fs.inotify.max_user_watches. */
export function inotifyCheck(limit: number | undefined, counts: readonly WatchCount[]): Check {
  if (limit === undefined) return check('inotify', 'skip', 'fs.inotify.max_user_watches is not readable (not Linux?); only the daemon watches folders');
  const need = counts.reduce((n, c) => n + c.dirs, 0);
  const capped = counts.some((c) => c.capped);
  const parts = counts.map((c) => `${c.folder}: ${c.dirs}${c.capped ? '+' : ''} dirs`).join(', ');
  const detail = `the daemon needs ${capped ? 'more than ' : ''}${need} watches (${parts || 'no folder to watch'}), max_user_watches is ${limit}`;
  const want = suggestedWatchLimit(need);
  const fix = `sysctl fs.inotify.max_user_watches=${want}, and to keep it after a reboot put the line ` +
    `"fs.inotify.max_user_watches=${want}" into /etc/sysctl.d/90-r2mirror.conf`;
  if (need > limit) return check('inotify', 'fail', `${detail}: the daemon cannot watch everything (sync is not affected)`, fix);
  if (need > limit * 0.8) return check('inotify', 'warn', `${detail}: more than 80% of the limit, which other programs share`, fix);
  return check('inotify', 'ok', detail);
}

/**
 * A failed bucket probe as a check line with a fix, in the words of errors.ts's S3 failure table (the ones sync
 * uses). `source` says where the credentials came from.
 */
export function bucketFailure(err: unknown, f: Pick<FolderConfig, 'name' | 'bucket'>, endpoint: string, file: string, source: string, index: number): Check {
  const name = `bucket ${f.name}`;
  const scope = { endpoint, bucket: f.bucket, configFile: file, bucketSetting: `folders[${index}].bucket in ${file}`, credentials: source };
  // The probe's own time limit aborts it: an endpoint that did not answer in time.
  const failure = explainS3(err, scope, { named: false, kind: classify(err) === 'abort' ? 'unreachable' : undefined });
  if (failure === undefined) return check(name, 'fail', `bucket ${f.bucket} at ${endpoint}: ${describeError(err)}`);
  return check(name, 'fail', failure.message, failure.fix);
}

/** Count the directories under a folder root as the daemon would watch them (excludes applied), up to `cap`. */
export async function countWatches(f: Pick<FolderConfig, 'name' | 'path' | 'exclude'>, cap: number, signal?: AbortSignal): Promise<WatchCount> {
  return { folder: f.name, ...(await countWatchedDirectories(f.path, f.exclude, cap, signal)) };
}

/** The folder root check: exists, is a directory, can be listed. */
export function folderCheck(f: FolderConfig, index: number, file: string): Check {
  const name = `folder ${f.name}`;
  const fix = `create it or mount the disk that holds it, or fix folders[${index}].path in ${file}`;
  let st: fs.Stats;
  try {
    st = fs.statSync(f.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return check(name, 'fail', `${f.path} does not exist`, fix);
    return check(name, 'fail', `${f.path}: ${(err as Error).message}`, `check the permissions of ${f.path} and its parents`);
  }
  if (!st.isDirectory()) return check(name, 'fail', `${f.path} is not a directory`, fix);
  try {
    fs.readdirSync(f.path);
  } catch (err) {
    return check(name, 'fail', `${f.path} cannot be read: ${(err as Error).message}`, `let the user that runs r2mirror read it (chmod/chown, or ReadOnlyPaths= under systemd)`);
  }
  return check(name, 'ok', `${f.path} is a readable directory -> ${f.bucket}/${f.prefix}`);
}

/** Where the state DB stands; never creates, migrates or locks it (state/inspect.ts reads the header as a plain file). */
export function stateCheck(config: Config): Check {
  const file = config.state;
  const fix = `let the user that runs r2mirror write ${path.dirname(file)}, or point "state" in ${config.file} elsewhere`;
  const info = inspectState(file);
  switch (info.kind) {
    case 'stat-failed':
      return check('state', 'fail', `${file}: ${info.message}`, fix);
    case 'missing': {
      let dir = path.dirname(file);
      while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
      if (!writable(dir)) return check('state', 'fail', `${file} does not exist and cannot be created: ${dir} is not writable`, fix);
      return check('state', 'ok', `${file} does not exist yet: it will be created on the first sync (${dir} is writable)`);
    }
    case 'not-a-file':
      return check('state', 'fail', `${file} is not a file`, `point "state" in ${config.file} at a file`);
    case 'unreadable':
      return check('state', 'fail', `${file} cannot be read: ${info.message}`, fix);
    case 'not-sqlite':
      return check('state', 'fail', `${file} is not an SQLite database (corrupt, or another kind of file)`,
        `move ${file} away (the next sync adopts what is already in the bucket without uploading it again)`);
    case 'sqlite':
      return schemaCheck(config, info.version, fix);
  }
}

/** The state DB is an SQLite file of schema `version`: known to this r2mirror, writable, maybe in use. */
function schemaCheck(config: Config, version: number, fix: string): Check {
  const file = config.state;
  if (version > SCHEMA_VERSION) {
    return check('state', 'fail', `${file} has schema version ${version}, newer than this r2mirror knows (${SCHEMA_VERSION}): written by a newer r2mirror`,
      `upgrade r2mirror, or point "state" in ${config.file} at another file`);
  }
  if (!writable(file) || !writable(path.dirname(file))) {
    return check('state', 'fail', `${file} or its directory is not writable by this user (SQLite needs both, for its -wal and -shm files)`, fix);
  }
  // While r2mirror runs, a fresh migration may still sit in the -wal, not yet in the header.
  const busy = lockHeldReadOnly(file);
  const schema = version === SCHEMA_VERSION || busy ? `schema version ${version}` : `schema version ${version}, upgraded to ${SCHEMA_VERSION} by the next sync`;
  return check('state', 'ok', `${file}: ${schema}, writable${busy ? '; in use by a running r2mirror (daemon?)' : ''}`);
}

function writable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** A credentials file others can read is a warning (it holds the secret). */
function credentialsCheck(config: Config, credentials: Credentials): Check {
  const file = config.remote.credentialsFile;
  if (file) {
    try {
      const mode = fs.statSync(file).mode & 0o777;
      if (mode & 0o077) {
        return check('credentials', 'warn', `from ${credentials.source}, but the file has mode ${mode.toString(8)}: other users can read the secret`, `chmod 600 ${file}`);
      }
    } catch {
      // it was just read, so it exists; a stat failure here is not worth a line
    }
  }
  return check('credentials', 'ok', `found: ${credentials.source}`);
}

/** Parsed `doctor` options. */
export interface DoctorArgs {
  config: string;
  json: boolean;
  /** -1 quiet, 0, or the number of -v (common.ts levelFor). */
  verbosity: number;
}

/** Parse the arguments after `doctor`. Throws UsageError. */
export function parseDoctorArgs(argv: readonly string[], env: CommandContext['env']): DoctorArgs {
  const { values: v, verbosity } = parseCommand('doctor', argv, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } }, 0);
  return { config: configPath(v.config, env), json: !!v.json, verbosity };
}

/** Run every check in order; checks that depend on a failed one are reported as skipped. */
export async function runChecks(ctx: CommandContext, file: string, secrets: string[]): Promise<Check[]> {
  const node = nodeCheck(ctx.nodeVersion);
  const checks: Check[] = [node, sqliteCheck(node.status === 'ok'),
    notifyCheck(findSystemdNotify(ctx.env.PATH), fs.existsSync('/run/systemd/system'))];
  let config: Config;
  try {
    config = loadConfig(file, ctx.env);
  } catch (err) {
    const missing = err instanceof ConfigError && /no such file/.test(err.problem);
    checks.push(check('config', 'fail', describeError(err), missing
      ? `create it: r2mirror init --config ${file} (or pass --config / set R2MIRROR_CONFIG)`
      : `edit ${file}; every key is described in config.example.yaml`));
    for (const n of ['credentials', 'state', 'folders', 'inotify', 'buckets', 'clock']) checks.push(check(n, 'skip', 'not checked: the config file did not load'));
    return checks;
  }
  checks.push(check('config', 'ok', `${config.file}: ${config.folders.length} folder(s), endpoint ${config.remote.endpoint}`));
  let credentials: Credentials | undefined;
  try {
    credentials = loadCredentials(config, ctx.env);
    secrets.push(...secretsOf(credentials));
    checks.push(credentialsCheck(config, credentials));
  } catch (err) {
    checks.push(check('credentials', 'fail', describeError(err),
      'set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY, or point remote.credentialsFile at a file with those lines (chmod 600), ' +
      'or under systemd use LoadCredential=credentials:/etc/r2mirror/credentials'));
  }
  // The state check may open the DB (to see whether a running r2mirror holds it): not on a Node that would crash.
  checks.push(node.status === 'ok' ? stateCheck(config) : check('state', 'skip', 'not checked: this Node.js cannot load the SQLite binding'));
  const roots = config.folders.map((f, i) => folderCheck(f, i, config.file));
  checks.push(...roots);
  checks.push(await inotify(ctx, config, roots));
  if (!credentials) {
    checks.push(check('buckets', 'skip', 'not checked: no credentials'), check('clock', 'skip', 'not checked: no credentials'));
    return checks;
  }
  const { client } = clientFor(config, credentials, 8);
  const samples = watchServerClock(client);
  try {
    checks.push(...await Promise.all(config.folders.map(async (f, i) => {
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]);
      try {
        const probe = await probeBucket(client, f.bucket, f.prefix, signal);
        const what = f.prefix ? `prefix "${f.prefix}"` : 'the bucket';
        return check(`bucket ${f.name}`, 'ok', `${f.bucket} at ${config.remote.endpoint}: readable, ${what} ${probe.empty ? 'is empty (the first sync uploads everything)' : 'holds objects'}; write access is not tested (doctor writes nothing)`);
      } catch (err) {
        ctx.signal.throwIfAborted();
        return bucketFailure(err, f, config.remote.endpoint, config.file, credentials.source, i);
      }
    })));
  } finally {
    client.destroy();
  }
  checks.push(clockCheck(samples, config.remote.endpoint));
  return checks;
}

async function inotify(ctx: CommandContext, config: Config, roots: readonly Check[]): Promise<Check> {
  const limit = readInotifyLimit();
  if (limit === undefined) return inotifyCheck(undefined, []);
  const counts: WatchCount[] = [];
  for (const [i, f] of config.folders.entries()) {
    if (roots[i]!.status === 'ok') counts.push(await countWatches(f, limit, ctx.signal));
  }
  return inotifyCheck(limit, counts);
}

/** The human report: one `ok|FAIL|warn|skip  name: detail` line per check, a `fix:` line under failures. */
export function formatChecks(checks: readonly Check[]): string {
  const label: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' };
  const lines = checks.flatMap((c) => [`${label[c.status]}  ${c.name}: ${c.detail}`, ...(c.fix ? [`      fix: ${c.fix}`] : [])]);
  const fails = checks.filter((c) => c.status === 'fail').length;
  const warns = checks.filter((c) => c.status === 'warn').length;
  lines.push(fails ? `r2mirror doctor: ${fails} problem(s), ${warns} warning(s)` : `r2mirror doctor: all checks passed${warns ? ` (${warns} warning(s))` : ''}`);
  return lines.map(printable).join('\n') + '\n';
}

export const doctorCommand: Command = {
  name: 'doctor',
  run: runDoctor,
};

async function runDoctor(ctx: CommandContext): Promise<number> {
  const secrets: string[] = [];
  try {
    const args = parseDoctorArgs(ctx.args, ctx.env);
    const checks = await runChecks(ctx, path.resolve(ctx.cwd, args.config), secrets);
    const ok = !checks.some((c) => c.status === 'fail');
    // -q: only what fails or warns, nothing at all when every check passed.
    const shown = args.verbosity < 0 ? checks.filter((c) => c.status === 'fail' || c.status === 'warn') : checks;
    if (args.json) ctx.stdout.write(scrub(JSON.stringify({ ok, checks }) + '\n', secrets));
    else if (shown.length) ctx.stdout.write(scrub(formatChecks(shown), secrets));
    return ok ? ExitCode.OK : ExitCode.FILES_FAILED;
  } catch (err) {
    return reportError(ctx, err, secrets);
  }
}
