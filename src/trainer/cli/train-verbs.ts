// `alol train` (audit, then one variant from the reference, then the reference and the variant
// evaluated on the test split) and `alol eval` (any model folder evaluated the same way). Both write
// a run folder with summary.json and events.jsonl.

import path from 'node:path';
import type { Command } from 'commander';
import { type Summary, evaluateModel, renderSummary, runExperiment } from '../pipeline/experiment.js';
import { generationRewards } from '../pipeline/evaluate.js';
import { type RunFlags, inRun, openRunFromFlags } from '../run/context.js';
import { collect } from './options.js';
import { progressBar } from './progress.js';

function printSummary(summary: Summary, components: readonly string[], runDir: string): void {
  console.log('\nheld-out results (test split; "sampled" = mean total reward of sampled generations, "greedy" of greedy ones):');
  for (const l of renderSummary(summary, components)) console.log(`  ${l}`);
  console.log(`\nwrote ${path.join(runDir, 'summary.json')}`);
}

async function train(flags: RunFlags & { resume?: string }): Promise<void> {
  const ctx = await openRunFromFlags('train', flags, { say: (l) => console.log(l), progress: (phase, total) => progressBar(phase, total) });
  const { config, runDir } = ctx;
  console.log(`train: ${config.train.variant}; run folder ${runDir}`);
  const { summary } = await inRun(ctx, () => runExperiment(ctx, [config.train.variant], { resume: flags.resume }));
  printSummary(summary, generationRewards(config.rewards).map((r) => r.name), runDir);
}

async function evaluate(flags: RunFlags & { model: string }): Promise<void> {
  const ctx = await openRunFromFlags('eval', flags, { say: (l) => console.log(l), progress: (phase, total) => progressBar(phase, total) });
  await inRun(ctx, async () => {
    const bar = progressBar('evaluation', 1);
    const { summary, components } = await evaluateModel(ctx, flags.model, (done) => bar.update(done));
    bar.stop();
    printSummary(summary, components, ctx.runDir);
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
  runOptions(
    program.command('train').description(
      'audit, train train.variant from the reference, evaluate both on the test split; writes summary.json',
    ),
  )
    .option('--resume <checkpoint>', 'continue the variant from a checkpoint folder of an earlier run (<run>/<variant>/checkpoints/step-N)')
    .action(train);
  runOptions(
    program.command('eval').description(
      'evaluate a model folder on the test split of a config, as `alol train` evaluates; writes summary.json',
    ),
  )
    .requiredOption('--model <dir>', 'model folder to evaluate')
    .action(evaluate);
}
