// Summaries of score vectors: mean, min, max and a histogram over fixed bin edges (the declared
// range split evenly), plus a text rendering for the CLI.

export interface Histogram {
  edges: number[];
  counts: number[];
}

export interface Summary {
  count: number;
  mean: number;
  min: number;
  max: number;
  histogram: Histogram;
}

export function histogram(values: ArrayLike<number>, lo: number, hi: number, bins = 10): Histogram {
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const k = Math.min(bins - 1, Math.max(0, Math.floor(((values[i] - lo) / (hi - lo)) * bins)));
    counts[k]++;
  }
  return { edges, counts };
}

export function summarize(values: ArrayLike<number>, range: readonly [number, number], bins = 10): Summary {
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    min = Math.min(min, values[i]);
    max = Math.max(max, values[i]);
  }
  const mean = values.length ? sum / values.length : NaN;
  return { count: values.length, mean, min, max, histogram: histogram(values, range[0], range[1], bins) };
}

const fmt = (x: number): string => (Number.isInteger(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));

/** One line per bin: "[0.00, 0.10)  ######          123". */
export function renderHistogram(h: Histogram, width = 40): string[] {
  const most = Math.max(1, ...h.counts);
  return h.counts.map((c, i) => {
    const label = `[${fmt(h.edges[i])}, ${fmt(h.edges[i + 1])}${i === h.counts.length - 1 ? ']' : ')'}`.padEnd(16);
    return `  ${label} ${'#'.repeat(Math.round((c / most) * width)).padEnd(width)} ${c}`;
  });
}
