// The GPT graphs the trainer runs, each for a static batch shape [B, T]:
//  - step:     loss = -(1/B) sum_b exampleWeight_b sum_t mask_bt * tokenWeight_bt * log p(target_bt),
//              then gradients and AdamW (graph/optim.ts). Plain next-token NLL is weight 1, full mask.
//              Also outputs seq_logprob [B] = sum_t mask * log p (before the update).
//  - logprobs: token_logprob [B, T] (zero where mask is 0) and seq_logprob [B].
//  - hidden:   last-layer hidden states [B, T, C] (after ln_f).
// Parameters are graph inputs named as in Hugging Face GPT-2.

import { type FloatType, Graph, type Value } from '../graph/ir.js';
import * as o from '../graph/ops.js';
import { type AdamWConfig, DEFAULT_ADAMW, type ParamSpec, type StepMode, addTrainStep } from '../graph/optim.js';
import type { GptConfig } from './config.js';
import { type Params, gptForward, tokenLogprobs } from './gpt.js';
import { gptParamInfos } from './params.js';

export interface BatchShape {
  batch: number;
  seqLen: number;
}

export interface GraphBuildOptions {
  float?: FloatType;
  embeddingGrad?: 'scatter' | 'onehot';
}

export interface StepGraphOptions extends GraphBuildOptions {
  mode?: StepMode;
  adamw?: AdamWConfig;
  /** Adds a `token_weight` [B, T] input (a_lol_seq and r_gold weight each token). */
  tokenWeights?: boolean;
}

export function addParams(g: Graph, cfg: GptConfig): { params: Params; specs: ParamSpec[] } {
  const params: Record<string, Value> = {};
  const specs: ParamSpec[] = [];
  for (const info of gptParamInfos(cfg)) {
    const v = g.floatInput(info.name, info.shape);
    params[info.name] = v;
    specs.push({ value: v, decay: info.decay });
  }
  return { params, specs };
}

function batchInputs(g: Graph, shape: BatchShape): { ids: Value; targets: Value; mask: Value } {
  const dims = [shape.batch, shape.seqLen];
  return { ids: g.input('ids', 'int64', dims), targets: g.input('targets', 'int64', dims), mask: g.floatInput('mask', dims) };
}

export interface WeightedLoss {
  loss: Value;
  /** sum_t mask * log p per row, [B], without gradient. */
  seqLogprob: Value;
}

/** -(1/B) sum_b exampleWeight_b sum_t mask_bt * tokenWeight_bt * log p(target_bt | ids_b,<=t). */
export function weightedLogLikelihoodLoss(
  cfg: GptConfig,
  params: Params,
  x: { ids: Value; targets: Value; mask: Value; exampleWeight: Value; tokenWeight?: Value },
): WeightedLoss {
  const batch = x.ids.shape[0] as number;
  const masked = o.mul(tokenLogprobs(gptForward(cfg, params, x.ids).logits, x.targets), x.mask); // [B, T]
  const weighted = x.tokenWeight ? o.mul(masked, x.tokenWeight) : masked;
  const perExample = o.reduceSum(weighted, [1]); // [B]
  const loss = o.div(o.neg(o.sumAll(o.mul(perExample, x.exampleWeight))), batch);
  return { loss, seqLogprob: o.reduceSum(o.stopGradient(masked), [1]) };
}

/** The weighted log-likelihood objective and a training step on it. */
export function buildStepGraph(cfg: GptConfig, shape: BatchShape, opts: StepGraphOptions = {}): Graph {
  const g = new Graph({ float: opts.float, embeddingGrad: opts.embeddingGrad, name: 'gpt_step' });
  const { params, specs } = addParams(g, cfg);
  const { ids, targets, mask } = batchInputs(g, shape);
  const exampleWeight = g.floatInput('example_weight', [shape.batch]);
  const tokenWeight = opts.tokenWeights ? g.floatInput('token_weight', [shape.batch, shape.seqLen]) : undefined;
  const { loss, seqLogprob } = weightedLogLikelihoodLoss(cfg, params, { ids, targets, mask, exampleWeight, tokenWeight });
  g.output('seq_logprob', seqLogprob);
  addTrainStep(loss, specs, opts.mode ?? 'update', opts.adamw ?? DEFAULT_ADAMW);
  return g;
}

/** Per-token and per-sequence log-probs of `targets` given `ids` (inference). */
export function buildLogprobGraph(cfg: GptConfig, shape: BatchShape, opts: GraphBuildOptions = {}): Graph {
  const g = new Graph({ float: opts.float, name: 'gpt_logprobs' });
  const { params } = addParams(g, cfg);
  const { ids, targets, mask } = batchInputs(g, shape);
  const masked = o.mul(tokenLogprobs(gptForward(cfg, params, ids).logits, targets), mask);
  g.output('token_logprob', masked);
  g.output('seq_logprob', o.reduceSum(masked, [1]));
  return g;
}

/** Last-layer hidden states (after ln_f) of `ids`, [B, T, C]. */
export function buildHiddenGraph(cfg: GptConfig, shape: BatchShape, opts: GraphBuildOptions = {}): Graph {
  const g = new Graph({ float: opts.float, name: 'gpt_hidden' });
  const { params } = addParams(g, cfg);
  const ids = g.input('ids', 'int64', [shape.batch, shape.seqLen]);
  g.output('hidden', gptForward(cfg, params, ids).hidden);
  return g;
}
