// Honest summaries (issue 17): rewards that nothing could score are null, never a 0 — metricsOf writes
// {total: null}, the terminal table prints "-" for them — and `alol eval` names a run's model folder after
// its variant (runs/x/a_lol/final -> a_lol), not after the folder's basename.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SummarySchema } from '../../src/protocol/webview.js';
import { variantNameOf } from '../../src/trainer/pipeline/eval-model.js';
import { metricsOf, renderSummary, type Summary } from '../../src/trainer/pipeline/experiment.js';
import { corpusMetrics } from '../../src/trainer/pipeline/metrics.js';

describe('summaries without generation rewards', () => {
  const m = corpusMetrics([{ text: 'a b', tokens: 2 }], { total: [0], components: new Map() });

  it('metricsOf: {total: null} when nothing scored, the means when something did; the accuracy either way', () => {
    assert.deepEqual(metricsOf(m, 0.75, false).reward, { total: null });
    assert.equal(metricsOf(m, 0.75, false).preferenceAccuracy, 0.75);
    assert.deepEqual(metricsOf(m).reward, { total: 0 });
    assert.equal('preferenceAccuracy' in metricsOf(m), false);
  });

  it('the table prints "-" for n/a rewards and the accuracy beside them; summary.json with nulls passes the webview schema', () => {
    const entry = { heldout: metricsOf(m, 0.5, false), heldoutSampled: metricsOf(m, 0.5, false), filteredFraction: 0, trainSeconds: 1 };
    const summary: Summary = {
      variants: {
        reference: { ...entry, steps: 0, evaluatedStep: null },
        dpo: { ...entry, steps: 4, evaluatedStep: 4, selectedBy: 'final' },
      },
      prompts: 3,
      seed: 0,
    };
    const lines = renderSummary(summary, []);
    const cells = lines[2].trim().split(/\s+/);
    assert.deepEqual(cells.slice(0, 3), ['dpo', '-', '-']);
    assert.ok(cells.includes('0.500'), lines[2]);
    assert.ok(SummarySchema.safeParse(JSON.parse(JSON.stringify(summary))).success);
  });
});

describe('alol eval names', () => {
  it('a run\'s final, best or checkpoint folder is named after its variant; any other folder after itself', () => {
    assert.equal(variantNameOf('runs/x/a_lol/final'), 'a_lol');
    assert.equal(variantNameOf('runs/x/dpo/best/'), 'dpo');
    assert.equal(variantNameOf('runs/x/a_lol_seq/checkpoints/step-000200'), 'a_lol_seq');
    assert.equal(variantNameOf('models/tiny-lm'), 'tiny-lm');
  });
});
