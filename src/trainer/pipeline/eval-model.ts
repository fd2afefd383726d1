// `alol eval`: one model folder (or adapter) evaluated on the test split of a run's data as an experiment
// (experiment.ts) evaluates its variants, with summary.json written like an experiment's.

import path from 'node:path';
import { readDataset } from '../data/dataset.js';
import { loadPolicy } from '../model/policy.js';
import { RewardSet } from '../rewards/registry.js';
import type { RunContext } from '../run/context.js';
import { writeFileAtomic } from '../util/atomic.js';
import { evaluateOnTest, generationRewards } from './evaluate.js';
import { type Summary, heldoutPairs, metricsOf } from './experiment.js';
import type { OnProgress } from './phase.js';

/**
 * The name `alol eval` gives a model folder by default: its variant's folder for a run's `final`, `best`
 * or `checkpoints/step-N` (runs/x/a_lol/final -> a_lol), else the folder's own name.
 */
export function variantNameOf(modelDir: string): string {
  const abs = path.resolve(modelDir);
  const base = path.basename(abs);
  const parent = path.basename(path.dirname(abs));
  if (base === 'final' || base === 'best') return parent;
  if (/^step-\d+$/.test(base) && parent === 'checkpoints') return path.basename(path.dirname(path.dirname(abs)));
  return base;
}

/**
 * `alol eval`: a model folder evaluated on the test split of the run's data as an experiment evaluates
 * its variants (named `name`, by default variantNameOf(modelDir), or of the adapter's folder); writes summary.json.
 */
export async function evaluateModel(
  ctx: RunContext,
  modelDir: string,
  onProgress: OnProgress,
  name?: string,
  adapterDir?: string,
): Promise<{ summary: Summary; components: string[] }> {
  const { config } = ctx;
  const policy = await loadPolicy(path.resolve(modelDir), adapterDir && path.resolve(adapterDir));
  const { rows, pairs } = await readDataset(
    path.resolve(ctx.baseDir, config.data.path),
    { format: config.data.format, split: config.data.split },
  );
  const trainRows = rows.filter((r) => r.split === 'train');
  const held = await heldoutPairs(ctx, rows, pairs, trainRows, false);
  const rewardOptions = { baseDir: ctx.baseDir, cacheDir: null, provider: ctx.device.provider, threads: config.threads };
  const rewards = await RewardSet.create(generationRewards(config.rewards), rewardOptions);
  try {
    rewards.fit(trainRows);
    const label = name ?? variantNameOf(adapterDir ?? modelDir);
    const testRows = rows.filter((r) => r.split === 'test');
    const at = { variant: label, step: 0, onProgress };
    const { result, accuracy } = await evaluateOnTest(policy, testRows, held.test, rewards, ctx, at);
    const entry = {
      heldout: metricsOf(result.heldout, accuracy, result.scored),
      heldoutSampled: metricsOf(result.heldoutSampled, accuracy, result.scored),
    };
    const extra = { filteredFraction: 0, trainSeconds: 0, steps: 0, evaluatedStep: null };
    const summary: Summary = { variants: { [label]: { ...entry, ...extra } }, prompts: result.prompts, seed: config.train.seed };
    await writeFileAtomic(path.join(ctx.runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    return { summary, components: rewards.names };
  } finally {
    await rewards.dispose();
  }
}
