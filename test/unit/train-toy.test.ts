// The engine learns: an MLP and a causal attention block trained on toy regressions reach a loss an
// order of magnitude below their start, and their parameters change.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Graph, type Value } from '../../src/trainer/graph/ir.js';
import * as o from '../../src/trainer/graph/ops.js';
import { addTrainStep, type ParamSpec } from '../../src/trainer/graph/optim.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { Session, tensor } from '../../src/trainer/runtime/session.js';
import { Stepper } from '../../src/trainer/runtime/stepper.js';
import { randn, rng } from '../helpers/gradcheck.js';

interface Toy {
  graph: Graph;
  params: { spec: ParamSpec; init: Float32Array }[];
  x: Float32Array;
  y: Float32Array;
  xDims: number[];
  yDims: number[];
}

async function train(toy: Toy, steps: number, lr: number): Promise<{ first: number; last: number; changed: boolean }> {
  const session = await Session.create(serialize(toy.graph), 'toy', { threads: 1 });
  const stepper = new Stepper(
    'float32',
    toy.params.map((p) => ({ name: p.spec.value.name, shape: p.spec.value.shape as number[], data: p.init.slice() })),
  );
  const batch = { x: tensor('float32', toy.x, toy.xDims), y: tensor('float32', toy.y, toy.yDims) };
  let first = NaN;
  let last = NaN;
  for (let s = 0; s < steps; s++) {
    const stats = await stepper.update(session, batch, lr);
    if (s === 0) first = stats.loss;
    last = stats.loss;
  }
  const changed = toy.params.every((p) => stepper.param(p.spec.value.name).some((v, i) => v !== p.init[i]));
  await session.release();
  return { first, last, changed };
}

function param(
  g: Graph, name: string, shape: number[], seed: number, scale: number, decay = true,
): { spec: ParamSpec; init: Float32Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  return { spec: { value: g.floatInput(name, shape), decay }, init: Float32Array.from(randn(n, rng(seed), scale)) };
}

const mse = (pred: Value, y: Value): Value => o.reduceMean(o.mul(o.sub(pred, y), o.sub(pred, y)), [0, 1]);

describe('the engine trains small models', () => {
  it('an MLP fits a smooth regression (loss falls 10x, parameters change)', async (t) => {
    const N = 64;
    const g = new Graph();
    const x = g.floatInput('x', [N, 2]);
    const y = g.floatInput('y', [N, 1]);
    const params = [
      param(g, 'w1', [2, 32], 1, 0.5), param(g, 'b1', [32], 2, 0, false), param(g, 'w2', [32, 1], 3, 0.2), param(g, 'b2', [1], 4, 0, false),
    ];
    const [w1, b1, w2, b2] = params.map((p) => p.spec.value);
    const pred = o.add(o.matmul(o.tanh(o.add(o.matmul(x, w1), b1)), w2), b2);
    addTrainStep(mse(pred, y), params.map((p) => p.spec), 'update', { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 1 });
    const xs = Float32Array.from(randn(N * 2, rng(5)));
    const ys = Float32Array.from({ length: N }, (_, i) => Math.sin(xs[2 * i]) * Math.cos(xs[2 * i + 1]) + 0.5);
    const r = await train({ graph: g, params, x: xs, y: ys, xDims: [N, 2], yDims: [N, 1] }, 400, 0.01);
    assert.ok(Number.isFinite(r.last));
    assert.ok(r.last < r.first / 10, `loss ${r.first} -> ${r.last}`);
    t.diagnostic(`loss ${r.first.toFixed(4)} -> ${r.last.toExponential(2)}`);
    assert.ok(r.changed);
  });

  it('a causal attention block learns the running mean of its inputs', async (t) => {
    const [B, T, C] = [16, 6, 4];
    const g = new Graph();
    const x = g.floatInput('x', [B, T, C]);
    const y = g.floatInput('y', [B, T, C]);
    const params = [
      param(g, 'wq', [C, C], 6, 0.5),
      param(g, 'wk', [C, C], 7, 0.5),
      param(g, 'wv', [C, C], 8, 0.5),
      param(g, 'wo', [C, C], 9, 0.5),
      param(g, 'ln_g', [C], 10, 0, false),
      param(g, 'ln_b', [C], 11, 0, false),
    ];
    params[4].init.fill(1);
    const [wq, wk, wv, wo] = params.map((p) => p.spec.value);
    const q = o.matmul(x, wq);
    const k = o.matmul(x, wk);
    const v = o.matmul(x, wv);
    const scores = o.div(o.matmul(q, o.transposeLast2(k)), Math.sqrt(C)); // [B, T, T]
    const causal = g.constant(Uint8Array.from({ length: T * T }, (_, i) => (i % T <= Math.floor(i / T) ? 1 : 0)), [T, T], 'causal');
    const att = o.softmax(o.where(causal, scores, -1e9), -1);
    const h = o.matmul(o.matmul(att, v), wo);
    const pred = o.add(o.layerNorm(h, params[4].spec.value, params[5].spec.value), 0);
    const loss = o.reduceMean(o.mul(o.sub(pred, y), o.sub(pred, y)), [0, 1, 2]);
    addTrainStep(loss, params.map((p) => p.spec), 'update', { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 1 });

    const xs = Float32Array.from(randn(B * T * C, rng(12)));
    // Target: layer-normalised causal mean of x over time.
    const ys = new Float32Array(B * T * C);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const row = new Float64Array(C);
        for (let s = 0; s <= t; s++) for (let c = 0; c < C; c++) row[c] += xs[(b * T + s) * C + c] / (t + 1);
        const mean = row.reduce((a, v2) => a + v2, 0) / C;
        const sd = Math.sqrt(row.reduce((a, v2) => a + (v2 - mean) ** 2, 0) / C + 1e-5);
        for (let c = 0; c < C; c++) ys[(b * T + t) * C + c] = (row[c] - mean) / sd;
      }
    }
    const r = await train({ graph: g, params, x: xs, y: ys, xDims: [B, T, C], yDims: [B, T, C] }, 500, 0.02);
    assert.ok(r.last < r.first / 10, `loss ${r.first} -> ${r.last}`);
    t.diagnostic(`loss ${r.first.toFixed(4)} -> ${r.last.toExponential(2)}`);
    assert.ok(r.changed);
  });
});
