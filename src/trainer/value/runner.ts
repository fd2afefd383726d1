// The value head's runner: batch packing into reusable buffers (padded to B rows and a length rounded
// up to a multiple, so a few graph shapes serve every batch), steps and predictions through the
// compute backend's value head. Used by fit.ts.

import { AlolError } from '../errors.js';
import type { ComputeBackend, Trainer, ValueHeadCompute, ValueTrainBatch } from '../compute/backend.js';
import { localBackend } from '../compute/local.js';
import type { Rng } from '../util/rng.js';
import { type ValueHeadConfig, type ValueParamInfo, checkValueConfig, valueParamInfos } from './head.js';
import type { ValueExample, ValueFitOptions } from './types.js';

interface BatchBuffers {
  hidden: Float32Array; // [B, T, C]
  mask: Float32Array; // [B, T]
  keep: Float32Array; // [B, C]
  target: Float32Array; // [B]
  weight: Float32Array; // [B]
}

/** Reusable batch buffers per padded length, packing, steps and prediction for one head shape. */
export class ValueRunner {
  readonly infos: ValueParamInfo[];
  private readonly buffers = new Map<number, BatchBuffers>();
  private readonly head: ValueHeadCompute;
  private disposed = false;

  constructor(
    readonly cfg: ValueHeadConfig,
    readonly batch: number,
    private readonly multiple: number,
    compute: ComputeBackend,
    /** Released with the runner (a backend made for it), or null (the caller's). */
    private readonly owned: ComputeBackend | null = null,
  ) {
    checkValueConfig(cfg);
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`value head: batch size ${batch} must be a positive integer`);
    this.infos = valueParamInfos(cfg.hiddenSize);
    this.head = compute.valueHead(cfg, batch);
  }

  private check(): void {
    if (this.disposed) throw new AlolError('value', 'value head: used after dispose()', 'fit or load the head again', 'parenthesized');
  }

  padLength(examples: readonly ValueExample[], idx: readonly number[]): number {
    const longest = idx.reduce((m, i) => Math.max(m, examples[i].length), 1);
    return Math.ceil(longest / this.multiple) * this.multiple;
  }

  /** Fills the [B, T] buffers with examples `idx` (at most B); rows past them are masked dummies. */
  pack(examples: readonly ValueExample[], idx: readonly number[], seqLen: number): BatchBuffers {
    const [B, T, C] = [this.batch, seqLen, this.cfg.hiddenSize];
    let buf = this.buffers.get(T);
    if (!buf) {
      buf = {
        hidden: new Float32Array(B * T * C),
        mask: new Float32Array(B * T),
        keep: new Float32Array(B * C),
        target: new Float32Array(B),
        weight: new Float32Array(B),
      };
      this.buffers.set(T, buf);
    }
    for (let r = 0; r < B; r++) {
      const ex = r < idx.length ? examples[idx[r]] : null;
      const len = ex ? ex.length : 1; // a dummy row attends to one zero vector
      if (ex) buf.hidden.set(ex.hidden.subarray(0, len * C), r * T * C);
      buf.hidden.fill(0, (r * T + (ex ? len : 0)) * C, (r + 1) * T * C);
      buf.mask.fill(1, r * T, r * T + len);
      buf.mask.fill(0, r * T + len, (r + 1) * T);
      buf.target[r] = ex ? ex.target : 0;
      buf.weight[r] = ex ? 1 / idx.length : 0;
    }
    return buf;
  }

  /** A trainer of the head from `init`. */
  trainer(init: ReadonlyMap<string, Float32Array>): Trainer<ValueTrainBatch> {
    this.check();
    return this.head.trainer(init);
  }

  /** The training batch of examples `idx`, with a fresh dropout mask drawn from `rng`. */
  trainBatch(examples: readonly ValueExample[], idx: readonly number[], rng: Rng, dropout: number): ValueTrainBatch {
    const T = this.padLength(examples, idx);
    const buf = this.pack(examples, idx, T);
    const kept = 1 / (1 - dropout);
    for (let i = 0; i < buf.keep.length; i++) buf.keep[i] = rng.next() < dropout ? 0 : kept;
    return {
      rows: this.batch,
      seqLen: T,
      hidden: buf.hidden,
      mask: buf.mask,
      dropoutKeep: buf.keep,
      target: buf.target,
      exampleWeight: buf.weight,
    };
  }

  /** V of examples `idx` (aligned with idx), batched by length so that padding stays small. */
  async predict(
    params: ReadonlyMap<string, Float32Array>,
    examples: readonly ValueExample[],
    idx: readonly number[],
  ): Promise<Float64Array> {
    this.check();
    for (const info of this.infos) if (!params.has(info.name)) throw new Error(`value head: parameter ${info.name} is missing`);
    const out = new Float64Array(idx.length);
    const order = [...idx.keys()].sort((a, b) => examples[idx[a]].length - examples[idx[b]].length);
    const [lo, hi] = this.cfg.range;
    for (let s = 0; s < order.length; s += this.batch) {
      const rows = order.slice(s, s + this.batch);
      const chunk = rows.map((r) => idx[r]);
      const T = this.padLength(examples, chunk);
      const buf = this.pack(examples, chunk, T);
      const z = await this.head.predict(params, { rows: this.batch, seqLen: T, hidden: buf.hidden, mask: buf.mask });
      // V from z in float64, clamped: float32 rounding of r_min + span * sigmoid could step outside.
      rows.forEach((r, k) => (out[r] = Math.min(hi, Math.max(lo, lo + (hi - lo) / (1 + Math.exp(-z[k]))))));
    }
    return out;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.buffers.clear();
    await this.head.dispose();
    await this.owned?.release();
  }
}

export function runnerFor(
  hiddenSize: number,
  opts: Pick<ValueFitOptions, 'heads' | 'range' | 'batchSize' | 'lengthMultiple' | 'compute' | 'threads' | 'provider'>,
): ValueRunner {
  const cfg = { hiddenSize, heads: opts.heads, range: opts.range };
  const owned = opts.compute ? null : localBackend(opts);
  return new ValueRunner(cfg, opts.batchSize, opts.lengthMultiple ?? 16, opts.compute ?? (owned as ComputeBackend), owned);
}
