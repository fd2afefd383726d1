// Mixed precision without a GPU: float16/bfloat16 constants, the Cast gradient rule against float64 finite differences,
// what a float16 step graph is made of (float32 inputs, outputs and master weights; MatMuls in float16; norms, softmax
// and the loss float32; loss_scale in, grad_finite out), the update skipped on non-finite gradients (run on the CPU
// provider), the dynamic loss scale, and the precision checks (config, backend, CLI) that fail before any compute.
// The float16-vs-float32 numbers are measured on WebGPU: test/integration/precision-webgpu.test.ts.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OrtBackend } from '../../src/trainer/compute/ort/backend.js';
import { AlolError } from '../../src/trainer/errors.js';
import { gradients } from '../../src/trainer/graph/grad.js';
import { Graph, bfloat16Bits, float16Bits } from '../../src/trainer/graph/ir.js';
import { serialize, toModelProto } from '../../src/trainer/graph/onnx.js';
import * as o from '../../src/trainer/graph/ops.js';
import { DEFAULT_ADAMW, GRAD_FINITE, LOSS_SCALE, type StepMode } from '../../src/trainer/graph/optim.js';
import { initParams, paramFeeds } from '../../src/trainer/model/family.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { buildStepGraph } from '../../src/trainer/model/gpt-graphs.js';
import { llamaConfig } from '../../src/trainer/model/llama-config.js';
import { resolveLora } from '../../src/trainer/model/lora.js';
import { buildAlolStepGraph } from '../../src/trainer/alol/losses.js';
import { checkPrecision } from '../../src/trainer/runtime/device.js';
import { LossScaler } from '../../src/trainer/runtime/loss-scale.js';
import { SessionPool, sessionsCreated } from '../../src/trainer/runtime/pool.js';
import { OrtPolicyTrainer } from '../../src/trainer/compute/ort/trainers.js';
import { type OrtTensor, type Session as SessionT, Session, tensor } from '../../src/trainer/runtime/session.js';
import { ADAM_STEP, Stepper } from '../../src/trainer/runtime/stepper.js';
import { validateConfig } from '../../src/trainer/run/load-config.js';
import { ALOL_BIN } from '../helpers/cli.js';
import { gradCheck, randn, rng } from '../helpers/gradcheck.js';

const cfg = gptConfig({ vocabSize: 61, nPositions: 8, nEmbd: 16, nLayer: 1, nHead: 2 });
const [B, T] = [2, 8];

describe('float16 and bfloat16 values', () => {
  it('float16 bits round to nearest even, overflow to Infinity and keep subnormals', () => {
    assert.equal(float16Bits(1), 0x3c00);
    assert.equal(float16Bits(-2), 0xc000);
    assert.equal(float16Bits(0.1), 0x2e66);
    assert.equal(float16Bits(65504), 0x7bff, 'the largest float16');
    assert.equal(float16Bits(65520), 0x7c00, 'half-way past it rounds to Infinity');
    assert.equal(float16Bits(1 + 2 ** -11), 0x3c00, 'a tie rounds to the even neighbour');
    assert.equal(float16Bits(1 + 3 * 2 ** -11), 0x3c02);
    assert.equal(float16Bits(2 ** -24), 0x0001, 'the smallest subnormal');
    assert.equal(float16Bits(2 ** -26), 0x0000, 'below half of it flushes to zero');
    assert.equal(float16Bits(Number.NaN) & 0x7c00, 0x7c00);
  });
  it('bfloat16 bits are float32\'s top half, rounded to nearest even', () => {
    assert.equal(bfloat16Bits(1), 0x3f80);
    assert.equal(bfloat16Bits(Math.PI), 0x4049);
    assert.equal(bfloat16Bits(-0.5), 0xbf00);
    assert.equal(bfloat16Bits(1 + 2 ** -8), 0x3f80, 'a tie rounds to even');
  });
  it('a half constant names its type; a half scalar serializes with its ONNX element type', () => {
    const g = new Graph({ name: 'half' });
    assert.throws(() => g.constant(Uint16Array.of(0x3c00), [1], 'c'), /Uint16Array holds float16 or bfloat16 bits/);
    const x = g.floatInput('x', [2]);
    g.output('y', o.cast(o.mul(o.cast(x, 'float16'), g.scalar(2, 'float16')), 'float32'));
    assert.equal(o.zerosLike(o.cast(x, 'bfloat16')).dtype, 'bfloat16');
    assert.equal(o.constantOfShape(o.shapeOf(x), 1, 'float16', [2]).dtype, 'float16');
    const proto = toModelProto(g);
    const init = proto.graph?.initializer?.[0];
    assert.equal(init?.dataType, 10, 'FLOAT16');
    assert.deepEqual([...new Uint16Array(Uint8Array.from(init?.rawData ?? []).buffer)], [0x4000]);
  });
});

describe('the Cast gradient rule', () => {
  it('float64 -> float32 -> float64: central differences agree (float32 rounding inside: tolerance 1e-4)', async () => {
    const n = 12;
    const w = randn(n, rng(5));
    const r = await gradCheck((g) => {
      const x = g.floatInput('x', [n]);
      const through32 = o.cast(o.cast(x, 'float32'), 'float64');
      // d/dx sum(w * c(x) * x) = w (x + c(x)) with c the float32 round trip (its derivative 1, by the rule)
      return { loss: o.sumAll(o.mul(o.mul(through32, x), g.constant(w, [n], 'w'))), wrt: [x] };
    }, { x: { data: randn(n, rng(6)), dims: [n] } }, { h: 1e-3 });
    assert.ok(r.maxRelError < 1e-4, `max relative error ${r.maxRelError}`);
  });
  it('under float16 compute a float32 parameter gets a float32 gradient, cast back from the float16 MatMul\'s', () => {
    const g = new Graph({ name: 'autocast', compute: 'float16' });
    const x = g.floatInput('x', [3, 4]);
    const w = g.floatInput('w', [4, 2]);
    const y = o.matmul(x, w);
    assert.equal(y.dtype, 'float32');
    assert.equal(y.node?.op, 'Cast');
    assert.deepEqual(y.node?.inputs[0].node?.inputs.map((v) => v.dtype), ['float16', 'float16']);
    const [dw] = gradients(o.sumAll(y), [w]);
    assert.equal(dw.dtype, 'float32');
    assert.equal(dw.node?.op, 'Cast');
    assert.equal(dw.node?.inputs[0].dtype, 'float16');
    assert.equal(o.matmul(x, w, false).node?.op, 'MatMul', 'autocast false keeps a product float32');
  });
});

const stepGraph = (compute: 'float32' | 'float16' | 'bfloat16', mode: StepMode = 'update'): Graph =>
  buildStepGraph(cfg, { batch: B, seqLen: T }, { compute, mode, adamw: DEFAULT_ADAMW });

describe('the float16 step graph', () => {
  it('keeps inputs, outputs, norms, softmax and the loss float32; runs every MatMul in float16', () => {
    const g = stepGraph('float16');
    assert.ok(g.inputs.every((v) => v.dtype === 'float32' || v.dtype === 'int64'), 'no half input: master weights are float32');
    assert.ok(g.outputs.every((out) => out.value.dtype === 'float32'), 'no half output');
    assert.ok(g.inputs.some((v) => v.name === LOSS_SCALE) && g.outputs.some((out) => out.name === GRAD_FINITE));
    const matmuls = g.nodes.filter((n) => n.op === 'MatMul');
    assert.ok(matmuls.length > 0 && matmuls.every((n) => n.inputs.every((v) => v.dtype === 'float16')), 'MatMuls in float16');
    for (const op of ['LayerNormalization', 'Softmax', 'LogSoftmax', 'ReduceSum', 'FastGelu']) {
      for (const n of g.nodes.filter((m) => m.op === op)) assert.equal(n.inputs[0].dtype, 'float32', `${op} in float32`);
    }
    const bf = stepGraph('bfloat16');
    assert.ok(!bf.inputs.some((v) => v.name === LOSS_SCALE), 'bfloat16 has float32\'s range: no loss scaling');
    assert.ok(bf.nodes.filter((n) => n.op === 'MatMul').every((n) => n.inputs[0].dtype === 'bfloat16'));
    assert.throws(() => new Graph({ float: 'float64', compute: 'float16' }), /compute float16 needs float32 parameters/);
  });

  it('Llama (GQA) and LoRA graphs too: every MatMul float16, every input float32, the A-LoL step graph scaled', () => {
    const llama = llamaConfig({ vocabSize: 11, nPositions: 8, nEmbd: 8, nLayer: 1, nHead: 4, nKvHead: 2, nInner: 12 });
    const lora = resolveLora(cfg, { r: 2, alpha: 4, dropout: 0.1, targets: 'all-linear' });
    const graphs = [
      buildStepGraph(llama, { batch: B, seqLen: T }, { compute: 'float16' }),
      buildStepGraph(cfg, { batch: B, seqLen: T }, { compute: 'float16', lora }),
      buildAlolStepGraph(cfg, B, T, {
        variant: 'a_lol', settings: { clipEps: 0.9, klBeta: 0, dpoBeta: 0.1 }, mode: 'update', adamw: DEFAULT_ADAMW, compute: 'float16',
      }),
    ];
    for (const g of graphs) {
      const matmuls = g.nodes.filter((n) => n.op === 'MatMul');
      assert.ok(matmuls.length > 0 && matmuls.every((n) => n.inputs[0].dtype === 'float16'), `${g.name}: MatMuls in float16`);
      assert.ok(g.inputs.every((v) => v.dtype !== 'float16'), `${g.name}: no float16 input`);
      assert.ok(g.inputs.some((v) => v.name === LOSS_SCALE), `${g.name}: loss scaling`);
      assert.ok(serialize(g).length > 0);
    }
  });

  it('on the CPU provider a float16 MatMul computes in float32 (why precision float16 is refused on cpu)', async () => {
    // ORT 1.30's CPU provider has no float16 MatMul here: it inserts casts to float32 and drops the
    // float32 -> float16 -> float32 pairs, so nothing is rounded to float16. If this starts failing, the CPU provider
    // computes in float16 and runtime/device.ts checkPrecision can allow it.
    const g = new Graph({ name: 'f16_on_cpu', compute: 'float16' });
    const a = g.floatInput('a', [2, 2]);
    g.output('y', o.matmul(a, a));
    const session = await Session.create(serialize(g), 'f16_on_cpu', { threads: 1 });
    const x = 1 + 2 ** -11; // not a float16 (a tie between 1 and 1 + 2^-10, which rounds to 1)
    const y = (await session.run({ a: tensor('float32', Float32Array.of(x, 0, 0, x), [2, 2]) })).y.data as Float32Array;
    await session.release();
    assert.equal(y[0], Math.fround(x * x), 'the float32 product: the operands were not rounded to float16');
  });

  it('undoes the loss scale: on the CPU (float32 MatMuls) the gradient norm is float32\'s, also over micro-batches', async () => {
    const params = initParams(cfg, 4);
    const norms: Record<string, number[]> = {};
    for (const compute of ['float32', 'float16'] as const) {
      const { session, stepper, batch } = await stepSetup(compute, params);
      const acc = await Session.create(serialize(stepGraph(compute, 'accumulate')), `acc_${compute}`, { threads: 1 });
      const last = await Session.create(serialize(stepGraph(compute, 'accumulate-update')), `au_${compute}`, { threads: 1 });
      stepper.scaler.scale = 4096;
      const one = await stepper.update(session, batch, 1e-3);
      await stepper.accumulate(acc, batch);
      const two = await stepper.update(last, batch, 1e-3);
      norms[compute] = [one.gradNorm, two.gradNorm];
      for (const x of [session, acc, last]) await x.release();
    }
    for (let i = 0; i < 2; i++) {
      const [a, b] = [norms.float32[i], norms.float16[i]];
      assert.ok(Math.abs(a - b) / a < 1e-5, `grad norm ${b} (scaled graph) vs ${a}`);
    }
  });

  it('skips the update when a gradient is not finite: weights, moments and AdamW\'s step unchanged, and says so', async () => {
    const { session, stepper, batch } = await stepSetup('float16', initParams(cfg, 2));
    try {
      const before = stepper.stateTensors().map((t) => ({ name: t.name, data: t.data.slice() }));
      assert.ok(!before.some((t) => t.name === ADAM_STEP), 'no adam.step while AdamW\'s count is the updates made');
      stepper.scaler.scale = Infinity; // the scaled loss is Infinity: every gradient NaN after unscaling
      const s = await stepper.update(session, batch, 1e-3);
      assert.equal(s.extra.grad_finite, 0);
      assert.equal(s.extra.skipped_updates, 1);
      assert.equal(stepper.step, 1, 'an update was made (the training loop\'s count, a checkpoint\'s step)');
      assert.equal(stepper.adamStep, 0, 'a skipped update is not an AdamW step (its bias correction)');
      const after = stepper.stateTensors();
      for (const t of after.filter((x) => x.name !== ADAM_STEP)) {
        assert.deepEqual(t.data, before.find((b) => b.name === t.name)?.data, `${t.name} unchanged`);
      }
      assert.deepEqual(Array.from(after.find((t) => t.name === ADAM_STEP)?.data ?? []), [0], 'the checkpoint keeps AdamW\'s count');
      stepper.scaler.scale = 1024;
      const ok = await stepper.update(session, batch, 1e-3);
      assert.equal(ok.extra.grad_finite, 1);
      assert.equal(ok.extra.loss_scale, 1024);
      assert.deepEqual([stepper.step, stepper.adamStep], [2, 1]);
      const w = stepper.param('transformer.h.0.mlp.c_fc.weight');
      assert.ok(w.some((v, i) => v !== before.find((b) => b.name === 'transformer.h.0.mlp.c_fc.weight')?.data[i]), 'applied');
    } finally {
      await session.release();
    }
  });

  it('a state with skipped updates, loaded again, continues with the same bias correction as the uninterrupted run', async () => {
    const params = initParams(cfg, 5);
    const { session, stepper, batch } = await stepSetup('float16', params);
    const resumed = (await stepSetup('float16', initParams(cfg, 6), false)).stepper;
    const blind = (await stepSetup('float16', initParams(cfg, 6), false)).stepper; // told only the step, as before adam.step
    try {
      stepper.scaler.scale = 1024;
      await stepper.update(session, batch, 1e-3);
      stepper.scaler.scale = Infinity;
      await stepper.update(session, batch, 1e-3); // skipped
      await stepper.update(session, batch, 1e-3); // skipped
      const saved = stepper.stateTensors().map((t) => ({ name: t.name, data: t.data.slice() }));
      resumed.loadState(saved, stepper.step);
      blind.loadState(saved.filter((t) => t.name !== ADAM_STEP), stepper.step);
      assert.deepEqual([resumed.step, resumed.adamStep], [3, 1]);
      assert.deepEqual([blind.step, blind.adamStep], [3, 3]);
      for (const x of [stepper, resumed, blind]) x.scaler.scale = 1024;
      await stepper.update(session, batch, 1e-3);
      await resumed.update(session, batch, 1e-3);
      await blind.update(session, batch, 1e-3);
      const name = 'transformer.h.0.mlp.c_fc.weight';
      assert.deepEqual(resumed.param(name), stepper.param(name), 'resumed as the uninterrupted run, bit for bit');
      assert.notDeepEqual(blind.param(name), stepper.param(name), 'without adam.step the bias correction would differ');
    } finally {
      await session.release();
    }
  });
});

async function stepSetup(compute: 'float32' | 'float16', params: ReadonlyMap<string, Float32Array>, withSession = true) {
  const session = withSession ? await Session.create(serialize(stepGraph(compute)), `step_${compute}`, { threads: 1 }) : null;
  const feeds = paramFeeds(cfg, params, 'test');
  const stepper = new Stepper(
    'float32',
    Object.entries(feeds).map(([name, t]) => ({ name, shape: [...t.dims], data: Float32Array.from(t.data as Float32Array) })),
  );
  const r = rng(3);
  const ids = BigInt64Array.from({ length: B * T }, () => BigInt(Math.floor(r() * cfg.vocabSize)));
  const batch: Record<string, OrtTensor> = {
    ids: tensor('int64', ids, [B, T]),
    targets: tensor('int64', ids.map((x) => (x + 1n) % BigInt(cfg.vocabSize)), [B, T]),
    mask: tensor('float32', new Float32Array(B * T).fill(1), [B, T]),
    example_weight: tensor('float32', new Float32Array(B).fill(1 / T), [B]),
  };
  return { session: session as Session, stepper, batch };
}

describe('K steps per run (train.stepsPerRun) in float16', () => {
  it('are K single updates: the host moves the loss scale between them (a Loop of K steps could not)', async () => {
    // the CPU provider computes the float16 graph in float32 (above), which is enough to see the path taken; the
    // backend refuses float16 on cpu, so the trainer is made directly
    const pool = new SessionPool({ threads: 1 });
    const trainer = new OrtPolicyTrainer(
      pool, { config: cfg, params: initParams(cfg, 5) }, { objective: { kind: 'nll' }, rows: B, adamw: DEFAULT_ADAMW }, 'float16',
    );
    try {
      const { batch } = await stepSetup('float16', initParams(cfg, 5), false);
      const tb = {
        rows: B, seqLen: T, ids: batch.ids.data as BigInt64Array, targets: batch.targets.data as BigInt64Array,
        mask: batch.mask.data as Float32Array, exampleWeight: batch.example_weight.data as Float32Array,
      };
      const stats = await trainer.updateMany([[tb], [tb], [tb]], [1e-3, 1e-3, 1e-3]);
      assert.equal(stats.length, 3);
      assert.ok(stats.every((st) => st.extra.loss_scale === 1024 && st.extra.grad_finite === 1), JSON.stringify(stats));
      assert.equal(trainer.step, 3);
    } finally {
      await trainer.dispose();
      await pool.release();
    }
  });
});

describe('the dynamic loss scale', () => {
  const session = { inputNames: [LOSS_SCALE] } as unknown as SessionT;
  const result = (finite: boolean): Record<string, OrtTensor> => ({
    [GRAD_FINITE]: tensor('float32', Float32Array.of(finite ? 1 : 0), []),
  });
  it('halves after an overflow, doubles after growthInterval finite steps in a row, never below minScale', () => {
    const s = new LossScaler({ initScale: 8, growthInterval: 3, minScale: 2 });
    const extra: Record<string, number> = {};
    assert.equal(s.afterUpdate(session, result(false), extra), false);
    assert.deepEqual(extra, { loss_scale: 8, skipped_updates: 1 });
    assert.equal(s.scale, 4);
    s.afterUpdate(session, result(true), extra);
    s.afterUpdate(session, result(true), extra);
    assert.equal(s.scale, 4);
    s.afterUpdate(session, result(true), extra);
    assert.equal(s.scale, 8, 'doubled after 3 finite steps');
    for (let i = 0; i < 5; i++) s.afterUpdate(session, result(false), extra);
    assert.equal(s.scale, 2, 'floored at minScale');
    assert.equal(extra.skipped_updates, 6);
  });
  it('leaves graphs without loss scaling alone', () => {
    const plain = { inputNames: ['lr'] } as unknown as SessionT;
    const extra: Record<string, number> = {};
    const feeds: Record<string, OrtTensor> = {};
    const s = new LossScaler();
    s.feed(plain, feeds);
    assert.equal(s.afterUpdate(plain, {}, extra), true);
    assert.deepEqual([feeds, extra], [{}, {}]);
  });
});

describe('precision checks (before any compute)', () => {
  it('float16 needs webgpu or cuda; bfloat16 needs cuda; the error names the setting, the provider and what to do', () => {
    assert.doesNotThrow(() => checkPrecision('float16', 'webgpu'));
    assert.doesNotThrow(() => checkPrecision('float16', 'cuda'));
    assert.doesNotThrow(() => checkPrecision('bfloat16', 'cuda'));
    assert.doesNotThrow(() => checkPrecision('float32', 'cpu'));
    const cpu = /precision float16 cannot run on the cpu provider: .*no float16 .*MatMul.*hint: use device webgpu or cuda/;
    const isConfigError = (e: unknown): boolean => e instanceof AlolError && e.code === 'config' && cpu.test(e.message);
    assert.throws(() => checkPrecision('float16', 'cpu'), isConfigError);
    assert.throws(() => checkPrecision('bfloat16', 'webgpu'), /bfloat16 cannot run on the webgpu provider.*hint: bfloat16 needs device/);
    assert.throws(() => checkPrecision('bfloat16', 'cpu', 'backend.precision'), /backend\.precision bfloat16 cannot run on the cpu/);
  });
  it('the backend refuses before it makes a session', () => {
    const before = sessionsCreated();
    assert.throws(() => new OrtBackend({ provider: 'cpu' }, 'float16'), /precision float16 cannot run on the cpu provider/);
    assert.equal(sessionsCreated(), before);
    assert.match(new OrtBackend({ provider: 'webgpu' }, 'float16').name, /webgpu, float16/);
  });
  it('backend.precision is a setting of the built-in engine too', () => {
    assert.equal(validateConfig({ backend: { precision: 'float16' }, device: 'webgpu' }, 'run.json').backend.precision, 'float16');
    assert.throws(() => validateConfig({ backend: { precision: 'float8' } }, 'run.json'), /backend\.precision/);
  });
  it('alol train --precision float16 on the cpu fails with the reason and a hint, before any compute', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'alol-precision-'));
    try {
      const r = spawnSync(process.execPath, [ALOL_BIN, 'train', '--precision', 'float16', '--set', 'device=cpu', '--out', 'run'], {
        cwd: dir,
        encoding: 'utf8',
      });
      assert.notEqual(r.status, 0);
      assert.doesNotMatch(r.stdout + r.stderr, /run\/didStart|reference/, 'nothing ran');
      assert.match(r.stderr, /backend\.precision float16 cannot run on the cpu provider.*hint: use device webgpu or cuda/);
      const bad = spawnSync(process.execPath, [ALOL_BIN, 'train', '--precision', 'half'], { cwd: dir, encoding: 'utf8' });
      assert.match(bad.stderr, /--precision <type>.*use one of: float32, float16, bfloat16/);
      // the demo's flag reaches its run config the same way: refused before the data is even written
      const demoArgs = ['demo', '--quick', '--precision', 'float16', '--device', 'cpu', '--out', 'demo'];
      const demo = spawnSync(process.execPath, [ALOL_BIN, ...demoArgs], {
        cwd: dir,
        encoding: 'utf8',
      });
      assert.notEqual(demo.status, 0);
      assert.match(demo.stderr, /backend\.precision float16 cannot run on the cpu provider/);
      assert.deepEqual(await readdir(path.join(dir, 'demo')).catch(() => []), [], 'the demo wrote nothing');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
