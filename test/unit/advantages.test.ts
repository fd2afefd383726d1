// Advantage histograms (zero is an edge; kept and filtered counted per bin) and the sampler /
// step-budget rules of DESIGN.md.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunConfigSchema } from '../../src/protocol/config.js';
import { advantageEdges, advantageHistogram } from '../../src/trainer/alol/advantages.js';
import { samplerFor, stepBudget } from '../../src/trainer/alol/rules.js';

describe('advantage histogram', () => {
  it('has zero as an edge, covers every value, and counts kept (A > 0) and filtered rows', () => {
    const a = [-0.73, -0.2, 0, 0, 0.05, 0.31, 0.9, -0.01];
    const edges = advantageEdges(a, 10);
    assert.ok(edges.includes(0));
    assert.ok(edges[0] <= -0.73 && edges[edges.length - 1] > 0.9);
    const h = advantageHistogram(a, edges);
    assert.equal(h.kept.reduce((x, y) => x + y, 0), 3);
    assert.equal(h.filtered.reduce((x, y) => x + y, 0), 5);
    const zeroBin = edges.indexOf(0);
    assert.equal(h.filtered[zeroBin], 2, 'A == 0 is filtered and lands in the bin starting at 0');
    h.kept.forEach((k, i) => {
      if (k > 0) assert.ok(edges[i] >= 0, 'no kept row left of zero');
    });
  });
});

describe('sampler and step-budget rules', () => {
  const train = (t: Record<string, unknown>) => RunConfigSchema.parse({ train: t }).train;
  it('default samplers per variant', () => {
    assert.equal(samplerFor('a_lol', 'default'), 'priority');
    assert.equal(samplerFor('a_lol_seq', 'default'), 'priority');
    assert.equal(samplerFor('wnll', 'default'), 'priority');
    assert.equal(samplerFor('nll', 'default'), 'all');
    assert.equal(samplerFor('dpo', 'default'), 'uniform_pairs');
    assert.equal(samplerFor('a_lol', 'all'), 'all');
  });
  it('steps and evalEvery scale by the positive fraction for A-LoL variants under priority / uniform_positive only', () => {
    assert.deepEqual(stepBudget(train({ variant: 'a_lol', steps: 900, evalEvery: 300 }), 1 / 3),
      { steps: 300, evalEvery: 100, scheduleSteps: 300, scaled: true });
    assert.equal(stepBudget(train({ variant: 'a_lol_kl', sampler: 'uniform_positive', steps: 100 }), 0.5).steps, 50);
    assert.equal(stepBudget(train({ variant: 'a_lol', sampler: 'all', steps: 100 }), 0.5).scaled, false);
    for (const v of ['nll', 'wnll', 'r_gold', 'r_lol', 'dpo']) {
      assert.equal(stepBudget(train({ variant: v, steps: 100 }), 0.5).steps, 100, v);
    }
  });
});
