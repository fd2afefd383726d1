// Llama-family folders: config.json of llama / qwen2 / mistral (rope_scaling, sliding windows, heads)
// read or refused with an error naming the file and key; sharded weights (model.safetensors.index.json)
// written here from the BF16 Llama fixture load to the same parameters and log-probs as the single
// file, and a missing shard, a tensor missing from its shard or of the wrong shape name the file and
// tensor; a saved folder reads back as the same model, in transformers' layout.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { configJson, loadModelFolder, parseModelConfig, saveModelFolder } from '../../src/trainer/model/folder.js';
import { Generator } from '../../src/trainer/model/generate.js';
import { initParams } from '../../src/trainer/model/family.js';
import { llamaConfig } from '../../src/trainer/model/llama-config.js';
import { LogprobScorer } from '../../src/trainer/model/logprobs.js';
import { readSafetensors, writeSafetensors } from '../../src/trainer/model/safetensors.js';
import { byteLevelTokenizer } from '../../src/trainer/model/tokenizer.js';
import { sharedPath } from '../helpers/shared.js';

const LLAMA = sharedPath('fixtures', 'llama-tiny-independent', 'model');
const QWEN = sharedPath('fixtures', 'qwen2-tiny-independent', 'model');
const configOf = (dir: string): Record<string, unknown> => JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));

const temps: string[] = [];
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmpDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'alol-llama-folder-'));
  temps.push(d);
  return d;
}

async function rejectsCode(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof Error && 'code' in e, `not a ModelFileError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

describe('Llama-family config.json', () => {
  const parse = (patch: Record<string, unknown>, base = configOf(LLAMA)) => parseModelConfig({ ...base, ...patch }, 'm/config.json');

  it('reads rope_scaling linear and llama3 (rope_type or the older type), and transformers 5\'s rope_parameters', () => {
    const lin = parse({ rope_scaling: { type: 'linear', factor: 2 } });
    assert.ok(lin.arch === 'llama' && lin.ropeScaling?.type === 'linear' && lin.ropeScaling.factor === 2);
    const l3 = parse({
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
    });
    assert.ok(l3.arch === 'llama' && l3.ropeScaling?.type === 'llama3' && l3.ropeScaling.originalMaxPositionEmbeddings === 64);
    const v5 = parse({ rope_theta: undefined, rope_parameters: { rope_type: 'default', rope_theta: 5e5 } });
    assert.ok(v5.arch === 'llama' && v5.ropeTheta === 5e5 && v5.ropeScaling === null);
    // what we write reads back as the same config
    assert.deepEqual(parseModelConfig(configJson(l3), 'x'), l3);
  });

  it('refuses other rope_scaling types, dynamic included, naming the file and key', () => {
    assert.throws(() => parse({ rope_scaling: { rope_type: 'yarn', factor: 4 } }),
      /m\/config\.json: rope_scaling\.rope_type "yarn" is not supported \(supported: "default", "linear", "llama3"\)/);
    assert.throws(() => parse({ rope_scaling: { type: 'longrope', factor: 4 } }),
      /m\/config\.json: rope_scaling\.type "longrope" is not supported/);
    assert.throws(() => parse({ rope_scaling: { type: 'dynamic', factor: 2 } }),
      /rope_scaling\.type "dynamic" is not supported .*; hint: .*KV cache/);
    assert.throws(() => parse({ rope_scaling: { rope_type: 'linear' } }),
      /m\/config\.json: rope_scaling\.factor must be a positive number/);
  });

  it('refuses unsupported values and model types, naming them', () => {
    assert.throws(() => parse({ model_type: 'qwen3' }),
      /m\/config\.json: model_type "qwen3" is not supported \(supported: "gpt2", "llama", "qwen2", "mistral"\)/);
    assert.throws(() => parse({ hidden_act: 'gelu' }), /m\/config\.json: hidden_act "gelu" is not supported \(supported: "silu"\)/);
    assert.throws(() => parse({ num_key_value_heads: 3 }), /m\/config\.json: num_key_value_heads 3 must divide num_attention_heads 4/);
    assert.throws(() => parse({ partial_rotary_factor: 0.5 }), /partial_rotary_factor 0\.5 is not supported/);
    assert.throws(() => parse({ intermediate_size: undefined }), /m\/config\.json: intermediate_size is required and missing/);
  });

  it('qwen2 with sliding_window and use_sliding_window false loads with no window; mistral\'s window limits sequences', async () => {
    const q = parse({ sliding_window: 32, use_sliding_window: false, max_window_layers: 2 }, configOf(QWEN));
    assert.ok(q.arch === 'llama' && q.slidingWindow === null && q.nPositions === 128);
    const m = parse({ model_type: 'mistral', sliding_window: 16 });
    assert.ok(m.arch === 'llama' && m.slidingWindow === 16 && m.nPositions === 16 && m.maxPositionEmbeddings === 128);
    const none = parse({ model_type: 'mistral', sliding_window: null });
    assert.ok(none.arch === 'llama' && none.slidingWindow === null && none.nPositions === 128);
    // A sequence longer than the window is refused before any compute, naming it.
    const src = await loadModelFolder(LLAMA);
    const gen = new Generator(m, src.params, { decode: () => '', eosTokenId: null }, { threads: 1 });
    await assert.rejects(gen.generate([new Array(10).fill(65)], { maxNewTokens: 8 }), /exceeds the sliding window 16 .*sliding_window/);
    await gen.dispose();
  });
});

describe('Llama-family folders: sharded weights', () => {
  const shard = (dir: string): void => {
    const file = readSafetensors(new Uint8Array(readFileSync(path.join(LLAMA, 'model.safetensors'))), 'fixture');
    rmSync(path.join(dir, 'model.safetensors'));
    const names = file.tensors.map((t) => t.name);
    const shards = new Map([
      ['model-00001-of-00002.safetensors', names.slice(0, 7)],
      ['model-00002-of-00002.safetensors', names.slice(7)],
    ]);
    const weightMap: Record<string, string> = {};
    for (const [f, ns] of shards) {
      writeFileSync(path.join(dir, f), writeSafetensors(file.tensors.filter((t) => ns.includes(t.name)), { format: 'pt' }));
      for (const n of ns) weightMap[n] = f;
    }
    writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  };
  const readIndex = (dir: string) =>
    JSON.parse(readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  const copy = (): string => {
    const dir = path.join(tmpDir(), 'model');
    cpSync(LLAMA, dir, { recursive: true });
    return dir;
  };

  it('a sharded BF16 folder loads to the same parameters and log-probs as the single file', async () => {
    const dir = copy();
    shard(dir);
    const [one, two] = [await loadModelFolder(LLAMA), await loadModelFolder(dir)];
    assert.deepEqual(two.config, one.config);
    assert.deepEqual(two.params, one.params);
    const rows = [{ prompt: [...Buffer.from('Human: hi\n\nAssistant:')], response: [...Buffer.from(' Hello there.')] }];
    const score = async (m: typeof one) => {
      const s = new LogprobScorer(m.config, m.params);
      const [r] = await s.score(rows, { batchSize: 1, addEos: false, eosTokenId: null, threads: 1 });
      await s.dispose();
      return r;
    };
    const [a, b] = [await score(one), await score(two)];
    assert.deepEqual(b.tokenLogprobs, a.tokenLogprobs);
    assert.ok(a.logprob < -1, `${a.logprob}`);
  });

  it('a missing shard names the shard and a tensor in it', async () => {
    const dir = copy();
    shard(dir);
    rmSync(path.join(dir, 'model-00002-of-00002.safetensors'));
    await rejectsCode(loadModelFolder(dir), 'missing_file', /model[/\\]model-00002-of-00002\.safetensors is missing \(it holds \S+\)/);
  });

  it('a tensor the index places in a shard that lacks it, and a tensor of the wrong shape, name the file and tensor', async () => {
    const dir = copy();
    shard(dir);
    const index = readIndex(dir);
    index.weight_map['model.layers.1.mlp.extra.weight'] = 'model-00001-of-00002.safetensors';
    writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    await rejectsCode(loadModelFolder(dir), 'missing_tensor',
      /model-00001-of-00002\.safetensors: tensor model\.layers\.1\.mlp\.extra\.weight is missing \(.*index\.json places it/);

    const bad = copy();
    shard(bad);
    const name = 'model.layers.1.self_attn.k_proj.weight';
    const holder = readIndex(bad).weight_map[name];
    const tensors = readSafetensors(new Uint8Array(readFileSync(path.join(bad, holder))), holder).tensors
      .map((t) => (t.name === name ? { ...t, shape: [t.shape[1], t.shape[0]] } : t)); // [32, 64] -> [64, 32]: as many values
    writeFileSync(path.join(bad, holder), writeSafetensors(tensors));
    await rejectsCode(loadModelFolder(bad), 'wrong_shape',
      new RegExp('model-0000\\d-of-00002\\.safetensors: tensor model\\.layers\\.1\\.self_attn\\.k_proj\\.weight '
        + 'has shape \\[64,32\\] but config\\.json implies \\[32,64\\]'));
  });
});

describe('Llama-family folders: save and load', () => {
  for (const src of [LLAMA, QWEN]) {
    it(`${path.basename(path.dirname(src))}: save -> load is exact, in transformers' layout`, async () => {
      const m = await loadModelFolder(src);
      const dir = path.join(tmpDir(), 'copy');
      await saveModelFolder(dir, { config: m.config, params: m.params, tokenizerJson: m.tokenizerJson, extraConfig: m.hfConfig });
      const back = await loadModelFolder(dir);
      assert.deepEqual(back.config, m.config);
      assert.deepEqual(back.params, m.params);
      assert.equal(back.eosTokenId, 256);
      const written = configOf(dir);
      const original = configOf(src);
      const keys = ['model_type', 'architectures', 'hidden_size', 'num_key_value_heads', 'rope_theta', 'tie_word_embeddings'];
      for (const k of keys) {
        assert.deepEqual(written[k], original[k], k);
      }
      assert.equal(written.torch_dtype, 'float32');
      const names = readSafetensors(new Uint8Array(readFileSync(path.join(dir, 'model.safetensors'))), 'ours').tensors.map((t) => t.name);
      assert.equal(names.includes('lm_head.weight'), m.hfConfig.tie_word_embeddings === false);
    });
  }

  it('a tied lm_head stored anyway is accepted when equal to the embedding, refused otherwise', async () => {
    const tok = byteLevelTokenizer(); // saved folders are complete: their tokenizer files come from a real tokenizer
    const cfg = llamaConfig({ vocabSize: tok.vocabSize, nPositions: 8, nEmbd: 4, nLayer: 1, nHead: 2, tieWordEmbeddings: true });
    const params = initParams(cfg, 0);
    const dir = path.join(tmpDir(), 'tied');
    await saveModelFolder(dir, { config: cfg, params, tokenizerJson: tok.toJSON() });
    const file = readSafetensors(new Uint8Array(readFileSync(path.join(dir, 'model.safetensors'))), 'x');
    const embed = file.tensors.find((t) => t.name === 'model.embed_tokens.weight');
    assert.ok(embed);
    writeFileSync(path.join(dir, 'model.safetensors'), writeSafetensors([...file.tensors, { ...embed, name: 'lm_head.weight' }]));
    assert.deepEqual((await loadModelFolder(dir)).params, params);
    const other = { ...embed, name: 'lm_head.weight', bytes: new Uint8Array(embed.bytes.length).fill(7) };
    writeFileSync(path.join(dir, 'model.safetensors'), writeSafetensors([...file.tensors, other]));
    await rejectsCode(loadModelFolder(dir), 'unexpected_tensor', /lm_head\.weight differs from model\.embed_tokens\.weight/);
  });
});
