// The model families behind one interface: what the graphs, trainers, scorers, generators, folders
// and export ask of a model, dispatched on its config's `arch`. GPT-2 lives in gpt.ts / params.ts /
// gpt-config.ts, the Llama family (Llama, Qwen2, Mistral) in llama.ts / llama-params.ts /
// llama-config.ts; nothing above this file names a family.

import type { Value } from '../graph/ir.js';
import type { OrtTensor } from '../runtime/session.js';
import type { ForwardOptions, ForwardResult, Params } from './attention.js';
import type { ModelConfig } from './config.js';
import { gptForward } from './gpt.js';
import { llamaForward } from './llama.js';
import { llamaParamInfos } from './llama-params.js';
import { type ParamInfo, feedsFromInfos, gptParamInfos, initFromInfos } from './params.js';

/** The model's parameters: Hugging Face names and shapes, in the order its safetensors files list them. */
export function paramInfos(cfg: ModelConfig): ParamInfo[] {
  return cfg.arch === 'llama' ? llamaParamInfos(cfg) : gptParamInfos(cfg);
}

/** The one forward of every family: training, log-probs, hidden states, KV-cache decoding, export. */
export function lmForward(cfg: ModelConfig, p: Params, ids: Value, opts: ForwardOptions = {}): ForwardResult {
  return cfg.arch === 'llama' ? llamaForward(cfg, p, ids, opts) : gptForward(cfg, p, ids, opts);
}

/** Number of parameters (a tied head counted once). */
export function countParams(cfg: ModelConfig): number {
  return paramInfos(cfg).reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
}

/** Freshly initialised parameters (seeded), in the order of paramInfos. */
export const initParams = (cfg: ModelConfig, seed: number): Map<string, Float32Array> => initFromInfos(paramInfos(cfg), seed);

/** Parameters as ORT feeds (no copy) for graphs whose inputs are the model's parameters. */
export const paramFeeds = (cfg: ModelConfig, params: ReadonlyMap<string, Float32Array>, who: string): Record<string, OrtTensor> =>
  feedsFromInfos(paramInfos(cfg), params, who);
