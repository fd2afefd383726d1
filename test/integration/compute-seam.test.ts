// The compute-backend seam carries everything the pipeline needs from a model: a whole `alol train` run
// (audit with an SFT reference, a_lol training with checkpoints, evaluation of the reference and the
// variant) driven through a fake ComputeBackend with deterministic numbers creates no ONNX Runtime
// session, and writes the run folder and events from the fake's numbers alone.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseEventLine } from '../../src/protocol/trainer.js';
import type { TrainerEvent } from '../../src/protocol/trainer.js';
import { loadModelFolder } from '../../src/trainer/model/folder.js';
import { runExperiment } from '../../src/trainer/pipeline/experiment.js';
import { sessionsCreated } from '../../src/trainer/runtime/pool.js';
import { inRun, openRunContext } from '../../src/trainer/run/context.js';
import { loadRunConfig } from '../../src/trainer/run/load-config.js';
import { FakeCompute, fakeLoss, fakeTokenLogprob } from '../helpers/fake-compute.js';

let dir = '';
const WORDS = ['sure', 'here', 'is', 'a', 'short', 'answer', 'about', 'that'];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-seam-'));
  const rows = Array.from({ length: 80 }, (_, i) => {
    const response = ` ${WORDS.slice(0, 1 + (i % WORDS.length)).join(' ')}`;
    return JSON.stringify({ id: `r${i}`, prompt: `Q: topic ${i % 16}?\nA:`, response });
  });
  await writeFile(path.join(dir, 'data.jsonl'), `${rows.join('\n')}\n`);
  const config = {
    data: { path: 'data.jsonl', maxPromptTokens: 16, maxResponseTokens: 48, split: { validation: 0.1, test: 0.2, seed: 0 } },
    model: { init: { layers: 1, embd: 8, heads: 2, positions: 80 } },
    reference: { sft: { steps: 3, lr: 1e-3 } },
    rewards: [{ name: 'len', kind: 'builtin', scorer: 'length', options: { target: 4 } }],
    value: { fitOn: 'train', folds: 2, epochs: 1, heads: 2 },
    train: { variant: 'a_lol', steps: 6, batchSize: 4, evalEvery: 0, checkpointEvery: 2, clipEps: 0.3 },
    eval: { maxNewTokens: 4, maxPrompts: 3, samplesPerPrompt: 2 },
    device: 'cpu',
    threads: 1,
  };
  await writeFile(path.join(dir, 'run.json'), JSON.stringify(config));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('the compute-backend seam', () => {
  it('audit, training and evaluation run through a fake backend: no ORT session; run folder and events from its numbers', async () => {
    const fake = new FakeCompute();
    const loaded = await loadRunConfig(path.join(dir, 'run.json'));
    const runDir = path.join(dir, 'run');
    const quiet = { say: () => undefined, progress: () => ({ update: () => undefined, stop: () => undefined }) };
    const sessions = sessionsCreated();
    const ctx = await openRunContext({ verb: 'train', loaded, runDir, cacheDir: null, writeConfig: true, compute: () => fake, ...quiet });
    const { summary, audit } = await inRun(ctx, () => runExperiment(ctx, ['a_lol']));
    assert.equal(sessionsCreated(), sessions, 'no ONNX Runtime session was created');
    assert.equal(fake.releases, 1, 'the run released its backend once');
    for (const call of ['policyTrainer:nll', 'tokenLogprobs', 'promptHidden', 'valueHead', 'policyTrainer:a_lol', 'generator']) {
      assert.ok(fake.calls.includes(call), `${call} went through the backend (calls: ${[...new Set(fake.calls)].join(', ')})`);
    }
    // The variant's settings reach the backend from the run's config (not from the audit).
    const alol = fake.trainers.find((t) => t.spec.objective.kind === 'variant');
    assert.ok(alol && alol.spec.objective.kind === 'variant');
    assert.equal(alol.spec.objective.settings.clipEps, 0.3);
    assert.equal(alol.spec.rows, 4);

    // Run folder.
    for (const f of [
      'config.json',
      'events.jsonl',
      'advantages.jsonl',
      'summary.json',
      'reference/model.safetensors',
      'a_lol/result.json',
      'a_lol/final/model.safetensors',
    ]) {
      assert.ok(existsSync(path.join(runDir, f)), f);
    }
    const steps = summary.variants.a_lol.steps;
    assert.ok(steps >= 1 && steps <= 6, `${steps} steps`);
    if (steps > 2) assert.ok(existsSync(path.join(runDir, 'a_lol', 'checkpoints', 'step-000002')), 'checkpoint at step 2');
    // reference/: the SFT reference is the fake trainer's weights (every weight + sum of the 3 learning rates).
    const ref = await loadModelFolder(path.join(runDir, 'reference'));
    assert.deepEqual(ref.params, audit.reference.params);
    // The final model is what the fake trainer holds after its updates.
    const final = await loadModelFolder(path.join(runDir, 'a_lol', 'final'));
    assert.deepEqual(final.params, await alol.trainer.weights());
    assert.equal(alol.trainer.step, steps);

    // advantages.jsonl: reference log-probs are the fake's, every row's advantage is R - V.
    const rows = readFileSync(path.join(runDir, 'advantages.jsonl'), 'utf8').trim().split('\n').map(
      (l) => JSON.parse(l) as {
        rowId: string; refLogprob: number; refTokens: number; reward: { total: number }; value: number; advantage: number,
        kept: boolean; timesSampled: number;
      },
    );
    // times sampled: every draw of the run (steps x 4 rows, one row a unit), and none of a filtered row (priority on A+)
    assert.equal(rows.reduce((a, r) => a + r.timesSampled, 0), steps * 4);
    assert.ok(rows.every((r) => r.kept || r.timesSampled === 0), 'a filtered row was drawn');
    assert.ok(rows.some((r) => r.timesSampled > 0));
    assert.equal(rows.length, audit.train.length);
    rows.forEach((r, i) => {
      const t = audit.train[i];
      assert.equal(r.rowId, t.row.id);
      const want = t.response.reduce((a, tok) => a + Math.fround(fakeTokenLogprob(tok, t.prompt.length)), 0);
      assert.ok(Math.abs(r.refLogprob - want) < 1e-5, `${r.rowId}: ${r.refLogprob} vs ${want}`);
      assert.equal(r.refTokens, t.response.length);
      assert.equal(r.advantage, r.reward.total - r.value);
    });

    // Events: valid protocol, in order, with the fake's numbers.
    const lines = readFileSync(path.join(runDir, 'events.jsonl'), 'utf8').trim().split('\n').map(parseEventLine);
    assert.ok(lines.every((l) => l.ok), JSON.stringify(lines.find((l) => !l.ok)));
    const events = lines.flatMap((l) => (l.ok ? [l.event as TrainerEvent] : []));
    assert.equal(events[0].type, 'run/didStart');
    assert.equal(events[events.length - 1].type, 'run/didFinish');
    const stepEvents = events.flatMap((e) => (e.type === 'step/didComplete' && e.phase === 'training' ? [e] : []));
    assert.deepEqual(stepEvents.map((e) => e.step), Array.from({ length: steps }, (_, i) => i + 1));
    assert.deepEqual(stepEvents.map((e) => e.loss), stepEvents.map((e) => fakeLoss(e.step)));
    assert.ok(stepEvents.every((e) => e.variant === 'a_lol' && e.meanImportanceWeight === 1 && e.clipFraction === 0));
    const evals = events.flatMap((e) => (e.type === 'eval/didComplete' ? [e] : []));
    assert.deepEqual(
      evals.map((e) => [e.variant, e.split, e.sampled]),
      [['reference', 'test', false], ['reference', 'test', true], ['a_lol', 'test', false], ['a_lol', 'test', true]],
    );
    const saves = events.flatMap((e) => (e.type === 'checkpoint/didSave' ? [e] : []));
    assert.equal(saves[saves.length - 1].dir, path.join(runDir, 'a_lol', 'final'));
    assert.ok(events.some((e) => e.type === 'advantages/didCompute'));
    // The summary holds the evaluations of the fake's generations.
    assert.deepEqual(Object.keys(summary.variants), ['reference', 'a_lol']);
    // eval.maxPrompts 3 of the test split's prompts (whole prompt groups: 5 rows each)
    const testPrompts = new Set(audit.allRows.filter((r) => r.split === 'test').map((r) => r.prompt)).size;
    assert.ok(testPrompts >= 1);
    assert.equal(summary.prompts, Math.min(3, testPrompts));
  });
});
