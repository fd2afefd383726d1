// The GPT graphs: whole-model gradients of the weighted, masked objective against float64 finite
// differences; the float32 (fused LayerNorm) graph against the float64 one; padding invariance; and
// the step graph's pre-update log-probs against the inference graph's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Graph } from '../../src/trainer/graph/ir.js';
import { gradients } from '../../src/trainer/graph/grad.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { type OrtTensor, Session, tensor } from '../../src/trainer/runtime/session.js';
import { Stepper } from '../../src/trainer/runtime/stepper.js';
import { gptConfig, paramCount } from '../../src/trainer/model/gpt-config.js';
import { addParams, buildLogprobGraph, buildStepGraph, weightedLogLikelihoodLoss } from '../../src/trainer/model/gpt-graphs.js';
import { gptParamInfos, initGptParams } from '../../src/trainer/model/params.js';
import { type Feed, gradCheck } from '../helpers/gradcheck.js';
import { Rng } from '../../src/trainer/util/rng.js';

const cfg = gptConfig({ vocabSize: 11, nPositions: 8, nEmbd: 8, nLayer: 2, nHead: 2 });
const [B, T] = [3, 5];

function batchFeeds(rng: Rng): Record<string, Feed> {
  const ids = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize)));
  const targets = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize)));
  // Row 0 full, row 1 with 2 padded positions, row 2 with a masked-out prompt (first 2 positions).
  const mask = Float64Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1]);
  return {
    ids: { data: ids, dims: [B, T] },
    targets: { data: targets, dims: [B, T] },
    mask: { data: mask, dims: [B, T] },
    example_weight: { data: Float64Array.from([0.7, -1.3, 2.1]), dims: [B] },
    token_weight: { data: Float64Array.from({ length: B * T }, () => 0.5 + rng.next()), dims: [B, T] },
  };
}

/** Large random weights (std 0.5) so that every part of the model matters in the check. */
function paramFeeds(rng: Rng, scale = 0.5): Record<string, Feed> {
  const out: Record<string, Feed> = {};
  for (const p of gptParamInfos(cfg)) {
    const n = p.shape.reduce((a, x) => a * x, 1);
    const data = Float64Array.from({ length: n }, () => (p.init.kind === 'ones' ? 1 : 0) + scale * rng.normal());
    out[p.name] = { data, dims: [...p.shape] };
  }
  return out;
}

describe('GPT model graphs', () => {
  it('parameters carry Hugging Face GPT-2 names and Conv1D shapes', () => {
    const infos = gptParamInfos(cfg);
    const byName = new Map(infos.map((p) => [p.name, p.shape]));
    assert.deepEqual(byName.get('transformer.h.0.attn.c_attn.weight'), [8, 24]);
    assert.deepEqual(byName.get('transformer.h.1.mlp.c_proj.weight'), [32, 8]);
    assert.deepEqual(byName.get('transformer.wte.weight'), [11, 8]);
    assert.ok(!byName.has('lm_head.weight'), 'the LM head is tied to wte');
    assert.equal(infos.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0), paramCount(cfg));
  });

  it('whole-model loss with masks, example and token weights passes float64 finite differences (2 layers)', async (t) => {
    const rng = new Rng(3);
    const feeds = { ...batchFeeds(rng), ...paramFeeds(rng) };
    const r = await gradCheck(
      (g) => {
        const { params } = addParams(g, cfg);
        const loss = weightedLogLikelihoodLoss(cfg, params, {
          ids: g.input('ids', 'int64', [B, T]),
          targets: g.input('targets', 'int64', [B, T]),
          mask: g.floatInput('mask', [B, T]),
          exampleWeight: g.floatInput('example_weight', [B]),
          tokenWeight: g.floatInput('token_weight', [B, T]),
        }).loss;
        return { loss, wrt: Object.values(params) };
      },
      feeds,
      { maxPerInput: 12 },
    );
    const expected = gptParamInfos(cfg).reduce((a, p) => a + Math.min(12, p.shape.reduce((x, y) => x * y, 1)), 0);
    assert.equal(r.checked, expected);
    t.diagnostic(`${r.checked} parameter entries checked, max relative error ${r.maxRelError.toExponential(2)}`);
    assert.ok(r.maxRelError <= 1e-6, `max relative error ${r.maxRelError.toExponential(2)}`);
  });

  it('the float32 graph (fused LayerNorm) gives the float64 graph\'s loss and gradients', async () => {
    const rng = new Rng(4);
    const feeds = { ...batchFeeds(rng), ...paramFeeds(rng, 0.2) };
    const run = async (float: 'float32' | 'float64'): Promise<Record<string, number[]>> => {
      const g = new Graph({ float });
      const { params } = addParams(g, cfg);
      const { loss } = weightedLogLikelihoodLoss(cfg, params, {
        ids: g.input('ids', 'int64', [B, T]),
        targets: g.input('targets', 'int64', [B, T]),
        mask: g.floatInput('mask', [B, T]),
        exampleWeight: g.floatInput('example_weight', [B]),
        tokenWeight: g.floatInput('token_weight', [B, T]),
      });
      g.output('loss', loss);
      const names = Object.keys(params);
      gradients(loss, Object.values(params)).forEach((d, i) => g.output(`d.${names[i]}`, d));
      const s = await Session.create(serialize(g), float, { threads: 1 });
      const t: Record<string, OrtTensor> = {};
      for (const [k, f] of Object.entries(feeds)) {
        const data = f.data instanceof Float64Array && float === 'float32' ? Float32Array.from(f.data) : f.data;
        t[k] = tensor(f.data instanceof BigInt64Array ? 'int64' : float, data, f.dims);
      }
      const out = await s.run(t);
      await s.release();
      return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Array.from(v.data as Float32Array, Number)]));
    };
    const [f32, f64] = [await run('float32'), await run('float64')];
    for (const k of Object.keys(f64)) {
      const scale = Math.max(...f64[k].map(Math.abs), 1e-3);
      const worst = Math.max(...f64[k].map((v, i) => Math.abs(v - f32[k][i]))) / scale;
      assert.ok(worst < 1e-4, `${k}: worst difference ${worst} relative to its largest entry`);
    }
  });

  it('padding does not change results: a row alone equals the row in a right-padded batch', async () => {
    const c = gptConfig({ vocabSize: 257, nPositions: 16, nEmbd: 32, nLayer: 2, nHead: 4 });
    const params = initGptParams(c, 1);
    // Scale weights up so a leak through padding would show clearly.
    for (const [k, v] of params) if (!k.includes('ln')) v.forEach((x, i) => (v[i] = x * 10));
    const rows = [[72, 105, 33, 10, 200], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [50, 60]];
    const Tmax = 12;
    const feedsFor = (rs: number[][], t: number) => {
      const ids = new BigInt64Array(rs.length * t);
      const targets = new BigInt64Array(rs.length * t);
      const mask = new Float32Array(rs.length * t);
      rs.forEach((r, b) => {
        for (let i = 0; i < t; i++) {
          ids[b * t + i] = BigInt(i < r.length ? r[i] : 256); // pad with EOS
          targets[b * t + i] = BigInt(i + 1 < r.length ? r[i + 1] : 256);
          mask[b * t + i] = i + 1 < r.length ? 1 : 0;
        }
      });
      const p: Record<string, OrtTensor> = {};
      for (const info of gptParamInfos(c)) p[info.name] = tensor('float32', params.get(info.name) as Float32Array, info.shape);
      return {
        ...p, ids: tensor('int64', ids, [rs.length, t]), targets: tensor('int64', targets, [rs.length, t]),
        mask: tensor('float32', mask, [rs.length, t]),
      };
    };
    const batched = await Session.create(serialize(buildLogprobGraph(c, { batch: 3, seqLen: Tmax })), 'batched', { threads: 1 });
    const all = await batched.run(feedsFor(rows, Tmax));
    for (let b = 0; b < rows.length; b++) {
      const len = rows[b].length;
      const alone = await Session.create(serialize(buildLogprobGraph(c, { batch: 1, seqLen: len })), 'alone', { threads: 1 });
      const one = await alone.run(feedsFor([rows[b]], len));
      const tokAlone = one.token_logprob.data as Float32Array;
      const tokBatch = all.token_logprob.data as Float32Array;
      for (let i = 0; i < len - 1; i++) {
        assert.ok(Math.abs(tokAlone[i] - tokBatch[b * Tmax + i]) < 1e-4,
          `row ${b} token ${i}: ${tokAlone[i]} vs ${tokBatch[b * Tmax + i]}`);
      }
      const seqA = (one.seq_logprob.data as Float32Array)[0];
      const seqB = (all.seq_logprob.data as Float32Array)[b];
      assert.ok(Math.abs(seqA - seqB) < 1e-3 * Math.max(1, Math.abs(seqA)), `row ${b}: ${seqA} vs ${seqB}`);
      await alone.release();
    }
    await batched.release();
  });

  it('the step graph reports the pre-update log-probs the inference graph computes', async () => {
    const c = gptConfig({ vocabSize: 257, nPositions: 16, nEmbd: 32, nLayer: 2, nHead: 4 });
    const init = initGptParams(c, 2);
    const stepper = new Stepper('float32', gptParamInfos(c)
      .map((p) => ({ name: p.name, shape: p.shape, data: (init.get(p.name) as Float32Array).slice() })));
    const rng = new Rng(5);
    const ids = BigInt64Array.from({ length: 32 }, () => BigInt(rng.int(257)));
    const targets = BigInt64Array.from({ length: 32 }, () => BigInt(rng.int(257)));
    const batch = {
      ids: tensor('int64', ids, [2, 16]), targets: tensor('int64', targets, [2, 16]),
      mask: tensor('float32', new Float32Array(32).fill(1), [2, 16]),
    };
    const lp = await Session.create(serialize(buildLogprobGraph(c, { batch: 2, seqLen: 16 })), 'lp', { threads: 1 });
    const before = (await lp.run({ ...stepper.paramFeeds(), ...batch })).seq_logprob.data as Float32Array;
    const stepG = buildStepGraph(c, { batch: 2, seqLen: 16 });
    const step = await Session.create(serialize(stepG), 'step', { threads: 1 });
    const seqOut = await step.run({
      ...stepper.paramFeeds(),
      ...batch,
      example_weight: tensor('float32', Float32Array.of(1, 1), [2]),
      lr: tensor('float32', Float32Array.of(0.01), []),
      step: tensor('float32', Float32Array.of(1), []),
      ...Object.fromEntries(stepG.inputs.filter((v) => v.name.startsWith('adam.')).map((v) =>
        [v.name, tensor('float32', new Float32Array((v.shape as number[]).reduce((a, x) => a * x, 1)), v.shape as number[])])),
    });
    const seq = seqOut.seq_logprob.data as Float32Array;
    for (let b = 0; b < 2; b++) assert.ok(Math.abs(seq[b] - before[b]) < 1e-3, `${seq[b]} vs ${before[b]}`);
    // and the loss is the weighted NLL: -(1/B) sum_b seq_logprob_b with weights 1
    const loss = (seqOut.loss.data as Float32Array)[0];
    assert.ok(Math.abs(loss + (before[0] + before[1]) / 2) < 1e-3);
    await lp.release();
    await step.release();
  });
});
