// Running two builds of one step graph on the same batch and comparing every output (loss, log-probs, gradients):
// the checks that a graph rewrite (packed rows, query-blocked attention) computes what the plain graph computes.
import assert from 'node:assert/strict';
import type { TrainBatch } from '../../src/trainer/compute/backend.js';
import type { Graph } from '../../src/trainer/graph/ir.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import type { ModelConfig } from '../../src/trainer/model/config.js';
import { initParams } from '../../src/trainer/model/family.js';
import { PACK_INDEX, packIndexOf } from '../../src/trainer/model/pack.js';
import { type OrtTensor, Session, tensor } from '../../src/trainer/runtime/session.js';
import { Rng } from '../../src/trainer/util/rng.js';

/**
 * A right-padded batch of rows of the given lengths in [B, T] (B = lengths.length): positions 0 .. len-1 are real, the
 * loss reads positions 3 .. len-1; the padding holds tokens too (a graph that read it would differ).
 */
export function paddedBatch(seed: number, cfg: ModelConfig, lengths: readonly number[], seqLen: number): TrainBatch {
  const [b, t] = [lengths.length, seqLen];
  const rng = new Rng(seed);
  const ids = BigInt64Array.from({ length: b * t }, () => BigInt(rng.int(cfg.vocabSize)));
  const targets = BigInt64Array.from({ length: b * t }, () => BigInt(rng.int(cfg.vocabSize)));
  const mask = Float32Array.from({ length: b * t }, (_, i) => (i % t >= 3 && i % t < lengths[Math.floor(i / t)] ? 1 : 0));
  const refTokenLogp = Float32Array.from(mask, (m) => (m ? -2 - rng.next() : 0));
  const coef = Float32Array.from({ length: b }, () => 0.5 + rng.next());
  return { rows: b, seqLen: t, ids, targets, mask, refTokenLogp, coef, exampleWeight: new Float32Array(b).fill(1) };
}

function feedsOf(g: Graph, cfg: ModelConfig, b: TrainBatch, lengths: readonly number[]): Record<string, OrtTensor> {
  const params = initParams(cfg, 5);
  const feeds: Record<string, OrtTensor> = {};
  for (const x of g.inputs) {
    const dims = x.shape.map(Number);
    if (x.name === PACK_INDEX) {
      const index = packIndexOf(lengths, b.seqLen);
      feeds[x.name] = tensor('int64', index, [index.length]);
    } else if (x.name === 'ids' || x.name === 'targets') feeds[x.name] = tensor('int64', b[x.name], dims);
    else if (x.name === 'mask') feeds[x.name] = tensor('float32', b.mask, dims);
    else if (x.name === 'ref_token_logp' || x.name === 'policy_token_logp') {
      feeds[x.name] = tensor('float32', b.refTokenLogp as Float32Array, dims);
    } else if (x.name === 'coef') feeds[x.name] = tensor('float32', b.coef as Float32Array, dims);
    else if (x.name === 'example_weight') feeds[x.name] = tensor('float32', b.exampleWeight as Float32Array, dims);
    else {
      const size = dims.reduce((a, d) => a * d, 1);
      feeds[x.name] = tensor('float32', params.get(x.name)?.slice() ?? new Float32Array(size), dims);
    }
  }
  return feeds;
}

/** Every output of `g` on batch `b` (parameters from initParams(cfg, 5); `lengths` give a packed graph's pack_index). */
export async function runStepGraph(
  g: Graph,
  cfg: ModelConfig,
  b: TrainBatch,
  lengths: readonly number[],
): Promise<Record<string, Float32Array>> {
  const sess = await Session.create(serialize(g), g.name, { threads: 2 });
  try {
    const out = await sess.run(feedsOf(g, cfg, b, lengths));
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await sess.release();
  }
}

/** The same outputs, each within `tol` of `want`'s: max |got - want| over max |want| of each output. */
export function assertSameOutputs(
  want: Record<string, Float32Array>,
  got: Record<string, Float32Array>,
  tol: number,
  what: string,
): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    const g = got[name];
    const scale = Math.max(1e-6, ...Array.from(w, Math.abs));
    let worst = 0;
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i] - w[i]) / scale);
    assert.ok(worst <= tol, `${name}: ${what} differs by ${worst} (relative to its largest entry)`);
  }
}
