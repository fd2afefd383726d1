// Llama-family hyperparameters (Hugging Face's LlamaConfig, Qwen2Config, MistralConfig) as one
// LlamaConfig: RMSNorm, rotary position embeddings (rope_theta, linear or llama3 rope_scaling),
// SwiGLU MLP, grouped-query attention, optional q/k/v (and o, MLP) biases, tied or untied head.
// parseLlamaConfig reads a config.json dict (every unsupported value is an error naming its key);
// llamaConfigJson writes one that transformers loads as the same model.

import { ModelFileError } from './safetensors.js';

export type LlamaModelType = 'llama' | 'qwen2' | 'mistral';
export const LLAMA_MODEL_TYPES: readonly LlamaModelType[] = ['llama', 'qwen2', 'mistral'];

/** rope_scaling kinds whose frequencies do not depend on the sequence (so a KV cache sees the same ones). */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

export interface LlamaConfig {
  arch: 'llama';
  /** config.json's model_type: which Hugging Face class writes and reads the folder. */
  modelType: LlamaModelType;
  vocabSize: number;
  /** The longest sequence this model runs: max_position_embeddings, or a smaller sliding window in effect. */
  nPositions: number;
  /** hidden_size. */
  nEmbd: number;
  nLayer: number;
  /** Query heads (num_attention_heads). */
  nHead: number;
  /** Key/value heads (num_key_value_heads); divides nHead; 1 is multi-query attention. */
  nKvHead: number;
  /** Per-head width (head_dim; hidden_size / heads unless given). */
  headDim: number;
  /** intermediate_size (SwiGLU width). */
  nInner: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** Biases on q_proj, k_proj, v_proj (Qwen2; Llama's attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama's attention_bias). */
  oBias: boolean;
  /** Biases on gate/up/down_proj (Llama's mlp_bias). */
  mlpBias: boolean;
  tieWordEmbeddings: boolean;
  /** max_position_embeddings as config.json says (nPositions may be smaller). */
  maxPositionEmbeddings: number;
  /** The sliding window in effect (null: none). Sequences are limited to it, so it never masks anything. */
  slidingWindow: number | null;
}

type LlamaInit = Partial<Omit<LlamaConfig, 'arch'>> & Pick<LlamaConfig, 'vocabSize' | 'nEmbd' | 'nLayer' | 'nHead'>;

/** A Llama config from the sizes given; the rest as LlamaConfig's defaults (nInner ~ 8/3 C rounded to 32). */
export function llamaConfig(c: LlamaInit): LlamaConfig {
  const maxPos = c.maxPositionEmbeddings ?? c.nPositions ?? 2048;
  const cfg: LlamaConfig = {
    arch: 'llama',
    modelType: 'llama',
    nPositions: maxPos,
    nKvHead: c.nHead,
    headDim: c.nEmbd / c.nHead,
    nInner: Math.ceil((8 * c.nEmbd) / 3 / 32) * 32,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: maxPos,
    slidingWindow: null,
    ...c,
  };
  validateLlamaConfig(cfg);
  return cfg;
}

export function validateLlamaConfig(cfg: LlamaConfig): void {
  const positive = [
    'vocabSize', 'nPositions', 'nEmbd', 'nLayer', 'nHead', 'nKvHead', 'headDim', 'nInner', 'maxPositionEmbeddings',
  ] as const;
  for (const k of positive) {
    if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) throw new Error(`model config: ${k} must be a positive integer (got ${cfg[k]})`);
  }
  if (cfg.nHead % cfg.nKvHead !== 0) throw new Error(`model config: nHead ${cfg.nHead} is not a multiple of nKvHead ${cfg.nKvHead}`);
  if (cfg.headDim % 2 !== 0) throw new Error(`model config: headDim ${cfg.headDim} must be even (rotary embeddings rotate pairs)`);
  if (!(cfg.rmsNormEps > 0)) throw new Error('model config: rmsNormEps must be positive');
  if (!(cfg.ropeTheta > 0)) throw new Error('model config: ropeTheta must be positive');
  const limit = Math.min(cfg.maxPositionEmbeddings, cfg.slidingWindow ?? Infinity);
  if (cfg.nPositions !== limit) throw new Error(`model config: nPositions ${cfg.nPositions} must be ${limit} (positions and window)`);
  // What each Hugging Face class can express: anything else could not be written back as that model_type.
  const biases = `qkvBias ${cfg.qkvBias}, oBias ${cfg.oBias}, mlpBias ${cfg.mlpBias}`;
  const fits =
    cfg.modelType === 'llama' ? cfg.qkvBias === cfg.oBias : cfg.modelType === 'qwen2' ? cfg.qkvBias && !cfg.oBias && !cfg.mlpBias
      : !cfg.qkvBias && !cfg.oBias && !cfg.mlpBias;
  if (!fits) throw new Error(`model config: model_type ${cfg.modelType} cannot have ${biases}`);
}

/**
 * Rotary inverse frequencies [headDim / 2], in float32 as Hugging Face computes them:
 * 1 / theta^(2i / d), then rope_scaling's rule (linear: / factor; llama3: long wavelengths / factor,
 * short ones kept, a smooth blend between).
 */
export function ropeInvFreq(cfg: LlamaConfig): Float32Array {
  const d = cfg.headDim;
  const f = Math.fround;
  const inv = Float32Array.from({ length: d / 2 }, (_, i) => f(1 / f(cfg.ropeTheta ** f(f(2 * i) / d))));
  const s = cfg.ropeScaling;
  if (!s) return inv;
  if (s.type === 'linear') return inv.map((x) => x / s.factor);
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return inv.map((x) => {
    const wavelen = (2 * Math.PI) / x;
    if (wavelen < highWavelen) return x;
    if (wavelen > lowWavelen) return x / s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (x / s.factor) + smooth * x;
  });
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => JSON.stringify(v) ?? String(v);
const ARCHITECTURES: Record<LlamaModelType, string> = {
  llama: 'LlamaForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  mistral: 'MistralForCausalLM',
};
// The class defaults of each config (transformers 4.4x) for keys a config.json may leave out.
const DEFAULT_MAX_POSITIONS: Record<LlamaModelType, number> = { llama: 2048, qwen2: 32768, mistral: 4096 * 32 };

/** Maps a LlamaConfig / Qwen2Config / MistralConfig dict onto LlamaConfig; unsupported values are errors naming their key. */
export function parseLlamaConfig(c: Record<string, unknown>, file: string): LlamaConfig {
  const modelType = c.model_type as LlamaModelType;
  const bad = (key: string, what: string) => new ModelFileError('bad_config', `${file}: ${key} ${what}`);
  const unsupported = (key: string, value: unknown, supported: string, hint?: string) =>
    new ModelFileError('unsupported_config', `${file}: ${key} ${show(value)} is not supported (supported: ${supported})`, hint);
  const posInt = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (v === undefined) throw bad(key, 'is required and missing');
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw bad(key, `must be a positive integer, got ${show(v)}`);
    return v;
  };
  const positive = (key: string, v: unknown): number => {
    if (typeof v !== 'number' || !(v > 0)) throw bad(key, `must be a positive number, got ${show(v)}`);
    return v;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'boolean') throw bad(key, `must be true or false, got ${show(v)}`);
    return v;
  };

  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu' && act !== 'swish') throw unsupported('hidden_act', act, '"silu"');
  if (c.partial_rotary_factor !== undefined && c.partial_rotary_factor !== null && c.partial_rotary_factor !== 1) {
    throw unsupported('partial_rotary_factor', c.partial_rotary_factor, '1');
  }
  const nEmbd = posInt('hidden_size');
  const nHead = posInt('num_attention_heads');
  const nKvHead = posInt('num_key_value_heads', nHead);
  if (nHead % nKvHead !== 0) throw bad('num_key_value_heads', `${nKvHead} must divide num_attention_heads ${nHead}`);
  if (c.head_dim === undefined || c.head_dim === null) {
    if (nEmbd % nHead !== 0) {
      throw bad('hidden_size', `${nEmbd} is not divisible by num_attention_heads ${nHead} (and head_dim is not given)`);
    }
  }
  const headDim = posInt('head_dim', nEmbd / nHead);
  if (headDim % 2 !== 0) throw bad('head_dim', `${headDim} must be even (rotary embeddings rotate pairs)`);

  // Transformers 5 keeps theta and scaling in rope_parameters; 4.x in rope_theta and rope_scaling.
  const ropeParams = isRecord(c.rope_parameters) ? c.rope_parameters : null;
  const thetaKey = ropeParams && 'rope_theta' in ropeParams ? 'rope_parameters.rope_theta' : 'rope_theta';
  const ropeTheta = positive(thetaKey, ropeParams && 'rope_theta' in ropeParams ? ropeParams.rope_theta : (c.rope_theta ?? 10000));
  const scalingKey = ropeParams ? 'rope_parameters' : 'rope_scaling';
  const ropeScaling = parseRopeScaling(ropeParams ?? c.rope_scaling, scalingKey, file);

  const maxPositionEmbeddings = posInt('max_position_embeddings', DEFAULT_MAX_POSITIONS[modelType]);
  let slidingWindow: number | null = null;
  if (modelType === 'mistral' && c.sliding_window !== null) slidingWindow = posInt('sliding_window', 4096);
  if (modelType === 'qwen2' && bool('use_sliding_window', false) && c.sliding_window !== null && c.sliding_window !== undefined) {
    slidingWindow = posInt('sliding_window');
  }
  if (slidingWindow !== null && slidingWindow >= maxPositionEmbeddings) slidingWindow = null; // it never masks a key

  const attentionBias = modelType === 'llama' && bool('attention_bias', false);
  const cfg: LlamaConfig = {
    arch: 'llama',
    modelType,
    vocabSize: posInt('vocab_size'),
    nPositions: Math.min(maxPositionEmbeddings, slidingWindow ?? Infinity),
    nEmbd,
    nLayer: posInt('num_hidden_layers'),
    nHead,
    nKvHead,
    headDim,
    nInner: posInt('intermediate_size'),
    rmsNormEps: positive('rms_norm_eps', c.rms_norm_eps ?? 1e-6),
    ropeTheta,
    ropeScaling,
    qkvBias: modelType === 'qwen2' || attentionBias,
    oBias: attentionBias,
    mlpBias: modelType === 'llama' && bool('mlp_bias', false),
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    maxPositionEmbeddings,
    slidingWindow,
  };
  try {
    validateLlamaConfig(cfg);
  } catch (e) {
    throw new ModelFileError('bad_config', `${file}: ${(e as Error).message}`);
  }
  return cfg;
}

function parseRopeScaling(v: unknown, key: string, file: string): RopeScaling | null {
  if (v === undefined || v === null) return null;
  if (!isRecord(v)) throw new ModelFileError('bad_config', `${file}: ${key} must be an object or null, got ${show(v)}`);
  const type = v.rope_type ?? v.type ?? 'default';
  const typeKey = `${key}.${'rope_type' in v ? 'rope_type' : 'type'}`;
  if (type === 'default') return null;
  const num = (name: string): number => {
    const x = v[name];
    if (typeof x !== 'number' || !(x > 0)) {
      throw new ModelFileError('bad_config', `${file}: ${key}.${name} must be a positive number for ${show(type)}, got ${show(x)}`);
    }
    return x;
  };
  if (type === 'linear') return { type, factor: num('factor') };
  if (type === 'llama3') {
    const s: RopeScaling = {
      type,
      factor: num('factor'),
      lowFreqFactor: num('low_freq_factor'),
      highFreqFactor: num('high_freq_factor'),
      originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
    };
    if (!(s.highFreqFactor > s.lowFreqFactor)) {
      throw new ModelFileError('bad_config', `${file}: ${key}.high_freq_factor must exceed low_freq_factor`);
    }
    return s;
  }
  const why =
    type === 'dynamic'
      ? 'dynamic NTK scaling changes the frequencies with the sequence length, which a KV cache of earlier tokens does not follow'
      : 'this trainer computes the frequencies of "linear" and "llama3" scaling only';
  throw new ModelFileError(
    'unsupported_config',
    `${file}: ${typeKey} ${show(type)} is not supported (supported: "default", "linear", "llama3")`,
    why,
  );
}

function ropeScalingJson(s: RopeScaling | null): Record<string, unknown> | null {
  if (!s) return null;
  if (s.type === 'linear') return { rope_type: 'linear', factor: s.factor };
  return {
    rope_type: 'llama3',
    factor: s.factor,
    low_freq_factor: s.lowFreqFactor,
    high_freq_factor: s.highFreqFactor,
    original_max_position_embeddings: s.originalMaxPositionEmbeddings,
  };
}

/** config.json as transformers writes it for the model type (sorted keys); `extra` keeps keys we do not model. */
export function llamaConfigJson(cfg: LlamaConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const own: Record<string, unknown> = {
    model_type: cfg.modelType,
    architectures: [ARCHITECTURES[cfg.modelType]],
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.nEmbd,
    intermediate_size: cfg.nInner,
    num_hidden_layers: cfg.nLayer,
    num_attention_heads: cfg.nHead,
    num_key_value_heads: cfg.nKvHead,
    head_dim: cfg.headDim,
    max_position_embeddings: cfg.maxPositionEmbeddings,
    rms_norm_eps: cfg.rmsNormEps,
    rope_theta: cfg.ropeTheta,
    rope_scaling: ropeScalingJson(cfg.ropeScaling),
    hidden_act: 'silu',
    tie_word_embeddings: cfg.tieWordEmbeddings,
    attention_dropout: 0.0,
    initializer_range: 0.02,
    use_cache: true,
    bos_token_id: 'bos_token_id' in extra ? extra.bos_token_id : cfg.vocabSize - 1,
    eos_token_id: 'eos_token_id' in extra ? extra.eos_token_id : cfg.vocabSize - 1,
    torch_dtype: 'float32',
  };
  if (cfg.modelType === 'llama') Object.assign(own, { attention_bias: cfg.oBias, mlp_bias: cfg.mlpBias, pretraining_tp: 1 });
  if (cfg.modelType === 'qwen2') {
    own.use_sliding_window = cfg.slidingWindow !== null;
    own.sliding_window = cfg.slidingWindow ?? extra.sliding_window ?? null;
  }
  if (cfg.modelType === 'mistral') own.sliding_window = cfg.slidingWindow ?? extra.sliding_window ?? null;
  const merged: Record<string, unknown> = { ...extra, ...own };
  // Stale spellings of what `own` says (transformers 5's rope_parameters, dtype) would contradict it.
  delete merged.dtype;
  delete merged.rope_parameters;
  return Object.fromEntries(Object.keys(merged).sort().map((k) => [k, merged[k]]));
}
