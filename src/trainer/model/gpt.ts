// The GPT-2 forward pass as graph ops: token + learned position embeddings, pre-LayerNorm blocks with
// causal multi-head attention and a GELU (tanh form) MLP, a final LayerNorm and the LM head tied to
// the token embedding. No dropout. Letters: B batch, T new tokens, P past (cached) tokens, C nEmbd,
// H heads, hs = C / H, V vocab. One implementation serves training (static B, T), KV-cache decoding
// (past keys/values in, present out) and export (symbolic B, T, P).

import { type Dim, type Value, addDims } from '../graph/ir.js';
import * as o from '../graph/ops.js';
import type { GptConfig } from './gpt-config.js';
import { blockPrefix } from './params.js';

export type Params = Readonly<Record<string, Value>>;

/** One layer's cached keys and values, each (B, H, P, hs) — Hugging Face's past_key_values layout. */
export interface KV {
  key: Value;
  value: Value;
}

export interface ForwardOptions {
  /** [B, P + T] float, 1 for real tokens and 0 for padding: padded keys get no attention. Needed for
   * left padding; with right padding the causal mask already keeps pads out of real rows. */
  keyMask?: Value;
  /** [B, T] int64 position ids; default 0..T-1 (static T, no past). */
  positions?: Value;
  /** Cached keys/values of earlier tokens, one entry per layer. */
  past?: readonly KV[];
  /** Return each layer's keys/values (past + new) for the next decoding step. */
  returnPresent?: boolean;
}

export interface ForwardResult {
  /** Last-layer hidden states after ln_f, [B, T, C]. */
  hidden: Value;
  /** Next-token logits, [B, T, V]. */
  logits: Value;
  /** Per layer (B, H, P + T, hs), when asked for. */
  present: KV[];
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

/**
 * Additive attention bias broadcast over (B, H): 0 where query i (absolute position P + i) may see key
 * j (j <= P + i), NEG elsewhere. A constant [T, T] when T is static and there is no past; otherwise
 * built at run time from the shapes (Trilu with offset P).
 */
function causalBias(like: Value, t: Dim, tk: Dim, pastLen: Value | null, ids: Value): Value {
  const g = like.graph;
  if (typeof t === 'number' && pastLen === null) {
    const data = like.dtype === 'float32' ? new Float32Array(t * t) : new Float64Array(t * t);
    for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) data[i * t + j] = NEG;
    return g.constant(data, [t, t], 'causal_mask');
  }
  const tq = o.dimOf(ids, 1);
  const p = pastLen ?? g.constant(BigInt64Array.of(0n), [], 'zero');
  const shape = o.concat([o.unsqueeze(tq, [0]), o.unsqueeze(o.add(tq, p), [0])], 0);
  const ones = o.constantOfShape(shape, 1, like.dtype, [t, tk]);
  return o.mul(o.sub(o.trilu(ones, false, p), 1), -NEG); // 1 -> 0, 0 -> NEG
}

export function gptForward(cfg: GptConfig, p: Params, ids: Value, opts: ForwardOptions = {}): ForwardResult {
  if (ids.rank !== 2) throw new Error(`GPT: ids must be [B, T], got ${ids}`);
  const [, t] = ids.shape;
  if (typeof t === 'number' && t > cfg.nPositions) throw new Error(`GPT: sequence length ${t} exceeds nPositions ${cfg.nPositions}`);
  if (opts.past && opts.past.length !== cfg.nLayer) throw new Error(`GPT: past has ${opts.past.length} layers, the model ${cfg.nLayer}`);
  const g = ids.graph;
  const { nEmbd: c, nHead: nh, layerNormEpsilon: eps } = cfg;
  const hs = c / nh;
  const wte = param(p, 'transformer.wte.weight');

  let positions = opts.positions;
  if (!positions) {
    if (typeof t !== 'number' || opts.past) throw new Error('GPT: positions must be given with a symbolic length or a past');
    positions = g.ints([...Array(t).keys()], 'positions'); // [T], broadcast over B
  }
  let x = o.add(o.gather(wte, ids), o.gather(param(p, 'transformer.wpe.weight'), positions)); // [B, T, C]

  const pastLen = opts.past ? o.dimOf(opts.past[0].key, 2) : null;
  const tk = opts.past ? addDims(opts.past[0].key.shape[2], t) : t;
  let bias = causalBias(wte, t, tk, pastLen, ids); // [T, P + T]
  if (opts.keyMask) {
    const keyBias = o.mul(o.sub(1, opts.keyMask), NEG); // [B, P + T]: 0 for tokens, NEG for pads
    bias = o.add(bias, o.unsqueeze(keyBias, [1, 2])); // (B, 1, T, P + T)
  }

  const present: KV[] = [];
  const cache = Boolean(opts.past || opts.returnPresent);
  const heads = (z: Value, perm: number[]): Value => o.transpose(o.reshape(z, [0, 0, nh, hs]), perm);
  for (let i = 0; i < cfg.nLayer; i++) {
    const h = blockPrefix(i);
    // attention
    const [q, k, v] = o.split(linear(layerNorm(x, p, `${h}.ln_1`, eps), p, `${h}.attn.c_attn`), [c, c, c], 2); // 3 x [B, T, C]
    const qh = heads(o.mul(q, 1 / Math.sqrt(hs)), [0, 2, 1, 3]); // (B, H, T, hs), pre-scaled: cheaper than scaling scores
    let kt: Value; // (B, H, hs, P + T)
    let vh = heads(v, [0, 2, 1, 3]); // (B, H, P + T, hs)
    if (cache) {
      let kh = heads(k, [0, 2, 1, 3]);
      if (opts.past) {
        kh = o.concat([opts.past[i].key, kh], 2);
        vh = o.concat([opts.past[i].value, vh], 2);
      }
      present.push({ key: kh, value: vh });
      kt = o.transposeLast2(kh);
    } else {
      kt = heads(k, [0, 2, 3, 1]); // straight to (B, H, hs, T): one transpose fewer
    }
    const att = o.softmax(o.add(o.matmul(qh, kt), bias), -1); // (B, H, T, P + T)
    const y = o.reshape(o.transpose(o.matmul(att, vh), [0, 2, 1, 3]), [0, 0, c]); // [B, T, C]
    x = o.add(x, linear(y, p, `${h}.attn.c_proj`));
    // MLP
    x = o.add(x, linear(gelu(linear(layerNorm(x, p, `${h}.ln_2`, eps), p, `${h}.mlp.c_fc`)), p, `${h}.mlp.c_proj`));
  }
  const hidden = layerNorm(x, p, 'transformer.ln_f', eps); // [B, T, C]
  const logits = o.matmul(hidden, o.transposeLast2(wte)); // [B, T, V], LM head tied to wte
  return { hidden, logits, present };
}

/** log p(targets) per position, [B, T], from logits [B, T, V] and targets [B, T]. */
export function tokenLogprobs(logits: Value, targets: Value): Value {
  const picked = o.gatherElements(o.logSoftmax(logits, -1), o.unsqueeze(targets, [-1]), 2); // [B, T, 1]
  return o.squeeze(picked, [2]);
}
