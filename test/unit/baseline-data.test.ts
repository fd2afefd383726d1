// The baselines' data helpers (src/trainer/alol/baseline-data.ts) on hand-made cases: the median
// threshold, filtered_bc's rules, qrpo's reference rewards from a prompt's other responses, and pro's
// ranking inputs with ties and padding. (Their use in the losses is checked against PyTorch in
// baseline-losses.test.ts.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  datasetReferenceRewards,
  filterKeep,
  ktoDesirable,
  median,
  proInputs,
  qrpoQuantiles,
} from '../../src/trainer/alol/baseline-data.js';

describe('baseline data helpers', () => {
  it('median: the middle value, or the mean of the two middle values', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.throws(() => median([]), /median of no values/);
  });

  it('filterKeep and ktoDesirable: R >= threshold (median by default); best_of_prompt keeps the first of tied bests', () => {
    const r = [0.2, 0.8, 0.5, 0.8, 0.1];
    const keys = ['a', 'a', 'b', 'a', 'c'];
    assert.deepEqual(filterKeep(r, keys, 'threshold', null), [false, true, true, true, false]);
    assert.deepEqual(filterKeep(r, keys, 'threshold', 0.6), [false, true, false, true, false]);
    assert.deepEqual(filterKeep(r, keys, 'best_of_prompt', null), [false, true, true, false, true]);
    assert.deepEqual(ktoDesirable(r, null), [false, true, true, true, false]);
  });

  it('qrpo: reference rewards are the prompt\'s other responses; a lone response has none (q NaN)', () => {
    const r = [0.2, 0.8, 0.5, 0.8, 0.1];
    const refs = datasetReferenceRewards(r, ['a', 'a', 'b', 'a', 'b']);
    assert.deepEqual(refs, [[0.8, 0.8], [0.2, 0.8], [0.1], [0.2, 0.8], [0.5]]);
    assert.deepEqual(Array.from(qrpoQuantiles(r, refs)), [0, 1, 1, 1, 0]);
    const alone = datasetReferenceRewards([0.3, 0.4], ['a', 'b']);
    assert.deepEqual(alone, [null, null]);
    assert.ok(Number.isNaN(qrpoQuantiles([0.3, 0.4], alone)[0]));
  });

  it('pro: best rows, ranked-after pairs with reward gaps; ties in batch order; padding rows take no part', () => {
    // prompt a: rows 0 (0.5), 2 (0.9), 3 (0.5 tie with row 0); prompt b: row 1 alone; row 4 padding
    const { best, after, temp } = proInputs([0.5, 0.7, 0.9, 0.5, 0], ['a', 'b', 'a', 'a', null]);
    assert.deepEqual(Array.from(best), [0, 1, 1, 0, 0]);
    const pairs = (m: Float32Array) => Array.from(m).flatMap((x, k) => (x ? [`${Math.floor(k / 5)}>${k % 5}`] : []));
    assert.deepEqual(pairs(after), ['0>3', '2>0', '2>3']); // order 2, 0, 3: the tie keeps batch order
    assert.deepEqual([temp[2 * 5 + 0], temp[2 * 5 + 3], temp[0 * 5 + 3]].map((x) => Number(x.toFixed(6))), [0.4, 0.4, 0]);
  });
});
