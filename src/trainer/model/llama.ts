// The Llama-family forward pass (Llama, Qwen2, Mistral) as graph ops: token embeddings, pre-RMSNorm
// blocks with rotary position embeddings (Hugging Face's rotate_half convention) and grouped-query
// causal attention, a SwiGLU MLP, a final RMSNorm and the LM head (tied to the embedding or its own).
// No dropout. Letters: B batch, T new tokens, P past (cached) tokens, C hidden, H query heads, K
// key/value heads, R = H / K query heads per key/value head, d head size, V vocab. One implementation
// serves training (static B, T), KV-cache decoding (past (B, K, P, d) in, present out) and export.
//
// Grouped-query attention never copies keys or values: queries are grouped (B, K, R, T, d) and each
// group's MatMul broadcasts over R against its key/value head (B, K, 1, ., d) — query head h uses
// key/value head floor(h / R), as Hugging Face's repeat_kv. The gradient sums over R (MatMul's rule
// reduces broadcast dims), so no op beyond the existing table is needed.

import type { DType, Value } from '../graph/ir.js';
import * as o from '../graph/ops.js';
import { type ForwardOptions, type ForwardResult, type KV, type Params, forwardSetup, param as named } from './attention.js';
import { type LlamaConfig, ropeInvFreq } from './llama-config.js';
import { EMBED, LM_HEAD, llamaLayerPrefix } from './llama-params.js';
import { withLora } from './lora-graph.js';
import { packRows, unpackRows } from './pack.js';

const param = (p: Params, name: string): Value => named(p, name, 'Llama');

/** x @ W^T (+ b): nn.Linear's orientation, W [out, in] (ORT fuses the transpose into the MatMul). */
function dense(x: Value, p: Params, name: string, bias: boolean): Value {
  const y = o.matmul(x, o.transposeLast2(param(p, `${name}.weight`)));
  return bias ? o.add(y, param(p, `${name}.bias`)) : y;
}

/** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight (LlamaRMSNorm; composed, so its gradient is the table's). */
export function rmsNorm(x: Value, weight: Value, eps: number): Value {
  return o.mul(o.div(x, o.sqrt(o.add(o.reduceMean(o.pow(x, 2), [-1], true), eps))), weight);
}

/** SiLU (swish): x * sigmoid(x). */
export const silu = (x: Value): Value => o.mul(x, o.sigmoid(x));

/**
 * cos and sin of the rotary angles, [..., T, 1, d] (broadcast over heads): angle = position * inv_freq,
 * the d/2 frequencies repeated twice (emb = cat(freqs, freqs)). Computed in float32 as Hugging Face does,
 * then cast to the graph's float type; positions are integers, so no gradient flows here.
 */
export function rotaryTables(cfg: LlamaConfig, positions: Value, dtype: DType): { cos: Value; sin: Value } {
  const inv = ropeInvFreq(cfg);
  const full = new Float32Array(cfg.headDim);
  full.set(inv, 0);
  full.set(inv, inv.length);
  const angles = o.mul(o.unsqueeze(o.cast(positions, 'float32'), [-1]), positions.graph.constant(full, [cfg.headDim], 'inv_freq'));
  const table = (t: Value): Value => o.unsqueeze(dtype === 'float32' ? t : o.cast(t, dtype), [-2]);
  return { cos: table(o.cos(angles)), sin: table(o.sin(angles)) };
}

/** x * cos + rotate_half(x) * sin with rotate_half(x) = cat(-x2, x1) over the last axis; x [B, T, heads, d]. */
export function applyRotary(x: Value, cos: Value, sin: Value): Value {
  const d = x.shape[x.rank - 1] as number;
  const [x1, x2] = o.split(x, [d / 2, d / 2], -1);
  return o.add(o.mul(x, cos), o.mul(o.concat([o.neg(x2), x1], -1), sin));
}

export function llamaForward(cfg: LlamaConfig, p: Params, ids: Value, opts: ForwardOptions = {}): ForwardResult {
  const { nHead: nh, nKvHead: nkv, headDim: d, rmsNormEps: eps } = cfg;
  const r = nh / nkv;
  const embed = param(p, EMBED);
  const setup = forwardSetup('Llama', cfg, ids, embed, opts);
  const bias = setup.bias.rank === 4 ? o.unsqueeze(setup.bias, [1]) : setup.bias; // (B, 1, 1, T, P + T) or [T, T]
  const { cos, sin } = rotaryTables(cfg, setup.positions, embed.dtype);
  const pk = opts.pack;
  let x = o.gather(embed, ids); // [B, T, C]
  if (pk) x = packRows(x, pk); // [N, C]: token-wise ops on the real tokens only (model/pack.ts)
  const unpack = (z: Value): Value => (pk ? unpackRows(z, pk) : z);

  const present: KV[] = [];
  const cache = Boolean(opts.past || opts.returnPresent);
  let modules = 0; // a projection's index, for LoRA dropout
  const linear = (z: Value, name: string, b: boolean): Value => withLora(dense(z, p, name, b), z, p, name, opts.lora, modules++);
  for (let i = 0; i < cfg.nLayer; i++) {
    const h = llamaLayerPrefix(i);
    // attention
    const xn = rmsNorm(x, param(p, `${h}.input_layernorm.weight`), eps);
    const q = applyRotary(o.reshape(unpack(linear(xn, `${h}.self_attn.q_proj`, cfg.qkvBias)), [0, 0, nh, d]), cos, sin); // [B, T, H, d]
    const k = applyRotary(o.reshape(unpack(linear(xn, `${h}.self_attn.k_proj`, cfg.qkvBias)), [0, 0, nkv, d]), cos, sin); // [B, T, K, d]
    const v = o.reshape(unpack(linear(xn, `${h}.self_attn.v_proj`, cfg.qkvBias)), [0, 0, nkv, d]); // [B, T, K, d]
    // (B, K, R, T, d), pre-scaled: cheaper than scaling the scores
    const qg = o.transpose(o.reshape(o.mul(q, 1 / Math.sqrt(d)), [0, 0, nkv, r, d]), [0, 2, 3, 1, 4]);
    let kt: Value; // (B, K, 1, d, P + T)
    let vh = o.transpose(v, [0, 2, 1, 3]); // (B, K, P + T, d)
    if (cache) {
      let kh = o.transpose(k, [0, 2, 1, 3]);
      if (opts.past) {
        kh = o.concat([opts.past[i].key, kh], 2);
        vh = o.concat([opts.past[i].value, vh], 2);
      }
      present.push({ key: kh, value: vh });
      kt = o.unsqueeze(o.transposeLast2(kh), [2]);
    } else {
      kt = o.unsqueeze(o.transpose(k, [0, 2, 3, 1]), [2]); // straight to (B, K, d, T): one transpose fewer
    }
    const att = o.softmax(o.add(o.matmul(qg, kt), bias), -1); // (B, K, R, T, P + T)
    const y = o.reshape(o.transpose(o.matmul(att, o.unsqueeze(vh, [2])), [0, 3, 1, 2, 4]), [0, 0, nh * d]); // [B, T, H d]
    x = o.add(x, linear(pk ? packRows(y, pk) : y, `${h}.self_attn.o_proj`, cfg.oBias));
    // SwiGLU MLP: down(silu(gate(x)) * up(x))
    const xm = rmsNorm(x, param(p, `${h}.post_attention_layernorm.weight`), eps);
    const gated = o.mul(silu(linear(xm, `${h}.mlp.gate_proj`, cfg.mlpBias)), linear(xm, `${h}.mlp.up_proj`, cfg.mlpBias));
    x = o.add(x, linear(gated, `${h}.mlp.down_proj`, cfg.mlpBias));
  }
  const hidden = rmsNorm(x, param(p, 'model.norm.weight'), eps); // [B, T, C] ([N, C] packed)
  const head = cfg.tieWordEmbeddings ? embed : param(p, LM_HEAD);
  const logits = o.matmul(hidden, o.transposeLast2(head)); // [B, T, V]
  return { hidden, logits, present };
}
