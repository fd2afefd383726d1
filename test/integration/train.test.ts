// `alol train` / `alol eval` end to end on a synthetic task made here (prompts with good and bad
// responses; a module reward reading only the text): a_lol beats the reference on held-out sampled
// reward; step-0 importance weights are exactly 1 in the real loop; resume reproduces the
// uninterrupted run; `alol eval` reproduces summary.json; the watchdog names the rows of a batch that
// went non-finite.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredEvent } from '../../src/protocol/trainer.js';
import { Rng } from '../../src/trainer/util/rng.js';

const bin = path.resolve(__dirname, '../../../bin/alol.js');
let dir = '';
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8' });
const ok = (...args: string[]) => {
  const r = run(...args);
  assert.equal(r.status, 0, `alol ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
};
const events = (runDir: string): StoredEvent[] => readFileSync(path.join(dir, runDir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StoredEvent);
type Summary = { variants: Record<string, { heldout: { reward: { total: number } }; heldoutSampled: { reward: { total: number } }; steps: number }> };
const summary = (runDir: string) => JSON.parse(readFileSync(path.join(dir, runDir, 'summary.json'), 'utf8')) as Summary;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-train-'));
  const rng = new Rng(7);
  const words = ['cats', 'dogs', 'rain', 'bread', 'music', 'trees', 'boats', 'snow', 'tea', 'books'];
  const bad = (w: string) => [' no.', ` ${w} ${w} ${w} ${w}`, ' blah blah', ' I like'][rng.int(4)];
  const rows = Array.from({ length: 600 }, (_, i) => {
    const w = words[rng.int(words.length)];
    return JSON.stringify({ id: `r${i}`, prompt: `Q: ${w}?\nA:`, response: rng.next() < 0.5 ? ` I like ${w}.` : bad(w) });
  });
  await writeFile(path.join(dir, 'data.jsonl'), `${rows.join('\n')}\n`);
  // Mentions the prompt's word (0.5) and is one short sentence (0.5).
  await writeFile(path.join(dir, 'reward.ts'), "export default (b: { prompt: string; response: string }[]) => b.map((x) => {\n  const w = x.prompt.slice(3, -4);\n  return (x.response.includes(w) ? 0.5 : 0) + (x.response.trim().endsWith('.') && x.response.split(' ').length <= 6 ? 0.5 : 0);\n});\n");
  await writeFile(
    path.join(dir, 'run.json'),
    JSON.stringify({
      data: { path: 'data.jsonl', maxPromptTokens: 32, maxResponseTokens: 24, split: { validation: 0.1, test: 0.1, seed: 0 } },
      model: { init: { layers: 2, embd: 64, heads: 4, positions: 64 } },
      reference: { sft: { steps: 300, lr: 3e-3 } },
      rewards: [{ name: 'task', kind: 'module', path: 'reward.ts', range: [0, 1] }],
      value: { fitOn: 'train', folds: 3, epochs: 4 },
      train: { variant: 'a_lol', steps: 300, lr: 1e-3, batchSize: 16, evalEvery: 0, checkpointEvery: 40 },
      eval: { maxNewTokens: 16, maxPrompts: 30, samplesPerPrompt: 4 },
      threads: 2,
    }),
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
    for (const f of ['config.json', 'events.jsonl', 'advantages.jsonl', 'summary.json', 'reference/model.safetensors', 'a_lol/final/model.safetensors']) {
      assert.ok(readdirSync(path.join(dir, 'run-alol', path.dirname(f))).includes(path.basename(f)), f);
    }
    // The budget is scaled by the positive fraction: fewer steps than train.steps.
    assert.ok(s.variants.a_lol.steps < 300 && s.variants.a_lol.steps > 80);
  });

  it('at step 0 every importance weight is exactly 1 and the clip fraction 0 (a_lol, a_lol_seq, r_lol)', () => {
    const first = (runDir: string) => events(runDir).find((e) => e.type === 'step/didComplete');
    const a = first('run-alol');
    assert.ok(a && a.type === 'step/didComplete');
    assert.equal(a.meanImportanceWeight, 1);
    assert.equal(a.clipFraction, 0);
    for (const variant of ['a_lol_seq', 'r_lol']) {
      ok('train', '--config', 'run.json', '--set', `train.variant=${variant}`, '--set', 'train.steps=2', '--set', 'eval.maxPrompts=2', '--out', `run-${variant}`);
      const e = first(`run-${variant}`);
      assert.ok(e && e.type === 'step/didComplete');
      assert.equal(e.meanImportanceWeight, 1, variant);
      assert.equal(e.clipFraction, 0, variant);
    }
  });

  it('resume from a mid-run checkpoint gives the same losses and weights as the uninterrupted run', async () => {
    const ckpts = readdirSync(path.join(dir, 'run-alol', 'a_lol', 'checkpoints')).sort();
    assert.ok(ckpts.length >= 2, `checkpoints: ${ckpts.join(', ')}`);
    const resumeAt = Number(ckpts[1].slice('step-'.length)); // a mid-run one
    ok('train', '--config', 'run.json', '--resume', path.join('run-alol', 'a_lol', 'checkpoints', ckpts[1]), '--out', 'run-resumed');
    const losses = (runDir: string) => events(runDir).flatMap((e) => (e.type === 'step/didComplete' ? [[e.step, e.loss]] : []));
    const whole = losses('run-alol').filter(([step]) => step > resumeAt);
    assert.ok(whole.length > 0);
    assert.deepEqual(losses('run-resumed'), whole);
    assert.deepEqual(await readFile(path.join(dir, 'run-resumed/a_lol/final/model.safetensors')), await readFile(path.join(dir, 'run-alol/a_lol/final/model.safetensors')));
  });

  it('`alol eval` of the saved variant reproduces its numbers in summary.json', () => {
    ok('eval', '--config', 'run.json', '--model', path.join('run-alol', 'a_lol', 'final'), '--out', 'run-eval');
    const trained = summary('run-alol').variants.a_lol;
    const evaluated = summary('run-eval').variants.final;
    assert.deepEqual(evaluated.heldout, trained.heldout);
    assert.deepEqual(evaluated.heldoutSampled, trained.heldoutSampled);
  });

  it('the watchdog stops on a non-finite loss, writes the batch and names the rows', async () => {
    // Corrupt one row's cached reference log-probs (as a damaged cache would be): -Infinity.
    const cacheDir = path.join(dir, '.alol', 'cache');
    const file = readdirSync(cacheDir).find((f) => f.startsWith('reflogprobs-')) as string;
    const first = JSON.parse((await readFile(path.join(cacheDir, file), 'utf8')).split('\n')[0]) as { k: string; v: { s: number; t: (number | string)[] } };
    first.v.t[0] = 'PLANT';
    await writeFile(path.join(cacheDir, file), `${JSON.stringify(first).replace('"PLANT"', '-1e999')}\n`, { flag: 'a' });
    const r = run('train', '--config', 'run.json', '--set', 'train.variant=a_lol_kl', '--set', 'train.sampler=all', '--out', 'run-watchdog');
    assert.equal(r.status, 1);
    const id = first.k.split('|')[0];
    assert.match(r.stderr, new RegExp(`a_lol_kl step \\d+: loss Infinity.*rows with non-finite inputs: .*data\\.jsonl:\\d+ \\(id ${id}\\)`));
    const written = readdirSync(path.join(dir, 'run-watchdog', 'a_lol_kl')).find((f) => f.startsWith('watchdog-step-'));
    assert.ok(written);
    const batch = JSON.parse(await readFile(path.join(dir, 'run-watchdog', 'a_lol_kl', written), 'utf8')) as { rows: { rowId: string }[] };
    assert.ok(batch.rows.some((row) => row.rowId === id));
    assert.ok(events('run-watchdog').some((e) => e.type === 'run/didFail'));
  });
});
