// `alol train` with train.stepsPerRun 3 (K steps per ONNX Runtime run: graph/loop.ts) against the same run with
// stepsPerRun 1, on a small word task (test/helpers/word-task.ts), a_lol: every training step still reports its own
// event, with the same loss, gradient norm, mean importance weight and clip fraction; the checkpoints fall on the
// same steps (runs end there, and at evaluations); the final weights are the same bytes. All batches of this task
// share one padded length, so no step is padded further than with stepsPerRun 1 (which would only be equal up to
// rounding: test/unit/loop-trainer.test.ts). A Loop does not pack rows (model/pack.ts), so both runs turn packing
// off (train.packRows false) to compare the same graphs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredEvent } from '../../src/protocol/trainer.js';
import { wordTaskConfig, writeWordTask } from '../helpers/word-task.js';

const bin = path.resolve(__dirname, '../../../bin/alol.js');
let dir = '';

function train(out: string, ...set: string[]): void {
  const r = spawnSync(process.execPath, [bin, 'train', '--config', 'run.json', '--out', out, ...set.flatMap((s) => ['--set', s])], {
    cwd: dir,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
}

const steps = (out: string) =>
  readFileSync(path.join(dir, out, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StoredEvent)
    .flatMap((e) => (e.type === 'step/didComplete' && e.phase === 'training'
      ? [{ step: e.step, loss: e.loss, gradNorm: e.gradNorm, weight: e.meanImportanceWeight, clip: e.clipFraction }]
      : []));

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-steps-per-run-'));
  await writeWordTask(dir);
  const cfg = wordTaskConfig({ steps: 9, evalEvery: 4, checkpointEvery: 3, sampler: 'all' });
  const small = {
    ...cfg,
    reference: { sft: { steps: 10, lr: 3e-3 } },
    value: { ...cfg.value, epochs: 1 },
    eval: { ...cfg.eval, maxPrompts: 2, validationPrompts: 2, samplesPerPrompt: 1 },
    threads: 1,
  };
  await writeFile(path.join(dir, 'run.json'), JSON.stringify(small));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('alol train with train.stepsPerRun', () => {
  it('3 steps per run: the same per-step events, checkpoints and final weights as 1', async () => {
    // a Loop graph does not pack rows: both runs leave packing off (the reference fine-tuning too) to compare the same graphs
    train('one', 'train.packRows=false');
    train('three', 'train.stepsPerRun=3', 'train.packRows=false');
    const [a, b] = [steps('one'), steps('three')];
    assert.deepEqual(a.map((s) => s.step), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(b, a);
    assert.equal(b[0].weight, 1, 'importance weights exactly 1 at step 0');
    assert.ok(b.slice(1).some((s) => s.weight !== 1), 'the policy moved');
    const ckpts = (out: string) => readdirSync(path.join(dir, out, 'a_lol', 'checkpoints')).sort();
    assert.deepEqual(ckpts('three'), ckpts('one'));
    assert.deepEqual(ckpts('three'), ['step-000003', 'step-000006']);
    const weights = (out: string) => readFile(path.join(dir, out, 'a_lol', 'final', 'model.safetensors'));
    assert.deepEqual(await weights('three'), await weights('one'));
  });

  it('refuses stepsPerRun with gradient accumulation, naming the field', () => {
    const r = spawnSync(
      process.execPath,
      [bin, 'train', '--config', 'run.json', '--out', 'bad', '--set', 'train.stepsPerRun=2', '--set', 'train.gradAccum=2'],
      { cwd: dir, encoding: 'utf8' },
    );
    assert.notEqual(r.status, 0);
    assert.match(`${r.stdout}${r.stderr}`, /train\.stepsPerRun.*gradAccum 1/s);
  });
});
