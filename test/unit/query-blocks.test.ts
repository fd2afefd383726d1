// Causal attention in query blocks (model/attention.ts causalAttention): a training step graph whose attention runs in
// blocks of query rows, each over the keys up to its last row only, gives the loss, the per-row log-probs and every
// gradient of the one-block graph, for GPT-2 and the Llama family (grouped-query attention), padded and packed, with
// blocks that divide T and blocks that do not; and the defaults: step graphs of the demo's length use 4 blocks, the
// no-grad log-prob graph (the reference's and the importance weights' log-probs) one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAlolStepGraph } from '../../src/trainer/alol/losses.js';
import { DEFAULT_ADAMW } from '../../src/trainer/graph/optim.js';
import type { Graph } from '../../src/trainer/graph/ir.js';
import { trainingQueryBlocks } from '../../src/trainer/model/attention.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { buildLogprobGraph, buildStepGraph } from '../../src/trainer/model/gpt-graphs.js';
import { llamaConfig } from '../../src/trainer/model/llama-config.js';
import { assertSameOutputs, paddedBatch, runStepGraph } from '../helpers/step-graphs.js';

const T = 12;
const LENGTHS = [12, 5, 9, 7];
const gpt = gptConfig({ vocabSize: 23, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 2 });
const llama = llamaConfig({
  vocabSize: 23, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 4, nKvHead: 2, nInner: 24, qkvBias: true, oBias: true, mlpBias: true,
});
/** The query blocks of a graph's attention, all layers: their causal masks. */
const blockMasks = (g: Graph): number => g.constants.filter((c) => c.name.startsWith('causal_block_mask')).length;

describe('causal attention in query blocks', () => {
  for (const [name, cfg] of [['GPT-2', gpt], ['Llama (GQA, biases)', llama]] as const) {
    for (const packed of [false, true]) {
      it(`${name}${packed ? ', packed' : ''}: 3 and 5 blocks give the one-block nll step's loss, log-probs and gradients`, async () => {
        const b = paddedBatch(3, cfg, LENGTHS, T);
        const build = (queryBlocks: number) => buildStepGraph(cfg, { batch: 4, seqLen: T }, { mode: 'accumulate', packed, queryBlocks });
        const one = await runStepGraph(build(1), cfg, b, LENGTHS);
        assert.ok(Object.keys(one).some((k) => k.startsWith('new.acc.')), 'the accumulate step outputs gradients');
        for (const blocks of [3, 5]) assertSameOutputs(one, await runStepGraph(build(blocks), cfg, b, LENGTHS), 1e-5, `${blocks} blocks`);
      });
    }
  }

  it('a_lol: 4 blocks give the one-block step (importance weights, loss, gradients)', async () => {
    const b = paddedBatch(4, gpt, LENGTHS, T);
    const build = (queryBlocks: number) => buildAlolStepGraph(gpt, 4, T, {
      variant: 'a_lol', settings: { clipEps: 0.2, klBeta: 0.1, dpoBeta: 0.1 }, mode: 'accumulate', adamw: DEFAULT_ADAMW, queryBlocks,
    });
    assertSameOutputs(await runStepGraph(build(1), gpt, b, LENGTHS), await runStepGraph(build(4), gpt, b, LENGTHS), 1e-5, '4 blocks');
  });

  it('defaults: step graphs of T 192 run 4 blocks, short ones 1; the no-grad log-prob graph one', () => {
    assert.deepEqual([16, 31, 32, 64, 100, 128, 192, 224].map(trainingQueryBlocks), [1, 1, 1, 2, 3, 4, 4, 4]);
    const cfg = gptConfig({ vocabSize: 23, nPositions: 192, nEmbd: 16, nLayer: 2, nHead: 2 });
    const shape = { batch: 2, seqLen: 192 };
    assert.equal(blockMasks(buildStepGraph(cfg, shape, { mode: 'accumulate' })), 4 * 2, '4 blocks in each of 2 layers');
    const alol = buildAlolStepGraph(cfg, 2, 192, {
      variant: 'a_lol', settings: { clipEps: 0.2, klBeta: 0.1, dpoBeta: 0.1 }, mode: 'update', adamw: DEFAULT_ADAMW,
    });
    assert.equal(blockMasks(alol), 4 * 2);
    assert.equal(blockMasks(buildStepGraph(cfg, shape, { mode: 'accumulate', queryBlocks: 1 })), 0);
    assert.equal(blockMasks(buildLogprobGraph(cfg, shape)), 0);
  });
});
