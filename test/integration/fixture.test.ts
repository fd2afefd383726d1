// Cross-check against an independent implementation of GPT-2 on a model folder this project did not
// write (../shared/fixtures/gpt2-tiny-independent, see its README): response log-probs given a prompt
// (bytes concatenated, no BOS/EOS) and greedy continuations.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadModelFolder } from '../../src/trainer/model/folder.js';
import { Generator } from '../../src/trainer/model/generate.js';
import { LogprobScorer } from '../../src/trainer/model/logprobs.js';
import { loadTokenizer } from '../../src/trainer/model/tokenizer.js';
import { sharedPath } from '../helpers/shared.js';

const FIX = ['fixtures', 'gpt2-tiny-independent'];

describe('cross-check with an independent GPT-2 implementation (shared fixture)', () => {
  it('response log-probs match per token (1e-3) and in sum (1e-4 relative)', async (t) => {
    const model = await loadModelFolder(sharedPath(...FIX, 'model'));
    const tok = loadTokenizer(model.tokenizerJson, 'fixture tokenizer.json');
    type Expected = { prompt: string; response: string; logprob: number; tokens: number; token_logprobs: number[] };
    const expected = JSON.parse(readFileSync(sharedPath(...FIX, 'expected_logprobs.json'), 'utf8')) as Expected[];
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
    const model = await loadModelFolder(sharedPath(...FIX, 'model'));
    const tok = loadTokenizer(model.tokenizerJson, 'fixture tokenizer.json');
    type Expected = { prompt: string; max_new_tokens: number; text: string };
    const expected = JSON.parse(readFileSync(sharedPath(...FIX, 'expected.json'), 'utf8')) as Expected[];
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
