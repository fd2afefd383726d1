// The sampler and step-budget rules of DESIGN.md "Sampling", in one place for the audit and training.

import { BASELINE_VARIANTS } from '../../protocol/baselines.js';
import type { RunConfig } from '../../protocol/config.js';

export type Variant = RunConfig['train']['variant'];
export type Sampler = 'priority' | 'uniform_positive' | 'all' | 'uniform_pairs';

export const ALOL_VARIANTS: readonly Variant[] = ['a_lol', 'a_lol_ref_free', 'a_lol_seq', 'a_lol_kl'];

export const isAlol = (v: Variant): boolean => ALOL_VARIANTS.includes(v);

/** The baselines of issue 25 (alol/baselines.ts). */
export const isBaseline = (v: Variant): boolean => (BASELINE_VARIANTS as readonly string[]).includes(v);

/** Variants whose loss reads A = R - V, so the run fits the value head: the A-LoL variants and awr. */
export const usesAdvantages = (v: Variant): boolean => isAlol(v) || v === 'awr';

/** The sampler a variant uses: `default` resolves per variant. */
export function samplerFor(variant: Variant, configured: RunConfig['train']['sampler']): Sampler {
  if (variant === 'dpo') return 'uniform_pairs';
  if (isBaseline(variant)) return 'all'; // shuffled epochs over the baseline's units (rows, kept rows or prompts)
  if (configured !== 'default') return configured;
  return variant === 'nll' ? 'all' : 'priority'; // A-LoL variants: priority on A+; wnll, r_gold, r_lol: on R
}

export interface Budget {
  steps: number;
  evalEvery: number;
  scheduleSteps: number;
  /** True when the budget was multiplied by the positive fraction. */
  scaled: boolean;
}

/** A-LoL variants under priority / uniform_positive sampling train for steps x #(A>0)/N, as upstream. */
export function stepBudget(train: RunConfig['train'], positiveFraction: number): Budget {
  const sampler = samplerFor(train.variant, train.sampler);
  const scaled = isAlol(train.variant) && (sampler === 'priority' || sampler === 'uniform_positive');
  if (!scaled) return { steps: train.steps, evalEvery: train.evalEvery, scheduleSteps: train.steps, scaled };
  const steps = Math.max(1, Math.round(train.steps * positiveFraction));
  return {
    steps,
    evalEvery: Math.max(train.evalEvery > 0 ? 1 : 0, Math.round(train.evalEvery * positiveFraction)),
    scheduleSteps: steps,
    scaled,
  };
}
