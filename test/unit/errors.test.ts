// Unit tests for src/errors.ts (classify, describeError, scrub, exit codes, the S3 failure table that sync, the
// daemon, the tools and doctor share, the SDK shape predicates) and the two retry primitives built on it:
// ByteBudget (src/transfer.ts) and backoff (src/retry.ts). No server: S3 errors are built by shape.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigError, ExitCode, FatalError, FileChangedError, FolderUnsafeError, IntegrityError, S3_FAILURES, UsageError, classify, deleteErrorReason,
  describeError, errorCode, explainS3, explainS3Error, httpStatus, isAbortError, isNoCorsPolicy, isNoSuchUpload, isNotFound,
  isPreconditionFailed, printable, responseHeaders, s3FailureKind, s3Where, scrub, type S3FailureKind,
} from '../../src/errors.js';
import { formatReport } from '../../src/commands/sync.js';
import { bucketFailure, formatChecks } from '../../src/commands/doctor.js';
import type { SyncReport } from '../../src/engine.js';
import type { PlannedAction } from '../../src/folder/types.js';
import { SpillList } from '../../src/state/spool.js';
import { createLogger, isJournalStream, prettyLine, serializeError } from '../../src/log.js';
import { backoff } from '../../src/retry.js';
import { ByteBudget } from '../../src/transfer.js';

/** An error shaped like the AWS SDK v3's ServiceException. */
function s3Error(name: string, status: number, message = `${name} happened`): Error {
  return Object.assign(new Error(message), { name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status, requestId: 'r1' } });
}

/** An error shaped like Node's system errors; fs errors start their message with the code, socket errors do not. */
function nodeError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code, errno: -1, syscall: 'open' });
}

const CLASSIFY: [string, unknown, ReturnType<typeof classify>][] = [
  // Node refuses to send a header holding a newline (credentials read with one): configuration, not a retry.
  ['ERR_INVALID_CHAR (a newline in the Authorization header)', Object.assign(new TypeError('Invalid character in header content ["authorization"]'), { code: 'ERR_INVALID_CHAR' }), 'fatal'],
  ['NoSuchBucket 404', s3Error('NoSuchBucket', 404, 'The specified bucket does not exist'), 'fatal'],
  ['InvalidAccessKeyId 403', s3Error('InvalidAccessKeyId', 403), 'fatal'],
  ['SignatureDoesNotMatch 403', s3Error('SignatureDoesNotMatch', 403), 'fatal'],
  ['AccessDenied 403', s3Error('AccessDenied', 403), 'fatal'],
  ['any 403 (HEAD errors have no code)', s3Error('Forbidden', 403), 'fatal'],
  ['503 ServiceUnavailable', s3Error('ServiceUnavailable', 503), 'retry'],
  ['503 with an unknown name', s3Error('UnknownError', 503), 'retry'],
  ['500 InternalError', s3Error('InternalError', 500), 'retry'],
  ['502 without a code', s3Error('Unknown', 502), 'retry'],
  ['429 TooManyRequests', s3Error('TooManyRequests', 429), 'retry'],
  ['429 with an unknown name', s3Error('Whatever', 429), 'retry'],
  ['SlowDown 503', s3Error('SlowDown', 503), 'retry'],
  ['SlowDown without a status', Object.assign(new Error('slow down'), { name: 'SlowDown' }), 'retry'],
  ['BadDigest 400 (body corrupted in transit)', s3Error('BadDigest', 400), 'retry'],
  ['RequestTimeout 400', s3Error('RequestTimeout', 400), 'retry'],
  ['400 InvalidArgument', s3Error('InvalidArgument', 400), 'skip'],
  ['400 EntityTooLarge', s3Error('EntityTooLarge', 400), 'skip'],
  ['404 NoSuchKey', s3Error('NoSuchKey', 404), 'skip'],
  ['412 PreconditionFailed', s3Error('PreconditionFailed', 412), 'skip'],
  ['ECONNRESET', nodeError('ECONNRESET', 'read ECONNRESET'), 'retry'],
  ['ETIMEDOUT', nodeError('ETIMEDOUT', 'connect ETIMEDOUT 1.2.3.4:443'), 'retry'],
  ['ECONNREFUSED', nodeError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:7480'), 'retry'],
  ['EAI_AGAIN', nodeError('EAI_AGAIN', 'getaddrinfo EAI_AGAIN example.r2.cloudflarestorage.com'), 'retry'],
  ['ENOENT', nodeError('ENOENT', "ENOENT: no such file or directory, open '/srv/a.txt'"), 'skip'],
  ['EACCES', nodeError('EACCES', "EACCES: permission denied, open '/srv/a.txt'"), 'skip'],
  ['EISDIR', nodeError('EISDIR', 'EISDIR: illegal operation on a directory, read'), 'skip'],
  ['ENOENT of a file whose path says "timeout"', nodeError('ENOENT', "ENOENT: no such file or directory, open '/srv/timeout-logs/aborted.txt'"), 'skip'],
  ['EACCES of a file whose path says "socket hang up"', nodeError('EACCES', "EACCES: permission denied, open '/srv/socket hang up.txt'"), 'skip'],
  ['AbortError (signal)', Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }), 'abort'],
  ['ABORT_ERR (Node streams)', Object.assign(new Error('The operation was aborted'), { code: 'ABORT_ERR' }), 'abort'],
  ['DOMException AbortError', new DOMException('aborted', 'AbortError'), 'abort'],
  ['FileChangedError', new FileChangedError('a.txt changed while it was read'), 'retry'],
  ['IntegrityError', new IntegrityError('ETag mismatch'), 'retry'],
  ['ConfigError', new ConfigError('missing bucket', { file: '/etc/r2.yaml', line: 3 }), 'fatal'],
  ['FatalError', new FatalError('state DB is locked', ExitCode.TEMPFAIL), 'fatal'],
  ['FolderUnsafeError', new FolderUnsafeError('root missing'), 'skip'],
  ['fetch failed wrapping ECONNRESET', new Error('fetch failed', { cause: nodeError('ECONNRESET', 'read ECONNRESET') }), 'retry'],
  ['wrapper of a 403', new Error('request failed', { cause: s3Error('AccessDenied', 403) }), 'fatal'],
  ['wrapper of an ENOENT', new Error('upload failed', { cause: nodeError('ENOENT', 'ENOENT: gone') }), 'skip'],
  ['message-only socket hang up', new Error('socket hang up'), 'retry'],
  ['message-only premature close', new Error('Premature close'), 'retry'],
  ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'x')"), 'skip'],
  ['a string', 'something odd', 'skip'],
  ['null', null, 'skip'],
  ['undefined', undefined, 'skip'],
];

for (const [name, err, expected] of CLASSIFY) {
  test(`classify: ${name} -> ${expected}`, () => {
    assert.equal(classify(err), expected);
  });
}

test('httpStatus and errorCode read SDK and Node shapes', () => {
  assert.equal(httpStatus(s3Error('NoSuchBucket', 404)), 404);
  assert.equal(httpStatus({ $response: { statusCode: 502 } }), 502);
  assert.equal(httpStatus(new Error('x')), undefined);
  assert.equal(httpStatus(null), undefined);
  assert.equal(errorCode(s3Error('NoSuchBucket', 404)), 'NoSuchBucket');
  assert.equal(errorCode({ Code: 'SlowDown', name: 'Error' }), 'SlowDown');
  assert.equal(errorCode(nodeError('ENOENT', 'ENOENT: x')), 'ENOENT');
  assert.equal(errorCode(new Error('plain')), undefined);
  assert.equal(errorCode('string'), undefined);
});

test('describeError: code, HTTP status and message for S3 errors', () => {
  assert.equal(describeError(s3Error('NoSuchBucket', 404, 'The specified bucket does not exist')),
    'NoSuchBucket (HTTP 404): The specified bucket does not exist');
  assert.equal(describeError(s3Error('SlowDown', 503, 'SlowDown')), 'SlowDown (HTTP 503)', 'no repetition when the message is the code');
  assert.equal(describeError(Object.assign(new Error(''), { name: 'Forbidden', $metadata: { httpStatusCode: 403 } })), 'Forbidden (HTTP 403)');
});

test('describeError: Node, r2mirror and non-Error values', () => {
  assert.equal(describeError(nodeError('ECONNRESET', 'read ECONNRESET')), 'ECONNRESET: read ECONNRESET', 'the code is not repeated');
  assert.equal(describeError(nodeError('ENOENT', "ENOENT: no such file or directory, open '/a'")), "ENOENT: no such file or directory, open '/a'", 'fs errors already start with the code');
  assert.equal(describeError(nodeError('ENOENT', "no such file or directory, open '/a'")), "ENOENT: no such file or directory, open '/a'");
  assert.equal(describeError(new Error('plain message')), 'plain message');
  assert.equal(describeError(new FatalError('state DB /x is in use')), 'state DB /x is in use');
  assert.equal(describeError(new ConfigError('must be a string', { file: '/etc/r2.yaml', line: 4, col: 3, path: 'folders[0].bucket' })),
    '/etc/r2.yaml:4:3: folders[0].bucket: must be a string');
  assert.equal(describeError(new FileChangedError('a.txt changed while it was read')), 'a.txt changed while it was read');
  assert.equal(describeError('just a string'), 'just a string');
  assert.equal(describeError(undefined), 'undefined');
  assert.equal(describeError(new Error('')), 'Error');
});

test('scrub removes every occurrence of every secret', () => {
  const id = 'AKIDEXAMPLE1234567890';
  const secret = 'sEcReT/kEy+value0123456789abcdef';
  const text = `key ${id} secret=${secret}; again ${secret}${secret} and ${id}`;
  const out = scrub(text, [id, secret]);
  assert.ok(!out.includes(id), out);
  assert.ok(!out.includes(secret), out);
  assert.equal(out, 'key [REDACTED] secret=[REDACTED]; again [REDACTED][REDACTED] and [REDACTED]');
  // regex metacharacters in a secret are matched literally
  assert.equal(scrub('a.b*c+d and axbbbcd', ['a.b*c+d']), '[REDACTED] and axbbbcd');
  // empty or tiny "secrets" (unset variables) do not wipe the text
  assert.equal(scrub('abc', ['', 'a', 'ab']), 'abc');
  assert.equal(scrub('nothing here', [id]), 'nothing here');
});

test('exit codes follow sysexits where one fits', () => {
  assert.deepEqual(ExitCode, { OK: 0, FILES_FAILED: 1, USAGE: 2, SOFTWARE: 70, TEMPFAIL: 75, CONFIG: 78 });
  assert.equal(new ConfigError('x').exitCode, 78);
  assert.equal(new FatalError('x').exitCode, 78);
  assert.equal(new FatalError('x', ExitCode.TEMPFAIL).exitCode, 75);
  const cause = new Error('inner');
  assert.equal(new FatalError('outer', ExitCode.CONFIG, { cause }).cause, cause);
});

// --- ByteBudget ------------------------------------------------------------------------------------------

const tick = () => new Promise((r) => setImmediate(r));

test('ByteBudget: grants up to the total at once, then makes later requests wait', async () => {
  const b = new ByteBudget(100);
  const r1 = await b.acquire(60);
  const r2 = await b.acquire(40);
  let third = false;
  const p3 = b.acquire(1).then((r) => ((third = true), r));
  await tick();
  assert.equal(third, false, 'the budget is full');
  r1();
  const r3 = await p3;
  assert.equal(third, true);
  r2();
  r3();
});

test('ByteBudget: never exceeds the total under concurrent load', async () => {
  const total = 64;
  const b = new ByteBudget(total);
  let inUse = 0;
  let peak = 0;
  await Promise.all(Array.from({ length: 60 }, async (_, i) => {
    const n = 1 + ((i * 7) % 40);
    const release = await b.acquire(n);
    inUse += n;
    peak = Math.max(peak, inUse);
    assert.ok(inUse <= total, `${inUse} bytes in use`);
    await tick();
    inUse -= n;
    release();
  }));
  assert.ok(peak <= total && peak > 40, `peak ${peak}`);
});

test('ByteBudget: waiters are served first in, first out (a big one is not starved by small ones)', async () => {
  const b = new ByteBudget(100);
  const order: string[] = [];
  const r0 = await b.acquire(90);
  const big = b.acquire(80).then((r) => (order.push('big'), r));
  const small = b.acquire(5).then((r) => (order.push('small'), r)); // would fit now, but must queue behind big
  await tick();
  assert.deepEqual(order, [], 'small does not jump the queue');
  r0();
  const rb = await big;
  const rs = await small;
  assert.deepEqual(order, ['big', 'small']);
  rb();
  rs();
});

test('ByteBudget: an oversized request gets the whole budget, alone', async () => {
  const b = new ByteBudget(100);
  const r1 = await b.acquire(10);
  let got = false;
  const huge = b.acquire(1_000_000).then((r) => ((got = true), r));
  await tick();
  assert.equal(got, false, 'waits for the budget to be empty');
  r1();
  const rh = await huge;
  assert.equal(got, true, 'then runs instead of waiting forever');
  let other = false;
  const p = b.acquire(1).then((r) => ((other = true), r));
  await tick();
  assert.equal(other, false, 'nothing else runs beside it');
  rh();
  (await p)();
  assert.equal(other, true);
});

test('ByteBudget: release is idempotent', async () => {
  const b = new ByteBudget(10);
  const r = await b.acquire(10);
  r();
  r(); // must not free 10 bytes a second time
  const a1 = await b.acquire(10);
  let second = false;
  const p = b.acquire(1).then((x) => ((second = true), x));
  await tick();
  assert.equal(second, false, 'a double release would have let this in');
  a1();
  (await p)();
});

test('ByteBudget: aborting a waiter rejects it with the reason and frees its place in the queue', async () => {
  const b = new ByteBudget(100);
  const r0 = await b.acquire(100);
  const ac = new AbortController();
  const aborted = b.acquire(50, ac.signal);
  let nextGot = false;
  const next = b.acquire(50).then((r) => ((nextGot = true), r));
  const reason = new Error('shutting down');
  ac.abort(reason);
  await assert.rejects(aborted, (e) => e === reason);
  r0();
  const rn = await next;
  assert.equal(nextGot, true);
  // the aborted waiter never took its 50 bytes: another 50 fit beside `next`
  let alsoGot = false;
  const also = b.acquire(50).then((r) => ((alsoGot = true), r));
  await tick();
  assert.equal(alsoGot, true, 'the aborted request holds no bytes');
  rn();
  (await also)();
});

// --- backoff ---------------------------------------------------------------------------------------------

function withRandom<T>(value: number, fn: () => T): T {
  const real = Math.random;
  Math.random = () => value;
  try {
    return fn();
  } finally {
    Math.random = real;
  }
}

test('backoff grows exponentially from the base, jittered between 50% and 150%', () => {
  assert.equal(withRandom(0.5, () => backoff(0, 500)), 500, 'no jitter at the midpoint');
  assert.equal(withRandom(0.5, () => backoff(1, 500)), 1000);
  assert.equal(withRandom(0.5, () => backoff(3, 500)), 4000);
  assert.equal(withRandom(0, () => backoff(2, 500)), 1000, 'lowest jitter: 50%');
  assert.equal(withRandom(0.999999, () => backoff(2, 500)), 3000, 'highest jitter: just under 150%');
  for (let attempt = 0; attempt < 6; attempt++) {
    for (let i = 0; i < 50; i++) {
      const d = backoff(attempt, 100);
      const exp = 100 * 2 ** attempt;
      assert.ok(d >= exp * 0.5 && d <= exp * 1.5, `attempt ${attempt}: ${d}`);
    }
  }
});

test('backoff is capped at 30 s before jitter, so no wait exceeds 45 s', () => {
  assert.equal(withRandom(0.5, () => backoff(6, 500)), 30_000, '500 * 64 = 32 s, capped');
  assert.equal(withRandom(0.5, () => backoff(40, 500)), 30_000);
  assert.equal(withRandom(0.5, () => backoff(2000, 500)), 30_000, 'a huge attempt number (Infinity) stays capped');
  for (let i = 0; i < 200; i++) {
    const d = backoff(20, 500);
    assert.ok(d >= 15_000 && d <= 45_000, `${d}`);
  }
});

// ---- printable: names in human output can never drive the terminal --------------------------------------

/** Every byte a terminal acts on: C0, DEL, C1 (0x9b is an 8-bit CSI), line separators, bidirectional controls. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

test('printable: control characters are escaped as the JSON log lines show them, the rest unchanged', () => {
  assert.equal(printable('a\x1b[2Jb\rc\nd\te'), 'a\\u001b[2Jb\\rc\\nd\\te');
  assert.equal(printable('x\u009b31my\u202eevil\u0000'), 'x\\u009b31my\\u202eevil\\u0000');
  assert.equal(printable('café 日本語 plain/path.txt'), 'café 日本語 plain/path.txt');
  for (let c = 0; c < 0x3000; c++) assert.doesNotMatch(printable(`<${String.fromCharCode(c)}>`), UNSAFE, `U+${c.toString(16)}`);
});

test('formatReport: file names with escape sequences and line breaks are escaped in every line', () => {
  const evil = 'evil\x1b[2J\rname\n.txt';
  const tally = { files: 0, bytes: 0 };
  const report: SyncReport = {
    ok: false, dryRun: false, exitCode: 1, durationMs: 10,
    folders: [{
      name: 'data', path: '/srv/da\x1bta', ok: false, error: `cannot read ${evil}`, uploaded: tally, resumed: tally, adopted: tally, copied: tally,
      deleted: 0, trashed: 0, unchanged: 0, skipped: [{ rel: evil, reason: `link to ${evil}` }], failed: [{ rel: evil, reason: `"${evil}" differs` }],
    }],
    totals: { uploaded: tally, resumed: tally, adopted: tally, copied: tally, deleted: 0, trashed: 0, unchanged: 0, skipped: 1, failed: 1 },
    ops: { classA: 0, classB: 0, free: 0, byOp: {} },
  } as SyncReport;
  const text = formatReport(report);
  assert.doesNotMatch(text.replace(/\n/g, ''), UNSAFE);
  assert.match(text, /failed: evil\\u001b\[2J\\rname\\n\.txt: /);
  assert.equal(text.split('\n').length, 9, 'a line break in a name does not make a line');
  const planned = new SpillList<PlannedAction>();
  planned.push({ action: 'upload', key: `p/${evil}`, reason: 'new', size: 1 });
  planned.push({ action: 'copy', key: 'p/x', from: `p/${evil}` });
  const dry = formatReport({ ...report, dryRun: true, folders: [{ ...report.folders[0]!, planned }] } as SyncReport);
  assert.doesNotMatch(dry.replace(/\n/g, ''), UNSAFE);
  const checks = formatChecks([{ name: 'folder data', status: 'fail', detail: `cannot read ${evil}`, fix: `rm ${evil}` }]);
  assert.doesNotMatch(checks.replace(/\n/g, ''), UNSAFE);
  assert.doesNotMatch(prettyLine(JSON.stringify({ level: 50, msg: 'upload failed', key: 'x\u009b2Jy\u202e' })).replace(/\n$/, ''), UNSAFE);
});

test('a header Node refuses to send (a newline in the credentials) is explained as exit 78, never left for exit 70', () => {
  const err = Object.assign(new TypeError('Invalid character in header content ["authorization"]'), { code: 'ERR_INVALID_CHAR' });
  const e = explainS3Error(err, { bucket: 'photos', endpoint: 'http://127.0.0.1:7480' });
  assert.ok(e instanceof FatalError);
  assert.equal(e.exitCode, ExitCode.CONFIG);
  assert.match(e.message, /^bucket photos: the request could not be sent \(ERR_INVALID_CHAR: Invalid character in header content \["authorization"\]\); check the credentials/);
});

// ---- the S3 failure table: one text, exit code and fix per failure, whichever command met it -------------------

/** `$metadata` as the SDK attaches it to every error of a request (a network error has no status). */
const sdkMeta = (status?: number) => ({ httpStatusCode: status, requestId: 'tx0001', attempts: 3, totalRetryDelay: 120 });

/**
 * An S3 error as the SDK throws it: name and `Code` from the XML body (no Code when there was none: HEAD answers,
 * proxies), `$fault`, `$metadata`, and the SDK's "UnknownError" message when the server sent no <Message>.
 */
function sdkError(name: string, status: number, opts: { body?: boolean } = {}): Error {
  const body = opts.body ?? true;
  return Object.assign(new Error('UnknownError'), {
    name, $fault: status >= 500 ? 'server' : 'client', $retryable: undefined, $metadata: sdkMeta(status),
    ...(body ? { Code: name, RequestId: 'tx0001', HostId: 'h1' } : {}),
  });
}

/** A socket error as the SDK passes it on: Node's code and message, plus the SDK's `$metadata`. */
function socketError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, errno: -111, syscall: 'connect', $metadata: { attempts: 3, totalRetryDelay: 300 } });
}

/** An answer the SDK could not read as S3 XML: no `$fault`, the raw response hidden on `$response`, its hint. */
function unreadableAnswer(status: number): Error {
  const err = Object.assign(new Error('@aws-sdk XML parse error: unexpected content.\n  Deserialization error: to see the raw response, ' +
    'inspect the hidden field {error}.$response on this object.'), { $metadata: sdkMeta(status) });
  return Object.defineProperty(err, '$response', { value: { statusCode: status, headers: { 'content-type': 'text/html' } }, enumerable: false });
}

const ENDPOINT = 'https://acct.r2.cloudflarestorage.com';
const SYNC_SCOPE = { folder: 'photos', bucket: 'pics', endpoint: ENDPOINT };
const NOT_S3_FIX = 'check remote.endpoint / remote.accountId in the config: it must be the S3 API URL (https://ACCOUNT_ID.r2.cloudflarestorage.com), not a web page or a proxy';
const UNREACHABLE_FIX = 'check remote.endpoint / remote.accountId in the config, DNS, firewall and proxy settings, and that the server is up';
const DOWN_FIX = 'the service may be down or overloaded; try again later';
const OBJECT_RW = 'the token needs read and write access to this bucket: give the API token Object Read & Write on bucket "pics" (Cloudflare dashboard: R2 > Manage API tokens)';

/** [what, error, kind, exit code, message after "folder photos, bucket pics: ", fix] */
const TABLE: [string, unknown, S3FailureKind, number, string, string | undefined][] = [
  ['NoSuchBucket from a listing', sdkError('NoSuchBucket', 404), 'noSuchBucket', 78, `the bucket does not exist at ${ENDPOINT}`,
    'create it (wrangler r2 bucket create pics, or in the Cloudflare dashboard) or fix the name (r2mirror buckets lists them)'],
  ['HeadBucket of a missing bucket (404, no body)', sdkError('NotFound', 404, { body: false }), 'noSuchBucket', 78, `the bucket does not exist at ${ENDPOINT}`,
    'create it (wrangler r2 bucket create pics, or in the Cloudflare dashboard) or fix the name (r2mirror buckets lists them)'],
  ['InvalidAccessKeyId', sdkError('InvalidAccessKeyId', 403), 'unknownAccessKey', 78,
    'credentials rejected: the server does not know the access key id (InvalidAccessKeyId)',
    'check the credentials: the access key id is mistyped, of a deleted token or of another account'],
  ['SignatureDoesNotMatch', sdkError('SignatureDoesNotMatch', 403), 'wrongSecret', 78,
    'credentials rejected: the secret access key is wrong (SignatureDoesNotMatch)',
    'check the credentials: the secret access key must be the one that goes with this access key id'],
  ['RequestTimeTooSkewed', sdkError('RequestTimeTooSkewed', 403), 'clockSkew', 78,
    "this machine's clock differs too much from the server's (RequestTimeTooSkewed)", 'synchronise the clock with NTP (timedatectl set-ntp true, or chrony/ntpd)'],
  ['a newline in the credentials (Node refuses the header)', Object.assign(new TypeError('Invalid character in header content ["authorization"]'), { code: 'ERR_INVALID_CHAR' }),
    'badHeader', 78, 'the request could not be sent (ERR_INVALID_CHAR: Invalid character in header content ["authorization"])',
    'check the credentials for spaces, newlines or other characters that do not belong in an access key'],
  ['AccessDenied', sdkError('AccessDenied', 403), 'accessDenied', 78, 'access denied (AccessDenied (HTTP 403): UnknownError)', OBJECT_RW],
  ['a HEAD answered 403 (no body, no code)', sdkError('Unknown', 403, { body: false }), 'accessDenied', 78, 'access denied (Unknown (HTTP 403): UnknownError)', OBJECT_RW],
  ['connection refused', socketError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9'), 'unreachable', 75,
    `cannot reach ${ENDPOINT}: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9`, UNREACHABLE_FIX],
  ['DNS', socketError('ENOTFOUND', 'getaddrinfo ENOTFOUND acct.r2.cloudflarestorage.com'), 'unreachable', 75,
    `cannot reach ${ENDPOINT}: ENOTFOUND: getaddrinfo ENOTFOUND acct.r2.cloudflarestorage.com`, UNREACHABLE_FIX],
  ['TLS: an expired certificate', socketError('CERT_HAS_EXPIRED', 'certificate has expired'), 'unreachable', 75,
    `cannot reach ${ENDPOINT}: CERT_HAS_EXPIRED: certificate has expired`, UNREACHABLE_FIX],
  ['TLS: https to a plain-http port', socketError('EPROTO', 'write EPROTO ssl3_get_record:wrong version number'), 'unreachable', 75,
    `cannot reach ${ENDPOINT}: EPROTO: write EPROTO ssl3_get_record:wrong version number`, UNREACHABLE_FIX],
  ['the request timed out (a silent server)', Object.assign(new Error('Request timed out'), { name: 'TimeoutError', $metadata: { attempts: 3 } }), 'unreachable', 75,
    `cannot reach ${ENDPOINT}: TimeoutError: Request timed out`, UNREACHABLE_FIX],
  ['a refused connection wrapped by a fetch', new Error('fetch failed', { cause: socketError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9') }), 'unreachable', 75,
    `cannot reach ${ENDPOINT}: fetch failed`, UNREACHABLE_FIX],
  ['503 ServiceUnavailable after retries', sdkError('ServiceUnavailable', 503), 'unavailable', 75,
    `the endpoint ${ENDPOINT} did not answer usefully after retries: ServiceUnavailable (HTTP 503): UnknownError`, DOWN_FIX],
  ['SlowDown after retries', sdkError('SlowDown', 503), 'unavailable', 75,
    `the endpoint ${ENDPOINT} did not answer usefully after retries: SlowDown (HTTP 503): UnknownError`, DOWN_FIX],
  ["a proxy's 502 page", sdkError('Unknown', 502, { body: false }), 'unavailable', 75,
    `the endpoint ${ENDPOINT} did not answer usefully after retries: Unknown (HTTP 502): UnknownError`, DOWN_FIX],
  ['connection reset', socketError('ECONNRESET', 'read ECONNRESET'), 'unavailable', 75,
    `the endpoint ${ENDPOINT} did not answer usefully after retries: ECONNRESET: read ECONNRESET`, DOWN_FIX],
  ['a web page (200, not XML)', unreadableAnswer(200), 'notS3', 78, `the endpoint ${ENDPOINT} answered HTTP 200 with something that is not an S3 response`, NOT_S3_FIX],
  ['a JSON API (400, not XML)', unreadableAnswer(400), 'notS3', 78, `the endpoint ${ENDPOINT} answered HTTP 400 with something that is not an S3 response`, NOT_S3_FIX],
  ['400 InvalidArgument', sdkError('InvalidArgument', 400), 'refused', 1, 'the server refused the request: InvalidArgument (HTTP 400): UnknownError', undefined],
  ['405 without a body', sdkError('Unknown', 405, { body: false }), 'refused', 1, 'the server refused the request: Unknown (HTTP 405): UnknownError', undefined],
];

test('the S3 failure table: every kind has a case here', () => {
  assert.deepEqual(new Set(TABLE.map((c) => c[2])), new Set(Object.keys(S3_FAILURES)));
});

for (const [what, err, kind, exitCode, message, fix] of TABLE) {
  test(`S3 failure table: ${what} -> ${kind}, exit ${exitCode}`, () => {
    assert.equal(s3FailureKind(err), kind);
    assert.deepEqual(explainS3(err, SYNC_SCOPE), { kind, message, exitCode, fix });
    assert.equal(S3_FAILURES[kind].exitCode, exitCode);
    // sync's and the daemon's front door (Folder.explainFatal) and the tools' (ls, cors, restore, verify)
    const sync = explainS3Error(err, SYNC_SCOPE);
    assert.ok(sync instanceof FatalError);
    assert.equal(sync.message, `folder photos, bucket pics: ${message}${fix ? `; ${fix}` : ''}`);
    assert.equal(sync.exitCode, exitCode);
    assert.equal(sync.cause, err);
    const tool = explainS3Error(err, { bucket: 'pics', endpoint: ENDPOINT });
    assert.ok(tool instanceof FatalError);
    assert.equal(tool.message, `bucket pics: ${message}${fix ? `; ${fix}` : ''}`);
    assert.equal(tool.exitCode, exitCode);
  });
}

test('sync (Folder) and doctor explain the same S3 error in the same words', () => {
  for (const [what, err, kind] of TABLE) {
    const sync = explainS3Error(err, SYNC_SCOPE) as FatalError;
    const doctor = bucketFailure(err, { name: 'photos', bucket: 'pics' }, ENDPOINT, '/etc/r2mirror/config.yaml', 'env R2_ACCESS_KEY_ID', 0);
    assert.equal(doctor.status, 'fail', what);
    // Doctor's line names the folder ("bucket photos: ..."), not the bucket: a missing bucket names it itself.
    const detail = kind === 'noSuchBucket' ? doctor.detail.replace(/^bucket pics /, 'the bucket ') : doctor.detail;
    assert.ok(sync.message.startsWith(`folder photos, bucket pics: ${detail}`), `${what}:\n  sync:   ${sync.message}\n  doctor: ${doctor.detail}`);
    assert.equal(doctor.fix === undefined, S3_FAILURES[kind].fix === undefined, what);
  }
  // doctor knows more than Folder does, and its fixes say it: the config key, the file, where the key came from
  const fail = (err: unknown) => bucketFailure(err, { name: 'photos', bucket: 'pics' }, ENDPOINT, '/etc/r2mirror/config.yaml', 'env R2_ACCESS_KEY_ID', 2);
  assert.match(fail(sdkError('NoSuchBucket', 404)).fix!, /or fix folders\[2\]\.bucket in \/etc\/r2mirror\/config\.yaml /);
  assert.match(fail(sdkError('SignatureDoesNotMatch', 403)).fix!, /^check the credentials \(env R2_ACCESS_KEY_ID\): /);
  assert.match(fail(sdkError('AccessDenied', 403)).fix!, /, or check which key is used: env R2_ACCESS_KEY_ID$/);
  assert.match(fail(socketError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9')).fix!, /in \/etc\/r2mirror\/config\.yaml, DNS/);
  // its probe's own time limit is an endpoint that did not answer
  const timedOut = fail(new DOMException('This operation was aborted', 'AbortError'));
  assert.match(timedOut.detail, new RegExp(`^cannot reach ${ENDPOINT}: `));
});

test('the S3 failure table: what is not an S3 failure passes through unchanged', () => {
  const own = [
    new FatalError('state DB is locked', ExitCode.TEMPFAIL), new ConfigError('bad key'), new UsageError('bad option'), new FolderUnsafeError('root missing'),
    new IntegrityError('ETag mismatch'),
  ];
  const other = [
    Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }), nodeError('ENOENT', "ENOENT: no such file or directory, open '/a'"),
    new TypeError("Cannot read properties of undefined (reading 'x')"), new FileChangedError('a.txt changed while it was read'),
  ];
  for (const err of [...own, ...other]) {
    assert.equal(s3FailureKind(err), undefined, String(err));
    assert.equal(explainS3Error(err, SYNC_SCOPE), err, String(err));
  }
});

test('the S3 failure table: scopes without a folder or a bucket, and the Admin requests', () => {
  // ListBuckets (no bucket) that meets a "not found" did not reach an S3 API
  const buckets = explainS3Error(sdkError('NotFound', 404, { body: false }), { endpoint: ENDPOINT, admin: true }) as FatalError;
  assert.equal(buckets.message, `${ENDPOINT}: the endpoint ${ENDPOINT} answered HTTP 404 with something that is not an S3 response; ${NOT_S3_FIX}`);
  const denied = explainS3Error(sdkError('AccessDenied', 403), { endpoint: ENDPOINT, admin: true }) as FatalError;
  assert.match(denied.message, /^https:\/\/acct\.r2\.cloudflarestorage\.com: access denied \(AccessDenied \(HTTP 403\): UnknownError\); the token lacks the permission for this request: .*Admin Read only to read, Admin Read & Write to change/);
  const cors = explainS3Error(sdkError('AccessDenied', 403), { bucket: 'pics', endpoint: ENDPOINT, admin: true }) as FatalError;
  assert.match(cors.message, /^bucket pics: access denied .*Admin Read & Write/);
  // Folder without a known endpoint
  assert.equal((explainS3Error(sdkError('ServiceUnavailable', 503), { folder: 'photos', bucket: 'pics' }) as FatalError).message,
    `folder photos, bucket pics: the endpoint did not answer usefully after retries: ServiceUnavailable (HTTP 503): UnknownError; ${DOWN_FIX}`);
  assert.equal(s3Where({ endpoint: ENDPOINT }), ENDPOINT);
  assert.equal(s3Where({ bucket: 'pics', endpoint: ENDPOINT }), 'bucket pics');
  assert.equal(s3Where(SYNC_SCOPE), 'folder photos, bucket pics');
});

test('SDK shape predicates: not found, no such upload, precondition failed, abort, headers, DeleteObjects errors', () => {
  assert.equal(isNotFound(sdkError('NotFound', 404, { body: false })), true);
  assert.equal(isNotFound(sdkError('NoSuchKey', 404)), true);
  assert.equal(isNotFound(sdkError('AccessDenied', 403)), false);
  assert.equal(isNoSuchUpload(sdkError('NoSuchUpload', 404)), true);
  assert.equal(isNoSuchUpload(sdkError('NoSuchKey', 404)), false);
  assert.equal(isPreconditionFailed(sdkError('PreconditionFailed', 412)), true);
  assert.equal(isPreconditionFailed(sdkError('Unknown', 412, { body: false })), true);
  assert.equal(isPreconditionFailed(sdkError('NoSuchKey', 404)), false);
  assert.equal(isAbortError(new DOMException('aborted', 'AbortError')), true);
  assert.equal(isAbortError(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' })), true);
  assert.equal(isAbortError(new Error('x')), false);
  assert.equal(isAbortError(null), false);
  assert.equal(isNoCorsPolicy(sdkError('NoSuchCORSConfiguration', 404)), true);
  assert.equal(isNoCorsPolicy(sdkError('NoSuchBucket', 404)), false);
  assert.deepEqual(responseHeaders(unreadableAnswer(200)), { 'content-type': 'text/html' });
  assert.equal(responseHeaders(new Error('x')), undefined);
  assert.equal(deleteErrorReason({ Code: 'AccessDenied', Message: 'Access Denied' }), 'AccessDenied: Access Denied');
  assert.equal(deleteErrorReason({}), 'Error: ');
  assert.equal(new UsageError('x').exitCode, ExitCode.USAGE);
});

test('the err serializer: what describeError says, never the SDK response; a stack only for a bug', () => {
  const sdk = Object.assign(new Error('The specified bucket does not exist'), {
    name: 'NoSuchBucket', Code: 'NoSuchBucket', $fault: 'client', $metadata: { httpStatusCode: 404 },
    $response: { headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIASECRET/...' } },
  });
  const s = serializeError(sdk);
  assert.deepEqual(Object.keys(s).sort(), ['code', 'message', 'type']);
  assert.equal(s.code, 'NoSuchBucket');
  assert.match(s.message, /NoSuchBucket \(HTTP 404\): The specified bucket does not exist/);
  assert.ok(!JSON.stringify(s).includes('AKIASECRET'));
  const enoent = Object.assign(new Error('ENOENT: no such file or directory, open \'/x\''), { code: 'ENOENT' });
  assert.deepEqual(Object.keys(serializeError(enoent)).sort(), ['code', 'message', 'type']);
  const bug = serializeError(new TypeError("Cannot read properties of undefined (reading 'size')"));
  assert.equal(bug.type, 'TypeError');
  assert.equal(bug.code, undefined);
  assert.match(bug.stack ?? '', /TypeError: Cannot read properties[\s\S]*errors\.test\.ts/);
  assert.match(serializeError(new Error('plain')).stack ?? '', /Error: plain/);
  assert.deepEqual(serializeError('a string'), { type: 'string', message: 'a string' });
});

test('the logger scrubs secrets added after it was made (a SIGHUP reload brings a new key pair)', () => {
  const secrets = ['OLDSECRETKEY'];
  const lines: string[] = [];
  const log = createLogger({ level: 'info', secrets, out: { write: (s: string) => lines.push(s) } });
  secrets.push('NEWSECRETKEY123');
  log.info({ detail: 'sent NEWSECRETKEY123 and OLDSECRETKEY' }, 'request failed');
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.includes('NEWSECRETKEY123') && !lines[0]!.includes('OLDSECRETKEY'), lines[0]);
  assert.match(lines[0]!, /sent \[REDACTED\] and \[REDACTED\]/);
});

test('under systemd every log line carries its syslog priority, so journalctl -p warning shows warnings and errors', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'trace', journal: true, out: { write: (s: string) => lines.push(s) } });
  log.fatal('f'); log.error('e'); log.warn('w'); log.info('i'); log.debug('d'); log.trace('t');
  assert.deepEqual(lines.map((l) => l.slice(0, 3)), ['<2>', '<3>', '<4>', '<6>', '<7>', '<7>']);
  for (const l of lines) assert.doesNotThrow(() => JSON.parse(l.slice(3)), 'the message after the prefix is the pino JSON line');
  const plain: string[] = [];
  createLogger({ level: 'info', out: { write: (s: string) => plain.push(s) } }).error('e');
  assert.match(plain[0]!, /^\{"level":50,/, 'without the journal: plain JSON');
});

test('isJournalStream: $JOURNAL_STREAM must name the descriptor itself, not only be set', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r2m-journal-'));
  const fd = fs.openSync(path.join(dir, 'stderr'), 'w');
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    assert.equal(isJournalStream(`${st.dev}:${st.ino}`, fd), true);
    assert.equal(isJournalStream(`${st.dev}:${st.ino + 1n}`, fd), false, 'inherited, but stderr was redirected elsewhere');
    assert.equal(isJournalStream(undefined, fd), false);
    // end to end: the error line of a failed run is at priority err
    const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'sync', '--config', path.join(dir, 'none.yaml')],
      { stdio: ['ignore', 'pipe', fd], env: { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino}` } });
    assert.equal(r.status, 78);
    assert.match(fs.readFileSync(path.join(dir, 'stderr'), 'utf8'), /^<3>r2mirror: .*none\.yaml: cannot read the config file/);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
