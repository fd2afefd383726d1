// Every gradient rule against float64 central finite differences run on ORT (relative error <= 1e-6),
// including broadcasting and inputs used twice; plus the driver's error paths.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Graph, Graph as G, type Value } from '../../src/trainer/graph/ir.js';
import { gradRules, gradients } from '../../src/trainer/graph/grad.js';
import * as o from '../../src/trainer/graph/ops.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { gelu } from '../../src/trainer/model/gpt.js';
import { Session, tensor } from '../../src/trainer/runtime/session.js';
import { type Feed, gradCheck, randn, rng } from '../helpers/gradcheck.js';

const TOL = 1e-6;

/** A scalar from y that weights every element differently (so a wrong gradient cannot hide). */
function project(y: Value, seed = 99): Value {
  const n = y.shape.reduce<number>((a, d) => a * (d as number), 1);
  const w64 = randn(n, rng(seed));
  const w = y.graph.constant(y.dtype === 'float32' ? Float32Array.from(w64) : w64, y.shape as number[], 'proj');
  return o.sumAll(o.mul(y, w));
}

function feed(dims: number[], seed: number, map: (x: number) => number = (x) => x): Feed {
  const n = dims.reduce((a, b) => a * b, 1);
  return { data: randn(n, rng(seed)).map(map), dims };
}

/** Values bounded away from zero (for log, sqrt, reciprocal, relu, abs kinks). */
const awayFromZero = (x: number): number => (x >= 0 ? 0.3 + x : -0.3 + x);
const positive = (x: number): number => 0.5 + Math.abs(x);

interface Case {
  op: string;
  name: string;
  feeds: Record<string, Feed>;
  build: (g: Graph, x: Record<string, Value>) => Value;
}

const f = (g: Graph, name: string, dims: number[]): Value => g.floatInput(name, dims);

const cases: Case[] = [
  { op: 'Add', name: 'broadcast [2,3,4] + [3,1]', feeds: { a: feed([2, 3, 4], 1), b: feed([3, 1], 2) }, build: (_g, x) => o.add(x.a, x.b) },
  { op: 'Add', name: 'an input used twice (a + a, then * b)', feeds: { a: feed([2, 3], 1), b: feed([2, 3], 2) },
    build: (_g, x) => o.mul(o.add(x.a, x.a), o.add(x.a, x.b)) },
  { op: 'Sub', name: 'broadcast [2,3] - [3]', feeds: { a: feed([2, 3], 3), b: feed([3], 4) }, build: (_g, x) => o.sub(x.a, x.b) },
  { op: 'Mul', name: 'broadcast [2,3] * [2,1]', feeds: { a: feed([2, 3], 5), b: feed([2, 1], 6) }, build: (_g, x) => o.mul(x.a, x.b) },
  { op: 'Mul', name: 'x * x', feeds: { a: feed([4], 5) }, build: (_g, x) => o.mul(x.a, x.a) },
  { op: 'Div', name: 'broadcast [2,3] / [1,3]', feeds: { a: feed([2, 3], 7), b: feed([1, 3], 8, positive) },
    build: (_g, x) => o.div(x.a, x.b) },
  { op: 'Pow', name: 'x^3 (constant exponent)', feeds: { a: feed([5], 9, positive) }, build: (_g, x) => o.pow(x.a, 3) },
  { op: 'Pow', name: 'x^2', feeds: { a: feed([5], 9) }, build: (_g, x) => o.pow(x.a, 2) },
  { op: 'Pow', name: 'x^c (tensor exponent, broadcast)', feeds: { a: feed([2, 3], 10, positive), c: feed([3], 11) },
    build: (_g, x) => o.pow(x.a, x.c) },
  { op: 'Max', name: 'max(a, b) broadcast', feeds: { a: feed([3, 4], 12), b: feed([4], 13) }, build: (_g, x) => o.max(x.a, x.b) },
  { op: 'Min', name: 'min(a, b)', feeds: { a: feed([3, 4], 14), b: feed([3, 4], 15) }, build: (_g, x) => o.min(x.a, x.b) },
  { op: 'Neg', name: '-x', feeds: { a: feed([3], 16) }, build: (_g, x) => o.neg(x.a) },
  { op: 'Exp', name: 'exp', feeds: { a: feed([3, 2], 17) }, build: (_g, x) => o.exp(x.a) },
  { op: 'Log', name: 'log', feeds: { a: feed([3, 2], 18, positive) }, build: (_g, x) => o.log(x.a) },
  { op: 'Tanh', name: 'tanh', feeds: { a: feed([3, 2], 19) }, build: (_g, x) => o.tanh(x.a) },
  { op: 'Sigmoid', name: 'sigmoid', feeds: { a: feed([3, 2], 20) }, build: (_g, x) => o.sigmoid(x.a) },
  { op: 'Sqrt', name: 'sqrt', feeds: { a: feed([3, 2], 21, positive) }, build: (_g, x) => o.sqrt(x.a) },
  { op: 'Reciprocal', name: '1/x', feeds: { a: feed([3, 2], 22, awayFromZero) }, build: (_g, x) => o.reciprocal(x.a) },
  { op: 'Relu', name: 'relu', feeds: { a: feed([3, 4], 23, awayFromZero) }, build: (_g, x) => o.relu(x.a) },
  { op: 'Abs', name: 'abs', feeds: { a: feed([3, 4], 24, awayFromZero) }, build: (_g, x) => o.abs(x.a) },
  { op: 'Identity', name: 'identity', feeds: { a: feed([3], 25) }, build: (_g, x) => o.identity(x.a) },
  {
    op: 'Clip',
    name: 'clip to [-0.5, 0.5] (both bounds active)',
    feeds: { a: { data: Float64Array.from([-1.2, -0.7, -0.3, 0.1, 0.45, 0.8, 1.5, -0.05]), dims: [8] } },
    build: (_g, x) => o.clip(x.a, -0.5, 0.5),
  },
  {
    op: 'Where',
    name: 'where(cond, a [2,3], b [3])',
    feeds: { a: feed([2, 3], 26), b: feed([3], 27) },
    build: (g, x) => o.where(g.constant(Uint8Array.from([1, 0, 1, 0, 0, 1]), [2, 3], 'cond'), x.a, x.b),
  },
  { op: 'Cast', name: 'cast float64 -> float64', feeds: { a: feed([3], 28) }, build: (_g, x) => o.cast(x.a, 'float64') },
  { op: 'MatMul', name: '[2,3,4] @ [4,5] (shared weight)', feeds: { a: feed([2, 3, 4], 29), b: feed([4, 5], 30) },
    build: (_g, x) => o.matmul(x.a, x.b) },
  { op: 'MatMul', name: '[2,3,4] @ [2,4,5] (batched)', feeds: { a: feed([2, 3, 4], 31), b: feed([2, 4, 5], 32) },
    build: (_g, x) => o.matmul(x.a, x.b) },
  { op: 'MatMul', name: '[3,4] @ [2,4,5] (broadcast a)', feeds: { a: feed([3, 4], 33), b: feed([2, 4, 5], 34) },
    build: (_g, x) => o.matmul(x.a, x.b) },
  { op: 'MatMul', name: '[2,1,3,4] @ [3,4,2] (broadcast both)', feeds: { a: feed([2, 1, 3, 4], 35), b: feed([3, 4, 2], 36) },
    build: (_g, x) => o.matmul(x.a, x.b) },
  { op: 'Transpose', name: 'perm [2,0,1]', feeds: { a: feed([2, 3, 4], 37) }, build: (_g, x) => o.transpose(x.a, [2, 0, 1]) },
  { op: 'Reshape', name: '[2,3,4] -> [6,4]', feeds: { a: feed([2, 3, 4], 38) }, build: (_g, x) => o.reshape(x.a, [-1, 4]) },
  { op: 'Unsqueeze', name: 'unsqueeze [1]', feeds: { a: feed([2, 3], 39) }, build: (_g, x) => o.mul(o.unsqueeze(x.a, [1]), x.a) },
  { op: 'Squeeze', name: 'squeeze [1]', feeds: { a: feed([2, 1, 3], 40) }, build: (_g, x) => o.squeeze(x.a, [1]) },
  { op: 'Expand', name: '[3,1] -> [2,3,4]', feeds: { a: feed([3, 1], 41) }, build: (_g, x) => o.expand(x.a, [2, 3, 4]) },
  { op: 'Concat', name: '[2,3] ++ [2,2] on axis 1', feeds: { a: feed([2, 3], 42), b: feed([2, 2], 43) },
    build: (_g, x) => o.concat([x.a, x.b, x.a], 1) },
  { op: 'Split', name: '[2,5] -> [2,3] + [2,2], both used', feeds: { a: feed([2, 5], 44) },
    build: (_g, x) => { const [p, q] = o.split(x.a, [3, 2], 1); return o.concat([q, p], 1); } },
  { op: 'Split', name: 'one piece unused', feeds: { a: feed([4, 3], 45) }, build: (_g, x) => o.split(x.a, [1, 3], 0)[1] },
  { op: 'Slice', name: 'rows 1..3, cols 0..4', feeds: { a: feed([4, 5], 46) }, build: (_g, x) => o.slice(x.a, [1, 0], [3, 4], [0, 1]) },
  { op: 'ReduceSum', name: 'axes [1], keepdims', feeds: { a: feed([2, 3, 4], 47) },
    build: (_g, x) => o.mul(o.reduceSum(x.a, [1], true), x.a) },
  { op: 'ReduceSum', name: 'axes [0, 2], no keepdims', feeds: { a: feed([2, 3, 4], 48) },
    build: (_g, x) => o.exp(o.reduceSum(x.a, [0, 2])) },
  { op: 'ReduceMean', name: 'axes [-1]', feeds: { a: feed([2, 3, 4], 49) }, build: (_g, x) => o.tanh(o.reduceMean(x.a, [-1])) },
  { op: 'ReduceMax', name: 'axes [1]', feeds: { a: feed([3, 5], 50) }, build: (_g, x) => o.reduceMax(x.a, [1]) },
  { op: 'Softmax', name: 'axis -1', feeds: { a: feed([2, 5], 51) }, build: (_g, x) => o.softmax(x.a, -1) },
  { op: 'Softmax', name: 'axis 0', feeds: { a: feed([3, 4], 52) }, build: (_g, x) => o.softmax(x.a, 0) },
  { op: 'LogSoftmax', name: 'axis -1', feeds: { a: feed([2, 5], 53) }, build: (_g, x) => o.logSoftmax(x.a, -1) },
  {
    op: 'Gather',
    name: 'embedding rows with repeats (scatter-add)',
    feeds: { t: feed([5, 3], 54) },
    build: (g, x) => o.gather(x.t, g.constant(BigInt64Array.from([1n, 3n, 1n, 0n, 4n, 1n]), [2, 3], 'idx')),
  },
  {
    op: 'Gather',
    name: 'distinct rows (gatherDistinct: packed rows)',
    feeds: { t: feed([6, 3], 58) },
    build: (g, x) => o.gatherDistinct(x.t, g.constant(BigInt64Array.from([4n, 0n, 5n, 2n]), [4], 'idx')),
  },
  {
    op: 'ScatterND',
    name: 'rows overwritten (reduction none): data and updates',
    feeds: { d: feed([6, 3], 56), u: feed([3, 3], 57) },
    build: (g, x) => o.scatterND(x.d, g.constant(BigInt64Array.from([4n, 0n, 2n]), [3, 1], 'idx'), x.u),
  },
  {
    op: 'ScatterND',
    name: 'rows added (reduction add), one index twice',
    feeds: { d: feed([6, 3], 59), u: feed([3, 3], 60) },
    build: (g, x) => o.scatterND(x.d, g.constant(BigInt64Array.from([4n, 1n, 4n]), [3, 1], 'idx'), x.u, 'add'),
  },
  {
    op: 'GatherElements',
    name: 'pick one entry per row',
    feeds: { a: feed([4, 5], 55) },
    build: (g, x) => o.gatherElements(x.a, g.constant(BigInt64Array.from([2n, 0n, 4n, 2n]), [4, 1], 'idx'), 1),
  },
];

describe('gradient rules (float64 central differences on ORT)', () => {
  for (const c of cases) {
    it(`${c.op}: ${c.name}`, async () => {
      const r = await gradCheck((g) => {
        const x: Record<string, Value> = {};
        for (const [name, fd] of Object.entries(c.feeds)) x[name] = f(g, name, fd.dims);
        return { loss: project(c.build(g, x)), wrt: Object.values(x) };
      }, c.feeds);
      assert.ok(r.checked > 0);
      assert.ok(r.maxRelError <= TOL, `max relative error ${r.maxRelError.toExponential(2)} > ${TOL}`);
    });
  }

  it('Gather: one-hot embedding gradient equals scatter-add', async () => {
    const feeds = { t: feed([5, 3], 54) };
    const build = (g: Graph): { loss: Value; wrt: Value[] } => {
      const t = f(g, 't', [5, 3]);
      const y = o.gather(t, g.constant(BigInt64Array.from([1n, 3n, 1n, 0n, 4n, 1n]), [2, 3], 'idx'));
      return { loss: project(y), wrt: [t] };
    };
    const scatter = await gradCheck(build, feeds);
    // The same check on a graph whose Gather gradient is a one-hot matmul.
    const onehot = await gradCheck(build, feeds, { embeddingGrad: 'onehot' });
    assert.ok(onehot.maxRelError <= TOL);
    assert.deepEqual(Array.from(onehot.analytic[0]).map((v) => v.toFixed(12)), Array.from(scatter.analytic[0]).map((v) => v.toFixed(12)));
  });

  it('LayerNormalization: float64 (composed) passes finite differences', async () => {
    const feeds = { x: feed([2, 3, 6], 56), s: feed([6], 57), b: feed([6], 58) };
    const r = await gradCheck((g) => {
      const [x, s, b] = [f(g, 'x', [2, 3, 6]), f(g, 's', [6]), f(g, 'b', [6])];
      return { loss: project(o.layerNorm(x, s, b)), wrt: [x, s, b] };
    }, feeds);
    assert.ok(r.maxRelError <= TOL, `max relative error ${r.maxRelError}`);
  });

  it('LayerNormalization: the fused op\'s rule (float32) matches the composed graph\'s gradients', async () => {
    const run = async (fused: boolean): Promise<Float32Array[]> => {
      const g = new G({ float: 'float32' });
      const [x, s, b] = [f(g, 'x', [4, 8]), f(g, 's', [8]), f(g, 'b', [8])];
      const loss = project(o.layerNorm(x, s, b, 1e-5, fused));
      gradients(loss, [x, s, b]).forEach((d, i) => g.output(`d${i}`, d));
      const sess = await Session.create(serialize(g), 'ln', { threads: 1 });
      const feeds = {
        x: tensor('float32', Float32Array.from(randn(32, rng(1))), [4, 8]),
        s: tensor('float32', Float32Array.from(randn(8, rng(2))), [8]),
        b: tensor('float32', Float32Array.from(randn(8, rng(3))), [8]),
      };
      const out = await sess.run(feeds);
      await sess.release();
      return [0, 1, 2].map((i) => out[`d${i}`].data as Float32Array);
    };
    const fused = await run(true);
    const composed = await run(false);
    for (let i = 0; i < 3; i++) {
      const worst = Math.max(...fused[i].map((v, k) => Math.abs(v - composed[i][k]) / Math.max(Math.abs(v), 1e-2)));
      assert.ok(worst < 1e-4, `input ${i}: relative difference ${worst}`);
    }
  });

  it('FastGelu: the contrib op\'s rule (float32) matches float64 finite differences of GELU and the composed graph', async () => {
    const xs = Float32Array.from(randn(64, rng(4)), (v) => 2.5 * v); // the tanh's curved range and both tails
    const run = async (portable: boolean): Promise<{ y: Float32Array; dx: Float32Array; ops: string[] }> => {
      const g = new G({ float: 'float32' });
      const x = f(g, 'x', [8, 8]);
      const y = gelu(x, portable);
      g.output('y', y);
      g.output('dx', gradients(project(y), [x])[0]);
      const sess = await Session.create(serialize(g), 'gelu', { threads: 1 });
      const out = await sess.run({ x: tensor('float32', xs, [8, 8]) });
      await sess.release();
      return { y: out.y.data as Float32Array, dx: out.dx.data as Float32Array, ops: g.nodes.map((n) => n.op) };
    };
    const fast = await run(false);
    const composed = await run(true);
    assert.ok(fast.ops.includes('FastGelu') && !composed.ops.includes('FastGelu'));
    // d/dx sum(w * gelu(x)) = w * gelu'(x); gelu' by float64 central differences of the formula
    const w = Float64Array.from(randn(64, rng(99)));
    const g64 = (v: number): number => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    const h = 1e-5;
    xs.forEach((v, i) => {
      const want = (w[i] * (g64(v + h) - g64(v - h))) / (2 * h);
      // float32 loses digits to 1 + tanh in the negative tail (either form): 1e-5 absolute, or relative past 1
      const tol = 1e-5 * Math.max(1, Math.abs(want));
      assert.ok(Math.abs(fast.dx[i] - want) < tol, `x ${v}: rule ${fast.dx[i]}, finite differences ${want}`);
      assert.ok(Math.abs(fast.dx[i] - composed.dx[i]) < tol, `x ${v}: rule ${fast.dx[i]}, composed ${composed.dx[i]}`);
      assert.ok(Math.abs(fast.y[i] - g64(v)) < 1e-5, `x ${v}: FastGelu ${fast.y[i]}, formula ${g64(v)}`);
    });
  });

  it('LogSoftmax composed (for WebGPU) equals the op and passes float64 finite differences', async () => {
    const feeds = { x: feed([3, 7], 60, (v) => 4 * v) };
    const r = await gradCheck((g) => {
      const x = f(g, 'x', [3, 7]);
      return { loss: project(o.logSoftmax(x, -1)), wrt: [x] };
    }, feeds, { composedLogSoftmax: true });
    assert.ok(r.maxRelError <= TOL, `max relative error ${r.maxRelError}`);
    const values = async (composed: boolean): Promise<Float32Array> => {
      const g = new G({ float: 'float32', composedLogSoftmax: composed });
      const y = o.logSoftmax(f(g, 'x', [3, 7]), -1);
      g.output('y', y);
      assert.equal(g.nodes.some((n) => n.op === 'LogSoftmax'), !composed);
      const sess = await Session.create(serialize(g), 'lsm', { threads: 1 });
      const out = await sess.run({ x: tensor('float32', Float32Array.from(feeds.x.data as Float64Array), [3, 7]) });
      await sess.release();
      return out.y.data as Float32Array;
    };
    const [a, b] = [await values(true), await values(false)];
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-5, `${i}: composed ${v}, op ${b[i]}`));
  });

  it('covers every rule in the table', () => {
    const covered = new Set([...cases.map((c) => c.op), 'LayerNormalization', 'StopGradient', 'FastGelu']);
    const missing = Object.keys(gradRules).filter((op) => !covered.has(op));
    assert.deepEqual(missing, []);
  });
});

describe('autodiff driver', () => {
  it('StopGradient: the stopped path contributes no gradient', async () => {
    const g = new G({ float: 'float64' });
    const x = g.floatInput('x', [3]);
    const loss = o.sumAll(o.mul(o.stopGradient(x), x)); // d/dx = sg(x), not 2x
    g.output('d', gradients(loss, [x])[0]);
    const sess = await Session.create(serialize(g), 'sg');
    const out = await sess.run({ x: tensor('float64', Float64Array.from([1, -2, 3]), [3]) });
    assert.deepEqual(Array.from(out.d.data as Float64Array), [1, -2, 3]);
    await sess.release();
  });

  it('an input the loss does not depend on gets zeros', async () => {
    const g = new G({ float: 'float64' });
    const x = g.floatInput('x', [2]);
    const unused = g.floatInput('u', [2, 2]);
    g.output('d', gradients(o.sumAll(o.mul(x, x)), [x, unused])[1]);
    const sess = await Session.create(serialize(g), 'zeros');
    const out = await sess.run(
      { x: tensor('float64', Float64Array.from([1, 2]), [2]), u: tensor('float64', new Float64Array(4).fill(5), [2, 2]) },
    );
    assert.deepEqual(Array.from(out.d.data as Float64Array), [0, 0, 0, 0]);
    await sess.release();
  });

  it('a missing rule is an error naming the op', () => {
    const g = new G({ float: 'float64' });
    const x = g.floatInput('x', [3, 3]);
    assert.throws(() => gradients(o.sumAll(o.trilu(x, false)), [x]), /no gradient rule for op Trilu/);
  });

  it('a non-scalar loss is refused with a hint', () => {
    const g = new G();
    const x = g.floatInput('x', [3]);
    assert.throws(() => gradients(o.mul(x, x), [x]), /must be a scalar/);
  });
});
