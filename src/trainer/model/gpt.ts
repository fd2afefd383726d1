// The GPT-2 forward pass as graph ops: token + learned position embeddings, pre-LayerNorm blocks with
// causal multi-head attention and a GELU (tanh form) MLP, a final LayerNorm and the LM head tied to
// the token embedding. No dropout. Letters: B batch, T new tokens, P past (cached) tokens, C nEmbd,
// H heads, hs = C / H, V vocab. One implementation serves training (static B, T), KV-cache decoding
// (past keys/values in, present out) and export (symbolic B, T, P).

import type { Value } from '../graph/ir.js';
import * as o from '../graph/ops.js';
import { GELU_A, GELU_C, fastGelu } from '../graph/contrib.js';
import { type ForwardOptions, type ForwardResult, type KV, type Params, forwardSetup, param as named } from './attention.js';
import type { GptConfig } from './gpt-config.js';
import { withLora } from './lora-graph.js';
import { packRows, unpackRows } from './pack.js';
import { blockPrefix } from './params.js';

const param = (p: Params, name: string): Value => named(p, name, 'GPT');

function dense(x: Value, p: Params, name: string): Value {
  return o.add(o.matmul(x, param(p, `${name}.weight`)), param(p, `${name}.bias`));
}

function layerNorm(x: Value, p: Params, name: string, eps: number): Value {
  return o.layerNorm(x, param(p, `${name}.weight`), param(p, `${name}.bias`), eps);
}

/**
 * GELU, tanh approximation (GPT-2's gelu_new): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). In float32 one
 * `com.microsoft` FastGelu kernel (ORT's CPU, CUDA and WebGPU providers have it; its gradient rule is in
 * graph/grad.ts): the composed form is 9 elementwise passes forward and 34 backward over the MLP's widest tensor,
 * and the training step spent most of its non-GEMM time there. `portable` (ONNX export) and float64 (the gradient
 * checks) keep the composed form of standard ops.
 */
export function gelu(x: Value, portable = false): Value {
  if (x.dtype === 'float32' && !portable) return fastGelu(x);
  const inner = o.mul(o.add(x, o.mul(o.mul(x, o.mul(x, x)), GELU_A)), GELU_C);
  return o.mul(o.mul(x, 0.5), o.add(o.tanh(inner), 1));
}

export function gptForward(cfg: GptConfig, p: Params, ids: Value, opts: ForwardOptions = {}): ForwardResult {
  const { nEmbd: c, nHead: nh, layerNormEpsilon: eps } = cfg;
  const hs = c / nh;
  const wte = param(p, 'transformer.wte.weight');
  const { positions, bias } = forwardSetup('GPT', cfg, ids, wte, opts);
  let x = o.add(o.gather(wte, ids), o.gather(param(p, 'transformer.wpe.weight'), positions)); // [B, T, C]
  const pk = opts.pack;
  if (pk) x = packRows(x, pk); // [N, C]: token-wise ops on the real tokens only (model/pack.ts)

  const present: KV[] = [];
  const cache = Boolean(opts.past || opts.returnPresent);
  let modules = 0; // a projection's index, for LoRA dropout
  const linear = (z: Value, name: string): Value => withLora(dense(z, p, name), z, p, name, opts.lora, modules++);
  const heads = (z: Value, perm: number[]): Value => o.transpose(o.reshape(z, [0, 0, nh, hs]), perm);
  for (let i = 0; i < cfg.nLayer; i++) {
    const h = blockPrefix(i);
    // attention
    const qkv = linear(layerNorm(x, p, `${h}.ln_1`, eps), `${h}.attn.c_attn`);
    const [q, k, v] = o.split(pk ? unpackRows(qkv, pk) : qkv, [c, c, c], 2); // 3 x [B, T, C]
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
    x = o.add(x, linear(pk ? packRows(y, pk) : y, `${h}.attn.c_proj`));
    // MLP
    x = o.add(x, linear(gelu(linear(layerNorm(x, p, `${h}.ln_2`, eps), `${h}.mlp.c_fc`), opts.portable), `${h}.mlp.c_proj`));
  }
  const hidden = layerNorm(x, p, 'transformer.ln_f', eps); // [B, T, C] ([N, C] packed)
  const logits = o.matmul(hidden, o.transposeLast2(wte)); // [B, T, V] ([N, V] packed), LM head tied to wte
  return { hidden, logits, present };
}
