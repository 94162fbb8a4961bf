// The `uploads` and `upload_parts` tables: the multipart uploads of ours that are open on the server, with the
// file identity each began from and every part the server confirmed, so an interrupted upload can be resumed.
// Must not: decide whether an upload may be resumed (transfer/resume.ts does); import from commands/ or above state/.

import type { StateDb } from './db.js';
import type { RawUpload } from './statements.js';

/** One confirmed part of an open upload. */
export interface UploadPartRow {
  readonly size: number;
  /** Hex MD5 of the part's bytes. */
  readonly md5: string;
  readonly etag: string;
}

/** One open multipart upload, as recorded when it began, with its confirmed parts by number. */
export interface UploadRow {
  readonly key: string;
  readonly uploadId: string;
  readonly bucket: string;
  readonly partSize: number;
  readonly size: number;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly ino: string;
  readonly startedAt: number;
  readonly touchedAt: number;
  readonly parts: ReadonlyMap<number, UploadPartRow>;
}


/** The uploads tables of one open DB. */
export class UploadTable {
  constructor(private readonly sdb: StateDb) {}

  private get stmts() {
    return this.sdb.stmts.uploads;
  }

  /** The open upload of `key`, with its parts; undefined when none is recorded. */
  find(folder: string, key: string): UploadRow | undefined {
    return this.sdb.guard(() => {
      const r = this.stmts.get.get(folder, key);
      return r && this.withParts(folder, r);
    });
  }

  /** Every open upload of the folder (without their parts), by key. */
  list(folder: string): Omit<UploadRow, 'parts'>[] {
    return this.sdb.guard(() => this.stmts.all.all(folder).map(toUpload));
  }

  /** Record an upload that just began (replacing any other record of the key: its caller has ended that one). */
  begin(folder: string, u: Omit<UploadRow, 'parts' | 'touchedAt'>): void {
    this.sdb.transaction(() => {
      this.stmts.del.run(folder, u.key);
      this.stmts.insert.run({
        folder, key: u.key, upload_id: u.uploadId, bucket: u.bucket, part_size: u.partSize, size: u.size, mtime_ns: u.mtimeNs,
        ctime_ns: u.ctimeNs, ino: u.ino, started_at: u.startedAt,
      });
    });
  }

  /** Record a part the server confirmed (nothing, when the upload is no longer recorded). */
  part(folder: string, key: string, uploadId: string, n: number, p: UploadPartRow): void {
    this.sdb.guard(() => this.stmts.part.run({ folder, key, upload_id: uploadId, n, size: p.size, md5: p.md5, etag: p.etag }));
  }

  /** Note an attempt to send or resume the upload now. */
  touch(folder: string, key: string, uploadId: string, at: number): void {
    this.sdb.guard(() => this.stmts.touch.run(at, folder, key, uploadId));
  }

  /** Forget the upload (completed or aborted), with its parts. */
  end(folder: string, key: string, uploadId: string): void {
    this.sdb.guard(() => this.stmts.delId.run(folder, key, uploadId));
  }

  private withParts(folder: string, r: RawUpload): UploadRow {
    const parts = new Map<number, UploadPartRow>();
    for (const p of this.stmts.parts.all(folder, r.key, r.upload_id)) parts.set(p.part_number, { size: p.size, md5: p.md5, etag: p.etag });
    return { ...toUpload(r), parts };
  }
}

const toUpload = (r: RawUpload): Omit<UploadRow, 'parts'> => ({
  key: r.key, uploadId: r.upload_id, bucket: r.bucket, partSize: r.part_size, size: r.size, mtimeNs: r.mtime_ns, ctimeNs: r.ctime_ns,
  ino: r.ino, startedAt: r.started_at, touchedAt: r.touched_at,
});
