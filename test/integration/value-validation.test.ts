// `value.fitOn: "validation"` (the default, the paper's choice) end to end through `alol audit`: the
// value head's targets are the rewards of the reference's own greedy generations on the validation
// prompts — a spy reward module logs every text it scores, and the test generates those continuations
// itself from the run's reference/ — and the head is fitted on them: every training row's response
// scores 0.9, every greedy generation of the random-init reference 0.1, so V sits near 0.1, far from
// what the training rewards would give. Its errors: a `field` reward (cannot score generations), too
// few validation prompts, and eval.maxNewTokens filling n_positions, each named with its fix.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredEvent } from '../../src/protocol/trainer.js';
import { loadPolicy } from '../../src/trainer/model/policy.js';
import { readDataset } from '../../src/trainer/data/dataset.js';
import { Generator } from '../../src/trainer/model/generate.js';

const bin = path.resolve(__dirname, '../../../bin/alol.js');
let dir = '';
const audit = (config: string, out: string, ...sets: string[]) => {
  const args = ['audit', '--config', config, '--out', out, '--no-cache', ...sets.flatMap((s) => ['--set', s])];
  return spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8' });
};
const jsonl = <T>(file: string): T[] => readFileSync(path.join(dir, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as T);

const SPLIT = { validation: 0.3, test: 0.05, seed: 0 };
const MAX_NEW = 12;
const config = (extra: Record<string, unknown> = {}) => ({
  data: { path: 'data.jsonl', maxPromptTokens: 24, maxResponseTokens: 16, split: SPLIT },
  model: { init: { layers: 1, embd: 32, heads: 4, positions: 48 } },
  reference: { sft: null },
  rewards: [{ name: 'good', kind: 'module', path: 'spy.ts', range: [0, 1] }],
  // no `value`: fitOn "validation" is the default
  eval: { maxNewTokens: MAX_NEW },
  threads: 1,
  ...extra,
});

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-value-val-'));
  const rows = Array.from({ length: 64 }, (_, i) => JSON.stringify({ id: `r${i}`, prompt: `Q: item ${i}?\nA:`, response: ' a good one.' }));
  await writeFile(path.join(dir, 'data.jsonl'), `${rows.join('\n')}\n`);
  const log = JSON.stringify(path.join(dir, 'scored.jsonl'));
  await writeFile(
    path.join(dir, 'spy.ts'),
    `import { appendFileSync } from 'node:fs';\nexport default (b: { prompt: string; response: string }[]) => {\n` +
      `  for (const x of b) appendFileSync(${log}, JSON.stringify([x.prompt, x.response]) + '\\n');\n` +
      `  return b.map((x) => (x.response.includes('good') ? 0.9 : 0.1));\n};\n`,
  );
  await writeFile(path.join(dir, 'run.json'), JSON.stringify(config()));
  const field = { name: 'score', kind: 'field', field: 'reward', default: 0 };
  await writeFile(path.join(dir, 'field.json'), JSON.stringify(config({ rewards: [field] })));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('value.fitOn "validation"', () => {
  it("fits the head on the rewards of the reference's greedy generations of the validation prompts", async () => {
    const r = audit('run.json', 'run');
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);

    // The validation prompts, continued greedily here by the reference the run saved.
    const { rows } = await readDataset(path.join(dir, 'data.jsonl'), { format: 'auto', split: SPLIT });
    const train = rows.filter((x) => x.split === 'train');
    const prompts = [...new Set(rows.filter((x) => x.split === 'validation').map((x) => x.prompt))];
    assert.ok(prompts.length >= 12 && train.length >= 30, `${prompts.length} validation prompts, ${train.length} training rows`);
    const ref = await loadPolicy(path.join(dir, 'run', 'reference'));
    const gen = new Generator(ref.config, ref.params, ref.tokenizer, { threads: 1 });
    const greedy = await gen.generate(prompts.map((p) => ref.tokenizer.encode(p)), { maxNewTokens: MAX_NEW, temperature: 0 });
    await gen.dispose();

    // What the reward scored: the training rows, and each validation prompt once, with that greedy text.
    const scored = jsonl<[string, string]>('scored.jsonl');
    const trainPrompts = new Set(train.map((x) => x.prompt));
    const key = (p: string, response: string) => `${p}|${response}`;
    const onTrain = scored.filter(([p]) => trainPrompts.has(p));
    assert.deepEqual(onTrain.map(([p, resp]) => key(p, resp)).sort(), train.map((x) => key(x.prompt, x.response)).sort());
    const onValidation = scored.filter(([p]) => !trainPrompts.has(p));
    assert.deepEqual(onValidation.map(([p, resp]) => key(p, resp)).sort(), prompts.map((p, i) => key(p, greedy[i].text)).sort());
    assert.ok(greedy.every((g) => !g.text.includes('good')), 'the random reference never writes "good": every target is 0.1');

    // Fitted on those examples (targets 0.1): V of every training row is near 0.1, not near its reward 0.9.
    assert.match(r.stdout, new RegExp(`value head fitted on ${prompts.length} examples`));
    const computed = jsonl<StoredEvent>('run/events.jsonl').find((e) => e.type === 'advantages/didCompute');
    assert.ok(computed && computed.type === 'advantages/didCompute');
    assert.equal(computed.value.fitOn, 'validation');
    const adv = jsonl<{ reward: { total: number }; value: number; advantage: number }>('run/advantages.jsonl');
    assert.equal(adv.length, train.length);
    for (const a of adv) {
      assert.equal(a.reward.total, 0.9);
      assert.ok(a.value < 0.3, `V ${a.value}: the head was not fitted on the greedy generations' rewards (0.1)`);
    }
  });

  it('with a field reward it fails, naming the component and the fix', () => {
    const r = audit('field.json', 'run-field');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /value\.fitOn "validation" .*the reward "score" \(kind field\) cannot score.*hint: use value\.fitOn "train"/);
    assert.doesNotMatch(r.stdout, /\[(reference|rewards)\]/, 'checked before the first phase, not after minutes of fine-tuning');
    const failed = jsonl<StoredEvent>('run-field/events.jsonl').find((e) => e.type === 'run/didFail');
    assert.ok(failed && failed.type === 'run/didFail');
    assert.match(failed.hint ?? '', /value\.fitOn "train"/);
  });

  it('with fewer than 10 validation prompts it fails, saying how many there are and what to change', () => {
    const r = audit('run.json', 'run-few', 'data.split.validation=0.04');
    assert.notEqual(r.status, 0);
    const m = /needs at least 10 distinct validation prompts; the validation split has (\d+); hint: (.*)/.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.match(m[2], /^raise data\.split\.validation (\(now 0\.04\) )?or use value\.fitOn "train"$/);
    assert.ok(Number(m[1]) < 10);
  });

  it('with eval.maxNewTokens leaving no room for a prompt in n_positions it fails, naming both', () => {
    const r = audit('run.json', 'run-long', 'eval.maxNewTokens=48');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /eval\.maxNewTokens 48 leaves no room for prompts in n_positions 48; hint: lower eval\.maxNewTokens/);
  });
});
