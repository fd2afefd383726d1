// The kept-set difference of two audits (src/protocol/compare.ts), on rows written out by hand.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AdvantageRow } from '../../src/protocol/advantages.js';
import { keptSetDiff } from '../../src/protocol/compare.js';

const row = (rowId: string, line: number, advantage: number): AdvantageRow => ({
  rowId, file: '/data/d.jsonl', line, kind: 'row', reward: { total: 0.5 }, value: 0.5 - advantage, advantage,
  kept: advantage > 0, refLogprob: -3, refTokens: 4, timesSampled: 0,
});

describe('keptSetDiff', () => {
  const a = [row('r1', 1, 0.2), row('r2', 2, -0.1), row('r3', 3, 0.3), row('r4', 4, 0.1), row('r6', 6, -0.05)];
  const b = [row('r1', 1, -0.4), row('r2', 2, 0.05), row('r3', 3, 0.1), row('r5', 5, 0.2), row('r6', 6, 0.01)];

  it('lists the rows kept by exactly one audit, largest advantage change first, and counts the rest', () => {
    const d = keptSetDiff({ label: 'A', rows: a }, { label: 'B', rows: b });
    assert.deepEqual(
      { common: d.common, onlyInA: d.onlyInA, onlyInB: d.onlyInB, keptOnlyA: d.keptOnlyA, keptOnlyB: d.keptOnlyB, truncated: d.truncated },
      { common: 4, onlyInA: 1, onlyInB: 1, keptOnlyA: 1, keptOnlyB: 2, truncated: false },
    );
    // |dA|: r1 0.6, r2 0.15, r6 0.06; r3 is kept by both, r4 and r5 are in one audit only
    assert.deepEqual(d.rows.map((r) => [r.rowId, r.keptIn, r.line]), [['r1', 'a', 1], ['r2', 'b', 2], ['r6', 'b', 6]]);
    assert.deepEqual([d.rows[0].advantageA, d.rows[0].advantageB], [0.2, -0.4]);
  });

  it('keeps at most `limit` rows and says it cut', () => {
    const d = keptSetDiff({ label: 'A', rows: a }, { label: 'B', rows: b }, 2);
    assert.deepEqual(d.rows.map((r) => r.rowId), ['r1', 'r2']);
    assert.equal(d.truncated, true);
    assert.equal(d.keptOnlyA + d.keptOnlyB, 3, 'the counts are of every differing row');
  });

  it('two identical audits differ nowhere', () => {
    const d = keptSetDiff({ label: 'A', rows: a }, { label: 'B', rows: a });
    assert.deepEqual([d.rows.length, d.common, d.onlyInA, d.onlyInB], [0, a.length, 0, 0]);
  });
});
