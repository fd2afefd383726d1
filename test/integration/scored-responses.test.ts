// Several scored responses per prompt, rewards read from a field (issue 17), through the whole pipeline on
// the fake compute backend (deterministic, no ONNX Runtime): a_lol and dpo trained from one audit, dpo on
// pairs formed from the rewards; generation rewards are n/a (null in summary.json, no reward in the eval
// events) while the preference accuracy on formed test pairs is reported for every variant; the best
// checkpoint is chosen by the validation preference accuracy, not stuck on the first evaluation; a run
// whose variants use no advantages fits no value head. Every fail-fast case errors before any phase.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import type { Variant } from '../../src/trainer/alol/rules.js';
import { fakeExperiment, writeData as helperWriteData } from '../helpers/fake-experiment.js';

let dir = '';
const bin = path.resolve(__dirname, '../../../bin/alol.js');
const WORDS = ['sure', 'here', 'is', 'a', 'short', 'answer', 'about', 'that'];

/** 60 prompts x 3 responses; the reward field grows with the response's length. */
const rows = (prompts = 60, responses = 3, extra: (p: number, r: number) => object = () => ({})) =>
  Array.from({ length: prompts * responses }, (_, i) => {
    const [p, r] = [Math.floor(i / responses), i % responses];
    const response = ` ${WORDS.slice(0, 1 + ((p + 3 * r) % WORDS.length)).join(' ')}`;
    return { prompt: `Q: topic ${p}?\nA:`, response, reward: r / 2, ...extra(p, r) };
  });

const baseConfig = (data: string, over: Record<string, unknown> = {}) => ({
  data: { path: data, maxPromptTokens: 16, maxResponseTokens: 16, split: { validation: 0.15, test: 0.15, seed: 0 } },
  model: { init: { layers: 1, embd: 8, heads: 2, positions: 64 } },
  reference: { sft: { steps: 2, lr: 1e-3 } },
  rewards: [{ name: 'rm', kind: 'field', field: 'reward', range: [0, 1] }],
  value: { fitOn: 'train', folds: 2, epochs: 1, heads: 2 },
  train: { variant: 'a_lol', steps: 12, batchSize: 4, evalEvery: 2, checkpointEvery: 0 },
  eval: { maxNewTokens: 4, maxPrompts: 3, samplesPerPrompt: 2 },
  device: 'cpu',
  threads: 1,
  ...over,
});

const writeData = (name: string, records: object[]) => helperWriteData(dir, name, records);
const experiment = (config: object, variants: Variant[], name: string) => fakeExperiment(dir, config, variants, name);

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-scored-'));
  await writeData('rows.jsonl', rows());
});
after(() => rm(dir, { recursive: true, force: true }));

describe('several scored responses per prompt, field rewards', () => {
  it('a_lol and dpo from one audit: rewards n/a, preference accuracy for all, best checkpoint by validation accuracy', async () => {
    const run = await experiment(baseConfig('rows.jsonl'), ['a_lol', 'dpo'], 'run-both');
    const { summary, audit } = await run.result;
    // dpo learns from pairs formed by the rewards: best-worst, one per training prompt
    const trainPrompts = new Set(audit.rowsByIndex.map((r) => r.prompt)).size;
    assert.equal(audit.trainPairs.length, trainPrompts);
    for (const p of audit.trainPairs) {
      const [c, r] = [audit.train[p.chosen].row, audit.train[p.rejected].row];
      assert.equal(c.prompt, r.prompt);
      assert.deepEqual([c.reward, r.reward], [1, 0]);
    }
    assert.deepEqual(Object.keys(summary.variants), ['reference', 'a_lol', 'dpo']);
    for (const [name, v] of Object.entries(summary.variants)) {
      assert.deepEqual(v.heldout.reward, { total: null }, name);
      assert.deepEqual(v.heldoutSampled.reward, { total: null }, name);
      assert.equal(typeof v.heldout.preferenceAccuracy, 'number', `${name} has a preference accuracy`);
    }
    const json = JSON.parse(readFileSync(path.join(run.runDir, 'summary.json'), 'utf8')) as typeof summary;
    assert.equal(json.variants.dpo.heldoutSampled.reward.total, null);
    // best checkpoint: chosen by the validation preference accuracy, and not the first evaluation
    for (const variant of ['a_lol', 'dpo'] as const) {
      const v = summary.variants[variant];
      const evals = run.said.flatMap((l) => {
        const m = new RegExp(`^\\[training\\] ${variant} step (\\d+): validation preference accuracy`).exec(l);
        return m ? [Number(m[1])] : [];
      });
      assert.ok(evals.length >= 2, `${variant}: ${evals.length} validation evaluations`);
      assert.equal(v.selectedBy, 'validation preference accuracy');
      assert.notEqual(v.evaluatedStep, evals[0], `${variant}: the first evaluation (step ${evals[0]}) was kept`);
      assert.equal(v.evaluatedStep, evals[evals.length - 1], 'equal scores: the later checkpoint');
    }
    // no reward in the eval events (the dashboard shows none rather than 0); the phase message says n/a
    const ev = run.events();
    const evalEvents = ev.flatMap((e) => (e.type === 'eval/didComplete' ? [e] : []));
    assert.ok(evalEvents.length > 0);
    assert.ok(evalEvents.every((e) => Object.keys(e.rewards).length === 0 && e.samples.every((s) => Object.keys(s.rewards).length === 0)));
    const evalDone = ev.flatMap((e) => (e.type === 'phase/didChange' && e.phase === 'evaluation' && e.status === 'finished' ? [e] : []));
    assert.ok(evalDone.every((e) => /generation rewards n\/a/.test(e.message ?? '') && !/reward 0\.000/.test(e.message ?? '')));
    assert.ok(run.fake.calls.includes('valueHead'), 'a_lol needs the value head');
  });

  it('variants without advantages (dpo, nll) skip the value head and the advantages', async () => {
    const run = await experiment(baseConfig('rows.jsonl'), ['dpo', 'nll'], 'run-noadv');
    const { summary, audit } = await run.result;
    assert.equal(audit.adv, null);
    assert.ok(!run.fake.calls.includes('valueHead'));
    assert.ok(!existsSync(path.join(run.runDir, 'advantages.jsonl')));
    const phases = new Set(run.events().flatMap((e) => (e.type === 'phase/didChange' ? [e.phase] : [])));
    assert.ok(!phases.has('value') && !phases.has('advantages'), [...phases].join(', '));
    assert.deepEqual(Object.keys(summary.variants), ['reference', 'dpo', 'nll']);
    assert.ok(run.said.some((l) => l.startsWith('[value] skipped: dpo, nll use no advantages')));
  });
});

describe('fail fast: config problems are reported before any phase starts', () => {
  /** The experiment must fail with `pattern`, and nothing was computed: no phase started, no compute call. */
  async function failsFast(config: object, variants: Variant[], name: string, pattern: RegExp): Promise<void> {
    const run = await experiment(config, variants, name);
    await assert.rejects(run.result, pattern);
    const ev = run.events();
    assert.deepEqual(ev.filter((e) => e.type === 'phase/didChange'), [], `${name}: a phase started`);
    assert.deepEqual(run.fake.calls, [], `${name}: compute was used`);
    assert.equal(ev[ev.length - 1].type, 'run/didFail');
  }

  it('field rewards with value.fitOn "validation"', () =>
    failsFast(baseConfig('rows.jsonl', { value: { fitOn: 'validation' } }), ['a_lol'], 'ff-fiton',
      /value\.fitOn "validation" fits V on rewards of the reference's own generations.*"rm" \(kind field\)/));

  it('dpo without pairs: every prompt has one response', async () => {
    await writeData('single.jsonl', rows(60, 1));
    await failsFast(baseConfig('single.jsonl'), ['a_lol', 'dpo'], 'ff-dpo',
      /dpo needs preference pairs, and the training split has none.*hint: add responses to the same prompt/);
  });

  it('an empty test split, with the hint for rows that carry split fields', async () => {
    await writeData('fixed.jsonl', rows(60, 3, (p) => ({ split: p % 5 === 0 ? 'validation' : 'train' })));
    await failsFast(baseConfig('fixed.jsonl'), ['a_lol'], 'ff-test-fixed',
      new RegExp('the test split is empty: every row has a "split" field and none says "test" ' +
        '\\(data\\.split\'s fractions do not apply\\); ' +
        'hint: give some rows "split": "test", or remove the split fields'));
  });

  it('an empty test split from the fractions, with the hint to raise data.split.test', () =>
    failsFast(baseConfig('rows.jsonl', { data: { path: 'rows.jsonl', split: { validation: 0.1, test: 0 } } }), ['nll'], 'ff-test-frac',
      /the test split is empty: data\.split gives it 0 of 60 groups.*hint: raise data\.split\.test \(now 0\)/));

  it('a field reward that cannot score the test responses the preference accuracy needs', async () => {
    await writeData('holes.jsonl', rows(60, 3).map((r, i) => (i % 7 === 3 ? { ...r, reward: undefined } : r)));
    await failsFast(baseConfig('holes.jsonl'), ['nll'], 'ff-field',
      /reward rm \(field reward\): \d+ of the \d+ rows that need a reward cannot give one \(\d+ without the field/);
  });

  it('several problems at once, each with its hint', () =>
    failsFast(
      baseConfig('rows.jsonl', {
        value: { fitOn: 'validation' },
        rewards: [{ name: 'rm', kind: 'field', field: 'reward' }, { name: 'm', kind: 'module', path: 'missing.ts', range: [0, 1] }],
      }),
      ['a_lol'],
      'ff-many',
      /\d+ problems, found before any model work: \(1\) reward m: module file .*missing\.ts does not exist.*\(2\) value\.fitOn "valid/,
    ));
});

describe('alol audit --dry-run and alol train --variants (CLI)', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8' });

  it('a dry run checks, says what the run would work on, and writes nothing', async () => {
    await writeFile(path.join(dir, 'dry.json'), JSON.stringify({ ...baseConfig('rows.jsonl'), train: { variants: ['a_lol', 'dpo'] } }));
    const r = cli('audit', '--config', 'dry.json', '--dry-run');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /60 groups \(prompts\), 60 with several response rows/);
    assert.match(r.stdout, /dry run: no problems found for the audit and for `alol train` of a_lol, dpo/);
    assert.match(r.stdout, /no component scores generated text: generation rewards n\/a/);
    assert.ok(!existsSync(path.join(dir, 'runs')), 'no run folder');
    const bad = cli('audit', '--config', 'dry.json', '--dry-run', '--set', 'value.fitOn=validation');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /value\.fitOn "validation" fits V/);
  });

  it('--variants rejects an unknown variant by name', () => {
    const r = cli('train', '--config', 'dry.json', '--variants', 'a_lol,bogus');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /bogus: use variants from nll, wnll/);
  });
});
