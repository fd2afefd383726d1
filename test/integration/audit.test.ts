// `alol audit` end to end: reference log-probs equal `alol logprobs --add-eos`; the value head beats
// the mean when rewards depend on the prompt and the audit says when it does not; caches recompute
// nothing, exactly the edited row, or everything for another reference; HH rows with fitOn "train"
// report the filtered fraction of chosen and rejected responses; every event is valid protocol.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { parseEventLine } from '../../src/protocol/trainer.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { saveModelFolder } from '../../src/trainer/model/folder.js';
import { initGptParams } from '../../src/trainer/model/params.js';
import { byteLevelTokenizer } from '../../src/trainer/model/tokenizer.js';
import { Rng } from '../../src/trainer/util/rng.js';
import { sharedPath } from '../helpers/shared.js';
import { alolRunner } from '../helpers/cli.js';

let dir = '';
const alol = alolRunner(() => dir);
const jsonl = <T>(file: string): T[] => readFileSync(path.join(dir, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as T);
const config = async (name: string, c: Record<string, unknown>) => writeFile(path.join(dir, name), JSON.stringify(c));

async function model(name: string, seed: number): Promise<void> {
  const tok = byteLevelTokenizer();
  const cfg = gptConfig({ vocabSize: tok.vocabSize, nPositions: 128, nEmbd: 32, nLayer: 1, nHead: 4 });
  await saveModelFolder(path.join(dir, name), { config: cfg, params: initGptParams(cfg, seed), tokenizerJson: tok.toJSON() });
}

const WORDS = ['sure', 'here', 'is', 'a', 'short', 'answer', 'about', 'that', 'thing', 'today'];
async function rowsFile(name: string, n: number, reward: (topic: number, rng: Rng) => number, seed = 1): Promise<void> {
  const rng = new Rng(seed);
  const lines = Array.from({ length: n }, (_, i) => {
    const topic = i % 2;
    const prompt = topic ? `Human: tell me about rockets and fuel #${i}\n\nAssistant:` : `Human: what do cats eat? ${i}\n\nAssistant:`;
    const response = ` ${Array.from({ length: 3 + rng.int(6) }, () => WORDS[rng.int(WORDS.length)]).join(' ')}`;
    // ids keep identity (and split) when text is edited
    return JSON.stringify({ id: `row-${i}`, prompt, response, reward: reward(topic, rng) });
  });
  await writeFile(path.join(dir, name), `${lines.join('\n')}\n`);
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-audit-'));
  await model('ref', 1);
  await model('ref2', 2);
});
after(() => rm(dir, { recursive: true, force: true }));

const base = (data: string, extra: Record<string, unknown> = {}) => ({
  data: { path: data, split: { validation: 0.1, test: 0.1, seed: 0 } },
  reference: { path: 'ref' },
  rewards: [{ name: 'label', kind: 'field', field: 'reward' }],
  value: { fitOn: 'train', folds: 3, epochs: 8 },
  threads: 1,
  ...extra,
});

describe('alol audit', () => {
  it('reference log-probs equal `alol logprobs --add-eos`; every event is valid protocol', async () => {
    await rowsFile('small.jsonl', 40, (topic) => topic);
    await config('small.json', base('small.jsonl'));
    alol('audit', '--config', 'small.json', '--out', 'run-lp', '--no-cache');
    alol('logprobs', '--model', 'ref', '--data', 'small.jsonl', '--out', 'lp.jsonl', '--add-eos');
    const byLine = new Map(jsonl<{ line: number; logprob: number; tokens: number }>('lp.jsonl').map((r) => [r.line, r]));
    const adv = jsonl<{ line: number; refLogprob: number; refTokens: number }>('run-lp/advantages.jsonl');
    assert.ok(adv.length > 20);
    for (const a of adv) {
      const l = byLine.get(a.line);
      assert.ok(l);
      assert.equal(a.refTokens, l.tokens);
      assert.ok(Math.abs(a.refLogprob - l.logprob) < 1e-4 * Math.abs(l.logprob), `line ${a.line}: ${a.refLogprob} vs ${l.logprob}`);
    }
    const events = (await readFile(path.join(dir, 'run-lp', 'events.jsonl'), 'utf8')).trim().split('\n').map(parseEventLine);
    assert.ok(events.every((e) => e.ok), JSON.stringify(events.find((e) => !e.ok)));
    const types = events.map((e) => (e.ok ? e.event.type : ''));
    assert.equal(types[0], 'run/didStart');
    assert.ok(types.includes('advantages/didCompute'));
    assert.equal(types[types.length - 1], 'run/didFinish');
  });

  it('the value head beats the mean when rewards depend on the prompt, and the audit says when they do not', async () => {
    await rowsFile('signal.jsonl', 240, (topic, rng) => (topic ? 0.8 : 0.2) + 0.05 * (rng.next() - 0.5));
    await rowsFile('noise.jsonl', 240, (_t, rng) => rng.next());
    await config('signal.json', base('signal.jsonl'));
    await config('noise.json', base('noise.jsonl'));
    const out = {
      signal: alol('audit', '--config', 'signal.json', '--out', 'run-signal', '--no-cache'),
      noise: alol('audit', '--config', 'noise.json', '--out', 'run-noise', '--no-cache'),
    };
    const mse = (s: string) => {
      const m = /held-out MSE ([\d.]+), mean predictor ([\d.]+)/.exec(s);
      assert.ok(m, s);
      return [Number(m[1]), Number(m[2])];
    };
    const [hs, ms] = mse(out.signal);
    assert.ok(hs < 0.3 * ms, `signal: head ${hs} vs mean ${ms}`);
    assert.doesNotMatch(out.signal, /no better than the mean/);
    const [hn, mn] = mse(out.noise);
    assert.ok(hn >= 0.9 * mn, `noise: head ${hn} vs mean ${mn}`);
    assert.match(out.noise, /NO better than predicting the mean reward/);
  });

  it('caches: unchanged inputs recompute nothing, one edited row recomputes one row, another reference recomputes all', async () => {
    await rowsFile('cache.jsonl', 60, (topic) => 0.3 + 0.4 * topic);
    const withSentiment = base('cache.jsonl', {
      rewards: [{ name: 'label', kind: 'field', field: 'reward' }, { name: 'sent', kind: 'builtin', scorer: 'sentiment' }],
    });
    await config('cache.json', withSentiment);
    const first = alol('audit', '--config', 'cache.json', '--out', 'run-c1');
    const nTrain = jsonl<unknown>('run-c1/advantages.jsonl').length;
    assert.match(first, new RegExp(`reference log-probs: ${nTrain} rows computed, 0 reused`));
    const second = alol('audit', '--config', 'cache.json', '--out', 'run-c2');
    assert.match(second, new RegExp(`reference log-probs: 0 rows computed, ${nTrain} reused`));
    assert.match(second, new RegExp(`rewards ready: 0 values computed, ${nTrain} reused`));
    assert.match(second, /reused the value estimate from the cache/);
    assert.equal(
      await readFile(path.join(dir, 'run-c2/advantages.jsonl'), 'utf8'), await readFile(path.join(dir, 'run-c1/advantages.jsonl'), 'utf8'));

    // Edit one training row's response (line of the first training row).
    const lines = (await readFile(path.join(dir, 'cache.jsonl'), 'utf8')).trim().split('\n');
    const target = jsonl<{ line: number }>('run-c1/advantages.jsonl')[0].line;
    const row = JSON.parse(lines[target - 1]) as { response: string };
    row.response = ' a wonderful, excellent and happy answer';
    lines[target - 1] = JSON.stringify(row);
    await writeFile(path.join(dir, 'cache.jsonl'), `${lines.join('\n')}\n`);
    const third = alol('audit', '--config', 'cache.json', '--out', 'run-c3');
    assert.match(third, new RegExp(`reference log-probs: 1 rows computed, ${nTrain - 1} reused`));
    assert.match(third, new RegExp(`rewards ready: 1 values computed, ${nTrain - 1} reused`));
    assert.match(third, /value head fitted on/, 'its target changed, so the value head is fitted again');

    await config('cache2.json', { ...withSentiment, reference: { path: 'ref2' } });
    const other = alol('audit', '--config', 'cache2.json', '--out', 'run-c4');
    assert.match(other, new RegExp(`reference log-probs: ${nTrain} rows computed, 0 reused`));
  });

  it('HH rows with fitOn "train": filtered fraction of chosen and rejected responses', async () => {
    const records = gunzipSync(readFileSync(sharedPath('data', 'hh-harmless-base-test.jsonl.gz'))).toString('utf8')
      .split('\n').slice(0, 150);
    await writeFile(path.join(dir, 'hh.jsonl'), `${records.join('\n')}\n`);
    await config('hh.json', {
      data: { path: 'hh.jsonl', maxPromptTokens: 96, maxResponseTokens: 48 },
      model: { init: { layers: 1, embd: 32, heads: 4, positions: 160 } },
      reference: { sft: { steps: 20, lr: 1e-3 } },
      rewards: [{ name: 'label', kind: 'field', field: 'label' }, { name: 'sentiment', kind: 'builtin', scorer: 'sentiment', weight: 0.5 }],
      value: { fitOn: 'train', folds: 3, epochs: 4 },
      threads: 2,
    });
    const out = alol('audit', '--config', 'hh.json', '--out', 'run-hh', '--no-cache');
    assert.match(out, /150 records \(hh\) -> 300 rows/);
    const chosen = /chosen: (\d+) of (\d+) filtered/.exec(out);
    const rejected = /rejected: (\d+) of (\d+) filtered/.exec(out);
    assert.ok(chosen && rejected, out);
    assert.ok(Number(chosen[1]) < Number(rejected[1]), 'label rewards filter rejected responses more often than chosen ones');

    // The dashboard's inputs: the reference fine-tuning's steps, and the reward's correlation with response length.
    const events = (await readFile(path.join(dir, 'run-hh', 'events.jsonl'), 'utf8')).trim().split('\n').map(parseEventLine)
      .flatMap((l) => (l.ok ? [l.event] : []));
    const sft = events.flatMap((e) => (e.type === 'step/didComplete' && e.phase === 'reference' ? [e] : []));
    assert.deepEqual(sft.map((e) => e.step), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.ok(sft.every((e) => e.totalSteps === 20 && Number.isFinite(e.loss) && e.loss > 0 && e.variant === undefined));
    // the value head's fit: 3 folds x 4 epochs, each with its training and held-out MSE
    const fit = events.flatMap((e) => (e.type === 'step/didComplete' && e.phase === 'value' ? [e] : []));
    assert.deepEqual(fit.map((e) => [e.step, e.totalSteps]), Array.from({ length: 12 }, (_, i) => [i + 1, 12]));
    assert.ok(fit.every((e) => Number.isFinite(e.loss) && e.heldoutLoss !== undefined && e.heldoutLoss >= 0 && e.lr === 1e-3));
    const adv = events.find((e) => e.type === 'advantages/didCompute');
    assert.ok(adv && adv.type === 'advantages/didCompute');
    const rows = jsonl<{ reward: { total: number }; refTokens: number }>('run-hh/advantages.jsonl');
    const x = rows.map((r) => r.reward.total);
    const y = rows.map((r) => r.refTokens);
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const [mx, my] = [mean(x), mean(y)];
    const cov = x.reduce((a, xi, i) => a + (xi - mx) * (y[i] - my), 0);
    const sx = Math.sqrt(x.reduce((a, xi) => a + (xi - mx) ** 2, 0));
    const sy = Math.sqrt(y.reduce((a, yi) => a + (yi - my) ** 2, 0));
    const r = cov / (sx * sy);
    assert.ok(Math.abs((adv.reward.lengthCorrelation ?? NaN) - r) < 1e-9, `lengthCorrelation ${adv.reward.lengthCorrelation} vs ${r}`);
  });
});
