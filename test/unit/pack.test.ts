// Packed rows (model/pack.ts): a step graph whose token-wise ops run on the real tokens only gives the loss,
// the per-row log-probs and every gradient of the padded graph (to float rounding), for GPT-2 and the Llama
// family (grouped-query attention, biases) and for an A-LoL variant; and the ORT trainer with packRows feeds
// a pack_index and trains the same weights as without it.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { buildAlolStepGraph } from '../../src/trainer/alol/losses.js';
import type { TrainBatch } from '../../src/trainer/compute/backend.js';
import { OrtBackend } from '../../src/trainer/compute/ort/backend.js';
import type { Graph } from '../../src/trainer/graph/ir.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { DEFAULT_ADAMW } from '../../src/trainer/graph/optim.js';
import type { ModelConfig } from '../../src/trainer/model/config.js';
import { initParams } from '../../src/trainer/model/family.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { buildStepGraph } from '../../src/trainer/model/gpt-graphs.js';
import { llamaConfig } from '../../src/trainer/model/llama-config.js';
import { PACK_INDEX, packIndexOf } from '../../src/trainer/model/pack.js';
import { type OrtTensor, Session, tensor } from '../../src/trainer/runtime/session.js';
import { Rng } from '../../src/trainer/util/rng.js';

const [B, T] = [4, 12];
/** Tokens per row (positions 0 .. len-1 are real; the loss reads positions 3 .. len-1). */
const LENGTHS = [12, 5, 9, 7];
const gpt = gptConfig({ vocabSize: 23, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 2 });
const llama = llamaConfig({
  vocabSize: 23, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 4, nKvHead: 2, nInner: 24, qkvBias: true, oBias: true, mlpBias: true,
});

function batch(seed: number, cfg: ModelConfig): TrainBatch {
  const rng = new Rng(seed);
  const ids = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize))); // padding holds tokens too
  const targets = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize)));
  const mask = Float32Array.from({ length: B * T }, (_, i) => (i % T >= 3 && i % T < LENGTHS[Math.floor(i / T)] ? 1 : 0));
  const refTokenLogp = Float32Array.from(mask, (m) => (m ? -2 - rng.next() : 0));
  const coef = Float32Array.from({ length: B }, () => 0.5 + rng.next());
  return { rows: B, seqLen: T, ids, targets, mask, refTokenLogp, coef, exampleWeight: new Float32Array(B).fill(1) };
}

function feedsOf(g: Graph, cfg: ModelConfig, b: TrainBatch): Record<string, OrtTensor> {
  const params = initParams(cfg, 5);
  const feeds: Record<string, OrtTensor> = {};
  for (const x of g.inputs) {
    const dims = x.shape.map(Number);
    if (x.name === PACK_INDEX) {
      const index = packIndexOf(LENGTHS, T);
      feeds[x.name] = tensor('int64', index, [index.length]);
    } else if (x.name === 'ids' || x.name === 'targets') feeds[x.name] = tensor('int64', b[x.name], dims);
    else if (x.name === 'mask') feeds[x.name] = tensor('float32', b.mask, dims);
    else if (x.name === 'ref_token_logp' || x.name === 'policy_token_logp') {
      feeds[x.name] = tensor('float32', b.refTokenLogp as Float32Array, dims);
    }
    else if (x.name === 'coef') feeds[x.name] = tensor('float32', b.coef as Float32Array, dims);
    else if (x.name === 'example_weight') feeds[x.name] = tensor('float32', b.exampleWeight as Float32Array, dims);
    else {
      const size = dims.reduce((a, d) => a * d, 1);
      feeds[x.name] = tensor('float32', params.get(x.name)?.slice() ?? new Float32Array(size), dims);
    }
  }
  return feeds;
}

async function run(g: Graph, cfg: ModelConfig, b: TrainBatch): Promise<Record<string, Float32Array>> {
  const sess = await Session.create(serialize(g), g.name, { threads: 2 });
  try {
    const out = await sess.run(feedsOf(g, cfg, b));
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await sess.release();
  }
}

/** Every output of the packed graph against the padded one: max |a - b| over max |b| of each output. */
function assertSame(padded: Record<string, Float32Array>, packed: Record<string, Float32Array>, tol: number): void {
  assert.deepEqual(Object.keys(packed).sort(), Object.keys(padded).sort());
  for (const [name, want] of Object.entries(padded)) {
    const got = packed[name];
    const scale = Math.max(1e-6, ...Array.from(want, Math.abs));
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / scale);
    assert.ok(worst <= tol, `${name}: packed differs from padded by ${worst} (relative to its largest entry)`);
  }
}

describe('packed rows', () => {
  for (const [name, cfg] of [['GPT-2', gpt], ['Llama (GQA, biases)', llama]] as const) {
    it(`${name}: the nll step's loss, log-probs and gradients equal the padded graph's`, async () => {
      const b = batch(1, cfg);
      const build = (packed: boolean) => buildStepGraph(cfg, { batch: B, seqLen: T }, { mode: 'accumulate', packed });
      const [padded, packed] = [await run(build(false), cfg, b), await run(build(true), cfg, b)];
      assert.ok(Object.keys(padded).some((k) => k.startsWith('new.acc.')), 'the accumulate step outputs gradients');
      assertSame(padded, packed, 1e-5);
    });
  }

  it('a_lol: the step equals the padded graph (importance weights, loss, gradients)', async () => {
    const b = batch(2, gpt);
    const build = (packed: boolean) => buildAlolStepGraph(gpt, B, T, {
      variant: 'a_lol', settings: { clipEps: 0.2, klBeta: 0.1, dpoBeta: 0.1 }, mode: 'accumulate', adamw: DEFAULT_ADAMW, packed,
    });
    assertSame(await run(build(false), gpt, b), await run(build(true), gpt, b), 1e-5);
  });

  describe('the ORT trainer', () => {
    const compute = new OrtBackend({ threads: 2 });
    after(() => compute.release());

    it('with packRows reports the losses it reports without (3 updates), through a packed step graph', async () => {
      const keys: string[] = [];
      const losses = async (packRows: boolean) => {
        const trainer = compute.policyTrainer(
          { config: gpt, params: initParams(gpt, 5) },
          { objective: { kind: 'nll' }, rows: B, adamw: DEFAULT_ADAMW, packRows },
        );
        try {
          const out: number[] = [];
          for (let s = 0; s < 3; s++) out.push((await trainer.update([batch(10 + s, gpt)], 1e-3)).loss);
          keys.push(...compute.pool.keys());
          return out;
        } finally {
          await trainer.dispose();
        }
      };
      const plain = await losses(false);
      assert.ok(!keys.some((k) => k.endsWith(':packed')), `packRows false: ${keys.join(' ')}`);
      const packed = await losses(true);
      assert.ok(keys.some((k) => k.endsWith(':packed')), `a packed step graph ran: ${keys.join(' ')}`);
      // the first loss is of the same weights; later ones of weights that AdamW moved alike (rounding aside)
      assert.ok(Math.abs(packed[0] - plain[0]) <= 1e-6 * Math.abs(plain[0]), `step 1: ${packed[0]} vs ${plain[0]}`);
      for (const k of [1, 2]) {
        assert.ok(Math.abs(packed[k] - plain[k]) <= 1e-4 * Math.abs(plain[k]), `step ${k + 1}: ${packed[k]} vs ${plain[k]}`);
      }
    });
  });
});
