// `alol train` / `alol eval` end to end on a synthetic task (test/helpers/word-task.ts: prompts with good and bad
// responses; a module reward reading only the text): a_lol beats the reference on held-out sampled
// reward; step-0 importance weights are exactly 1 in the real loop, and after the policy has moved
// they equal those computed here from the checkpoint's and the reference's own log-probs;
// advantages.jsonl holds A = R - V and kept = A > 0 on every row; resume reproduces the uninterrupted
// run; `alol eval` reproduces summary.json; the watchdog names the rows of a batch that went non-finite.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredEvent } from '../../src/protocol/trainer.js';
import { Rng } from '../../src/trainer/util/rng.js';
import { wordTaskConfig, writeWordTask } from '../helpers/word-task.js';

const bin = path.resolve(__dirname, '../../../bin/alol.js');
let dir = '';
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8' });
const ok = (...args: string[]) => {
  const r = run(...args);
  assert.equal(r.status, 0, `alol ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
};
const events = (runDir: string): StoredEvent[] => readFileSync(path.join(dir, runDir, 'events.jsonl'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l) as StoredEvent);
type Summary = {
  variants: Record<string, { heldout: { reward: { total: number } }; heldoutSampled: { reward: { total: number } }; steps: number }>;
};
const summary = (runDir: string) => JSON.parse(readFileSync(path.join(dir, runDir, 'summary.json'), 'utf8')) as Summary;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-train-'));
  await writeWordTask(dir);
  await writeFile(
    path.join(dir, 'run.json'),
    JSON.stringify(wordTaskConfig()),
  );
});
after(() => rm(dir, { recursive: true, force: true }));

describe('alol train and alol eval', () => {
  it('a_lol beats the reference on held-out sampled reward; run folder and summary.json are written', () => {
    ok('train', '--config', 'run.json', '--out', 'run-alol');
    const s = summary('run-alol');
    const ref = s.variants.reference.heldoutSampled.reward.total;
    const alol = s.variants.a_lol.heldoutSampled.reward.total;
    assert.ok(alol > ref + 0.1, `a_lol ${alol} vs reference ${ref}`);
    for (const f of [
      'config.json', 'events.jsonl', 'advantages.jsonl', 'summary.json', 'reference/model.safetensors', 'a_lol/final/model.safetensors',
    ]) {
      assert.ok(readdirSync(path.join(dir, 'run-alol', path.dirname(f))).includes(path.basename(f)), f);
    }
    // The budget is scaled by the positive fraction: fewer steps than train.steps.
    assert.ok(s.variants.a_lol.steps < 300 && s.variants.a_lol.steps > 80);
  });

  it('at step 0 every importance weight is exactly 1 and the clip fraction 0 (a_lol, a_lol_seq, r_lol)', () => {
    const first = (runDir: string) => events(runDir).find((e) => e.type === 'step/didComplete' && e.phase === 'training');
    const a = first('run-alol');
    assert.ok(a && a.type === 'step/didComplete');
    assert.equal(a.meanImportanceWeight, 1);
    assert.equal(a.clipFraction, 0);
    for (const variant of ['a_lol_seq', 'r_lol']) {
      ok('train', '--config', 'run.json', '--set', `train.variant=${variant}`, '--set', 'train.steps=2', '--set', 'eval.maxPrompts=2',
        '--out', `run-${variant}`);
      const e = first(`run-${variant}`);
      assert.ok(e && e.type === 'step/didComplete');
      assert.equal(e.meanImportanceWeight, 1, variant);
      assert.equal(e.clipFraction, 0, variant);
    }
  });

  it('after the policy has moved, the weights a step reports equal those of its checkpoint vs the reference', async (t) => {
    // A run whose every batch is the whole training split (sampler "all", batchSize = its 24 rows), so
    // the step after checkpoint k reports the weights of exactly these rows under the policy saved at k.
    // Those are computed here from each model's own log-probs (`alol logprobs`, EOS added as in
    // training): w = clip(exp(l_policy - l_ref), 1 - eps, 1 + eps) per row, as DESIGN.md defines them.
    const rng = new Rng(11);
    const words = ['cats', 'dogs', 'rain', 'bread', 'music', 'trees', 'boats', 'snow', 'tea', 'books'];
    const rows = Array.from({ length: 28 }, (_, i) => {
      const w = words[rng.int(words.length)];
      const response = rng.next() < 0.5 ? ` I like ${w}.` : [' no.', ` ${w} ${w} ${w}`, ' blah blah'][rng.int(3)];
      return { id: `w${i}`, prompt: `Q: ${w}?\nA:`, response, split: i < 24 ? 'train' : 'test' };
    });
    const train = rows.filter((r) => r.split === 'train');
    const jsonl = (xs: object[]) => `${xs.map((x) => JSON.stringify(x)).join('\n')}\n`;
    await writeFile(path.join(dir, 'moved.jsonl'), jsonl(rows));
    await writeFile(path.join(dir, 'moved-train.jsonl'), jsonl(train.map((r) => ({ prompt: r.prompt, response: r.response }))));
    const eps = 0.9;
    const set = [
      'data.path=moved.jsonl',
      'reference.path=run-alol/reference',
      'train.sampler=all',
      `train.batchSize=${train.length}`,
      'train.steps=7',
      'train.checkpointEvery=3',
      'train.lr=0.0003',
      'train.schedule=constant',
      `train.clipEps=${eps}`,
      'eval.maxPrompts=2',
      'eval.samplesPerPrompt=1',
    ].flatMap((kv) => ['--set', kv]);
    ok('train', '--config', 'run.json', ...set, '--no-cache', '--out', 'run-moved');
    const ev = events('run-moved');
    const audit = ev.find((e) => e.type === 'advantages/didCompute');
    assert.ok(audit && audit.type === 'advantages/didCompute');
    assert.equal(audit.counts.rows, train.length, 'every batch is the whole training split');
    const logprobs = (model: string): number[] => {
      const out = `lp-${path.basename(model)}.jsonl`;
      ok('logprobs', '--model', model, '--data', 'moved-train.jsonl', '--add-eos', '--out', out);
      return readFileSync(path.join(dir, out), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { logprob: number }).logprob);
    };
    const lRef = logprobs(path.join('run-moved', 'reference'));
    const atBound = (x: number) => x <= 1 - eps || x >= 1 + eps;
    let [low, high, inside] = [0, 0, 0];
    for (const k of [3, 6]) {
      const lPolicy = logprobs(path.join('run-moved', 'a_lol', 'checkpoints', `step-${String(k).padStart(6, '0')}`));
      const w = lPolicy.map((l, i) => Math.min(Math.max(Math.exp(l - lRef[i]), 1 - eps), 1 + eps));
      low += w.filter((x) => x <= 1 - eps).length;
      high += w.filter((x) => x >= 1 + eps).length;
      inside += w.filter((x) => !atBound(x)).length;
      const meanWeight = w.reduce((a, x) => a + x, 0) / w.length;
      const clipFraction = w.filter(atBound).length / w.length;
      const step = ev.find((e) => e.type === 'step/didComplete' && e.phase === 'training' && e.step === k + 1);
      assert.ok(step && step.type === 'step/didComplete', `no step ${k + 1}`);
      const reported = { meanWeight: step.meanImportanceWeight as number, clipFraction: step.clipFraction as number };
      t.diagnostic(`policy after step ${k}: mean weight ${meanWeight.toFixed(6)} (step ${k + 1} reported ${reported.meanWeight}), ` +
        `clip fraction ${clipFraction.toFixed(4)} (reported ${reported.clipFraction}); weights ${w.map((x) => x.toFixed(2)).join(' ')}`);
      // The policy has moved: weights far from 1, the mean by much more than the tolerance below.
      assert.ok(w.some((x) => Math.abs(x - 1) > 0.2), `after step ${k} every weight is within 0.2 of 1: ${w.join(', ')}`);
      assert.ok(Math.abs(meanWeight - 1) > 0.01, `after step ${k} the mean weight is ${meanWeight}`);
      // float32 in the step graph, float64 here
      const vs = (what: string, got: number, want: number) => `step ${k + 1}: ${what} ${got}, computed here ${want}`;
      assert.ok(Math.abs(reported.meanWeight - meanWeight) < 1e-5, vs('mean weight', reported.meanWeight, meanWeight));
      assert.ok(Math.abs(reported.clipFraction - clipFraction) < 1e-6, vs('clip fraction', reported.clipFraction, clipFraction));
    }
    // Weights at each bound and between them, so both the clipping and the clip fraction were exercised.
    assert.ok(low > 0 && high > 0 && inside > 0, `over both checkpoints: ${low} at 1 - eps, ${high} at 1 + eps, ${inside} inside`);
  });

  it("advantages.jsonl: every row's advantage is reward.total - value, and kept is advantage > 0", (t) => {
    type AdvantageRow = { rowId: string; reward: { total: number; task: number }; value: number; advantage: number; kept: boolean };
    const lines = readFileSync(path.join(dir, 'run-alol', 'advantages.jsonl'), 'utf8').trim().split('\n');
    const rows = lines.map((l) => JSON.parse(l) as AdvantageRow);
    const audit = events('run-alol').find((e) => e.type === 'advantages/didCompute');
    assert.ok(audit && audit.type === 'advantages/didCompute');
    assert.equal(rows.length, audit.counts.rows);
    // Both kinds of row are present, so neither check below holds vacuously.
    const kept = rows.filter((r) => r.kept).length;
    t.diagnostic(`${rows.length} rows, ${kept} kept`);
    assert.equal(kept, audit.counts.kept);
    assert.ok(kept > 0 && kept < rows.length, `${kept} of ${rows.length} kept`);
    for (const r of rows) {
      assert.equal(r.reward.total, r.reward.task, `${r.rowId}: the one component, weight 1, is the total`);
      const want = r.reward.total - r.value;
      assert.ok(Math.abs(r.advantage - want) <= 1e-12, `${r.rowId}: advantage ${r.advantage}, reward - value = ${want}`);
      assert.equal(r.kept, r.advantage > 0, `${r.rowId}: kept ${r.kept} with advantage ${r.advantage}`);
    }
  });

  it('resume from a mid-run checkpoint gives the same losses and weights as the uninterrupted run', async () => {
    const ckpts = readdirSync(path.join(dir, 'run-alol', 'a_lol', 'checkpoints')).sort();
    assert.ok(ckpts.length >= 2, `checkpoints: ${ckpts.join(', ')}`);
    const resumeAt = Number(ckpts[1].slice('step-'.length)); // a mid-run one
    ok('train', '--config', 'run.json', '--resume', path.join('run-alol', 'a_lol', 'checkpoints', ckpts[1]), '--out', 'run-resumed');
    const losses = (runDir: string) =>
      events(runDir).flatMap((e) => (e.type === 'step/didComplete' && e.phase === 'training' ? [[e.step, e.loss]] : []));
    const whole = losses('run-alol').filter(([step]) => step > resumeAt);
    assert.ok(whole.length > 0);
    assert.deepEqual(losses('run-resumed'), whole);
    assert.deepEqual(
      await readFile(path.join(dir, 'run-resumed/a_lol/final/model.safetensors')),
      await readFile(path.join(dir, 'run-alol/a_lol/final/model.safetensors')),
    );
  });

  it('`alol eval` of the saved variant reproduces its numbers in summary.json', () => {
    ok('eval', '--config', 'run.json', '--model', path.join('run-alol', 'a_lol', 'final'), '--out', 'run-eval');
    const trained = summary('run-alol').variants.a_lol;
    // named after the run's variant folder (a_lol/final -> a_lol), not the checkpoint's folder
    assert.deepEqual(Object.keys(summary('run-eval').variants), ['a_lol']);
    const evaluated = summary('run-eval').variants.a_lol;
    assert.deepEqual(evaluated.heldout, trained.heldout);
    assert.deepEqual(evaluated.heldoutSampled, trained.heldoutSampled);
  });

  it('the watchdog stops on a non-finite loss, writes the batch and names the rows', async () => {
    // Corrupt one row's cached reference log-probs (as a damaged cache would be): -Infinity.
    const cacheDir = path.join(dir, '.alol', 'cache');
    const file = readdirSync(cacheDir).find((f) => f.startsWith('reflogprobs-')) as string;
    const first = JSON.parse((await readFile(path.join(cacheDir, file), 'utf8')).split('\n')[0]) as {
      k: string; v: { s: number; t: (number | string)[] };
    };
    first.v.t[0] = 'PLANT';
    await writeFile(path.join(cacheDir, file), `${JSON.stringify(first).replace('"PLANT"', '-1e999')}\n`, { flag: 'a' });
    const r = run('train', '--config', 'run.json', '--set', 'train.variant=a_lol_kl', '--set', 'train.sampler=all',
      '--out', 'run-watchdog');
    assert.equal(r.status, 1);
    const id = first.k.split('|')[0];
    assert.match(r.stderr, new RegExp(`a_lol_kl step \\d+: loss Infinity.*`
      + `rows with non-finite inputs: .*data\\.jsonl:\\d+ \\(id ${id}\\)`));
    const written = readdirSync(path.join(dir, 'run-watchdog', 'a_lol_kl')).find((f) => f.startsWith('watchdog-step-'));
    assert.ok(written);
    const batch = JSON.parse(await readFile(path.join(dir, 'run-watchdog', 'a_lol_kl', written), 'utf8')) as { rows: { rowId: string }[] };
    assert.ok(batch.rows.some((row) => row.rowId === id));
    assert.ok(events('run-watchdog').some((e) => e.type === 'run/didFail'));
  });
});
