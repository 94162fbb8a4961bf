// "Did you mean": the closest of some known words to one the user typed (a command, an option), as git and
// rclone answer a typo.
// Must not: do I/O or import anything: cli.ts and the option parser both use it.

/** Edit distance with adjacent swaps (optimal string alignment): `stauts` is 1 from `status`. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known word closest to `typed` (ignoring case and dashes, so `--dryrun` finds `--dry-run`), or undefined when
 * none is close: at most a third of the word's length away (and at least 1, at most 3 edits).
 */
export function closest(typed: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/-/g, '');
  const t = norm(typed);
  let best: string | undefined;
  let bestD = Math.min(3, Math.max(1, Math.floor(t.length / 3)));
  for (const k of known) {
    const dist = editDistance(t, norm(k));
    if (dist < bestD || (dist === bestD && best === undefined) || dist === 0) {
      if (dist === 0) return k;
      best = k;
      bestD = dist;
    }
  }
  return best;
}
