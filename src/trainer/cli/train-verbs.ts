// `alol train` (audit, then one variant from the reference, then the reference and the variant
// evaluated on the test split) and `alol eval` (any model folder evaluated the same way). Both write
// a run folder with summary.json and events.jsonl.

import path from 'node:path';
import type { Command } from 'commander';
import { evaluateOnTest, renderSummary, type Summary } from '../alol/experiment.js';
import { runExperiment } from '../alol/experiment.js';
import { loadPolicy } from '../alol/reference.js';
import { generationRewards } from '../alol/evaluate.js';
import { readDataset } from '../data/dataset.js';
import { RewardSet } from '../rewards/registry.js';
import { writeFileAtomic } from '../util/atomic.js';
import { type RunFlags, inRun, openRunFromFlags } from '../run/context.js';
import { collect } from './options.js';
import { progressBar } from './progress.js';

function printSummary(summary: Summary, components: readonly string[], runDir: string): void {
  console.log('\nheld-out results (test split; "sampled" = mean total reward of sampled generations, "greedy" of greedy ones):');
  for (const l of renderSummary(summary, components)) console.log(`  ${l}`);
  console.log(`\nwrote ${path.join(runDir, 'summary.json')}`);
}

async function train(o: RunFlags & { resume?: string }): Promise<void> {
  const ctx = await openRunFromFlags('train', o, { say: (l) => console.log(l), progress: (phase, total) => progressBar(phase, total) });
  const { config, runDir } = ctx;
  console.log(`train: ${config.train.variant}; run folder ${runDir}`);
  const { summary } = await inRun(ctx, () => runExperiment(ctx, [config.train.variant], { resume: o.resume }));
  printSummary(summary, generationRewards(config.rewards).map((r) => r.name), runDir);
}

async function evaluate(o: RunFlags & { model: string }): Promise<void> {
  const ctx = await openRunFromFlags('eval', o, { say: (l) => console.log(l), progress: (phase, total) => progressBar(phase, total) });
  const { config, runDir } = ctx;
  await inRun(ctx, async () => {
    const policy = await loadPolicy(path.resolve(o.model));
    const { rows, pairs } = await readDataset(path.resolve(ctx.baseDir, config.data.path), { format: config.data.format, split: config.data.split });
    const provider = ctx.device.provider;
    const rewards = await RewardSet.create(generationRewards(config.rewards), { baseDir: ctx.baseDir, cacheDir: null, provider, threads: config.threads });
    try {
      rewards.fit(rows.filter((r) => r.split === 'train'));
      const bar = progressBar('evaluation', 1);
      const name = path.basename(path.resolve(o.model));
      const testRows = rows.filter((r) => r.split === 'test');
      const { result, accuracy } = await evaluateOnTest(policy, testRows, pairs, rewards, ctx, { variant: name, step: 0, onProgress: (d) => bar.update(d) });
      bar.stop();
      const strip = ({ count: _c, ...m }: typeof result.heldout) => (void _c, accuracy === undefined ? m : { ...m, preferenceAccuracy: accuracy });
      const summary: Summary = { variants: { [name]: { heldout: strip(result.heldout), heldoutSampled: strip(result.heldoutSampled), filteredFraction: 0, trainSeconds: 0, steps: 0, evaluatedStep: null } }, prompts: result.prompts, seed: config.train.seed };
      await writeFileAtomic(path.join(runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
      printSummary(summary, rewards.names, runDir);
    } finally {
      await rewards.dispose();
    }
  });
}

const runOptions = (cmd: Command): Command =>
  cmd
    .option('--config <file>', 'run config (JSON with comments); without it every field has its default')
    .option('--set <key=value>', 'override a config field (repeatable), e.g. --set train.variant=a_lol_seq', collect)
    .option('--out <dir>', 'run folder (default: runs/<verb>-<time> beside the config)')
    .option('--cache-dir <dir>', 'caches (default: .alol/cache beside the config)')
    .option('--no-cache', 'compute everything; read and write no cache');

export function registerTrainVerbs(program: Command): void {
  runOptions(program.command('train').description('audit, train train.variant from the reference, evaluate both on the test split; writes summary.json'))
    .option('--resume <checkpoint>', 'continue the variant from a checkpoint folder of an earlier run (<run>/<variant>/checkpoints/step-N)')
    .action(train);
  runOptions(program.command('eval').description('evaluate a model folder on the test split of a config, as `alol train` evaluates; writes summary.json'))
    .requiredOption('--model <dir>', 'model folder to evaluate')
    .action(evaluate);
}
