// Preference pairs from several scored responses per prompt (config `data.pairs`): the {prompt, response}
// rows of a group that share a prompt are ordered by their total reward, and pairs (chosen = the higher
// reward) are formed from them — best vs worst, or every two rows — when the reward difference reaches
// `minMargin` (and is never 0: a tie says nothing about which is better). Pair and HH records keep the
// pairs they state. Pure: rewards in, pairs out. Tests: test/unit/pairs.test.ts.

import type { RunConfig } from '../../protocol/config.js';
import type { Pair, Row } from './rows.js';

export type PairingOptions = RunConfig['data']['pairs'];

/** Two rows of one prompt by their indices in the rows given, chosen (higher reward) first. */
export interface IndexPair {
  chosen: number;
  rejected: number;
  /** reward(chosen) - reward(rejected), > 0; null for a pair a record states. */
  margin: number | null;
}

/** The {prompt, response} rows (kind 'row') of each (group, prompt), by index, in dataset order; only those with >= 2 rows. */
export function responseSets(rows: readonly Pick<Row, 'kind' | 'group' | 'prompt'>[]): number[][] {
  const sets = new Map<string, number[]>();
  rows.forEach((row, i) => {
    if (row.kind !== 'row') return;
    const key = JSON.stringify([row.group, row.prompt]);
    const set = sets.get(key);
    if (set) set.push(i);
    else sets.set(key, [i]);
  });
  return [...sets.values()].filter((s) => s.length >= 2);
}

/**
 * Pairs of the rows' response sets by `totals` (parallel to rows). Order within a set: reward high to
 * low, ties in dataset order, so "best" is the first row of the highest reward and "worst" the last of
 * the lowest. `best-worst`: one pair per set; `all`: every two rows of different reward.
 */
export function formPairs(
  rows: readonly Pick<Row, 'kind' | 'group' | 'prompt'>[],
  totals: ArrayLike<number>,
  opts: PairingOptions,
): IndexPair[] {
  if (totals.length !== rows.length) throw new Error(`formPairs: ${totals.length} rewards for ${rows.length} rows`);
  const out: IndexPair[] = [];
  const keep = (chosen: number, rejected: number): void => {
    const margin = totals[chosen] - totals[rejected];
    if (margin > 0 && margin >= opts.minMargin) out.push({ chosen, rejected, margin });
  };
  for (const set of responseSets(rows)) {
    const order = [...set].sort((a, b) => totals[b] - totals[a] || a - b);
    if (opts.from === 'best-worst') keep(order[0], order[order.length - 1]);
    else for (let i = 0; i < order.length; i++) for (let j = i + 1; j < order.length; j++) keep(order[i], order[j]);
  }
  return out;
}

/** Index pairs as Pair records (for preference accuracy): id `${chosen.id}>${rejected.id}`, the chosen row's line. */
export function pairsOf(rows: readonly Row[], pairs: readonly IndexPair[]): Pair[] {
  return pairs.map(({ chosen, rejected }) => {
    const c = rows[chosen];
    const r = rows[rejected];
    return { id: `${c.id}>${r.id}`, file: c.file, line: c.line, prompt: c.prompt, chosen: c, rejected: r, split: c.split };
  });
}

/** The pairs that pair and HH records state, by index into `rows`: both halves present (e.g. neither excluded). */
export function statedPairs(rows: readonly Pick<Row, 'kind' | 'pairId'>[]): IndexPair[] {
  const byPair = new Map<string, [number?, number?]>();
  rows.forEach((row, i) => {
    if (!row.pairId || (row.kind !== 'chosen' && row.kind !== 'rejected')) return;
    const p = byPair.get(row.pairId) ?? [];
    p[row.kind === 'chosen' ? 0 : 1] = i;
    byPair.set(row.pairId, p);
  });
  const out: IndexPair[] = [];
  for (const [c, r] of byPair.values()) if (c !== undefined && r !== undefined) out.push({ chosen: c, rejected: r, margin: null });
  return out;
}
