// What every model family's forward shares: the parameter and cache types, the options one forward
// takes for training, log-probs, hidden states, KV-cache decoding and export, the causal (and padding)
// attention bias, and token log-probs from logits. Letters: B batch, T new tokens, P past (cached)
// tokens, H heads, hs head size, V vocab.

import { type Dim, type Value, addDims } from '../graph/ir.js';
import * as o from '../graph/ops.js';
import type { Packing } from './pack.js';

export type Params = Readonly<Record<string, Value>>;

/** One layer's cached keys and values, each (B, H_kv, P, hs) — Hugging Face's past_key_values layout. */
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
  /** LoRA's scale and dropout, for params that hold adapters (model/lora-graph.ts). */
  lora?: LoraForward;
  /** Standard ONNX ops only (an exported model other runtimes load); else contrib kernels where faster (GELU). */
  portable?: boolean;
  /** Token-wise ops on the real tokens only (model/pack.ts): `hidden` and `logits` are then [N, C] and [N, V].
   * Training and log-prob graphs of right-padded rows (static B, T; no cache, key mask or LoRA dropout). */
  pack?: Packing;
}

/** How a forward applies LoRA (model/lora-graph.ts): the scale, and in training graphs dropout from a per-step seed. */
export interface LoraForward {
  scale: number;
  dropout: number;
  /** int64 scalar input; dropout applies only when it is given and dropout > 0. */
  seed?: Value;
}

export interface ForwardResult {
  /** Last-layer hidden states after the final norm, [B, T, C] ([N, C] packed). */
  hidden: Value;
  /** Next-token logits, [B, T, V] ([N, V] packed). */
  logits: Value;
  /** Per layer (B, H_kv, P + T, hs), when asked for. */
  present: KV[];
}

export const NEG = -1e9;

/** A named parameter; `who` names the model in the error. */
export function param(p: Params, name: string, who: string): Value {
  const v = p[name];
  if (!v) throw new Error(`${who}: missing parameter ${name}`);
  return v;
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

/**
 * The checks and inputs every forward starts with: positions (given, or 0..T-1) and the attention
 * bias, [T, P + T] (causal) or (B, 1, T, P + T) with a key mask. `like` gives the float type.
 */
export function forwardSetup(
  who: string,
  limits: { nPositions: number; nLayer: number },
  ids: Value,
  like: Value,
  opts: ForwardOptions,
): { positions: Value; bias: Value } {
  if (ids.rank !== 2) throw new Error(`${who}: ids must be [B, T], got ${ids}`);
  const [, t] = ids.shape;
  if (typeof t === 'number' && t > limits.nPositions) {
    throw new Error(`${who}: sequence length ${t} exceeds the model's ${limits.nPositions} positions`);
  }
  if (opts.pack && (opts.past || opts.returnPresent || opts.keyMask || (opts.lora?.seed && opts.lora.dropout > 0))) {
    throw new Error(`${who}: packed rows serve training and log-prob graphs only (no cache, key mask or LoRA dropout)`);
  }
  if (opts.past && opts.past.length !== limits.nLayer) {
    throw new Error(`${who}: past has ${opts.past.length} layers, the model ${limits.nLayer}`);
  }
  let positions = opts.positions;
  if (!positions) {
    if (typeof t !== 'number' || opts.past) throw new Error(`${who}: positions must be given with a symbolic length or a past`);
    positions = ids.graph.ints([...Array(t).keys()], 'positions'); // [T], broadcast over B
  }
  const pastLen = opts.past ? o.dimOf(opts.past[0].key, 2) : null;
  const tk = opts.past ? addDims(opts.past[0].key.shape[2], t) : t;
  let bias = causalBias(like, t, tk, pastLen, ids); // [T, P + T]
  if (opts.keyMask) {
    const keyBias = o.mul(o.sub(1, opts.keyMask), NEG); // [B, P + T]: 0 for tokens, NEG for pads
    bias = o.add(bias, o.unsqueeze(keyBias, [1, 2])); // (B, 1, T, P + T)
  }
  return { positions, bias };
}

/** log p(targets) per position, [B, T], from logits [B, T, V] and targets [B, T] (or [N] from [N, V] and [N]). */
export function tokenLogprobs(logits: Value, targets: Value): Value {
  const axis = logits.rank - 1;
  const picked = o.gatherElements(o.logSoftmax(logits, -1), o.unsqueeze(targets, [-1]), axis); // [B, T, 1]
  return o.squeeze(picked, [axis]);
}
