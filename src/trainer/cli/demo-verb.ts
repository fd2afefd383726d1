// `alol demo` (also `npm start`): the built-in A-LoL experiment; see src/trainer/demo/demo.ts.

import path from 'node:path';
import type { Command } from 'commander';
import { DEMO_VARIANTS, openDemoContext, runDemo } from '../demo/demo.js';
import { runName } from '../run/events.js';
import { type DeviceRequest } from '../runtime/device.js';
import { inRun } from '../run/context.js';
import { PRECISION_HELP, device, int, num, parallelVariants, precision } from './options.js';
import { progressBar } from './progress.js';
import { variantList } from './train-verbs.js';
import type { Variant } from '../alol/rules.js';

interface DemoFlags {
  out?: string;
  seed: number;
  quick: boolean;
  noise: number;
  threads: number;
  device: DeviceRequest;
  precision?: 'float32' | 'float16' | 'bfloat16';
  stripLabels: boolean;
  variants?: Variant[];
  parallelVariants: 'auto' | number;
}

async function demo(flags: DemoFlags): Promise<void> {
  const runDir = path.resolve(flags.out ?? path.join('runs', runName(flags.quick ? 'demo-quick' : 'demo')));
  const opts = {
    out: runDir,
    seed: flags.seed,
    quick: flags.quick,
    noise: flags.noise,
    threads: flags.threads,
    device: flags.device,
    precision: flags.precision,
    stripLabels: flags.stripLabels,
    variants: flags.variants,
    parallelVariants: flags.parallelVariants,
  };
  const ctx = await openDemoContext(opts, { say: (l) => console.log(l), progress: (phase, total) => progressBar(phase, total) });
  const t0 = performance.now();
  await inRun(ctx, () => runDemo(ctx, opts));
  console.log(`[demo] finished in ${((performance.now() - t0) / 1e3).toFixed(0)} s`);
}

export function registerDemoVerb(program: Command): void {
  program
    .command('demo')
    .description(
      'the built-in A-LoL experiment: a generated dataset of mixed-quality responses, a reference fine-tuned on it, ' +
        `and ${DEMO_VARIANTS.join(', ')} compared on held-out prompts`,
    )
    .option('--out <dir>', 'run folder (default: runs/demo-<time>)')
    .option('--seed <n>', 'seed of the data, the model and training', int(0), 1)
    .option('--quick', 'a faithful smaller version (smaller model, data and budgets; about a minute)', false)
    .option('--noise <p>', 'share of bad responses in the data', num(0, 1), 0.5)
    .option('--threads <n>', 'CPU threads for ONNX Runtime', int(1), 2)
    .option('--device <name>', 'auto | cpu | cuda | webgpu', device, 'auto')
    .option('--precision <type>', `${PRECISION_HELP}; sets backend.precision`, precision)
    .option('--strip-labels', "write the data without the generator's quality labels (they must change nothing)", false)
    .option('--variants <list>', `variants to train and compare, comma-separated (default ${DEMO_VARIANTS.join(',')})`, variantList)
    .option(
      '--parallel-variants <n>',
      'variants trained at once, each in a thread of its own (auto: 2 on CPU with threads >= 2; 1: one after another, the same numbers)',
      parallelVariants,
      'auto',
    )
    .action(demo);
}
