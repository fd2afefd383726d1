// LoRA adapter folders in PEFT's layout, so PyTorch users load them with PeftModel.from_pretrained:
// adapter_config.json (peft_type LORA, r, lora_alpha, lora_dropout, target_modules, base_model_name_or_path,
// task_type CAUSAL_LM, bias none, fan_in_fan_out for GPT-2's Conv1D) and adapter_model.safetensors with
// keys base_model.model.<module path>.lora_A.weight [r, in] and .lora_B.weight [out, r]. Beside them,
// alol-adapter.json records a fingerprint of the base (its config and every tensor's shape), checked when
// the adapter is loaded onto a base: some PEFT versions reject unknown keys in adapter_config.json, so it
// lives in its own file. Checkpoints add training_state.json and optimizer.safetensors (checkpoint.ts).

import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type ModelConfig, configKey, describeConfig } from './config.js';
import { paramInfos } from './family.js';
import { type ModelFolder, loadModelFolder, writeFolderAtomically } from './folder.js';
import { type LoraSpec, linearModules, loraAName, loraBName, loraParamInfos, mergeLora } from './lora.js';
import { ModelFileError, float32Tensor, readSafetensors, toFloat32, writeSafetensors } from './safetensors.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
export const ADAPTER_BASE_FILE = 'alol-adapter.json';
const KEY_PREFIX = 'base_model.model.';
const BASE_FORMAT = 'alol-adapter-base';

/** An adapter as a folder holds it. */
export interface AdapterFolder {
  dir: string;
  spec: LoraSpec;
  /** A and B under model/lora.ts names (`<module>.lora_A.weight`). */
  params: Map<string, Float32Array>;
  /** adapter_config.json's base_model_name_or_path (null when absent). */
  basePath: string | null;
  /** The base's fingerprint from alol-adapter.json (null for an adapter written by PEFT). */
  baseFingerprint: string | null;
}

/** A hash of the base's shape: its config and the name and shape of every tensor. */
export function baseFingerprint(cfg: ModelConfig): string {
  const shapes = paramInfos(cfg).map((p) => `${p.name}:${p.shape.join('x')}`);
  return createHash('sha256').update(JSON.stringify({ config: configKey(cfg), shapes })).digest('hex').slice(0, 32);
}

/** Whether `dir` holds an adapter (its adapter_config.json). */
export const isAdapterFolder = (dir: string): Promise<boolean> =>
  stat(path.join(dir, ADAPTER_CONFIG_FILE)).then((s) => s.isFile(), () => false);

/** adapter_config.json as PEFT writes it for a causal LM. */
export function adapterConfigJson(cfg: ModelConfig, spec: LoraSpec, basePath: string | null): Record<string, unknown> {
  return {
    base_model_name_or_path: basePath,
    bias: 'none',
    fan_in_fan_out: cfg.arch !== 'llama',
    inference_mode: true,
    init_lora_weights: true,
    lora_alpha: spec.alpha,
    lora_dropout: spec.dropout,
    modules_to_save: null,
    peft_type: 'LORA',
    r: spec.r,
    target_modules: [...spec.targetNames],
    task_type: 'CAUSAL_LM',
    use_rslora: false,
  };
}

/**
 * The files of an adapter folder (config, weights, the base's fingerprint), e.g. to write with others
 * (a checkpoint's training state) in one atomic folder.
 */
export function adapterFiles(
  cfg: ModelConfig,
  spec: LoraSpec,
  params: ReadonlyMap<string, Float32Array>,
  basePath: string | null,
): Record<string, string | Uint8Array> {
  const tensors = loraParamInfos(cfg, spec).map((info) => {
    const data = params.get(info.name);
    if (!data || data.length !== info.shape[0] * info.shape[1]) throw new Error(`adapter: ${info.name} is missing or has the wrong size`);
    return float32Tensor(KEY_PREFIX + info.name, info.shape, data);
  });
  const base = { format: BASE_FORMAT, version: 1, fingerprint: baseFingerprint(cfg), base: describeConfig(cfg) };
  return {
    [ADAPTER_CONFIG_FILE]: `${JSON.stringify(adapterConfigJson(cfg, spec, basePath), null, 2)}\n`,
    [ADAPTER_WEIGHTS_FILE]: writeSafetensors(tensors, { format: 'pt' }),
    [ADAPTER_BASE_FILE]: `${JSON.stringify(base, null, 2)}\n`,
  };
}

/** Writes an adapter folder atomically; `extraFiles` appear with it or not at all. */
export async function saveAdapterFolder(
  dir: string,
  a: { config: ModelConfig; spec: LoraSpec; params: ReadonlyMap<string, Float32Array>; basePath: string | null },
  extraFiles: Readonly<Record<string, Uint8Array | string>> = {},
): Promise<void> {
  await writeFolderAtomically(dir, { ...adapterFiles(a.config, a.spec, a.params, a.basePath), ...extraFiles });
}

const bad = (file: string, message: string, hint?: string): ModelFileError => new ModelFileError('bad_config', `${file}: ${message}`, hint);

async function readJson(file: string, what: string): Promise<Record<string, unknown>> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new ModelFileError('missing_file', `${file} is missing: ${what}`);
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(file, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad(file, 'expected a JSON object');
  return json as Record<string, unknown>;
}

/**
 * Reads an adapter folder and checks it against `base` (the model it is loaded onto): every key is a
 * LoRA tensor of a module the base has, shapes agree with the base and with adapter_config.json's r, and
 * the base's fingerprint matches the one recorded. Errors name the file and the key.
 */
export async function loadAdapterFolder(dir: string, base: ModelConfig): Promise<AdapterFolder> {
  const cfgFile = path.join(dir, ADAPTER_CONFIG_FILE);
  const json = await readJson(cfgFile, `${dir} is not a LoRA adapter folder`);
  if (json.peft_type !== 'LORA') throw bad(cfgFile, `peft_type is ${JSON.stringify(json.peft_type)}; only "LORA" adapters are supported`);
  const r = json.r;
  if (!Number.isInteger(r) || (r as number) < 1) throw bad(cfgFile, `r must be a positive integer (got ${JSON.stringify(r)})`);
  const alpha = json.lora_alpha;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) {
    throw bad(cfgFile, `lora_alpha must be a number (got ${JSON.stringify(alpha)})`);
  }
  const dropout = typeof json.lora_dropout === 'number' ? json.lora_dropout : 0;
  if (json.use_rslora === true) throw bad(cfgFile, 'use_rslora is true; rank-stabilised LoRA is not supported');
  if (json.bias !== undefined && json.bias !== 'none') throw bad(cfgFile, `bias is ${JSON.stringify(json.bias)}; only "none" is supported`);
  const basePath = typeof json.base_model_name_or_path === 'string' ? json.base_model_name_or_path : null;

  const baseFile = path.join(dir, ADAPTER_BASE_FILE);
  const recorded = await stat(baseFile).then(() => readJson(baseFile, ''), () => null);
  const fingerprint = recorded ? recorded.fingerprint : null;
  if (recorded && typeof fingerprint !== 'string') throw bad(baseFile, 'field fingerprint must be a string');
  if (typeof fingerprint === 'string' && fingerprint !== baseFingerprint(base)) {
    const was = typeof recorded?.base === 'string' ? ` (${recorded.base})` : '';
    throw bad(
      baseFile,
      `fingerprint ${fingerprint} is of another base${was}: this base is ${describeConfig(base)} (${baseFingerprint(base)})`,
      'load the adapter onto the model it was trained on (adapter_config.json base_model_name_or_path names it)',
    );
  }

  const weightsFile = path.join(dir, ADAPTER_WEIGHTS_FILE);
  const bytes = await readFile(weightsFile).catch(() => {
    throw new ModelFileError('missing_file', `${weightsFile} is missing: the adapter has no weights`);
  });
  const modules = new Map(linearModules(base).map((m) => [m.path, m]));
  const params = new Map<string, Float32Array>();
  const found = new Set<string>();
  for (const t of readSafetensors(bytes, weightsFile).tensors) {
    const m = /^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$/.exec(t.name);
    if (!m) throw new ModelFileError('unexpected_tensor', `${weightsFile}: key ${t.name} is not a LoRA A or B weight`);
    const [, modulePath, which] = m;
    const mod = modules.get(modulePath);
    if (!mod) {
      const hint = `its projections are named like ${[...modules.keys()].slice(0, 3).join(', ')}`;
      throw new ModelFileError('unexpected_tensor', `${weightsFile}: key ${t.name}: the base has no module ${modulePath}`, hint);
    }
    const want = which === 'A' ? [r as number, mod.in] : [mod.out, r as number];
    if (t.shape.length !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1]) {
      const rank = which === 'A' ? t.shape[0] : t.shape[1];
      const why = rank !== r
        ? `rank ${rank}, but ${ADAPTER_CONFIG_FILE} says r = ${r}`
        : `the base's ${modulePath} needs [${want.join(', ')}]`;
      throw new ModelFileError('wrong_shape', `${weightsFile}: key ${t.name} has shape [${t.shape.join(', ')}]: ${why}`);
    }
    params.set(which === 'A' ? loraAName(modulePath) : loraBName(modulePath), toFloat32(t, weightsFile));
    found.add(modulePath);
  }
  const ordered = [...modules.keys()].filter((p) => found.has(p));
  for (const p of ordered) {
    if (!params.has(loraAName(p)) || !params.has(loraBName(p))) {
      throw new ModelFileError('missing_tensor', `${weightsFile}: module ${p} has only one of lora_A and lora_B`);
    }
  }
  if (ordered.length === 0) throw new ModelFileError('missing_tensor', `${weightsFile}: no LoRA weights`);
  const targetNames = [...new Set(ordered.map((p) => (modules.get(p) as { name: string }).name))];
  const spec: LoraSpec = { r: r as number, alpha, dropout, modules: ordered, targetNames };
  return { dir, spec, params, basePath, baseFingerprint: typeof fingerprint === 'string' ? fingerprint : null };
}

/**
 * The weights of a trained policy in `dir` on `base`: a model folder's own, or an adapter folder merged
 * onto the base (checked as loadAdapterFolder does).
 */
export async function loadPolicyWeights(
  dir: string,
  base: { config: ModelConfig; params: ReadonlyMap<string, Float32Array> },
): Promise<Map<string, Float32Array>> {
  if (!(await isAdapterFolder(dir))) return (await loadModelFolder(dir)).params;
  const adapter = await loadAdapterFolder(dir, base.config);
  return mergeLora(base.config, base.params, adapter.spec, adapter.params);
}

/**
 * A model folder to run, with LoRA merged in: `--model BASE --adapter DIR`, or `--model DIR` where DIR is
 * an adapter folder whose adapter_config.json names its base (base_model_name_or_path: an absolute path,
 * or one relative to the adapter folder). The result carries the base's tokenizer and config.
 */
export async function loadModelWithAdapter(
  dir: string,
  adapterDir?: string,
): Promise<{ model: ModelFolder; adapter: AdapterFolder | null }> {
  if (!adapterDir && (await isAdapterFolder(dir))) {
    const json = await readJson(path.join(dir, ADAPTER_CONFIG_FILE), '');
    const named = typeof json.base_model_name_or_path === 'string' ? json.base_model_name_or_path : null;
    const basePath = named ? path.resolve(dir, named) : null;
    if (!basePath || !(await stat(path.join(basePath, 'config.json')).then(() => true, () => false))) {
      const what = named ? `its base_model_name_or_path ${named} is not a model folder here` : 'it names no base model';
      throw new ModelFileError(
        'missing_file',
        `${dir} is a LoRA adapter folder and ${what} (${path.join(dir, ADAPTER_CONFIG_FILE)})`,
        `give the base and the adapter: --model BASE --adapter ${dir}`,
      );
    }
    return loadModelWithAdapter(basePath, dir);
  }
  const base = await loadModelFolder(dir);
  if (!adapterDir) return { model: base, adapter: null };
  const adapter = await loadAdapterFolder(adapterDir, base.config);
  return { model: { ...base, params: mergeLora(base.config, base.params, adapter.spec, adapter.params) }, adapter };
}
