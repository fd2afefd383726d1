// Serialization: every supported opset loads and runs, unsupported ones are refused, dead nodes are
// pruned, the same graph builds in float32 and float64, and build-time errors name the op.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import { Graph, type FloatType } from '../../src/trainer/graph/ir.js';
import { gradients } from '../../src/trainer/graph/grad.js';
import * as o from '../../src/trainer/graph/ops.js';
import { MAX_OPSET, MIN_OPSET, serialize, toModelProto } from '../../src/trainer/graph/onnx.js';
import { Session, tensor } from '../../src/trainer/runtime/session.js';

/** A small graph that touches most op families: matmul, layer norm, softmax, gather, reductions. */
function build(float: FloatType): Graph {
  const g = new Graph({ float });
  const ids = g.input('ids', 'int64', [2, 3]);
  const emb = g.floatInput('emb', [5, 4]);
  const w = g.floatInput('w', [4, 5]); // 5 classes, as ids < 5
  const h = o.gather(emb, ids); // [2, 3, 4]
  const ln = o.layerNorm(
    h,
    g.constant(float === 'float32' ? new Float32Array(4).fill(1) : new Float64Array(4).fill(1), [4], 'ln_g'),
    g.constant(float === 'float32' ? new Float32Array(4) : new Float64Array(4), [4], 'ln_b'),
  );
  const logits = o.matmul(ln, w);
  const logp = o.logSoftmax(logits, -1);
  const picked = o.gatherElements(logp, o.unsqueeze(ids, [-1]), 2); // [2, 3, 1]
  const loss = o.neg(o.reduceMean(picked, [0, 1, 2]));
  const [dEmb, dW] = gradients(loss, [emb, w]);
  g.output('loss', loss);
  g.output('d_emb', dEmb);
  g.output('d_w', dW);
  return g;
}

function feeds(float: FloatType) {
  const arr = (n: number, f: (i: number) => number) => (
    float === 'float32' ? Float32Array.from({ length: n }, (_, i) => f(i)) : Float64Array.from({ length: n }, (_, i) => f(i))
  );
  return {
    ids: tensor('int64', BigInt64Array.from([0n, 1n, 2n, 3n, 4n, 1n]), [2, 3]),
    emb: tensor(float, arr(20, (i) => Math.sin(i + 1)), [5, 4]),
    w: tensor(float, arr(20, (i) => Math.cos(i * 0.7)), [4, 5]),
  };
}

describe('ONNX serialization', () => {
  it(`every opset from ${MIN_OPSET} to ${MAX_OPSET} loads and gives the same result`, async () => {
    let reference: number | null = null;
    for (let opset = MIN_OPSET; opset <= MAX_OPSET; opset++) {
      const s = await Session.create(serialize(build('float32'), { opset }), `opset${opset}`, { threads: 1 });
      const out = await s.run(feeds('float32'));
      const loss = (out.loss.data as Float32Array)[0];
      reference ??= loss;
      assert.equal(loss, reference, `opset ${opset}`);
      await s.release();
    }
  });

  it('refuses opsets outside the supported range', () => {
    assert.throws(() => serialize(build('float32'), { opset: 17 }), /opset 17 is not supported \(use 18\.\.26\)/);
    assert.throws(() => serialize(build('float32'), { opset: 27 }), /opset 27 is not supported/);
  });

  it('the same graph builds in float32 and float64 with matching results', async () => {
    const results: Record<string, number[]>[] = [];
    for (const float of ['float32', 'float64'] as const) {
      const s = await Session.create(serialize(build(float)), float, { threads: 1 });
      const out = await s.run(feeds(float));
      assert.equal(out.d_w.type, float);
      results.push(Object.fromEntries(['loss', 'd_emb', 'd_w'].map((k) => [k, Array.from(out[k].data as Float64Array, Number)])));
      await s.release();
    }
    for (const k of ['loss', 'd_emb', 'd_w']) {
      results[0][k].forEach((v, i) => assert.ok(Math.abs(v - results[1][k][i]) < 1e-5, `${k}[${i}]: ${v} vs ${results[1][k][i]}`));
    }
  });

  it('prunes nodes no output needs and keeps every declared input', () => {
    const g = new Graph();
    const x = g.floatInput('x', [3]);
    g.floatInput('unused', [2]);
    o.exp(o.tanh(x)); // dead
    g.output('y', o.neg(x));
    const model = toModelProto(g);
    assert.deepEqual(model.graph?.node?.map((n) => n.opType), ['Neg', 'Identity']);
    assert.deepEqual(model.graph?.input?.map((i) => i.name), ['x', 'unused']);
    const decoded = onnx.ModelProto.decode(serialize(g));
    assert.equal(decoded.graph?.output?.[0].name, 'y');
  });

  it('writes symbolic dims as dim_param', () => {
    const g = new Graph();
    const x = g.floatInput('x', ['B', 4]);
    g.output('y', o.mul(x, 2));
    const dims = toModelProto(g).graph?.input?.[0].type?.tensorType?.shape?.dim;
    assert.equal(dims?.[0].dimParam, 'B');
    assert.equal(Number(dims?.[1].dimValue), 4);
  });
});

describe('build-time shape errors name the op', () => {
  const g = new Graph();
  const a = g.floatInput('a', [2, 3]);
  const b = g.floatInput('b', [4, 5]);
  it('broadcasting', () => assert.throws(() => o.add(a, b), /Add: shapes \[2, 3\] and \[4, 5\] do not broadcast/));
  it('matmul inner dims', () => assert.throws(() => o.matmul(a, b), /MatMul: inner dims differ/));
  it('reshape size', () => assert.throws(() => o.reshape(a, [4, 2]), /Reshape: cannot reshape/));
  it('dtype mix', () => assert.throws(() => o.add(a, g.input('i', 'int64', [2, 3])), /Add: dtypes differ/));
  it('duplicate names', () => assert.throws(() => g.floatInput('a', [1]), /the name 'a' is already used/));
});
