// Read-only browsing of the bucket side for `r2mirror ls` and `r2mirror buckets`: ListBuckets and a paged
// ListObjectsV2 that yields one page at a time (so a caller can print a million keys without holding them).
// Knows nothing of disks or the state DB; never writes.
// Must not: write to the bucket; import local/, state/ or anything above remote/.

import { ListBucketsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { normalizeEtag } from '../keys.js';

/** One bucket as ListBuckets shows it. */
export interface BucketInfo {
  readonly name: string;
  readonly creationDate: Date | undefined;
}

/** One object as a listing shows it, with its last-modified time. */
export interface ListedObject {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date | undefined;
  /** Without quotes, lower case (see normalizeEtag). */
  readonly etag: string;
}

/** One page of a listing: objects, and (with a delimiter) the common prefixes ("directories"). */
export interface ListPage {
  readonly objects: ListedObject[];
  readonly prefixes: string[];
}

/** Every bucket the credentials can see (one ListBuckets request; R2 answers all buckets at once). */
export async function listBuckets(client: S3Client, signal?: AbortSignal): Promise<BucketInfo[]> {
  const out: BucketInfo[] = [];
  let token: string | undefined;
  do {
    const res = await client.send(new ListBucketsCommand({ ContinuationToken: token }), { abortSignal: signal });
    for (const b of res.Buckets ?? []) out.push({ name: b.Name ?? '', creationDate: b.CreationDate });
    token = res.ContinuationToken || undefined;
  } while (token);
  return out;
}

/**
 * The objects under `prefix`, page by page (up to 1,000 entries a page, following continuation tokens).
 * Without `recursive` the listing stops at the next '/' and reports deeper keys as common prefixes.
 */
export async function* listPages(client: S3Client, bucket: string, prefix: string, opts: { recursive: boolean; signal?: AbortSignal | undefined }): AsyncGenerator<ListPage> {
  let token: string | undefined;
  do {
    const res = await client.send(new ListObjectsV2Command({
      Bucket: bucket, Prefix: prefix || undefined, Delimiter: opts.recursive ? undefined : '/', ContinuationToken: token,
    }), { abortSignal: opts.signal });
    yield {
      objects: (res.Contents ?? []).map((o) => ({ key: o.Key ?? '', size: o.Size ?? 0, lastModified: o.LastModified, etag: normalizeEtag(o.ETag) })),
      prefixes: (res.CommonPrefixes ?? []).map((p) => p.Prefix ?? '').filter(Boolean),
    };
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
}
