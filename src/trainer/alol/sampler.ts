// Training-row samplers (DESIGN.md "Sampling"): `priority` draws with replacement with p proportional
// to a weight (A+ for A-LoL variants, so rows with A <= 0 are never drawn; R for wnll / r_gold /
// r_lol), `uniform_positive` draws uniformly among rows with positive weight, `all` and `uniform_pairs`
// walk shuffled epochs. Given each unit's group (a prompt's rows), an epoch keeps a group together: the
// groups in a shuffled order, each group's units shuffled among themselves, so a prompt's responses (or
// pairs) are seen side by side and every group once per epoch. The state (RNG, epoch order, position) is
// plain JSON for checkpoints.

import { Rng } from '../util/rng.js';
import { type Sampler, type Variant, isAlol } from './rules.js';
import { AlolError } from '../errors.js';
import type { IndexPair } from '../data/pairs.js';

export interface SamplerState {
  kind: Sampler;
  rngState: number;
  order: number[];
  cursor: number;
  timesSampled: number[];
}

export class RowSampler {
  private readonly rng: Rng;
  private readonly cumulative: Float64Array;
  private readonly positive: number[];
  private order: number[] = [];
  private cursor = 0;
  /** How often each unit (row, or pair for uniform_pairs) has been drawn. */
  readonly timesSampled: Int32Array;
  /** Units per group, groups in first-appearance order (epoch samplers given groups only). */
  private readonly groupUnits: number[][] | null;

  /**
   * `weights` per unit: A+ or R for priority, > 0 marks the rows for uniform_positive, unused otherwise.
   * `groups` per unit (optional): epochs of `all` / `uniform_pairs` keep each group's units together.
   */
  constructor(
    readonly kind: Sampler,
    readonly weights: Float64Array,
    seed: number,
    groups?: readonly string[],
  ) {
    if (groups && groups.length !== weights.length) throw new Error(`sampler: ${groups.length} groups for ${weights.length} units`);
    this.groupUnits = groups && (kind === 'all' || kind === 'uniform_pairs') ? unitsByGroup(groups) : null;
    this.rng = new Rng(seed);
    this.timesSampled = new Int32Array(weights.length);
    this.cumulative = new Float64Array(weights.length);
    this.positive = [];
    let sum = 0;
    weights.forEach((w, i) => {
      if (!Number.isFinite(w)) throw new Error(`sampler: weight of unit ${i} is ${w}`);
      if (kind === 'priority' && w < 0) {
        const fix = 'samplers proportional to R need R >= 0 (shift the reward range), or use sampler "all"';
        throw new AlolError('sampler', `sampler: priority sampling needs weights >= 0, unit ${i} has ${w}`, fix);
      }
      if (w > 0) this.positive.push(i);
      sum += Math.max(w, 0);
      this.cumulative[i] = sum;
    });
    if ((kind === 'priority' || kind === 'uniform_positive') && this.positive.length === 0) {
      const what = 'sampler: no row has a positive weight (advantage or reward), so there is nothing to draw';
      throw new AlolError('sampler', what, 'check the rewards and the value head in the audit, or use sampler "all"');
    }
    if (weights.length === 0) throw new Error('sampler: no rows to sample from');
  }

  /** Probability of drawing unit i (for tests and reports). */
  probability(i: number): number {
    if (this.kind === 'priority') return Math.max(this.weights[i], 0) / this.cumulative[this.cumulative.length - 1];
    if (this.kind === 'uniform_positive') return this.weights[i] > 0 ? 1 / this.positive.length : 0;
    return 1 / this.weights.length;
  }

  private drawOne(): number {
    switch (this.kind) {
      case 'priority': {
        const total = this.cumulative[this.cumulative.length - 1];
        const r = this.rng.next() * total;
        let lo = 0;
        let hi = this.cumulative.length - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (this.cumulative[mid] > r) hi = mid;
          else lo = mid + 1;
        }
        return lo; // the first unit whose cumulative weight exceeds r (weight-0 units are never chosen)
      }
      case 'uniform_positive':
        return this.positive[this.rng.int(this.positive.length)];
      case 'all':
      case 'uniform_pairs':
        if (this.cursor >= this.order.length) {
          this.order = this.groupUnits
            ? this.rng.shuffle([...this.groupUnits]).flatMap((units) => this.rng.shuffle([...units]))
            : this.rng.shuffle([...this.weights.keys()]);
          this.cursor = 0;
        }
        return this.order[this.cursor++];
    }
  }

  next(n: number): number[] {
    const out = Array.from({ length: n }, () => this.drawOne());
    for (const i of out) this.timesSampled[i]++;
    return out;
  }

  state(): SamplerState {
    return { kind: this.kind, rngState: this.rng.state, order: [...this.order], cursor: this.cursor, timesSampled: [...this.timesSampled] };
  }

  restore(s: SamplerState): void {
    if (s.kind !== this.kind || s.timesSampled.length !== this.timesSampled.length) {
      const ours = `(${this.kind}, ${this.timesSampled.length} units)`;
      const what = `sampler: the checkpoint's sampler (${s.kind}, ${s.timesSampled.length} units) does not match this run ${ours}`;
      throw new AlolError('checkpoint', what, 'resume with the same data and variant');
    }
    this.rng.state = s.rngState;
    this.order = [...s.order];
    this.cursor = s.cursor;
    this.timesSampled.set(s.timesSampled);
  }
}

/** Unit indices per distinct group, groups in first-appearance order. */
function unitsByGroup(groups: readonly string[]): number[][] {
  const by = new Map<string, number[]>();
  groups.forEach((g, i) => {
    const list = by.get(g);
    if (list) list.push(i);
    else by.set(g, [i]);
  });
  return [...by.values()];
}

/** Units the sampler draws: each row, or for dpo the training pairs (chosen row, rejected row). */
export function samplingUnits(rows: readonly unknown[], variant: Variant, pairs: readonly IndexPair[]): number[][] {
  if (variant !== 'dpo') return rows.map((_, i) => [i]);
  if (pairs.length === 0) {
    throw new AlolError(
      'data',
      'dpo needs preference pairs in the training split: pair or HH records, or two or more scored responses to one prompt ' +
        'whose rewards differ',
      'check data.pairs.minMargin, or that responses to a prompt share its exact text',
    );
  }
  return pairs.map((p) => [p.chosen, p.rejected]);
}

/** The group of each unit (its first row's). */
export const unitGroups = (units: readonly number[][], rows: readonly { group: string }[]): string[] => units.map((u) => rows[u[0]].group);

/** The sampler's weight of each unit: A+ for A-LoL variants, 1 for dpo and nll, else R (of the unit's first row). */
export function unitWeights(variant: Variant, units: readonly number[][], advantages: Float64Array, rewards: Float64Array): Float64Array {
  return Float64Array.from(
    units,
    (u) => (isAlol(variant) ? Math.max(advantages[u[0]], 0) : variant === 'dpo' || variant === 'nll' ? 1 : rewards[u[0]]),
  );
}
