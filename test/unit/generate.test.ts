// Generation: the KV cache gives exactly the tokens of generation without it (batched, prompts of
// different lengths), seeded sampling reproduces, top-p and temperature behave, stop strings and
// EOS (any of several ids) end rows, text is decoded as a continuation.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { Generator, pickToken } from '../../src/trainer/model/generate.js';
import { initGptParams } from '../../src/trainer/model/params.js';
import { Rng } from '../../src/trainer/util/rng.js';

const cfg = gptConfig({ vocabSize: 257, nPositions: 64, nEmbd: 32, nLayer: 2, nHead: 4 });
const params = initGptParams(cfg, 7);
// Larger weights than the init so the random model's choices are decisive and varied.
for (const [k, v] of params) if (!k.includes('ln_')) v.forEach((x, i) => (v[i] = x * 8));
const bytes = { decode: (ids: readonly number[]) => Buffer.from(ids.filter((t) => t < 256)).toString('latin1'), eosTokenId: 256 };
const gen = new Generator(cfg, params, bytes, { threads: 1 });
after(() => gen.dispose());

const prompts = ['Human: hello', 'Hi', 'A much longer prompt than the others, to pad'].map((s) => [...Buffer.from(s)]);

describe('generation', () => {
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

  it('sampling with a seed reproduces, another seed differs, cache or not', async () => {
    const o = { maxNewTokens: 20, temperature: 1.5, topP: 0.95 };
    const a = await gen.generate(prompts, { ...o, seed: 1 });
    const b = await gen.generate(prompts, { ...o, seed: 1 });
    const c = await gen.generate(prompts, { ...o, seed: 2 });
    const d = await gen.generate(prompts, { ...o, seed: 1, useCache: false });
    assert.deepEqual(a, b);
    assert.deepEqual(a.map((g) => g.tokens), d.map((g) => g.tokens));
    assert.notDeepEqual(a.map((g) => g.tokens), c.map((g) => g.tokens));
  });

  it('stop strings end a row and are cut from its text', async () => {
    const [free] = await gen.generate([prompts[0]], { maxNewTokens: 12 });
    const stop = free.text.slice(4, 6);
    const [stopped] = await gen.generate([prompts[0]], { maxNewTokens: 12, stop: [stop] });
    assert.equal(stopped.finishReason, 'stop');
    assert.equal(stopped.text, free.text.slice(0, free.text.indexOf(stop)));
  });

  it('ends a row at any of the EOS ids (generation_config.json may list several), the token excluded', async () => {
    const [free] = await gen.generate([prompts[0]], { maxNewTokens: 12 });
    // A step whose token did not come before: with it as a second EOS, generation stops right there.
    const k = free.tokens.findIndex((t, i) => i >= 2 && !free.tokens.slice(0, i).includes(t));
    assert.ok(k >= 2 && free.finishReason === 'length', JSON.stringify(free));
    const several = new Generator(cfg, params, { ...bytes, eosTokenIds: [256, free.tokens[k]] }, { threads: 1 });
    try {
      const [stopped] = await several.generate([prompts[0]], { maxNewTokens: 12 });
      assert.equal(stopped.finishReason, 'eos');
      assert.deepEqual(stopped.tokens, free.tokens.slice(0, k));
      assert.equal(stopped.text, bytes.decode(free.tokens.slice(0, k)));
    } finally {
      await several.dispose();
    }
  });

  it('decodes generated tokens as a continuation of the prompt when the tokenizer can', async () => {
    const detok = { ...bytes, decodeContinuation: (ids: readonly number[]) => `+${bytes.decode(ids)}` };
    const cont = new Generator(cfg, params, detok, { threads: 1 });
    try {
      const [a] = await cont.generate([prompts[1]], { maxNewTokens: 5 });
      const [b] = await gen.generate([prompts[1]], { maxNewTokens: 5 });
      assert.deepEqual(a.tokens, b.tokens);
      assert.equal(a.text, `+${b.text}`);
    } finally {
      await cont.dispose();
    }
  });

  it('a prompt too long for n_positions is a clear error', async () => {
    await assert.rejects(gen.generate([new Array(60).fill(65)], { maxNewTokens: 8 }), /exceeds n_positions 64; hint/);
  });
});

describe('token picking', () => {
  const logits = Float32Array.from([0, 3, 1, 2.9]);
  it('temperature 0 is argmax', () => assert.equal(pickToken(logits, 0, 1, new Rng(0)), 1));
  it('top-p keeps only the nucleus', () => {
    const rng = new Rng(3);
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) seen.add(pickToken(logits, 1, 0.8, rng));
    assert.deepEqual([...seen].sort(), [1, 3]); // p(1) + p(3) ~ 0.86 >= 0.8; 0 and 2 are cut
  });
  it('sampling frequencies follow the softmax', () => {
    const rng = new Rng(4);
    const counts = [0, 0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[pickToken(logits, 1, 1, rng)]++;
    const z = [...logits].reduce((a, x) => a + Math.exp(x), 0);
    counts.forEach((c, i) => assert.ok(Math.abs(c / n - Math.exp(logits[i]) / z) < 0.015, `token ${i}: ${c / n}`));
  });
});
