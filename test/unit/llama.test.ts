// The Llama-family graphs: Hugging Face names and shapes; rotary frequencies (default, linear, llama3)
// and the rotate_half rotation against values computed here; RMSNorm, rotary and SwiGLU blocks and the
// whole Llama loss (GQA, biases, untied head; MQA, tied head) against float64 finite differences; the
// float32 graph against the float64 one; padding invariance; and grouped-query attention against the
// same model with its key/value heads repeated per query head (Hugging Face's repeat_kv).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Graph, type Value } from '../../src/trainer/graph/ir.js';
import { gradients } from '../../src/trainer/graph/grad.js';
import * as o from '../../src/trainer/graph/ops.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { type OrtTensor, Session, tensor } from '../../src/trainer/runtime/session.js';
import type { Params } from '../../src/trainer/model/attention.js';
import { countParams, initParams, paramFeeds, paramInfos } from '../../src/trainer/model/family.js';
import { addParams, buildLogprobGraph, weightedLogLikelihoodLoss } from '../../src/trainer/model/gpt-graphs.js';
import { type LlamaConfig, llamaConfig, ropeInvFreq } from '../../src/trainer/model/llama-config.js';
import { applyRotary, rmsNorm, rotaryTables, silu } from '../../src/trainer/model/llama.js';
import { type Feed, gradCheck } from '../helpers/gradcheck.js';
import { OrtBackend } from '../../src/trainer/compute/ort/backend.js';
import { DEFAULT_ADAMW } from '../../src/trainer/graph/optim.js';
import { Rng } from '../../src/trainer/util/rng.js';

const [B, T] = [3, 5];
const gqa = llamaConfig({
  vocabSize: 11, nPositions: 8, nEmbd: 8, nLayer: 2, nHead: 4, nKvHead: 2, nInner: 12, qkvBias: true, oBias: true, mlpBias: true,
});
const mqa = llamaConfig({
  modelType: 'qwen2', vocabSize: 11, nPositions: 8, nEmbd: 8, nLayer: 2, nHead: 2, nKvHead: 1, headDim: 6, nInner: 12, qkvBias: true,
  tieWordEmbeddings: true, ropeTheta: 1e6, rmsNormEps: 1e-6,
});

function batchFeeds(cfg: LlamaConfig, rng: Rng): Record<string, Feed> {
  const ids = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize)));
  const targets = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize)));
  const mask = Float64Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1]);
  return {
    ids: { data: ids, dims: [B, T] },
    targets: { data: targets, dims: [B, T] },
    mask: { data: mask, dims: [B, T] },
    example_weight: { data: Float64Array.from([0.7, -1.3, 2.1]), dims: [B] },
    token_weight: { data: Float64Array.from({ length: B * T }, () => 0.5 + rng.next()), dims: [B, T] },
  };
}

function paramFeedsF64(cfg: LlamaConfig, rng: Rng, scale = 0.5): Record<string, Feed> {
  const out: Record<string, Feed> = {};
  for (const p of paramInfos(cfg)) {
    const n = p.shape.reduce((a, x) => a * x, 1);
    const data = Float64Array.from({ length: n }, () => (p.init.kind === 'ones' ? 1 : 0) + scale * rng.normal());
    out[p.name] = { data, dims: [...p.shape] };
  }
  return out;
}

function lossGraph(cfg: LlamaConfig, g: Graph): { loss: Value; params: Params } {
  const { params } = addParams(g, cfg);
  const { loss } = weightedLogLikelihoodLoss(cfg, params, {
    ids: g.input('ids', 'int64', [B, T]),
    targets: g.input('targets', 'int64', [B, T]),
    mask: g.floatInput('mask', [B, T]),
    exampleWeight: g.floatInput('example_weight', [B]),
    tokenWeight: g.floatInput('token_weight', [B, T]),
  });
  return { loss, params };
}

describe('Llama model graphs', () => {
  it('parameters carry Hugging Face names and nn.Linear shapes [out, in]', () => {
    const byName = new Map(paramInfos(gqa).map((p) => [p.name, p.shape]));
    assert.deepEqual(byName.get('model.embed_tokens.weight'), [11, 8]);
    assert.deepEqual(byName.get('model.layers.0.self_attn.q_proj.weight'), [8, 8]); // 4 heads x 2
    assert.deepEqual(byName.get('model.layers.0.self_attn.k_proj.weight'), [4, 8]); // 2 kv heads x 2
    assert.deepEqual(byName.get('model.layers.1.self_attn.v_proj.bias'), [4]);
    assert.deepEqual(byName.get('model.layers.1.self_attn.o_proj.bias'), [8]);
    assert.deepEqual(byName.get('model.layers.1.mlp.down_proj.weight'), [8, 12]);
    assert.deepEqual(byName.get('lm_head.weight'), [11, 8]);
    const tied = new Map(paramInfos(mqa).map((p) => [p.name, p.shape]));
    assert.ok(!tied.has('lm_head.weight'), 'a tied head has no tensor of its own');
    assert.ok(!tied.has('model.layers.0.self_attn.o_proj.bias'), 'qwen2 has no o_proj bias');
    assert.deepEqual(tied.get('model.layers.0.self_attn.q_proj.weight'), [12, 8]); // head_dim 6 != 8 / 2
    assert.deepEqual(tied.get('model.layers.0.self_attn.o_proj.weight'), [8, 12]);
    // 2 layers: norms 2*8, q 8*8+8, k,v 2*(4*8+4), o 8*8+8, mlp 3*(8*12)+12+12+8; + embed, norm, head
    const layer = 16 + 72 + 72 + 72 + 3 * 96 + 32;
    assert.equal(countParams(gqa), 2 * layer + 88 + 8 + 88);
  });

  it('rotary frequencies: 1/theta^(2i/d), linear scaling, llama3 scaling (hand-computed)', () => {
    const base = llamaConfig({ vocabSize: 4, nEmbd: 16, nLayer: 1, nHead: 2 }); // head_dim 8
    const inv = ropeInvFreq(base);
    assert.deepEqual(Array.from(inv), [1, 0.1, 0.01, 0.001].map(Math.fround));
    const linear = ropeInvFreq({ ...base, ropeScaling: { type: 'linear', factor: 4 } });
    assert.deepEqual(Array.from(linear), [0.25, 0.025, 0.0025, 0.00025].map(Math.fround));
    // llama3, original context 64, low 1, high 4: wavelengths 2pi/f = 6.28, 62.8, 628, 6283; high-frequency
    // limit 64/4 = 16 (kept), low-frequency limit 64/1 = 64 (divided by the factor 8), between: smoothed.
    const l3 = ropeInvFreq({
      ...base, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 },
    });
    const smooth = (64 / ((2 * Math.PI) / 0.1) - 1) / (4 - 1);
    const want = [1, (1 - smooth) * (0.1 / 8) + smooth * 0.1, 0.01 / 8, 0.001 / 8];
    l3.forEach((x, i) => assert.ok(Math.abs(x - want[i]) <= 1e-7 * want[i], `${i}: ${x} vs ${want[i]}`));
  });

  it('the rotary rotation is x cos + rotate_half(x) sin at each position (computed here)', async () => {
    const cfg = llamaConfig({ vocabSize: 4, nEmbd: 8, nLayer: 1, nHead: 2, ropeTheta: 100 }); // head_dim 4
    const g = new Graph();
    const x = g.floatInput('x', [1, 3, 2, 4]); // [B, T, H, d]
    const { cos, sin } = rotaryTables(cfg, g.input('pos', 'int64', [1, 3]), 'float32');
    g.output('y', applyRotary(x, cos, sin));
    const s = await Session.create(serialize(g), 'rope', { threads: 1 });
    const xs = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i + 1));
    const pos = [0, 5, 17];
    const y = (await s.run({ x: tensor('float32', xs, [1, 3, 2, 4]), pos: tensor('int64', BigInt64Array.from(pos.map(BigInt)), [1, 3]) }))
      .y.data as Float32Array;
    await s.release();
    const inv = [1, 1 / 10]; // 1 / 100^(0/4), 1 / 100^(2/4)
    for (let t = 0; t < 3; t++) for (let h = 0; h < 2; h++) {
      const v = xs.slice((t * 2 + h) * 4, (t * 2 + h + 1) * 4);
      const a = [pos[t] * inv[0], pos[t] * inv[1]];
      const want = [
        v[0] * Math.cos(a[0]) - v[2] * Math.sin(a[0]),
        v[1] * Math.cos(a[1]) - v[3] * Math.sin(a[1]),
        v[2] * Math.cos(a[0]) + v[0] * Math.sin(a[0]),
        v[3] * Math.cos(a[1]) + v[1] * Math.sin(a[1]),
      ];
      want.forEach((w, k) => {
        const got = y[(t * 2 + h) * 4 + k];
        assert.ok(Math.abs(got - w) < 1e-5, `t ${t} h ${h} k ${k}: ${got} vs ${w}`);
      });
    }
  });

  it('RMSNorm, the rotary rotation and SwiGLU pass float64 finite differences', async () => {
    const rng = new Rng(2);
    const rand = (n: number, s = 1) => Float64Array.from({ length: n }, () => s * rng.normal());
    const cfg = llamaConfig({ vocabSize: 4, nEmbd: 8, nLayer: 1, nHead: 2 });
    const r = await gradCheck(
      (g) => {
        const x = g.floatInput('x', [2, 3, 2, 4]);
        const w = g.floatInput('w', [4]);
        const a = g.floatInput('a', [2, 3, 2, 4]);
        const { cos, sin } = rotaryTables(cfg, g.ints([0, 3, 9], 'pos'), 'float64');
        const y = o.mul(silu(applyRotary(rmsNorm(x, w, 1e-5), cos, sin)), a); // SwiGLU's gate * up
        return { loss: o.sumAll(o.mul(y, g.constant(rand(48), [2, 3, 2, 4]))), wrt: [x, w, a] };
      },
      { x: { data: rand(48), dims: [2, 3, 2, 4] }, w: { data: rand(4), dims: [4] }, a: { data: rand(48), dims: [2, 3, 2, 4] } },
    );
    assert.ok(r.maxRelError <= 1e-6, `max relative error ${r.maxRelError.toExponential(2)}`);
  });

  for (const [name, cfg] of [['GQA, biases, untied head', gqa], ['MQA, head_dim != hidden/heads, qwen2 biases, tied head', mqa]] as const) {
    it(`whole-model loss with masks, example and token weights passes float64 finite differences (${name})`, async (t) => {
      const rng = new Rng(3);
      const feeds = { ...batchFeeds(cfg, rng), ...paramFeedsF64(cfg, rng) };
      const r = await gradCheck((g) => {
        const { loss, params } = lossGraph(cfg, g);
        return { loss, wrt: Object.values(params) };
      }, feeds, { maxPerInput: 10 });
      const expected = paramInfos(cfg).reduce((a, p) => a + Math.min(10, p.shape.reduce((x, y) => x * y, 1)), 0);
      assert.equal(r.checked, expected);
      t.diagnostic(`${r.checked} parameter entries checked, max relative error ${r.maxRelError.toExponential(2)}`);
      assert.ok(r.maxRelError <= 1e-6, `max relative error ${r.maxRelError.toExponential(2)}`);
    });
  }

  it('the float32 graph gives the float64 graph\'s loss and gradients', async () => {
    const rng = new Rng(4);
    const feeds = { ...batchFeeds(gqa, rng), ...paramFeedsF64(gqa, rng, 0.2) };
    const run = async (float: 'float32' | 'float64'): Promise<Record<string, number[]>> => {
      const g = new Graph({ float });
      const { loss, params } = lossGraph(gqa, g);
      g.output('loss', loss);
      const names = Object.keys(params);
      gradients(loss, Object.values(params)).forEach((d, i) => g.output(`d.${names[i]}`, d));
      const s = await Session.create(serialize(g), float, { threads: 1 });
      const fed: Record<string, OrtTensor> = {};
      for (const [k, f] of Object.entries(feeds)) {
        const data = f.data instanceof Float64Array && float === 'float32' ? Float32Array.from(f.data) : f.data;
        fed[k] = tensor(f.data instanceof BigInt64Array ? 'int64' : float, data, f.dims);
      }
      const out = await s.run(fed);
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

  async function logprobs(cfg: LlamaConfig, params: ReadonlyMap<string, Float32Array>, rows: number[][], t: number) {
    const ids = new BigInt64Array(rows.length * t);
    const targets = new BigInt64Array(rows.length * t);
    const mask = new Float32Array(rows.length * t);
    rows.forEach((r, b) => {
      for (let i = 0; i < t; i++) {
        ids[b * t + i] = BigInt(i < r.length ? r[i] : 0);
        targets[b * t + i] = BigInt(i + 1 < r.length ? r[i + 1] : 0);
        mask[b * t + i] = i + 1 < r.length ? 1 : 0;
      }
    });
    const s = await Session.create(serialize(buildLogprobGraph(cfg, { batch: rows.length, seqLen: t })), 'lp', { threads: 1 });
    const out = await s.run({
      ...paramFeeds(cfg, params, 'test'),
      ids: tensor('int64', ids, [rows.length, t]),
      targets: tensor('int64', targets, [rows.length, t]),
      mask: tensor('float32', mask, [rows.length, t]),
    });
    await s.release();
    return out.token_logprob.data as Float32Array;
  }

  it('padding does not change results: a row alone equals the row in a right-padded batch', async () => {
    const c = llamaConfig({ vocabSize: 257, nPositions: 16, nEmbd: 32, nLayer: 2, nHead: 4, nKvHead: 2 });
    const params = initParams(c, 1);
    for (const [k, v] of params) if (!k.includes('norm')) v.forEach((x, i) => (v[i] = x * 10));
    const rows = [[72, 105, 33, 10, 200], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [50, 60]];
    const all = await logprobs(c, params, rows, 12);
    for (let b = 0; b < rows.length; b++) {
      const alone = await logprobs(c, params, [rows[b]], rows[b].length);
      for (let i = 0; i < rows[b].length - 1; i++) {
        assert.ok(Math.abs(alone[i] - all[b * 12 + i]) < 1e-4, `row ${b} token ${i}: ${alone[i]} vs ${all[b * 12 + i]}`);
      }
    }
  });

  it('grouped-query attention equals attention with each key/value head repeated for its query heads (repeat_kv)', async () => {
    const c = llamaConfig({ vocabSize: 257, nPositions: 16, nEmbd: 32, nLayer: 2, nHead: 4, nKvHead: 2, qkvBias: true, oBias: true });
    const full: LlamaConfig = { ...c, nKvHead: 4 };
    const params = initParams(c, 5);
    for (const [k, v] of params) if (!k.includes('norm')) v.forEach((x, i) => (v[i] = x * 8));
    // Query head h reads key/value head floor(h / 2): rows [kv * d, (kv + 1) * d) repeated in that order.
    const d = c.headDim;
    const repeated = new Map(params);
    for (const [k, v] of params) {
      if (!/self_attn\.[kv]_proj/.test(k)) continue;
      const cols = k.endsWith('.weight') ? c.nEmbd : 1;
      const out = new Float32Array(4 * d * cols);
      for (let h = 0; h < 4; h++) out.set(v.subarray(Math.floor(h / 2) * d * cols, (Math.floor(h / 2) + 1) * d * cols), h * d * cols);
      repeated.set(k, out);
    }
    const rows = [[3, 77, 150, 9, 200, 31, 64, 5, 120, 250]];
    const a = await logprobs(c, params, rows, 10);
    const b = await logprobs(full, repeated, rows, 10);
    let worst = 0;
    for (let i = 0; i < 9; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    assert.ok(worst < 1e-4, `worst difference ${worst}`);
    assert.ok(Math.max(...Array.from(a.subarray(0, 9), (x) => Math.abs(x))) > 1, 'the log-probs are not trivially equal');
  });
});

describe('Llama: every training variant', () => {
  const VARIANTS = ['nll', 'wnll', 'r_gold', 'r_lol', 'a_lol', 'a_lol_ref_free', 'a_lol_seq', 'a_lol_kl', 'dpo'] as const;
  it('each variant\'s step runs on a Llama model through the compute backend: finite loss, weights move', async () => {
    const c = llamaConfig({ vocabSize: 64, nPositions: 16, nEmbd: 16, nLayer: 1, nHead: 4, nKvHead: 2 });
    const compute = new OrtBackend({ threads: 1 });
    const rng = new Rng(9);
    const [rows, t] = [4, 8]; // dpo: 2 pairs, chosen rows then rejected rows
    const ids = BigInt64Array.from({ length: rows * t }, () => BigInt(rng.int(64)));
    const targets = BigInt64Array.from({ length: rows * t }, () => BigInt(rng.int(64)));
    const mask = Float32Array.from({ length: rows * t }, (_, i) => (i % t >= 3 ? 1 : 0));
    const refTokenLogp = Float32Array.from(mask, (m) => (m ? -4.2 + 0.1 * rng.normal() : 0));
    try {
      for (const variant of VARIANTS) {
        const init = initParams(c, 1);
        const trainer = compute.policyTrainer({ config: c, params: init }, {
          objective: { kind: 'variant', variant, settings: { clipEps: 0.9, klBeta: 0.1, dpoBeta: 0.1 } },
          rows,
          adamw: DEFAULT_ADAMW,
        });
        const coef = Float32Array.of(1, 0.5, 2, 1);
        const stats = await trainer.update([{ rows, seqLen: t, ids, targets, mask, refTokenLogp, coef }], 1e-2);
        const after = await trainer.weights();
        await trainer.dispose();
        assert.ok(Number.isFinite(stats.loss) && stats.gradNorm > 0, `${variant}: loss ${stats.loss}, grad norm ${stats.gradNorm}`);
        const q = 'model.layers.0.self_attn.q_proj.weight';
        assert.notDeepEqual(after.get(q), init.get(q), `${variant}: weights did not move`);
      }
    } finally {
      await compute.release();
    }
  });
});
