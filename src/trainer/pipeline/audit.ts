// The audit: everything A-LoL does before its first policy step, as phases in sequence — the
// reference policy, rewards, the reference's log-probs, the value head and the advantages — each
// reusing the caches of earlier runs where its inputs are unchanged and saying how much it reused.
// Writes the run folder's reference/ and advantages.jsonl (config.json and events.jsonl come with the
// run context).

import type { AdvantageHistogram } from '../alol/advantages.js';
import type { Budget } from '../alol/rules.js';
import type { DatasetReport } from '../data/dataset.js';
import type { Pair, Row } from '../data/rows.js';
import type { TokenizedRow } from '../data/tokenize.js';
import type { Policy } from '../model/policy.js';
import type { RunContext } from '../run/context.js';
import { advantagesPhase } from './advantages.js';
import { readRunData } from './data.js';
import { PhaseClock } from './phase.js';
import { type RefLogprobs, referenceLogprobsPhase, referencePhase } from './reference.js';
import { type Rewards, rewardsPhase } from './rewards.js';
import { type ValueEstimate, valuePhase } from './value.js';

export interface AuditResult {
  report: DatasetReport;
  reference: Policy;
  /** Training rows, tokenized as training sees them, in dataset order. */
  train: TokenizedRow[];
  rewards: Rewards;
  refLogprobs: RefLogprobs;
  value: ValueEstimate;
  advantages: Float64Array;
  kept: boolean[];
  positiveFraction: number;
  histogram: AdvantageHistogram;
  /** The budget of the configured variant. */
  budget: Budget;
  rowsByIndex: Row[];
  /** Every row and pair of the dataset, all splits. */
  allRows: Row[];
  pairs: Pair[];
  phaseSeconds: Record<string, number>;
}

export async function runAudit(ctx: RunContext): Promise<AuditResult> {
  const clock = new PhaseClock(ctx);
  const { report, allRows, pairs, trainRows } = await readRunData(ctx);
  const { reference, train } = await referencePhase(ctx, clock, trainRows);
  const { rewardSet, rewards } = await rewardsPhase(ctx, clock, trainRows);
  try {
    const refLogprobs = await referenceLogprobsPhase(ctx, clock, reference, train);
    const validation = allRows.filter((r) => r.split === 'validation');
    const value = await valuePhase(ctx, clock, { reference, train, rewards, rewardSet, validation });
    const adv = await advantagesPhase(ctx, clock, { train, rewards, value, refLogprobs });
    const { advantages, kept, positiveFraction, histogram, budget } = adv;
    const phaseSeconds = clock.seconds;
    return {
      report,
      reference,
      train,
      rewards,
      refLogprobs,
      value,
      advantages,
      kept,
      positiveFraction,
      histogram,
      budget,
      rowsByIndex: trainRows,
      allRows,
      pairs,
      phaseSeconds,
    };
  } finally {
    await rewardSet.dispose();
  }
}
