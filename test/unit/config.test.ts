// The run config: DESIGN.md's example parses as written, defaults fill every field, unknown keys and
// bad values are errors naming the file and key path, --set overrides, JSON with comments.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { RunConfigSchema } from '../../src/protocol/config.js';
import { applySet, loadRunConfig, parseConfigText, validateConfig } from '../../src/trainer/run/load-config.js';
import { sharedPath } from '../helpers/shared.js';

describe('run config', () => {
  it("DESIGN.md's example config parses, with its comments", () => {
    const design = readFileSync(sharedPath('DESIGN.md'), 'utf8');
    const block = /```jsonc\n([\s\S]*?)```/.exec(design)?.[1];
    assert.ok(block, 'the jsonc block in DESIGN.md');
    const c = validateConfig(parseConfigText(block, 'DESIGN.md'), 'DESIGN.md');
    assert.equal(c.train.variant, 'a_lol');
    assert.equal(c.train.clipEps, 0.9);
    assert.deepEqual(c.rewards.map((r) => r.kind), ['builtin', 'module', 'field', 'onnx']);
    assert.equal(c.value.fitOn, 'validation');
  });

  it('every field has a default', () => {
    const c = RunConfigSchema.parse({});
    assert.equal(c.data.path, 'data/train.jsonl');
    assert.deepEqual(c.data.split, { validation: 0.05, test: 0.05, seed: 0 });
    assert.deepEqual(c.model, { path: 'models/base' });
    assert.deepEqual(c.reference, { path: null, sft: { steps: 2000, lr: 3e-4, lora: null } });
    assert.equal(c.train.steps, 2000);
    assert.equal(c.train.lora, null, 'full fine-tuning unless train.lora is set');
    const lora = RunConfigSchema.parse({ train: { lora: {} } }).train.lora;
    assert.deepEqual(lora, { r: 16, alpha: 32, dropout: 0.05, targets: 'all-linear' });
    assert.equal(c.eval.samplesPerPrompt, 4);
    assert.equal(c.device, 'auto');
    assert.equal(c.threads, 2);
  });

  it('unknown keys and bad values are errors naming file and path, all at once', () => {
    assert.throws(
      () => validateConfig({ train: { variant: 'a_lol_xx', stpes: 3 }, data: { split: { validation: 0.6, test: 0.5 } } }, 'run.json'),
      (e: Error) => {
        assert.match(e.message, /run\.json: train: unknown key "stpes"/);
        assert.match(e.message, /run\.json: train\.variant: /);
        assert.match(e.message, /run\.json: data\.split: validation \+ test must leave rows for training/);
        return true;
      },
    );
    assert.throws(() => validateConfig({
      rewards: [{ name: 'a', kind: 'field', field: 'reward' }, { name: 'a', kind: 'builtin', scorer: 'sentiment' }],
    }, 'r.json'), /r\.json: rewards\.1\.name: duplicate reward name 'a'/);
    assert.throws(() => validateConfig({ rewards: [{ name: 'm', kind: 'module', path: 'x.ts', range: [1, 0] }] }, 'r.json'),
      /rewards\.0\.range: range must be \[lo, hi\]/);
  });

  it('--set overrides nested keys, parses JSON values, and reaches array entries', () => {
    const raw: Record<string, unknown> = { rewards: [{ name: 'label', kind: 'field', field: 'reward' }] };
    applySet(raw, 'train.variant=a_lol_seq');
    applySet(raw, 'train.lr=0.001');
    applySet(raw, 'rewards.0.weight=0.5');
    applySet(raw, 'data.path=some/file.jsonl');
    const c = validateConfig(raw, '--set');
    assert.equal(c.train.variant, 'a_lol_seq');
    assert.equal(c.train.lr, 0.001);
    assert.equal(c.rewards[0].weight, 0.5);
    assert.equal(c.data.path, 'some/file.jsonl');
    assert.equal(c.data.chatTemplate, false, 'prompts as they are unless asked');
    applySet(raw, 'data.chatTemplate=true');
    assert.equal(validateConfig(raw, '--set').data.chatTemplate, true);
    assert.throws(() => applySet({}, 'novalue'), /expected key\.path=value/);
  });

  it('loads a file with comments and trailing commas; a syntax error names the line', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'alol-config-'));
    const good = path.join(dir, 'run.jsonc');
    await writeFile(good, '{\n  // a comment\n  "train": { "steps": 10, },\n}\n');
    const loaded = await loadRunConfig(good, ['train.seed=3']);
    assert.equal(loaded.config.train.steps, 10);
    assert.equal(loaded.config.train.seed, 3);
    assert.equal(loaded.baseDir, dir);
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{\n  "train": {\n    "steps": 10 "x"\n  }\n}\n');
    await assert.rejects(loadRunConfig(bad), /bad\.json:3: CommaExpected/);
  });
});

describe('backend (the compute backend)', () => {
  const torch = (backend: object, rest: object = {}) => validateConfig({ backend: { kind: 'torch', ...backend }, ...rest }, 'run.json');
  it('defaults to the built-in engine; the torch backend takes its settings', () => {
    assert.deepEqual(validateConfig({}, 'run.json').backend,
      { kind: 'builtin', launcher: 'none', processes: 1, fsdp: false, precision: 'float32', quantization: 'none' });
    assert.equal(torch({ launcher: 'torchrun', processes: 4, precision: 'bfloat16' }).backend.processes, 4);
  });
  it('never takes the interpreter from the run config, and says where it comes from', () => {
    const why = /run\.json: backend: unknown key "python" \(the interpreter is never named in a run config: pass `--python PATH`/;
    assert.throws(() => torch({ python: '/usr/bin/python3' }), why);
  });
  it('refuses what cannot work, naming the key: torch settings on the built-in engine, processes without a launcher, fsdp, webgpu', () => {
    const builtin = { backend: { processes: 2, launcher: 'torchrun' } };
    assert.throws(() => validateConfig(builtin, 'run.json'), /backend\.kind: .*set kind to "torch"/);
    assert.throws(() => torch({ processes: 2 }), /backend\.launcher: 2 processes need a launcher/);
    assert.throws(() => torch({ fsdp: true }), /backend\.fsdp: FSDP is not supported yet/);
    assert.throws(() => torch({}, { device: 'webgpu' }), /run\.json: device: webgpu is the built-in engine's/);
  });
  it('4-bit (nf4) trains LoRA only: train.lora, and reference.sft.lora when the reference is fine-tuned', () => {
    const lora = { r: 8, alpha: 16, dropout: 0, targets: 'all-linear' };
    assert.throws(() => torch({ quantization: 'nf4' }), /train\.lora: a 4-bit \(nf4\) model trains LoRA adapters only/);
    assert.throws(() => torch({ quantization: 'nf4' }, { train: { lora } }), /reference\.sft\.lora: a 4-bit/);
    const ok = torch({ quantization: 'nf4' }, { train: { lora }, reference: { sft: { steps: 10, lr: 1e-4, lora } } });
    assert.equal(ok.backend.quantization, 'nf4');
    assert.equal(torch({ quantization: 'nf4' }, { train: { lora }, reference: { sft: null } }).reference.sft, null);
  });
});
