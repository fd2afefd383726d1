// LoRA (model/lora.ts, lora-graph.ts) on a tiny Llama and a tiny GPT-2: the adapters' gradients (A and B,
// dropout off and on) against float64 finite differences, and no gradient for the base; targets resolved
// against the model and unknown ones refused with the model's names; PEFT's init (B = 0, A in ±1/√in);
// the policy at step 0 equals the base exactly; merged weights give the adapter-on log-probs; training
// leaves the base bit-identical and only the adapters in the trainer's state; resume reproduces an
// uninterrupted run with dropout on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Graph } from '../../src/trainer/graph/ir.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { dropoutMask } from '../../src/trainer/model/lora-graph.js';
import { Session, tensor } from '../../src/trainer/runtime/session.js';
import { OrtBackend } from '../../src/trainer/compute/ort/backend.js';
import type { PolicyTrainer, TrainBatch } from '../../src/trainer/compute/backend.js';
import { AlolError } from '../../src/trainer/errors.js';
import { DEFAULT_ADAMW } from '../../src/trainer/graph/optim.js';
import type { ModelConfig } from '../../src/trainer/model/config.js';
import { initParams, paramInfos } from '../../src/trainer/model/family.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { LORA_SEED, addParams, loraForward, weightedLogLikelihoodLoss } from '../../src/trainer/model/gpt-graphs.js';
import { llamaConfig } from '../../src/trainer/model/llama-config.js';
import {
  type LoraSpec,
  countLoraParams,
  initLoraParams,
  loraAName,
  loraBName,
  loraParamInfos,
  loraTargetNames,
  mergeLora,
  resolveLora,
} from '../../src/trainer/model/lora.js';
import { Rng } from '../../src/trainer/util/rng.js';
import type { TokenizedRow } from '../../src/trainer/data/tokenize.js';
import { sftRows } from '../../src/trainer/pipeline/sft.js';
import { type Feed, gradCheck } from '../helpers/gradcheck.js';

const [B, T] = [2, 5];
const llama = llamaConfig({
  vocabSize: 13, nPositions: 8, nEmbd: 8, nLayer: 2, nHead: 4, nKvHead: 2, nInner: 12, modelType: 'qwen2', qkvBias: true,
});
const gpt2 = gptConfig({ vocabSize: 13, nPositions: 8, nEmbd: 8, nLayer: 2, nHead: 2 });
const MODELS = [['Llama (GQA)', llama], ['GPT-2 (Conv1D)', gpt2]] as const;

const spec = (cfg: ModelConfig, dropout = 0, r = 2): LoraSpec => resolveLora(cfg, { r, alpha: 3, dropout, targets: 'all-linear' });

function normalF64(n: number, rng: Rng, scale: number, offset = 0): Float64Array {
  return Float64Array.from({ length: n }, () => offset + scale * rng.normal());
}

/** Float64 feeds: batch, base weights and adapters (B non-zero, so A has a gradient too). */
function feedsF64(cfg: ModelConfig, lora: LoraSpec, seed: number): Record<string, Feed> {
  const rng = new Rng(seed);
  const out: Record<string, Feed> = {
    ids: { data: BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize))), dims: [B, T] },
    targets: { data: BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize))), dims: [B, T] },
    mask: { data: Float64Array.from([1, 1, 1, 1, 1, 0, 0, 1, 1, 1]), dims: [B, T] },
    example_weight: { data: Float64Array.from([0.7, -1.3]), dims: [B] },
  };
  for (const p of [...paramInfos(cfg), ...loraParamInfos(cfg, lora)]) {
    const n = p.shape.reduce((a, x) => a * x, 1);
    out[p.name] = { data: normalF64(n, rng, 0.4, p.init.kind === 'ones' ? 1 : 0), dims: [...p.shape] };
  }
  return out;
}

function lossGraph(cfg: ModelConfig, lora: LoraSpec, g: Graph, training: boolean) {
  const { params, specs } = addParams(g, cfg, lora);
  const { loss } = weightedLogLikelihoodLoss(cfg, params, {
    ids: g.input('ids', 'int64', [B, T]),
    targets: g.input('targets', 'int64', [B, T]),
    mask: g.floatInput('mask', [B, T]),
    exampleWeight: g.floatInput('example_weight', [B]),
    lora: loraForward(g, lora, training),
  });
  return { loss, specs };
}

/** A training batch of random tokens (float32), the last positions of each row scored. */
function batchOf(cfg: ModelConfig, rows: number, t: number, seed: number): TrainBatch {
  const rng = new Rng(seed);
  return {
    rows,
    seqLen: t,
    ids: BigInt64Array.from({ length: rows * t }, () => BigInt(rng.int(cfg.vocabSize))),
    targets: BigInt64Array.from({ length: rows * t }, () => BigInt(rng.int(cfg.vocabSize))),
    mask: Float32Array.from({ length: rows * t }, (_, i) => (i % t >= 2 ? 1 : 0)),
    exampleWeight: new Float32Array(rows).fill(1 / rows),
  };
}

const randomB = (cfg: ModelConfig, lora: LoraSpec, seed: number): Map<string, Float32Array> => {
  const rng = new Rng(seed);
  const adapter = initLoraParams(cfg, lora, seed);
  for (const [name, data] of adapter) if (name.endsWith('lora_B.weight')) data.forEach((_, i, a) => (a[i] = 0.3 * rng.normal()));
  return adapter;
};

describe('LoRA', () => {
  for (const [name, cfg] of MODELS) {
    for (const dropout of [0, 0.3]) {
      it(`${name}: A and B gradients pass float64 finite differences (dropout ${dropout}); the base gets none`, async (t) => {
        const lora = spec(cfg, dropout);
        const feeds = { ...feedsF64(cfg, lora, 5), ...(dropout > 0 ? { [LORA_SEED]: { data: BigInt64Array.of(12345n), dims: [] } } : {}) };
        const r = await gradCheck((g) => {
          const { loss, specs } = lossGraph(cfg, lora, g, dropout > 0);
          const trained = specs.map((s) => s.value.name);
          assert.deepEqual(trained, loraParamInfos(cfg, lora).map((p) => p.name), 'only adapters are trained');
          return { loss, wrt: specs.map((s) => s.value) };
        }, feeds, { maxPerInput: 6 });
        t.diagnostic(`${r.checked} adapter entries, max relative error ${r.maxRelError.toExponential(2)}`);
        assert.equal(r.checked, 6 * loraParamInfos(cfg, lora).length);
        assert.ok(r.maxRelError <= 1e-6, `max relative error ${r.maxRelError.toExponential(2)}`);
        assert.ok(r.analytic.every((a) => a.some((x) => x !== 0)), 'every adapter has a gradient');
      });
    }

    it(`${name}: targets resolve to the model's projections; an unknown one is refused with their names`, () => {
      const names = loraTargetNames(cfg);
      const expected = cfg.arch === 'llama'
        ? ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']
        : ['c_attn', 'c_proj', 'c_fc'];
      assert.deepEqual(names, expected);
      const some = resolveLora(cfg, { r: 4, alpha: 8, dropout: 0, targets: [expected[0]] });
      assert.deepEqual(some.modules.length, cfg.nLayer);
      assert.throws(
        () => resolveLora(cfg, { r: 4, alpha: 8, dropout: 0, targets: [expected[0], 'qkv'] }),
        (e: Error) => e instanceof AlolError && /'qkv' is not a module/.test(e.message) && e.message.includes(expected.join(', ')),
      );
    });

    it(`${name}: PEFT's init — B = 0, A uniform in ±1/√in — and the parameter count`, () => {
      const lora = spec(cfg, 0, 4);
      const adapter = initLoraParams(cfg, lora, 1);
      for (const info of loraParamInfos(cfg, lora)) {
        const data = adapter.get(info.name) as Float32Array;
        if (info.name.endsWith('lora_B.weight')) assert.ok(data.every((x) => x === 0), info.name);
        else {
          const bound = 1 / Math.sqrt(info.shape[1]);
          assert.ok(data.every((x) => Math.abs(x) <= bound) && data.some((x) => Math.abs(x) > bound / 2), info.name);
        }
      }
      const count = [...adapter.values()].reduce((a, d) => a + d.length, 0);
      assert.equal(countLoraParams(cfg, lora), count);
    });
  }

  for (const [name, cfg] of MODELS) {
    it(`${name}: at step 0 the policy's log-probs equal the base's exactly; merged weights give adapter-on log-probs`, async () => {
      const compute = new OrtBackend({ threads: 1 });
      const base = initParams(cfg, 3);
      const lora = spec(cfg, 0.1);
      const batch = batchOf(cfg, 2, 6, 4);
      const trainer = (params: ReadonlyMap<string, Float32Array>, adapter?: ReadonlyMap<string, Float32Array>): PolicyTrainer =>
        compute.policyTrainer({ config: cfg, params }, {
          objective: { kind: 'nll' },
          rows: 2,
          adamw: DEFAULT_ADAMW,
          ...(adapter ? { lora: { spec: lora, init: adapter, seed: 0 } } : {}),
        });
      try {
        const plain = await trainer(base).logprobs(batch);
        const fresh = await trainer(base, initLoraParams(cfg, lora, 9)).logprobs(batch);
        assert.deepEqual(fresh.token, plain.token, 'B = 0: bit-identical to the base');
        const adapter = randomB(cfg, lora, 11);
        const on = await trainer(base, adapter).logprobs(batch);
        const merged = await trainer(mergeLora(cfg, base, lora, adapter)).logprobs(batch);
        const moved = on.seq.some((x, i) => Math.abs(x - plain.seq[i]) > 1e-3);
        assert.ok(moved, 'a non-zero B changes the log-probs');
        on.token.forEach((x, i) => {
          const rel = Math.abs(x - merged.token[i]) / Math.max(Math.abs(x), 1e-6);
          assert.ok(rel <= 1e-5, `token ${i}: adapter on ${x}, merged ${merged.token[i]}`);
        });
      } finally {
        await compute.release();
      }
    });

    it(`${name}: training moves only the adapters (base bit-identical); resume reproduces an uninterrupted run`, async () => {
      const compute = new OrtBackend({ threads: 1 });
      const base = initParams(cfg, 3);
      const before = new Map([...base].map(([k, v]) => [k, v.slice()]));
      const lora = spec(cfg, 0.2);
      const init = initLoraParams(cfg, lora, 9);
      const make = (): PolicyTrainer => compute.policyTrainer({ config: cfg, params: base }, {
        objective: { kind: 'nll' },
        rows: 2,
        adamw: DEFAULT_ADAMW,
        lora: { spec: lora, init, seed: 5 },
      });
      const micro = (step: number): TrainBatch[] => [batchOf(cfg, 2, 6, 100 + step), batchOf(cfg, 2, 6, 200 + step)];
      try {
        const whole = make();
        const losses: number[] = [];
        for (let s = 0; s < 4; s++) losses.push((await whole.update(micro(s), 1e-2)).loss);
        const state = await whole.state();
        assert.deepEqual([...state.params.keys()].sort(), loraParamInfos(cfg, lora).map((p) => p.name).sort());
        assert.ok([...state.optimizer.keys()].every((k) => k.includes('.lora_')), 'AdamW state of the adapters only');
        for (const [k, v] of base) assert.deepEqual(v, before.get(k), `${k} changed`);
        const b0 = loraBName(lora.modules[0]);
        assert.ok(state.params.get(b0)?.some((x) => x !== 0), 'B moved away from 0');
        assert.notDeepEqual(state.params.get(loraAName(lora.modules[0])), init.get(loraAName(lora.modules[0])));

        const first = make();
        const resumedLosses: number[] = [];
        for (let s = 0; s < 2; s++) resumedLosses.push((await first.update(micro(s), 1e-2)).loss);
        const saved = await first.state();
        const second = make();
        await second.loadState(saved, first.step);
        for (let s = 2; s < 4; s++) resumedLosses.push((await second.update(micro(s), 1e-2)).loss);
        assert.deepEqual(resumedLosses, losses);
        const end = await second.state();
        for (const [k, v] of state.params) assert.deepEqual(end.params.get(k), v, `${k} differs after resume`);
      } finally {
        await compute.release();
      }
    });
  }

  it('SFT with LoRA (reference.sft.lora): only the targeted projections change, by a rank-r update; the rest is the base', async () => {
    const cfg = gpt2;
    const base = initParams(cfg, 3);
    const lora = resolveLora(cfg, { r: 2, alpha: 4, dropout: 0, targets: ['c_fc'] });
    const rng = new Rng(4);
    const rows = Array.from({ length: 6 }, () => ({
      row: {} as TokenizedRow['row'],
      prompt: [1, 2, 3].map(() => rng.int(cfg.vocabSize)),
      response: [1, 2].map(() => rng.int(cfg.vocabSize)),
    }));
    const tuned = await sftRows(cfg, base, rows, { steps: 3, lr: 1e-2, batchSize: 2, seed: 1, threads: 1, lora });
    for (const [name, w] of base) {
      const after = tuned.get(name) as Float32Array;
      if (/mlp\.c_fc\.weight$/.test(name)) assert.notDeepEqual(after, w, `${name} should have changed`);
      else assert.deepEqual(after, w, `${name} changed`);
    }
  });

  it('dropout masks: the rate asked for, values 0 or 1/(1-p), the same for a seed and module, new otherwise', async () => {
    const g = new Graph({ name: 'mask' });
    const x = g.floatInput('x', [4, 64, 32]);
    const seed = g.input('seed', 'int64', []);
    g.output('a', dropoutMask(x, 0, 0.3, seed));
    g.output('b', dropoutMask(x, 1, 0.3, seed));
    const session = await Session.create(serialize(g), 'mask', { threads: 1 });
    try {
      const run = async (s: bigint) => {
        const x0 = tensor('float32', new Float32Array(4 * 64 * 32), [4, 64, 32]);
        const out = await session.run({ x: x0, seed: tensor('int64', BigInt64Array.of(s), []) });
        return { a: out.a.data as Float32Array, b: out.b.data as Float32Array };
      };
      const [m1, m1again, m2] = [await run(7n), await run(7n), await run(8n)];
      const dropped = m1.a.filter((v) => v === 0).length / m1.a.length;
      assert.ok(Math.abs(dropped - 0.3) < 0.02, `dropped ${dropped}`);
      assert.ok(m1.a.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6));
      assert.deepEqual(m1.a, m1again.a);
      const agree = (u: Float32Array, v: Float32Array) => u.filter((z, i) => (z === 0) === (v[i] === 0)).length / u.length;
      // independent masks of rate 0.3 agree on 0.3^2 + 0.7^2 = 58% of elements
      assert.ok(Math.abs(agree(m1.a, m2.a) - 0.58) < 0.03, `seeds: ${agree(m1.a, m2.a)}`);
      assert.ok(Math.abs(agree(m1.a, m1.b) - 0.58) < 0.03, `modules: ${agree(m1.a, m1.b)}`);
    } finally {
      await session.release();
    }
  });

  it('dropout in training: the same seed gives the same loss, another seed another', async () => {
    const cfg = llama;
    const compute = new OrtBackend({ threads: 1 });
    const base = initParams(cfg, 3);
    const lora = spec(cfg, 0.5);
    const adapter = randomB(cfg, lora, 2);
    const mk = (seed: number) => compute.policyTrainer({ config: cfg, params: base }, {
      objective: { kind: 'nll' }, rows: 2, adamw: DEFAULT_ADAMW, lora: { spec: lora, init: adapter, seed },
    });
    try {
      const batch = [batchOf(cfg, 2, 6, 1)];
      const [a, b, c] = [await mk(1).update(batch, 0), await mk(1).update(batch, 0), await mk(2).update(batch, 0)];
      assert.equal(a.loss, b.loss);
      assert.notEqual(a.loss, c.loss);
    } finally {
      await compute.release();
    }
  });
});
