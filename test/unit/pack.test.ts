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
import { DEFAULT_ADAMW } from '../../src/trainer/graph/optim.js';
import type { ModelConfig } from '../../src/trainer/model/config.js';
import { initParams } from '../../src/trainer/model/family.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { buildStepGraph } from '../../src/trainer/model/gpt-graphs.js';
import { llamaConfig } from '../../src/trainer/model/llama-config.js';
import { assertSameOutputs, paddedBatch, runStepGraph } from '../helpers/step-graphs.js';

const [B, T] = [4, 12];
/** Tokens per row (test/helpers/step-graphs.ts paddedBatch). */
const LENGTHS = [12, 5, 9, 7];
const gpt = gptConfig({ vocabSize: 23, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 2 });
const llama = llamaConfig({
  vocabSize: 23, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 4, nKvHead: 2, nInner: 24, qkvBias: true, oBias: true, mlpBias: true,
});

const batch = (seed: number, cfg: ModelConfig): TrainBatch => paddedBatch(seed, cfg, LENGTHS, T);
const run = (g: Graph, cfg: ModelConfig, b: TrainBatch) => runStepGraph(g, cfg, b, LENGTHS);
const assertSame = (padded: Record<string, Float32Array>, packed: Record<string, Float32Array>, tol: number) =>
  assertSameOutputs(padded, packed, tol, 'packed and padded');

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
