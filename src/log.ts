// The pino root logger: JSON lines (under systemd each with its syslog priority, so `journalctl -p warning` finds
// warnings and errors), or short human lines on a terminal.
// Every line passes through a scrubber so credentials can never reach a log, whatever an error carries.
// The convention for every caller: the message is a constant string, variable parts are fields, and a caught
// error goes in as `{ err }` (the Error object; the serializer below renders it).
// Must not: write anywhere but opts.out, or render an error's raw SDK shape (request, response, headers).

import { pino, type Logger, type DestinationStream, type Level } from 'pino';
import { formatBytes } from './config/units.js';
import { describeError, errorCode, printable, scrub } from './errors.js';

export type { Logger };

/** Options for {@link createLogger}. */
export interface LogOptions {
  readonly level: Level | 'silent';
  /** Where lines go (stderr in the CLI). */
  readonly out: { write(s: string): unknown };
  /** Values that must never appear in output (secret key, access key id); read at every line, so it may grow. */
  readonly secrets?: readonly string[];
  /** Human one-line format instead of JSON (terminals). */
  readonly pretty?: boolean;
  /** `out` is the journal (see {@link isJournalStream}): each JSON line starts with its priority, `<3>` for an error. */
  readonly journal?: boolean;
}

/** sd-daemon(3)'s priority for each pino level: fatal crit, error err, warn warning, info info, debug and trace debug. */
const PRIORITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

/** The `<N>` journald reads off the front of a JSON line (`{"level":50,...` -> `<3>`); info's when there is none. */
export function priorityPrefix(line: string): string {
  const m = /^\{"level":(\d+)/.exec(line);
  return `<${(m && PRIORITY[Number(m[1])]) ?? 6}>`;
}

export { isJournalStream } from './platform.js';

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'name']);

const str = (v: unknown): string => String(v ?? '');
const size = (v: unknown): string => formatBytes(Number(v) || 0);

/**
 * The info lines a person watching a terminal reads as sentences (`uploaded photos/a.jpg (1.2 MiB)`): what the
 * daemon and `sync -v` do, one line per change. Every other line is `LEVEL message key=value ...`.
 */
const HUMAN: Record<string, (o: Record<string, unknown>) => string | undefined> = {
  'watchers armed': (o) => `watching ${str(o.folders)} folder${o.folders === 1 ? '' : 's'} (${str(o.dirs)} directories)`,
  uploaded: (o) => `uploaded ${str(o.key)} (${size(o.bytes)})`,
  'already in the bucket; recorded without upload': (o) => `already in the bucket: ${str(o.key)}`,
  'renamed (server-side copy)': (o) => `renamed ${str(o.from)} -> ${str(o.key)}`,
  deleted: (o) => `deleted ${str(o.key)}`,
  'moved to trash': (o) => `moved to the trash: ${str(o.key)}`,
  restored: (o) => `restored ${str(o.key)} -> ${str(o.path)} (${size(o.bytes)})`,
  'rescanning the folder': (o) => `rescanning (${str(o.reason)})`,
  stopping: (o) => `stopping (${str(o.reason)})`,
  stopped: () => 'stopped',
  reconciled: reconciledLine,
  'configuration reloaded': () => 'configuration reloaded',
};

/**
 * The daemon's line after a reconcile: after a whole-folder pass what it did (or "in sync"); after changes only
 * the failures, since each upload and delete had its own line.
 */
function reconciledLine(o: Record<string, unknown>): string | undefined {
  const counts = (['uploaded', 'renamed', 'deleted', 'failed'] as const).filter((k) => Number(o[k]) > 0).map((k) => `${str(o[k])} ${k}`);
  if (o.kind === 'changes') return Number(o.failed) > 0 ? `${str(o.failed)} failed (r2mirror status lists them)` : undefined;
  const what = o.kind === 'list' ? 'compared with the bucket' : 'checked against the state DB';
  return `${what}: ${counts.length ? counts.join(', ') : 'in sync'} (${str(o.ms)} ms)`;
}

/** `HH:MM:SS` of a line's ISO time, in local time. */
function clockOf(time: unknown): string {
  const d = typeof time === 'string' ? new Date(time) : undefined;
  return d && !Number.isNaN(d.getTime()) ? d.toTimeString().slice(0, 8) + ' ' : '';
}

/** Render one JSON log line for a terminal: `12:03:04 photos: uploaded a.jpg (1.2 KiB)`, `12:03:05 WARN message key=value ...`. */
export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const human = o.level === 30 ? HUMAN[String(o.msg)] : undefined;
  if (human) {
    const text = human(o);
    // undefined: the lines before said it all (each change of a reconcile had its own)
    return text === undefined ? '' : printable(`${clockOf(o.time)}${o.folder !== undefined ? `${str(o.folder)}: ` : ''}${text}`) + '\n';
  }
  const lvl = (LEVELS[o.level as number] ?? String(o.level)).toUpperCase();
  const fields = Object.entries(o)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => (k === 'err' && v && typeof v === 'object' ? `err=${JSON.stringify((v as { message?: string }).message)}` : `${k}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v)}`));
  // JSON.stringify escapes C0 controls but leaves C1 controls and bidirectional marks raw.
  return printable(`${clockOf(o.time)}${lvl} ${String(o.msg ?? '')}${fields.length ? ' ' + fields.join(' ') : ''}`) + '\n';
}

/**
 * `err` as a log field: what describeError says (code, HTTP status, message), the class and the code. Not pino's
 * standard serializer: that copies every enumerable property, and an SDK error carries its whole HTTP response.
 */
export function serializeError(err: unknown): { type: string; message: string; code?: string; stack?: string } {
  if (!(err instanceof Error)) return { type: typeof err, message: String(err) };
  const code = errorCode(err);
  // A bug (a TypeError, a plain Error with no code) keeps its stack: that is what a bug report needs.
  const bug = !code || JS_ERRORS.has(code);
  return { type: err.name, message: describeError(err), ...(bug ? {} : { code }), ...(bug && err.stack ? { stack: err.stack } : {}) };
}

/** The language's own error classes: a program error, not the network's or the disk's. */
const JS_ERRORS = new Set(['Error', 'TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'URIError', 'AggregateError']);

/** The process's root logger; modules take child loggers (`log.child({ folder })`). */
export function createLogger(opts: LogOptions): Logger {
  // Read at every line, not copied: a SIGHUP reload adds the new key pair to the same array.
  const secrets = opts.secrets ?? [];
  const dest: DestinationStream = {
    write(line: string) {
      const clean = secrets.length ? scrub(line, secrets) : line;
      // JSON.stringify (and pino) leave C1 controls and bidirectional marks raw; as \uXXXX the JSON means the same.
      if (opts.pretty) {
        const human = prettyLine(clean);
        if (human) opts.out.write(human);
      }
      else opts.out.write(`${opts.journal ? priorityPrefix(clean) : ''}${printable(clean.replace(/\n$/, ''))}\n`);
    },
  };
  return pino({ level: opts.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime, serializers: { err: serializeError } }, dest);
}
