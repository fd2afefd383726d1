// Preference pairs from several scored responses per prompt: a hand-made example gives exactly the
// expected pairs under best-worst and all (with a margin), ties never pair, other groups and prompts never
// mix, pair records' own pairs are kept; the preference accuracy of a policy whose log-probs copy the
// reward order is 1.0 on the formed pairs (0.0 reversed).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ComputeBackend, RowLogprobs, TokenRow } from '../../src/trainer/compute/backend.js';
import { formPairs, pairsOf, responseSets, statedPairs } from '../../src/trainer/data/pairs.js';
import type { Row } from '../../src/trainer/data/rows.js';
import { promptGroup } from '../../src/trainer/data/rows.js';
import { startingModel } from '../../src/trainer/model/policy.js';
import { preferenceAccuracy } from '../../src/trainer/pipeline/evaluate.js';

const row = (id: string, prompt: string, response: string, extra: Partial<Row> = {}): Row => ({
  id, file: 'f.jsonl', line: 1, prompt, response, split: 'test', group: promptGroup(prompt), kind: 'row', raw: {}, ...extra,
});

// P: 4 responses (0.9, 0.2, 0.5, 0.2); Q: 2 responses (0.7, 0.7: a tie); R: one response; S: 3 responses, two groups
const rows: Row[] = [
  row('p1', 'P', ' a'), row('q1', 'Q', ' a'), row('p2', 'P', ' b'), row('r1', 'R', ' a'),
  row('p3', 'P', ' c'), row('q2', 'Q', ' b'), row('p4', 'P', ' d'),
  row('s1', 'S', ' a', { group: 'g1' }), row('s2', 'S', ' b', { group: 'g2' }), row('s3', 'S', ' c', { group: 'g1' }),
];
const totals = [0.9, 0.7, 0.2, 0.4, 0.5, 0.7, 0.2, 0.1, 0.8, 0.6];
const ids = (ps: { chosen: number; rejected: number }[]) => ps.map((p) => `${rows[p.chosen].id}>${rows[p.rejected].id}`);

describe('pairs from scored responses', () => {
  it('response sets: rows of one (group, prompt), two or more, in dataset order', () => {
    assert.deepEqual(responseSets(rows), [[0, 2, 4, 6], [1, 5], [7, 9]]);
  });

  it('best-worst: one pair per prompt, best vs worst (the last of equal worst); ties give none', () => {
    const pairs = formPairs(rows, totals, { from: 'best-worst', minMargin: 0 });
    assert.deepEqual(ids(pairs), ['p1>p4', 's3>s1']);
    assert.ok(Math.abs((pairs[0].margin as number) - 0.7) < 1e-12);
  });

  it('all: every two responses of different reward, higher first; minMargin drops close ones', () => {
    assert.deepEqual(ids(formPairs(rows, totals, { from: 'all', minMargin: 0 })), [
      'p1>p3', 'p1>p2', 'p1>p4', 'p3>p2', 'p3>p4', 's3>s1',
    ]);
    assert.deepEqual(ids(formPairs(rows, totals, { from: 'all', minMargin: 0.35 })), ['p1>p3', 'p1>p2', 'p1>p4', 's3>s1']);
    assert.deepEqual(ids(formPairs(rows, totals, { from: 'best-worst', minMargin: 0.8 })), []);
  });

  it('pair records\' halves are not re-paired; their stated pairs need both halves', () => {
    const c = row('x:chosen', 'X', ' y', { kind: 'chosen', pairId: 'x' });
    const r = row('x:rejected', 'X', ' n', { kind: 'rejected', pairId: 'x' });
    assert.deepEqual(responseSets([c, r]), []);
    assert.deepEqual(statedPairs([c, r]).map((p) => [p.chosen, p.rejected]), [[0, 1]]);
    assert.deepEqual(statedPairs([r]), []);
  });

  it('preference accuracy on formed pairs: 1.0 for a policy whose log-probs order responses like the reward, 0.0 reversed', async () => {
    const policy = await startingModel({ init: { layers: 1, embd: 8, heads: 2, positions: 64 } }, '.', 0);
    const pairs = pairsOf(rows, formPairs(rows, totals, { from: 'all', minMargin: 0 }));
    assert.equal(pairs.length, 6);
    const rewardOf = new Map(rows.map((r, i) => [`${r.prompt}|${r.response}`, totals[i]]));
    /** A compute backend whose log-prob of a response is +-(its reward): it orders responses as the reward does (or reversed). */
    const copying = (sign: number) => ({
      tokenLogprobs: async (_m: unknown, batch: readonly TokenRow[]): Promise<RowLogprobs[]> => batch.map((t) => {
        const text = `${policy.tokenizer.decode(t.prompt)}|${policy.tokenizer.decode(t.response.slice(0, -1))}`;
        const r = rewardOf.get(text);
        assert.ok(r !== undefined, `scored an unknown row ${JSON.stringify(text)}`);
        const tokens = t.response.length;
        return { logprob: sign * r, tokens, tokenLogprobs: new Float32Array(tokens), truncatedPromptTokens: 0 };
      }),
    }) as unknown as ComputeBackend;
    const data = { maxPromptTokens: 32, maxResponseTokens: 16 };
    const same = await preferenceAccuracy(policy, pairs, { data, compute: copying(1) });
    assert.deepEqual([same.accuracy, same.count, same.ties], [1, 6, 0]);
    const reversed = await preferenceAccuracy(policy, pairs, { data, compute: copying(-1) });
    assert.equal(reversed.accuracy, 0);
  });
});
