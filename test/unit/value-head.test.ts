// The A-LoL value head: gradients against float64 finite differences (padding and dropout masks),
// the graph against a plain-JS torch-style multi-head attention, padding invariance, V within the
// reward range, learning a signal attention can pick up, not beating the mean on noise, epoch choice
// on the held-out split, and out-of-fold fitting (groups kept whole, no self-prediction, seeded).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { Session, tensor } from '../../src/trainer/runtime/session.js';
import { Rng } from '../../src/trainer/util/rng.js';
import {
  VALUE_PARAM,
  type ValueHeadConfig,
  addValueParams,
  buildValuePredictGraph,
  initValueParams,
  valueLoss,
  valueParamInfos,
} from '../../src/trainer/value/head.js';
import { createValuePredictor, fitOutOfFold, fitValueHead } from '../../src/trainer/value/fit.js';
import type { ValueExample, ValueFitOptions } from '../../src/trainer/value/types.js';
import { type Feed, gradCheck } from '../helpers/gradcheck.js';

const RANGE: [number, number] = [-1.3, 2.7];

/** Random parameters of the given scale (the query standard normal), float64. */
function randomParams(c: number, rng: Rng, scale: number): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const p of valueParamInfos(c)) {
    const n = p.shape.reduce((a, x) => a * x, 1);
    const s = p.name === VALUE_PARAM.query ? 1 : scale;
    out.set(p.name, Float64Array.from({ length: n }, () => s * rng.normal()));
  }
  return out;
}

/** z of torch.nn.MultiheadAttention(query, h, h) -> Linear, written out directly (weights [in, out]). */
function referenceZ(cfg: ValueHeadConfig, p: Map<string, Float64Array>, h: Float64Array, len: number): number {
  const c = cfg.hiddenSize;
  const hs = c / cfg.heads;
  const P = (k: keyof typeof VALUE_PARAM): Float64Array => p.get(VALUE_PARAM[k]) as Float64Array;
  const affine = (x: ArrayLike<number>, w: Float64Array, b: Float64Array, n: number): number[] =>
    Array.from({ length: n }, (_, j) => b[j] + Array.from(x).reduce((a, xi, i) => a + xi * w[i * n + j], 0));
  const q = affine(P('query'), P('qWeight'), P('qBias'), c);
  const ks: number[][] = [];
  const vs: number[][] = [];
  for (let t = 0; t < len; t++) {
    const ht = h.subarray(t * c, (t + 1) * c);
    ks.push(affine(ht, P('kWeight'), P('kBias'), c));
    vs.push(affine(ht, P('vWeight'), P('vBias'), c));
  }
  const concat = new Array<number>(c).fill(0);
  for (let head = 0; head < cfg.heads; head++) {
    const d0 = head * hs;
    const s = ks.map((k) => k.slice(d0, d0 + hs).reduce((a, x, i) => a + x * q[d0 + i], 0) / Math.sqrt(hs));
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const sum = e.reduce((a, x) => a + x, 0);
    for (let t = 0; t < len; t++) for (let i = 0; i < hs; i++) concat[d0 + i] += (e[t] / sum) * vs[t][d0 + i];
  }
  const attn = affine(concat, P('oWeight'), P('oBias'), c);
  return affine(attn, P('linWeight'), P('linBias'), 1)[0];
}

/** n examples with hidden ~ N(0, 1), lengths in [2, maxLen]; pairs share a group and hidden states. */
function synth(
  n: number, c: number, seed: number, target: (h: Float32Array, len: number, rng: Rng) => number, pairs = false,
): ValueExample[] {
  const rng = new Rng(seed);
  const out: ValueExample[] = [];
  for (let i = 0; i < n; i++) {
    const prev = pairs && i % 2 === 1 ? out[i - 1] : null;
    const length = prev ? prev.length : 2 + rng.int(11);
    const hidden = prev ? prev.hidden : Float32Array.from({ length: length * c }, () => rng.normal());
    out.push({ hidden, length, target: target(hidden, length, rng), group: pairs ? `g${Math.floor(i / 2)}` : undefined });
  }
  return out;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const [lo, hi] = RANGE;
const C = 16;
const fitOpts: ValueFitOptions = { heads: 4, epochs: 10, lr: 1e-3, batchSize: 16, seed: 11, range: RANGE, threads: 1 };

/** target = r_min + span * sigmoid(3 * mean_t d · h_t) for a fixed random unit direction d. */
function signalData(): ValueExample[] {
  const rng = new Rng(99);
  const d = Float64Array.from({ length: C }, () => rng.normal());
  const norm = Math.hypot(...d);
  return synth(600, C, 5, (h, len) => {
    let s = 0;
    for (let t = 0; t < len; t++) for (let j = 0; j < C; j++) s += (d[j] / norm) * h[t * C + j];
    return lo + (hi - lo) * sigmoid((3 * s) / len);
  });
}

const noiseData = (): ValueExample[] => synth(600, C, 6, (_h, _len, rng) => lo + (hi - lo) * rng.next(), true);

describe('value head graph', () => {
  const cfg: ValueHeadConfig = { hiddenSize: 8, heads: 2, range: RANGE };
  const [B, T] = [3, 5];
  const lengths = [5, 3, 1];

  it('MSE loss with padding and a fixed dropout mask passes float64 finite differences; padding gets no gradient', async (t) => {
    const rng = new Rng(3);
    const feeds: Record<string, Feed> = {
      hidden: { data: Float64Array.from({ length: B * T * 8 }, () => rng.normal()), dims: [B, T, 8] },
      mask: { data: Float64Array.from({ length: B * T }, (_, i) => (i % T < lengths[Math.floor(i / T)] ? 1 : 0)), dims: [B, T] },
      dropout_keep: { data: Float64Array.from({ length: B * 8 }, () => (rng.next() < 0.25 ? 0 : 1 / 0.9)), dims: [B, 8] },
      target: { data: Float64Array.from([2.1, -0.4, 0.9]), dims: [B] },
      example_weight: { data: Float64Array.from([1 / 3, 1 / 3, 1 / 3]), dims: [B] },
    };
    for (const [name, data] of randomParams(8, rng, 0.5)) {
      feeds[name] = { data, dims: [...(valueParamInfos(8).find((p) => p.name === name)?.shape ?? [])] };
    }
    const r = await gradCheck(
      (g) => {
        const { params, specs } = addValueParams(g, cfg);
        const hidden = g.floatInput('hidden', [B, T, 8]);
        const x = {
          hidden, mask: g.floatInput('mask', [B, T]), dropoutKeep: g.floatInput('dropout_keep', [B, 8]),
          target: g.floatInput('target', [B]), exampleWeight: g.floatInput('example_weight', [B]),
        };
        return { loss: valueLoss(cfg, params, x).loss, wrt: [...specs.map((s) => s.value), hidden] };
      },
      feeds,
      { maxPerInput: 40 },
    );
    t.diagnostic(`${r.checked} entries checked, max relative error ${r.maxRelError.toExponential(2)}`);
    assert.ok(r.maxRelError <= 1e-6, `max relative error ${r.maxRelError.toExponential(2)}`);
    const dHidden = r.analytic[r.analytic.length - 1];
    for (let b = 0; b < B; b++) {
      for (let i = lengths[b] * 8; i < T * 8; i++) assert.equal(dHidden[b * T * 8 + i], 0, `row ${b}: padded position has a gradient`);
    }
  });

  it('equals torch-style multi-head attention written out in JS, whatever the padded positions hold', async () => {
    const rng = new Rng(4);
    const params = randomParams(8, rng, 0.5);
    const hidden = Float64Array.from({ length: B * T * 8 }, () => rng.normal());
    for (let b = 0; b < B; b++) for (let i = lengths[b] * 8; i < T * 8; i++) hidden[b * T * 8 + i] = 1e3 * rng.normal();
    const s = await Session.create(serialize(buildValuePredictGraph(cfg, { batch: B, seqLen: T }, 'float64')), 'ref', { threads: 1 });
    const feeds = Object.fromEntries(valueParamInfos(8)
      .map((p) => [p.name, tensor('float64', params.get(p.name) as Float64Array, p.shape)]));
    const mask = Float64Array.from({ length: B * T }, (_, i) => (i % T < lengths[Math.floor(i / T)] ? 1 : 0));
    const out = await s.run({ ...feeds, hidden: tensor('float64', hidden, [B, T, 8]), mask: tensor('float64', mask, [B, T]) });
    await s.release();
    const z = out.z.data as Float64Array;
    for (let b = 0; b < B; b++) {
      const ref = referenceZ(cfg, params, hidden.subarray(b * T * 8), lengths[b]);
      assert.ok(Math.abs(z[b] - ref) < 1e-9 * Math.max(1, Math.abs(ref)), `row ${b}: graph z ${z[b]} vs reference ${ref}`);
    }
  });

  it('rejects a head count that does not divide the hidden size, with a hint', () => {
    assert.throws(() => initValueParams({ hiddenSize: 10, heads: 4, range: RANGE }, 1), /hint: set value.heads/);
  });
});

describe('value head prediction', () => {
  const init = initValueParams({ hiddenSize: C, heads: 4, range: RANGE }, 7, 0.5);
  for (const [k, v] of init) if (k !== VALUE_PARAM.linBias) v.forEach((x, i) => (v[i] = 4 * x)); // sharpen attention

  it('an example predicts the same alone and in a batch padded to longer examples', async () => {
    const rng = new Rng(8);
    const mk = (length: number): ValueExample =>
      ({ hidden: Float32Array.from({ length: length * C }, () => rng.normal()), length, target: 0 });
    const [short, long1, long2] = [mk(3), mk(40), mk(29)];
    const predictor = createValuePredictor(init, C, { heads: 4, range: RANGE, batchSize: 4 });
    try {
      const alone = (await predictor.predict([short]))[0];
      const batched = await predictor.predict([long1, short, long2]);
      assert.ok(Math.abs(alone - batched[1]) < 1e-6, `alone ${alone} vs in a padded batch ${batched[1]}`);
      assert.notEqual(batched[0], batched[1]);
    } finally {
      await predictor.dispose();
    }
  });

  it('V always lies in [r_min, r_max], also when z saturates', async () => {
    const rng = new Rng(9);
    const examples = Array.from({ length: 40 }, (_, i) => {
      const length = 1 + (i % 7);
      const scale = i < 20 ? 1 : 1e4;
      return { hidden: Float32Array.from({ length: length * C }, () => scale * rng.normal()), length, target: 0 };
    });
    const predictor = createValuePredictor(init, C, { heads: 4, range: RANGE, batchSize: 16 });
    try {
      const v = await predictor.predict(examples);
      assert.ok(v.every((x) => x >= lo && x <= hi), `out of range: ${Array.from(v).filter((x) => x < lo || x > hi)}`);
      assert.ok(v.some((x) => x === lo || x === hi), 'the test should reach saturation');
    } finally {
      await predictor.dispose();
    }
  });
});

describe('value head fitting', () => {
  it('learns a signal attention can pick up (held-out MSE well below the mean predictor), '
    + 'epoch chosen on the held-out split', async (t) => {
    const examples = signalData();
    const startMs = Date.now();
    const head = await fitValueHead(examples, C, fitOpts);
    try {
      t.diagnostic(`600 examples, C ${C}, 10 epochs: ${Date.now() - startMs} ms; `
        + `held-out MSE ${head.heldoutMse.toFixed(4)} vs mean ${head.meanMse.toFixed(4)} (epoch ${head.epochChosen})`);
      assert.ok(head.heldoutMse < 0.5 * head.meanMse, `head ${head.heldoutMse} vs mean ${head.meanMse}`);
      // Epoch selection: one record per epoch, the chosen epoch is the held-out argmin.
      assert.equal(head.history.length, 10);
      const mses = head.history.map((h) => h.heldoutMse);
      assert.equal(head.epochChosen, mses.indexOf(Math.min(...mses)) + 1);
      assert.equal(head.heldoutMse, Math.min(...mses));
      assert.ok(head.history.every((h) => Number.isFinite(h.trainMse)));
      // The held-out split: seeded 10%, disjoint from training; the returned parameters are the chosen epoch's.
      assert.equal(head.heldoutIndices.length, 60);
      assert.equal(head.trainIndices.length + head.heldoutIndices.length, 600);
      const train = new Set(head.trainIndices);
      assert.ok(Array.from(head.heldoutIndices).every((i) => !train.has(i)));
      const held = Array.from(head.heldoutIndices, (i) => examples[i]);
      const v = await head.predict(held);
      const mse = held.reduce((a, ex, k) => a + (v[k] - ex.target) ** 2, 0) / held.length;
      assert.ok(Math.abs(mse - head.heldoutMse) < 1e-9, `${mse} vs ${head.heldoutMse}`);
    } finally {
      await head.dispose();
    }
  });

  it('on pure noise the head is no better than the mean predictor', async (t) => {
    const head = await fitValueHead(noiseData(), C, fitOpts);
    await head.dispose();
    t.diagnostic(`held-out MSE ${head.heldoutMse.toFixed(4)} vs mean ${head.meanMse.toFixed(4)} `
      + `(ratio ${(head.heldoutMse / head.meanMse).toFixed(3)})`);
    assert.ok(head.heldoutMse >= 0.9 * head.meanMse, `head ${head.heldoutMse} vs mean ${head.meanMse}`);
  });
});

describe('value head out-of-fold', () => {
  it('out-of-fold values on a signal beat the mean of the other folds', async (t) => {
    const r = await fitOutOfFold(signalData(), C, 5, fitOpts);
    t.diagnostic(`out-of-fold MSE ${r.oofMse.toFixed(4)} vs mean ${r.meanMse.toFixed(4)}; `
      + `per fold ${r.folds.map((f) => `${f.oofMse.toFixed(3)}/${f.oofMeanMse.toFixed(3)}`).join(' ')}`);
    assert.ok(r.oofMse < 0.5 * r.meanMse, `head ${r.oofMse} vs mean ${r.meanMse}`);
  });

  it('on noise: no better than the mean; groups never split; no example predicted by a head fit on it; seeded', async (t) => {
    const examples = noiseData();
    const r = await fitOutOfFold(examples, C, 5, fitOpts);
    t.diagnostic(`out-of-fold MSE ${r.oofMse.toFixed(4)} vs mean ${r.meanMse.toFixed(4)} (ratio ${(r.oofMse / r.meanMse).toFixed(3)})`);
    assert.ok(r.oofMse >= 0.9 * r.meanMse, `head ${r.oofMse} vs mean ${r.meanMse}`);

    const foldOfGroup = new Map<string, number>();
    examples.forEach((ex, i) => {
      const f = foldOfGroup.get(ex.group as string);
      if (f === undefined) foldOfGroup.set(ex.group as string, r.foldOf[i]);
      else assert.equal(r.foldOf[i], f, `group ${ex.group} is split across folds`);
    });
    const predictedBy = new Int32Array(examples.length).fill(-1);
    for (const fold of r.folds) {
      const fitted = new Set(fold.fittedOn);
      assert.deepEqual(new Set([...fold.trainIndices, ...fold.heldoutIndices]), fitted);
      for (const i of fold.predicted) {
        assert.equal(predictedBy[i], -1, `example ${i} predicted twice`);
        predictedBy[i] = fold.fold;
        assert.ok(!fitted.has(i), `example ${i} predicted by a head fit on it`);
        assert.equal(r.foldOf[i], fold.fold);
      }
    }
    assert.ok(predictedBy.every((f) => f >= 0), 'every example is predicted');
    assert.ok(r.predictions.every((v) => v >= lo && v <= hi));

    const again = await fitOutOfFold(examples, C, 5, fitOpts);
    assert.deepEqual(again.foldOf, r.foldOf);
    assert.deepEqual(again.predictions, r.predictions);
  });
});
