// Small statistics and table helpers for the benchmark report. Bench-only; pure functions, no I/O.

/** Median (mean of the two middle values for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median, min and max of a sample. */
export interface Summary {
  readonly n: number;
  readonly med: number;
  readonly min: number;
  readonly max: number;
}

export function summarize(xs: readonly number[]): Summary {
  return { n: xs.length, med: median(xs), min: xs.length ? Math.min(...xs) : NaN, max: xs.length ? Math.max(...xs) : NaN };
}

/** "12.3 (11.9-13.0)"; just the median when min = max or n = 1. */
export function fmtSummary(s: Summary, digits: number): string {
  if (!Number.isFinite(s.med)) return '-';
  const f = (x: number) => x.toFixed(digits);
  if (s.n <= 1 || f(s.min) === f(s.max)) return f(s.med);
  return `${f(s.med)} (${f(s.min)}-${f(s.max)})`;
}

/** A GitHub-flavoured markdown table (also readable as plain text on a terminal). */
export function mdTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
