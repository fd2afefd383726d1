// Held-out evaluation on a tiny random GPT (weights scaled up so its generations vary) with built-in
// rewards: the same inputs give the same numbers, sampling differs from greedy, maxPrompts and
// showSamples hold, prompts longer than n_positions are left-truncated, the samples are the greedy
// generations with their rewards, field rewards are refused; preference accuracy is the share of
// positive margins computed independently with LogprobScorer, and a model fine-tuned on the chosen
// responses prefers them.
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { RewardComponentSchema, type RunConfig } from '../../src/protocol/config.js';
import {
  type EvalOptions, evalPrompts, evaluatePolicy, generationRewards, preferenceAccuracy, validationReward,
} from '../../src/trainer/pipeline/evaluate.js';
import { type Policy, policyHash } from '../../src/trainer/model/policy.js';
import { sftRows } from '../../src/trainer/pipeline/sft.js';
import { tokenizeRows } from '../../src/trainer/data/tokenize.js';
import type { Pair, Row } from '../../src/trainer/data/rows.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { Generator } from '../../src/trainer/model/generate.js';
import { LogprobScorer } from '../../src/trainer/model/logprobs.js';
import { initGptParams } from '../../src/trainer/model/params.js';
import { byteLevelTokenizer } from '../../src/trainer/model/tokenizer.js';
import { RewardSet } from '../../src/trainer/rewards/registry.js';
import { Rng } from '../../src/trainer/util/rng.js';

const tok = byteLevelTokenizer();
const cfg = gptConfig({ vocabSize: tok.vocabSize, nPositions: 64, nEmbd: 32, nLayer: 2, nHead: 4 });

function makePolicy(params: Map<string, Float32Array>): Policy {
  return { config: cfg, params, tokenizer: tok, tokenizerJson: tok.toJSON(), hash: policyHash(cfg, params) };
}
const scaled = initGptParams(cfg, 3);
// Larger weights than the init so the random model's choices are decisive and varied.
for (const [k, v] of scaled) if (!k.includes('ln_')) v.forEach((x, i) => (v[i] = x * 8));
const policy = makePolicy(scaled);

const row = (i: number, prompt: string, response: string, extra: Partial<Row> = {}): Row => ({
  id: `r${i}`, file: 'test.jsonl', line: i + 1, prompt, response, split: 'test', group: `g${i}`, kind: 'row', raw: {}, ...extra,
});
const LONG = `Human: ${'tell me a very long story about the sea and the ships on it, '.repeat(4)}\n\nAssistant:`;
const rows: Row[] = [
  row(0, 'Human: hello there\n\nAssistant:', ' hi, how are you?'),
  row(1, 'Human: hello there\n\nAssistant:', ' a second answer to the same prompt'),
  row(2, LONG, ' once upon a time'),
  row(3, 'Human: what is 2+2?\n\nAssistant:', ' four'),
  row(4, 'Q:', ' yes'),
  row(5, 'Human: name a color\n\nAssistant:', ' blue'),
  row(6, 'Human: what is 2+2?\n\nAssistant:', ' 4'),
  row(7, 'Human: are cats good pets?\n\nAssistant:', ' they are lovely'),
];
const DISTINCT = 6;

const evalConfig: RunConfig['eval'] = {
  maxNewTokens: 16, maxPrompts: 200, validationPrompts: null, samplesPerPrompt: 3, temperature: 1.2, topP: 0.95, showSamples: 4,
};
const opts = (o: Partial<EvalOptions> = {}, ev: Partial<RunConfig['eval']> = {}): EvalOptions => ({
  eval: { ...evalConfig, ...ev }, data: { maxPromptTokens: 256 }, seed: 5, promptsPerBatch: 4, threads: 1, ...o,
});

const components = [
  RewardComponentSchema.parse({ name: 'len', kind: 'builtin', scorer: 'length', options: { target: 4 } }),
  RewardComponentSchema.parse({ name: 'mood', kind: 'builtin', scorer: 'sentiment', weight: 0.5 }),
];
let rewards: RewardSet;
before(async () => {
  rewards = await RewardSet.create(generationRewards(components), { baseDir: os.tmpdir(), cacheDir: null });
});
after(() => rewards.dispose());

describe('evaluatePolicy', () => {
  it('gives the same numbers for the same inputs, and other sampled numbers for another seed', async () => {
    const a = await evaluatePolicy(policy, rows, rewards, opts());
    const b = await evaluatePolicy(policy, rows, rewards, opts());
    assert.deepEqual(a, b);
    const c = await evaluatePolicy(policy, rows, rewards, opts({ seed: 6 }));
    assert.deepEqual(c.heldout, a.heldout, 'greedy does not depend on the seed');
    assert.notDeepEqual(c.heldoutSampled, a.heldoutSampled);
    for (const m of [a.heldout, a.heldoutSampled]) {
      for (const v of [m.distinct1, m.distinct2, m.distinct3, m.length, m.lengthWords, ...Object.values(m.reward)]) {
        assert.ok(Number.isFinite(v));
      }
      assert.deepEqual(Object.keys(m.reward), ['total', 'len', 'mood']);
    }
  });

  it('sampled metrics differ from greedy and cover samplesPerPrompt generations per prompt', async () => {
    const r = await evaluatePolicy(policy, rows, rewards, opts());
    assert.equal(r.prompts, DISTINCT);
    assert.equal(r.heldout.count, DISTINCT);
    assert.equal(r.heldoutSampled.count, DISTINCT * 3);
    assert.ok(r.heldout.length > 0, 'the model should generate tokens');
    const pick = (m: typeof r.heldout) => [m.distinct1, m.distinct2, m.length, m.reward.total];
    assert.notDeepEqual(pick(r.heldoutSampled), pick(r.heldout));
  });

  it('validation during training reads eval.validationPrompts prompts at most (null: maxPrompts)', async () => {
    const validation = rows.map((r) => ({ ...r, split: 'validation' as const }));
    const ctx = (validationPrompts: number | null) => {
      const events: { type: string; samples?: unknown[] }[] = [];
      const config = { eval: { ...evalConfig, validationPrompts }, data: { maxPromptTokens: 256 }, train: { seed: 5 } };
      const log = { emit: (e: { type: string }) => events.push(e) };
      return { events, ctx: { config, log } as unknown as Parameters<typeof validationReward>[3] };
    };
    const at = { variant: 'v', step: 1 };
    const two = ctx(2);
    const bounded = await validationReward(policy, validation, rewards, two.ctx, at);
    const direct = await evaluatePolicy(policy, validation, rewards, opts({ promptsPerBatch: 16 }, { maxPrompts: 2 }));
    assert.equal(bounded, direct.heldoutSampled.reward.total, 'the first 2 prompts, as maxPrompts 2 would give');
    assert.equal(two.events[0].samples?.length, 2);
    const all = await validationReward(policy, validation, rewards, ctx(null).ctx, at);
    assert.equal(all, (await evaluatePolicy(policy, validation, rewards, opts({ promptsPerBatch: 16 }))).heldoutSampled.reward.total);
    assert.notEqual(all, bounded);
  });

  it('respects maxPrompts (distinct prompts, dataset order) and showSamples', async () => {
    const r = await evaluatePolicy(policy, rows, rewards, opts({}, { maxPrompts: 3, showSamples: 2 }));
    assert.equal(r.prompts, 3);
    assert.equal(r.heldout.count, 3);
    assert.equal(r.heldoutSampled.count, 9);
    assert.deepEqual(r.samples.map((s) => s.prompt), [rows[0].prompt, LONG]);
    assert.deepEqual(r.samples.map((s) => s.reference), [rows[0].response, rows[2].response]); // the prompt's first row
    const none = await evaluatePolicy(policy, rows, rewards, opts({}, { showSamples: 0 }));
    assert.deepEqual(none.samples, []);
    const empty = await evaluatePolicy(policy, [], rewards, opts());
    assert.deepEqual([empty.prompts, empty.heldout.count, empty.heldoutSampled.count, empty.heldout.reward.total], [0, 0, 0, 0]);
  });

  it('samples are the greedy generations of the truncated prompts, with their rewards', async () => {
    const r = await evaluatePolicy(policy, rows, rewards, opts());
    assert.equal(r.samples.length, 4);
    const prompts = evalPrompts(rows, tok, { maxPrompts: 4, maxPromptTokens: 256, maxNewTokens: 16, nPositions: cfg.nPositions });
    const gen = new Generator(cfg, policy.params, tok, { threads: 1 });
    try {
      const direct = await gen.generate(prompts.map((p) => p.ids), { maxNewTokens: 16, temperature: 0 });
      assert.deepEqual(r.samples.map((s) => s.response), direct.map((g) => g.text));
    } finally {
      await gen.dispose();
    }
    const scored = await rewards.score(r.samples.map((s, i) => row(100 + i, s.prompt, s.response)));
    r.samples.forEach((s, i) => {
      const of = (name: string) => (scored.components.get(name) as Float64Array)[i];
      assert.deepEqual(s.rewards, { total: scored.total[i], len: of('len'), mood: of('mood') });
      assert.ok(Math.abs(s.rewards.total - (s.rewards.len + 0.5 * s.rewards.mood)) < 1e-12);
    });
  });

  it('left-truncates a prompt longer than n_positions (and to maxPromptTokens) instead of failing', async () => {
    assert.ok(tok.encode(LONG).length > cfg.nPositions);
    const prompts = evalPrompts(rows, tok, { maxPrompts: 200, maxPromptTokens: 256, maxNewTokens: 16, nPositions: cfg.nPositions });
    const long = prompts[1];
    assert.equal(long.text, LONG);
    assert.ok(long.truncated);
    assert.deepEqual(long.ids, tok.encode(LONG).slice(-(cfg.nPositions - 16)));
    assert.equal(prompts.filter((p) => p.truncated).length, 1);
    const short = evalPrompts(rows, tok, { maxPrompts: 200, maxPromptTokens: 5, maxNewTokens: 16, nPositions: cfg.nPositions });
    assert.deepEqual(short[0].ids, tok.encode(rows[0].prompt).slice(-5));
    assert.deepEqual(short[3].ids, tok.encode('Q:'));
    const r = await evaluatePolicy(policy, rows, rewards, opts());
    assert.equal(r.truncatedPrompts, 1);
    assert.throws(() => evalPrompts(rows, tok, { maxPrompts: 1, maxPromptTokens: 5, maxNewTokens: 64, nPositions: 64 }),
      /leaves no room.*hint/);
  });

  it('reports progress up to its total', async () => {
    const seen: [number, number][] = [];
    await evaluatePolicy(policy, rows, rewards, opts({ onProgress: (d, t) => seen.push([d, t]) }));
    const total = 2 * DISTINCT * (1 + 3);
    assert.ok(seen.every(([, t]) => t === total));
    assert.ok(seen.every(([d], i) => i === 0 || d >= seen[i - 1][0]));
    assert.deepEqual(seen[seen.length - 1], [total, total]);
  });

  it('field rewards cannot score generations: generationRewards drops them, and the registry refuses them', async () => {
    const field = RewardComponentSchema.parse({ name: 'human', kind: 'field', field: 'reward' });
    assert.deepEqual(generationRewards([...components, field]).map((c) => c.name), ['len', 'mood']);
    const withField = await RewardSet.create([field], { baseDir: os.tmpdir(), cacheDir: null });
    try {
      await assert.rejects(evaluatePolicy(policy, rows, withField, opts({}, { maxPrompts: 1, samplesPerPrompt: 1 })), /no field 'reward'/);
    } finally {
      await withField.dispose();
    }
  });
});

describe('preferenceAccuracy', () => {
  const rng = new Rng(11);
  const randomText = (n: number) => Array.from({ length: n }, () => String.fromCharCode(33 + rng.int(90))).join('');
  const pair = (i: number, prompt: string, chosen: string, rejected: string): Pair => {
    const half = (kind: 'chosen' | 'rejected', response: string) =>
      row(i, prompt, response, { id: `p${i}:${kind}`, kind, pairId: `p${i}`, label: kind === 'chosen' ? 1 : 0 });
    return {
      id: `p${i}`, file: 'pairs.jsonl', line: i + 1, prompt,
      chosen: half('chosen', chosen), rejected: half('rejected', rejected), split: 'test',
    };
  };
  const pairs = Array.from({ length: 12 },
    (_, i) => pair(i, `Human: question ${i}?\n\nAssistant:`, ' yes indeed, yes indeed', ` ${randomText(20)}`));
  const data = { maxPromptTokens: 256, maxResponseTokens: 32 };

  it('is the share of pairs with l(chosen) > l(rejected), l computed independently', async () => {
    const base = makePolicy(initGptParams(cfg, 4));
    const r = await preferenceAccuracy(base, pairs, { data, threads: 1 });
    const scorer = new LogprobScorer(cfg, base.params);
    try {
      const halves = pairs.flatMap((p) => [p.chosen, p.rejected])
        .map((h) => ({ prompt: tok.encode(h.prompt), response: tok.encode(h.response) }));
      const l = await scorer.score(halves, { batchSize: 5, addEos: true, eosTokenId: tok.eosTokenId, threads: 1 });
      const margins = pairs.map((_, i) => l[2 * i].logprob - l[2 * i + 1].logprob);
      margins.forEach((m, i) => assert.ok(Math.abs(m - r.margins[i]) < 1e-3, `pair ${i}: ${m} vs ${r.margins[i]}`));
      assert.equal(r.accuracy, margins.filter((m) => m > 0).length / pairs.length);
    } finally {
      await scorer.dispose();
    }
    assert.equal(r.count, pairs.length);
    const swapped = await preferenceAccuracy(
      base, pairs.map((p) => ({ ...p, chosen: p.rejected, rejected: p.chosen })), { data, threads: 1 });
    assert.equal(swapped.accuracy, 1 - (r.accuracy as number));
  });

  it('ties count as not greater; no pairs gives null', async () => {
    const same = pairs.slice(0, 3).map((p) => ({ ...p, rejected: p.chosen }));
    const r = await preferenceAccuracy(policy, same, { data, threads: 1 });
    assert.deepEqual({ accuracy: r.accuracy, ties: r.ties }, { accuracy: 0, ties: 3 });
    assert.deepEqual(
      await preferenceAccuracy(policy, [], { data }),
      { accuracy: null, meanMargin: null, count: 0, ties: 0, margins: new Float64Array(0) },
    );
  });

  it('a model fine-tuned on the chosen responses prefers them on held-out pairs', async () => {
    const base = initGptParams(cfg, 4);
    const train = Array.from({ length: 16 }, (_, i) => row(i, `Human: question ${100 + i}?\n\nAssistant:`, ' yes indeed, yes indeed'));
    const { rows: tokenized } = tokenizeRows(train, tok, { ...data, nPositions: cfg.nPositions });
    const tuned = await sftRows(cfg, base, tokenized, { steps: 30, lr: 3e-3, batchSize: 8, seed: 0, threads: 1 });
    const before = await preferenceAccuracy(makePolicy(base), pairs, { data, threads: 1 });
    assert.ok((before.accuracy as number) < 1, `untrained accuracy ${before.accuracy}`);
    const r = await preferenceAccuracy(makePolicy(tuned), pairs, { data, threads: 1 });
    assert.equal(r.accuracy, 1);
    assert.ok(r.margins.every((m) => m > 10), `margins ${[...r.margins].map((m) => m.toFixed(1))}`);
  });
});
