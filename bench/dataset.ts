// Deterministic benchmark data: a seeded PRNG and the file trees of scenarios A-C, written into a temp dir.
// Bench-only: nothing in src/ or test/ imports this.

import fs from 'node:fs';
import path from 'node:path';
import { mulberry32 } from '../test/harness/r2proxy.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;


/** `bytes` pseudo-random bytes from a 32-bit xorshift seeded with `seed` (fast: one word per step). */
export function randomPool(bytes: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(bytes / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, bytes);
}

/** One small file of the tree. */
export interface SmallFile {
  readonly rel: string;
  size: number;
  version: number;
}

/** Shape of the small-file tree (scenario A). */
export interface TreeSpec {
  readonly files: number;
  readonly minSize: number;
  readonly maxSize: number;
  readonly seed: number;
}

export const TREE: TreeSpec = { files: 5000, minSize: 1 * KiB, maxSize: 64 * KiB, seed: 20250101 };

const EXTS = ['.txt', '.json', '.jpg', '.bin', '.log', '.csv', '.png', '.md'];
const POOL_BYTES = 8 * MiB + 64 * KiB;

/** Writes and rewrites the benchmark files; all content comes from one seeded pool plus a unique header. */
export class Dataset {
  private pool: Buffer | undefined;
  readonly small: SmallFile[] = [];
  private readonly changed = new Set<number>();
  private bigPath: string | undefined;

  constructor(readonly dir: string) {}

  private bytes(): Buffer {
    this.pool ??= randomPool(POOL_BYTES, 0x5eed);
    return this.pool;
  }

  /** `size` bytes of content for `label`: a header naming it, then a pool slice chosen by `rand`. */
  private content(label: string, size: number, rand: () => number): Buffer {
    return labelledContent(this.bytes(), label, size, rand);
  }

  /** The 5,000 small files in ~100 nested dirs (5 top dirs x 4 x 4 = 105 dirs); idempotent. */
  writeSmallTree(root: string, spec: TreeSpec = TREE): void {
    if (this.small.length > 0) return;
    const rand = mulberry32(spec.seed);
    const dirs: string[] = [];
    for (let t = 0; t < 5; t++) {
      dirs.push(`top${t}`);
      for (let s = 0; s < 4; s++) {
        dirs.push(`top${t}/sub${s}`);
        for (let l = 0; l < 4; l++) dirs.push(`top${t}/sub${s}/leaf${l}`);
      }
    }
    for (const d of dirs) fs.mkdirSync(path.join(root, d), { recursive: true });
    for (let i = 0; i < spec.files; i++) {
      const dir = dirs[Math.floor(rand() * dirs.length)]!;
      const ext = EXTS[Math.floor(rand() * EXTS.length)]!;
      const rel = `${dir}/f${String(i).padStart(5, '0')}${ext}`;
      const size = spec.minSize + Math.floor(rand() * (spec.maxSize - spec.minSize + 1));
      fs.writeFileSync(path.join(root, rel), this.content(`${rel} v0`, size, rand));
      this.small.push({ rel, size, version: 0 });
    }
  }

  /**
   * Rewrites `count` small files with new content and a new size (seeded by `round`). Never picks a file
   * changed in an earlier round, so no key is written twice within a second (R2's per-key write limit).
   */
  changeSmall(root: string, count: number, round: number, spec: TreeSpec = TREE): string[] {
    const rand = mulberry32(spec.seed ^ (0x9e3779b9 * (round + 1)));
    const picked: string[] = [];
    let guard = 0;
    while (picked.length < count && guard++ < count * 1000) {
      const i = Math.floor(rand() * this.small.length);
      if (this.changed.has(i)) continue;
      this.changed.add(i);
      const f = this.small[i]!;
      let size = f.size;
      while (size === f.size) size = spec.minSize + Math.floor(rand() * (spec.maxSize - spec.minSize + 1));
      f.size = size;
      f.version++;
      fs.writeFileSync(path.join(root, f.rel), this.content(`${f.rel} v${f.version} r${round}`, size, rand));
      picked.push(f.rel);
    }
    return picked;
  }

  /** Total bytes of the small files as they are now. */
  smallBytes(): number {
    return this.small.reduce((n, f) => n + f.size, 0);
  }

  /** Writes `count` files of exactly `size` bytes under `root/rel` (`<rel>/m00.bin`, ...). */
  writeMedium(root: string, rel: string, count: number, size: number, seed: number): void {
    const rand = mulberry32(seed);
    fs.mkdirSync(path.join(root, rel), { recursive: true });
    for (let i = 0; i < count; i++) {
      const name = `${rel}/m${String(i).padStart(2, '0')}.bin`;
      fs.writeFileSync(path.join(root, name), this.chunked(name, size, rand));
    }
  }

  /** Content of a large file: 4 MiB chunks, each with its own header and pool slice. */
  private chunked(label: string, size: number, rand: () => number): Buffer {
    const out = Buffer.allocUnsafe(size);
    const chunk = 4 * MiB;
    for (let off = 0; off < size; off += chunk) {
      const n = Math.min(chunk, size - off);
      this.content(`${label} @${off}`, n, rand).copy(out, off);
    }
    return out;
  }

  /** The big file (written once into the dataset dir, streamed in 8 MiB pieces); returns its path. */
  bigFile(size: number, seed: number): string {
    if (this.bigPath) return this.bigPath;
    const p = path.join(this.dir, 'big.bin');
    const rand = mulberry32(seed);
    const fd = fs.openSync(p, 'w');
    try {
      const piece = 8 * MiB;
      for (let off = 0; off < size; off += piece) {
        const n = Math.min(piece, size - off);
        fs.writeSync(fd, this.chunked(`big @${off}`, n, rand));
      }
    } finally {
      fs.closeSync(fd);
    }
    this.bigPath = p;
    return p;
  }

  /** Puts the big file at `root/rel` as a hard link (no second copy on disk). */
  linkBig(root: string, rel: string, size: number, seed: number): void {
    const dest = path.join(root, rel);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    if (!fs.existsSync(dest)) fs.linkSync(this.bigFile(size, seed), dest);
  }
}

/** `size` bytes: a header naming `label` (so every file differs), then a slice of `pool` chosen by `rand`. */
export function labelledContent(pool: Buffer, label: string, size: number, rand: () => number): Buffer {
  const head = Buffer.from(`r2mirror-bench ${label}\n`);
  const out = Buffer.allocUnsafe(size);
  const n = head.copy(out, 0, 0, Math.min(head.length, size));
  const rest = size - n;
  if (rest > 0) {
    const off = Math.floor(rand() * (pool.length - rest));
    pool.copy(out, n, off, off + rest);
  }
  return out;
}
