// Every model verb on a Llama-layout model: `alol init-model --arch llama` (GQA), `pretrain`, `logprobs`,
// `generate`, `export-onnx --folder`; and `alol train` of a_lol on the synthetic task the GPT-2
// integration test uses (prompts with good and bad responses, a module reward reading only the text),
// where a_lol beats the reference on held-out sampled reward, the run says which architecture it
// trained (model/didLoad), and `alol eval` of the result reproduces its numbers.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredEvent } from '../../src/protocol/trainer.js';
import { writeWordTask } from '../helpers/word-task.js';

const bin = path.resolve(__dirname, '../../../bin/alol.js');
let dir = '';
const ok = (...args: string[]) => {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `alol ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
};
const json = (f: string) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Record<string, unknown>;
type Summary = { variants: Record<string, { heldout: unknown; heldoutSampled: { reward: { total: number } } }> };

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-llama-'));
  await writeWordTask(dir);
  await writeFile(path.join(dir, 'corpus.txt'), 'the cat sat on the mat. '.repeat(200));
  await writeFile(path.join(dir, 'rows.jsonl'), `${JSON.stringify({ prompt: 'Q: tea?\nA:', response: ' I like tea.' })}\n`);
});
after(() => rm(dir, { recursive: true, force: true }));

describe('alol verbs on a Llama-layout model', () => {
  it('init-model --arch llama writes a LlamaForCausalLM folder with grouped-query attention', () => {
    const out = ok('init-model', '--arch', 'llama', '--out', 'base', '--layers', '2', '--embd', '64', '--heads', '4', '--kv-heads', '2',
      '--positions', '64', '--seed', '1');
    assert.match(out, /llama, 2 layers, hidden 64, 4 heads \/ 2 kv heads \(GQA\)/);
    const c = json('base/config.json');
    assert.equal(c.model_type, 'llama');
    assert.deepEqual(c.architectures, ['LlamaForCausalLM']);
    assert.equal(c.num_key_value_heads, 2);
    assert.equal(c.max_position_embeddings, 64);
    const gqaOnGpt = spawnSync(process.execPath, [bin, 'init-model', '--out', 'x', '--kv-heads', '2'], { cwd: dir, encoding: 'utf8' });
    assert.equal(gqaOnGpt.status, 1);
    assert.match(gqaOnGpt.stderr, /--kv-heads, --inner and --tie-embeddings are Llama options.*--arch llama/);
    const uneven = spawnSync(process.execPath, [bin, 'init-model', '--arch', 'llama', '--out', 'x', '--heads', '8', '--kv-heads', '3'],
      { cwd: dir, encoding: 'utf8' });
    assert.equal(uneven.status, 1);
    assert.match(uneven.stderr, /--kv-heads 3 must divide --heads 8/);
  });

  it('pretrain, logprobs, generate and export-onnx --folder run on it', () => {
    ok('pretrain', '--model', 'base', '--text', 'corpus.txt', '--steps', '30', '--batch-size', '4', '--seq-len', '32', '--lr', '3e-3',
      '--warmup', '0', '--eval-every', '0', '--out', 'lm');
    ok('logprobs', '--model', 'lm', '--data', 'rows.jsonl', '--out', 'lp.jsonl');
    const lp = JSON.parse(readFileSync(path.join(dir, 'lp.jsonl'), 'utf8')) as { logprob: number; tokens: number };
    assert.equal(lp.tokens, ' I like tea.'.length);
    assert.ok(lp.logprob < 0 && Number.isFinite(lp.logprob));
    const text = ok('generate', '--model', 'lm', '--prompt', 'the cat', '--max-new-tokens', '12', '--temperature', '0');
    assert.ok(text.endsWith('\n') && text.length <= 13 * 4, JSON.stringify(text)); // at most 12 tokens (bytes) of text
    const out = ok('export-onnx', '--model', 'lm', '--folder', 'web');
    assert.match(out, /checked in a fresh session/);
    const files = readdirSync(path.join(dir, 'web')).sort();
    for (const f of ['config.json', 'model.safetensors', 'onnx', 'tokenizer.json']) {
      assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
    }
    assert.deepEqual(readdirSync(path.join(dir, 'web', 'onnx')), ['model.onnx']);
    assert.equal(json('web/config.json').model_type, 'llama');
  });

  it('train a_lol: beats the reference on held-out sampled reward, and the run names its architecture', async (t) => {
    const config = {
      data: { path: 'data.jsonl', maxPromptTokens: 32, maxResponseTokens: 24, split: { validation: 0.1, test: 0.1, seed: 0 } },
      model: { path: 'base' },
      reference: { sft: { steps: 300, lr: 3e-3 } },
      rewards: [{ name: 'task', kind: 'module', path: 'reward.ts', range: [0, 1] }],
      value: { fitOn: 'train', folds: 3, epochs: 4 },
      train: { variant: 'a_lol', steps: 300, lr: 1e-3, batchSize: 16, evalEvery: 0, checkpointEvery: 0 },
      eval: { maxNewTokens: 16, maxPrompts: 30, samplesPerPrompt: 4 },
      threads: 2,
    };
    await writeFile(path.join(dir, 'run.json'), JSON.stringify(config));
    ok('train', '--config', 'run.json', '--out', 'run');
    const s = json('run/summary.json') as unknown as Summary;
    const ref = s.variants.reference.heldoutSampled.reward.total;
    const alol = s.variants.a_lol.heldoutSampled.reward.total;
    t.diagnostic(`held-out sampled reward: a_lol ${alol.toFixed(3)}, reference ${ref.toFixed(3)}`);
    assert.ok(alol > ref + 0.1, `a_lol ${alol} vs reference ${ref}`);
    const events = readFileSync(path.join(dir, 'run', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StoredEvent);
    const loaded = events.find((e) => e.type === 'model/didLoad');
    assert.ok(loaded && loaded.type === 'model/didLoad');
    assert.deepEqual([loaded.modelType, loaded.layers, loaded.hidden, loaded.heads, loaded.kvHeads], ['llama', 2, 64, 4, 2]);
    assert.equal(json('run/a_lol/final/config.json').model_type, 'llama');
    ok('eval', '--config', 'run.json', '--model', path.join('run', 'a_lol', 'final'), '--out', 'run-eval');
    const evaluated = (json('run-eval/summary.json') as unknown as Summary).variants.a_lol;
    assert.deepEqual(evaluated.heldoutSampled, s.variants.a_lol.heldoutSampled);
  });
});
