// Pure rules for object keys and multipart part sizes (R2's limits), and the `mtime` metadata format. No I/O.
// Must not: do I/O or import anything with side effects (the planner and the pure rules load it).

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** R2 rejects keys longer than this many UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** Multipart limits shared by S3 and R2. */
export const MIN_PART = 5 * MiB;
export const MAX_PART = 5 * GiB;
export const MAX_PARTS = 10_000;
/** Default part size: big enough for throughput, small enough for the default 48 MiB memory budget. */
export const DEFAULT_PART = 8 * MiB;

/** The object key for a path relative to the folder root: prefix + path with '/' separators, Unicode NFC. */
export function toKey(prefix: string, rel: string): string {
  return (prefix + rel).normalize('NFC');
}

/** Why a key cannot be stored in R2, or undefined when it can. */
export function keyProblem(key: string): string | undefined {
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) return `its key is ${bytes} bytes long; R2 allows at most ${MAX_KEY_BYTES}`;
  // Control characters cannot travel in the XML of a listing; R2 and S3 tools mangle them.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'its name contains a control character, which object keys cannot carry safely';
  return undefined;
}

const NS = 1_000_000_000n;
const INT64_MAX = 2n ** 63n - 1n;

/**
 * The `mtime` user metadata of a file modified `ns` nanoseconds after the epoch: decimal seconds with 9 fraction
 * digits and the sign in front ("1718000000.123456789", "-315619199.500000000"), which rclone reads back exactly
 * (swift.FloatStringToTime) and tools that parse a float read as well.
 */
export function mtimeToMetadata(ns: bigint): string {
  const abs = ns < 0n ? -ns : ns;
  return `${ns < 0n ? '-' : ''}${abs / NS}.${(abs % NS).toString().padStart(9, '0')}`;
}

/**
 * Nanoseconds since the epoch from an `mtime` metadata value as rclone writes it and reads it: decimal seconds,
 * optional sign and fraction ("1718000000", "-0.5"; digits past the 9th are dropped, as rclone does). Undefined
 * when absent or not such a number, or outside what rclone can hold (int64 nanoseconds, years 1678-2262).
 */
export function mtimeFromMetadata(value: string | undefined): bigint | undefined {
  const m = value === undefined ? null : /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(value.trim());
  if (!m || (m[2] === '' && !m[3])) return undefined;
  const ns = BigInt(m[2] || '0') * NS + BigInt((m[3] ?? '').slice(0, 9).padEnd(9, '0'));
  const signed = m[1] === '-' ? -ns : ns;
  return signed > INT64_MAX || signed < -INT64_MAX - 1n ? undefined : signed;
}

/**
 * The part size for a multipart upload of `size` bytes: the configured (or default) size, raised in whole
 * MiB until the upload needs at most 10,000 parts. All parts but the last have this size (R2's rule).
 * Throws when even 5 GiB parts cannot hold the file.
 */
export function choosePartSize(size: number, configured: number = DEFAULT_PART): number {
  let part = Math.max(MIN_PART, Math.min(configured, MAX_PART));
  if (Math.ceil(size / part) > MAX_PARTS) part = Math.ceil(size / MAX_PARTS / MiB) * MiB;
  if (part > MAX_PART) throw new RangeError(`a file of ${size} bytes needs more than ${MAX_PARTS} parts of 5 GiB`);
  return part;
}

/** Number of parts a multipart upload of `size` bytes with `partSize` parts has. */
export function partCount(size: number, partSize: number): number {
  return Math.max(1, Math.ceil(size / partSize));
}

/** ETag without quotes, lower case. Servers differ (RGW returns some unquoted). */
export function normalizeEtag(etag: string | undefined | null): string {
  return (etag ?? '').replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
}

/** The number of parts an S3-style multipart ETag (`<md5>-<n>`) says the object has, or 0 for a plain MD5. */
export function etagParts(etag: string): number {
  const m = /^[0-9a-f]{32}-(\d+)$/.exec(etag);
  return m ? Number(m[1]) : 0;
}

/**
 * Part sizes that could have produced a multipart object of `size` bytes in `parts` parts: the sizes tools
 * commonly use and every whole MiB in range, nearest first, at most `max`. Used to adopt objects uploaded
 * by other tools without uploading them again.
 */
export function candidatePartSizes(size: number, parts: number, max = 6, ours: number = DEFAULT_PART): number[] {
  const fits = (p: number) => p >= MIN_PART && p <= MAX_PART && Math.ceil(size / p) === parts;
  const out: number[] = [];
  const add = (p: number) => {
    if (fits(p) && !out.includes(p)) out.push(p);
  };
  try {
    add(choosePartSize(size, ours));
  } catch {
    // too large for any part size: no candidate of ours
  }
  for (const p of [8, 5, 16, 10, 15, 32, 64, 100, 128, 256, 512, 1024]) add(p * MiB);
  // Whole MiB sizes in [size/parts, size/(parts-1)).
  const lo = Math.ceil(size / parts / MiB);
  const hi = parts > 1 ? Math.ceil(size / (parts - 1) / MiB) : lo;
  for (let m = lo; m <= hi && out.length < max; m++) add(m * MiB);
  return out.slice(0, max);
}

/**
 * Compare two keys in UTF-8 byte order: the order of ListObjectsV2, of SQLite's BINARY collation and of the
 * streamed reconcile's merge. JS's `<` compares UTF-16 code units, which differs only where a surrogate (a
 * character above U+FFFF) meets a character in U+E000..U+FFFF: there the surrogates are moved above them.
 */
export function compareKeys(a: string, b: string): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}
