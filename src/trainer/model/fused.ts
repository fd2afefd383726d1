// Fused inference graphs for KV-cache generation (model/generate.ts), built from ONNX Runtime's contrib
// operators (graph/contrib.ts) where they pay here: GroupQueryAttention for the prompt run,
// SkipLayerNormalization / SkipSimplifiedLayerNormalization (residual add + norm in one kernel), FastGelu.
// Same weights and input names as the plain graphs (gpt-graphs.ts), same math up to float rounding: tests
// check that greedy and sampled tokens match the plain graphs. The weights can be built in as initializers
// (ORT prepacks them for its GEMMs) or fed.
//
// The cache is the generator's: per layer past_key_values.l.key / .value, [B, K, M, d] for a capacity of M
// tokens, fed to every run (onnxruntime-node reads a fed tensor in place, but copies every output back, so
// the cache never leaves as an output). A run returns its new tokens' keys and values (new.l.key / .value,
// [B, S, K d]) and the generator writes them at each row's length. Decoding attends with composed ops
// (two matmuls over the past, the new token's own score beside them): GroupQueryAttention would copy the
// whole past into its present output on every token. Rows are right-padded. Inputs:
//   ids, positions [B, S] int64        S new tokens per row (the padded prompt, or 1 when decoding)
//   seqlens_k [B] int32                each row's length after this run, minus 1
//   total_sequence_length [] int32     S for the prompt; the longest row's length after this run when decoding
//   last_index [B] int64               flat index b * S + i of the token whose next-token logits are wanted
// Outputs: logits [B, V] at last_index; the new keys and values. LoRA runs generate from merged weights, so
// these graphs take the base parameters only. Letters: B batch, S new tokens, C hidden, H heads, K kv heads,
// R = H / K, d head size, M cache capacity.

import * as c from '../graph/contrib.js';
import { type Dim, Graph, type Value } from '../graph/ir.js';
import * as o from '../graph/ops.js';
import { NEG, type Params, param } from './attention.js';
import { type ModelConfig, headSize, kvHeads } from './config.js';
import type { GptConfig } from './gpt-config.js';
import { addParams, pastName } from './gpt-graphs.js';
import { paramInfos } from './family.js';
import type { LlamaConfig } from './llama-config.js';
import { EMBED, LM_HEAD, llamaLayerPrefix } from './llama-params.js';
import { applyRotary, rmsNorm, rotaryTables } from './llama.js';
import { blockPrefix } from './params.js';

interface Attend {
  /** Attention of layer i over its cache: q [B, S, H d], k and v [B, S, K d] -> [B, S, H d]. */
  (i: number, q: Value, k: Value, v: Value): Value;
}

function gptBlocks(cfg: GptConfig, p: Params, ids: Value, positions: Value, attend: Attend): Value {
  const w = (name: string): Value => param(p, name, 'GPT');
  const { nEmbd: C, layerNormEpsilon: eps } = cfg;
  let x = o.add(o.gather(w('transformer.wte.weight'), ids), o.gather(w('transformer.wpe.weight'), positions)); // [B, S, C]
  let h = o.layerNorm(x, w(`${blockPrefix(0)}.ln_1.weight`), w(`${blockPrefix(0)}.ln_1.bias`), eps);
  for (let i = 0; i < cfg.nLayer; i++) {
    const b = blockPrefix(i);
    const qkv = o.add(o.matmul(h, w(`${b}.attn.c_attn.weight`)), w(`${b}.attn.c_attn.bias`));
    const [q, k, v] = o.split(qkv, [C, C, C], 2);
    const a = o.matmul(attend(i, q, k, v), w(`${b}.attn.c_proj.weight`));
    const mid = c.skipLayerNorm(a, x, w(`${b}.ln_2.weight`), w(`${b}.ln_2.bias`), w(`${b}.attn.c_proj.bias`), eps);
    x = mid.sum;
    const m = o.matmul(c.fastGelu(o.matmul(mid.normed, w(`${b}.mlp.c_fc.weight`)), w(`${b}.mlp.c_fc.bias`)), w(`${b}.mlp.c_proj.weight`));
    const next = i + 1 < cfg.nLayer ? `${blockPrefix(i + 1)}.ln_1` : 'transformer.ln_f';
    const out = c.skipLayerNorm(m, x, w(`${next}.weight`), w(`${next}.bias`), w(`${b}.mlp.c_proj.bias`), eps);
    x = out.sum;
    h = out.normed;
  }
  return h; // after ln_f
}

function llamaBlocks(cfg: LlamaConfig, p: Params, ids: Value, positions: Value, attend: Attend): Value {
  const w = (name: string): Value => param(p, name, 'Llama');
  const { nHead: nh, nKvHead: nkv, headDim: d, rmsNormEps: eps } = cfg;
  const dense = (z: Value, name: string, bias: boolean): Value => {
    const y = o.matmul(z, o.transposeLast2(w(`${name}.weight`)));
    return bias ? o.add(y, w(`${name}.bias`)) : y;
  };
  const embed = w(EMBED);
  const { cos, sin } = rotaryTables(cfg, positions, embed.dtype);
  const rotate = (z: Value, heads: number): Value => o.reshape(applyRotary(o.reshape(z, [0, 0, heads, d]), cos, sin), [0, 0, heads * d]);
  let x = o.gather(embed, ids); // [B, S, C]
  let h = rmsNorm(x, w(`${llamaLayerPrefix(0)}.input_layernorm.weight`), eps);
  for (let i = 0; i < cfg.nLayer; i++) {
    const b = llamaLayerPrefix(i);
    const q = rotate(dense(h, `${b}.self_attn.q_proj`, cfg.qkvBias), nh);
    const k = rotate(dense(h, `${b}.self_attn.k_proj`, cfg.qkvBias), nkv);
    const v = dense(h, `${b}.self_attn.v_proj`, cfg.qkvBias);
    const a = dense(attend(i, q, k, v), `${b}.self_attn.o_proj`, cfg.oBias);
    const mid = c.skipRmsNorm(a, x, w(`${b}.post_attention_layernorm.weight`), eps);
    x = mid.sum;
    const gate = dense(mid.normed, `${b}.mlp.gate_proj`, cfg.mlpBias);
    const up = dense(mid.normed, `${b}.mlp.up_proj`, cfg.mlpBias);
    const m = dense(o.mul(o.mul(gate, o.sigmoid(gate)), up), `${b}.mlp.down_proj`, cfg.mlpBias); // SwiGLU
    const next = i + 1 < cfg.nLayer ? `${llamaLayerPrefix(i + 1)}.input_layernorm.weight` : 'model.norm.weight';
    const out = c.skipRmsNorm(m, x, w(next), eps);
    x = out.sum;
    h = out.normed;
  }
  return h; // after the final norm
}

/** The LM head's weight, [V, C]. */
function headWeight(cfg: ModelConfig, p: Params): Value {
  if (cfg.arch === 'llama') return param(p, cfg.tieWordEmbeddings ? EMBED : LM_HEAD, 'Llama');
  return param(p, 'transformer.wte.weight', 'GPT');
}

/** Whether the fused graphs serve this model (float32 weights; any family the plain graphs serve). */
export const fusedGenerationSupported = (cfg: ModelConfig): boolean => cfg.arch === 'llama' || cfg.arch === 'gpt2';

/**
 * The fused generation graph for `batch` rows of `seqLen` new tokens each (a bucketed prompt width, or 1);
 * the cache's capacity M is symbolic, so one session serves every capacity.
 */
export function buildFusedGenerationGraph(
  cfg: ModelConfig,
  batch: Dim,
  seqLen: Dim,
  weights?: ReadonlyMap<string, Float32Array>,
  opts: { decodeAttention?: 'gqa' | 'composed' } = {},
): Graph {
  const g = new Graph({ name: seqLen === 1 ? 'gpt_fused_decode' : 'gpt_fused_prefill' });
  const params = weights ? constantParams(g, cfg, weights) : addParams(g, cfg).params;
  const ids = g.input('ids', 'int64', [batch, seqLen]);
  const positions = g.input('positions', 'int64', [batch, seqLen]);
  const seqlensK = g.input('seqlens_k', 'int32', [batch]);
  const totalSequenceLength = g.input('total_sequence_length', 'int32', []);
  const lastIndex = g.input('last_index', 'int64', [batch]);
  const [d, nkv] = [headSize(cfg), kvHeads(cfg)];
  const heads = { numHeads: cfg.nHead, kvNumHeads: nkv, headSize: d };
  // Decoding reads the cache with composed attention (see the header); the prompt run uses the kernel.
  const composed = seqLen === 1 && opts.decodeAttention !== 'gqa';
  let pastBias: Value | null = null; // [B, 1, 1, M]: 0 before each row's length, NEG after
  const attend: Attend = (i, query, key, value) => {
    const pastKey = g.floatInput(pastName(i, 'key'), [batch, nkv, 'M', d]);
    const pastValue = g.floatInput(pastName(i, 'value'), [batch, nkv, 'M', d]);
    // Only the new tokens' keys and values leave the graph: the generator writes them into its cache.
    g.output(newKvName(i, 'key'), key);
    g.output(newKvName(i, 'value'), value);
    if (!composed) {
      return c.groupQueryAttention({ query, key, value, pastKey, pastValue, seqlensK, totalSequenceLength }, heads).output;
    }
    pastBias ??= o.unsqueeze(
      o.where(o.less(o.arange(o.dimOf(pastKey, 2), 'M'), o.unsqueeze(o.cast(seqlensK, 'int64'), [1])), g.scalar(0), NEG),
      [1, 2],
    );
    const r = cfg.nHead / nkv;
    const q = o.reshape(o.mul(query, 1 / Math.sqrt(d)), [0, nkv, r, d]); // (B, K, R, d)
    const sPast = o.add(o.matmul(q, o.transposeLast2(pastKey)), pastBias); // (B, K, R, M)
    const sNew = o.matmul(q, o.reshape(key, [0, nkv, d, 1])); // (B, K, R, 1)
    const top = o.max(o.reduceMax(sPast, [-1], true), sNew);
    const [ePast, eNew] = [o.exp(o.sub(sPast, top)), o.exp(o.sub(sNew, top))];
    const num = o.add(o.matmul(ePast, pastValue), o.mul(eNew, o.reshape(value, [0, nkv, 1, d]))); // (B, K, R, d)
    return o.reshape(o.div(num, o.add(o.reduceSum(ePast, [-1], true), eNew)), [0, 1, cfg.nHead * d]);
  };
  const hidden = cfg.arch === 'llama' ? llamaBlocks(cfg, params, ids, positions, attend) : gptBlocks(cfg, params, ids, positions, attend);
  const last = o.gather(o.reshape(hidden, [-1, cfg.nEmbd]), lastIndex); // [B, C]
  g.output('logits', o.matmul(last, o.transposeLast2(headWeight(cfg, params)))); // [B, V]
  return g;
}

/** The weights as the graph's initializers: ORT prepacks them, and nothing is fed (or copied) per run. */
function constantParams(g: Graph, cfg: ModelConfig, weights: ReadonlyMap<string, Float32Array>): Params {
  const params: Record<string, Value> = {};
  for (const info of paramInfos(cfg)) {
    const data = weights.get(info.name);
    if (!data) throw new Error(`fused graph: missing parameter ${info.name}`);
    params[info.name] = g.constant(data, info.shape, info.name);
  }
  return params;
}

/** The output with layer `layer`'s keys or values of the run's new tokens, [B, S, K d]. */
export const newKvName = (layer: number, kind: 'key' | 'value'): string => `new.${layer}.${kind}`;
