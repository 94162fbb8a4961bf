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
import { ensureTrashRule, expiryDays } from '../remote/lifecycle.js';
import type { Store } from '../state/store.js';

/** Deleted in one DeleteObjects. */
const CHUNK = 1000;

/** Put the expiry rule in place, or delete the expired trash; record the trash's size. Never throws but an abort. */
export async function tendTrash(client: S3Client, cfg: FolderConfig, store: Store, log: Logger, signal?: AbortSignal, now = Date.now()): Promise<void> {
  if (cfg.deletes !== 'trash' || cfg.trashRetention === undefined) return;
  const retention = cfg.trashRetention;
  const days = expiryDays(retention);
  const flog = log.child({ folder: cfg.name });
  try {
    const rule = await ensureTrashRule(client, cfg.bucket, cfg.trashPrefix, days, signal);
    const before = store.trash(cfg.name);
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
        if (rule.kind === 'unsupported' && o.lastModified !== undefined && now - o.lastModified >= retention) {
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
