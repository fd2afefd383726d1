// Advantages A = R - V, kept = A > 0, and a histogram over fixed bin edges chosen from the data with
// zero always an edge (so kept and filtered rows never share a bin except for A == 0 exactly, which
// is filtered and falls in the bin starting at 0).

/** A = R - V per row, which rows A-LoL keeps (A > 0), and their counts overall and per row kind. */
export interface Advantages {
  advantages: Float64Array;
  kept: boolean[];
  nKept: number;
  positiveFraction: number;
  histogram: AdvantageHistogram;
  byKind: Record<string, { kept: number; filtered: number }>;
}

export function advantagesOf(rewards: ArrayLike<number>, values: ArrayLike<number>, kinds: readonly string[]): Advantages {
  const advantages = Float64Array.from({ length: rewards.length }, (_, i) => rewards[i] - values[i]);
  const kept = Array.from(advantages, (a) => a > 0);
  const nKept = kept.filter(Boolean).length;
  const byKind: Record<string, { kept: number; filtered: number }> = {};
  kinds.forEach((kind, i) => {
    const k = (byKind[kind] ??= { kept: 0, filtered: 0 });
    if (kept[i]) k.kept++;
    else k.filtered++;
  });
  const histogram = advantageHistogram(advantages, advantageEdges(advantages));
  return { advantages, kept, nKept, positiveFraction: nKept / advantages.length, histogram, byKind };
}

export interface AdvantageHistogram {
  edges: number[];
  kept: number[];
  filtered: number[];
}

/** Roughly `bins` bins of a "nice" width spanning [min, max], with 0 an edge. */
export function advantageEdges(values: ArrayLike<number>, bins = 24): number[] {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  if (hi === lo) return [-1, 0, 1];
  const raw = (hi - lo) / bins;
  const p = 10 ** Math.floor(Math.log10(raw));
  const width = [1, 2, 2.5, 5, 10].map((m) => m * p).find((w) => w >= raw) as number;
  const first = Math.floor(lo / width);
  const last = Math.max(first + 1, Math.floor(hi / width) + 1); // the max falls inside the last bin
  return Array.from({ length: last - first + 1 }, (_, i) => Number(((first + i) * width).toPrecision(12)));
}

export function advantageHistogram(advantages: ArrayLike<number>, edges: readonly number[]): AdvantageHistogram {
  const n = edges.length - 1;
  const kept = new Array<number>(n).fill(0);
  const filtered = new Array<number>(n).fill(0);
  for (let i = 0; i < advantages.length; i++) {
    const a = advantages[i];
    let k = edges.findIndex((e, j) => j < n && a >= e && a < edges[j + 1]);
    if (k < 0) k = a < edges[0] ? 0 : n - 1;
    if (a > 0) kept[k]++;
    else filtered[k]++;
  }
  return { edges: [...edges], kept, filtered };
}

/** Text rendering: one line per bin, kept rows as '#', filtered as '.'. */
export function renderAdvantageHistogram(h: AdvantageHistogram, width = 50): string[] {
  const most = Math.max(1, ...h.kept.map((k, i) => k + h.filtered[i]));
  return h.kept.map((k, i) => {
    const f = h.filtered[i];
    const bar = '.'.repeat(Math.round((f / most) * width)) + '#'.repeat(Math.round((k / most) * width));
    const label = `[${h.edges[i].toFixed(3)}, ${h.edges[i + 1].toFixed(3)})`.padEnd(20);
    return `  ${label} ${bar.padEnd(width)} ${k + f}${h.edges[i] === 0 ? '   <- A = 0' : ''}`;
  });
}
