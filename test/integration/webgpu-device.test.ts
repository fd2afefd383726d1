// Device-resident training on WebGPU (runtime/device-stepper.ts): the ORT backend's trainer on the webgpu provider
// keeps weights, AdamW moments and accumulators on the device between steps. Checked: after the first step every
// parameter is a device tensor; from then on a step moves only the batch and lr/step to the device and the loss and
// scalars back; losses and weights follow the CPU trainer's (float32, other kernels: within the tolerances below);
// weights and state read back through the identity graph, and a state loaded back continues the same way.
//
// The GPU here is Mesa's lavapipe (software Vulkan, mesa-vulkan-drivers >= 25 from bookworm-backports; .ci/run
// installs it). Without a WebGPU adapter these tests skip with the reason — unless ALOL_REQUIRE_WEBGPU=1 (set by
// .ci/run), where they fail.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { OrtBackend } from '../../src/trainer/compute/ort/backend.js';
import type { PolicyTrainer, TrainBatch } from '../../src/trainer/compute/backend.js';
import type { OrtPolicyTrainer } from '../../src/trainer/compute/ort/trainers.js';
import { DEFAULT_ADAMW } from '../../src/trainer/graph/optim.js';
import { initParams } from '../../src/trainer/model/family.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { initLoraParams, resolveLora } from '../../src/trainer/model/lora.js';
import { tinyRunConfig, writeTinyData } from '../helpers/tiny-run.js';
import { probeProvider } from '../../src/trainer/runtime/device.js';
import { memcpyNodes } from '../../src/trainer/runtime/session.js';
import { SessionPool } from '../../src/trainer/runtime/pool.js';
import { Generator } from '../../src/trainer/model/generate.js';
import { LogprobScorer } from '../../src/trainer/model/logprobs.js';
import { Rng } from '../../src/trainer/util/rng.js';
import { ALOL_BIN } from '../helpers/cli.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp'; // Dawn's Vulkan backend warns without it
const REQUIRED = process.env.ALOL_REQUIRE_WEBGPU === '1';

const cfg = gptConfig({ vocabSize: 257, nPositions: 32, nEmbd: 32, nLayer: 2, nHead: 4 });
const [B, T] = [4, 32];

function batches(n: number, seed: number): TrainBatch[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const ids = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize)));
    const targets = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize)));
    const mask = Float32Array.from({ length: B * T }, (_, i) => (i % T < 4 ? 0 : 1));
    return { rows: B, seqLen: T, ids, targets, mask, exampleWeight: new Float32Array(B).fill(1 / T) };
  });
}

async function train(provider: 'cpu' | 'webgpu', steps: TrainBatch[], accum = 1) {
  const backend = new OrtBackend({ provider, threads: 1 });
  const trainer = backend.policyTrainer(
    { config: cfg, params: initParams(cfg, 3) },
    { objective: { kind: 'nll' }, rows: B, adamw: { ...DEFAULT_ADAMW, gradClip: 1 } },
  );
  const losses: number[] = [];
  const traffic: { fedBytes: number; fetchedBytes: number }[] = [];
  for (let i = 0; i + accum <= steps.length; i += accum) {
    losses.push((await trainer.update(steps.slice(i, i + accum), 3e-3)).loss);
    const t = (trainer as OrtPolicyTrainer).traffic;
    if (t) traffic.push({ ...t.last });
  }
  return { backend, trainer, losses, traffic };
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

async function close(t: { backend: OrtBackend; trainer: PolicyTrainer }): Promise<void> {
  await t.trainer.dispose();
  await t.backend.release();
}

describe('device-resident training on WebGPU', () => {
  let skip: string | false = false;
  before(async () => {
    const err = await probeProvider('webgpu');
    if (err !== null) skip = `no WebGPU adapter (${err})`;
  });

  it('keeps weights and moments on the device: a step moves the batch and scalars only; losses follow the CPU', async (t) => {
    if (skip) {
      if (REQUIRED) assert.fail(`${skip}; ALOL_REQUIRE_WEBGPU=1 (install mesa-vulkan-drivers >= 25, see .ci/run)`);
      t.skip(skip);
      return;
    }
    const data = batches(6, 1);
    const optimized = mkdtempSync(path.join(os.tmpdir(), 'alol-webgpu-optimized-'));
    process.env.ALOL_ORT_OPTIMIZED_DIR = optimized; // the sessions write the graphs ORT optimized for the provider
    const gpu = await train('webgpu', data);
    delete process.env.ALOL_ORT_OPTIMIZED_DIR;
    const cpu = await train('cpu', data);
    try {
      // every op of the step runs on the device: no copy back to the host inside the graph (LogSoftmax, which the
      // provider lacks, is composed of ops it has)
      const step = readdirSync(optimized).find((f) => f.startsWith('gpt_step_update'));
      assert.ok(step, `the optimized step graph was written (${readdirSync(optimized).join(', ')})`);
      assert.equal(memcpyNodes(path.join(optimized, step)).toHost, 0, 'no node of the step graph copies to the host');
      const stepper = (gpu.trainer as unknown as { stepper: { resident: boolean } }).stepper;
      assert.equal(stepper.resident, true, 'parameters are device tensors after the first step');
      // the batch: ids, targets (int64), mask (float32), example weights; lr and step: two float32 scalars
      const batchBytes = B * T * (8 + 8 + 4) + B * 4 + 2 * 4;
      const [firstStep, ...rest] = gpu.traffic;
      assert.ok(firstStep.fedBytes > batchBytes, 'the first step sends the weights up once');
      for (const s of rest) {
        assert.equal(s.fedBytes, batchBytes, 'later steps send the batch, lr and step only');
        assert.ok(s.fetchedBytes <= 64, `a step fetches the loss and a few scalars (${s.fetchedBytes} bytes)`);
      }
      assert.ok(maxAbs(gpu.losses, cpu.losses) < 1e-3, `losses ${gpu.losses} vs cpu ${cpu.losses}`);
      const [wg, wc] = [await gpu.trainer.weights(), await cpu.trainer.weights()];
      for (const [name, w] of wc) assert.ok(maxAbs(wg.get(name) as Float32Array, w) < 1e-3, `${name} differs from the CPU's`);
    } finally {
      await close(gpu);
      await close(cpu);
      rmSync(optimized, { recursive: true, force: true });
    }
  });

  it('a_lol: the no-grad pass\'s per-token log-probs stay on the device for the step that reads them', async (t) => {
    if (skip) {
      if (REQUIRED) assert.fail(`${skip}; ALOL_REQUIRE_WEBGPU=1`);
      t.skip(skip);
      return;
    }
    const backend = new OrtBackend({ provider: 'webgpu', threads: 1 });
    const settings = { clipEps: 0.9, klBeta: 0, dpoBeta: 0.1 };
    const trainer = backend.policyTrainer(
      { config: cfg, params: initParams(cfg, 3) },
      { objective: { kind: 'variant', variant: 'a_lol', settings }, rows: B, adamw: DEFAULT_ADAMW },
    );
    try {
      const traffic: { fedBytes: number; fetchedBytes: number }[] = [];
      for (const batch of batches(3, 4)) {
        const ref = (await trainer.logprobs(batch)).token; // the reference = the starting policy
        const stats = await trainer.update([{ ...batch, refTokenLogp: ref, coef: new Float32Array(B).fill(0.5) }], 1e-3);
        if (traffic.length === 0) assert.equal(stats.extra.mean_weight, 1, 'step 0: policy and reference from one graph');
        traffic.push({ ...((trainer as OrtPolicyTrainer).traffic?.last ?? { fedBytes: -1, fetchedBytes: -1 }) });
      }
      // tokens twice (the no-grad pass and the step), the reference log-probs, coef, lr and step; back: the pass's
      // sequence log-probs and the step's scalars, not the per-token log-probs [B, T]
      const tokens = B * T * (8 + 8 + 4);
      for (const s of traffic.slice(1)) {
        assert.equal(s.fedBytes, 2 * tokens + B * T * 4 + B * 4 + 8);
        assert.ok(s.fetchedBytes < B * 4 + 64, `the policy's token log-probs did not come back (${s.fetchedBytes} bytes)`);
      }
    } finally {
      await close({ backend, trainer });
    }
  });

  it('LoRA: the frozen base goes to the device once; a step then moves the batch and scalars only', async (t) => {
    if (skip) {
      if (REQUIRED) assert.fail(`${skip}; ALOL_REQUIRE_WEBGPU=1`);
      t.skip(skip);
      return;
    }
    const spec = resolveLora(cfg, { r: 4, alpha: 8, dropout: 0, targets: 'all-linear' });
    const run = async (provider: 'cpu' | 'webgpu') => {
      const backend = new OrtBackend({ provider, threads: 1 });
      const trainer = backend.policyTrainer(
        { config: cfg, params: initParams(cfg, 3) },
        { objective: { kind: 'nll' }, rows: B, adamw: DEFAULT_ADAMW, lora: { spec, init: initLoraParams(cfg, spec, 5), seed: 5 } },
      );
      const losses: number[] = [];
      const fed: number[] = [];
      for (const batch of batches(4, 3)) {
        losses.push((await trainer.update([batch], 1e-2)).loss);
        fed.push((trainer as OrtPolicyTrainer).traffic?.last.fedBytes ?? -1);
      }
      const weights = await trainer.weights();
      await close({ backend, trainer });
      return { losses, fed, weights };
    };
    const [gpu, cpu] = [await run('webgpu'), await run('cpu')];
    const batchBytes = B * T * (8 + 8 + 4) + B * 4 + 2 * 4;
    // the first step sends the frozen base up once (before its step graph runs) and the adapters with their two AdamW
    // moments; later steps the batch, lr and step only
    const adapterBytes = [...initLoraParams(cfg, spec, 5).values()].reduce((a, w) => a + w.byteLength, 0);
    const baseBytes = [...initParams(cfg, 3).values()].reduce((a, w) => a + w.byteLength, 0);
    assert.equal(gpu.fed[0], batchBytes + 3 * adapterBytes + baseBytes);
    for (const f of gpu.fed.slice(1)) assert.equal(f, batchBytes);
    assert.ok(maxAbs(gpu.losses, cpu.losses) < 1e-3, `losses ${gpu.losses} vs cpu ${cpu.losses}`);
    for (const [name, w] of cpu.weights) assert.ok(maxAbs(gpu.weights.get(name) as Float32Array, w) < 1e-3, name);
  });

  it('alol train runs a_lol on webgpu as on the cpu: importance weights exactly 1 at the first step, the same losses', async (t) => {
    if (skip) {
      if (REQUIRED) assert.fail(`${skip}; ALOL_REQUIRE_WEBGPU=1`);
      t.skip(skip);
      return;
    }
    const dir = await mkdtemp(path.join(os.tmpdir(), 'alol-webgpu-run-'));
    try {
      await writeTinyData(dir);
      const steps: Record<string, { loss: number; meanImportanceWeight?: number }[]> = {};
      for (const device of ['webgpu', 'cpu']) {
        await writeFile(path.join(dir, `${device}.json`), JSON.stringify(tinyRunConfig(device)));
        const r = spawnSync(process.execPath, [ALOL_BIN, 'train', '--config', `${device}.json`, '--out', device], {
          cwd: dir, encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
        });
        assert.equal(r.status, 0, `${device}: ${r.stdout}\n${r.stderr}`);
        if (device === 'webgpu') assert.doesNotMatch(r.stdout + r.stderr, /using cpu instead/, 'it ran on webgpu, not a fallback');
        steps[device] = (await readFile(path.join(dir, device, 'events.jsonl'), 'utf8')).trim().split('\n')
          .map((l) => JSON.parse(l) as { type: string; variant?: string; loss: number; meanImportanceWeight?: number })
          .filter((e) => e.type === 'step/didComplete' && e.variant === 'a_lol');
      }
      // A-LoL's step budget scales with the share of rows kept: the same on both devices
      const [n, nCpu] = [steps.webgpu.length, steps.cpu.length];
      assert.ok(n >= 2 && n === nCpu, `${n} vs ${nCpu} steps`);
      assert.equal(steps.webgpu[0].meanImportanceWeight, 1, 'reference and policy log-probs from the same graph on the device');
      const diff = maxAbs(steps.webgpu.map((e) => e.loss), steps.cpu.map((e) => e.loss));
      assert.ok(diff < 1e-3 * Math.max(...steps.cpu.map((e) => Math.abs(e.loss))), `a_lol losses differ by ${diff}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('state read back and loaded again continues as the uninterrupted run; accumulation works on the device', async (t) => {
    if (skip) {
      if (REQUIRED) assert.fail(`${skip}; ALOL_REQUIRE_WEBGPU=1`);
      t.skip(skip);
      return;
    }
    const data = batches(8, 2);
    const whole = await train('webgpu', data, 2); // 4 updates of 2 accumulated micro-batches
    const half = await train('webgpu', data.slice(0, 4), 2);
    try {
      const state = await half.trainer.state();
      const resumed = new OrtBackend({ provider: 'webgpu', threads: 1 });
      const trainer = resumed.policyTrainer(
        { config: cfg, params: initParams(cfg, 99) }, // other weights: loadState must replace them all
        { objective: { kind: 'nll' }, rows: B, adamw: { ...DEFAULT_ADAMW, gradClip: 1 } },
      );
      await trainer.loadState(state, half.trainer.step);
      const rest: number[] = [];
      for (let i = 4; i < 8; i += 2) rest.push((await trainer.update(data.slice(i, i + 2), 3e-3)).loss);
      assert.ok(maxAbs(rest, whole.losses.slice(2)) < 1e-5, `resumed ${rest} vs whole ${whole.losses.slice(2)}`);
      const [a, b] = [await trainer.weights(), await whole.trainer.weights()];
      for (const [name, w] of b) assert.ok(maxAbs(a.get(name) as Float32Array, w) < 1e-5, name);
      const cpu = await train('cpu', data, 2);
      assert.ok(maxAbs(whole.losses, cpu.losses) < 1e-3, `accumulated losses ${whole.losses} vs cpu ${cpu.losses}`);
      await close(cpu);
      await close({ backend: resumed, trainer });
    } finally {
      await close(whole);
      await close(half);
    }
  });

  it('generation and scoring read the weights from the device, uploaded once: the CPU\'s greedy tokens and log-probs', async (t) => {
    if (skip) {
      if (REQUIRED) assert.fail(`${skip}; ALOL_REQUIRE_WEBGPU=1`);
      t.skip(skip);
      return;
    }
    const params = initParams(cfg, 4);
    const detok = { decode: (ids: readonly number[]) => ids.join(','), eosTokenId: null };
    const rng = new Rng(8);
    const prompts = Array.from({ length: 3 }, (_, i) => Array.from({ length: 3 + 4 * i }, () => rng.int(cfg.vocabSize)));
    const run = async (provider: 'cpu' | 'webgpu') => {
      const pool = new SessionPool({ provider, threads: 1 });
      // 'fed': the weights are inputs of the shared sessions (as for models over EMBED_LIMIT_BYTES), not built in
      const gen = new Generator(cfg, params, detok, { pool, weights: 'fed' });
      const scorer = new LogprobScorer(cfg, params, { pool });
      try {
        const tokens = (await gen.generate(prompts, { maxNewTokens: 12, temperature: 0 })).map((g) => g.tokens);
        const again = (await gen.generate(prompts, { maxNewTokens: 12, temperature: 0 })).map((g) => g.tokens);
        assert.deepEqual(again, tokens);
        const onDevice = await gen.weightsOnDevice();
        const rows = prompts.map((p, i) => ({ prompt: p, response: tokens[i] }));
        const scored = await scorer.score(rows, { batchSize: 4, eosTokenId: null, addEos: false });
        return { tokens, onDevice, logp: scored.map((r) => r.tokenLogprobs) };
      } finally {
        await gen.dispose();
        await scorer.dispose();
        await pool.release();
      }
    };
    const [gpu, cpu] = [await run('webgpu'), await run('cpu')];
    assert.equal(gpu.onDevice, true, 'on WebGPU the fed weights are device tensors');
    assert.equal(cpu.onDevice, false, 'on the CPU they stay host tensors');
    assert.deepEqual(gpu.tokens, cpu.tokens, 'greedy tokens as on the CPU');
    gpu.logp.forEach((l, i) => assert.ok(maxAbs(l, cpu.logp[i]) < 1e-4, `row ${i}: log-probs differ from the CPU's`));
  });
});
