// Generation with a Llama-layout model (grouped-query attention, untied head): the KV cache (which
// holds the key/value heads only) gives the same greedy tokens as recomputing every step, a row alone
// the same as in a left-padded batch, and seeded sampling the same with and without the cache.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { initParams } from '../../src/trainer/model/family.js';
import { Generator } from '../../src/trainer/model/generate.js';
import { llamaConfig } from '../../src/trainer/model/llama-config.js';

const cfg = llamaConfig({ vocabSize: 257, nPositions: 64, nEmbd: 32, nLayer: 2, nHead: 4, nKvHead: 2, qkvBias: true, oBias: true });
const params = initParams(cfg, 7);
for (const [k, v] of params) if (!k.includes('norm')) v.forEach((x, i) => (v[i] = x * 8));
const bytes = { decode: (ids: readonly number[]) => Buffer.from(ids.filter((t) => t < 256)).toString('latin1'), eosTokenId: 256 };
const gen = new Generator(cfg, params, bytes, { threads: 1 });
after(() => gen.dispose());

const prompts = ['Human: hello', 'Hi', 'A much longer prompt than the others, to pad'].map((s) => [...Buffer.from(s)]);

describe('generation (Llama layout, GQA)', () => {
  it('greedy with the KV cache equals greedy without it, token for token', async () => {
    const withCache = await gen.generate(prompts, { maxNewTokens: 16, temperature: 0 });
    const without = await gen.generate(prompts, { maxNewTokens: 16, temperature: 0, useCache: false });
    assert.deepEqual(withCache.map((g) => g.tokens), without.map((g) => g.tokens));
    assert.ok(withCache.some((g) => new Set(g.tokens).size > 2), 'the model should produce varied tokens');
  });

  it('a row alone and the same row in a batch get the same greedy tokens', async () => {
    const batch = await gen.generate(prompts, { maxNewTokens: 10 });
    for (let i = 0; i < prompts.length; i++) {
      const [alone] = await gen.generate([prompts[i]], { maxNewTokens: 10 });
      assert.deepEqual(alone.tokens, batch[i].tokens, `prompt ${i}`);
    }
  });

  it('seeded sampling gives the same tokens with and without the cache', async () => {
    const o = { maxNewTokens: 20, temperature: 1.5, topP: 0.95, seed: 3 };
    const a = await gen.generate(prompts, o);
    const b = await gen.generate(prompts, { ...o, useCache: false });
    assert.deepEqual(a.map((g) => g.tokens), b.map((g) => g.tokens));
  });

  it('a prompt too long for max_position_embeddings is a clear error', async () => {
    await assert.rejects(gen.generate([new Array(60).fill(65)], { maxNewTokens: 8 }), /exceeds max_position_embeddings 64; hint/);
  });
});
