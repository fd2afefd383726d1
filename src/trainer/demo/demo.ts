// `alol demo`, the project's main job: on a dataset generated here (task.ts) with rewards written here
// (rewards.ts), fine-tune a small byte-level GPT by NLL (the reference), audit it (value head,
// advantages, what A-LoL filters), train nll, wnll and three A-LoL variants from it under the paper's
// step-budget rules, and evaluate all of them and the reference on held-out prompts. Nothing is
// downloaded and no file of the user's is needed; every number comes from the run.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig } from '../../protocol/config.js';
import { validateConfig } from '../run/load-config.js';
import { renderSummary, runExperiment, type Summary } from '../pipeline/experiment.js';
import type { Variant } from '../alol/rules.js';
import { type RunContext, type RunSpec, openRunContext } from '../run/context.js';
import { writeFileAtomic } from '../util/atomic.js';
import { QUALITIES, demoRows } from './task.js';

export const DEMO_VARIANTS: readonly Variant[] = ['nll', 'wnll', 'a_lol', 'a_lol_seq', 'a_lol_ref_free'];

export interface DemoOptions {
  out: string;
  seed: number;
  quick: boolean;
  noise: number;
  /** Leave the generator's quality labels out of the data file (they must change nothing). */
  stripLabels?: boolean;
  threads?: number;
  device?: RunConfig['device'];
  /** backend.precision (mixed precision on a GPU provider); the default float32 when absent. */
  precision?: RunConfig['backend']['precision'];
  variants?: readonly Variant[];
  /** train.parallelVariants (default auto). */
  parallelVariants?: 'auto' | number;
  /** Continue a demo run folder started before (see runExperiment's `continue`). */
  continue?: boolean;
}

/** The demo's sizes: the full demo (about the paper's small setting) and a faithful quick one. */
function sizes(quick: boolean) {
  return quick
    ? {
      prompts: 240,
      responses: 4,
      model: { layers: 2, embd: 64, heads: 4, positions: 192 },
      sft: 500,
      sftLr: 3e-3,
      steps: 300,
      lr: 1e-3,
      folds: 3,
      epochs: 6,
      evalPrompts: 24,
    }
    : {
      prompts: 800,
      responses: 4,
      model: { layers: 4, embd: 128, heads: 4, positions: 224 },
      sft: 1200,
      sftLr: 2e-3,
      steps: 600,
      lr: 5e-4,
      folds: 5,
      epochs: 10,
      evalPrompts: 80,
    };
}

export function demoConfig(demo: DemoOptions, dataFile: string): RunConfig {
  const s = sizes(demo.quick);
  const rewards = path.join(__dirname, 'rewards.js');
  const component = (name: string, exportName: string) => ({
    name,
    kind: 'module',
    path: rewards,
    export: exportName,
    range: [0, 1],
    weight: 0.25,
  });
  return validateConfig(
    {
      data: { path: dataFile, format: 'jsonl', maxPromptTokens: 64, maxResponseTokens: 128 },
      model: { init: s.model },
      reference: { path: null, sft: { steps: s.sft, lr: s.sftLr } },
      rewards: [
        component('relevance', 'scoreRelevance'),
        component('politeness', 'scorePoliteness'),
        component('coherence', 'scoreCoherence'),
        component('length', 'scoreLength'),
      ],
      value: { fitOn: 'train', folds: s.folds, epochs: s.epochs },
      train: {
        variant: 'a_lol',
        steps: s.steps,
        lr: s.lr,
        batchSize: 16,
        schedule: 'linear',
        evalEvery: 0,
        checkpointEvery: 0,
        seed: demo.seed,
        parallelVariants: demo.parallelVariants ?? 'auto',
      },
      eval: { maxNewTokens: 112, maxPrompts: s.evalPrompts, samplesPerPrompt: 4, temperature: 1.0, topP: 1.0, showSamples: 8 },
      device: demo.device ?? 'auto',
      ...(demo.precision ? { backend: { precision: demo.precision } } : {}),
      threads: demo.threads ?? 2,
    },
    'demo config',
  );
}

const dataFileOf = (runDir: string): string => path.join(runDir, 'data', 'demo.jsonl');

/** The demo's run context: its config (made here, with the data file in the run folder) and caches in <run>/.cache. */
export function openDemoContext(demo: DemoOptions, io: Pick<RunSpec, 'say' | 'progress' | 'control' | 'toStdout'>): Promise<RunContext> {
  const runDir = path.resolve(demo.out);
  const config = demoConfig(demo, dataFileOf(runDir));
  return openRunContext({
    verb: 'demo',
    loaded: { config, file: null, baseDir: runDir },
    runDir,
    cacheDir: path.join(runDir, '.cache'),
    ...io
  });
}

/** The demo as an experiment on a generated task: writes the task's data, then runs the experiment. */
export async function runDemo(ctx: RunContext, demo: DemoOptions): Promise<Summary> {
  const s = sizes(demo.quick);
  const hooks = ctx;
  const { runDir, config } = ctx;
  const rows = demoRows({ seed: demo.seed, noise: demo.noise, prompts: s.prompts, responsesPerPrompt: s.responses });
  await mkdir(runDir, { recursive: true });
  const dataFile = dataFileOf(runDir);
  await writeFileAtomic(dataFile, `${rows.map((r) => JSON.stringify(demo.stripLabels ? { ...r, quality: undefined } : r)).join('\n')}\n`);
  await writeFileAtomic(path.join(runDir, 'demo-config.json'), `${JSON.stringify(config, null, 2)}\n`);

  const mix = QUALITIES.map((q) => `${q} ${rows.filter((r) => r.quality === q).length}`).join(', ');
  hooks.say(`[demo] ${rows.length} responses to ${s.prompts} assistant prompts (${mix}; noise ${demo.noise}), written to ${dataFile}.`);
  hooks.say(
    '[demo] Rewards: four hand-written components that read only the text — relevance, politeness, coherence, length — ' +
      '0.25 each (src/trainer/demo/rewards.ts).',
  );
  hooks.say(
    `[demo] Plan: fine-tune a ${s.model.layers}-layer byte-level GPT on all training responses (the reference), ` +
      `fit the value head, compute advantages, then train ${(demo.variants ?? DEMO_VARIANTS).join(', ')} from the reference ` +
      'and compare them on held-out prompts.',
  );
  const variants = demo.variants ?? DEMO_VARIANTS;
  const { summary } = await runExperiment(ctx, variants, { continue: demo.continue });

  hooks.say('\nheld-out results on test prompts (reward = mean of sampled generations, "greedy" = greedy decoding; components sampled):');
  for (const l of renderSummary(summary, ['relevance', 'politeness', 'coherence', 'length'])) hooks.say(`  ${l}`);
  const v = summary.variants;
  const r = (name: string) => v[name]?.heldoutSampled.reward.total;
  if (r('a_lol') !== undefined && r('nll') !== undefined) {
    hooks.say(
      `\n[demo] a_lol reached a sampled reward of ${r('a_lol')?.toFixed(3)} against ${r('nll')?.toFixed(3)} for nll ` +
        `and ${r('reference')?.toFixed(3)} for the reference, ` +
        `training only on rows with positive advantage (${(100 * (1 - (v.a_lol?.filteredFraction ?? 0))).toFixed(0)}% kept) ` +
        `for ${v.a_lol?.steps} steps against nll's ${v.nll?.steps}.`,
    );
  }
  hooks.say(`[demo] run folder: ${runDir} (summary.json, events.jsonl, advantages.jsonl, one folder per variant)`);
  return summary;
}
