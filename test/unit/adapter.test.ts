// Adapter folders (model/adapter.ts) in PEFT's layout: what GPT-2's and a Llama's adapter files hold
// (keys, shapes, fan_in_fan_out), a save/load round trip, and the errors of an adapter that does not fit
// its base — another base (fingerprint), a module the base lacks (a PEFT-made adapter, without our
// fingerprint file), a rank that disagrees with adapter_config.json — each naming the file and key.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ModelFileError } from '../../src/trainer/model/safetensors.js';
import { loadAdapterFolder, saveAdapterFolder } from '../../src/trainer/model/adapter.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { llamaConfig } from '../../src/trainer/model/llama-config.js';
import { initLoraParams, resolveLora } from '../../src/trainer/model/lora.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-adapter-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const gpt2 = gptConfig({ vocabSize: 13, nPositions: 8, nEmbd: 8, nLayer: 2, nHead: 2 });
const llama = (layers: number) => llamaConfig({ vocabSize: 13, nPositions: 8, nEmbd: 8, nLayer: layers, nHead: 4, nKvHead: 2, nInner: 16 });

function header(file: string): Record<string, { shape: number[] }> {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const h = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { shape: number[] }>;
  delete h.__metadata__;
  return h;
}

describe('adapter folders (PEFT layout)', () => {
  it('GPT-2: Conv1D modules, fan_in_fan_out true, keys base_model.model.<module>.lora_A/B.weight; loads back equal', async () => {
    const spec = resolveLora(gpt2, { r: 3, alpha: 6, dropout: 0.1, targets: ['c_attn', 'c_proj'] });
    const params = initLoraParams(gpt2, spec, 1);
    params.forEach((d) => d.forEach((_, i, a) => (a[i] += 0.01 * (i % 7))));
    const out = path.join(dir, 'gpt2');
    await saveAdapterFolder(out, { config: gpt2, spec, params, basePath: '/models/base' });
    const ac = JSON.parse(readFileSync(path.join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(
      [ac.peft_type, ac.task_type, ac.bias, ac.fan_in_fan_out, ac.r, ac.lora_alpha, ac.lora_dropout, ac.base_model_name_or_path],
      ['LORA', 'CAUSAL_LM', 'none', true, 3, 6, 0.1, '/models/base'],
    );
    assert.deepEqual(ac.target_modules, ['c_attn', 'c_proj']);
    const h = header(path.join(out, 'adapter_model.safetensors'));
    assert.equal(Object.keys(h).length, 2 * 3 * 2); // 2 layers x (c_attn, attn.c_proj, mlp.c_proj) x (A, B)
    assert.deepEqual(h['base_model.model.transformer.h.0.attn.c_attn.lora_A.weight'].shape, [3, 8]);
    assert.deepEqual(h['base_model.model.transformer.h.0.attn.c_attn.lora_B.weight'].shape, [24, 3]);
    assert.deepEqual(h['base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight'].shape, [3, 32]);
    const loaded = await loadAdapterFolder(out, gpt2);
    assert.deepEqual(loaded.spec, spec);
    assert.deepEqual(loaded.params, params);
    assert.equal(loaded.basePath, '/models/base');
  });

  it('errors name the file and key: another base, a module the base lacks, a rank that disagrees', async () => {
    const three = llama(3);
    const spec = resolveLora(three, { r: 2, alpha: 4, dropout: 0, targets: ['q_proj'] });
    const out = path.join(dir, 'llama3');
    await saveAdapterFolder(out, { config: three, spec, params: initLoraParams(three, spec, 1), basePath: null });
    await assert.rejects(loadAdapterFolder(out, llama(2)), (e: Error) => e instanceof ModelFileError
      && e.message.includes(path.join(out, 'alol-adapter.json')) && /fingerprint \w+ is of another base/.test(e.message));
    await unlink(path.join(out, 'alol-adapter.json')); // as an adapter written by PEFT: no fingerprint to check
    await assert.rejects(loadAdapterFolder(out, llama(2)), (e: Error) =>
      e instanceof ModelFileError && e.message.includes(path.join(out, 'adapter_model.safetensors')) &&
      e.message.includes('key base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight: ' +
        'the base has no module model.layers.2.self_attn.q_proj'));
    assert.equal((await loadAdapterFolder(out, three)).spec.modules.length, 3, 'loads onto its own base without the fingerprint file');
    const cfgFile = path.join(out, 'adapter_config.json');
    const ac = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
    await writeFile(cfgFile, JSON.stringify({ ...ac, r: 5 }));
    await assert.rejects(loadAdapterFolder(out, three), /lora_A\.weight has shape \[2, 8\]: rank 2, but adapter_config\.json says r = 5/);
    await writeFile(cfgFile, JSON.stringify({ ...ac, peft_type: 'IA3' }));
    await assert.rejects(loadAdapterFolder(out, three), /adapter_config\.json: peft_type is "IA3"; only "LORA"/);
  });
});
