// The trash's expiry rule in a bucket's lifecycle configuration (S3 PutBucketLifecycleConfiguration, which R2
// supports): one rule per trash prefix, with r2mirror's ID, kept in step with `trashRetention` without touching
// the bucket's other rules. Expiry by the server costs r2mirror no request.
// Must not: remove or change a rule r2mirror did not write; import local/, state/ or anything above remote/; log.

import { createHash } from 'node:crypto';
import { DeleteBucketLifecycleCommand, GetBucketLifecycleConfigurationCommand, PutBucketLifecycleConfigurationCommand, type LifecycleRule, type S3Client } from '@aws-sdk/client-s3';
import { errorCode, httpStatus } from '../errors.js';

/** What ensureTrashRule found: the rule was already there, it was written now, or the bucket has no lifecycle API. */
export type RuleOutcome = { readonly kind: 'unchanged' | 'installed' } | { readonly kind: 'unsupported'; readonly reason: string };

/** The ID of r2mirror's rule for a trash prefix (IDs are at most 255 characters). */
export function trashRuleId(prefix: string): string {
  const id = `r2mirror-trash:${prefix}`;
  // a prefix too long for an ID is named by its hash: two long prefixes never share a rule
  return id.length <= 255 ? id : `r2mirror-trash:sha256:${createHash('sha256').update(prefix).digest('hex')}`;
}

/** Read-modify-write of one bucket's configuration, one at a time (folders of one bucket reconcile at once). */
const busy = new WeakMap<S3Client, Map<string, Promise<unknown>>>();
function serialised<T>(client: S3Client, bucket: string, fn: () => Promise<T>): Promise<T> {
  let m = busy.get(client);
  if (!m) busy.set(client, (m = new Map()));
  const run = (m.get(bucket) ?? Promise.resolve()).then(fn, fn);
  m.set(bucket, run.catch(() => undefined));
  return run;
}

/** Whole days, at least 1: what an expiry rule can say of `ms`. */
export function expiryDays(ms: number): number {
  return Math.max(1, Math.ceil(ms / 86_400_000));
}

/** A server without the lifecycle API (501, MethodNotAllowed) or a token not allowed to use it (403). */
function unsupported(err: unknown): string | undefined {
  const code = errorCode(err);
  const status = httpStatus(err);
  if (code === 'NotImplemented' || code === 'MethodNotAllowed' || status === 501 || status === 405) return 'the server has no bucket lifecycle API';
  if (code === 'AccessDenied' || status === 403) return 'the credentials may not read or change the bucket\'s lifecycle rules (an R2 token needs Admin Read & Write for that)';
  return undefined;
}

/** The bucket's lifecycle rules ([] when it has none). */
async function rulesOf(client: S3Client, bucket: string, signal?: AbortSignal): Promise<LifecycleRule[]> {
  try {
    return (await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }), { abortSignal: signal })).Rules ?? [];
  } catch (err) {
    if (errorCode(err) === 'NoSuchLifecycleConfiguration') return [];
    throw err;
  }
}

/** Whether `r` is exactly the rule r2mirror wants for `prefix`. */
function isOurs(r: LifecycleRule, prefix: string, days: number): boolean {
  const p = r.Filter?.Prefix ?? (r as { Prefix?: string }).Prefix;
  return r.ID === trashRuleId(prefix) && r.Status === 'Enabled' && p === prefix && r.Expiration?.Days === days;
}

/**
 * Make the bucket expire objects under `prefix` `days` after they were written (moved to the trash): nothing when
 * the rule is already there, else the bucket's other rules and ours. Throws on other errors (network, bucket gone).
 */
export function ensureTrashRule(client: S3Client, bucket: string, prefix: string, days: number, signal?: AbortSignal): Promise<RuleOutcome> {
  return serialised(client, bucket, async () => {
    let rules: LifecycleRule[];
    try {
      rules = await rulesOf(client, bucket, signal);
    } catch (err) {
      const reason = unsupported(err);
      if (reason === undefined) throw err;
      return { kind: 'unsupported', reason };
    }
    if (rules.some((r) => isOurs(r, prefix, days))) return { kind: 'unchanged' };
    const others = rules.filter((r) => r.ID !== trashRuleId(prefix));
    const ours: LifecycleRule = { ID: trashRuleId(prefix), Status: 'Enabled', Filter: { Prefix: prefix }, Expiration: { Days: days } };
    try {
      await client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: [...others, ours] } }), { abortSignal: signal });
    } catch (err) {
      // A refused write (no API, no permission, too many rules, a configuration the server will not take): the
      // trash is expired by r2mirror instead, and status says why.
      const status = httpStatus(err);
      const reason = unsupported(err) ?? (status !== undefined && status >= 400 && status < 500 ? `the bucket refused the rule: ${errorCode(err) ?? status}` : undefined);
      if (reason === undefined) throw err;
      return { kind: 'unsupported', reason };
    }
    return { kind: 'installed' };
  });
}

/** Remove r2mirror's rule for `prefix` (trashRetention was taken off), keeping the others; true when one was there. */
export function removeTrashRule(client: S3Client, bucket: string, prefix: string, signal?: AbortSignal): Promise<boolean> {
  return serialised(client, bucket, async () => {
    const rules = await rulesOf(client, bucket, signal);
    const others = rules.filter((r) => r.ID !== trashRuleId(prefix));
    if (others.length === rules.length) return false;
    if (others.length) await client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: others } }), { abortSignal: signal });
    else await client.send(new DeleteBucketLifecycleCommand({ Bucket: bucket }), { abortSignal: signal });
    return true;
  });
}
