// Cross-check against an independent PyTorch implementation of the Hugging Face Llama and Qwen2
// architectures, on folders this project did not write (../shared/fixtures/{llama,qwen2}-tiny-independent,
// see their README): Llama with BF16 weights, GQA and an untied head; Qwen2 with q/k/v biases and a tied
// head. Response log-probs given a prompt (bytes concatenated, no BOS/EOS) per token and in sum, and
// greedy continuations token for token, with and without the KV cache.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadModelFolder } from '../../src/trainer/model/folder.js';
import { Generator } from '../../src/trainer/model/generate.js';
import { LogprobScorer } from '../../src/trainer/model/logprobs.js';
import { loadTokenizer } from '../../src/trainer/model/tokenizer.js';
import { sharedPath } from '../helpers/shared.js';

type ExpectedLogprobs = { prompt: string; response: string; logprob: number; tokens: number; token_logprobs: number[] }[];
type ExpectedGreedy = { prompt: string; max_new_tokens: number; text: string }[];

for (const fixture of ['llama-tiny-independent', 'qwen2-tiny-independent']) {
  describe(`cross-check with an independent implementation (${fixture})`, () => {
    const dir = sharedPath('fixtures', fixture, 'model');

    it('loads as its model type with the README\'s shape', async () => {
      const m = await loadModelFolder(dir);
      assert.equal(m.config.arch, 'llama');
      if (m.config.arch !== 'llama') return;
      const llama = fixture.startsWith('llama');
      assert.equal(m.config.modelType, llama ? 'llama' : 'qwen2');
      assert.deepEqual(
        [m.config.nLayer, m.config.nEmbd, m.config.nHead, m.config.nKvHead, m.config.nInner, m.config.nPositions],
        [2, 64, 4, llama ? 2 : 4, 160, 128],
      );
      assert.equal(m.config.tieWordEmbeddings, !llama);
      assert.equal(m.config.qkvBias, !llama);
      assert.equal(m.params.has('lm_head.weight'), llama);
    });

    it('response log-probs match per token (1e-3) and in sum (1e-4 relative)', async (t) => {
      const model = await loadModelFolder(dir);
      const tok = loadTokenizer(model.tokenizerJson, `${fixture} tokenizer.json`);
      const expected = JSON.parse(readFileSync(sharedPath('fixtures', fixture, 'expected_logprobs.json'), 'utf8')) as ExpectedLogprobs;
      const scorer = new LogprobScorer(model.config, model.params);
      const got = await scorer.score(
        expected.map((e) => ({ prompt: tok.encode(e.prompt), response: tok.encode(e.response) })),
        { batchSize: 4, addEos: false, eosTokenId: tok.eosTokenId, threads: 1 },
      );
      await scorer.dispose();
      let worstToken = 0;
      expected.forEach((e, i) => {
        assert.equal(got[i].tokens, e.tokens, `row ${i}: token count`);
        e.token_logprobs.forEach((lp, k) => (worstToken = Math.max(worstToken, Math.abs(lp - got[i].tokenLogprobs[k]))));
        assert.ok(Math.abs(got[i].logprob - e.logprob) <= 1e-4 * Math.abs(e.logprob), `row ${i}: ${got[i].logprob} vs ${e.logprob}`);
      });
      t.diagnostic(`${expected.length} rows; worst per-token difference ${worstToken.toExponential(2)}`);
      assert.ok(worstToken <= 1e-3);
    });

    it('greedy continuations match token for token: fused graphs, plain KV cache, no cache', async () => {
      const model = await loadModelFolder(dir);
      const tok = loadTokenizer(model.tokenizerJson, `${fixture} tokenizer.json`);
      const expected = JSON.parse(readFileSync(sharedPath('fixtures', fixture, 'expected.json'), 'utf8')) as ExpectedGreedy;
      const gen = new Generator(model.config, model.params, tok, { threads: 1 });
      const modes = [{ kernels: 'fused' }, { kernels: 'plain' }, { useCache: false }] as const;
      const tokens: number[][][] = [];
      for (const mode of modes) {
        const out = await gen.generate(
          expected.map((e) => tok.encode(e.prompt)),
          { maxNewTokens: expected[0].max_new_tokens, temperature: 0, ...mode },
        );
        assert.deepEqual(out.map((g) => g.text), expected.map((e) => e.text), JSON.stringify(mode));
        tokens.push(out.map((g) => g.tokens));
      }
      assert.deepEqual(tokens[0], tokens[1], 'fused and plain graphs: the same greedy tokens');
      await gen.dispose();
    });
  });
}
