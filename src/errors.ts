// Error classes, exit codes, classify() and the S3 failure table: the only module that reads SDK error shapes
// ($metadata, Code, name, $fault, $response), and the one place where an S3 failure gets its words, exit code and fix
// (sync, the daemon, the tools and doctor all take them from the table in its own section below).
// Must not: import anything (a leaf: no SDK, fs or logger); send a request; print or log.

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

/**
 * The reason the process's abort signal carries: which signal stopped the run. Its exit code is the one shells
 * and systemd expect of a process ended by that signal (128 + its number): SIGINT 130, SIGTERM 143.
 */
export class Interrupted extends Error {
  constructor(readonly signal: 'SIGINT' | 'SIGTERM') {
    super(`interrupted by ${signal}`);
  }

  get exitCode(): number {
    return this.signal === 'SIGTERM' ? 143 : 130;
  }
}

/** The exit code for a run stopped by `reason` (an abort signal's reason): 143 for SIGTERM, else 130. */
export function interruptedExitCode(reason: unknown): number {
  return reason instanceof Interrupted ? reason.exitCode : 130;
}

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

/** A mistake on the command line: printed with a hint to --help, exit code 2. */
export class UsageError extends Error {
  readonly exitCode: ExitCode = ExitCode.USAGE;
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

/** An abort: a signal fired (`AbortError`, a DOMException or Node's `ABORT_ERR`). */
export function isAbortError(err: unknown): boolean {
  const e = err as { name?: string; code?: string } | null;
  return e?.name === 'AbortError' || e?.code === 'ABORT_ERR';
}

/** A HEAD or GET found no such key (HEAD answers have no body: only the status says it). */
export function isNotFound(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'NotFound' || httpStatus(err) === 404;
}

/** The multipart upload is already gone (aborted or completed). */
export function isNoSuchUpload(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'NoSuchUpload';
}

/** GetBucketCors of a bucket without a CORS policy. */
export function isNoCorsPolicy(err: unknown): boolean {
  return errorCode(err) === 'NoSuchCORSConfiguration';
}

/** The response headers the SDK attached to an error, when the server answered. */
export function responseHeaders(err: unknown): Record<string, string | undefined> | undefined {
  return (err as { $response?: { headers?: Record<string, string | undefined> } } | null)?.$response?.headers;
}

/** The reason DeleteObjects gives for one key it did not delete (an entry of its `Errors` list). */
export function deleteErrorReason(e: { readonly Code?: string | undefined; readonly Message?: string | undefined }): string {
  return `${e.Code ?? 'Error'}: ${e.Message ?? ''}`;
}

/** Sort an error by the response it needs: retry (transient), skip (this file only), fatal (stop), abort. */
export function classify(err: unknown): ErrorClass {
  if (err instanceof ConfigError || err instanceof FatalError) return 'fatal';
  if (err instanceof FileChangedError || err instanceof IntegrityError) return 'retry';
  if (err instanceof FolderUnsafeError) return 'skip';
  const e = err as { cause?: unknown } | null;
  if (isAbortError(err)) return 'abort';
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

// ---- The S3 failure table ---------------------------------------------------------------------------------------
// One entry per way an S3 request can fail that the user must act on: its words, exit code and fix. Sync and the
// daemon (Folder), the tools (ls, buckets, cors, restore, verify) and doctor all explain S3 errors from here, so
// the same failure reads the same whichever command met it. test/unit/errors.test.ts holds each entry to its text.

/** The S3 failures the table knows. */
export type S3FailureKind =
  | 'noSuchBucket' | 'unknownAccessKey' | 'wrongSecret' | 'clockSkew' | 'badHeader' | 'accessDenied'
  | 'unreachable' | 'unavailable' | 'notS3' | 'refused';

/** What a failed request was about; each part that is known makes the message or the fix more precise. */
export interface S3Scope {
  /** The S3 endpoint URL. */
  readonly endpoint?: string | undefined;
  readonly bucket?: string | undefined;
  /** The mirrored folder, on sync's and the daemon's path. */
  readonly folder?: string | undefined;
  /** Where the bucket name is set, for the fix (`folders[0].bucket in /etc/r2mirror/config.yaml`). */
  readonly bucketSetting?: string | undefined;
  /** The config file, for the fix. */
  readonly configFile?: string | undefined;
  /** Where the credentials came from (`Credentials.source`), for the fix. */
  readonly credentials?: string | undefined;
  /** The request lists buckets or reads or changes a bucket's configuration (CORS): R2 wants an Admin token. */
  readonly admin?: boolean | undefined;
}

/** An S3 failure explained: the message (without the "folder x, bucket y:" prefix), exit code and fix. */
export interface S3Failure {
  readonly kind: S3FailureKind;
  readonly message: string;
  readonly exitCode: ExitCode;
  readonly fix?: string | undefined;
}

/** What an entry's texts are made from. */
export interface S3Context extends S3Scope {
  /** describeError() of the error. */
  readonly detail: string;
  readonly status: number | undefined;
  /** The line already names the bucket before the message ("bucket photos: ..."); doctor's lines do not. */
  readonly named: boolean;
}

/** One row of the table: its exit code, and its message and fix for a given failure. */
export interface S3Entry {
  readonly exitCode: ExitCode;
  message(c: S3Context): string;
  fix?(c: S3Context): string;
}

const TOKENS = 'Cloudflare dashboard: R2 > Manage API tokens';
const from = (c: S3Context): string => (c.credentials ? ` (${c.credentials})` : '');
const endpointFix = (c: S3Context): string => `check remote.endpoint / remote.accountId in ${c.configFile ?? 'the config'}`;

/** The table. Exit codes: 78 configuration (the user must change something), 75 try again later, 1 this request. */
export const S3_FAILURES: Readonly<Record<S3FailureKind, S3Entry>> = {
  noSuchBucket: {
    exitCode: ExitCode.CONFIG,
    message: (c) => `${c.named ? 'the bucket' : `bucket ${c.bucket ?? '?'}`} does not exist${c.endpoint ? ` at ${c.endpoint}` : ''}`,
    fix: (c) => `create it (wrangler r2 bucket create ${c.bucket ?? 'NAME'}, or in the Cloudflare dashboard) or fix ${c.bucketSetting ?? 'the name'} (r2mirror buckets lists them)`,
  },
  unknownAccessKey: {
    exitCode: ExitCode.CONFIG,
    message: () => 'credentials rejected: the server does not know the access key id (InvalidAccessKeyId)',
    fix: (c) => `check the credentials${from(c)}: the access key id is mistyped, of a deleted token or of another account`,
  },
  wrongSecret: {
    exitCode: ExitCode.CONFIG,
    message: () => 'credentials rejected: the secret access key is wrong (SignatureDoesNotMatch)',
    fix: (c) => `check the credentials${from(c)}: the secret access key must be the one that goes with this access key id`,
  },
  clockSkew: {
    exitCode: ExitCode.CONFIG,
    message: () => "this machine's clock differs too much from the server's (RequestTimeTooSkewed)",
    fix: () => 'synchronise the clock with NTP (timedatectl set-ntp true, or chrony/ntpd)',
  },
  badHeader: {
    exitCode: ExitCode.CONFIG,
    message: (c) => `the request could not be sent (${c.detail})`,
    fix: () => 'check the credentials for spaces, newlines or other characters that do not belong in an access key',
  },
  accessDenied: {
    exitCode: ExitCode.CONFIG,
    message: (c) => `access denied (${c.detail})`,
    fix: (c) => (c.admin || c.bucket === undefined
      ? `the token lacks the permission for this request: listing buckets and a bucket's CORS policy need Admin Read only to read, Admin Read & Write to change (${TOKENS})`
      : `the token needs read and write access to this bucket: give the API token Object Read & Write on bucket "${c.bucket}" (${TOKENS})`)
      + (c.credentials ? `, or check which key is used: ${c.credentials}` : ''),
  },
  unreachable: {
    exitCode: ExitCode.TEMPFAIL,
    message: (c) => `cannot reach ${c.endpoint ?? 'the endpoint'}: ${c.detail}`,
    fix: (c) => `${endpointFix(c)}, DNS, firewall and proxy settings, and that the server is up`,
  },
  unavailable: {
    exitCode: ExitCode.TEMPFAIL,
    message: (c) => `the endpoint ${c.endpoint ? `${c.endpoint} ` : ''}did not answer usefully after retries: ${c.detail}`,
    fix: () => 'the service may be down or overloaded; try again later',
  },
  notS3: {
    exitCode: ExitCode.CONFIG,
    message: (c) => `the endpoint ${c.endpoint ? `${c.endpoint} ` : ''}answered HTTP ${c.status ?? '?'} with something that is not an S3 response`,
    fix: (c) => `${endpointFix(c)}: it must be the S3 API URL (https://ACCOUNT_ID.r2.cloudflarestorage.com), not a web page or a proxy`,
  },
  refused: {
    exitCode: ExitCode.FILES_FAILED,
    message: (c) => `the server refused the request: ${c.detail}`,
  },
};

// No HTTP answer at all: the connection, DNS or TLS failed, or the server never answered in time.
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'TimeoutError',
  'EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function unreachable(err: unknown, depth = 0): boolean {
  const code = errorCode(err);
  if (code !== undefined && UNREACHABLE_CODES.has(code)) return true;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return depth < 3 && cause !== undefined && cause !== err && unreachable(cause, depth + 1);
}

/**
 * The server answered, but the SDK could not read the answer as S3's: it attached the response ($response) and no
 * fault, as it does for a body that is not S3 XML (a web page, a JSON API, a proxy's error page).
 */
function unreadableAnswer(err: unknown): boolean {
  const e = err as { $response?: unknown; $fault?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  return (e.$response !== undefined && e.$fault === undefined) || /\bDeserialization error\b/.test(String(e.message ?? ''));
}

/** Which table entry an error is, or undefined when it is no S3 failure (an abort, a local error, a bug). */
export function s3FailureKind(err: unknown): S3FailureKind | undefined {
  if (isAbortError(err)) return undefined;
  // Our own errors speak for themselves (a FileChangedError is no endpoint trouble, though it is retried too).
  if (err instanceof FatalError || err instanceof ConfigError || err instanceof UsageError || err instanceof FolderUnsafeError ||
    err instanceof FileChangedError || err instanceof IntegrityError) return undefined;
  const code = errorCode(err);
  const status = httpStatus(err);
  // HEAD answers have no body, so a HeadBucket of a missing bucket is a bare 404 NotFound.
  if (code === 'NoSuchBucket' || (code === 'NotFound' && status === 404)) return 'noSuchBucket';
  if (code === 'InvalidAccessKeyId') return 'unknownAccessKey';
  if (code === 'SignatureDoesNotMatch') return 'wrongSecret';
  if (code === 'RequestTimeTooSkewed') return 'clockSkew';
  if (code !== undefined && LOCAL_REQUEST_CODES.has(code)) return 'badHeader';
  if (code === 'AccessDenied' || status === 403) return 'accessDenied';
  if (unreachable(err)) return 'unreachable';
  if (classify(err) === 'retry') return 'unavailable';
  if (status !== undefined && unreadableAnswer(err)) return 'notS3';
  if (status !== undefined) return 'refused';
  return undefined;
}

/**
 * The table's explanation of an error. `named`: the line names the bucket before the message (the default; doctor
 * names the folder instead). `kind` overrides the lookup (doctor: its probe's time limit means "unreachable").
 */
export function explainS3(err: unknown, scope: S3Scope, opts: { named?: boolean; kind?: S3FailureKind | undefined } = {}): S3Failure | undefined {
  let kind = opts.kind ?? s3FailureKind(err);
  if (kind === undefined) return undefined;
  // A request about no bucket (ListBuckets) that finds "no such thing" did not reach an S3 API.
  if (kind === 'noSuchBucket' && scope.bucket === undefined) kind = 'notS3';
  const entry = S3_FAILURES[kind];
  const c: S3Context = { ...scope, detail: describeError(err), status: httpStatus(err), named: opts.named ?? true };
  return { kind, message: entry.message(c), exitCode: entry.exitCode, fix: entry.fix?.(c) };
}

/** Where a failed request was aimed, as the start of its line: `folder photos, bucket pics`, `bucket pics`, the endpoint. */
export function s3Where(scope: S3Scope): string {
  if (scope.folder !== undefined) return `folder ${scope.folder}, bucket ${scope.bucket ?? '?'}`;
  if (scope.bucket !== undefined) return `bucket ${scope.bucket}`;
  return scope.endpoint ?? 'the endpoint';
}

/**
 * The error to report for a failed S3 request: a FatalError `<where>: <message>; <fix>` with the table's exit code.
 * Our own errors, aborts and errors that are no S3 failure (a bug, a local file) are returned unchanged.
 */
export function explainS3Error(err: unknown, scope: S3Scope): unknown {
  const f = explainS3(err, scope);
  if (f === undefined) return err;
  return new FatalError(`${s3Where(scope)}: ${f.message}${f.fix ? `; ${f.fix}` : ''}`, f.exitCode, { cause: err });
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
