// The advantages phase: A = R - V(x) per training row and which rows A-LoL keeps (A > 0), written to
// <run>/advantages.jsonl (one line per row: identity, rewards, value, advantage, kept, reference
// log-prob) and summed up in advantages/didCompute with the training budget the variant would get.

import path from 'node:path';
import { type Advantages, advantagesOf } from '../alol/advantages.js';
import { type Budget, samplerFor, stepBudget } from '../alol/rules.js';
import type { TokenizedRow } from '../data/tokenize.js';
import { describeRow } from '../rewards/registry.js';
import { pearson } from '../rewards/report.js';
import type { RunContext } from '../run/context.js';
import { writeFileAtomic } from '../util/atomic.js';
import type { PhaseClock } from './phase.js';
import type { RefLogprobs } from './reference.js';
import type { Rewards } from './rewards.js';
import type { ValueEstimate } from './value.js';

export interface AdvantagesInputs {
  train: readonly TokenizedRow[];
  rewards: Rewards;
  value: ValueEstimate;
  refLogprobs: RefLogprobs;
}

export async function advantagesPhase(ctx: RunContext, clock: PhaseClock, a: AdvantagesInputs): Promise<Advantages & { budget: Budget }> {
  const { config } = ctx;
  const { train, rewards, value, refLogprobs } = a;
  clock.start('advantages', 'advantage A = R - V(x) per row; rows with A <= 0 are filtered out of A-LoL training');
  const adv = advantagesOf(rewards.total, value.values, train.map((t) => t.row.kind));
  const { advantages, kept, nKept, positiveFraction, histogram, byKind } = adv;
  const budget = stepBudget(config.train, positiveFraction);
  const lines = train.map((t, i) =>
    JSON.stringify({
      rowId: t.row.id,
      file: t.row.file,
      line: t.row.line,
      kind: t.row.kind,
      reward: { total: rewards.total[i], ...Object.fromEntries([...rewards.components].map(([n, v]) => [n, v[i]])) },
      value: value.values[i],
      advantage: advantages[i],
      kept: kept[i],
      refLogprob: refLogprobs.sum[i],
      refTokens: t.response.length,
      timesSampled: 0,
    }),
  );
  const advFile = path.join(ctx.runDir, 'advantages.jsonl');
  await writeFileAtomic(advFile, `${lines.join('\n')}\n`);
  let rmin = Infinity;
  let rmax = -Infinity;
  let rsum = 0;
  for (const r of rewards.total) {
    rmin = Math.min(rmin, r);
    rmax = Math.max(rmax, r);
    rsum += r;
  }
  const { variant, sampler } = config.train;
  ctx.log.emit({
    type: 'advantages/didCompute',
    histogram,
    counts: { rows: advantages.length, kept: nKept, filtered: advantages.length - nKept },
    positiveFraction,
    byKind,
    value: {
      fitOn: config.value.fitOn,
      headMse: value.headMse,
      meanMse: value.meanMse,
      betterThanMean: value.headMse < 0.95 * value.meanMse,
    },
    reward: {
      mean: rsum / rewards.total.length,
      min: rmin,
      max: rmax,
      range: rewards.range,
      lengthCorrelation: pearson(rewards.total, train.map((t) => t.response.length)),
    },
    budget: { variant, sampler: samplerFor(variant, sampler), steps: budget.steps, evalEvery: budget.evalEvery, scaled: budget.scaled },
    file: 'advantages.jsonl',
  });
  const share = `${(100 * positiveFraction).toFixed(1)}%`;
  clock.finish(
    'advantages',
    `${nKept} of ${advantages.length} rows kept (A > 0, ${share}), ${advantages.length - nKept} filtered; wrote ${advFile}`,
  );
  if (train.some((t) => t.row.kind !== 'row')) {
    for (const [kind, c] of Object.entries(byKind)) {
      ctx.say(
        `[advantages] ${kind}: ${c.filtered} of ${c.kept + c.filtered} filtered ` +
          `(${((100 * c.filtered) / (c.kept + c.filtered)).toFixed(1)}%)`,
      );
    }
  }
  const firstBad = train.findIndex((_, i) => !Number.isFinite(advantages[i]));
  if (firstBad >= 0) throw new Error(`advantage of row ${describeRow(train[firstBad].row)} is not finite`);
  return { ...adv, budget };
}
