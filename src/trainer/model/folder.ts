// Hugging Face model folders — GPT-2 (GPT2LMHeadModel) and the Llama family (LlamaForCausalLM,
// Qwen2ForCausalLM, MistralForCausalLM): config.json + model.safetensors (or shards with
// model.safetensors.index.json, weights.ts) + tokenizer.json (+ the tokenizer files of hf-files.ts), read
// into a ModelConfig and float32 parameters under the family's names (family.ts), and written back so `transformers`
// (AutoModelForCausalLM.from_pretrained) loads them. Only what our models compute is accepted;
// anything else is an error naming the key or tensor.

import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ModelConfig } from './config.js';
import { paramInfos } from './family.js';
import { validateGptConfig, type GptConfig } from './gpt-config.js';
import { LLAMA_MODEL_TYPES, type LlamaModelType, llamaConfigJson, parseLlamaConfig, validateLlamaConfig } from './llama-config.js';
import { ModelFileError, float32Tensor, numel, writeSafetensors } from './safetensors.js';
import { WEIGHTS_FILE, WEIGHTS_INDEX_FILE, paramsFromTensors, readWeightTensors } from './weights.js';
import { NO_TOKENIZER_FILES, type TokenizerFiles, readTokenizerFiles, tokenizerFolderFiles } from './hf-files.js';

export const CONFIG_FILE = 'config.json';
export { WEIGHTS_FILE, WEIGHTS_INDEX_FILE };
export const TOKENIZER_FILE = 'tokenizer.json';

export interface ModelFolder {
  dir: string;
  config: ModelConfig;
  /** config.json as written, for keys we do not model (bos/eos ids, task_specific_params, ...). */
  hfConfig: Record<string, unknown>;
  /** float32 parameters, named and shaped as paramInfos(config). */
  params: Map<string, Float32Array>;
  tokenizerJson: unknown;
  /** tokenizer_config.json, generation_config.json, chat_template.jinja (hf-files.ts). */
  tokenizerFiles: TokenizerFiles;
  eosTokenId: number | null;
}

export interface ModelToSave {
  config: ModelConfig;
  params: Map<string, Float32Array>;
  tokenizerJson: unknown;
  /** The source folder's tokenizer files, carried into the saved folder (none: built from the tokenizer). */
  tokenizerFiles?: TokenizerFiles;
  /** Extra config.json keys (e.g. the loaded hfConfig); keys describing the model are ours. */
  extraConfig?: Record<string, unknown>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

// All are the tanh approximation 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))), the only GELU our graph has.
const TANH_GELUS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'];

const SUPPORTED_TYPES = ['gpt2', ...LLAMA_MODEL_TYPES].map((t) => `"${t}"`).join(', ');

/** Maps a config.json dict onto the ModelConfig of its model_type; unknown keys are tolerated, unsupported values are errors. */
export function parseModelConfig(json: unknown, file: string): ModelConfig {
  if (!isRecord(json)) throw new ModelFileError('bad_config', `${file}: expected a JSON object, got ${show(json)}`);
  const type = json.model_type;
  if (type === 'gpt2') return parseGpt2Config(json, file);
  if (LLAMA_MODEL_TYPES.includes(type as LlamaModelType)) return parseLlamaConfig(json, file);
  if (type === undefined) {
    throw new ModelFileError('bad_config', `${file}: required key model_type is missing (supported: ${SUPPORTED_TYPES})`);
  }
  throw new ModelFileError(
    'unsupported_config',
    `${file}: model_type ${show(type)} is not supported (supported: ${SUPPORTED_TYPES})`,
    'this trainer implements GPT-2 and the Llama family (Llama, Qwen2, Mistral)',
  );
}

/** Maps a GPT2Config dict onto GptConfig; unknown keys are tolerated, unsupported values are errors. */
export function parseGpt2Config(json: unknown, file: string): GptConfig {
  if (!isRecord(json)) throw new ModelFileError('bad_config', `${file}: expected a JSON object, got ${show(json)}`);
  const c = json;
  const unsupported = (key: string, supported: string) =>
    new ModelFileError(
      'unsupported_config',
      `${file}: ${key} ${show(c[key])} is not supported (supported: ${supported})`,
      'this trainer implements GPT-2 (GPT2LMHeadModel) only',
    );
  const posInt = (key: string, fallbackKey?: string): number => {
    const k = key in c || fallbackKey === undefined ? key : fallbackKey;
    if (!(k in c)) {
      throw new ModelFileError('bad_config', `${file}: required key ${key}${fallbackKey ? ` (or ${fallbackKey})` : ''} is missing`);
    }
    const v = c[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw new ModelFileError('bad_config', `${file}: ${k} must be a positive integer, got ${show(v)}`);
    }
    return v;
  };
  // A flag's value when absent is GPT2Config's default, which is always the supported one.
  const flag = (key: string, supported: boolean): void => {
    if (!(key in c) || c[key] === null) return;
    if (typeof c[key] !== 'boolean') throw new ModelFileError('bad_config', `${file}: ${key} must be true or false, got ${show(c[key])}`);
    if (c[key] !== supported) throw unsupported(key, String(supported));
  };

  if (c.model_type !== 'gpt2') {
    if (!('model_type' in c)) throw new ModelFileError('bad_config', `${file}: required key model_type is missing (expected "gpt2")`);
    throw unsupported('model_type', '"gpt2"');
  }
  if ('activation_function' in c && !TANH_GELUS.includes(c.activation_function as string)) {
    throw unsupported('activation_function', TANH_GELUS.map((a) => `"${a}"`).join(', '));
  }
  flag('scale_attn_weights', true);
  flag('scale_attn_by_inverse_layer_idx', false);
  flag('add_cross_attention', false);
  flag('tie_word_embeddings', true);
  // reorder_and_upcast_attn only changes the precision of the attention scores: accepted as is.
  if ('reorder_and_upcast_attn' in c && typeof c.reorder_and_upcast_attn !== 'boolean') {
    const got = show(c.reorder_and_upcast_attn);
    throw new ModelFileError('bad_config', `${file}: reorder_and_upcast_attn must be true or false, got ${got}`);
  }

  const nEmbd = posInt('n_embd');
  const nInner = c.n_inner === undefined || c.n_inner === null ? 4 * nEmbd : posInt('n_inner');
  const eps = c.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0)) {
    throw new ModelFileError('bad_config', `${file}: layer_norm_epsilon must be a positive number, got ${show(eps)}`);
  }
  const cfg: GptConfig = {
    arch: 'gpt2',
    vocabSize: posInt('vocab_size'),
    nPositions: posInt('n_positions', 'n_ctx'),
    nEmbd,
    nLayer: posInt('n_layer'),
    nHead: posInt('n_head'),
    nInner,
    layerNormEpsilon: eps,
  };
  try {
    validateGptConfig(cfg);
  } catch (e) {
    throw new ModelFileError('bad_config', `${file}: ${(e as Error).message}`);
  }
  return cfg;
}

/** eos_token_id as one id (the first when a list), or null when absent. */
function eosTokenOf(c: Record<string, unknown>, cfg: ModelConfig, file: string): number | null {
  const v = Array.isArray(c.eos_token_id) ? c.eos_token_id[0] : c.eos_token_id;
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= cfg.vocabSize) {
    const id = show(c.eos_token_id);
    throw new ModelFileError('bad_config', `${file}: eos_token_id ${id} is not a token id below vocab_size ${cfg.vocabSize}`);
  }
  return v;
}

async function readIn(dir: string, name: string, hint: string): Promise<Buffer> {
  const file = path.join(dir, name);
  try {
    return await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ModelFileError('missing_file', `${file} is missing`, hint);
    throw e;
  }
}

function parseJson(buf: Buffer, file: string): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new ModelFileError('bad_config', `${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** The folder a weights map was read from, as long as it is the very map loadModelFolder returned (never changed). */
const sources = new WeakMap<ReadonlyMap<string, Float32Array>, string>();

/**
 * The folder `params` were loaded from, or null (weights made or changed in this process). A worker backend loads
 * that folder itself instead of a copy written from the float32 weights.
 */
export const sourceFolderOf = (params: ReadonlyMap<string, Float32Array>): string | null => sources.get(params) ?? null;

/** Loads and checks a Hugging Face model folder; every problem is a ModelFileError naming file and key/tensor. */
export async function loadModelFolder(dir: string): Promise<ModelFolder> {
  const weightFiles = `${WEIGHTS_FILE} (or ${WEIGHTS_INDEX_FILE} and its shards)`;
  const folderHint = `a Hugging Face model folder holds ${CONFIG_FILE}, ${weightFiles} and ${TOKENIZER_FILE}`;
  const configFile = path.join(dir, CONFIG_FILE);
  const hfConfig = parseJson(await readIn(dir, CONFIG_FILE, folderHint), configFile);
  const config = parseModelConfig(hfConfig, configFile);
  const hf = hfConfig as Record<string, unknown>;
  const eosTokenId = eosTokenOf(hf, config, configFile);
  const convertBin =
    'a folder with only pytorch_model.bin can be converted by loading it in transformers and calling ' +
    'save_pretrained(dir, safe_serialization=True)';
  const weights = await readWeightTensors(dir, `${folderHint}; ${convertBin}`);
  const params = paramsFromTensors(config, weights.tensors, weights.where);
  const tokFile = path.join(dir, TOKENIZER_FILE);
  const makeTokenizer = 'a folder with only vocab.json + merges.txt gets one from AutoTokenizer.from_pretrained(dir).save_pretrained(dir)';
  const tokBytes = await readIn(dir, TOKENIZER_FILE, `${folderHint}; ${makeTokenizer}`);
  let tokenizerJson: unknown;
  try {
    tokenizerJson = JSON.parse(tokBytes.toString('utf8'));
  } catch (e) {
    throw new ModelFileError('bad_config', `${tokFile}: not valid JSON (${(e as Error).message})`);
  }
  const tokenizerFiles = await readTokenizerFiles(dir, hf);
  sources.set(params, path.resolve(dir));
  return { dir, config, hfConfig: hf, params, tokenizerJson, tokenizerFiles, eosTokenId };
}

/** Tensor order of the files we write: GPT-2's as the fixture (embeddings, final LayerNorm, blocks); Llama's as paramInfos. */
export function safetensorsOrder(cfg: ModelConfig): string[] {
  if (cfg.arch === 'llama') return paramInfos(cfg).map((i) => i.name);
  const names = ['transformer.wte.weight', 'transformer.wpe.weight', 'transformer.ln_f.weight', 'transformer.ln_f.bias'];
  for (let i = 0; i < cfg.nLayer; i++) {
    for (const m of ['ln_1', 'ln_2', 'attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']) {
      names.push(`transformer.h.${i}.${m}.weight`, `transformer.h.${i}.${m}.bias`);
    }
  }
  return names;
}

/** config.json as transformers' GPT2Config writes it (sorted keys, 2-space indent). */
export function gpt2ConfigJson(cfg: GptConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const own: Record<string, unknown> = {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: cfg.vocabSize,
    n_positions: cfg.nPositions,
    n_ctx: cfg.nPositions,
    n_embd: cfg.nEmbd,
    n_layer: cfg.nLayer,
    n_head: cfg.nHead,
    n_inner: cfg.nInner === 4 * cfg.nEmbd ? null : cfg.nInner,
    activation_function: 'gelu_new',
    layer_norm_epsilon: cfg.layerNormEpsilon,
    // We train without dropout; a model written with the rates it was trained under.
    resid_pdrop: 0.0,
    embd_pdrop: 0.0,
    attn_pdrop: 0.0,
    initializer_range: 0.02,
    summary_type: 'cls_index',
    summary_use_proj: true,
    summary_activation: null,
    summary_proj_to_labels: true,
    summary_first_dropout: 0.1,
    scale_attn_weights: true,
    scale_attn_by_inverse_layer_idx: false,
    reorder_and_upcast_attn: false,
    add_cross_attention: false,
    use_cache: true,
    bos_token_id: 'bos_token_id' in extra ? extra.bos_token_id : cfg.vocabSize - 1,
    eos_token_id: 'eos_token_id' in extra ? extra.eos_token_id : cfg.vocabSize - 1,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
  };
  const merged: Record<string, unknown> = { ...extra, ...own };
  // Newer transformers call torch_dtype `dtype`; a stale one from the loaded config would contradict ours.
  delete merged.dtype;
  return Object.fromEntries(Object.keys(merged).sort().map((k) => [k, merged[k]]));
}

/** config.json of a model: as transformers writes it for its model_type. */
export function configJson(cfg: ModelConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return cfg.arch === 'llama' ? llamaConfigJson(cfg, extra) : gpt2ConfigJson(cfg, extra);
}

async function writeDurably(file: string, data: Uint8Array | string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true }); // an extra file may sit in a subfolder (export's onnx/model.onnx)
  const fh = await open(file, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes the model folder atomically (writeFolderAtomically). `extraFiles` (e.g. a checkpoint's training
 * state) go into the same temporary folder, so they appear together with the model or not at all.
 */
export async function saveModelFolder(
  dir: string,
  m: ModelToSave,
  extraFiles: Readonly<Record<string, Uint8Array | string>> = {},
): Promise<void> {
  const { config: cfg, params } = m;
  if (cfg.arch === 'llama') validateLlamaConfig(cfg);
  else validateGptConfig(cfg);
  if (m.tokenizerJson === undefined) {
    throw new Error(`saveModelFolder: no tokenizer given for ${dir} (a model folder needs ${TOKENIZER_FILE})`);
  }
  const infos = paramInfos(cfg);
  const known = new Set(infos.map((i) => i.name));
  for (const name of params.keys()) {
    if (!known.has(name)) throw new Error(`saveModelFolder: parameter ${name} is not part of the ${cfg.arch} model (${dir})`);
  }
  const shapes = new Map(infos.map((i) => [i.name, i.shape]));
  const tensors = safetensorsOrder(cfg).map((name) => {
    const data = params.get(name);
    const shape = shapes.get(name) as readonly number[];
    if (!data) throw new Error(`saveModelFolder: parameter ${name} is missing (${dir})`);
    if (data.length !== numel(shape)) {
      throw new Error(`saveModelFolder: parameter ${name} has ${data.length} values, shape [${shape.join(',')}] needs ${numel(shape)}`);
    }
    return float32Tensor(name, shape, data);
  });
  const hfConfig = configJson(cfg, m.extraConfig);
  parseModelConfig(hfConfig, path.join(dir, CONFIG_FILE)); // refuse to write what we could not read back
  const tokFile = path.join(dir, TOKENIZER_FILE);
  const tokenizerFiles = tokenizerFolderFiles(m.tokenizerJson, m.tokenizerFiles ?? NO_TOKENIZER_FILES, hfConfig, tokFile);
  const files = { ...tokenizerFiles, ...extraFiles }; // tokenizer_config.json, generation_config.json (hf-files.ts)

  await writeFolderAtomically(dir, {
    [CONFIG_FILE]: `${JSON.stringify(hfConfig, null, 2)}\n`,
    // {"format": "pt"} as save_pretrained writes it: some transformers versions fail on a file without it.
    [WEIGHTS_FILE]: writeSafetensors(tensors, { format: 'pt' }),
    [TOKENIZER_FILE]: JSON.stringify(m.tokenizerJson, null, 2),
    ...files,
  });
}

/**
 * Writes the files into `dir` atomically: everything goes into a temporary sibling, which then replaces
 * `dir` (an existing `dir` is moved aside first and deleted last), so a crash leaves either the old folder
 * or the new one, never a mix. The only window is between the two renames: the old one is kept aside.
 */
export async function writeFolderAtomically(dir: string, files: Readonly<Record<string, Uint8Array | string>>): Promise<void> {
  const target = path.resolve(dir);
  const existed = await stat(target).then(
    (s) => {
      if (!s.isDirectory()) throw new Error(`${target} exists and is not a folder`);
      return true;
    },
    () => false,
  );
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = `${target}.tmp-${tag}`;
  const aside = `${target}.old-${tag}`;
  await mkdir(path.dirname(target), { recursive: true });
  await mkdir(tmp);
  try {
    for (const [name, data] of Object.entries(files)) await writeDurably(path.join(tmp, name), data);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  if (existed) await rename(target, aside);
  try {
    await rename(tmp, target);
  } catch (e) {
    if (existed) await rename(aside, target);
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  if (existed) await rm(aside, { recursive: true, force: true });
}
