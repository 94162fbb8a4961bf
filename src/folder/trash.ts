// The trash of a folder with `trashRetention` (deletes: trash), tended at each listing reconcile: the bucket's
// lifecycle rule that expires it is put in place (and kept in step); where the bucket has no lifecycle API (or the
// credentials may not use it), the objects older than the retention are deleted here instead; and what the trash
// holds is recorded for `status`.
// Must not: delete anything outside the trash prefix or younger than trashRetention; fail the reconcile it follows.

import type { S3Client } from '@aws-sdk/client-s3';
import type { FolderConfig } from '../config.js';
import { classify } from '../errors.js';
import type { Logger } from '../log.js';
import { Bucket } from '../remote/bucket.js';
import { ensureTrashRule, expiryDays, removeTrashRule } from '../remote/lifecycle.js';
import type { Store } from '../state/store.js';

/** Deleted in one DeleteObjects. */
const CHUNK = 1000;
/** Trash is deleted only this much after it expired: what is left of a clock difference does not make it early. */
const SKEW_MARGIN_MS = 15 * 60_000;

/** The server's time as the SDK knows it (it corrects its clock offset from a skew answer). */
function serverNow(client: S3Client): number {
  return Date.now() + ((client.config as { systemClockOffset?: number }).systemClockOffset ?? 0);
}

/**
 * trashRetention was taken off (or deletes is no longer trash) where r2mirror had set a rule: remove its rule, so
 * the trash is kept again, as the config now says.
 */
async function forget(client: S3Client, cfg: FolderConfig, store: Store, log: Logger, signal?: AbortSignal): Promise<void> {
  const before = store.trash(cfg.name);
  if (!before) return;
  try {
    if (before.expiry === 'rule' && await removeTrashRule(client, cfg.bucket, before.prefix, signal)) {
      log.info({ prefix: before.prefix }, 'trash expiry rule removed from the bucket lifecycle (no trashRetention)');
    }
    store.clearTrash(cfg.name);
  } catch (err) {
    if (classify(err) === 'abort' || signal?.aborted) throw err;
    log.warn({ err }, 'could not remove the trash expiry rule; trying again at the next listing');
  }
}

/** Put the expiry rule in place, or delete the expired trash; record the trash's size. Never throws but an abort. */
export async function tendTrash(client: S3Client, cfg: FolderConfig, store: Store, log: Logger, signal?: AbortSignal, now = serverNow(client)): Promise<void> {
  const flog = log.child({ folder: cfg.name });
  if (cfg.trashRetention === undefined) return forget(client, cfg, store, flog, signal);
  const days = expiryDays(cfg.trashRetention);
  // the bucket's rule counts whole days; the objects' dates are the server's (now: the clock the SDK corrected to it)
  const retention = days * 86_400_000;
  try {
    const before = store.trash(cfg.name);
    // a trash that moved leaves no rule behind for the old prefix
    if (before && before.prefix !== cfg.trashPrefix && before.expiry === 'rule') await removeTrashRule(client, cfg.bucket, before.prefix, signal);
    const rule = await ensureTrashRule(client, cfg.bucket, cfg.trashPrefix, days, signal);
    if (rule.kind === 'installed') flog.info({ prefix: cfg.trashPrefix, days }, 'trash expiry rule set in the bucket lifecycle');
    if (rule.kind === 'unsupported' && before?.expiry !== 'self') {
      flog.warn({ prefix: cfg.trashPrefix, reason: rule.reason }, 'no lifecycle rule for the trash: expired trash is deleted at each listing instead');
    }
    const bucket = new Bucket(client, cfg.bucket);
    let files = 0;
    let bytes = 0;
    let expired: { key: string; size: number }[] = [];
    const drop = async () => {
      const failed = new Set((await bucket.deleteMany(expired.map((o) => o.key), signal)).map((f) => f.key));
      for (const o of expired) {
        if (!failed.has(o.key)) continue;
        files++;
        bytes += o.size;
      }
      if (expired.length > failed.size) flog.info({ deleted: expired.length - failed.size, failed: failed.size }, 'expired trash deleted');
      expired = [];
    };
    for await (const page of bucket.list(cfg.trashPrefix, signal)) {
      for (const o of page) {
        // never a key outside the trash, whatever a server does with Prefix
        if (!o.key.startsWith(cfg.trashPrefix)) continue;
        if (rule.kind === 'unsupported' && o.lastModified !== undefined && now - o.lastModified >= retention + SKEW_MARGIN_MS) {
          expired.push(o);
          if (expired.length >= CHUNK) await drop();
          continue;
        }
        files++;
        bytes += o.size;
      }
    }
    if (expired.length) await drop();
    store.recordTrash(cfg.name, {
      prefix: cfg.trashPrefix, days, expiry: rule.kind === 'unsupported' ? 'self' : 'rule',
      ...(rule.kind === 'unsupported' ? { reason: rule.reason } : {}), files, bytes, listedAt: now,
    });
  } catch (err) {
    if (classify(err) === 'abort' || signal?.aborted) throw err;
    flog.warn({ err }, 'could not tend the trash; trying again at the next listing');
  }
}
