// A model's hyperparameters, whichever family: GPT-2 (gpt-config.ts) or the Llama family (Llama,
// Qwen2, Mistral: llama-config.ts), discriminated by `arch`. What every caller reads is common to
// both: vocabSize, nPositions (the longest sequence), nEmbd (hidden size), nLayer, nHead. What
// differs is behind the helpers here and in family.ts (parameters, forward).

import type { GptConfig } from './gpt-config.js';
import type { LlamaConfig } from './llama-config.js';

export type ModelConfig = GptConfig | LlamaConfig;
export type Arch = ModelConfig['arch'];
export type { GptConfig, LlamaConfig };

/** Key/value heads: what a KV cache holds per layer (GPT-2: every head). */
export const kvHeads = (cfg: ModelConfig): number => (cfg.arch === 'llama' ? cfg.nKvHead : cfg.nHead);

/** Per-head width of queries, keys and values. */
export const headSize = (cfg: ModelConfig): number => (cfg.arch === 'llama' ? cfg.headDim : cfg.nEmbd / cfg.nHead);

/** config.json's name for the model type. */
export const modelTypeOf = (cfg: ModelConfig): string => (cfg.arch === 'llama' ? cfg.modelType : 'gpt2');

/**
 * Every value that shapes a model's graphs, as one short string: part of every session-pool key.
 * GPT-2's spelling is the one it always had (keys of existing caches stay valid).
 */
export function configKey(cfg: ModelConfig): string {
  const common = `v${cfg.vocabSize}p${cfg.nPositions}e${cfg.nEmbd}l${cfg.nLayer}h${cfg.nHead}i${cfg.nInner}`;
  if (cfg.arch === 'gpt2') return `${common}n${cfg.layerNormEpsilon}`;
  const scaling = cfg.ropeScaling ? JSON.stringify(cfg.ropeScaling) : '-';
  const flags = `${+cfg.qkvBias}${+cfg.oBias}${+cfg.mlpBias}${+cfg.tieWordEmbeddings}`;
  return `llama:${common}kv${cfg.nKvHead}d${cfg.headDim}n${cfg.rmsNormEps}r${cfg.ropeTheta}s${scaling}b${flags}`;
}

/** Where the sequence limit comes from, for errors: "n_positions 1024", "the sliding window 4096", ... */
export function positionsLimit(cfg: ModelConfig): string {
  if (cfg.arch === 'gpt2') return `n_positions ${cfg.nPositions}`;
  if (cfg.slidingWindow !== null && cfg.slidingWindow === cfg.nPositions) {
    return `the sliding window ${cfg.nPositions} (sequences longer than config.json's sliding_window are not supported)`;
  }
  return `max_position_embeddings ${cfg.nPositions}`;
}

/** One line a person reads: "llama (GQA 4/2 heads), 2 layers, hidden 64, ...". */
export function describeConfig(cfg: ModelConfig): string {
  if (cfg.arch === 'gpt2') return `gpt2, ${cfg.nLayer} layers, hidden ${cfg.nEmbd}, ${cfg.nHead} heads, ${cfg.nPositions} positions`;
  const grouped = `${cfg.nHead} heads / ${cfg.nKvHead} kv heads (${cfg.nKvHead === 1 ? 'MQA' : 'GQA'})`;
  const attn = cfg.nKvHead === cfg.nHead ? `${cfg.nHead} heads` : grouped;
  const extras = [
    cfg.qkvBias ? 'qkv bias' : '',
    cfg.tieWordEmbeddings ? 'tied head' : 'untied head',
    cfg.ropeScaling ? `rope ${cfg.ropeScaling.type} x${cfg.ropeScaling.factor}` : '',
  ].filter(Boolean);
  const shape = `${cfg.nLayer} layers, hidden ${cfg.nEmbd}, ${attn}, MLP ${cfg.nInner}, ${cfg.nPositions} positions`;
  return `${cfg.modelType}, ${shape}, ${extras.join(', ')}`;
}
