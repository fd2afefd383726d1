// The fused generation graphs (model/fused.ts: ORT contrib kernels, a cache the generator keeps) against the
// plain KV-cache graphs, for GPT-2 and the Llama layout (grouped-query attention): identical greedy and
// sampled tokens over batches whose rows end at different steps (so the batch shrinks mid-way), with the
// weights built in or fed; and the cache buffers allocated once per call, not per token.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelConfig } from '../../src/trainer/model/config.js';
import { initParams } from '../../src/trainer/model/family.js';
import { Generator } from '../../src/trainer/model/generate.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { llamaConfig } from '../../src/trainer/model/llama-config.js';
import { Rng } from '../../src/trainer/util/rng.js';

const sizes = { vocabSize: 40, nPositions: 96, nEmbd: 32, nLayer: 2, nHead: 4 };
const models: [string, ModelConfig][] = [
  ['gpt2', gptConfig(sizes)],
  ['llama (2 kv heads)', llamaConfig({ ...sizes, nKvHead: 2 })],
];
const rng = new Rng(5);
// 13 prompts of 3..19 tokens: several prompt widths in one batch, right-padded by the fused path
const prompts = Array.from({ length: 13 }, (_, i) => Array.from({ length: 3 + ((i * 5) % 17) }, () => rng.int(40)));
const detok = (eos: number) => ({ decode: (ids: readonly number[]) => ids.join(','), eosTokenId: eos });

for (const [name, cfg] of models) {
  describe(`fused generation graphs (${name})`, () => {
    const params = initParams(cfg, 3);

    for (const weights of ['embedded', 'fed'] as const) {
      it(`give the plain graphs' tokens, greedy and sampled, as rows end at different steps (weights ${weights})`, async () => {
        for (const eos of [1, 2]) {
          const gen = new Generator(cfg, params, detok(eos), { threads: 1, weights });
          for (const o of [{ temperature: 0 }, { temperature: 1, seed: 1 }, { temperature: 0.8, topP: 0.9, seed: 2 }]) {
            const plain = await gen.generate(prompts, { maxNewTokens: 40, ...o, kernels: 'plain' });
            const fused = await gen.generate(prompts, { maxNewTokens: 40, ...o });
            assert.deepEqual(fused.map((g) => g.tokens), plain.map((g) => g.tokens), `eos ${eos}, ${JSON.stringify(o)}`);
            assert.deepEqual(fused.map((g) => g.finishReason), plain.map((g) => g.finishReason));
            if (o.temperature > 0) {
              const lengths = new Set(plain.map((g) => g.tokens.length));
              assert.ok(lengths.size > 3 && plain.some((g) => g.finishReason === 'eos'), 'sampled rows should end at different steps');
            }
          }
          await gen.dispose();
        }
      });
    }

    it('allocate the KV cache once, not per token, and reuse it in the next call of the same shape', async () => {
      const gen = new Generator(cfg, params, { decode: (ids) => ids.join(','), eosTokenId: null }, { threads: 1 });
      for (const maxNewTokens of [4, 60]) {
        const before = gen.cacheAllocations;
        const [out] = await gen.generate([prompts[3]], { maxNewTokens });
        assert.equal(out.tokens.length, maxNewTokens);
        assert.equal(gen.cacheAllocations - before, 1, `${maxNewTokens} new tokens`);
      }
      const reused = gen.cacheAllocations;
      const [again] = await gen.generate([prompts[4]], { maxNewTokens: 60 });
      assert.equal(gen.cacheAllocations, reused, 'a call of the same shape takes the spare buffers');
      const fresh = new Generator(cfg, params, { decode: (ids) => ids.join(','), eosTokenId: null }, { threads: 1 });
      assert.deepEqual(again.tokens, (await fresh.generate([prompts[4]], { maxNewTokens: 60 }))[0].tokens, 'stale values change nothing');
      // a batch whose rows end early shrinks at most ceil(log2(13)) times: halving, never per token
      const g2 = new Generator(cfg, params, detok(1), { threads: 1 });
      await g2.generate(prompts, { maxNewTokens: 60, temperature: 1, seed: 1 });
      assert.ok(g2.cacheAllocations >= 2 && g2.cacheAllocations <= 1 + Math.ceil(Math.log2(13)), `${g2.cacheAllocations} allocations`);
      for (const g of [gen, fresh, g2]) await g.dispose();
    });
  });
}
