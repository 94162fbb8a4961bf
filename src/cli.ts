#!/usr/bin/env node
// The command line: argv -> a command from src/commands, with signals, streams and exit codes.
// The only module that touches `process`; commands get a CommandContext instead.
// Must not: do a command's work (parse its options, load the config, talk to S3); export a default.

import fs from 'node:fs';
import { ExitCode, Interrupted, interruptedExitCode, printable } from './errors.js';
import { closest } from './suggest.js';
import type { Command, CommandContext } from './commands/context.js';
import { BUILTINS, GENERAL, USAGE } from './commands/usage.js';
import { MIN_NODE_TEXT, RECOMMENDED_NODE, isJournalStream, nodeSupported } from './platform.js';

const VERSION = (JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A command as `--help` knows it; `load` imports its module (and with it the SDK and SQLite) only to run it. */
export interface CommandEntry {
  readonly name: keyof typeof USAGE;
  readonly help: string;
  load(): Promise<Command>;
}

const entry = (name: keyof typeof USAGE, load: () => Promise<Command>): CommandEntry => ({ name, help: USAGE[name], load });

/** Every command, in the order `--help` lists them. */
export const COMMANDS: readonly CommandEntry[] = [
  entry('sync', async () => (await import('./commands/sync.js')).syncCommand),
  entry('daemon', async () => (await import('./commands/daemon.js')).daemonCommand),
  entry('status', async () => (await import('./commands/status.js')).statusCommand),
  entry('verify', async () => (await import('./commands/verify.js')).verifyCommand),
  entry('restore', async () => (await import('./commands/restore.js')).restoreCommand),
  entry('init', async () => (await import('./commands/init.js')).initCommand),
  entry('doctor', async () => (await import('./commands/doctor.js')).doctorCommand),
  entry('presign', async () => (await import('./commands/presign.js')).presignCommand),
  entry('cors', async () => (await import('./commands/cors.js')).corsCommand),
  entry('ls', async () => (await import('./commands/ls.js')).lsCommand),
  entry('buckets', async () => (await import('./commands/ls.js')).bucketsCommand),
  entry('completion', async () => (await import('./commands/completion.js')).completionCommand),
];

/** Every word that may follow `r2mirror`. */
const NAMES: readonly string[] = [...COMMANDS.map((c) => c.name), 'help', 'version'];

/** The text of `r2mirror --help`; test/unit/cli.test.ts keeps it in step with the parsers and the README. */
export const HELP = `r2mirror ${VERSION}: mirror local folders to Cloudflare R2 (or any S3-compatible bucket)

Usage:
${COMMANDS.map((c) => c.help).join('\n')}
${BUILTINS}
${GENERAL}`;

/** Run the CLI; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  // The SDK warns about Node versions it will drop; the Node floor is checked below, and package-lock.json pins
  // the SDK we test.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const [name, ...rest] = commandFirst(argv);
  if (name === undefined || name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
    process.stdout.write(HELP);
    return ExitCode.OK;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`r2mirror ${VERSION}\n`);
    return ExitCode.OK;
  }
  // `r2mirror help sync` is `r2mirror sync --help`
  const wanted = name === 'help' ? rest[0]! : name;
  const command = COMMANDS.find((c) => c.name === wanted);
  if (!command) {
    process.stderr.write(unknownCommand(wanted));
    return ExitCode.USAGE;
  }
  if (name === 'help') {
    process.stdout.write(`Usage:\n${command.help}`);
    return ExitCode.OK;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`Usage:\n${command.help}`);
    return ExitCode.OK;
  }
  // A Node r2mirror no longer supports would crash in the SQLite binding: say so instead (doctor still runs, to
  // report it among its checks).
  if (!nodeSupported(process.versions.node) && command.name !== 'doctor') {
    process.stderr.write(`r2mirror: Node.js ${process.versions.node} is no longer supported: r2mirror ${VERSION} needs Node.js ${MIN_NODE_TEXT} ` +
      `or later; install ${RECOMMENDED_NODE} and run r2mirror with it (${process.execPath} is the Node.js that ran it)\n`);
    return ExitCode.CONFIG;
  }
  const signals = processSignals();
  try {
    const run = await command.load();
    return await run.run(contextFor(rest, signals, isJournalStream(process.env.JOURNAL_STREAM, 2)));
  } finally {
    signals.dispose();
  }
}

/** Options that take a value in the next argument: the ones the usage texts show with a VALUE after them. */
const VALUE_OPTIONS = new Set(Object.values(USAGE).flatMap((u) =>
  [...u.matchAll(/^\s+(?:(-\w), )?(--[a-z-]+) [A-Z]/gm)].flatMap((m) => (m[1] ? [m[1], m[2]!] : [m[2]!]))));

/**
 * `r2mirror -c x.yaml sync -n` is `r2mirror sync -c x.yaml -n`: options given before the command move after it
 * (an option's value, `-c sync.yaml` or `--folder sync`, is never taken for the command). Without a command
 * name among the arguments they stay as they are (`--help`, `--version`, or a usage error).
 */
export function commandFirst(argv: readonly string[]): readonly string[] {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return argv;
    if (!a.startsWith('-')) return NAMES.includes(a) && i > 0 ? [a, ...argv.slice(0, i), ...argv.slice(i + 1)] : argv;
    if (VALUE_OPTIONS.has(a)) i++;
  }
  return argv;
}

/** The usage error for a command that does not exist, with the closest one when there is one. */
export function unknownCommand(name: string): string {
  if (/^(-[qv]+|--quiet|--verbose)$/.test(name)) {
    return `r2mirror: ${name} goes with a command (r2mirror ${name} sync); the version is r2mirror --version\nTry "r2mirror --help".\n`;
  }
  const guess = closest(name, NAMES);
  const hint = guess === undefined ? `commands: ${NAMES.join(', ')}` : `did you mean "${guess}"?`;
  return `r2mirror: unknown command "${printable(name)}" (${hint})\nTry "r2mirror --help".\n`;
}

/** The process's one AbortController, wired to SIGINT/SIGTERM, and the stop deadline a command may ask for. */
interface ProcessSignals {
  readonly signal: AbortSignal;
  /** CommandContext.stopDeadline. */
  stopDeadline(ms: number): void;
  /** Remove the signal handlers. */
  dispose(): void;
}

/**
 * One AbortController for the process: the first SIGINT/SIGTERM asks the command to stop, the second exits.
 * The command's stop deadline: once stopping, the process exits when it passes, whatever is still pending (an
 * await that never settles, a handle that keeps the event loop alive), with the command's code if it returned
 * one, else the signal's (130 SIGINT, 143 SIGTERM). Unref'd: it never delays a process that ends on its own.
 */
function processSignals(): ProcessSignals {
  const controller = new AbortController();
  let deadlineMs: number | undefined;
  let deadline: NodeJS.Timeout | undefined;
  const armDeadline = () => {
    if (deadlineMs === undefined || deadline !== undefined || !controller.signal.aborted) return;
    deadline = setTimeout(() => {
      process.stderr.write(`r2mirror: still not stopped ${deadlineMs! / 1000} s after the signal; exiting\n`);
      process.exit(typeof process.exitCode === 'number' ? process.exitCode : interruptedExitCode(controller.signal.reason));
    }, deadlineMs);
    deadline.unref();
  };
  const onSignal = (sig: NodeJS.Signals) => {
    const why = new Interrupted(sig === 'SIGTERM' ? 'SIGTERM' : 'SIGINT');
    if (controller.signal.aborted) process.exit(why.exitCode);
    controller.abort(why);
    armDeadline();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    stopDeadline(ms) {
      deadlineMs = ms;
      armDeadline();
    },
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** What a command gets instead of `process`. */
function contextFor(args: readonly string[], signals: ProcessSignals, journal: boolean): CommandContext {
  return {
    args, env: process.env, cwd: process.cwd(), pid: process.pid, uid: process.getuid?.(),
    journal, version: VERSION, nodeVersion: process.versions.node,
    monotonicUsec: () => process.hrtime.bigint() / 1000n,
    stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, signal: signals.signal,
    stopDeadline: (ms) => signals.stopDeadline(ms),
    onHangup(fn) {
      process.on('SIGHUP', fn);
      return () => process.off('SIGHUP', fn);
    },
  };
}

// Run when executed directly (bin or `node dist/cli.js`), not when imported by tests.
const invoked = process.argv[1] ? fs.realpathSync(process.argv[1]) : '';
if (invoked && new URL(import.meta.url).pathname === invoked) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (err: unknown) => {
    process.stderr.write(`r2mirror: internal error: ${String((err as Error)?.stack ?? err)}\n`);
    process.exitCode = ExitCode.SOFTWARE;
  });
}
