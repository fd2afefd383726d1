// The reward report of a run config: per component, its distribution over the dataset, its
// correlation with response length and with the other components, and its share of the total — so
// reward hacking by length, or one component dominating, is visible before training.

import { type Summary, summarize } from './summary.js';

export interface ComponentReport {
  name: string;
  weight: number;
  range: readonly [number, number];
  summary: Summary;
  /** Pearson correlation with the response length in words (null when either is constant). */
  lengthCorrelation: number | null;
  /** Pearson correlation with each other component. */
  correlations: Record<string, number | null>;
  /** sum of weight * value over rows / sum of totals (of absolute contributions when totals cancel). */
  shareOfTotal: number;
  warnings: string[];
}

export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  const n = a.length;
  if (n < 2 || b.length !== n) return null;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : null;
}

export const wordCount = (s: string): number => s.trim().split(/\s+/).filter(Boolean).length;

export function rewardReport(
  components: readonly { name: string; weight: number; range: readonly [number, number]; values: Float64Array }[],
  responses: readonly string[],
): ComponentReport[] {
  const lengths = Float64Array.from(responses, wordCount);
  const contribution = components.map((c) => c.values.reduce((s, v) => s + Math.abs(c.weight * v), 0));
  const all = contribution.reduce((s, x) => s + x, 0);
  return components.map((c, k) => {
    const lengthCorrelation = pearson(c.values, lengths);
    const others = components.filter((other) => other !== c);
    const correlations = Object.fromEntries(others.map((other) => [other.name, pearson(c.values, other.values)]));
    const shareOfTotal = all > 0 ? contribution[k] / all : 0;
    const warnings: string[] = [];
    if (lengthCorrelation !== null && Math.abs(lengthCorrelation) >= 0.5) {
      const r = lengthCorrelation.toFixed(2);
      const longer = lengthCorrelation > 0 ? 'longer' : 'shorter';
      warnings.push(`correlates with response length (r = ${r}): a policy can raise it by writing ${longer} responses`);
    }
    if (components.length > 1 && shareOfTotal >= 0.7) {
      warnings.push(`makes up ${(100 * shareOfTotal).toFixed(0)}% of the total: the other components barely matter`);
    }
    const s = summarize(c.values, c.range);
    if (s.max - s.min < 1e-9 * Math.max(1, c.range[1] - c.range[0])) warnings.push('is constant on this data: it cannot tell rows apart');
    return { name: c.name, weight: c.weight, range: c.range, summary: s, lengthCorrelation, correlations, shareOfTotal, warnings };
  });
}
