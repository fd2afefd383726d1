// Batches of K steps as one Loop run's feeds (graph/loop.ts): each step's batch padded to the chunk's longest
// length (more padding: positions with mask 0, which no loss reads), then each feed stacked along a new first
// axis [K, ...]. Pure host code: typed arrays in, ORT tensors out.

import type { TrainBatch } from '../backend.js';
import { type OrtTensor, tensor } from '../../runtime/session.js';

/** `batch` with its [B, T] fields padded to [B, seqLen] (ids and targets 0, mask 0, reference log-probs 0). */
export function padBatch(batch: TrainBatch, seqLen: number): TrainBatch {
  const [b, t] = [batch.rows, batch.seqLen];
  if (seqLen === t) return batch;
  if (seqLen < t) throw new Error(`padBatch: a batch of length ${t} cannot be padded to ${seqLen}`);
  const rowsInto = (x: BigInt64Array | Float32Array, out: BigInt64Array | Float32Array): void => {
    for (let r = 0; r < b; r++) (out as Float32Array).set((x as Float32Array).subarray(r * t, (r + 1) * t), r * seqLen);
  };
  const big = (x: BigInt64Array): BigInt64Array => {
    const out = new BigInt64Array(b * seqLen);
    rowsInto(x, out);
    return out;
  };
  const float = (x: Float32Array): Float32Array => {
    const out = new Float32Array(b * seqLen);
    rowsInto(x, out);
    return out;
  };
  return {
    ...batch,
    seqLen,
    ids: big(batch.ids),
    targets: big(batch.targets),
    mask: float(batch.mask),
    ...(batch.refTokenLogp ? { refTokenLogp: float(batch.refTokenLogp) } : {}),
  };
}

/** Each feed of the K steps stacked along a new first axis; every step must have the same feeds and shapes. */
export function stackFeeds(steps: readonly Record<string, OrtTensor>[]): Record<string, OrtTensor> {
  const out: Record<string, OrtTensor> = {};
  const names = Object.keys(steps[0]).sort();
  for (const [k, s] of steps.entries()) {
    if (Object.keys(s).sort().join() !== names.join()) throw new Error(`stackFeeds: step ${k} has other feeds than step 0`);
  }
  for (const name of names) {
    const first = steps[0][name];
    if (first.type !== 'int64' && first.type !== 'float32') throw new Error(`stackFeeds: ${name} is ${first.type}, not int64 or float32`);
    const n = first.data.length;
    const data = first.type === 'int64' ? new BigInt64Array(n * steps.length) : new Float32Array(n * steps.length);
    steps.forEach((s, k) => {
      const t = s[name];
      if (t.type !== first.type || t.dims.join() !== first.dims.join()) {
        const [got, want] = [`${t.type}[${t.dims.join(',')}]`, `${first.type}[${first.dims.join(',')}]`];
        throw new Error(`stackFeeds: ${name} of step ${k} is ${got}, step 0's ${want}`);
      }
      (data as Float32Array).set(t.data as Float32Array, k * n);
    });
    out[name] = tensor(first.type, data, [steps.length, ...first.dims]);
  }
  return out;
}
