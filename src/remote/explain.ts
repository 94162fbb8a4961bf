// The old address of explainS3Error: a thin caller of errors.ts's S3 failure table, kept while callers (restore)
// still import it from here. New code imports explainS3Error from errors.ts; delete this file once nothing does.
// Must not: hold words, exit codes or rules of its own; import anything but errors.ts; send a request.

import { explainS3Error as explain, type S3Scope } from '../errors.js';

/** What the failed request was about (see S3Scope in errors.ts). */
export type ErrorScope = S3Scope;

/** The FatalError to report for a failed S3 request (errors.ts explainS3Error). */
export function explainS3Error(err: unknown, scope: ErrorScope): unknown {
  return explain(err, scope);
}
