// A small GPT trained by the LM loop on real text — the HH-RLHF conversations in ../shared, bytes as
// tokens — ends with a held-out loss below a unigram byte model fitted on the training text.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { DEFAULT_LM, type LmEvent, trainLm } from '../../src/trainer/model/lm.js';
import { initGptParams } from '../../src/trainer/model/params.js';
import { sharedPath } from '../helpers/shared.js';

function hhBytes(): { train: Uint8Array; heldout: Uint8Array } {
  const lines = gunzipSync(readFileSync(sharedPath('data', 'hh-harmless-base-test.jsonl.gz'))).toString('utf8')
    .split('\n').filter((l) => l.trim());
  const texts = lines.map((l) => (JSON.parse(l) as { chosen: string }).chosen);
  const cut = Math.floor(texts.length * 0.9); // by conversation, so held-out text is unseen
  const enc = (ts: string[]) => new Uint8Array(Buffer.from(ts.join('\n'), 'utf8'));
  return { train: enc(texts.slice(0, cut)), heldout: enc(texts.slice(cut)) };
}

/** Cross-entropy (nats per byte) of held-out bytes under add-one-smoothed training byte frequencies. */
function unigramLoss(train: Uint8Array, heldout: Uint8Array): number {
  const counts = new Float64Array(257).fill(1);
  for (const b of train) counts[b]++;
  const total = counts.reduce((a, x) => a + x, 0);
  let nll = 0;
  for (const b of heldout) nll -= Math.log(counts[b] / total);
  return nll / heldout.length;
}

describe('language modelling on real text', () => {
  it('held-out loss ends below a unigram byte model, and parameters change', async (t) => {
    const data = hhBytes();
    const cfg = gptConfig({ vocabSize: 257, nPositions: 64, nEmbd: 64, nLayer: 2, nHead: 4 });
    const init = initGptParams(cfg, 0);
    const evals: LmEvent[] = [];
    const opts = {
      ...DEFAULT_LM, steps: 300, batchSize: 16, seqLen: 64, lr: 3e-3, warmupSteps: 20, evalEvery: 100, evalBatches: 8, threads: 2,
    };
    const r = await trainLm(cfg, init, data, opts, (e) => e.type === 'eval' && evals.push(e));
    const unigram = unigramLoss(data.train, data.heldout);
    const losses = evals.map((e) => (e.type === 'eval' ? `${e.step}: ${e.heldoutLoss.toFixed(3)}` : '')).join(', ');
    t.diagnostic(`held-out loss by step: ${losses}; unigram ${unigram.toFixed(3)}`);
    assert.equal(evals.length, 3);
    assert.ok(Number.isFinite(r.heldoutLoss));
    assert.ok(r.heldoutLoss < unigram, `held-out ${r.heldoutLoss} vs unigram ${unigram}`);
    let changed = 0;
    for (const [name, v] of r.params) if (v.some((x, i) => x !== (init.get(name) as Float32Array)[i])) changed++;
    assert.equal(changed, r.params.size, 'every parameter tensor changed');
  });
});
