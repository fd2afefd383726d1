// The baselines of issue 25 through the whole pipeline on the fake compute backend (deterministic, no ONNX
// Runtime), several scored responses per prompt with field rewards: every baseline trains from one audit
// with the batches its loss needs (filtered_bc only kept rows, kto the mismatched rows rotated by one with
// their reference log-probs, pro whole prompts with its ranking matrices, qrpo q from the prompt's other
// responses, awr A from the value head), and a run whose data cannot serve a baseline is refused before
// any phase and any compute call, naming what is missing.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Variant } from '../../src/trainer/alol/rules.js';
import type { TrainBatch } from '../../src/trainer/compute/backend.js';
import { fakeExperiment, writeData as helperWriteData } from '../helpers/fake-experiment.js';

let dir = '';
const WORDS = ['sure', 'here', 'is', 'a', 'short', 'answer', 'about', 'that'];

/** `prompts` prompts x `responses` responses; the reward field is r / (responses - 1) (or `reward(p, r)`). */
const rows = (prompts = 40, responses = 3, reward = (_p: number, r: number) => r / Math.max(1, responses - 1)) =>
  Array.from({ length: prompts * responses }, (_, i) => {
    const [p, r] = [Math.floor(i / responses), i % responses];
    const response = ` ${WORDS.slice(0, 1 + ((p + 3 * r) % WORDS.length)).join(' ')}`;
    return { prompt: `Q: topic ${p}?\nA:`, response, reward: reward(p, r) };
  });

const baseConfig = (data: string, train: Record<string, unknown> = {}) => ({
  data: { path: data, maxPromptTokens: 16, maxResponseTokens: 40, split: { validation: 0.15, test: 0.15, seed: 0 } },
  model: { init: { layers: 1, embd: 8, heads: 2, positions: 96 } }, // no response is cut: rows stay tell-apart
  reference: { sft: { steps: 2, lr: 1e-3 } },
  rewards: [{ name: 'rm', kind: 'field', field: 'reward', range: [0, 1] }],
  value: { fitOn: 'train', folds: 2, epochs: 1, heads: 2 },
  train: { variant: 'a_lol', steps: 6, batchSize: 6, evalEvery: 0, checkpointEvery: 0, ...train },
  eval: { maxNewTokens: 4, maxPrompts: 3, samplesPerPrompt: 2 },
  device: 'cpu',
  threads: 1,
});

const writeData = (name: string, records: object[]) => helperWriteData(dir, name, records);
const experiment = (config: object, variants: Variant[], name: string) => fakeExperiment(dir, config, variants, name);

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-baselines-'));
  await writeData('rows.jsonl', rows());
});
after(() => rm(dir, { recursive: true, force: true }));

describe('baselines from one audit (fake backend, field rewards)', () => {
  it('every baseline trains on the batches its loss needs', async () => {
    const variants: Variant[] = ['filtered_bc', 'rwr', 'awr', 'kto', 'qrpo', 'pro'];
    const run = await experiment(baseConfig('rows.jsonl'), variants, 'run-all');
    const { summary, audit } = await run.result;
    assert.deepEqual(Object.keys(summary.variants), ['reference', ...variants]);
    assert.ok(run.fake.calls.includes('valueHead'), 'awr needs the value head');
    const trainer = (v: Variant) => {
      const t = run.fake.trainers.find((x) => x.spec.objective.kind === 'variant' && x.spec.objective.variant === v);
      assert.ok(t, `no trainer for ${v}`);
      return t;
    };
    const batches = (v: Variant): TrainBatch[] => trainer(v).trainer.batchesSeen.flat();
    const total = audit.rewards.total;
    // the training row of batch row k: same tokens and as many response positions
    const rowOf = (b: TrainBatch, k: number) => audit.train.findIndex((t) => {
      const ids = Array.from(b.ids.subarray(k * b.seqLen, (k + 1) * b.seqLen), Number);
      const responseTokens = b.mask.subarray(k * b.seqLen, (k + 1) * b.seqLen).reduce((a, x) => a + x, 0);
      return responseTokens === t.response.length && [...t.prompt, ...t.response].slice(0, -1).every((x, j) => ids[j] === x);
    });
    for (const v of variants) assert.equal(trainer(v).trainer.batchesSeen.length, 6, `${v}: steps (no scaling)`);
    // filtered_bc: only rows at or above the median reward, factor 1; the filtered share is in the summary
    const sorted = Float64Array.from(total).sort();
    const m = sorted.length % 2 ? sorted[sorted.length >> 1] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    for (const b of batches('filtered_bc')) {
      for (let k = 0; k < b.rows; k++) assert.ok(total[rowOf(b, k)] >= m, 'filtered_bc drew a row under the median');
      assert.ok(Array.from(b.coef ?? []).every((c) => c === 1));
    }
    const kept = Array.from(total).filter((r) => r >= m).length;
    assert.ok(Math.abs(summary.variants.filtered_bc.filteredFraction - (1 - kept / total.length)) < 1e-12);
    // rwr: R; awr: A (negative ones too)
    for (const b of batches('rwr')) for (let k = 0; k < b.rows; k++) assert.equal(b.coef?.[k], Math.fround(total[rowOf(b, k)]));
    const adv = audit.adv?.advantages as Float64Array;
    for (const b of batches('awr')) for (let k = 0; k < b.rows; k++) assert.equal(b.coef?.[k], Math.fround(adv[rowOf(b, k)]));
    // kto: desirable flags, and the mismatched rows: prompt b with response b+1 (the last with the first)
    for (const b of batches('kto')) {
      assert.ok(b.klBatch && b.klRefLogp && b.klRefLogp.length === b.rows);
      for (let k = 0; k < b.rows; k++) {
        const [i, j] = [rowOf(b, k), rowOf(b, (k + 1) % b.rows)];
        assert.equal(b.coef?.[k], total[i] >= m ? 1 : 0);
        const kl: TrainBatch = b.klBatch;
        const want = [...audit.train[i].prompt, ...audit.train[j].response].slice(0, -1);
        assert.deepEqual(Array.from(kl.ids.subarray(k * kl.seqLen, k * kl.seqLen + want.length), Number), want, `kto mismatched row ${k}`);
      }
    }
    // qrpo: q = share of the prompt's other responses' rewards <= R
    for (const b of batches('qrpo')) {
      for (let k = 0; k < b.rows; k++) {
        const i = rowOf(b, k);
        const others = audit.train.flatMap((t, j) => (j !== i && t.row.prompt === audit.train[i].row.prompt ? [total[j]] : []));
        assert.equal(b.coef?.[k], Math.fround(others.filter((x) => x <= total[i]).length / others.length));
      }
    }
    // pro: whole prompts (2 per batch of 6 rows here, groups of 3), the best row of each marked, ranking matrices
    for (const b of batches('pro')) {
      assert.equal(b.rows, 6);
      const after = b.extraFeeds?.pro_after.data as Float32Array;
      assert.equal(Array.from(b.coef ?? []).filter((c) => c === 1).length, 2);
      assert.equal(after.reduce((a, x) => a + x, 0), 6, 'two prompts of 3 ranked responses: 3 ordered pairs each');
    }
  });
});

describe('baselines refused before any phase when the data cannot serve them', () => {
  async function failsFast(config: object, variants: Variant[], name: string, pattern: RegExp): Promise<void> {
    const run = await experiment(config, variants, name);
    await assert.rejects(run.result, pattern);
    const ev = run.events();
    assert.deepEqual(ev.filter((e) => e.type === 'phase/didChange'), [], `${name}: a phase started`);
    assert.deepEqual(run.fake.calls, [], `${name}: compute was used`);
    assert.equal(ev[ev.length - 1].type, 'run/didFail');
  }

  it('kto when every training row is on one side of the threshold', async () => {
    await writeData('flat.jsonl', rows(40, 3, () => 0.5));
    await failsFast(baseConfig('flat.jsonl'), ['kto'], 'ff-kto',
      /kto needs desirable and undesirable training rows: with threshold the median 0\.5 all \d+ are desirable.*hint: kto needs rewards/);
    await failsFast(baseConfig('rows.jsonl', { kto: { threshold: 2 } }), ['kto'], 'ff-kto-thr',
      /kto needs desirable and undesirable training rows: with threshold 2 all \d+ are undesirable.*set train\.kto\.threshold above 0/);
  });

  it('pro with one response per prompt', async () => {
    await writeData('single.jsonl', rows(40, 1));
    await failsFast(baseConfig('single.jsonl'), ['pro'], 'ff-pro',
      /pro ranks each prompt's responses, and none of the \d+ training prompts has more than one response/);
  });

  it('qrpo with field rewards and one response per prompt', () =>
    failsFast(baseConfig('single.jsonl'), ['qrpo'], 'ff-qrpo',
      /qrpo with field rewards .* takes each prompt's reference rewards from its other dataset responses, and none of the/));

  it('filtered_bc with a threshold no row reaches, beside another problem', () =>
    failsFast(
      baseConfig('single.jsonl', { filteredBc: { threshold: 1.5 } }),
      ['filtered_bc', 'pro'],
      'ff-filter',
      /2 problems, found before any model work: \(1\) pro ranks .*\(2\) filtered_bc keeps rows with R >= train\.filteredBc\.threshold 1\.5/,
    ));
});
