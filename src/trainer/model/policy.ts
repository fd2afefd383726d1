// A policy as the pipeline holds it: a model config (any family), its weights, its tokenizer, and a
// hash of config + weights that every cache of the policy is keyed by. Loaded from a model folder, or a new seeded
// model with a byte-level tokenizer (the `model.init` of a run config).

import { createHash } from 'node:crypto';
import path from 'node:path';
import type { RunConfig } from '../../protocol/config.js';
import { loadModelWithAdapter } from './adapter.js';
import type { ModelConfig } from './config.js';
import { initParams, paramInfos } from './family.js';
import { gptConfig } from './gpt-config.js';
import { NO_TOKENIZER_FILES, type TokenizerFiles, tokenizerSettings } from './hf-files.js';
import { type TextTokenizer, byteLevelTokenizer, loadTokenizer } from './tokenizer.js';

export interface Policy {
  config: ModelConfig;
  params: Map<string, Float32Array>;
  tokenizer: TextTokenizer;
  tokenizerJson: unknown;
  /** The folder's tokenizer_config.json, generation_config.json, chat template: saved with every copy of the policy. */
  tokenizerFiles?: TokenizerFiles;
  /** sha256 of config + weights: what caches of this policy are keyed by. */
  hash: string;
  /** config.json of the folder it came from (token ids, keys we do not model), kept in the folders saved from it. */
  extraConfig?: Record<string, unknown>;
}

export function policyHash(cfg: ModelConfig, params: ReadonlyMap<string, Float32Array>): string {
  // Canonical order: a config read back from a folder must hash like the one it was written from.
  // GPT-2's list is the one it always had, so caches of GPT-2 policies stay valid.
  const shape =
    cfg.arch === 'gpt2'
      ? [cfg.vocabSize, cfg.nPositions, cfg.nEmbd, cfg.nLayer, cfg.nHead, cfg.nInner, cfg.layerNormEpsilon]
      : Object.entries(cfg).sort(([a], [b]) => (a < b ? -1 : 1));
  const h = createHash('sha256').update(JSON.stringify(shape));
  for (const info of paramInfos(cfg)) {
    const d = params.get(info.name) as Float32Array;
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex').slice(0, 16);
}

/** A policy of these weights; `where` names the tokenizer's source in errors. */
export function policyOf(
  config: ModelConfig,
  params: Map<string, Float32Array>,
  tokenizerJson: unknown,
  where: string,
  tokenizerFiles: TokenizerFiles = NO_TOKENIZER_FILES,
  extraConfig?: Record<string, unknown>,
): Policy {
  const tokenizer = loadTokenizer(tokenizerJson, where, tokenizerSettings(tokenizerFiles));
  const hash = policyHash(config, params);
  return { config, params, tokenizerJson, tokenizerFiles, tokenizer, hash, ...(extraConfig ? { extraConfig } : {}) };
}

/** The same policy with other weights (a trained variant of it). */
export function withWeights(policy: Policy, params: Map<string, Float32Array>): Policy {
  return { ...policy, params, hash: policyHash(policy.config, params) };
}

/** The policy of a model folder, or of a base with a LoRA adapter merged in (adapter.ts loadModelWithAdapter). */
export async function loadPolicy(dir: string, adapterDir?: string): Promise<Policy> {
  const { model: m } = await loadModelWithAdapter(dir, adapterDir);
  return policyOf(m.config, m.params, m.tokenizerJson, path.join(m.dir, 'tokenizer.json'), m.tokenizerFiles, m.hfConfig);
}

/** The starting model of `config.model`: a folder, or a new seeded model with a byte tokenizer. */
export async function startingModel(model: RunConfig['model'], baseDir: string, seed: number): Promise<Policy> {
  if ('path' in model) return loadPolicy(path.resolve(baseDir, model.path));
  const tok = byteLevelTokenizer();
  const cfg = gptConfig({
    vocabSize: tok.vocabSize,
    nPositions: model.init.positions,
    nEmbd: model.init.embd,
    nLayer: model.init.layers,
    nHead: model.init.heads,
  });
  return policyOf(cfg, initParams(cfg, seed), tok.toJSON(), '(byte-level tokenizer)');
}
