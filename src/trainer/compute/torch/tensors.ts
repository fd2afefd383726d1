// Tensors between the Node client and the PyTorch worker: batches as safetensors tensors by the worker's names
// (alol_torch/worker.py reads ids, targets, mask, example_weight, ref_token_logp, coef, kl_*, extra.<name>), and
// files read back as float32 maps.

import { type SafeTensor, float32Tensor, toFloat32 } from '../../model/safetensors.js';
import type { TokenBatch, TrainBatch } from '../backend.js';

export const i64Tensor = (name: string, shape: number[], data: BigInt64Array): SafeTensor => ({
  name,
  dtype: 'I64',
  shape,
  bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
});

/** The tensors of a token batch (and of a training batch's other inputs), by the worker's names. */
export function batchTensors(b: TokenBatch, prefix = ''): SafeTensor[] {
  const dims = [b.rows, b.seqLen];
  return [
    i64Tensor(`${prefix}ids`, dims, b.ids),
    i64Tensor(`${prefix}targets`, dims, b.targets),
    float32Tensor(`${prefix}mask`, dims, b.mask),
  ];
}

export function trainTensors(b: TrainBatch): SafeTensor[] {
  const out = batchTensors(b);
  const dims = [b.rows, b.seqLen];
  if (b.exampleWeight) out.push(float32Tensor('example_weight', [b.rows], b.exampleWeight));
  if (b.refTokenLogp) out.push(float32Tensor('ref_token_logp', dims, b.refTokenLogp));
  if (b.coef) out.push(float32Tensor('coef', [b.rows], b.coef));
  if (b.klBatch) out.push(...batchTensors(b.klBatch, 'kl_'));
  if (b.klRefLogp) out.push(float32Tensor('kl_ref_logp', [b.rows], b.klRefLogp));
  for (const [name, x] of Object.entries(b.extraFeeds ?? {})) out.push(float32Tensor(`extra.${name}`, x.dims, x.data));
  return out;
}

export const asMap = (tensors: readonly SafeTensor[], file: string): Map<string, Float32Array> =>
  new Map(tensors.map((t) => [t.name, toFloat32(t, file)]));
