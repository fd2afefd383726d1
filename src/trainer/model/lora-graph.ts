// The LoRA term of a projection inside a forward (model/lora.ts has the rest): y + (alpha / r) · B (A
// (dropout(x))) when the params hold the module's A and B. Dropout in training graphs is a deterministic
// hash of (element index, module, a per-step seed input), so a resumed run draws the same masks as an
// uninterrupted one; inference graphs have no dropout.

import type { Value } from '../graph/ir.js';
import * as o from '../graph/ops.js';
import type { LoraForward, Params } from './attention.js';

export const loraAName = (module: string): string => `${module}.lora_A.weight`;
export const loraBName = (module: string): string => `${module}.lora_B.weight`;

const HASH_P = 2147483647n; // 2^31 - 1

/** A [B, T, in] keep mask (0 or 1/(1-p)) from a hash of each element's index, the module and the seed. */
export function dropoutMask(x: Value, moduleIndex: number, p: number, seed: Value): Value {
  const g = x.graph;
  const dims = x.shape.map((d) => {
    if (typeof d !== 'number') throw new Error(`LoRA dropout needs static shapes (got ${x})`);
    return d;
  });
  const n = dims.reduce((a, d) => a * d, 1);
  const idx = o.reshape(o.arange(g.constant(BigInt64Array.of(BigInt(n)), [], 'n'), n), dims);
  const int = (v: bigint): Value => g.constant(BigInt64Array.of(v), [], 'h');
  const modp = (v: Value): Value => o.mod(v, int(HASH_P));
  // index, module and seed mixed linearly, then squared twice with a multiplier between (all < 2^62)
  let h = modp(o.add(o.add(o.mul(idx, int(2654435761n)), o.mul(modp(seed), int(97531n))), int(BigInt(moduleIndex) * 1000003n + 17n)));
  h = modp(o.mul(h, h));
  h = modp(o.add(o.mul(h, int(48271n)), int(11n)));
  h = modp(o.mul(h, h));
  const u = o.div(o.cast(h, x.dtype), Number(HASH_P)); // [0, 1)
  const keep = o.cast(o.greaterOrEqual(u, p), x.dtype);
  return o.stopGradient(o.mul(keep, 1 / (1 - p)));
}

/** y plus the LoRA term of `module` when `p` has its A and B (else y unchanged). x is the projection's input. */
export function withLora(y: Value, x: Value, p: Params, module: string, lora: LoraForward | undefined, moduleIndex: number): Value {
  const a = p[loraAName(module)];
  const b = p[loraBName(module)];
  if (!a || !b) return y;
  if (!lora) throw new Error(`LoRA parameters of ${module} without LoRA forward options`);
  const xd = lora.seed && lora.dropout > 0 ? o.mul(x, dropoutMask(x, moduleIndex, lora.dropout, lora.seed)) : x;
  const delta = o.matmul(o.matmul(xd, o.transposeLast2(a)), o.transposeLast2(b));
  return o.add(y, o.mul(delta, lora.scale));
}
