// AdamW as built in the step graph against the update written out by hand (bias correction,
// decoupled weight decay, global-norm clipping on and off), and micro-batch accumulation against
// one batch of both.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Graph, type Value } from '../../src/trainer/graph/ir.js';
import * as o from '../../src/trainer/graph/ops.js';
import { type AdamWConfig, type StepMode, addTrainStep } from '../../src/trainer/graph/optim.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { Session, tensor } from '../../src/trainer/runtime/session.js';
import { Stepper } from '../../src/trainer/runtime/stepper.js';
import { randn, rng } from '../helpers/gradcheck.js';

// Linear regression: loss = mean over rows of sum over columns of (x W + b - y)^2.
const IN = 3;
const OUT = 2;

async function regressionStep(rows: number, mode: StepMode, cfg: AdamWConfig): Promise<Session> {
  const g = new Graph({ float: 'float64' });
  const x = g.floatInput('x', [rows, IN]);
  const y = g.floatInput('y', [rows, OUT]);
  const w = g.floatInput('w', [IN, OUT]);
  const b = g.floatInput('b', [OUT]);
  const r: Value = o.sub(o.add(o.matmul(x, w), b), y);
  const loss = o.div(o.sumAll(o.mul(r, r)), rows);
  addTrainStep(loss, [{ value: w, decay: true }, { value: b, decay: false }], mode, cfg);
  return Session.create(serialize(g), `regression-${mode}`, { threads: 1 });
}

/** The same step, by hand, in float64. */
function handStep(
  p: { w: Float64Array; b: Float64Array },
  s: { mw: Float64Array; vw: Float64Array; mb: Float64Array; vb: Float64Array },
  x: Float64Array,
  y: Float64Array,
  rows: number,
  lr: number,
  t: number,
  cfg: AdamWConfig,
): number {
  const gw = new Float64Array(IN * OUT);
  const gb = new Float64Array(OUT);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < OUT; j++) {
      let pred = p.b[j];
      for (let k = 0; k < IN; k++) pred += x[i * IN + k] * p.w[k * OUT + j];
      const res = pred - y[i * OUT + j];
      for (let k = 0; k < IN; k++) gw[k * OUT + j] += (2 / rows) * res * x[i * IN + k];
      gb[j] += (2 / rows) * res;
    }
  }
  const norm = Math.sqrt([...gw, ...gb].reduce((a, v) => a + v * v, 0));
  const coef = cfg.gradClip ? Math.min(1, cfg.gradClip / (norm + 1e-6)) : 1;
  const apply = (param: Float64Array, grad: Float64Array, m: Float64Array, v: Float64Array, decay: boolean): void => {
    for (let i = 0; i < param.length; i++) {
      const gi = grad[i] * coef;
      m[i] = cfg.beta1 * m[i] + (1 - cfg.beta1) * gi;
      v[i] = cfg.beta2 * v[i] + (1 - cfg.beta2) * gi * gi;
      const mhat = m[i] / (1 - cfg.beta1 ** t);
      const vhat = v[i] / (1 - cfg.beta2 ** t);
      if (decay) param[i] *= 1 - lr * cfg.weightDecay;
      param[i] -= (lr * mhat) / (Math.sqrt(vhat) + cfg.eps);
    }
  };
  apply(p.w, gw, s.mw, s.vw, true);
  apply(p.b, gb, s.mb, s.vb, false);
  return norm;
}

function closeArrays(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    const rel = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-12);
    assert.ok(rel <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]} (relative ${rel})`);
  }
}

const ROWS = 4;
const X = randn(ROWS * IN, rng(1));
const Y = randn(ROWS * OUT, rng(2));
const feeds = (rows: number, from: number) => ({
  x: tensor('float64', X.slice(from * IN, (from + rows) * IN), [rows, IN]),
  y: tensor('float64', Y.slice(from * OUT, (from + rows) * OUT), [rows, OUT]),
});
const initial = () => ({ w: randn(IN * OUT, rng(3)), b: randn(OUT, rng(4)) });

describe('AdamW step graph', () => {
  for (const [label, clip] of [
    ['clipping inactive', 1e9],
    ['clipping active', 0.05],
    ['clipping off', null],
  ] as const) {
    it(`matches the update written out by hand for 3 steps (${label})`, async () => {
      const cfg: AdamWConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: clip };
      const session = await regressionStep(ROWS, 'update', cfg);
      const p0 = initial();
      const stepper = new Stepper('float64', [
        { name: 'w', shape: [IN, OUT], data: p0.w.slice() },
        { name: 'b', shape: [OUT], data: p0.b.slice() },
      ]);
      const hand = { w: p0.w.slice(), b: p0.b.slice() };
      const st = { mw: new Float64Array(IN * OUT), vw: new Float64Array(IN * OUT), mb: new Float64Array(OUT), vb: new Float64Array(OUT) };
      const lrs = [0.1, 0.05, 0.02]; // a schedule fed step by step, no rebuild
      let sawClip = false;
      for (let t = 1; t <= 3; t++) {
        const stats = await stepper.update(session, feeds(ROWS, 0), lrs[t - 1]);
        const norm = handStep(hand, st, X, Y, ROWS, lrs[t - 1], t, cfg);
        closeArrays([stats.gradNorm], [norm], 1e-12, 'grad norm');
        if (stats.clipCoef < 1) sawClip = true;
        closeArrays(stepper.param('w'), hand.w, 1e-12, `w after step ${t}`);
        closeArrays(stepper.param('b'), hand.b, 1e-12, `b after step ${t}`);
      }
      assert.equal(sawClip, clip === 0.05, 'clipping should be active exactly when the limit is below the norm');
      assert.equal(stepper.step, 3);
      await session.release();
    });
  }

  it('accumulating two micro-batches equals one batch of both', async () => {
    const cfg: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1.0 };
    const whole = await regressionStep(ROWS, 'update', cfg);
    const acc = await regressionStep(ROWS / 2, 'accumulate', cfg);
    const last = await regressionStep(ROWS / 2, 'accumulate-update', cfg);
    const p0 = initial();
    const mk = () =>
      new Stepper('float64', [
        { name: 'w', shape: [IN, OUT], data: p0.w.slice() },
        { name: 'b', shape: [OUT], data: p0.b.slice() },
      ]);
    const one = mk();
    const two = mk();
    for (let t = 0; t < 3; t++) {
      const a = await one.update(whole, feeds(ROWS, 0), 0.1);
      const l1 = await two.accumulate(acc, feeds(2, 0));
      const b = await two.update(last, feeds(2, 2), 0.1);
      closeArrays([(l1 + b.loss) / 2], [a.loss], 1e-12, 'loss');
      closeArrays([b.gradNorm], [a.gradNorm], 1e-12, 'grad norm');
      closeArrays(two.param('w'), one.param('w'), 1e-12, 'w');
      closeArrays(two.param('b'), one.param('b'), 1e-12, 'b');
    }
    for (const s of [whole, acc, last]) await s.release();
  });

  it('refuses an update graph after accumulated micro-batches', async () => {
    const cfg: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: null };
    const acc = await regressionStep(2, 'accumulate', cfg);
    const whole = await regressionStep(2, 'update', cfg);
    const p0 = initial();
    const s = new Stepper('float64', [
      { name: 'w', shape: [IN, OUT], data: p0.w },
      { name: 'b', shape: [OUT], data: p0.b },
    ]);
    await s.accumulate(acc, feeds(2, 0));
    await assert.rejects(s.update(whole, feeds(2, 0), 0.1), /accumulate-update/);
  });
});
