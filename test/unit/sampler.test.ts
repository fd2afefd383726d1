// Samplers: priority frequencies match A+ / sum(A+) (a chi-square test with a fixed seed) and rows
// with A <= 0 are never drawn; uniform_positive; shuffled epochs; state round trip for resume.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RowSampler } from '../../src/trainer/alol/sampler.js';

const advantages = [0.5, -0.2, 0, 1.5, 0.25, -3, 0.75, 2.0];
const aplus = Float64Array.from(advantages, (a) => Math.max(a, 0));

describe('row samplers', () => {
  it('priority: empirical frequencies match A+/sum(A+) (chi-square, fixed seed) and A <= 0 rows are never drawn', () => {
    const s = new RowSampler('priority', aplus, 7);
    const n = 200_000;
    const counts = new Array<number>(aplus.length).fill(0);
    for (const i of s.next(n)) counts[i]++;
    const total = aplus.reduce((a, x) => a + x, 0);
    advantages.forEach((a, i) => {
      if (a <= 0) assert.equal(counts[i], 0, `row ${i} with A = ${a} was drawn`);
    });
    let chi2 = 0;
    let df = -1;
    aplus.forEach((w, i) => {
      if (w === 0) return;
      const expected = (n * w) / total;
      chi2 += (counts[i] - expected) ** 2 / expected;
      df++;
    });
    // df = 4: the 99.9th percentile of chi-square is 18.47.
    assert.equal(df, 4);
    assert.ok(chi2 < 18.47, `chi-square ${chi2.toFixed(2)} with ${df} degrees of freedom`);
    assert.deepEqual(Array.from(s.timesSampled), counts);
  });

  it('uniform_positive draws only rows with A > 0, evenly', () => {
    const s = new RowSampler('uniform_positive', aplus, 3);
    const counts = new Array<number>(aplus.length).fill(0);
    for (const i of s.next(50_000)) counts[i]++;
    counts.forEach((c, i) => (aplus[i] > 0 ? assert.ok(Math.abs(c / 50_000 - 0.2) < 0.01, `row ${i}: ${c}`) : assert.equal(c, 0)));
  });

  it('all: every row once per epoch, in a seeded order', () => {
    const s = new RowSampler('all', aplus, 5);
    const epoch = s.next(aplus.length);
    assert.deepEqual([...epoch].sort(), [...aplus.keys()].sort());
    const again = new RowSampler('all', aplus, 5).next(aplus.length);
    assert.deepEqual(epoch, again);
  });

  it('state round trip: a restored sampler continues with the same draws', () => {
    for (const kind of ['priority', 'all'] as const) {
      const a = new RowSampler(kind, aplus, 11);
      a.next(13);
      const b = new RowSampler(kind, aplus, 99);
      b.restore(JSON.parse(JSON.stringify(a.state())));
      assert.deepEqual(b.next(20), a.next(20), kind);
    }
  });

  it('refuses what it cannot sample, with a hint', () => {
    assert.throws(() => new RowSampler('priority', Float64Array.of(0, -1), 0), /priority sampling needs weights >= 0/);
    assert.throws(() => new RowSampler('priority', Float64Array.of(0, 0), 0), /no row has a positive weight/);
  });
});
