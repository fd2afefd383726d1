// Evaluation metrics over a corpus of generations (DESIGN.md "Splits and evaluation"), pure functions:
// distinct-n = unique n-grams / all n-grams over the whole corpus, on lower-cased whitespace tokens
// (n-grams never cross two generations; a generation shorter than n adds none; 0 when there are no
// n-grams at all); mean length in model tokens and in words; mean of each reward component and of
// the total. Every mean of an empty corpus is 0, so metrics stay finite (the protocol rejects NaN);
// `count` says how many generations they cover. Tests: test/unit/metrics.test.ts.

import { AlolError } from '../errors.js';

/** Mean reward per component, plus the weighted total (`total` is reserved: no component may use it). */
export type RewardMeans = { total: number } & Record<string, number>;

export interface Metrics {
  reward: RewardMeans;
  distinct1: number;
  distinct2: number;
  distinct3: number;
  /** Mean generated tokens (model tokens, EOS not counted). */
  length: number;
  /** Mean whitespace-separated words. */
  lengthWords: number;
  /** Generations the metrics cover. */
  count: number;
}

/** One generation as the metrics see it. */
export interface GenerationText {
  text: string;
  /** Model tokens generated (EOS excluded). */
  tokens: number;
}

/** Per-generation rewards: the weighted total and each component, parallel to the generations. */
export interface RewardValues {
  total: ArrayLike<number>;
  components: ReadonlyMap<string, ArrayLike<number>>;
}

/** Whitespace tokens of a text (no empty tokens: leading/trailing/repeated whitespace adds none). */
export function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w.length > 0);
}

export function mean(xs: ArrayLike<number>): number {
  if (xs.length === 0) return 0;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/** Unique n-grams / all n-grams over the corpus, on lower-cased whitespace tokens; 0 without n-grams. */
export function distinctN(texts: readonly string[], n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`distinct-n: n must be a positive integer (got ${n})`);
  const seen = new Set<string>();
  let all = 0;
  for (const text of texts) {
    const w = words(text.toLowerCase());
    // Tokens hold no whitespace, so joining them with a space is an unambiguous key.
    for (let i = 0; i + n <= w.length; i++) {
      seen.add(w.slice(i, i + n).join(' '));
      all++;
    }
  }
  return all === 0 ? 0 : seen.size / all;
}

/** Means of the rewards: `total` and one entry per component (in the map's order). */
export function rewardMeans(rewards: RewardValues): RewardMeans {
  const out: RewardMeans = { total: mean(rewards.total) };
  for (const [name, values] of rewards.components) {
    if (name === 'total') {
      const what = "a reward component is named 'total', which is the name of the weighted sum in evaluation metrics";
      throw new AlolError('config', what, 'rename the component');
    }
    out[name] = mean(values);
  }
  return out;
}

/** All metrics of a corpus of generations and their rewards (arrays parallel to `gens`). */
export function corpusMetrics(gens: readonly GenerationText[], rewards: RewardValues): Metrics {
  if (rewards.total.length !== gens.length) throw new Error(
    `metrics: ${rewards.total.length} reward totals for ${gens.length} generations`,
  );
  for (const [name, v] of rewards.components) {
    if (v.length !== gens.length) throw new Error(`metrics: ${v.length} values of reward ${name} for ${gens.length} generations`);
  }
  const texts = gens.map((g) => g.text);
  return {
    reward: rewardMeans(rewards),
    distinct1: distinctN(texts, 1),
    distinct2: distinctN(texts, 2),
    distinct3: distinctN(texts, 3),
    length: mean(gens.map((g) => g.tokens)),
    lengthWords: mean(texts.map((t) => words(t).length)),
    count: gens.length,
  };
}
