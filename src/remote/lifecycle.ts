// The trash's expiry rule in a bucket's lifecycle configuration (S3 PutBucketLifecycleConfiguration, which R2
// supports): one rule per trash prefix, with r2mirror's ID, kept in step with `trashRetention` without touching
// the bucket's other rules. Expiry by the server costs r2mirror no request.
// Must not: remove or change a rule r2mirror did not write; import local/, state/ or anything above remote/; log.

import { GetBucketLifecycleConfigurationCommand, PutBucketLifecycleConfigurationCommand, type LifecycleRule, type S3Client } from '@aws-sdk/client-s3';
import { errorCode, httpStatus } from '../errors.js';

/** What ensureTrashRule found: the rule was already there, it was written now, or the bucket has no lifecycle API. */
export type RuleOutcome = { readonly kind: 'unchanged' | 'installed' } | { readonly kind: 'unsupported'; readonly reason: string };

/** The ID of r2mirror's rule for a trash prefix (IDs are at most 255 characters). */
export function trashRuleId(prefix: string): string {
  return `r2mirror-trash:${prefix}`.slice(0, 255);
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
export async function ensureTrashRule(client: S3Client, bucket: string, prefix: string, days: number, signal?: AbortSignal): Promise<RuleOutcome> {
  try {
    const rules = await rulesOf(client, bucket, signal);
    if (rules.some((r) => isOurs(r, prefix, days))) return { kind: 'unchanged' };
    const others = rules.filter((r) => r.ID !== trashRuleId(prefix));
    const ours: LifecycleRule = { ID: trashRuleId(prefix), Status: 'Enabled', Filter: { Prefix: prefix }, Expiration: { Days: days } };
    await client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: [...others, ours] } }), { abortSignal: signal });
    return { kind: 'installed' };
  } catch (err) {
    const reason = unsupported(err);
    if (reason === undefined) throw err;
    return { kind: 'unsupported', reason };
  }
}
