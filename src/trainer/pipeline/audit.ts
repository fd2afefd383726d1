// The audit: everything A-LoL does before its first policy step, as phases in sequence — the
// reference policy, rewards, the reference's log-probs, the value head and the advantages — each
// reusing the caches of earlier runs where its inputs are unchanged and saying how much it reused.
// Before the first phase, validate.ts checks everything the config and data show (nothing is computed
// when something is wrong). A run whose variants use no advantages (all but the A-LoL variants and awr) skips
// the value head and the advantages. Writes the run folder's reference/ and advantages.jsonl
// (config.json and events.jsonl come with the run context).

import type { AdvantageHistogram } from '../alol/advantages.js';
import type { Budget } from '../alol/rules.js';
import type { DatasetReport } from '../data/dataset.js';
import { formPairs, type IndexPair, responseSets, statedPairs } from '../data/pairs.js';
import type { Pair, Row } from '../data/rows.js';
import type { TokenizedRow } from '../data/tokenize.js';
import type { Policy } from '../model/policy.js';
import type { RunContext } from '../run/context.js';
import { advantagesPhase } from './advantages.js';
import { readRunData } from './data.js';
import { PhaseClock } from './phase.js';
import { type RefLogprobs, referenceLogprobsPhase, referencePhase } from './reference.js';
import { type Rewards, rewardsPhase } from './rewards.js';
import { checkBaselineRewards } from './validate-baselines.js';
import { configVariants, type RunPlan, type Validated, validateRun } from './validate.js';
import { type ValueEstimate, valuePhase } from './value.js';

/** The value head and what follows from it: A = R - V per training row, kept = A > 0. */
export interface AuditAdvantages {
  value: ValueEstimate;
  advantages: Float64Array;
  kept: boolean[];
  positiveFraction: number;
  histogram: AdvantageHistogram;
  /** The budget of the configured variant. */
  budget: Budget;
}

export interface AuditResult {
  report: DatasetReport;
  validated: Validated;
  reference: Policy;
  /** Training rows, tokenized as training sees them, in dataset order. */
  train: TokenizedRow[];
  rewards: Rewards;
  refLogprobs: RefLogprobs;
  /** Null when the run's variants use no advantages (the value phase was skipped). */
  adv: AuditAdvantages | null;
  /** Preference pairs among the training rows (indices into `train`): stated by records, then formed from rewards. */
  trainPairs: IndexPair[];
  rowsByIndex: Row[];
  /** Every row of the dataset, all splits, and the pairs its records state. */
  allRows: Row[];
  pairs: Pair[];
  phaseSeconds: Record<string, number>;
}

/** The audit verb's plan: the value head and advantages always; the config's variants for their checks. */
export const auditPlan = (ctx: Pick<RunContext, 'config'>): RunPlan => ({
  variants: configVariants(ctx.config),
  value: true,
  evaluate: false,
});

export async function runAudit(ctx: RunContext, plan: RunPlan = auditPlan(ctx)): Promise<AuditResult> {
  const clock = new PhaseClock(ctx);
  const data = await readRunData(ctx);
  const validated = validateRun(ctx.config, ctx.baseDir, data, plan);
  const { report, allRows, pairs, trainRows } = data;
  const { reference, train } = await referencePhase(ctx, clock, trainRows);
  const { rewardSet, rewards } = await rewardsPhase(ctx, clock, trainRows);
  try {
    checkBaselineRewards(ctx.config, rewards.total, plan.variants); // rewards that score text: known only now
    const trainPairs = trainingPairs(ctx, trainRows, rewards.total);
    const refLogprobs = await referenceLogprobsPhase(ctx, clock, reference, train);
    let adv: AuditAdvantages | null = null;
    if (plan.value) {
      const validation = allRows.filter((r) => r.split === 'validation');
      const value = await valuePhase(ctx, clock, { reference, train, rewards, rewardSet, validation });
      const a = await advantagesPhase(ctx, clock, { train, rewards, value, refLogprobs });
      const { advantages, kept, positiveFraction, histogram, budget } = a;
      adv = { value, advantages, kept, positiveFraction, histogram, budget };
    } else {
      const uses = plan.variants.length === 1 ? 'uses' : 'use';
      ctx.say(`[value] skipped: ${plan.variants.join(', ')} ${uses} no advantages, so no value head is fitted`);
    }
    return {
      report,
      validated,
      reference,
      train,
      rewards,
      refLogprobs,
      adv,
      trainPairs,
      rowsByIndex: trainRows,
      allRows,
      pairs,
      phaseSeconds: clock.seconds,
    };
  } finally {
    await rewardSet.dispose();
  }
}

/** The training split's pairs: those pair and HH records state, then those formed from scored responses. */
function trainingPairs(ctx: Pick<RunContext, 'config' | 'say'>, rows: readonly Row[], totals: Float64Array): IndexPair[] {
  const stated = statedPairs(rows);
  const sets = responseSets(rows).length;
  const { from, minMargin } = ctx.config.data.pairs;
  const formed = formPairs(rows, totals, ctx.config.data.pairs);
  if (sets > 0) {
    ctx.say(
      `[rewards] ${formed.length} preference pairs formed from ${sets} training prompts with several scored responses ` +
        `(data.pairs: ${from}, minMargin ${minMargin})${stated.length ? `, beside ${stated.length} pairs the records state` : ''}`,
    );
  }
  return [...stated, ...formed];
}
