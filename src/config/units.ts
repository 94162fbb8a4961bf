// The config's units: sizes ("64MiB"), durations ("1h30m") and maxDelete ("5000", "12.5%"), parsed from a YAML
// value or a command-line string, and sizes/durations written back in the user's units for messages; byte counts
// for people (1.5 KiB).
// Must not: know about YAML nodes, files or positions (callers wrap the problem); import from commands/.

import type { MaxDelete } from './types.js';

export const KiB = 1024;
export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;
export const TiB = 1024 ** 4;

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1, b: 1,
  k: KiB, kib: KiB, kb: 1e3,
  m: MiB, mib: MiB, mb: 1e6,
  g: GiB, gib: GiB, gb: 1e9,
  t: TiB, tib: TiB, tb: 1e12,
};
const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5 };

/** A plain value for messages: strings quoted, collections named. */
export function showValue(x: unknown): string {
  if (Array.isArray(x)) return 'a list';
  if (x === null || x === undefined) return 'an empty value';
  if (typeof x === 'string') return JSON.stringify(x);
  return typeof x === 'object' ? 'a mapping' : String(x);
}

/** Bytes from a number of bytes or a string like "64MiB", "1.5 GiB", "10MB" (SI); K/M/G/T alone are binary. */
export function parseSize(v: unknown): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(v) : null;
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  const n = m && unit ? Math.round(Number(m[1]) * unit) : NaN;
  if (Number.isSafeInteger(n)) return n;
  throw new Error(`invalid size ${showValue(v)}: use a number of bytes (1048576) or a number with a unit: ` +
    'KiB, MiB, GiB, TiB (or K, M, G, T: x1024) or KB, MB, GB, TB (x1000)');
}

/** Milliseconds from a number (ms) or a string like "500ms", "30s", "5m", "1h30m", "2.5s", "1d". */
export function parseDuration(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v);
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^\d+(?:\.\d+)?$/.test(s)) return Math.round(Number(s));
    const re = /\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/y; // 'ms' before 'm' so "500ms" is not read as minutes
    let ms = 0;
    let end = 0;
    for (let m = re.exec(s); m; m = re.exec(s)) {
      ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
      end = re.lastIndex;
    }
    if (end > 0 && end === s.length) return Math.round(ms);
  }
  throw new Error(`invalid duration ${showValue(v)}: use milliseconds (1500) or numbers with units ms, s, m, h, d ("30s", "1h30m")`);
}

const SIZE_NAMES = [['TiB', TiB], ['GiB', GiB], ['MiB', MiB], ['KiB', KiB], ['bytes', 1]] as const;
const DURATION_NAMES = [['d', 864e5], ['h', 36e5], ['m', 6e4], ['s', 1e3], ['ms', 1]] as const;
/** Bytes in the largest binary unit that divides them ("16 MiB", "100 bytes"). */
export const fmtSize = (n: number): string => inUnits(n, SIZE_NAMES, ' ');
/** Milliseconds in the largest unit that divides them ("1d", "90s", "1500ms"). */
export const fmtDuration = (n: number): string => inUnits(n, DURATION_NAMES, '');

function inUnits(n: number, units: ReadonlyArray<readonly [string, number]>, sep: string): string {
  const [name, k] = units.find(([, k]) => n >= k && n % k === 0) ?? units[units.length - 1]!;
  return `${n / k}${sep}${name}`;
}

/**
 * The one maxDelete grammar, for the config file and `sync --max-delete`: a count of files, a whole number >= 0
 * ("5000"; a YAML integer too), or a percentage of the folder's objects from "0%" to "100%", decimals allowed
 * ("25%", "12.5%", "12.5 %"). Anything else (negative, a fraction of a file, over 100%, another unit) is
 * undefined, and the caller words the error its own way.
 */
export function parseMaxDelete(v: unknown): MaxDelete | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? { kind: 'count', count: v + 0 } : undefined; // + 0: no -0
  if (typeof v !== 'string') return undefined;
  const count = /^\s*(\d+)\s*$/.exec(v);
  if (count) return Number.isSafeInteger(Number(count[1])) ? { kind: 'count', count: Number(count[1]) } : undefined;
  const percent = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
  return percent && Number(percent[1]) <= 100 ? { kind: 'percent', percent: Number(percent[1]) } : undefined;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${BYTE_UNITS[i]}`;
}
