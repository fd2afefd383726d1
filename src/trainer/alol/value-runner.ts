// The value head's runner: one step and one predict session per padded length (created once and
// reused), reusable batch buffers, batch packing and prediction. Used by value-fit.ts.

import { serialize } from '../graph/onnx.js';
import { type OrtTensor, Session, type SessionOptions, tensor } from '../runtime/session.js';
import type { Stepper } from '../runtime/stepper.js';
import type { Rng } from '../util/rng.js';
import { type ValueHeadConfig, type ValueParamInfo, buildValuePredictGraph, buildValueStepGraph, checkValueConfig, valueParamInfos } from './value-head.js';
import type { ValueExample, ValueFitOptions } from './value-fit.js';

interface BatchBuffers {
  hidden: Float32Array; // [B, T, C]
  mask: Float32Array; // [B, T]
  keep: Float32Array; // [B, C]
  target: Float32Array; // [B]
  weight: Float32Array; // [B]
}

/** Sessions per padded length, reusable batch buffers, packing and prediction for one head shape. */
export class ValueRunner {
  readonly infos: ValueParamInfo[];
  private readonly sessions = new Map<string, Session>();
  private readonly buffers = new Map<number, BatchBuffers>();
  private disposed = false;

  constructor(
    readonly cfg: ValueHeadConfig,
    readonly batch: number,
    private readonly multiple: number,
    private readonly sessionOptions: SessionOptions,
  ) {
    checkValueConfig(cfg);
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`value head: batch size ${batch} must be a positive integer`);
    this.infos = valueParamInfos(cfg.hiddenSize);
  }

  padLength(examples: readonly ValueExample[], idx: readonly number[]): number {
    const longest = idx.reduce((m, i) => Math.max(m, examples[i].length), 1);
    return Math.ceil(longest / this.multiple) * this.multiple;
  }

  async session(kind: 'step' | 'predict', seqLen: number): Promise<Session> {
    if (this.disposed) throw new Error('value head: used after dispose() (hint: fit or load the head again)');
    const key = `${kind}:${seqLen}`;
    let s = this.sessions.get(key);
    if (!s) {
      const shape = { batch: this.batch, seqLen };
      const g = kind === 'step' ? buildValueStepGraph(this.cfg, shape) : buildValuePredictGraph(this.cfg, shape);
      s = await Session.create(serialize(g), `value-${kind}-${this.batch}x${seqLen}`, this.sessionOptions);
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Fills the [B, T] buffers with examples `idx` (at most B); rows past them are masked dummies. */
  pack(examples: readonly ValueExample[], idx: readonly number[], seqLen: number): BatchBuffers {
    const [B, T, C] = [this.batch, seqLen, this.cfg.hiddenSize];
    let buf = this.buffers.get(T);
    if (!buf) {
      buf = { hidden: new Float32Array(B * T * C), mask: new Float32Array(B * T), keep: new Float32Array(B * C), target: new Float32Array(B), weight: new Float32Array(B) };
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

  /** One AdamW update on examples `idx`; returns the batch MSE before the update. */
  async step(stepper: Stepper, examples: readonly ValueExample[], idx: readonly number[], lr: number, rng: Rng, dropout: number): Promise<number> {
    const T = this.padLength(examples, idx);
    const session = await this.session('step', T);
    const buf = this.pack(examples, idx, T);
    const kept = 1 / (1 - dropout);
    for (let i = 0; i < buf.keep.length; i++) buf.keep[i] = rng.next() < dropout ? 0 : kept;
    const [B, C] = [this.batch, this.cfg.hiddenSize];
    const feeds = {
      hidden: tensor('float32', buf.hidden, [B, T, C]),
      mask: tensor('float32', buf.mask, [B, T]),
      dropout_keep: tensor('float32', buf.keep, [B, C]),
      target: tensor('float32', buf.target, [B]),
      example_weight: tensor('float32', buf.weight, [B]),
    };
    return (await stepper.update(session, feeds, lr)).loss;
  }

  /** V of examples `idx` (aligned with idx), batched by length so that padding stays small. */
  async predict(paramFeeds: Record<string, OrtTensor>, examples: readonly ValueExample[], idx: readonly number[]): Promise<Float64Array> {
    const out = new Float64Array(idx.length);
    const order = [...idx.keys()].sort((a, b) => examples[idx[a]].length - examples[idx[b]].length);
    const [lo, hi] = this.cfg.range;
    for (let s = 0; s < order.length; s += this.batch) {
      const rows = order.slice(s, s + this.batch);
      const chunk = rows.map((r) => idx[r]);
      const T = this.padLength(examples, chunk);
      const buf = this.pack(examples, chunk, T);
      const session = await this.session('predict', T);
      const res = await session.run({
        ...paramFeeds,
        hidden: tensor('float32', buf.hidden, [this.batch, T, this.cfg.hiddenSize]),
        mask: tensor('float32', buf.mask, [this.batch, T]),
      });
      const z = res.z.data as Float32Array;
      // V from z in float64, clamped: float32 rounding of r_min + span * sigmoid could step outside.
      rows.forEach((r, k) => (out[r] = Math.min(hi, Math.max(lo, lo + (hi - lo) / (1 + Math.exp(-z[k]))))));
    }
    return out;
  }

  paramFeeds(params: ReadonlyMap<string, Float32Array>): Record<string, OrtTensor> {
    const feeds: Record<string, OrtTensor> = {};
    for (const info of this.infos) {
      const data = params.get(info.name);
      if (!data) throw new Error(`value head: parameter ${info.name} is missing`);
      feeds[info.name] = tensor('float32', data, info.shape);
    }
    return feeds;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const s of this.sessions.values()) await s.release();
    this.sessions.clear();
    this.buffers.clear();
  }
}

export function runnerFor(hiddenSize: number, opts: Pick<ValueFitOptions, 'heads' | 'range' | 'batchSize' | 'lengthMultiple' | 'threads' | 'provider'>): ValueRunner {
  const cfg = { hiddenSize, heads: opts.heads, range: opts.range };
  return new ValueRunner(cfg, opts.batchSize, opts.lengthMultiple ?? 16, { threads: opts.threads, provider: opts.provider });
}

