// Turns an S3 error met by a one-shot tool (ls, buckets, cors) into a FatalError a user can act on: it names the
// bucket and the endpoint and picks the exit code. Never puts a credential into a message; sends no request.

import { ExitCode, FatalError, LOCAL_REQUEST_CODES, classify, describeError, errorCode, httpStatus } from '../errors.js';

/** What the failed request was about, for the message. */
export interface ErrorScope {
  /** The bucket, when the request was about one. */
  readonly bucket?: string | undefined;
  readonly endpoint: string;
}

/**
 * The error to report for a failed S3 request: a FatalError with exit code 78 (missing bucket, rejected
 * credentials, access denied, clock skew), 75 (the endpoint did not answer usefully after retries) or 1 (the
 * server refused this request). Aborts and errors without an S3 or network shape are returned unchanged.
 */
export function explainS3Error(err: unknown, scope: ErrorScope): unknown {
  if (err instanceof FatalError || classify(err) === 'abort') return err;
  const code = errorCode(err);
  const status = httpStatus(err);
  const where = scope.bucket === undefined ? scope.endpoint : `bucket ${scope.bucket}`;
  const opts = { cause: err };
  switch (code) {
    case 'NoSuchBucket':
      return new FatalError(`bucket ${scope.bucket ?? '?'} does not exist at ${scope.endpoint}; check the name (r2mirror buckets lists them)`, ExitCode.CONFIG, opts);
    case 'InvalidAccessKeyId':
      return new FatalError(`${where}: the server does not know the access key id (InvalidAccessKeyId); check the credentials`, ExitCode.CONFIG, opts);
    case 'SignatureDoesNotMatch':
      return new FatalError(`${where}: the secret access key is wrong (SignatureDoesNotMatch); check the credentials`, ExitCode.CONFIG, opts);
    case 'RequestTimeTooSkewed':
      return new FatalError(`${where}: this machine's clock differs too much from the server's (RequestTimeTooSkewed); fix the time (NTP)`, ExitCode.CONFIG, opts);
    default:
      if (code && LOCAL_REQUEST_CODES.has(code)) {
        return new FatalError(`${where}: the request could not be sent (${describeError(err)}); check the credentials for spaces, newlines or other characters that do not belong in an access key`, ExitCode.CONFIG, opts);
      }
  }
  if (code === 'AccessDenied' || status === 403) {
    return new FatalError(`${where}: access denied (${describeError(err)}); the token lacks the permission for this request`, ExitCode.CONFIG, opts);
  }
  if (classify(err) === 'retry') {
    return new FatalError(`${where}: the endpoint ${scope.endpoint} did not answer usefully after retries: ${describeError(err)}`, ExitCode.TEMPFAIL, opts);
  }
  if (status !== undefined) return new FatalError(`${where}: the server refused the request: ${describeError(err)}`, ExitCode.FILES_FAILED, opts);
  return err;
}
