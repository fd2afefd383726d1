// `alol demo` (also `npm start`): the built-in A-LoL experiment; see src/trainer/demo/demo.ts.

import path from 'node:path';
import type { Command } from 'commander';
import { DEMO_VARIANTS, runDemo } from '../demo/demo.js';
import { RunConfigSchema } from '../../protocol/config.js';
import { resolveDevice } from '../runtime/device.js';
import { RunLog, runName } from '../run/events.js';
import { type DeviceRequest } from '../runtime/device.js';
import { inRun } from '../run/open.js';
import { device, int, num } from './options.js';
import { progressBar } from './progress.js';
import { demoConfig } from '../demo/demo.js';

interface DemoFlags {
  out?: string;
  seed: number;
  quick: boolean;
  noise: number;
  threads: number;
  device: DeviceRequest;
  stripLabels: boolean;
}

async function demo(o: DemoFlags): Promise<void> {
  const runDir = path.resolve(o.out ?? path.join('runs', runName(o.quick ? 'demo-quick' : 'demo')));
  const log = new RunLog(runDir);
  const d = await resolveDevice(o.device);
  if (d.fallback) console.error(`alol: ${d.fallback}`);
  const opts = { out: runDir, seed: o.seed, quick: o.quick, noise: o.noise, threads: o.threads, device: o.device, stripLabels: o.stripLabels };
  const config = RunConfigSchema.parse(demoConfig(opts, path.join(runDir, 'data', 'demo.jsonl')));
  log.emit({ type: 'run/didStart', runId: path.basename(runDir), runDir, verb: 'demo', config, device: { requested: d.requested, provider: d.provider, ...(d.fallback ? { fallback: d.fallback } : {}) } });
  const t0 = performance.now();
  await inRun(log, runDir, () => runDemo(opts, { log, say: (l) => console.log(l), progress: (phase, total) => progressBar(phase, total) }, runDir));
  console.log(`[demo] finished in ${((performance.now() - t0) / 1e3).toFixed(0)} s`);
}

export function registerDemoVerb(program: Command): void {
  program
    .command('demo')
    .description(`the built-in A-LoL experiment: a generated dataset of mixed-quality responses, a reference fine-tuned on it, and ${DEMO_VARIANTS.join(', ')} compared on held-out prompts`)
    .option('--out <dir>', 'run folder (default: runs/demo-<time>)')
    .option('--seed <n>', 'seed of the data, the model and training', int(0), 1)
    .option('--quick', 'a faithful smaller version (smaller model, data and budgets; about a minute)', false)
    .option('--noise <p>', 'share of bad responses in the data', num(0, 1), 0.5)
    .option('--threads <n>', 'CPU threads for ONNX Runtime', int(1), 2)
    .option('--device <name>', 'auto | cpu | cuda | webgpu', device, 'auto')
    .option('--strip-labels', "write the data without the generator's quality labels (they must change nothing)", false)
    .action(demo);
}
