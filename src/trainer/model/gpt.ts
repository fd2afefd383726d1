// The GPT-2 forward pass as graph ops: token + learned position embeddings, pre-LayerNorm blocks with
// causal multi-head attention and a GELU (tanh form) MLP, a final LayerNorm and the LM head tied to
// the token embedding. No dropout. Letters: B batch, T time, C nEmbd, H heads, hs = C / H, V vocab,
// N = B * T (the residual stream is kept flat as [N, C] so every linear layer is one 2-D matmul).

import type { Value } from '../graph/ir.js';
import * as o from '../graph/ops.js';
import type { GptConfig } from './config.js';
import { blockPrefix } from './params.js';

export type Params = Readonly<Record<string, Value>>;

export interface ForwardOptions {
  /** [B, T] float, 1 for real tokens and 0 for padding: padded keys get no attention. Needed only
   * for left padding; with right padding the causal mask already keeps pads out of real rows. */
  keyMask?: Value;
}

export interface ForwardResult {
  /** Last-layer hidden states after ln_f, [B, T, C]. */
  hidden: Value;
  /** Next-token logits, flat [N, V]. */
  logits: Value;
}

const NEG = -1e9;

function param(p: Params, name: string): Value {
  const v = p[name];
  if (!v) throw new Error(`GPT: missing parameter ${name}`);
  return v;
}

function linear(x: Value, p: Params, name: string): Value {
  return o.add(o.matmul(x, param(p, `${name}.weight`)), param(p, `${name}.bias`));
}

function layerNorm(x: Value, p: Params, name: string, eps: number): Value {
  return o.layerNorm(x, param(p, `${name}.weight`), param(p, `${name}.bias`), eps);
}

/** GELU, tanh approximation (GPT-2's gelu_new): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function gelu(x: Value): Value {
  const inner = o.mul(o.add(x, o.mul(o.mul(x, o.mul(x, x)), 0.044715)), Math.sqrt(2 / Math.PI));
  return o.mul(o.mul(x, 0.5), o.add(o.tanh(inner), 1));
}

/** Additive causal mask [T, T]: 0 where key j <= query i, a large negative number elsewhere. */
function causalMask(x: Value, t: number): Value {
  const data = x.dtype === 'float32' ? new Float32Array(t * t) : new Float64Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) data[i * t + j] = NEG;
  return x.graph.constant(data, [t, t], 'causal_mask');
}

function attention(x: Value, p: Params, cfg: GptConfig, prefix: string, b: number, t: number, mask: Value): Value {
  const c = cfg.nEmbd;
  const nh = cfg.nHead;
  const hs = c / nh;
  const [q, k, v] = o.split(linear(x, p, `${prefix}.attn.c_attn`), [c, c, c], 1); // 3 x [N, C]
  const heads = (z: Value, perm: number[]): Value => o.transpose(o.reshape(z, [b, t, nh, hs]), perm);
  const qh = heads(o.mul(q, 1 / Math.sqrt(hs)), [0, 2, 1, 3]); // (B, nh, T, hs), pre-scaled: cheaper than scaling scores
  const kt = heads(k, [0, 2, 3, 1]); // (B, nh, hs, T)
  const vh = heads(v, [0, 2, 1, 3]); // (B, nh, T, hs)
  const att = o.softmax(o.add(o.matmul(qh, kt), mask), -1); // (B, nh, T, T)
  const y = o.reshape(o.transpose(o.matmul(att, vh), [0, 2, 1, 3]), [b * t, c]); // [N, C]
  return linear(y, p, `${prefix}.attn.c_proj`);
}

/** ids: [B, T] int64 token ids (static B and T, T <= nPositions), positions 0..T-1. */
export function gptForward(cfg: GptConfig, p: Params, ids: Value, opts: ForwardOptions = {}): ForwardResult {
  const [b, t] = ids.shape;
  if (ids.rank !== 2 || typeof b !== 'number' || typeof t !== 'number') throw new Error(`GPT: ids must be a static [B, T] tensor, got ${ids}`);
  if (t > cfg.nPositions) throw new Error(`GPT: sequence length ${t} exceeds nPositions ${cfg.nPositions}`);
  const g = ids.graph;
  const c = cfg.nEmbd;
  const eps = cfg.layerNormEpsilon;
  const wte = param(p, 'transformer.wte.weight');

  const positions = g.ints([...Array(t).keys()], 'positions');
  const tok = o.reshape(o.gather(wte, ids), [b * t, c]); // [N, C]
  const pos = o.gather(param(p, 'transformer.wpe.weight'), positions); // [T, C]
  let x = o.reshape(o.add(o.reshape(tok, [b, t, c]), pos), [b * t, c]); // [N, C]

  let mask = causalMask(wte, t); // [T, T], broadcast over (B, nh)
  if (opts.keyMask) {
    const keyBias = o.mul(o.sub(1, opts.keyMask), NEG); // 0 for tokens, NEG for pads, [B, T]
    mask = o.add(mask, o.reshape(keyBias, [b, 1, 1, t])); // (B, 1, T, T)
  }

  for (let i = 0; i < cfg.nLayer; i++) {
    const h = blockPrefix(i);
    x = o.add(x, attention(layerNorm(x, p, `${h}.ln_1`, eps), p, cfg, h, b, t, mask));
    x = o.add(x, linear(gelu(linear(layerNorm(x, p, `${h}.ln_2`, eps), p, `${h}.mlp.c_fc`)), p, `${h}.mlp.c_proj`));
  }
  const hf = layerNorm(x, p, 'transformer.ln_f', eps); // [N, C]
  const logits = o.matmul(hf, o.transposeLast2(wte)); // [N, V], LM head tied to wte
  return { hidden: o.reshape(hf, [b, t, c]), logits };
}

/** log p(targets) per position, [B, T], from flat logits [N, V] and targets [B, T]. */
export function tokenLogprobs(logits: Value, targets: Value): Value {
  const [b, t] = targets.shape as number[];
  const logp = o.logSoftmax(logits, -1);
  return o.reshape(o.gatherElements(logp, o.reshape(targets, [b * t, 1]), 1), [b, t]);
}
