// Batches of tokenized rows for the GPT graphs: each row is prompt + response (EOS included),
// right-padded to a bucketed length T; `mask` marks the response positions (where targets are
// response tokens), so the prompt and the padding never count. An A-LoL batch adds each row's
// per-token reference log-probs, placed on its response positions, and its factor (coef).

import type { TokenBatch, TrainBatch } from '../compute/backend.js';
import type { TokenizedRow } from '../data/tokenize.js';

/** Lengths round up to a multiple of 32 so a few graphs (sessions) serve every batch. */
export const bucketLength = (n: number, cap: number): number => Math.min(cap, Math.ceil(n / 32) * 32);

export interface RowBatch extends TokenBatch {
  /** Number of response tokens per row (EOS included). */
  tokens: number[];
}

export function rowBatch(rows: readonly TokenizedRow[], nPositions: number): RowBatch {
  const b = rows.length;
  const t = bucketLength(Math.max(...rows.map((r) => r.prompt.length + r.response.length - 1)), nPositions);
  const ids = new BigInt64Array(b * t);
  const targets = new BigInt64Array(b * t);
  const mask = new Float32Array(b * t);
  rows.forEach((r, i) => {
    const seq = [...r.prompt, ...r.response];
    if (seq.length - 1 > t) throw new Error(`row ${r.row.id}: ${seq.length - 1} tokens exceed the batch length ${t}`);
    for (let j = 0; j + 1 < seq.length; j++) {
      ids[i * t + j] = BigInt(seq[j]);
      targets[i * t + j] = BigInt(seq[j + 1]);
      mask[i * t + j] = j + 1 >= r.prompt.length ? 1 : 0;
    }
  });
  return { rows: b, seqLen: t, ids, targets, mask, tokens: rows.map((r) => r.response.length) };
}

/**
 * A training batch of an A-LoL variant: the rows, their reference log-probs per response token (at
 * the positions whose targets are those tokens) and their factors (coefFor: 1, R or A+).
 */
export function variantBatch(
  rows: readonly TokenizedRow[],
  refTokenLogprobs: readonly Float32Array[],
  coef: Float32Array,
  nPositions: number,
): TrainBatch {
  const rb = rowBatch(rows, nPositions);
  const ref = new Float32Array(rb.rows * rb.seqLen);
  rows.forEach((r, i) => ref.set(refTokenLogprobs[i], i * rb.seqLen + r.prompt.length - 1));
  return { ...rb, refTokenLogp: ref, coef };
}
