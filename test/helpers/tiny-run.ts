// A tiny `alol train` run for end-to-end tests of a device or precision: the demo generator's rows (60 prompts x 4
// responses) written as data.jsonl into a folder, and a run config of a 1-layer model that trains a_lol 4 steps after
// a 4-step reference fine-tuning, with a short evaluation. Seconds on the CPU, under a minute on lavapipe.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { demoRows } from '../../src/trainer/demo/task.js';

/** Writes `data.jsonl` (the demo's rows) into `dir`. */
export async function writeTinyData(dir: string): Promise<void> {
  const rows = demoRows({ seed: 1, noise: 0.5, prompts: 60, responsesPerPrompt: 4 });
  await writeFile(path.join(dir, 'data.jsonl'), `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
}

/** The run config (reads data.jsonl beside it) on `device`. */
export function tinyRunConfig(device: string): Record<string, unknown> {
  return {
    data: { path: 'data.jsonl', format: 'jsonl', maxPromptTokens: 32, maxResponseTokens: 32 },
    model: { init: { layers: 1, embd: 32, heads: 4, positions: 96 } },
    reference: { path: null, sft: { steps: 4, lr: 3e-3 } },
    rewards: [{ name: 'len', kind: 'builtin', scorer: 'length' }],
    value: { fitOn: 'train', folds: 2, epochs: 1 },
    train: { variant: 'a_lol', steps: 4, lr: 1e-4, batchSize: 8, evalEvery: 0, checkpointEvery: 0, seed: 1 },
    eval: { maxNewTokens: 6, maxPrompts: 3, samplesPerPrompt: 2, temperature: 1, topP: 1, showSamples: 0 },
    device,
    threads: 1,
  };
}
