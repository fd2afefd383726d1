// Hugging Face GPT-2 folders: the independent fixture loads, what we write matches its layout and
// loads back equal, F16/BF16 and the original gpt2 naming load, and every broken folder or
// unsupported config gives a ModelFileError naming the file and the tensor or key.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gptConfig, type GptConfig } from '../../src/trainer/model/gpt-config.js';
import { gpt2ConfigJson, loadModelFolder, parseGpt2Config, parseModelConfig, saveModelFolder } from '../../src/trainer/model/folder.js';
import { gptParamInfos, initGptParams } from '../../src/trainer/model/params.js';
import { initParams, paramInfos } from '../../src/trainer/model/family.js';
import { float32Tensor, readSafetensors, writeSafetensors, type SafeTensor } from '../../src/trainer/model/safetensors.js';
import { byteLevelTokenizerJson } from '../../src/trainer/model/tokenizer.js';
import { sharedPath } from '../helpers/shared.js';

const FIXTURE = sharedPath('fixtures', 'gpt2-tiny-independent', 'model');
const fixtureConfig = (): Record<string, unknown> => JSON.parse(readFileSync(path.join(FIXTURE, 'config.json'), 'utf8'));
const fixtureTensors = (): SafeTensor[] =>
  readSafetensors(new Uint8Array(readFileSync(path.join(FIXTURE, 'model.safetensors'))), 'fixture').tensors;

const temps: string[] = [];
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmpDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'alol-folder-'));
  temps.push(d);
  return d;
}
/** A folder from parts, to build the broken ones. */
function writeFolder(config: Record<string, unknown>, tensors: SafeTensor[], tokenizer: unknown = { model: {} }): string {
  const dir = path.join(tmpDir(), 'model');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(path.join(dir, 'model.safetensors'), writeSafetensors(tensors));
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  return dir;
}
async function rejectsCode(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof Error && 'code' in e, `not a ModelFileError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}
const throwsKey = (patch: Record<string, unknown>, message: RegExp) =>
  assert.throws(() => parseGpt2Config({ ...fixtureConfig(), ...patch }, 'config.json'), message);

// Exact encoders for the values used below (multiples of 1/16 of small magnitude), written here
// independently of the reader so a wrong decoder cannot agree with itself.
function f16Bits(x: number): number {
  if (x === 0) return Object.is(x, -0) ? 0x8000 : 0;
  const e = Math.floor(Math.log2(Math.abs(x)));
  const frac = (Math.abs(x) / 2 ** e - 1) * 1024;
  assert.ok(Number.isInteger(frac) && e >= -14 && e <= 15, `${x} is not an exact normal half`);
  return (x < 0 ? 0x8000 : 0) | ((e + 15) << 10) | frac;
}
const bf16Bits = (x: number): number => {
  const bits = new Uint32Array(new Float32Array([x]).buffer)[0];
  assert.equal(bits & 0xffff, 0, `${x} is not an exact bfloat16`);
  return bits >>> 16;
};

describe('model folder: the independent fixture', () => {
  it('loads with its config, 28 parameters, eos id and tokenizer', async () => {
    const m = await loadModelFolder(FIXTURE);
    const want = { arch: 'gpt2', vocabSize: 257, nPositions: 64, nEmbd: 64, nLayer: 2, nHead: 4, nInner: 256, layerNormEpsilon: 1e-5 };
    assert.deepEqual(m.config, want);
    assert.equal(m.params.size, 28);
    for (const info of paramInfos(m.config)) {
      assert.equal(m.params.get(info.name)?.length, info.shape.reduce((a, x) => a * x, 1), info.name);
    }
    assert.equal(m.eosTokenId, 256);
    assert.equal(m.hfConfig.model_type, 'gpt2');
    assert.ok(typeof m.tokenizerJson === 'object' && m.tokenizerJson !== null && 'model' in m.tokenizerJson);
    // Spot check against the raw little-endian bytes: wpe[1][2] and the last value of the last tensor.
    const raw = readFileSync(path.join(FIXTURE, 'model.safetensors'));
    const dataStart = 8 + Number(raw.readBigUInt64LE(0));
    assert.equal(fixtureTensors()[1].name, 'transformer.wpe.weight'); // at data offset 65792
    assert.equal(m.params.get('transformer.wpe.weight')?.[66], raw.readFloatLE(dataStart + 65792 + 66 * 4));
    assert.equal(m.params.get('transformer.h.1.mlp.c_proj.bias')?.[63], raw.readFloatLE(raw.length - 4));
  });

  it('a folder we write for its config has exactly its tensor names, shapes, dtypes and order', async () => {
    const cfg = parseGpt2Config(fixtureConfig(), 'config.json');
    const dir = path.join(tmpDir(), 'out');
    await saveModelFolder(dir, { config: cfg, params: initGptParams(cfg, 1), tokenizerJson: byteLevelTokenizerJson() });
    const ours = readSafetensors(new Uint8Array(readFileSync(path.join(dir, 'model.safetensors'))), 'ours');
    const layout = (ts: SafeTensor[]) => ts.map((t) => `${t.name} ${t.dtype} [${t.shape.join(',')}]`);
    assert.deepEqual(layout(ours.tensors), layout(fixtureTensors()));
    assert.deepEqual(ours.metadata, { format: 'pt' });
    const written = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    for (const [k, v] of Object.entries(fixtureConfig())) assert.deepEqual(written[k], v, k);
    assert.deepEqual(Object.keys(written), Object.keys(written).sort());
    assert.equal(written.resid_pdrop, 0);
    assert.equal(written.torch_dtype, 'float32');
  });

  it('save -> load round trip is exact, and saving over a folder replaces it atomically', async () => {
    const src = await loadModelFolder(FIXTURE);
    const parent = tmpDir();
    const dir = path.join(parent, 'copy');
    await saveModelFolder(dir, { config: src.config, params: src.params, tokenizerJson: src.tokenizerJson, extraConfig: src.hfConfig });
    const back = await loadModelFolder(dir);
    assert.deepEqual(back.config, src.config);
    assert.deepEqual(back.params, src.params);
    assert.deepEqual(back.tokenizerJson, src.tokenizerJson);
    assert.equal(back.eosTokenId, 256);
    const other = initParams(src.config, 7);
    await saveModelFolder(dir, { config: src.config, params: other, tokenizerJson: src.tokenizerJson });
    assert.deepEqual((await loadModelFolder(dir)).params, other);
    assert.deepEqual(readdirSync(parent), ['copy']); // no temporary or moved-aside folder left
  });

  it('refuses to save parameters that do not match the config', async () => {
    const cfg = gptConfig({ vocabSize: 8, nPositions: 4, nEmbd: 4, nLayer: 1, nHead: 2 });
    const params = initGptParams(cfg, 0);
    params.delete('transformer.ln_f.bias');
    const dir = path.join(tmpDir(), 'x');
    await assert.rejects(saveModelFolder(dir, { config: cfg, params, tokenizerJson: {} }), /parameter transformer\.ln_f\.bias is missing/);
    assert.equal(existsSync(dir), false);
  });
});

describe('model folder: other encodings and names', () => {
  const cfg: GptConfig = gptConfig({ vocabSize: 8, nPositions: 4, nEmbd: 4, nLayer: 1, nHead: 2 });
  // Values k/16, k in [-24, 24): exact in F16 and BF16.
  const values = new Map(gptParamInfos(cfg).map((p, j) => {
    const n = p.shape.reduce((a, x) => a * x, 1);
    return [p.name, Float32Array.from({ length: n }, (_, i) => (((i * 7 + j * 3) % 48) - 24) / 16)] as const;
  }));
  const encoded = (dtype: 'F16' | 'BF16', bits: (x: number) => number, rename = (s: string) => s): SafeTensor[] =>
    gptParamInfos(cfg).map((p) => ({
      name: rename(p.name),
      dtype,
      shape: [...p.shape],
      bytes: new Uint8Array(Uint16Array.from(values.get(p.name) ?? [], bits).buffer),
    }));

  it('loads F16 and BF16 weights as float32', async () => {
    for (const [dtype, bits] of [['F16', f16Bits], ['BF16', bf16Bits]] as const) {
      const m = await loadModelFolder(writeFolder(gpt2ConfigJson(cfg), encoded(dtype, bits)));
      assert.deepEqual(m.params, values, dtype);
    }
  });

  it('loads names without "transformer.", skips attention-mask buffers, accepts a tied lm_head', async () => {
    const ts = encoded('F16', f16Bits, (s) => s.replace(/^transformer\./, ''));
    const mask: SafeTensor = { name: 'h.0.attn.bias', dtype: 'U8', shape: [1, 1, 4, 4], bytes: new Uint8Array(16) };
    const masked: SafeTensor = { name: 'h.0.attn.masked_bias', dtype: 'F32', shape: [], bytes: new Uint8Array(4) };
    const lmHead = float32Tensor('lm_head.weight', [8, 4], values.get('transformer.wte.weight') ?? new Float32Array());
    const m = await loadModelFolder(writeFolder(gpt2ConfigJson(cfg), [...ts, mask, masked, lmHead]));
    assert.deepEqual(m.params, values);
  });
});

describe('model folder errors name the file and the tensor or key', () => {
  const copyFixture = (): string => {
    const dir = path.join(tmpDir(), 'model');
    cpSync(FIXTURE, dir, { recursive: true });
    return dir;
  };
  const weights = (dir: string) => path.join(dir, 'model.safetensors');
  const withTensors = (edit: (ts: SafeTensor[]) => SafeTensor[]) => writeFolder(fixtureConfig(), edit(fixtureTensors()));
  const fileRe = /model[/\\]model\.safetensors: /;

  it('truncated weights', async () => {
    const dir = copyFixture();
    const raw = readFileSync(weights(dir));
    writeFileSync(weights(dir), raw.subarray(0, raw.length - 100));
    await rejectsCode(
      loadModelFolder(dir),
      'truncated',
      new RegExp(`${fileRe.source}tensor transformer\\.h\\.1\\.mlp\\.c_proj\\.bias: .* go past the end`),
    );
  });
  it('corrupted header', async () => {
    const dir = copyFixture();
    const raw = readFileSync(weights(dir));
    raw.write('#', 9); // the opening quote of the first name
    writeFileSync(weights(dir), raw);
    await rejectsCode(loadModelFolder(dir), 'corrupt_header', new RegExp(`${fileRe.source}header is not valid JSON`));
  });
  it('offsets out of range', async () => {
    const dir = copyFixture();
    const raw = readFileSync(weights(dir));
    const n = Number(raw.readBigUInt64LE(0));
    const header = raw.subarray(8, 8 + n).toString('utf8').replace('[0,65792]', '[0,99999999]');
    writeFileSync(weights(dir), Buffer.concat([raw.subarray(0, 8), Buffer.from(header), raw.subarray(8 + n)]));
    await rejectsCode(
      loadModelFolder(dir),
      'bad_offsets',
      /tensor transformer\.wte\.weight: data_offsets \[0, 99999999\] hold 99999999 bytes but shape \[257,64\] F32 needs 65792/,
    );
  });
  it('missing tensor', async () => {
    const dir = withTensors((ts) => ts.filter((t) => t.name !== 'transformer.h.1.attn.c_proj.weight'));
    await rejectsCode(
      loadModelFolder(dir),
      'missing_tensor',
      new RegExp(`${fileRe.source}tensor transformer\\.h\\.1\\.attn\\.c_proj\\.weight \\(shape \\[64,64\\]\\) is missing`),
    );
  });
  it('wrong shape', async () => {
    const dir = withTensors((ts) => ts.map((t) => (t.name === 'transformer.wpe.weight' ? { ...t, shape: [32, 128] } : t)));
    await rejectsCode(
      loadModelFolder(dir),
      'wrong_shape',
      /tensor transformer\.wpe\.weight has shape \[32,128\] but config\.json implies \[64,64\]/,
    );
  });
  it('wrong dtype (I64 where a float is needed)', async () => {
    // The shape the config expects, so only the dtype is wrong.
    const dir = withTensors(
      (ts) => ts.map((t) => (t.name === 'transformer.ln_f.bias' ? { ...t, dtype: 'I64', bytes: new Uint8Array(64 * 8) } : t)),
    );
    await rejectsCode(loadModelFolder(dir), 'bad_dtype', /tensor transformer\.ln_f\.bias has dtype I64, but a float tensor/);
  });
  it('unexpected tensor, and an untied lm_head', async () => {
    const extra = float32Tensor('transformer.h.2.ln_1.weight', [64], new Float32Array(64));
    await rejectsCode(
      loadModelFolder(withTensors((ts) => [...ts, extra])),
      'unexpected_tensor',
      /unexpected tensor transformer\.h\.2\.ln_1\.weight; hint: .*n_layer 2/,
    );
    const head = float32Tensor('lm_head.weight', [257, 64], new Float32Array(257 * 64).fill(0.5));
    await rejectsCode(
      loadModelFolder(withTensors((ts) => [...ts, head])),
      'unexpected_tensor',
      /lm_head\.weight differs from transformer\.wte\.weight: untied LM heads are not supported/,
    );
  });
  it('missing files', async () => {
    const dir = copyFixture();
    rmSync(path.join(dir, 'tokenizer.json'));
    await rejectsCode(loadModelFolder(dir), 'missing_file', /model[/\\]tokenizer\.json is missing; hint:/);
    rmSync(weights(dir));
    await rejectsCode(loadModelFolder(dir), 'missing_file', /model[/\\]model\.safetensors is missing; hint: .*save_pretrained/);
  });
  it('unsupported config values name their key', () => {
    throwsKey({ model_type: 'llama' }, /config\.json: model_type "llama" is not supported \(supported: "gpt2"\)/); // parseGpt2Config itself
    assert.throws(() => parseModelConfig({ ...fixtureConfig(), model_type: 'bert' }, 'config.json'),
      /config\.json: model_type "bert" is not supported \(supported: "gpt2", "llama", "qwen2", "mistral"\)/);
    throwsKey(
      { activation_function: 'gelu' },
      /activation_function "gelu" is not supported \(supported: "gelu_new", "gelu_pytorch_tanh", "gelu_fast"\)/,
    );
    throwsKey({ activation_function: 'relu' }, /activation_function "relu"/);
    throwsKey({ scale_attn_weights: false }, /scale_attn_weights false is not supported/);
    throwsKey({ scale_attn_by_inverse_layer_idx: true }, /scale_attn_by_inverse_layer_idx true is not supported/);
    throwsKey({ add_cross_attention: true }, /add_cross_attention true is not supported/);
    throwsKey({ tie_word_embeddings: false }, /tie_word_embeddings false is not supported/);
    throwsKey({ n_embd: '64' }, /n_embd must be a positive integer, got "64"/);
    throwsKey({ n_head: 5 }, /config\.json: .*not divisible by nHead 5/);
    const noEmbd = fixtureConfig();
    delete noEmbd.n_embd;
    assert.throws(() => parseGpt2Config(noEmbd, 'config.json'), /config\.json: required key n_embd is missing/);
    assert.throws(() => parseGpt2Config([], 'config.json'), /expected a JSON object/);
  });
  it('tolerates every other GPT2Config and PretrainedConfig key, and n_ctx alone', () => {
    const rest = fixtureConfig();
    delete rest.n_positions;
    const cfg = parseGpt2Config(
      {
        ...rest, activation_function: 'gelu_pytorch_tanh', reorder_and_upcast_attn: true, resid_pdrop: 0.1, summary_type: 'cls_index',
        task_specific_params: { 'text-generation': { do_sample: true } }, torch_dtype: 'bfloat16', transformers_version: '4.46.0',
        _name_or_path: 'gpt2', use_cache: true, n_inner: 128, some_future_key: [1, 2],
      },
      'config.json',
    );
    assert.equal(cfg.nPositions, 64);
    assert.equal(cfg.nInner, 128);
  });
});
