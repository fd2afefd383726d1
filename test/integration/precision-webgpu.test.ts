// Mixed precision on WebGPU (graph/ops.ts matmul autocast, graph/optim.ts loss scaling, runtime/loss-scale.ts): the
// float16 step graph (GPT-2, Llama) against the float32 one on the same inputs, a 16-step run of the tiny model in
// float16 against float32, an overflow that skips its update, and `alol train --precision float16` end to end, within
// the tolerances below (measured on Mesa's lavapipe; docs/benchmarks.md "Mixed precision"). Skips with the reason when
// there is no WebGPU adapter or it does not compute in float16 (shader-f16) — unless ALOL_REQUIRE_WEBGPU=1 (set by
// .ci/run), where that fails.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { OrtBackend } from '../../src/trainer/compute/ort/backend.js';
import type { TrainBatch } from '../../src/trainer/compute/backend.js';
import { type ComputeType, Graph } from '../../src/trainer/graph/ir.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import * as o from '../../src/trainer/graph/ops.js';
import { DEFAULT_ADAMW, GRAD_FINITE, LOSS_SCALE } from '../../src/trainer/graph/optim.js';
import { initParams, paramFeeds } from '../../src/trainer/model/family.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { llamaConfig } from '../../src/trainer/model/llama-config.js';
import { buildStepGraph } from '../../src/trainer/model/gpt-graphs.js';
import { probeProvider } from '../../src/trainer/runtime/device.js';
import { Session, memcpyNodes, tensor } from '../../src/trainer/runtime/session.js';
import { ADAM_STEP } from '../../src/trainer/runtime/stepper.js';
import { tinyRunConfig, writeTinyData } from '../helpers/tiny-run.js';
import { Rng } from '../../src/trainer/util/rng.js';
import { ALOL_BIN } from '../helpers/cli.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp'; // Dawn's Vulkan backend warns without it
const REQUIRED = process.env.ALOL_REQUIRE_WEBGPU === '1';

const cfg = gptConfig({ vocabSize: 257, nPositions: 32, nEmbd: 32, nLayer: 2, nHead: 4 });
const llama = llamaConfig({ vocabSize: 257, nPositions: 32, nEmbd: 32, nLayer: 2, nHead: 4, nKvHead: 2, nInner: 64 });
const [B, T] = [4, 32];
const STEPS = 16;

// Tolerances (nats/token of the mean loss; the tiny model starts near ln 257 = 5.55), about 10x what lavapipe gives:
// one step's loss 4e-6 apart between float16 and float32 MatMuls (a row's summed log-prob 3.4e-4), a 16-step run's
// losses at most 2.4e-4 apart.
const ONE_STEP_LOSS_TOL = 5e-4;
const RUN_LOSS_TOL = 2e-3;
// `alol train` (4 reference SFT steps, then a_lol): losses 7.7-7.9e-3 apart at magnitude ~180, 4e-5 relative
const E2E_REL_TOL = 5e-4;

/** Random tokens; targets a fixed map of each token (learnable in a few steps). */
function batches(n: number, seed: number): TrainBatch[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const ids = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize)));
    const targets = ids.map((x) => (x * 3n + 1n) % BigInt(cfg.vocabSize));
    const mask = Float32Array.from({ length: B * T }, (_, i) => (i % T < 4 ? 0 : 1));
    return { rows: B, seqLen: T, ids, targets, mask, exampleWeight: new Float32Array(B).fill(1 / T) };
  });
}

/** Whether the WebGPU provider runs a float16 MatMul (shader-f16) with float16 results; null when it does. */
async function float16Missing(): Promise<string | null> {
  const g = new Graph({ name: 'f16_probe' });
  const a = g.floatInput('a', [2, 2]);
  g.output('y', o.cast(o.matmul(o.cast(a, 'float16'), o.cast(a, 'float16')), 'float32'));
  try {
    const s = await Session.create(serialize(g), 'f16_probe', { provider: 'webgpu', logSeverity: 4 });
    // 1 + 2^-11 is not a float16: rounded to 1 on the device, kept by a float32 fallback
    const x = 1 + 2 ** -11;
    const y = (await s.run({ a: tensor('float32', Float32Array.of(x, 0, 0, x), [2, 2]) })).y.data as Float32Array;
    await s.release();
    return y[0] === 1 ? null : `the WebGPU provider did not compute in float16 (got ${y[0]})`;
  } catch (e) {
    return `the WebGPU provider cannot run a float16 MatMul (${String(e instanceof Error ? e.message : e).split('\n')[0].slice(0, 200)})`;
  }
}

async function train(precision: ComputeType, data: TrainBatch[]) {
  const backend = new OrtBackend({ provider: 'webgpu', threads: 1 }, precision);
  const trainer = backend.policyTrainer(
    { config: cfg, params: initParams(cfg, 3) },
    { objective: { kind: 'nll' }, rows: B, adamw: { ...DEFAULT_ADAMW, gradClip: 1 } },
  );
  const losses: number[] = [];
  const extras: Record<string, number>[] = [];
  try {
    for (const batch of data) {
      const s = await trainer.update([batch], 3e-3);
      losses.push(s.loss);
      extras.push(s.extra);
    }
    return { losses, extras, step: trainer.step, weights: await trainer.weights() };
  } finally {
    await trainer.dispose();
    await backend.release();
  }
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('mixed precision (float16) on WebGPU', () => {
  let skip: string | false = false;
  before(async () => {
    const err = await probeProvider('webgpu');
    if (err !== null) skip = `no WebGPU adapter (${err})`;
    else skip = (await float16Missing()) ?? false;
  });
  const skipped = (t: { skip: (m: string) => void }): boolean => {
    if (!skip) return false;
    if (REQUIRED) assert.fail(`${skip}; ALOL_REQUIRE_WEBGPU=1 (install mesa-vulkan-drivers >= 25, see .ci/run)`);
    t.skip(skip);
    return true;
  };

  for (const [family, model] of [['GPT-2', cfg], ['Llama (GQA)', llama]] as const) {
    it(`the float16 step graph (${family}): the same loss as float32 within tolerance`, async (t) => {
      if (skipped(t)) return;
      const [batch] = batches(1, 5);
      const params = paramFeeds(model, initParams(model, 3), 'test');
      const run = async (compute: ComputeType) => {
        const g = buildStepGraph(model, { batch: B, seqLen: T }, { composedLogSoftmax: true, embeddingGrad: 'onehot', compute });
        const feeds: Record<string, ReturnType<typeof tensor>> = {
          ...params,
          ids: tensor('int64', batch.ids, [B, T]),
          targets: tensor('int64', batch.targets, [B, T]),
          mask: tensor('float32', batch.mask, [B, T]),
          example_weight: tensor('float32', batch.exampleWeight as Float32Array, [B]),
          lr: tensor('float32', Float32Array.of(1e-3), []),
          step: tensor('float32', Float32Array.of(1), []),
        };
        for (const v of g.inputs.filter((x) => x.name.startsWith('adam.'))) {
          const p = params[v.name.slice('adam.m.'.length)]; // zero moments of its parameter's shape
          feeds[v.name] = tensor('float32', new Float32Array(p.size), [...p.dims]);
        }
        if (compute === 'float16') feeds[LOSS_SCALE] = tensor('float32', Float32Array.of(1024), []);
        const s = await Session.create(serialize(g), `step_${compute}`, { provider: 'webgpu' });
        try {
          const out = await s.run(feeds);
          const seq = Float32Array.from(out.seq_logprob.data as Float32Array);
          return { loss: Number(out.loss.data[0]), seq, norm: Number(out.grad_norm.data[0]), finite: out[GRAD_FINITE]?.data[0] };
        } finally {
          await s.release();
        }
      };
      const f32 = await run('float32');
      const f16 = await run('float16');
      assert.equal(f16.finite, 1, 'the float16 gradients are finite at loss scale 1024');
      const dLoss = Math.abs(f16.loss - f32.loss);
      t.diagnostic(`loss float32 ${f32.loss}, float16 ${f16.loss} (|d| ${dLoss.toExponential(2)}); grad norm ${f32.norm} vs ${f16.norm}`);
      assert.ok(dLoss < ONE_STEP_LOSS_TOL, `loss ${f16.loss} vs ${f32.loss}`);
      // a row's log-prob (a sum over T tokens, ~155) moves by more than float32 summation orders would (~1e-5): the
      // operands were rounded to float16
      const dSeq = maxAbs(f16.seq, f32.seq);
      t.diagnostic(`seq_logprob max |d| ${dSeq.toExponential(2)}`);
      assert.ok(dSeq > 5e-5 && dSeq < T * ONE_STEP_LOSS_TOL, `seq_logprob ${f16.seq} vs ${f32.seq}`);
      assert.ok(Math.abs(f16.norm - f32.norm) / f32.norm < 0.05, `gradient norm ${f16.norm} vs ${f32.norm}`);
    });
  }

  it(`a ${STEPS}-step run in float16 follows float32 (losses within ${RUN_LOSS_TOL}); the loss scale is reported`, async (t) => {
    if (skipped(t)) return;
    const data = batches(STEPS, 1);
    const f32 = await train('float32', data);
    const optimized = mkdtempSync(path.join(os.tmpdir(), 'alol-f16-optimized-'));
    process.env.ALOL_ORT_OPTIMIZED_DIR = optimized; // the sessions write the graphs ORT optimized for the provider
    const f16 = await train('float16', data).finally(() => delete process.env.ALOL_ORT_OPTIMIZED_DIR);
    try {
      // the weights and moments stay on the device; one scalar goes to the host and back: ORT's WebGPU provider has
      // no IsNaN/IsInf kernels, so the finiteness test of the gradient norm runs on the CPU
      const step = readdirSync(optimized).find((f) => f.startsWith('gpt_step_update'));
      assert.ok(step, `the optimized step graph was written (${readdirSync(optimized).join(', ')})`);
      assert.equal(memcpyNodes(path.join(optimized, step)).toHost, 1, 'one copy to the host: the gradient norm');
    } finally {
      rmSync(optimized, { recursive: true, force: true });
    }
    const diff = maxAbs(f16.losses, f32.losses);
    const skippedUpdates = f16.extras.at(-1)?.skipped_updates ?? -1;
    t.diagnostic(`float32 losses ${f32.losses.map((x) => x.toFixed(4)).join(' ')}`);
    t.diagnostic(`float16 losses ${f16.losses.map((x) => x.toFixed(4)).join(' ')}`);
    const scales = f16.extras.map((e) => e.loss_scale).join(' ');
    t.diagnostic(`max |d loss| ${diff.toExponential(2)}; loss scales ${scales}; skipped ${skippedUpdates}`);
    assert.ok(f16.extras.every((e) => typeof e.loss_scale === 'number' && e.loss_scale >= 1), 'each step reports its loss scale');
    assert.equal(f16.step, STEPS - skippedUpdates, 'skipped updates are not counted as optimizer steps');
    assert.ok(skippedUpdates <= 2, `at most the first steps skip while the scale backs off (${skippedUpdates})`);
    assert.ok(diff < RUN_LOSS_TOL, `float16 losses ${f16.losses} vs float32 ${f32.losses}`);
    assert.ok(f16.losses[STEPS - 1] < f16.losses[0] - 0.1, 'float16 training lowers the loss');
    for (const name of f32.weights.keys()) {
      const w16 = f16.weights.get(name) as Float32Array;
      assert.ok(w16.every(Number.isFinite), `${name}: finite float32 master weights`);
    }
  });

  it('an overflow in float16 skips the update (weights, moments and AdamW\'s step unchanged) and halves the loss scale', async (t) => {
    if (skipped(t)) return;
    const backend = new OrtBackend({ provider: 'webgpu', threads: 1 }, 'float16');
    const spec = { objective: { kind: 'nll' as const }, rows: B, adamw: DEFAULT_ADAMW };
    const trainer = backend.policyTrainer({ config: cfg, params: initParams(cfg, 3) }, spec);
    try {
      const [a, b] = batches(2, 9);
      await trainer.update([a], 3e-3);
      const before = await trainer.state();
      const stepper = (trainer as unknown as { stepper: { scaler: { scale: number }; adamStep: number } }).stepper;
      const scaler = stepper.scaler;
      scaler.scale = 2 ** 40; // dLoss/dlogits * 2^40 is far past float16's 65504
      const s = await trainer.update([b], 3e-3);
      assert.equal(s.extra.grad_finite, 0, 'the float16 gradients overflowed');
      assert.equal(s.gradNorm, 0, 'a skipped update reports norm 0 (not a diverging run for the watchdog)');
      assert.equal(s.extra.skipped_updates, 1);
      assert.equal(s.extra.loss_scale, 2 ** 40, 'the step reports the scale it used');
      assert.equal(scaler.scale, 2 ** 39, 'halved for the next step');
      assert.equal(trainer.step, 2, 'the updates made (the training loop\'s count)');
      assert.equal(stepper.adamStep, 1, 'a skipped update is not an AdamW step');
      const after = await trainer.state();
      for (const [name, w] of [...before.params, ...before.optimizer]) {
        const w2 = after.params.get(name) ?? after.optimizer.get(name);
        assert.deepEqual(w2, w, `${name} unchanged by the skipped update`);
      }
      assert.deepEqual(Array.from(after.optimizer.get(ADAM_STEP) ?? []), [1], 'a checkpoint keeps AdamW\'s count');
      scaler.scale = 1024;
      const ok = await trainer.update([b], 3e-3);
      assert.equal(ok.extra.grad_finite, 1);
      assert.deepEqual([trainer.step, stepper.adamStep], [3, 2]);
    } finally {
      await trainer.dispose();
      await backend.release();
    }
  });

  it('alol train --precision float16 on webgpu: the run config says so, steps report the loss scale, losses follow float32', async (t) => {
    if (skipped(t)) return;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'alol-precision-run-'));
    try {
      await writeTinyData(dir);
      await writeFile(path.join(dir, 'run.json'), JSON.stringify(tinyRunConfig('webgpu')));
      type Step = { type: string; variant?: string; phase?: string; loss: number; meanImportanceWeight?: number; lossScale?: number;
        skippedUpdate?: boolean };
      const steps: Record<string, Step[]> = {};
      for (const precision of ['float32', 'float16']) {
        const r = spawnSync(process.execPath, [ALOL_BIN, 'train', '--config', 'run.json', '--precision', precision, '--out', precision], {
          cwd: dir, encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
        });
        assert.equal(r.status, 0, `${precision}: ${r.stdout}\n${r.stderr}`);
        const saved = JSON.parse(await readFile(path.join(dir, precision, 'config.json'), 'utf8')) as { backend: { precision: string } };
        assert.equal(saved.backend.precision, precision, 'the resolved config saved with the run names the precision');
        steps[precision] = (await readFile(path.join(dir, precision, 'events.jsonl'), 'utf8')).trim().split('\n')
          .map((l) => JSON.parse(l) as Step).filter((e) => e.type === 'step/didComplete' && e.phase !== 'value');
      }
      const [f32, f16] = [steps.float32, steps.float16];
      assert.ok(f16.length >= 6 && f16.length === f32.length, `${f16.length} vs ${f32.length} steps (reference SFT, then a_lol)`);
      const scales = JSON.stringify(f16.map((e) => [e.lossScale, e.skippedUpdate]));
      assert.ok(f16.every((e) => e.lossScale === 2 ** 10 && e.skippedUpdate === false), `each step: its scale, not skipped: ${scales}`);
      assert.ok(f32.every((e) => e.lossScale === undefined), 'float32 steps have no loss scale');
      const first = f16.find((e) => e.variant === 'a_lol');
      assert.equal(first?.meanImportanceWeight, 1, 'the no-grad passes stay float32: importance weights exactly 1 at step 0');
      const diff = maxAbs(f16.map((e) => e.loss), f32.map((e) => e.loss));
      t.diagnostic(`reference SFT + a_lol losses, float16 vs float32: max |d| ${diff.toExponential(2)}`);
      // these losses are sums over a sequence's tokens (~180 for the SFT steps): relative to the largest
      assert.ok(diff < E2E_REL_TOL * Math.max(...f32.map((e) => Math.abs(e.loss))), `losses differ by ${diff}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
