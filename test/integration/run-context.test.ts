// One run, one context: a whole `alol train`-shaped run (audit, a few training steps, evaluation of the
// reference and the variant), driven in this process, resolves its device exactly once, and every
// per-variant event names its variant as a field.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredEvent } from '../../src/protocol/trainer.js';
import { runExperiment } from '../../src/trainer/pipeline/experiment.js';
import { deviceResolutions } from '../../src/trainer/runtime/device.js';
import { inRun, openRunFromFlags } from '../../src/trainer/run/context.js';

let dir = '';

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-context-'));
  const rows = Array.from(
    { length: 60 },
    (_, i) => JSON.stringify({ id: `r${i}`, prompt: `Q: ${i % 12}?\nA:`, response: i % 2 ? ' yes.' : ' no', score: (i % 5) / 4 }),
  );
  await writeFile(path.join(dir, 'data.jsonl'), `${rows.join('\n')}\n`);
  const config = {
    data: { path: 'data.jsonl', maxPromptTokens: 12, maxResponseTokens: 8, split: { validation: 0.1, test: 0.2, seed: 0 } },
    model: { init: { layers: 1, embd: 16, heads: 2, positions: 32 } },
    reference: { sft: null },
    rewards: [{ name: 'score', kind: 'field', field: 'score' }],
    value: { fitOn: 'train', folds: 2, epochs: 1 },
    train: { variant: 'a_lol', steps: 3, batchSize: 4, evalEvery: 0, checkpointEvery: 0 },
    eval: { maxNewTokens: 4, maxPrompts: 2, samplesPerPrompt: 1 },
    device: 'cpu',
    threads: 1,
  };
  await writeFile(path.join(dir, 'run.json'), JSON.stringify(config));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('the run context', () => {
  it('a whole train run resolves its device once; per-variant events carry the variant', async () => {
    const before = deviceResolutions();
    const quiet = { say: () => undefined, progress: () => ({ update: () => undefined, stop: () => undefined }) };
    const ctx = await openRunFromFlags('train', { config: path.join(dir, 'run.json'), out: path.join(dir, 'run'), cache: false }, quiet);
    const { summary } = await inRun(ctx, () => runExperiment(ctx, [ctx.config.train.variant]));
    assert.equal(deviceResolutions() - before, 1, 'resolveDevice calls in one run');
    assert.ok(summary.variants.a_lol && summary.variants.reference);

    const events = readFileSync(path.join(dir, 'run', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StoredEvent);
    const steps = events.filter((e) => e.type === 'step/didComplete' && e.phase === 'training');
    assert.ok(steps.length > 0);
    for (const e of events) {
      const perVariant =
        (e.type === 'step/didComplete' && e.phase === 'training') || e.type === 'eval/didComplete' || e.type === 'checkpoint/didSave' ||
        (e.type === 'phase/didChange' && (e.phase === 'training' || e.phase === 'evaluation'));
      if (!perVariant) continue;
      assert.ok('variant' in e && (e.variant === 'a_lol' || e.variant === 'reference'), JSON.stringify(e));
    }
    const evals = events.filter((e) => e.type === 'eval/didComplete').map((e) => ('variant' in e ? e.variant : null));
    assert.deepEqual([...new Set(evals)], ['reference', 'a_lol']);
  });
});
