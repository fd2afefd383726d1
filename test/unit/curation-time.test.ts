// Curation and honest time, without VS Code: a histogram bin lists its rows highest advantage first with an
// excerpt of each row's prompt and response (found by identity in the dataset's current text); the demo
// picker states a measured duration, else an estimate that says so; a finished run's headline names the
// best variant against the reference.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AdvantageRow } from '../../src/protocol/advantages.js';
import type { RunSummary } from '../../src/protocol/webview.js';
import { binItems, excerpt } from '../../src/extension/binRows.js';
import { mapRows } from '../../src/extension/datasetRows.js';
import { DEMO_ESTIMATE, demoDescription, finishMessage, formatDuration, summaryHeadline } from '../../src/extension/finishText.js';

const adv = (rowId: string, line: number, advantage: number): AdvantageRow => ({
  rowId, file: '/ws/data.jsonl', line, reward: { total: 0.5 }, value: 0.5 - advantage, advantage, kept: advantage > 0,
  refLogprob: -10, refTokens: 5, timesSampled: 0,
} as AdvantageRow);

describe('advantage bin: rows with excerpts, sorted', () => {
  const text = [
    JSON.stringify({ id: 'a', prompt: 'Human: what is   the\ncapital of France?\n\nAssistant:', response: ' Paris.' }),
    JSON.stringify({ id: 'b', prompt: 'Human: hi\n\nAssistant:', response: ` ${'very '.repeat(40)}long` }),
    JSON.stringify({ id: 'c', prompt: 'Human: bye\n\nAssistant:', response: ' Bye!' }),
  ].join('\n');
  const rows = [adv('a', 1, 0.05), adv('b', 2, 0.2), adv('c', 3, 0.5), adv('gone', 4, 0.1)];

  it('keeps lo <= A < hi, highest advantage first, with the prompt and response excerpt', () => {
    const items = binItems(rows, 0, 0.5, () => mapRows(text, '/ws/data.jsonl'), (f) => f.split('/').pop() as string);
    assert.deepEqual(items.map((i) => i.row.rowId), ['b', 'gone', 'a']); // c (A = 0.5) is the next bin's
    assert.equal(items[2].label, 'A +0.050  R 0.500  kept');
    assert.equal(items[2].description, 'data.jsonl:1 · a');
    assert.equal(items[2].detail, 'Human: what is the capital of France? Assistant: ⟶ Paris.');
    assert.ok(items[0].detail.endsWith('…') && items[0].detail.length < 160, items[0].detail);
    assert.equal(items[1].detail, 'gone (not in the file now)');
  });

  it('says when the text cannot be read (a compressed dataset)', () => {
    const items = binItems(rows, 0.5, 1, () => null, (f) => f);
    assert.deepEqual(items.map((i) => i.detail), ['c (text not shown: the file cannot be read here)']);
  });

  it('excerpt: one line, cut with an ellipsis', () => {
    assert.equal(excerpt(' a\n\n b  c ', 10), 'a b c');
    assert.equal(excerpt('abcdefghijkl', 6), 'abcde…');
  });
});

describe('honest time', () => {
  it('formats durations', () => {
    assert.deepEqual([42_000, 95_000, 120_000, 3_725_000].map(formatDuration), ['42 s', '1 min 35 s', '2 min', '1 h 2 min']);
  });

  it('the demo picker states the last measured time here, else an estimate that says it is one', () => {
    assert.equal(demoDescription(true, 192_000), 'took 3 min 12 s on this machine last time');
    assert.equal(demoDescription(true, undefined), DEMO_ESTIMATE.quick);
    assert.equal(demoDescription(false, undefined), DEMO_ESTIMATE.full);
    assert.match(DEMO_ESTIMATE.quick, /estimate/);
    assert.doesNotMatch(DEMO_ESTIMATE.quick, /about a minute/);
  });

  it('the finish headline: the best trained variant by held-out sampled reward, against the reference and the others', () => {
    const m = (sampled: number | null, greedy: number | null, acc?: number) => ({
      heldout: { reward: { total: greedy }, distinct1: 0, distinct2: 0, distinct3: 0, length: 0, preferenceAccuracy: acc ?? null },
      heldoutSampled: { reward: { total: sampled }, distinct1: 0, distinct2: 0, distinct3: 0, length: 0 },
      filteredFraction: 0, trainSeconds: 1, steps: 1,
    });
    const summary = { variants: { reference: m(0.66, 0.9), nll: m(0.672, 0.9), a_lol: m(0.71, 0.9) } } as unknown as RunSummary;
    assert.equal(summaryHeadline(summary), 'a_lol: held-out reward 0.710 (reference 0.660, nll 0.672)');
    assert.equal(finishMessage('A-LoL demo (quick)', 95_000, summary),
      'A-LoL demo (quick) finished in 1 min 35 s. a_lol: held-out reward 0.710 (reference 0.660, nll 0.672)');
    const labels = { variants: { reference: m(null, null, 0.5), dpo: m(null, null, 0.75) } } as unknown as RunSummary;
    assert.equal(summaryHeadline(labels), 'dpo: held-out preference accuracy 0.750 (reference 0.500)');
    assert.equal(finishMessage('A-LoL audit', 5_000, null), 'A-LoL audit finished in 5 s.');
  });
});
