// The config's units: sizes ("64MiB"), durations ("1h30m") and maxDelete ("5000", "12.5%"), parsed from a YAML
// value or a command-line string, and sizes/durations written back in the user's units for messages; byte counts
// for people (1.5 KiB).
// Must not: know about YAML nodes, files or positions (callers wrap the problem); import from commands/.

import type { BandwidthEntry, MaxDelete } from './types.js';

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

/** The smallest limit (a 5 MiB part takes 5 min at it; the request timeout grows with the limit, remote/throttle.ts). */
export const MIN_BANDWIDTH = 16 * KiB;

const BANDWIDTH_HELP = 'use bytes per second ("10MiB", "500KiB"), "off", or a schedule of HH:MM,RATE entries ("08:00,2MiB 19:00,off")';

/** One RATE: a size per second of at least MIN_BANDWIDTH, or "off"/0 (no limit). Throws with the reason. */
function parseRate(v: string): number | null {
  if (/^\s*(off|0)\s*$/i.test(v)) return null;
  const n = parseSize(v.replace(/\s*\/\s*s$/i, '')); // "10MiB/s" reads as "10MiB"
  if (n < MIN_BANDWIDTH) throw new Error(`${JSON.stringify(v)} is below the smallest limit, 16 KiB per second`);
  return n;
}

/**
 * The one bandwidth grammar, for the config's `bandwidth` and `--bwlimit`: a rate ("10MiB", a number of bytes,
 * "off"), or a schedule like rclone's, "08:00,2MiB 19:00,off": from each time of day the rate after it, the last
 * one running on past midnight until the first. A single rate is a schedule of one entry at 00:00. Throws an
 * Error whose message says what is wrong and how to write it.
 */
export function parseBandwidth(v: unknown): BandwidthEntry[] {
  if (typeof v === 'number') return [{ minute: 0, rate: parseRate(String(v)) }];
  if (typeof v !== 'string' || v.trim() === '') throw new Error(`invalid bandwidth ${showValue(v)}: ${BANDWIDTH_HELP}`);
  if (!v.includes(',')) {
    try {
      return [{ minute: 0, rate: parseRate(v) }];
    } catch (err) {
      throw new Error(`invalid bandwidth ${showValue(v)}: ${(err as Error).message.startsWith('invalid size') ? BANDWIDTH_HELP : (err as Error).message}`);
    }
  }
  const out: BandwidthEntry[] = [];
  for (const w of v.trim().split(/\s+/)) {
    const m = /^(\d{1,2}):(\d{2}),(.+)$/.exec(w);
    const minute = m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
    if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) throw new Error(`invalid bandwidth schedule entry ${JSON.stringify(w)}: write HH:MM,RATE (00:00 to 23:59), e.g. "08:00,2MiB"; ${BANDWIDTH_HELP}`);
    let rate: number | null;
    try {
      rate = parseRate(m[3]!);
    } catch (err) {
      throw new Error(`invalid rate in bandwidth schedule entry ${JSON.stringify(w)}: ${(err as Error).message.startsWith('invalid size') ? BANDWIDTH_HELP : (err as Error).message}`);
    }
    if (out.length && minute <= out[out.length - 1]!.minute) throw new Error(`bandwidth schedule entry ${JSON.stringify(w)} must come later in the day than the one before it`);
    out.push({ minute, rate });
  }
  return out;
}

/** The limit in force at local time `d` (bytes per second, null: none). */
export function bandwidthAt(schedule: readonly BandwidthEntry[], d: Date): number | null {
  const now = d.getHours() * 60 + d.getMinutes();
  let current = schedule[schedule.length - 1]!; // before the first entry of the day: the last one of yesterday
  for (const e of schedule) if (e.minute <= now) current = e;
  return current.rate;
}

/** "10 MiB/s", "off", or the schedule as written back ("08:00,2 MiB/s 19:00,off"). */
export function fmtBandwidth(schedule: readonly BandwidthEntry[]): string {
  const rate = (r: number | null) => (r === null ? 'off' : `${formatBytes(r)}/s`);
  if (schedule.length === 1 && schedule[0]!.minute === 0) return rate(schedule[0]!.rate);
  const hm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  return schedule.map((e) => `${hm(e.minute)},${rate(e.rate)}`).join(' ');
}
