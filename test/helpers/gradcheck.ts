// Gradient checks on ORT itself: analytic gradients from the autodiff graph against central finite
// differences of the same float64 forward graph, run by the same runtime.

import { Graph, type Value } from '../../src/trainer/graph/ir.js';
import { gradients } from '../../src/trainer/graph/grad.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { Session, type OrtTensor, tensor } from '../../src/trainer/runtime/session.js';

export interface Feed {
  data: Float64Array | BigInt64Array | Uint8Array;
  dims: number[];
}

/** Deterministic pseudo-random numbers (mulberry32), so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(n: number, rand: () => number, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rand(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  }
  return out;
}

export function toTensor(v: Value, f: Feed): OrtTensor {
  return tensor(v.dtype, f.data, f.dims);
}

export interface GradCheckResult {
  /** Worst relative error over the checked elements: |a - n| / max(|a|, |n|, floor). */
  maxRelError: number;
  checked: number;
  analytic: Float64Array[];
}

/**
 * `build` creates a float64 graph's inputs (named as in `feeds`) and returns a scalar loss and the
 * inputs to differentiate. Checks up to `maxPerInput` elements of each.
 */
export async function gradCheck(
  build: (g: Graph) => { loss: Value; wrt: Value[] },
  feeds: Record<string, Feed>,
  opts: {
    h?: number; floor?: number; maxPerInput?: number; seed?: number; embeddingGrad?: 'scatter' | 'onehot'; composedLogSoftmax?: boolean;
  } = {},
): Promise<GradCheckResult> {
  const h = opts.h ?? 1e-5;
  const floor = opts.floor ?? 1e-3;
  const maxPer = opts.maxPerInput ?? 24;

  const { embeddingGrad, composedLogSoftmax } = opts;
  const g = new Graph({ float: 'float64', name: 'gradcheck', embeddingGrad, composedLogSoftmax });
  const { loss, wrt } = build(g);
  const grads = gradients(loss, wrt);
  g.output('loss', loss);
  grads.forEach((d, i) => g.output(`grad_${i}`, d));
  const session = await Session.create(serialize(g), 'gradcheck', { threads: 1 });

  const byName = new Map(g.inputs.map((v) => [v.name, v]));
  const base: Record<string, OrtTensor> = {};
  for (const [name, f] of Object.entries(feeds)) {
    const v = byName.get(name);
    if (!v) throw new Error(`gradCheck: no input named ${name}`);
    base[name] = toTensor(v, f);
  }
  try {
    const out = await session.run(base);
    const analytic = grads.map((_, i) => Float64Array.from(out[`grad_${i}`].data as Float64Array));
    const lossAt = async (name: string, data: Float64Array): Promise<number> => {
      const feedsNow = { ...base, [name]: tensor('float64', data, feeds[name].dims) };
      const r = await session.run(feedsNow);
      return (r.loss.data as Float64Array)[0];
    };
    const rand = rng(opts.seed ?? 7);
    let worst = 0;
    let checked = 0;
    for (let w = 0; w < wrt.length; w++) {
      const name = wrt[w].name;
      const x0 = feeds[name].data as Float64Array;
      const idx = [...Array(x0.length).keys()];
      // A seeded subset when the tensor is large.
      for (let i = idx.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
      for (const k of idx.slice(0, maxPer)) {
        const xp = Float64Array.from(x0);
        const xm = Float64Array.from(x0);
        xp[k] += h;
        xm[k] -= h;
        const numeric = ((await lossAt(name, xp)) - (await lossAt(name, xm))) / (2 * h);
        const a = analytic[w][k];
        const rel = Math.abs(a - numeric) / Math.max(Math.abs(a), Math.abs(numeric), floor);
        worst = Math.max(worst, rel);
        checked++;
      }
    }
    return { maxRelError: worst, checked, analytic };
  } finally {
    await session.release();
  }
}
