// Reverse-mode autodiff over the IR: one gradient rule per op in a table, and one driver that
// walks the graph backwards from a scalar loss, accumulating the gradients of values used more
// than once. Rules are written with the forward op builders (no second kernel vocabulary) and
// reduce broadcast gradients back to their input's shape. Gradients the caller does not ask for are
// built but unused; serialization prunes them.

import { AlolError } from '../errors.js';
import { type Node, type Shape, type Value, formatShape } from './ir.js';
import * as o from './ops.js';
import { GELU_A, GELU_C } from './contrib.js';

/** Given a node and the gradients of its outputs (null = no gradient), one gradient per input. */
export type GradRule = (node: Node, dOut: readonly (Value | null)[]) => (Value | null)[];

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Sums a broadcast gradient back to the shape of the input it flows to. */
export function unbroadcast(grad: Value, target: Value): Value {
  if (sameShape(grad.shape, target.shape)) return grad;
  const lead = grad.rank - target.rank;
  if (lead < 0) throw new Error(`gradient ${grad} has lower rank than its input ${target}`);
  const axes: number[] = [];
  for (let i = 0; i < grad.rank; i++) {
    if (i < lead) {
      axes.push(i);
      continue;
    }
    const td = target.shape[i - lead];
    const gd = grad.shape[i];
    if (td === 1 && gd !== 1) axes.push(i);
    else if (td !== gd) throw new Error(`gradient ${grad} cannot be reduced to ${target}`);
  }
  let r = axes.length > 0 ? o.reduceSum(grad, axes, true) : grad;
  if (lead > 0) r = o.squeeze(r, [...Array(lead).keys()]);
  return r;
}

/** Reads a constant int64 input (axes, starts, ...) of a node. */
function constInts(node: Node, i: number): number[] {
  const v = node.inputs[i];
  if (!v.data) throw new Error(`${node.op}: input ${i} (${v.name}) must be a constant for its gradient`);
  return Array.from(v.data as BigInt64Array, (x) => Number(x));
}

function attrInt(node: Node, name: string, fallback: number): number {
  const a = node.attrs[name];
  return a && a.type === 'int' ? a.value : fallback;
}

function lastAxes(x: Value): number[] {
  return [...Array(x.rank - 1).keys()];
}

function one(dOut: readonly (Value | null)[]): Value {
  const d = dOut[0];
  if (!d) throw new Error('internal: rule called without an output gradient');
  return d;
}

export const gradRules: Record<string, GradRule> = {
  Add: (n, dO) => [unbroadcast(one(dO), n.inputs[0]), unbroadcast(one(dO), n.inputs[1])],
  Sub: (n, dO) => [unbroadcast(one(dO), n.inputs[0]), unbroadcast(o.neg(one(dO)), n.inputs[1])],
  Mul: (n, dO) => {
    const [a, b] = n.inputs;
    return [unbroadcast(o.mul(one(dO), b), a), unbroadcast(o.mul(one(dO), a), b)];
  },
  // y = a / b: da = d / b, db = -d * y / b
  Div: (n, dO) => {
    const [a, b] = n.inputs;
    const d = one(dO);
    return [unbroadcast(o.div(d, b), a), unbroadcast(o.neg(o.div(o.mul(d, n.outputs[0]), b)), b)];
  },
  // y = x^c: dx = d * c * x^(c-1); dc = d * y * log(x)
  Pow: (n, dO) => {
    const [x, c] = n.inputs;
    const d = one(dO);
    const cv = c.data && c.data.length === 1 ? Number(c.data[0]) : null;
    const dx =
      cv === 2 ? o.mul(d, o.mul(x, 2)) : cv !== null ? o.mul(d, o.mul(o.pow(x, cv - 1), cv)) : o.mul(d, o.mul(c, o.pow(x, o.sub(c, 1))));
    return [unbroadcast(dx, x), unbroadcast(o.mul(d, o.mul(n.outputs[0], o.log(x))), c)];
  },
  // Ties send the gradient to the first operand.
  Max: (n, dO) => {
    const [a, b] = n.inputs;
    const first = o.greaterOrEqual(a, b);
    return [unbroadcast(o.where(first, one(dO), 0), a), unbroadcast(o.where(first, 0, one(dO)), b)];
  },
  Min: (n, dO) => {
    const [a, b] = n.inputs;
    const first = o.lessOrEqual(a, b);
    return [unbroadcast(o.where(first, one(dO), 0), a), unbroadcast(o.where(first, 0, one(dO)), b)];
  },
  Neg: (_n, dO) => [o.neg(one(dO))],
  Exp: (n, dO) => [o.mul(one(dO), n.outputs[0])],
  Log: (n, dO) => [o.div(one(dO), n.inputs[0])],
  // com.microsoft FastGelu (GPT-2's gelu_new), y = 0.5 x (1 + t), t = tanh(C x (1 + A x^2)):
  // dx = d * 0.5 (1 + t) * (1 + x (1 - t) C (1 + 3 A x^2)), with t computed again (the kernel does not return it).
  // 13 elementwise passes; the composed GELU forward and its autodiff take 43 (model/gpt.ts gelu()).
  FastGelu: (n, dO) => {
    if (n.domain !== 'com.microsoft' || n.inputs.length !== 1) throw new Error('FastGelu: only the one-input contrib op has a gradient');
    const [x] = n.inputs;
    const x2 = o.mul(x, x);
    const t = o.tanh(o.mul(x, o.add(o.mul(x2, GELU_C * GELU_A), GELU_C)));
    const slope = o.add(o.mul(x2, 3 * GELU_A * GELU_C), GELU_C);
    const inner = o.add(o.mul(o.mul(x, o.sub(1, t)), slope), 1);
    return [o.mul(o.mul(one(dO), o.add(o.mul(t, 0.5), 0.5)), inner)];
  },
  // tanh' = 1 - y^2
  Tanh: (n, dO) => [o.mul(one(dO), o.sub(1, o.mul(n.outputs[0], n.outputs[0])))],
  Sigmoid: (n, dO) => [o.mul(one(dO), o.mul(n.outputs[0], o.sub(1, n.outputs[0])))],
  // sqrt' = 1 / (2 y)
  Sqrt: (n, dO) => [o.div(o.mul(one(dO), 0.5), n.outputs[0])],
  // (1/x)' = -y^2
  Reciprocal: (n, dO) => [o.neg(o.mul(one(dO), o.mul(n.outputs[0], n.outputs[0])))],
  Relu: (n, dO) => [o.where(o.greater(n.inputs[0], 0), one(dO), 0)],
  Abs: (n, dO) => [o.where(o.greaterOrEqual(n.inputs[0], 0), one(dO), o.neg(one(dO)))],
  Identity: (_n, dO) => [one(dO)],
  StopGradient: () => [null],
  Clip: (n, dO) => {
    const [x, lo, hi] = n.inputs;
    return [o.where(o.and(o.greaterOrEqual(x, lo), o.lessOrEqual(x, hi)), one(dO), 0), null, null];
  },
  Where: (n, dO) => {
    const [c, a, b] = n.inputs;
    return [null, unbroadcast(o.where(c, one(dO), 0), a), unbroadcast(o.where(c, 0, one(dO)), b)];
  },
  // y = cast(x): dx = cast(dy) back to x's type (float32 master weights get float32 gradients of float16 products)
  Cast: (n, dO) => [n.inputs[0].isFloat() ? o.cast(one(dO), n.inputs[0].dtype) : null],

  // y = a @ b: da = d @ b^T, db = a^T @ d (batch dims reduced back by unbroadcast)
  MatMul: (n, dO) => {
    const [a, b] = n.inputs;
    const d = one(dO);
    const da = unbroadcast(o.matmul(d, o.transposeLast2(b)), a);
    let db: Value;
    const k = a.shape[a.rank - 1];
    const nOut = b.shape[1];
    if (b.rank === 2 && a.rank > 2 && typeof k === 'number' && typeof nOut === 'number') {
      // A weight shared across the batch: one [K, M*] @ [M*, N] product instead of a batched one.
      db = o.matmul(o.transposeLast2(o.reshape(a, [-1, k])), o.reshape(d, [-1, nOut]));
    } else {
      db = unbroadcast(o.matmul(o.transposeLast2(a), d), b);
    }
    return [da, db];
  },
  Transpose: (n, dO) => {
    const perm = (n.attrs.perm as { value: readonly number[] }).value;
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    return [o.transpose(one(dO), inv)];
  },
  Reshape: (n, dO) => [o.reshapeLike(one(dO), n.inputs[0]), null],
  Unsqueeze: (n, dO) => [o.reshapeLike(one(dO), n.inputs[0]), null],
  Squeeze: (n, dO) => [o.reshapeLike(one(dO), n.inputs[0]), null],
  Expand: (n, dO) => [unbroadcast(one(dO), n.inputs[0]), null],
  Concat: (n, dO) => {
    const axis = attrInt(n, 'axis', 0);
    let offset = 0;
    return n.inputs.map((x) => {
      const size = x.shape[axis];
      if (typeof size !== 'number') throw new Error(`Concat: gradient needs a static size on axis ${axis} of ${x}`);
      const g = o.slice(one(dO), [offset], [offset + size], [axis]);
      offset += size;
      return g;
    });
  },
  Split: (n, dO) => {
    const axis = attrInt(n, 'axis', 0);
    const parts = n.outputs.map((y, i) => dO[i] ?? o.zerosLike(y));
    return [o.concat(parts, axis), null];
  },
  // The gradient of a slice is the output gradient padded back with zeros.
  Slice: (n, dO) => {
    const x = n.inputs[0];
    const starts = constInts(n, 1);
    const ends = constInts(n, 2);
    const axes = n.inputs.length > 3 ? constInts(n, 3) : starts.map((_, i) => i);
    const pads = new Array<number>(2 * x.rank).fill(0);
    axes.forEach((a, i) => {
      const ax = a < 0 ? a + x.rank : a;
      const dim = x.shape[ax];
      if (typeof dim !== 'number') throw new Error(`Slice: gradient needs a static axis ${ax} of ${x}`);
      const s = Math.max(0, Math.min(dim, starts[i] < 0 ? starts[i] + dim : starts[i]));
      const e = Math.max(s, Math.min(dim, ends[i] < 0 ? ends[i] + dim : ends[i]));
      pads[ax] = s;
      pads[ax + x.rank] = dim - e;
    });
    return [o.pad(one(dO), pads), null, null, null, null].slice(0, n.inputs.length);
  },
  ReduceSum: (n, dO) => [broadcastReduced(n, one(dO)), null],
  ReduceMean: (n, dO) => {
    const x = n.inputs[0];
    const axes = constInts(n, 1);
    let count = 1;
    for (const a of axes) {
      const dim = x.shape[a];
      if (typeof dim !== 'number') throw new Error(`ReduceMean: gradient needs a static axis ${a} of ${x}`);
      count *= dim;
    }
    return [o.div(broadcastReduced(n, one(dO)), count), null];
  },
  // The gradient goes to every position equal to the max (ties share it in full).
  ReduceMax: (n, dO) => {
    const x = n.inputs[0];
    const yKeep = attrInt(n, 'keepdims', 1) ? n.outputs[0] : o.unsqueeze(n.outputs[0], constInts(n, 1));
    return [o.where(o.equal(x, yKeep), broadcastReduced(n, one(dO)), 0), null];
  },
  // dx = y * (d - sum(d * y))
  Softmax: (n, dO) => {
    const y = n.outputs[0];
    const axis = attrInt(n, 'axis', -1);
    const d = one(dO);
    return [o.mul(y, o.sub(d, o.reduceSum(o.mul(d, y), [axis], true)))];
  },
  // dx = d - softmax(x) * sum(d), softmax(x) = exp(y)
  LogSoftmax: (n, dO) => {
    const axis = attrInt(n, 'axis', -1);
    const d = one(dO);
    return [o.sub(d, o.mul(o.exp(n.outputs[0]), o.reduceSum(d, [axis], true)))];
  },
  Gather: (n, dO) => {
    const [data, indices] = n.inputs;
    if (attrInt(n, 'axis', 0) !== 0) throw new Error('Gather: gradient implemented for axis 0 only');
    // distinct indices (o.gatherDistinct): each row of d lands on its own row, no sums
    if (o.isDistinctGather(n)) return [o.scatterND(o.zerosLike(data), o.unsqueeze(indices, [-1]), one(dO)), null];
    return [gatherGrad(data, indices, one(dO)), null];
  },
  // y = ScatterND(data, indices, updates) with indices [..., 1] (rows of axis 0): the updates' gradient gathers those
  // rows of d; data's is d with the overwritten rows zeroed ('none') or d itself ('add').
  ScatterND: (n, dO) => {
    const [data, indices, updates] = n.inputs;
    if (indices.shape[indices.rank - 1] !== 1) throw new Error('ScatterND: gradient implemented for indices [..., 1] only');
    const d = one(dO);
    const add = n.attrs.reduction?.type === 'string' && n.attrs.reduction.value === 'add';
    if (!add && n.attrs.reduction?.type === 'string' && n.attrs.reduction.value !== 'none') {
      throw new Error(`ScatterND: no gradient for reduction ${n.attrs.reduction.value}`);
    }
    const dData = data.isFloat() ? (add ? d : o.scatterND(d, indices, o.zerosLike(updates))) : null;
    return [dData, null, o.gather(d, o.squeeze(indices, [-1]))];
  },
  GatherElements: (n, dO) => {
    const [data, indices] = n.inputs;
    return [o.scatterElements(o.zerosLike(data), indices, one(dO), attrInt(n, 'axis', 0), 'add'), null];
  },
  // y = xhat * scale + bias, xhat = (x - mean) * r with r = 1/sqrt(var + eps):
  // dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = d * scale.
  LayerNormalization: (n, dO) => {
    if (dO[1] || dO[2]) throw new Error('LayerNormalization: gradients of Mean/InvStdDev outputs are not supported');
    const [x, scale] = n.inputs;
    const [, mean, invStd] = n.outputs;
    const d = one(dO);
    const xhat = o.mul(o.sub(x, mean), invStd);
    const dxhat = o.mul(d, scale);
    const inner = o.sub(o.sub(dxhat, o.reduceMean(dxhat, [-1], true)), o.mul(xhat, o.reduceMean(o.mul(dxhat, xhat), [-1], true)));
    const dx = o.mul(invStd, inner);
    const batchAxes = lastAxes(x);
    return [dx, o.reduceSum(o.mul(d, xhat), batchAxes), o.reduceSum(d, batchAxes)];
  },
};

/** The gradient of a reduction broadcast back over the reduced axes. */
function broadcastReduced(n: Node, d: Value): Value {
  const keep = attrInt(n, 'keepdims', 1);
  const dd = keep ? d : o.unsqueeze(d, constInts(n, 1));
  return o.expandLike(dd, n.inputs[0]);
}

/**
 * Embedding gradient: rows of d added into a zero table at the looked-up indices. On CPU a ScatterElements
 * with reduction 'add' over [N, rest] (each row's index repeated across the row), not ScatterND: ORT 1.30's CPU
 * ScatterND 'add' splits the updates over the intra-op threads and loses the sums of an index that repeats (a
 * token seen twice in a batch) — 5.3 absolute error on a 3072 x 128 gradient with 2 threads, different each run
 * (test/unit/embedding-grad.test.ts). ScatterElements gave the float64 sums to 2e-6 and the same bits every run.
 */
function gatherGrad(data: Value, indices: Value, d: Value): Value {
  const vocab = data.shape[0];
  const rest = data.shape.slice(1);
  const restSize = rest.reduce<number>((a, b) => a * (b as number), 1);
  if (typeof vocab !== 'number' || rest.some((x) => typeof x !== 'number')) {
    throw new Error(`Gather: the gradient needs a static table shape (${data})`);
  }
  if (data.graph.embeddingGrad === 'scatter') {
    const rows = o.reshape(d, [-1, restSize]); // [N, rest]
    const index = indices.dtype === 'int64' ? indices : o.cast(indices, 'int64');
    const at = o.expandLike(o.reshape(index, [-1, 1]), rows); // [N, rest]: each row's index
    return o.reshapeLike(o.scatterElements(o.zerosLike(o.reshape(data, [vocab, restSize])), at, rows, 0, 'add'), data);
  }
  const iota = data.graph.ints([...Array(vocab).keys()], 'iota');
  const oneHot = o.cast(o.equal(o.unsqueeze(o.cast(indices, 'int64'), [-1]), iota), data.dtype); // [..., V]
  // float32 even under mixed precision: a sum over every token of the batch
  const g = o.matmul(o.transposeLast2(o.reshape(oneHot, [-1, vocab])), o.reshape(d, [-1, restSize]), false); // [V, rest]
  return o.reshapeLike(g, data);
}

/**
 * Gradients of the scalar `loss` with respect to each of `wrt`, as new values in the same graph.
 * A value in `wrt` that the loss does not depend on gets zeros. Throws naming the op when a node
 * on a path from `wrt` to `loss` has no rule.
 */
export function gradients(loss: Value, wrt: readonly Value[]): Value[] {
  const g = loss.graph;
  if (loss.rank !== 0) throw new Error(`gradients: the loss must be a scalar, got ${loss} (sum or mean it first)`);
  if (!loss.isFloat()) throw new Error(`gradients: the loss ${loss} is not a float`);

  // Forward: which values depend on a wrt value through float paths.
  const live = new Set<number>(wrt.map((w) => w.id));
  const lastNode = loss.node ? loss.node.index : -1;
  for (let i = 0; i <= lastNode; i++) {
    const node = g.nodes[i];
    if (node.op === 'StopGradient') continue;
    if (node.inputs.some((x) => live.has(x.id))) {
      for (const y of node.outputs) if (y.isFloat()) live.add(y.id);
    }
  }

  const pending = new Map<number, Value[]>();
  const push = (v: Value, d: Value): void => {
    if (!sameShape(d.shape, v.shape)) {
      throw new Error(`gradient of ${v} has shape ${formatShape(d.shape)}; a rule is wrong (op ${v.node?.op ?? 'input'})`);
    }
    const list = pending.get(v.id);
    if (list) list.push(d);
    else pending.set(v.id, [d]);
  };
  // Sums the gradient contributions of a value once and caches the sum.
  const total = (v: Value): Value | null => {
    const list = pending.get(v.id);
    if (!list || list.length === 0) return null;
    const sum = list.reduce((a, b) => o.add(a, b));
    pending.set(v.id, [sum]);
    return sum;
  };

  if (live.has(loss.id)) push(loss, g.scalar(1, loss.dtype));
  for (let i = lastNode; i >= 0; i--) {
    const node = g.nodes[i];
    if (!node.outputs.some((y) => live.has(y.id))) continue;
    const dOut = node.outputs.map((y) => (live.has(y.id) ? total(y) : null));
    if (dOut.every((d) => d === null)) continue;
    const rule = gradRules[node.op];
    if (!rule) {
      throw new AlolError(
        'graph',
        `no gradient rule for op ${node.op} (node producing ${node.outputs[0].name})`,
        'add one to gradRules in src/trainer/graph/grad.ts, or wrap its input in stopGradient',
      );
    }
    const dIn = rule(node, dOut);
    node.inputs.forEach((x, k) => {
      const d = dIn[k];
      if (d && live.has(x.id)) push(x, d);
    });
  }
  return wrt.map((w) => total(w) ?? o.zerosLike(w));
}
