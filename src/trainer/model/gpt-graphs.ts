// The model graphs the trainer runs (any family: model/family.ts), each for a static batch shape [B, T]:
//  - step:     loss = -(1/B) sum_b exampleWeight_b sum_t mask_bt * tokenWeight_bt * log p(target_bt),
//              then gradients and AdamW (graph/optim.ts). Plain next-token NLL is weight 1, full mask.
//              Also outputs seq_logprob [B] = sum_t mask * log p (before the update).
//  - logprobs: token_logprob [B, T] (zero where mask is 0) and seq_logprob [B].
//  - hidden:   last-layer hidden states [B, T, C] (after the final norm).
// Parameters are graph inputs named as in the family's Hugging Face checkpoints.

import { type ComputeType, type FloatType, Graph, type Value } from '../graph/ir.js';
import * as o from '../graph/ops.js';
import { type AdamWConfig, DEFAULT_ADAMW, type ParamSpec, type StepMode, addTrainStep } from '../graph/optim.js';
import { type LoraForward, type Params, tokenLogprobs } from './attention.js';
import { type ModelConfig, headSize, kvHeads } from './config.js';
import { lmForward, paramInfos } from './family.js';
import { type LoraSpec, loraParamInfos, loraScale } from './lora.js';
import { PACK_INDEX, type Packing, packRows, unpackRows } from './pack.js';

export interface BatchShape {
  batch: number;
  seqLen: number;
}

export interface GraphBuildOptions {
  float?: FloatType;
  embeddingGrad?: 'scatter' | 'onehot';
  /** For providers without a LogSoftmax kernel (WebGPU): graph/ir.ts GraphOptions. */
  composedLogSoftmax?: boolean;
  /** Mixed precision: the type MatMuls compute in (graph/ir.ts GraphOptions.compute); float16 step graphs add loss
   * scaling (graph/optim.ts). */
  compute?: ComputeType;
  /** LoRA adapters on the base: their A and B are inputs beside the base weights (model/lora.ts). */
  lora?: LoraSpec;
  /** Token-wise ops on the real tokens only (model/pack.ts): adds the `pack_index` [N] input (training and log-prob graphs). */
  packed?: boolean;
}

export interface StepGraphOptions extends GraphBuildOptions {
  mode?: StepMode;
  adamw?: AdamWConfig;
  /** Adds a `token_weight` [B, T] input (a_lol_seq and r_gold weight each token). */
  tokenWeights?: boolean;
}

/**
 * The model's parameters as graph inputs, and those a training step updates: all of them, or with LoRA
 * only the adapters' A and B (the base weights are inputs without gradient: frozen, no optimizer state).
 */
export function addParams(g: Graph, cfg: ModelConfig, lora?: LoraSpec): { params: Params; specs: ParamSpec[] } {
  const params: Record<string, Value> = {};
  const specs: ParamSpec[] = [];
  for (const info of paramInfos(cfg)) {
    const v = g.floatInput(info.name, info.shape);
    params[info.name] = v;
    if (!lora) specs.push({ value: v, decay: info.decay });
  }
  for (const info of lora ? loraParamInfos(cfg, lora) : []) {
    const v = g.floatInput(info.name, info.shape);
    params[info.name] = v;
    specs.push({ value: v, decay: info.decay });
  }
  return { params, specs };
}

/** The LoRA options of a forward; a training graph with dropout gets the per-step `lora_seed` input (int64 scalar). */
export function loraForward(g: Graph, lora: LoraSpec | undefined, training: boolean): LoraForward | undefined {
  if (!lora) return undefined;
  const seed = training && lora.dropout > 0 ? g.input(LORA_SEED, 'int64', []) : undefined;
  return { scale: loraScale(lora), dropout: lora.dropout, seed };
}

export const LORA_SEED = 'lora_seed';

function batchInputs(g: Graph, shape: BatchShape): { ids: Value; targets: Value; mask: Value } {
  const dims = [shape.batch, shape.seqLen];
  return { ids: g.input('ids', 'int64', dims), targets: g.input('targets', 'int64', dims), mask: g.floatInput('mask', dims) };
}

/** The `pack_index` input of a packed graph of batch shape [B, T] (model/pack.ts). */
export function packingInput(g: Graph, shape: BatchShape): Packing {
  return { index: g.input(PACK_INDEX, 'int64', ['N']), batch: shape.batch, seqLen: shape.seqLen };
}

/** Per-token log-probs [B, T] of `targets` after `ids`; packed, the forward runs on the real tokens only (zeros at padding). */
export function forwardTokenLogprobs(
  cfg: ModelConfig,
  params: Params,
  ids: Value,
  targets: Value,
  opts: { lora?: LoraForward; pack?: Packing },
): Value {
  const { logits } = lmForward(cfg, params, ids, opts);
  if (!opts.pack) return tokenLogprobs(logits, targets);
  return unpackRows(tokenLogprobs(logits, packRows(targets, opts.pack)), opts.pack);
}

export interface WeightedLoss {
  loss: Value;
  /** sum_t mask * log p per row, [B], without gradient. */
  seqLogprob: Value;
}

/** -(1/B) sum_b exampleWeight_b sum_t mask_bt * tokenWeight_bt * log p(target_bt | ids_b,<=t). */
export function weightedLogLikelihoodLoss(
  cfg: ModelConfig,
  params: Params,
  x: { ids: Value; targets: Value; mask: Value; exampleWeight: Value; tokenWeight?: Value; lora?: LoraForward; pack?: Packing },
): WeightedLoss {
  const batch = x.ids.shape[0] as number;
  const masked = o.mul(forwardTokenLogprobs(cfg, params, x.ids, x.targets, { lora: x.lora, pack: x.pack }), x.mask); // [B, T]
  const weighted = x.tokenWeight ? o.mul(masked, x.tokenWeight) : masked;
  const perExample = o.reduceSum(weighted, [1]); // [B]
  const loss = o.div(o.neg(o.sumAll(o.mul(perExample, x.exampleWeight))), batch);
  return { loss, seqLogprob: o.reduceSum(o.stopGradient(masked), [1]) };
}

/** The weighted log-likelihood objective and a training step on it. */
export function buildStepGraph(cfg: ModelConfig, shape: BatchShape, opts: StepGraphOptions = {}): Graph {
  const { float, embeddingGrad, composedLogSoftmax, compute } = opts;
  const g = new Graph({ float, embeddingGrad, composedLogSoftmax, compute, name: 'gpt_step' });
  const { params, specs } = addParams(g, cfg, opts.lora);
  const { ids, targets, mask } = batchInputs(g, shape);
  const exampleWeight = g.floatInput('example_weight', [shape.batch]);
  const tokenWeight = opts.tokenWeights ? g.floatInput('token_weight', [shape.batch, shape.seqLen]) : undefined;
  const lora = loraForward(g, opts.lora, true);
  const pack = opts.packed ? packingInput(g, shape) : undefined;
  const { loss, seqLogprob } = weightedLogLikelihoodLoss(cfg, params, { ids, targets, mask, exampleWeight, tokenWeight, lora, pack });
  g.output('seq_logprob', seqLogprob);
  addTrainStep(loss, specs, opts.mode ?? 'update', opts.adamw ?? DEFAULT_ADAMW);
  return g;
}

/** Per-token and per-sequence log-probs of `targets` given `ids` (inference). */
export function buildLogprobGraph(cfg: ModelConfig, shape: BatchShape, opts: GraphBuildOptions = {}): Graph {
  const g = new Graph({ float: opts.float, composedLogSoftmax: opts.composedLogSoftmax, compute: opts.compute, name: 'gpt_logprobs' });
  const { params } = addParams(g, cfg, opts.lora);
  const { ids, targets, mask } = batchInputs(g, shape);
  const pack = opts.packed ? packingInput(g, shape) : undefined;
  const masked = o.mul(forwardTokenLogprobs(cfg, params, ids, targets, { lora: loraForward(g, opts.lora, false), pack }), mask);
  g.output('token_logprob', masked);
  g.output('seq_logprob', o.reduceSum(masked, [1]));
  return g;
}

/** Last-layer hidden states (after ln_f) of `ids`, [B, T, C]. */
export function buildHiddenGraph(cfg: ModelConfig, shape: BatchShape, opts: GraphBuildOptions = {}): Graph {
  const g = new Graph({ float: opts.float, name: 'gpt_hidden' });
  const { params } = addParams(g, cfg);
  const ids = g.input('ids', 'int64', [shape.batch, shape.seqLen]);
  g.output('hidden', lmForward(cfg, params, ids).hidden);
  return g;
}

export const pastName = (layer: number, kind: 'key' | 'value'): string => `past_key_values.${layer}.${kind}`;
export const presentName = (layer: number, kind: 'key' | 'value'): string => `present.${layer}.${kind}`;

/**
 * Generation graphs. `prefill`: a left-padded prompt batch [B, S] -> logits of the last position
 * [B, V] and every layer's keys/values. `decode`: one new token per row with the cache (P symbolic)
 * -> logits [B, V] and the cache grown by one. `full`: no cache, logits [B, T, V] of a whole padded
 * sequence (the reference the cache is tested against). Inputs ids, key_mask [B, P + T] (1 real, 0
 * pad) and positions [B, T] int64.
 */
export function buildGenerationGraph(cfg: ModelConfig, kind: 'prefill' | 'decode' | 'full', batch: number, seqLen: number): Graph {
  const g = new Graph({ name: `gpt_${kind}` });
  const { params } = addParams(g, cfg);
  const t = kind === 'decode' ? 1 : seqLen;
  const ids = g.input('ids', 'int64', [batch, t]);
  const positions = g.input('positions', 'int64', [batch, t]);
  const [hs, nkv] = [headSize(cfg), kvHeads(cfg)];
  const past =
    kind === 'decode'
      ? [...Array(cfg.nLayer).keys()].map((i) => ({
          key: g.floatInput(pastName(i, 'key'), [batch, nkv, 'P', hs]),
          value: g.floatInput(pastName(i, 'value'), [batch, nkv, 'P', hs]),
        }))
      : undefined;
  const keyMask = g.floatInput('key_mask', [batch, kind === 'decode' ? 'P+1' : t]);
  const { logits, present } = lmForward(cfg, params, ids, { positions, keyMask, past, returnPresent: kind !== 'full' });
  if (kind === 'full') {
    g.output('logits', logits);
    return g;
  }
  g.output('logits', o.squeeze(o.slice(logits, [t - 1], [t], [1]), [1])); // [B, V]
  present.forEach((kv, i) => {
    g.output(presentName(i, 'key'), kv.key);
    g.output(presentName(i, 'value'), kv.value);
  });
  return g;
}
