// ONNX Runtime's `com.microsoft` contrib operators that the inference graphs use (model/fused.ts): fused
// kernels with CPU implementations in onnxruntime 1.30 (and CUDA / WebGPU ones for the GPU issue). Only
// FastGelu (without bias) has a gradient rule (graph/grad.ts): GPT-2's training graphs use it too. Each
// builder checks the shapes it relies on and states the output shapes (the IR does no shape inference of its
// own). Schemas: ORT's ContribOperators.md.

import type { Dim, Value } from './ir.js';

const MS = 'com.microsoft';

function lastDim(op: string, x: Value): Dim {
  if (x.rank < 2) throw new Error(`${op}: ${x} must have rank >= 2`);
  return x.shape[x.rank - 1];
}

/**
 * SkipLayerNormalization: s = input + skip (+ bias); returns LayerNorm(s) * gamma + beta and s itself (the
 * residual stream the next block adds to). input and skip [B, S, C]; gamma, beta, bias [C].
 */
export function skipLayerNorm(
  input: Value,
  skip: Value,
  gamma: Value,
  beta: Value,
  bias: Value | null,
  epsilon: number,
): { normed: Value; sum: Value } {
  const c = lastDim('SkipLayerNormalization', input);
  for (const p of [gamma, beta, ...(bias ? [bias] : [])]) {
    if (p.rank !== 1 || p.shape[0] !== c) throw new Error(`SkipLayerNormalization: ${p} does not match the last dim of ${input}`);
  }
  const stat = { dtype: 'float32' as const, shape: [...input.shape.slice(0, -1), 1] };
  const out = input.graph.addNode(
    'SkipLayerNormalization',
    [input, skip, gamma, beta, ...(bias ? [bias] : [])],
    [{ dtype: input.dtype, shape: input.shape }, stat, stat, { dtype: input.dtype, shape: input.shape }],
    { epsilon: { type: 'float', value: epsilon } },
    MS,
  );
  return { normed: out[0], sum: out[3] };
}

/**
 * SkipSimplifiedLayerNormalization (RMSNorm with a residual add): s = input + skip; returns
 * s / sqrt(mean(s^2) + eps) * gamma and s.
 */
export function skipRmsNorm(input: Value, skip: Value, gamma: Value, epsilon: number): { normed: Value; sum: Value } {
  const c = lastDim('SkipSimplifiedLayerNormalization', input);
  if (gamma.rank !== 1 || gamma.shape[0] !== c) throw new Error(`SkipSimplifiedLayerNormalization: ${gamma} does not match ${input}`);
  const stat = { dtype: 'float32' as const, shape: [...input.shape.slice(0, -1), 1] };
  const out = input.graph.addNode(
    'SkipSimplifiedLayerNormalization',
    [input, skip, gamma],
    [{ dtype: input.dtype, shape: input.shape }, stat, stat, { dtype: input.dtype, shape: input.shape }],
    { epsilon: { type: 'float', value: epsilon } },
    MS,
  );
  return { normed: out[0], sum: out[3] };
}

/** GELU's tanh approximation: 0.5 x (1 + tanh(C (x + A x^3))). */
export const GELU_A = 0.044715;
export const GELU_C = Math.sqrt(2 / Math.PI);

/** FastGelu: GELU's tanh approximation (GPT-2's gelu_new) of x + bias in one kernel (graph/grad.ts: its gradient without bias). */
export function fastGelu(x: Value, bias?: Value): Value {
  return x.graph.addNode('FastGelu', bias ? [x, bias] : [x], [{ dtype: x.dtype, shape: x.shape }], {}, MS)[0];
}

export interface GqaInputs {
  /** [B, S, H d] queries, [B, S, K d] keys and values of the new tokens. */
  query: Value;
  key: Value;
  value: Value;
  /** The KV cache, [B, K, M, d]. Fed the same buffer as the `present` outputs, ORT writes the new
   * tokens' keys and values in place (past_present_share_buffer): nothing is copied per token. */
  pastKey: Value;
  pastValue: Value;
  /** int32 [B]: each row's total length (cached + new tokens) minus 1. Rows are right-padded. */
  seqlensK: Value;
  /** int32 scalar: the longest row's total length. */
  totalSequenceLength: Value;
}

/**
 * GroupQueryAttention: causal attention of S new tokens per row over the row's cached and new keys
 * (softmax scale 1/sqrt(d)); K key/value heads shared by H / K query heads each (K = H: multi-head).
 * Returns the attention output [B, S, H d] and the cache with the new keys/values, [B, K, M, d].
 */
export function groupQueryAttention(x: GqaInputs, heads: { numHeads: number; kvNumHeads: number; headSize: number }): {
  output: Value;
  presentKey: Value;
  presentValue: Value;
} {
  const { numHeads: h, kvNumHeads: k, headSize: d } = heads;
  if (x.query.rank !== 3) throw new Error(`GroupQueryAttention: query ${x.query} must be [B, S, hidden]`);
  if (x.pastKey.rank !== 4 || x.pastKey.shape[3] !== d) throw new Error(`GroupQueryAttention: past ${x.pastKey} must be [B, K, M, ${d}]`);
  if (h % k !== 0) throw new Error(`GroupQueryAttention: ${h} heads are not a multiple of ${k} key/value heads`);
  if (x.seqlensK.dtype !== 'int32' || x.totalSequenceLength.dtype !== 'int32') {
    throw new Error('GroupQueryAttention: seqlens_k and total_sequence_length must be int32');
  }
  const g = x.query.graph;
  const [b, s] = x.query.shape;
  const out = g.addNode(
    'GroupQueryAttention',
    [x.query, x.key, x.value, x.pastKey, x.pastValue, x.seqlensK, x.totalSequenceLength],
    [
      { dtype: x.query.dtype, shape: [b, s, h * d] },
      { dtype: x.pastKey.dtype, shape: x.pastKey.shape },
      { dtype: x.pastValue.dtype, shape: x.pastValue.shape },
    ],
    { num_heads: { type: 'int', value: h }, kv_num_heads: { type: 'int', value: k } },
    MS,
  );
  return { output: out[0], presentKey: out[1], presentValue: out[2] };
}
