// What the baselines' losses read beside the batch, from rewards and prompt groups (pure): the median
// threshold, filtered_bc's kept rows, kto's desirable rows, qrpo's quantile rewards q and pro's ranking
// matrices. A "prompt group" is the rows that answer one prompt (same group and prompt text).

/** The median (the mean of the two middle values for an even count). */
export function median(xs: ArrayLike<number>): number {
  if (xs.length === 0) throw new Error('median of no values');
  const s = Float64Array.from(xs).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Row indices per prompt group (all groups, singletons too), groups and rows in first-appearance order. */
export function promptGroups(keys: readonly string[]): number[][] {
  const by = new Map<string, number[]>();
  keys.forEach((k, i) => {
    const list = by.get(k);
    if (list) list.push(i);
    else by.set(k, [i]);
  });
  return [...by.values()];
}

/** The key of a row's prompt group. */
export const promptKey = (r: { group: string; prompt: string }): string => JSON.stringify([r.group, r.prompt]);

/** A group's rows ordered by reward, high to low, ties in the order given (dataset order). */
export const byReward = (rows: readonly number[], rewards: ArrayLike<number>): number[] =>
  [...rows].sort((a, b) => rewards[b] - rewards[a] || rows.indexOf(a) - rows.indexOf(b));

/**
 * filtered_bc's rule: `threshold` keeps rows with R >= threshold (null: the median); `best_of_prompt` keeps
 * one row per prompt group, its highest reward (ties: the first in dataset order; a lone response is its best).
 */
export function filterKeep(
  rewards: ArrayLike<number>,
  keys: readonly string[],
  rule: 'threshold' | 'best_of_prompt',
  threshold: number | null,
): boolean[] {
  if (rule === 'threshold') {
    const t = threshold ?? median(rewards);
    return Array.from(rewards, (r) => r >= t);
  }
  const keep = new Array<boolean>(rewards.length).fill(false);
  for (const g of promptGroups(keys)) keep[byReward(g, rewards)[0]] = true;
  return keep;
}

/** kto: desirable rows (R >= threshold; null: the median). */
export function ktoDesirable(rewards: ArrayLike<number>, threshold: number | null): boolean[] {
  const t = threshold ?? median(rewards);
  return Array.from(rewards, (r) => r >= t);
}

/**
 * qrpo's q per row: the share of its reference rewards <= R. `reference[i]` lists row i's reference rewards;
 * null: the row has none (it cannot be trained on), q is NaN.
 */
export function qrpoQuantiles(rewards: ArrayLike<number>, reference: readonly (readonly number[] | null)[]): Float64Array {
  return Float64Array.from(reference, (refs, i) =>
    refs && refs.length ? refs.filter((x) => x <= rewards[i]).length / refs.length : NaN,
  );
}

/** With field rewards: each row's reference rewards are those of its prompt group's other responses (null when alone). */
export function datasetReferenceRewards(rewards: ArrayLike<number>, keys: readonly string[]): (number[] | null)[] {
  const out: (number[] | null)[] = new Array(rewards.length).fill(null);
  for (const g of promptGroups(keys)) {
    if (g.length < 2) continue;
    for (const i of g) out[i] = g.filter((j) => j !== i).map((j) => rewards[j]);
  }
  return out;
}

/**
 * pro's inputs for a batch of B rows: `best` [B] (1 on each prompt's best row), `after` [B, B] (row i ranks
 * after row k in k's prompt) and `temp` [B, B] (R_k - R_i there). `keys[b]` is row b's prompt group; null
 * marks a padding row (no term). Order within a prompt: reward high to low, ties in batch order.
 */
export function proInputs(
  rewards: ArrayLike<number>,
  keys: readonly (string | null)[],
): { best: Float32Array; after: Float32Array; temp: Float32Array } {
  const b = keys.length;
  const best = new Float32Array(b);
  const after = new Float32Array(b * b);
  const temp = new Float32Array(b * b);
  const real = keys.flatMap((k, i) => (k === null ? [] : [i]));
  for (const g of promptGroups(real.map((i) => keys[i] as string))) {
    const order = byReward(g.map((j) => real[j]), rewards);
    best[order[0]] = 1;
    order.forEach((k, r) => {
      for (const i of order.slice(r + 1)) {
        after[k * b + i] = 1;
        temp[k * b + i] = rewards[k] - rewards[i];
      }
    });
  }
  return { best, after, temp };
}
