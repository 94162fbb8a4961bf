// Error classes, exit codes and classify(): the only place that looks at SDK or Node error shapes.
// Must not import anything with side effects; every other module throws these or asks classify().

/** Process exit codes (sysexits.h where one fits). Documented in README "Exit codes". */
export const ExitCode = {
  OK: 0,
  /** Some files failed (unreadable, invalid name, upload kept failing, delete plan refused). */
  FILES_FAILED: 1,
  /** Bad command line. */
  USAGE: 2,
  /** Internal error (a bug): EX_SOFTWARE. */
  SOFTWARE: 70,
  /** The endpoint cannot be reached or the state DB is locked by another process: EX_TEMPFAIL. */
  TEMPFAIL: 75,
  /** Configuration: bad file, missing or rejected credentials, missing bucket, unusable state DB: EX_CONFIG. */
  CONFIG: 78,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Where a problem in a config file is: file, 1-based line/column, and the key path (`folders[0].bucket`). */
export interface ConfigLocation {
  file?: string | undefined;
  line?: number | undefined;
  col?: number | undefined;
  path?: string | undefined;
}

/** A configuration problem. The message names the file, the line and the key. Exit code 78. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly exitCode: ExitCode = ExitCode.CONFIG;
  readonly problem: string;
  readonly location: ConfigLocation;
  constructor(problem: string, location: ConfigLocation = {}) {
    super(formatLocation(location) + problem);
    this.problem = problem;
    this.location = location;
  }
}

function formatLocation(l: ConfigLocation): string {
  let s = '';
  if (l.file) s += l.file + (l.line ? `:${l.line}${l.col ? `:${l.col}` : ''}` : '') + ': ';
  if (l.path) s += `${l.path}: `;
  return s;
}

/** A problem that stops the whole run (bad credentials, missing bucket, unusable state DB). */
export class FatalError extends Error {
  override name = 'FatalError';
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode = ExitCode.CONFIG, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

/** A folder that must not be acted on now (root missing, not a directory, suddenly empty). */
export class FolderUnsafeError extends Error {
  override name = 'FolderUnsafeError';
}

/** The file changed while it was being read or uploaded: the result must not be recorded. */
export class FileChangedError extends Error {
  override name = 'FileChangedError';
}

/** The server answered, but the object it holds is not what we sent (ETag mismatch after upload). */
export class IntegrityError extends Error {
  override name = 'IntegrityError';
}

export type ErrorClass = 'retry' | 'skip' | 'fatal' | 'abort';

const RETRY_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED',
  'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'ERR_STREAM_PREMATURE_CLOSE',
]);
const RETRY_S3 = new Set([
  'SlowDown', 'InternalError', 'ServiceUnavailable', 'RequestTimeout', 'RequestTimeTooSkewed_', 'TooManyRequests',
  'BadDigest', 'IncompleteBody', 'TimeoutError', 'NetworkingError', 'ThrottlingException', 'RequestTimeoutException',
]);
const FATAL_S3 = new Set([
  'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'NoSuchBucket', 'RequestTimeTooSkewed',
  'InvalidBucketName', 'AuthorizationHeaderMalformed', 'InvalidToken', 'ExpiredToken', 'AccountProblem',
]);

/**
 * Node refused to build the request: a header value holds a character HTTP cannot carry. Our own headers are
 * checked; what is left is configuration (credentials), so no retry can help.
 */
export const LOCAL_REQUEST_CODES: ReadonlySet<string> = new Set(['ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN']);

/** HTTP status of an SDK error, if any. */
export function httpStatus(err: unknown): number | undefined {
  const e = err as { $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number } } | null;
  return e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
}

/** S3 error code (`NoSuchBucket`) or Node error code (`ECONNRESET`), if any. */
export function errorCode(err: unknown): string | undefined {
  const e = err as { Code?: string; code?: string; name?: string } | null;
  if (!e || typeof e !== 'object') return undefined;
  return e.Code ?? e.code ?? (e.name && e.name !== 'Error' ? e.name : undefined);
}

/** Sort an error by the response it needs: retry (transient), skip (this file only), fatal (stop), abort. */
export function classify(err: unknown): ErrorClass {
  if (err instanceof ConfigError || err instanceof FatalError) return 'fatal';
  if (err instanceof FileChangedError || err instanceof IntegrityError) return 'retry';
  if (err instanceof FolderUnsafeError) return 'skip';
  const e = err as { name?: string; code?: string; cause?: unknown } | null;
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR') return 'abort';
  const code = errorCode(err);
  const status = httpStatus(err);
  if (code && (FATAL_S3.has(code) || LOCAL_REQUEST_CODES.has(code))) return 'fatal';
  if (status === 403) return 'fatal';
  if (code && (RETRY_CODES.has(code) || RETRY_S3.has(code))) return 'retry';
  if (status !== undefined && (status === 429 || status >= 500)) return 'retry';
  // Node's fetch/undici and the SDK wrap socket errors; look one level down.
  if (e?.cause && e.cause !== err) {
    const inner = classify(e.cause);
    if (inner !== 'skip') return inner;
  }
  if (status !== undefined && status >= 400) return 'skip';
  const msg = String((err as Error | null)?.message ?? '');
  // Not for Node system errors (ENOENT, EACCES): their code says it all, and their message holds a file path.
  if (!/^E[A-Z]+$/.test(code ?? '') && /socket hang up|ECONNRESET|EPIPE|timed? ?out|premature close|aborted/i.test(msg)) return 'retry';
  return 'skip';
}

/** Human description of an S3/Node error for logs and summaries: `NoSuchBucket (HTTP 404): message`. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // Node's system errors already start with their code ("ENOENT: no such file ..."): do not repeat it.
  const code = err.message.startsWith(`${errorCode(err)}:`) ? undefined : errorCode(err);
  const status = httpStatus(err);
  const parts: string[] = [];
  // Our own error classes speak for themselves; their class name would only be noise for a user.
  const ours = err instanceof ConfigError || err instanceof FatalError || err instanceof FileChangedError ||
    err instanceof IntegrityError || err instanceof FolderUnsafeError;
  if (code && (code !== err.name || !ours)) parts.push(code);
  if (status) parts.push(`(HTTP ${status})`);
  const head = parts.join(' ');
  const msg = err.message && err.message !== code ? err.message : '';
  return head && msg ? `${head}: ${msg}` : head || msg || err.name;
}

/**
 * Remove every occurrence of the given secrets from a string. Used on every error message and log line
 * that could carry request details, so credentials never reach a log or the terminal.
 */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[REDACTED]');
  return out;
}

// C0 and C1 control characters, DEL, and the Unicode line separators and bidirectional controls: what a terminal
// acts on (an ESC sequence can clear or rewrite the screen) or shows out of order, instead of printing.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
const SHORT: Readonly<Record<string, string>> = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };

/**
 * Text safe for a terminal: every control character escaped the way the JSON log lines show it (`\n`, `\u001b`),
 * the rest unchanged. For names and messages in human output; apply it per line, before joining lines.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// --- Restore's downloads ---------------------------------------------------------------------------------------

/**
 * The object is not the one that was listed any more (If-Match failed): run again to get the new one. It keeps
 * the plain `Error` name on purpose: describeError then shows only its message, as the restore report always has.
 */
export class ObjectChangedError extends Error {}

/** The server refused a conditional request (If-Match): S3's PreconditionFailed, HTTP 412. */
export function isPreconditionFailed(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'PreconditionFailed' || httpStatus(err) === 412;
}
