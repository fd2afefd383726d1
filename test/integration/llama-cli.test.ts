// Every model verb on a Llama-layout model: `alol init-model --arch llama` (GQA), `pretrain`, `logprobs`,
// `generate`, `export-onnx --folder`; and `alol train` of a_lol on the synthetic task the GPT-2
// integration test uses (prompts with good and bad responses, a module reward reading only the text),
// where a_lol beats the reference on held-out sampled reward, the run says which architecture it
// trained (model/didLoad), and `alol eval` of the result reproduces its numbers.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
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

// LoRA on the same model and task (the reference fine-tuning and the audit come from the cache of the run above).
describe('LoRA on a Llama-layout model', () => {
  const lora = { r: 8, alpha: 16, dropout: 0.05, targets: 'all-linear' };
  const adapterKeys = (file: string): Record<string, { shape: number[] }> => {
    const bytes = readFileSync(path.join(dir, file));
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { shape: number[] }>;
    delete header.__metadata__;
    return header;
  };

  it('train a_lol with train.lora: beats the reference; final/ is a PEFT adapter naming its base, with the training state', async (t) => {
    const config = JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as { train: Record<string, unknown> };
    config.train = { ...config.train, lr: 3e-3, checkpointEvery: 40, lora };
    await writeFile(path.join(dir, 'run-lora.json'), JSON.stringify(config));
    const out = ok('train', '--config', 'run-lora.json', '--out', 'run-lora');
    const names = 'q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj';
    assert.ok(out.includes(`LoRA: the policy trains adapters of rank 8 (alpha 16) on 14 projections (${names})`), out);
    const s = json('run-lora/summary.json') as unknown as Summary;
    const ref = s.variants.reference.heldoutSampled.reward.total;
    const alol = s.variants.a_lol.heldoutSampled.reward.total;
    t.diagnostic(`held-out sampled reward: a_lol with LoRA ${alol.toFixed(3)}, reference ${ref.toFixed(3)}`);
    assert.ok(alol > ref + 0.1, `a_lol (LoRA) ${alol} vs reference ${ref}`);

    const files = readdirSync(path.join(dir, 'run-lora', 'a_lol', 'final')).sort();
    assert.deepEqual(files, ['adapter_config.json', 'adapter_model.safetensors', 'alol-adapter.json', 'optimizer.safetensors',
      'training_state.json']);
    const ac = json('run-lora/a_lol/final/adapter_config.json');
    assert.equal(ac.peft_type, 'LORA');
    assert.equal(ac.task_type, 'CAUSAL_LM');
    assert.equal(ac.bias, 'none');
    assert.equal(ac.fan_in_fan_out, false);
    assert.deepEqual([ac.r, ac.lora_alpha, ac.lora_dropout], [8, 16, 0.05]);
    assert.deepEqual(ac.target_modules, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    assert.equal(ac.base_model_name_or_path, path.join(dir, 'run-lora', 'reference'));
    const keys = adapterKeys('run-lora/a_lol/final/adapter_model.safetensors');
    assert.equal(Object.keys(keys).length, 2 * 7 * 2);
    assert.deepEqual(keys['base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight'].shape, [8, 64]);
    assert.deepEqual(keys['base_model.model.model.layers.1.mlp.down_proj.lora_B.weight'].shape, [64, 8]);
    const loaded = readFileSync(path.join(dir, 'run-lora', 'events.jsonl'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l) as StoredEvent).find((e) => e.type === 'model/didLoad');
    assert.ok(loaded && loaded.type === 'model/didLoad' && loaded.lora);
    // per layer, r (in + out): q, o 64 -> 64; k, v 64 -> 32; gate, up, down 64 <-> 192 (intermediate_size)
    const perLayer = 8 * (64 + 64) * 2 + 8 * (64 + 32) * 2 + 8 * (64 + 192) * 3;
    assert.equal(loaded.trainable, 2 * perLayer);
  });

  it('eval of the adapter folder (its base found from adapter_config.json) reproduces summary.json; --adapter says the same', () => {
    const s = json('run-lora/summary.json') as unknown as Summary;
    ok('eval', '--config', 'run-lora.json', '--model', path.join('run-lora', 'a_lol', 'final'), '--out', 'run-lora-eval');
    assert.deepEqual((json('run-lora-eval/summary.json') as unknown as Summary).variants.a_lol.heldoutSampled,
      s.variants.a_lol.heldoutSampled);
    const adapter = path.join('run-lora', 'a_lol', 'final');
    ok('eval', '--config', 'run-lora.json', '--model', path.join('run-lora', 'reference'), '--adapter', adapter, '--out', 'run-lora-eval2');
    assert.deepEqual((json('run-lora-eval2/summary.json') as unknown as Summary).variants.a_lol.heldoutSampled,
      s.variants.a_lol.heldoutSampled);
  });

  it('merge-adapter writes a full model that generates what base + adapter generates', () => {
    const adapter = path.join('run-lora', 'a_lol', 'final');
    const out = ok('merge-adapter', '--model', path.join('run-lora', 'reference'), '--adapter', adapter, '--out', 'merged');
    assert.match(out, /merged in \(r 8, alpha 16, 14 projections/);
    const gen = (...model: string[]) => ok('generate', ...model, '--prompt', 'Q: tea? #3\nA:', '--max-new-tokens', '12');
    const viaAdapter = gen('--model', path.join('run-lora', 'reference'), '--adapter', adapter);
    assert.equal(gen('--model', 'merged'), viaAdapter);
    assert.equal(gen('--model', adapter), viaAdapter);
    // log-probs: the adapter moved them, and the merged model has the adapter's
    const lp = (name: string, ...model: string[]) => {
      ok('logprobs', ...model, '--data', 'rows.jsonl', '--out', `${name}.jsonl`);
      return (JSON.parse(readFileSync(path.join(dir, `${name}.jsonl`), 'utf8')) as { logprob: number }).logprob;
    };
    const [base, on, merged] = [lp('lp-base', '--model', path.join('run-lora', 'reference')),
      lp('lp-on', '--model', path.join('run-lora', 'reference'), '--adapter', adapter), lp('lp-merged', '--model', 'merged')];
    assert.ok(Math.abs(on - base) > 1e-3, `adapter on ${on}, base ${base}`);
    assert.ok(Math.abs(on - merged) <= 1e-5 * Math.abs(on), `adapter on ${on}, merged ${merged}`);
    // export-onnx merges it too (and checks the graph against the trainer's on the merged weights before writing)
    assert.match(ok('export-onnx', '--model', path.join('run-lora', 'reference'), '--adapter', adapter, '--out', 'lora.onnx'),
      /checked in a fresh session/);
  });

  it('resume from a mid-run LoRA checkpoint gives the same losses and adapter bytes as the uninterrupted run', async () => {
    const ckpts = readdirSync(path.join(dir, 'run-lora', 'a_lol', 'checkpoints')).sort();
    assert.ok(ckpts.length >= 2, `checkpoints: ${ckpts.join(', ')}`);
    const at = Number(ckpts[0].slice('step-'.length));
    assert.ok(readdirSync(path.join(dir, 'run-lora', 'a_lol', 'checkpoints', ckpts[0])).includes('adapter_model.safetensors'));
    const from = path.join('run-lora', 'a_lol', 'checkpoints', ckpts[0]);
    ok('train', '--config', 'run-lora.json', '--resume', from, '--out', 'run-lora-resumed');
    const losses = (runDir: string) => readFileSync(path.join(dir, runDir, 'events.jsonl'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l) as StoredEvent)
      .flatMap((e) => (e.type === 'step/didComplete' && e.phase === 'training' ? [[e.step, e.loss]] : []));
    const whole = losses('run-lora').filter(([step]) => step > at);
    assert.ok(whole.length > 0);
    assert.deepEqual(losses('run-lora-resumed'), whole);
    const bytes = (runDir: string) => readFileSync(path.join(dir, runDir, 'a_lol', 'final', 'adapter_model.safetensors'));
    assert.deepEqual(bytes('run-lora-resumed'), bytes('run-lora'));
  });

  it('adapters that do not fit are clear errors naming the file and key; an unknown target lists the model\'s names', async () => {
    const fail = (...args: string[]) => {
      const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8' });
      assert.equal(r.status, 1, r.stdout);
      return r.stderr;
    };
    const adapter = path.join(dir, 'run-lora', 'a_lol', 'final');
    // another base: a wider model
    ok('init-model', '--arch', 'llama', '--out', 'wide', '--layers', '2', '--embd', '96', '--heads', '4', '--positions', '64');
    assert.match(fail('generate', '--model', 'wide', '--adapter', adapter, '--prompt', 'x'),
      /alol-adapter\.json: fingerprint \w+ is of another base \(llama, 2 layers, hidden 64.*this base is llama, 2 layers, hidden 96/);
    // a rank that disagrees with adapter_config.json
    const bad = path.join(dir, 'bad-rank');
    await cp(adapter, bad, { recursive: true });
    const cfg = JSON.parse(readFileSync(path.join(bad, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(path.join(bad, 'adapter_config.json'), JSON.stringify({ ...cfg, r: 4 }));
    assert.match(fail('generate', '--model', path.join('run-lora', 'reference'), '--adapter', bad, '--prompt', 'x'),
      new RegExp('adapter_model\\.safetensors: key base_model\\.model\\.model\\.layers\\.0\\.self_attn\\.q_proj\\.lora_A\\.weight ' +
        'has shape \\[8, 64\\]: rank 8, but adapter_config\\.json says r = 4'));
    // an unknown target, before any training
    const config = JSON.parse(readFileSync(path.join(dir, 'run-lora.json'), 'utf8')) as { train: Record<string, unknown> };
    config.train = { ...config.train, lora: { ...lora, targets: ['q_proj', 'c_attn'] } };
    await writeFile(path.join(dir, 'run-bad.json'), JSON.stringify(config));
    assert.match(fail('train', '--config', 'run-bad.json', '--out', 'run-bad'),
      /train\.lora\.targets: 'c_attn' is not a module of this model.*q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj/);
  });
});
