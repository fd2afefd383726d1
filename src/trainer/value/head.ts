// The A-LoL value head as graphs (DESIGN.md "Value estimate V(x)"): one learned query attends over
// the frozen reference model's last-layer hidden states of the prompt (multi-head attention with
// in/out projections as torch.nn.MultiheadAttention, padding masked), dropout on the attention
// output while fitting, then a linear layer: V = r_min + (r_max - r_min) * sigmoid(z).
// Graphs for a static [B, T]: predict (z, value) and step (weighted MSE -> gradients -> clip -> AdamW).
// Letters: B batch, T padded prompt length, C hidden size, nh heads, hs = C / nh.

import { AlolError } from '../errors.js';
import { type FloatType, Graph, type Value } from '../graph/ir.js';
import * as o from '../graph/ops.js';
import { type AdamWConfig, DEFAULT_ADAMW, type ParamSpec, addTrainStep } from '../graph/optim.js';
import { Rng } from '../util/rng.js';

export interface ValueHeadConfig {
  hiddenSize: number;
  heads: number;
  /** [r_min, r_max]: V lies in this range. */
  range: readonly [number, number];
}

export interface ValueParamInfo {
  readonly name: string;
  readonly shape: readonly number[];
  /** AdamW weight decay applies (matrices only; not biases or the query). */
  readonly decay: boolean;
}

/** The spec's optimizer: weight decay 0.01 on matrices, global-norm clipping at 1.0. */
export const VALUE_ADAMW: AdamWConfig = { ...DEFAULT_ADAMW, weightDecay: 0.01, gradClip: 1.0 };

/** Names of the head's tensors. Weights are [in, out] (y = x @ W), the transpose of torch's Linear. */
export const VALUE_PARAM = {
  query: 'value.query',
  qWeight: 'value.attn.q.weight',
  qBias: 'value.attn.q.bias',
  kWeight: 'value.attn.k.weight',
  kBias: 'value.attn.k.bias',
  vWeight: 'value.attn.v.weight',
  vBias: 'value.attn.v.bias',
  oWeight: 'value.attn.out.weight',
  oBias: 'value.attn.out.bias',
  linWeight: 'value.linear.weight',
  linBias: 'value.linear.bias',
} as const;

export type ValueParamKey = keyof typeof VALUE_PARAM;
export type ValueParams = Record<ValueParamKey, Value>;

export function checkValueConfig(cfg: ValueHeadConfig): void {
  const { hiddenSize: c, heads, range } = cfg;
  if (!Number.isInteger(c) || c < 1) throw new Error(`value head: hidden size ${c} must be a positive integer`);
  if (!Number.isInteger(heads) || heads < 1 || c % heads !== 0) {
    throw new AlolError(
      'config', `value head: hidden size ${c} is not divisible by ${heads} heads`, `set value.heads to a divisor of ${c}`, 'parenthesized',
    );
  }
  if (!(range[0] < range[1]) || !Number.isFinite(range[0]) || !Number.isFinite(range[1])) {
    throw new Error(`value head: reward range [${range[0]}, ${range[1]}] must be finite with r_min < r_max`);
  }
}

export function valueParamInfos(c: number): ValueParamInfo[] {
  const m = (name: string): ValueParamInfo => ({ name, shape: [c, c], decay: true });
  const b = (name: string, n = c): ValueParamInfo => ({ name, shape: [n], decay: false });
  const P = VALUE_PARAM;
  return [
    b(P.query),
    m(P.qWeight),
    b(P.qBias),
    m(P.kWeight),
    b(P.kBias),
    m(P.vWeight),
    b(P.vBias),
    m(P.oWeight),
    b(P.oBias),
    { name: P.linWeight, shape: [c, 1], decay: true },
    b(P.linBias, 1),
  ];
}

/**
 * Seeded initialisation as torch: xavier-uniform in-projections (over the stacked [3C, C] matrix),
 * zero attention biases, Linear-default out-projection and output weights, a standard-normal query.
 * The output bias starts at logit of the normalised `startValue` (the mean target), so the head
 * starts as the mean predictor and has to earn any difference from it.
 */
export function initValueParams(cfg: ValueHeadConfig, seed: number, startValue?: number): Map<string, Float32Array> {
  checkValueConfig(cfg);
  const c = cfg.hiddenSize;
  const rng = new Rng(seed);
  const uniform = (n: number, bound: number): Float32Array => Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * bound);
  const inBound = Math.sqrt(6 / (4 * c));
  const linBound = 1 / Math.sqrt(c);
  const P = VALUE_PARAM;
  const out = new Map<string, Float32Array>();
  out.set(P.query, Float32Array.from({ length: c }, () => rng.normal()));
  for (const [w, b] of [
    [P.qWeight, P.qBias],
    [P.kWeight, P.kBias],
    [P.vWeight, P.vBias],
  ] as const) {
    out.set(w, uniform(c * c, inBound));
    out.set(b, new Float32Array(c));
  }
  out.set(P.oWeight, uniform(c * c, linBound));
  out.set(P.oBias, new Float32Array(c));
  out.set(P.linWeight, uniform(c, linBound));
  const [lo, hi] = cfg.range;
  const p = startValue === undefined ? 0.5 : Math.min(1 - 1e-4, Math.max(1e-4, (startValue - lo) / (hi - lo)));
  out.set(P.linBias, Float32Array.of(Math.log(p / (1 - p))));
  return out;
}

export function addValueParams(g: Graph, cfg: ValueHeadConfig): { params: ValueParams; specs: ParamSpec[] } {
  checkValueConfig(cfg);
  const byName = new Map<string, ParamSpec>();
  for (const info of valueParamInfos(cfg.hiddenSize)) byName.set(
    info.name,
    { value: g.floatInput(info.name, info.shape), decay: info.decay },
  );
  const params = {} as ValueParams;
  for (const key of Object.keys(VALUE_PARAM) as ValueParamKey[]) params[key] = (byName.get(VALUE_PARAM[key]) as ParamSpec).value;
  return { params, specs: [...byName.values()] };
}

export interface ValueInputs {
  hidden: Value; // [B, T, C]
  mask: Value; // [B, T], 1 = real token, 0 = padding
  dropoutKeep?: Value; // [B, C], 0 or 1/(1-p)
}

/**
 * z [B] and V [B]. The head has a single query, so two identities of multi-head attention make it
 * cost O(B T C nh) instead of O(B T C^2), with exactly the same function and parameters:
 *  - scores: (h_t W_k + b_k)_head · q_head / sqrt(hs) = h_t @ U[:, head] + (b_k · q)_head, where
 *    U[:, head] = W_k[:, head] q_head / sqrt(hs) ([C, nh]); the b_k term cancels in the softmax.
 *  - values: sum_t a_t (h_t W_v + b_v) = (sum_t a_t h_t) W_v + b_v, because the a_t sum to 1.
 */
export function valueForward(cfg: ValueHeadConfig, p: ValueParams, x: ValueInputs): { z: Value; value: Value } {
  const { hiddenSize: c, heads: nh } = cfg;
  const hs = c / nh;
  const scale = 1 / Math.sqrt(hs);
  const q = o.add(o.matmul(o.reshape(p.query, [1, c]), p.qWeight), p.qBias); // [1, C]
  const u = o.mul(o.reduceSum(o.reshape(o.mul(p.kWeight, q), [c, nh, hs]), [2]), scale); // [C, nh]
  const kq = o.mul(o.reduceSum(o.reshape(o.mul(p.kBias, q), [nh, hs]), [1]), scale); // [nh]
  const scores = o.transpose(o.add(o.matmul(x.hidden, u), kq), [0, 2, 1]); // [B, nh, T]
  const real = o.unsqueeze(o.greater(x.mask, 0.5), [1]); // [B, 1, T]
  const att = o.softmax(o.where(real, scores, -1e9), -1); // [B, nh, T]; padding gets weight 0
  const pooled = o.transpose(o.matmul(att, x.hidden), [1, 0, 2]); // [nh, B, C]
  const wv = o.transpose(o.reshape(p.vWeight, [c, nh, hs]), [1, 0, 2]); // [nh, C, hs]
  const heads = o.transpose(o.matmul(pooled, wv), [1, 0, 2]); // [B, nh, hs]
  const attnIn = o.add(o.reshape(heads, [0, c]), p.vBias); // [B, C], heads concatenated
  const attn = o.add(o.matmul(attnIn, p.oWeight), p.oBias); // [B, C]
  const dropped = x.dropoutKeep ? o.mul(attn, x.dropoutKeep) : attn;
  const z = o.squeeze(o.add(o.matmul(dropped, p.linWeight), p.linBias), [1]); // [B]
  const [lo, hi] = cfg.range;
  return { z, value: o.add(o.mul(o.sigmoid(z), hi - lo), lo) };
}

/** sum_b w_b (V_b - target_b)^2: with w_b = 1/n on n real rows and 0 on dummy rows, the batch MSE. */
export function valueLoss(cfg: ValueHeadConfig, p: ValueParams, x: ValueInputs & { target: Value; exampleWeight: Value }): {
  loss: Value; value: Value,
} {
  const { value } = valueForward(cfg, p, x);
  const err = o.sub(value, x.target); // [B]
  return { loss: o.sumAll(o.mul(o.mul(err, err), x.exampleWeight)), value };
}

export interface ValueBatchShape {
  batch: number;
  seqLen: number;
}

function batchInputs(g: Graph, cfg: ValueHeadConfig, shape: ValueBatchShape): { hidden: Value; mask: Value } {
  return {
    hidden: g.floatInput('hidden', [shape.batch, shape.seqLen, cfg.hiddenSize]),
    mask: g.floatInput('mask', [shape.batch, shape.seqLen]),
  };
}

/** Inputs: parameters, hidden [B, T, C], mask [B, T]. Outputs: z [B], value [B]. No dropout. */
export function buildValuePredictGraph(cfg: ValueHeadConfig, shape: ValueBatchShape, float: FloatType = 'float32'): Graph {
  const g = new Graph({ float, name: 'value_predict' });
  const { params } = addValueParams(g, cfg);
  const { z, value } = valueForward(cfg, params, batchInputs(g, cfg, shape));
  g.output('z', z);
  g.output('value', value);
  return g;
}

/**
 * Inputs: parameters (+ AdamW inputs, graph/optim.ts), hidden [B, T, C], mask [B, T],
 * dropout_keep [B, C], target [B], example_weight [B]. Outputs: value [B] (before the update, with
 * dropout), loss and the AdamW outputs.
 */
export function buildValueStepGraph(cfg: ValueHeadConfig, shape: ValueBatchShape, adamw: AdamWConfig = VALUE_ADAMW): Graph {
  const g = new Graph({ name: 'value_step' });
  const { params, specs } = addValueParams(g, cfg);
  const x = {
    ...batchInputs(g, cfg, shape),
    dropoutKeep: g.floatInput('dropout_keep', [shape.batch, cfg.hiddenSize]),
    target: g.floatInput('target', [shape.batch]),
    exampleWeight: g.floatInput('example_weight', [shape.batch]),
  };
  const { loss, value } = valueLoss(cfg, params, x);
  g.output('value', value);
  addTrainStep(loss, specs, 'update', adamw);
  return g;
}
