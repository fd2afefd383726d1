// Op builders: one function per ONNX op we use, each inferring its output shape so that mistakes
// surface at build time with the op's name, and so autodiff knows every shape. A plain number where
// a tensor is expected becomes a scalar constant of the other operand's dtype.

import {
  addDims,
  type Attr,
  type DType,
  type Dim,
  type Node,
  type Value,
  broadcastShapes,
  normalizeAxis,
  staticSize,
  typedArrayOf,
  isHalf,
} from './ir.js';

export type Operand = Value | number;

function lift(x: Operand, like: Value): Value {
  return typeof x === 'number' ? like.graph.scalar(x, like.dtype) : x;
}

function pair(op: string, a: Operand, b: Operand): [Value, Value] {
  if (typeof a === 'number' && typeof b === 'number') throw new Error(`${op}: at least one operand must be a tensor`);
  const va = typeof a === 'number' ? lift(a, b as Value) : a;
  const vb = lift(b, va);
  if (va.dtype !== vb.dtype) throw new Error(`${op}: dtypes differ (${va} vs ${vb})`);
  return [va, vb];
}

function binary(op: string, a: Operand, b: Operand, outDtype?: DType): Value {
  const [va, vb] = pair(op, a, b);
  const shape = broadcastShapes(op, va.shape, vb.shape);
  return va.graph.addNode(op, [va, vb], [{ dtype: outDtype ?? va.dtype, shape }])[0];
}

function unary(op: string, x: Value, attrs: Record<string, Attr> = {}): Value {
  return x.graph.addNode(op, [x], [{ dtype: x.dtype, shape: x.shape }], attrs)[0];
}

// ---- elementwise arithmetic -------------------------------------------------------------------
export const add = (a: Operand, b: Operand): Value => binary('Add', a, b);
export const sub = (a: Operand, b: Operand): Value => binary('Sub', a, b);
export const mul = (a: Operand, b: Operand): Value => binary('Mul', a, b);
export const div = (a: Operand, b: Operand): Value => binary('Div', a, b);
/** x ** exponent; the exponent is usually a constant (its gradient is not supported). */
export const pow = (x: Value, exponent: Operand): Value => binary('Pow', x, exponent);
export const max = (a: Operand, b: Operand): Value => binary('Max', a, b);
export const min = (a: Operand, b: Operand): Value => binary('Min', a, b);
/** Integer remainder (fmod 0: the sign of the divisor); no gradient. */
export const mod = (a: Operand, b: Operand): Value => binary('Mod', a, b);

export const neg = (x: Value): Value => unary('Neg', x);
export const exp = (x: Value): Value => unary('Exp', x);
export const log = (x: Value): Value => unary('Log', x);
export const tanh = (x: Value): Value => unary('Tanh', x);
export const sigmoid = (x: Value): Value => unary('Sigmoid', x);
export const sqrt = (x: Value): Value => unary('Sqrt', x);
export const reciprocal = (x: Value): Value => unary('Reciprocal', x);
export const relu = (x: Value): Value => unary('Relu', x);
export const abs = (x: Value): Value => unary('Abs', x);
export const identity = (x: Value): Value => unary('Identity', x);
/** Cos and Sin have no gradient rule: they only turn integer positions into rotary tables (model/llama.ts). */
export const cos = (x: Value): Value => unary('Cos', x);
export const sin = (x: Value): Value => unary('Sin', x);

/** Identity in the forward pass, no gradient in the backward pass (serialized as Identity). */
export const stopGradient = (x: Value): Value => unary('StopGradient', x);

/** Clamp to [lo, hi]; the gradient passes where lo <= x <= hi. */
export function clip(x: Value, lo: Operand, hi: Operand): Value {
  const vlo = lift(lo, x);
  const vhi = lift(hi, x);
  if (vlo.rank !== 0 || vhi.rank !== 0) throw new Error('Clip: min and max must be scalars');
  return x.graph.addNode('Clip', [x, vlo, vhi], [{ dtype: x.dtype, shape: x.shape }])[0];
}

// ---- comparisons and selection (no gradients flow through these) --------------------------------
export const equal = (a: Operand, b: Operand): Value => binary('Equal', a, b, 'bool');
export const less = (a: Operand, b: Operand): Value => binary('Less', a, b, 'bool');
export const greater = (a: Operand, b: Operand): Value => binary('Greater', a, b, 'bool');
export const lessOrEqual = (a: Operand, b: Operand): Value => binary('LessOrEqual', a, b, 'bool');
export const greaterOrEqual = (a: Operand, b: Operand): Value => binary('GreaterOrEqual', a, b, 'bool');
export const and = (a: Value, b: Value): Value => binary('And', a, b, 'bool');
export const not = (x: Value): Value => unary('Not', x);
export const or = (a: Value, b: Value): Value => binary('Or', a, b, 'bool');
export const isNaN = (x: Value): Value => x.graph.addNode('IsNaN', [x], [{ dtype: 'bool', shape: x.shape }])[0];
export const isInf = (x: Value): Value => x.graph.addNode('IsInf', [x], [{ dtype: 'bool', shape: x.shape }])[0];
/** true where x is neither NaN nor +-Infinity. */
export const isFinite = (x: Value): Value => not(or(isNaN(x), isInf(x)));

export function where(cond: Value, a: Operand, b: Operand): Value {
  if (cond.dtype !== 'bool') throw new Error(`Where: condition ${cond} must be bool`);
  const [va, vb] = pair('Where', a, b);
  const shape = broadcastShapes('Where', cond.shape, broadcastShapes('Where', va.shape, vb.shape));
  return cond.graph.addNode('Where', [cond, va, vb], [{ dtype: va.dtype, shape }])[0];
}

const onnxTypeCode: Record<DType, number> = { float32: 1, bool: 9, int32: 6, int64: 7, float64: 11, float16: 10, bfloat16: 16 };

export function cast(x: Value, to: DType): Value {
  return x.graph.addNode('Cast', [x], [{ dtype: to, shape: x.shape }], { to: { type: 'int', value: onnxTypeCode[to] } })[0];
}

// ---- linear algebra --------------------------------------------------------------------------
/**
 * Batched matmul with numpy broadcasting of the leading dims; both operands have rank >= 2. In a graph whose
 * `compute` type is float16 or bfloat16, float32 operands are cast to it and the product back to float32 (autocast:
 * the casts are inside the graph, so parameters stay float32 inputs); `autocast` false keeps a product float32.
 */
export function matmul(a: Value, b: Value, autocast = true): Value {
  if (a.rank < 2 || b.rank < 2) throw new Error(`MatMul: operands need rank >= 2 (got ${a} and ${b})`);
  if (a.dtype !== b.dtype) throw new Error(`MatMul: dtypes differ (${a} vs ${b})`);
  const k1 = a.shape[a.rank - 1];
  const k2 = b.shape[b.rank - 2];
  if (k1 !== k2) throw new Error(`MatMul: inner dims differ: ${a} @ ${b}`);
  const batch = broadcastShapes('MatMul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, a.shape[a.rank - 2], b.shape[b.rank - 1]];
  const g = a.graph;
  if (autocast && g.compute !== 'float32' && a.dtype === 'float32') {
    return cast(matmul(g.computeCopy(a), g.computeCopy(b), false), 'float32');
  }
  return g.addNode('MatMul', [a, b], [{ dtype: a.dtype, shape }])[0];
}

// ---- shape manipulation -----------------------------------------------------------------------
export function transpose(x: Value, perm: readonly number[]): Value {
  if (perm.length !== x.rank || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) {
    throw new Error(`Transpose: perm [${perm.join(',')}] is not a permutation of rank ${x.rank}`);
  }
  const shape = perm.map((p) => x.shape[p]);
  return x.graph.addNode('Transpose', [x], [{ dtype: x.dtype, shape }], { perm: { type: 'ints', value: perm } })[0];
}

/** Swaps the last two axes. */
export function transposeLast2(x: Value): Value {
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return transpose(x, perm);
}

/** Reshape to `dims`: 0 copies the input's dim at that position, one -1 is inferred. */
export function reshape(x: Value, dims: readonly number[]): Value {
  const out: Dim[] = dims.map((d, i) => (d === 0 ? x.shape[i] : d));
  const inferred = out.indexOf(-1);
  if (out.lastIndexOf(-1) !== inferred) throw new Error(`Reshape: more than one -1 in [${dims.join(',')}]`);
  const inSize = staticSize(x.shape);
  if (inferred >= 0) {
    const rest = staticSize(out.filter((_, i) => i !== inferred));
    if (inSize !== null && rest !== null) {
      if (rest === 0 || inSize % rest !== 0) throw new Error(`Reshape: cannot reshape ${x} to [${dims.join(',')}]`);
      out[inferred] = inSize / rest;
    } else {
      out[inferred] = `${x.name}#${inferred}`;
    }
  } else {
    const outSize = staticSize(out);
    if (inSize !== null && outSize !== null && inSize !== outSize) {
      throw new Error(`Reshape: cannot reshape ${x} to [${dims.join(',')}]`);
    }
  }
  return x.graph.addNode('Reshape', [x, x.graph.ints(dims, 'shape')], [{ dtype: x.dtype, shape: out }])[0];
}

/** Reshape `x` to the runtime shape of `ref` (used by gradients, which must undo reshapes). */
export function reshapeLike(x: Value, ref: Value): Value {
  return x.graph.addNode('Reshape', [x, shapeOf(ref)], [{ dtype: x.dtype, shape: ref.shape }])[0];
}

export function shapeOf(x: Value): Value {
  return x.graph.addNode('Shape', [x], [{ dtype: 'int64', shape: [x.rank] }])[0];
}

export function unsqueeze(x: Value, axes: readonly number[]): Value {
  const rank = x.rank + axes.length;
  const norm = axes.map((a) => normalizeAxis(a, rank, 'Unsqueeze'));
  const shape: Dim[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[j++]);
  return x.graph.addNode('Unsqueeze', [x, x.graph.ints(norm, 'axes')], [{ dtype: x.dtype, shape }])[0];
}

export function squeeze(x: Value, axes: readonly number[]): Value {
  const norm = axes.map((a) => normalizeAxis(a, x.rank, 'Squeeze'));
  for (const a of norm) if (x.shape[a] !== 1) throw new Error(`Squeeze: axis ${a} of ${x} is not 1`);
  const shape = x.shape.filter((_, i) => !norm.includes(i));
  return x.graph.addNode('Squeeze', [x, x.graph.ints(norm, 'axes')], [{ dtype: x.dtype, shape }])[0];
}

/** Broadcast `x` to the runtime shape of `ref` (its static shape must broadcast to ref's). */
export function expandLike(x: Value, ref: Value): Value {
  const shape = broadcastShapes('Expand', x.shape, ref.shape);
  return x.graph.addNode('Expand', [x, shapeOf(ref)], [{ dtype: x.dtype, shape }])[0];
}

export function expand(x: Value, dims: readonly number[]): Value {
  const shape = broadcastShapes('Expand', x.shape, dims);
  return x.graph.addNode('Expand', [x, x.graph.ints(dims, 'shape')], [{ dtype: x.dtype, shape }])[0];
}

export function concat(xs: readonly Value[], axis: number): Value {
  if (xs.length === 0) throw new Error('Concat: no inputs');
  const rank = xs[0].rank;
  const ax = normalizeAxis(axis, rank, 'Concat');
  let total: Dim = 0;
  for (const x of xs) {
    if (x.rank !== rank || x.dtype !== xs[0].dtype) throw new Error(`Concat: ${x} does not match ${xs[0]}`);
    x.shape.forEach((d, i) => {
      if (i !== ax && d !== xs[0].shape[i]) throw new Error(`Concat: ${x} does not match ${xs[0]} off axis ${ax}`);
    });
    const d = x.shape[ax];
    total = addDims(total, d);
  }
  const shape = xs[0].shape.map((d, i) => (i === ax ? total : d));
  return xs[0].graph.addNode('Concat', xs, [{ dtype: xs[0].dtype, shape }], { axis: { type: 'int', value: ax } })[0];
}

/** Splits along `axis` into pieces of the given static sizes. */
export function split(x: Value, sizes: readonly number[], axis: number): Value[] {
  const ax = normalizeAxis(axis, x.rank, 'Split');
  const total = sizes.reduce((a, b) => a + b, 0);
  if (x.shape[ax] !== total) throw new Error(`Split: sizes [${sizes.join(',')}] do not add up to dim ${ax} of ${x}`);
  const outTypes = sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === ax ? s : d)) }));
  return x.graph.addNode('Split', [x, x.graph.ints(sizes, 'split')], outTypes, { axis: { type: 'int', value: ax } });
}

/** Slice along the given axes (step 1); negative starts/ends count from the end of static axes. */
export function slice(x: Value, starts: readonly number[], ends: readonly number[], axes: readonly number[]): Value {
  const shape = [...x.shape];
  axes.forEach((a, i) => {
    const ax = normalizeAxis(a, x.rank, 'Slice');
    const d = x.shape[ax];
    if (typeof d !== 'number') {
      // A symbolic axis: only a non-negative [start, end) window has a known length (ORT clamps it
      // at run time if the axis turns out shorter).
      if (starts[i] < 0 || ends[i] <= starts[i]) throw new Error(`Slice: axis ${ax} of ${x} is symbolic; use 0 <= start < end`);
      shape[ax] = ends[i] - starts[i];
      return;
    }
    const s = Math.max(0, Math.min(d, starts[i] < 0 ? starts[i] + d : starts[i]));
    const e = Math.max(s, Math.min(d, ends[i] < 0 ? ends[i] + d : ends[i]));
    shape[ax] = e - s;
  });
  const g = x.graph;
  return g.addNode('Slice', [x, g.ints(starts, 'starts'), g.ints(ends, 'ends'), g.ints(axes, 'axes')], [{ dtype: x.dtype, shape }])[0];
}

/** Constant-pads each axis by (before, after) amounts; pads = [b0, b1, ..., a0, a1, ...] as in ONNX. */
export function pad(x: Value, pads: readonly number[]): Value {
  if (pads.length !== 2 * x.rank) throw new Error(`Pad: need ${2 * x.rank} pads for ${x}`);
  const shape = x.shape.map((d, i) => (typeof d === 'number' ? d + pads[i] + pads[i + x.rank] : `${d}+pad`));
  return x.graph.addNode('Pad', [x, x.graph.ints(pads, 'pads')], [{ dtype: x.dtype, shape }])[0];
}

// ---- reductions --------------------------------------------------------------------------------
function reduce(op: string, x: Value, axes: readonly number[], keepdims: boolean): Value {
  const norm = axes.map((a) => normalizeAxis(a, x.rank, op));
  const shape = keepdims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
  return x.graph.addNode(op, [x, x.graph.ints(norm, 'axes')], [{ dtype: x.dtype, shape }], {
    keepdims: { type: 'int', value: keepdims ? 1 : 0 },
  })[0];
}

export const reduceSum = (x: Value, axes: readonly number[], keepdims = false): Value => reduce('ReduceSum', x, axes, keepdims);
export const reduceMean = (x: Value, axes: readonly number[], keepdims = false): Value => reduce('ReduceMean', x, axes, keepdims);
export const reduceMax = (x: Value, axes: readonly number[], keepdims = false): Value => reduce('ReduceMax', x, axes, keepdims);

/** Sum of every element, as a scalar. */
export const sumAll = (x: Value): Value => reduceSum(x, x.shape.map((_, i) => i), false);

export function softmax(x: Value, axis = -1): Value {
  return unary('Softmax', x, { axis: { type: 'int', value: normalizeAxis(axis, x.rank, 'Softmax') } });
}

export function logSoftmax(x: Value, axis = -1): Value {
  const ax = normalizeAxis(axis, x.rank, 'LogSoftmax');
  if (x.graph.composedLogSoftmax) {
    // x - m - log(sum(exp(x - m))), m = max (no gradient: it cancels, and ReduceMax's would split at ties)
    const z = sub(x, stopGradient(reduceMax(x, [ax], true)));
    return sub(z, log(reduceSum(exp(z), [ax], true)));
  }
  return unary('LogSoftmax', x, { axis: { type: 'int', value: ax } });
}

// ---- indexing ----------------------------------------------------------------------------------
function checkIndices(op: string, indices: Value): void {
  if (indices.dtype !== 'int64' && indices.dtype !== 'int32') throw new Error(`${op}: indices ${indices} must be int64 or int32`);
}

/** Rows of `data` along `axis` picked by `indices` (an embedding lookup for axis 0). */
export function gather(data: Value, indices: Value, axis = 0): Value {
  checkIndices('Gather', indices);
  const ax = normalizeAxis(axis, data.rank, 'Gather');
  const shape = [...data.shape.slice(0, ax), ...indices.shape, ...data.shape.slice(ax + 1)];
  return data.graph.addNode('Gather', [data, indices], [{ dtype: data.dtype, shape }], { axis: { type: 'int', value: ax } })[0];
}

const distinctGathers = new WeakSet<Node>();

/**
 * A Gather along axis 0 whose indices the caller guarantees distinct (rows picked at most once, e.g. packed
 * rows, model/pack.ts): its gradient writes each row of d in place (ScatterND), with no sums of repeats.
 */
export function gatherDistinct(data: Value, indices: Value): Value {
  const y = gather(data, indices, 0);
  if (y.node) distinctGathers.add(y.node);
  return y;
}

/** Whether a node was made by gatherDistinct. */
export const isDistinctGather = (n: Node): boolean => distinctGathers.has(n);

export function gatherElements(data: Value, indices: Value, axis: number): Value {
  checkIndices('GatherElements', indices);
  if (indices.rank !== data.rank) throw new Error(`GatherElements: ${indices} and ${data} differ in rank`);
  const ax = normalizeAxis(axis, data.rank, 'GatherElements');
  return data.graph.addNode('GatherElements', [data, indices], [{ dtype: data.dtype, shape: indices.shape }], {
    axis: { type: 'int', value: ax },
  })[0];
}

export function scatterElements(data: Value, indices: Value, updates: Value, axis: number, reduction: 'none' | 'add' = 'none'): Value {
  checkIndices('ScatterElements', indices);
  const ax = normalizeAxis(axis, data.rank, 'ScatterElements');
  return data.graph.addNode('ScatterElements', [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], {
    axis: { type: 'int', value: ax },
    reduction: { type: 'string', value: reduction },
  })[0];
}

export function scatterND(data: Value, indices: Value, updates: Value, reduction: 'none' | 'add' = 'none'): Value {
  checkIndices('ScatterND', indices);
  return data.graph.addNode('ScatterND', [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], {
    reduction: { type: 'string', value: reduction },
  })[0];
}

/** Zeros of the runtime shape of `ref`, in `ref`'s dtype. */
export function zerosLike(ref: Value): Value {
  return expandLike(ref.graph.scalar(0, ref.dtype), ref);
}

// ---- normalization -----------------------------------------------------------------------------
/**
 * LayerNormalization over the last axis: y = (x - mean) / sqrt(var + eps) * scale + bias.
 * float32 uses ONNX's fused op (its Mean/InvStdDev outputs feed the gradient rule); float64 is
 * composed from primitives, because ORT computes the fused op's statistics in float32 only
 * (stash_type double has no kernel), which would spoil float64 gradient checks.
 */
export function layerNorm(x: Value, scale: Value, bias: Value, epsilon = 1e-5, fused = x.dtype === 'float32'): Value {
  const c = x.shape[x.rank - 1];
  for (const p of [scale, bias]) {
    if (p.rank !== 1 || p.shape[0] !== c) throw new Error(`LayerNormalization: ${p} does not match the last dim of ${x}`);
  }
  if (!fused) {
    const xc = sub(x, reduceMean(x, [-1], true));
    const invStd = reciprocal(sqrt(add(reduceMean(mul(xc, xc), [-1], true), epsilon)));
    return add(mul(mul(xc, invStd), scale), bias);
  }
  if (x.dtype !== 'float32') throw new Error(`LayerNormalization: the fused op needs float32 (got ${x})`);
  const statShape = [...x.shape.slice(0, -1), 1];
  return x.graph.addNode(
    'LayerNormalization',
    [x, scale, bias],
    [
      { dtype: x.dtype, shape: x.shape },
      { dtype: 'float32', shape: statShape },
      { dtype: 'float32', shape: statShape },
    ],
    { axis: { type: 'int', value: -1 }, epsilon: { type: 'float', value: epsilon } },
  )[0];
}

// ---- other -------------------------------------------------------------------------------------
/** Lower (upper=false) or upper triangle of the last two dims, offset k (a number or a 0-D int64 value). */
export function trilu(x: Value, upper: boolean, k: number | Value = 0): Value {
  const kv = typeof k === 'number' ? x.graph.constant(BigInt64Array.from([BigInt(k)]), [], 'k') : k;
  if (kv.dtype !== 'int64' || kv.rank !== 0) throw new Error(`Trilu: k must be a 0-D int64 tensor, got ${kv}`);
  return x.graph.addNode('Trilu', [x, kv], [{ dtype: x.dtype, shape: x.shape }], {
    upper: { type: 'int', value: upper ? 1 : 0 },
  })[0];
}

/** Dimension `axis` of x's runtime shape as a 0-D int64 (for masks built at run time). */
export function dimOf(x: Value, axis: number): Value {
  const ax = normalizeAxis(axis, x.rank, 'Shape');
  const [dim] = x.graph.addNode('Shape', [x], [{ dtype: 'int64', shape: [1] }], {
    start: { type: 'int', value: ax },
    end: { type: 'int', value: ax + 1 },
  });
  return squeeze(dim, [0]);
}

/** 0, 1, ..., n-1 as int64, n a 0-D int64 value (a runtime length); `dim` names the output's length. */
export function arange(n: Value, dim: Dim): Value {
  const g = n.graph;
  const zero = g.constant(BigInt64Array.of(0n), [], 'zero');
  const one = g.constant(BigInt64Array.of(1n), [], 'one');
  return g.addNode('Range', [zero, n, one], [{ dtype: 'int64', shape: [dim] }])[0];
}

/** A tensor of `shape` (a 1-D int64 value) filled with `fill` in `dtype`; `outShape` names its dims. */
export function constantOfShape(shape: Value, fill: number, dtype: DType, outShape: readonly Dim[]): Value {
  const g = shape.graph;
  const value = g.constant(typedArrayOf(dtype, [fill]), [1], 'fill', isHalf(dtype) ? dtype : undefined);
  return g.addNode('ConstantOfShape', [shape], [{ dtype, shape: outShape }], { value: { type: 'tensor', value } })[0];
}
