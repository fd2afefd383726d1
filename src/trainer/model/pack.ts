// Packed rows: the token-wise part of a training forward (norms, projections, the MLP, the LM head and
// log-softmax) computed on the batch's real tokens only, [N, C] with N symbolic, instead of on every
// padded position of [B, T, C]. Attention alone needs the rows' [B, T] layout: each layer unpacks its
// queries/keys/values there (padding positions exactly zero) and packs the attention output back.
// `index` [N] (int64) holds the flat positions b * T + t of the real tokens, each once, in order.
//
// Both moves are exact, and so are their gradients: packing is a Gather whose gradient scatters into
// zeros (graph/grad.ts), unpacking a ScatterND into zeros whose gradient gathers. On the demo's data a
// batch is about 73% real tokens (rows bucketed to a multiple of 32, the longest of 16 random rows), so
// about a quarter of the token-wise work was spent on padding.

import type { Value } from '../graph/ir.js';
import * as o from '../graph/ops.js';

export interface Packing {
  /** [N] int64: b * T + t of each real token (every position before the row's end). */
  index: Value;
  batch: number;
  seqLen: number;
}

/** The graph input of a packing: `pack_index` [N]. */
export const PACK_INDEX = 'pack_index';

function rest(x: Value, lead: number): number[] {
  return x.shape.slice(lead).map((d) => {
    if (typeof d !== 'number') throw new Error(`packed rows need static feature dims (got ${x})`);
    return d;
  });
}

/** [B, T, ...] -> [N, ...]: the real tokens' rows. */
export function packRows(x: Value, pk: Packing): Value {
  return o.gatherDistinct(o.reshape(x, [pk.batch * pk.seqLen, ...rest(x, 2)]), pk.index);
}

/** [N, ...] -> [B, T, ...]: the rows back at their positions, zeros at padding. */
export function unpackRows(y: Value, pk: Packing): Value {
  const tail = rest(y, 1);
  const dims = [pk.batch * pk.seqLen, ...tail];
  const zeros = o.constantOfShape(y.graph.ints(dims, 'unpacked_shape'), 0, y.dtype, dims);
  return o.reshape(o.scatterND(zeros, o.unsqueeze(pk.index, [-1]), y), [pk.batch, pk.seqLen, ...tail]);
}

/** pack_index's data for rows of the given lengths (positions 0 .. length-1 of each) in a [B, T] batch. */
export function packIndexOf(lengths: readonly number[], seqLen: number): BigInt64Array {
  const n = lengths.reduce((a, l) => a + l, 0);
  const out = new BigInt64Array(n);
  let k = 0;
  lengths.forEach((l, b) => {
    if (l < 0 || l > seqLen) throw new Error(`packed rows: row ${b} has length ${l}, the batch ${seqLen}`);
    for (let t = 0; t < l; t++) out[k++] = BigInt(b * seqLen + t);
  });
  return out;
}
