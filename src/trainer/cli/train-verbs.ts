// `alol train` (audit, then the config's variant(s) — `--variants a_lol,nll,dpo` or `train.variants` —
// trained from one reference, then the reference and each variant evaluated on the test split) and
// `alol eval` (any model folder evaluated the same way). Both write a run folder with summary.json and
// events.jsonl.

import path from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { VARIANTS } from '../../protocol/config.js';
import { evaluateModel } from '../pipeline/eval-model.js';
import { type Summary, renderSummary, runExperiment } from '../pipeline/experiment.js';
import { generationRewards } from '../pipeline/evaluate.js';
import { configVariants } from '../pipeline/validate.js';
import { AlolError } from '../errors.js';
import { type RunFlags, inRun, openRunFromFlags } from '../run/context.js';
import { backendOptions, collect } from './options.js';
import { progressBar } from './progress.js';

function printSummary(summary: Summary, components: readonly string[], runDir: string): void {
  console.log('\nheld-out results (test split; "sampled" = mean total reward of sampled generations, "greedy" of greedy ones;');
  console.log('"-" = n/a: no reward component scores generated text; pref.acc = share of test pairs the policy orders like the reward):');
  for (const l of renderSummary(summary, components)) console.log(`  ${l}`);
  console.log(`\nwrote ${path.join(runDir, 'summary.json')}`);
}

/** --variants a,b,c: each one of VARIANTS, no repeats. */
export function variantList(v: string): string[] {
  const list = v.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = list.filter((x) => !(VARIANTS as readonly string[]).includes(x));
  if (!list.length || bad.length) throw new InvalidArgumentError(`${bad.join(', ') || '(none)'}: use variants from ${VARIANTS.join(', ')}`);
  if (new Set(list).size !== list.length) throw new InvalidArgumentError('a variant is listed twice');
  return list;
}

async function train(flags: RunFlags & { resume?: string; variants?: string[] }): Promise<void> {
  const set = [...(flags.set ?? []), ...(flags.variants ? [`train.variants=${JSON.stringify(flags.variants)}`] : [])];
  const ctx = await openRunFromFlags('train', { ...flags, set }, {
    say: (l) => console.log(l),
    progress: (phase, total) => progressBar(phase, total),
  });
  const { config, runDir } = ctx;
  const variants = configVariants(config);
  console.log(`train: ${variants.join(', ')}; run folder ${runDir}`);
  const { summary } = await inRun(ctx, async () => {
    if (flags.resume && variants.length > 1) {
      throw new AlolError('config', `--resume continues one variant; this run trains ${variants.join(', ')}`,
        'pass --variants with the checkpoint\'s variant alone');
    }
    return runExperiment(ctx, variants, { resume: flags.resume });
  });
  printSummary(summary, generationRewards(config.rewards).map((r) => r.name), runDir);
}

async function evaluate(flags: RunFlags & { model: string; adapter?: string; name?: string }): Promise<void> {
  const ctx = await openRunFromFlags('eval', flags, { say: (l) => console.log(l), progress: (phase, total) => progressBar(phase, total) });
  await inRun(ctx, async () => {
    const bar = progressBar('evaluation', 1);
    const { summary, components } = await evaluateModel(ctx, flags.model, (done) => bar.update(done), flags.name, flags.adapter);
    bar.stop();
    printSummary(summary, components, ctx.runDir);
  });
}

const runOptions = (cmd: Command): Command =>
  backendOptions(cmd)
    .option('--config <file>', 'run config (JSON with comments); without it every field has its default')
    .option('--set <key=value>', 'override a config field (repeatable), e.g. --set train.variant=a_lol_seq', collect)
    .option('--out <dir>', 'run folder (default: runs/<verb>-<time> beside the config)')
    .option('--cache-dir <dir>', 'caches (default: .alol/cache beside the config)')
    .option('--no-cache', 'compute everything; read and write no cache');

export function registerTrainVerbs(program: Command): void {
  runOptions(
    program.command('train').description(
      'audit, train train.variant (or --variants / train.variants) from one reference, evaluate the reference and each on the test ' +
        'split; writes summary.json',
    ),
  )
    .option('--variants <list>', 'variants to train from one audit, comma-separated (sets train.variants), e.g. a_lol,a_lol_seq,nll,dpo',
      variantList)
    .option('--resume <checkpoint>', 'continue the variant from a checkpoint folder of an earlier run (<run>/<variant>/checkpoints/step-N)')
    .action(train);
  runOptions(
    program.command('eval').description(
      'evaluate a model folder on the test split of a config, as `alol train` evaluates; writes summary.json',
    ),
  )
    .requiredOption('--model <dir>', 'model folder to evaluate (or a LoRA adapter folder of a run, whose base it names)')
    .option('--adapter <dir>', 'a LoRA adapter folder (PEFT layout) applied to --model')
    .option('--name <name>', 'the variant name in summary.json (default: the run\'s variant folder, e.g. a_lol for runs/x/a_lol/final)')
    .action(evaluate);
}
