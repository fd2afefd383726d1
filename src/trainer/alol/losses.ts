// The loss of every variant (DESIGN.md "The A-LoL algorithm"), as graph ops over the policy's per-token
// log-probs. Per-example losses are summed over response tokens, then averaged over the batch;
// importance weights are computed from stop-gradient log-probs, so they are constants in the backward
// pass. Letters: B rows (2P for DPO: P chosen rows, then their P rejected rows), T positions.
//
//   l      = sum_t m_t logp_t                        (policy, with gradient)
//   nll            -l                               wnll           R * -l
//   r_gold         R * sum_t m_t sg(max(p_t, 0.1)) * -logp_t
//   r_lol          R  * sg(clip(exp(l - l_ref), 1-eps, 1+eps)) * -l
//   a_lol          A+ * sg(clip(exp(l - l_ref), 1-eps, 1+eps)) * -l
//   a_lol_ref_free A+ * -l
//   a_lol_seq      A+ * sum_t m_t sg(clip(p_t / p_ref_t, 1-eps, 1+eps)) * -logp_t
//   a_lol_kl       A+ * -l + klBeta * (l - l_ref)
//   dpo            -log sigmoid(dpoBeta * ((l_w - l_l) - (l_ref_w - l_ref_l)))   per pair
// The per-row factor (1, R or A+ = max(A, 0)) is the `coef` input, computed by coefFor().
// The importance weights of r_lol, a_lol and a_lol_seq read `policyTokenLogp`: the policy's log-probs
// from a no-grad forward of the same inference graph that produced the reference log-probs. ORT
// optimizes a graph with a backward pass differently (last-bit differences in ~20% of rows), so only
// this keeps every weight exactly 1 at step 0, at the cost of one forward pass per step.
//
// Graphs, for a static batch shape [B, T]: the training step of a variant (the model forward, the
// variant's loss, gradients, AdamW), and the loss alone over given per-token log-probs (what the
// golden-value tests evaluate: the same loss subgraph the step runs).
// Step inputs: model parameters, ids, targets, mask [B, T], ref_token_logp [B, T], coef [B],
// policy_token_logp [B, T] (r_lol, a_lol, a_lol_seq: from the inference graph), + optim.ts's.
// Step outputs: loss, mean_weight, clip_fraction, seq_logprob [B], + optim.ts's (new.*, grad_norm, ...).

import { type ComputeType, type FloatType, Graph, type Value } from '../graph/ir.js';
import { gradients } from '../graph/grad.js';
import * as o from '../graph/ops.js';
import { type AdamWConfig, type StepMode, addTrainStep } from '../graph/optim.js';
import type { ModelConfig } from '../model/config.js';
import { addParams, forwardTokenLogprobs, loraForward, packingInput } from '../model/gpt-graphs.js';
import type { LoraSpec } from '../model/lora.js';
import { type BaselineLossSettings, type BaselineVariant, baselineInputs, baselineLoss } from './baselines.js';
import { type Variant, isBaseline } from './rules.js';

export interface LossSettings {
  clipEps: number;
  klBeta: number;
  dpoBeta: number;
  /** The settings of a baseline variant (baselines.ts); absent for the others. */
  baseline?: BaselineLossSettings;
}

export interface LossInputs {
  /** Policy log-probs of the targets, [B, T], with gradient. */
  tokenLogp: Value;
  /** 1 on response positions, 0 on prompt and padding, [B, T]. */
  mask: Value;
  /** Reference log-probs of the same targets, [B, T] (0 where mask is 0). */
  refTokenLogp: Value;
  /** Per-row factor [B]: 1 (nll, dpo), R (wnll, r_gold, r_lol) or A+ (A-LoL variants). */
  coef: Value;
  /** The policy's log-probs from the inference graph, [B, T], no gradient (r_lol, a_lol, a_lol_seq). */
  policyTokenLogp?: Value;
  /** A baseline's extra inputs (baselines.ts: kl_logp, kl_ref_logp for kto; pro_after, pro_temp for pro). */
  extra?: Record<string, Value>;
}

/** Variants whose importance weights need the policy's log-probs from an inference pass. */
export const needsPolicyLogprobs = (v: Variant): boolean => v === 'r_lol' || v === 'a_lol' || v === 'a_lol_seq';

export interface LossOutputs {
  loss: Value;
  /** Mean importance weight (per row, or per token for a_lol_seq and r_gold); 1 where there is none. */
  meanWeight: Value;
  /** Share of weights at a clip bound (for r_gold: tokens whose probability is under the 0.1 floor). */
  clipFraction: Value;
  /** sum_t m_t logp_t per row, without gradient (for logging and the next step's weights). */
  seqLogprob: Value;
}

/**
 * The per-row factor of a variant: 1, the reward, or the positive part of the advantage; rwr R, awr A.
 * The other baselines' factors come from their data (alol/baseline-data.ts), not from one row.
 */
export function coefFor(variant: Variant, reward: number, advantage: number): number {
  if (variant === 'nll' || variant === 'dpo') return 1;
  if (variant === 'wnll' || variant === 'r_gold' || variant === 'r_lol' || variant === 'rwr') return reward;
  if (variant === 'awr') return advantage;
  if (isBaseline(variant)) throw new Error(`coefFor: the factor of ${variant} comes from its batch data (baseline-data.ts)`);
  return Math.max(advantage, 0);
}

const GOLD_FLOOR = 0.1;

/** Stable softplus(z) = log(1 + e^z) = max(z, 0) + log(1 + e^-|z|). */
function softplus(z: Value): Value {
  return o.add(o.max(z, 0), o.log(o.add(o.exp(o.neg(o.abs(z))), 1)));
}

/** Clipped importance weights and the share of them at a bound, among positions where `where` is 1. */
function clipped(logRatio: Value, eps: number, where: Value | null): { w: Value; atBound: Value } {
  const w = o.clip(o.exp(logRatio), 1 - eps, 1 + eps);
  const outside = o.cast(o.not(o.and(o.greater(w, 1 - eps), o.less(w, 1 + eps))), logRatio.dtype);
  return { w, atBound: where ? o.mul(outside, where) : outside };
}

function policyLogp(variant: Variant, x: LossInputs): Value {
  if (!x.policyTokenLogp) throw new Error(
    `${variant}: importance weights need policyTokenLogp (the policy's log-probs from the inference graph)`,
  );
  return o.stopGradient(x.policyTokenLogp);
}

export function variantLoss(variant: Variant, x: LossInputs, s: LossSettings): LossOutputs {
  const g = x.tokenLogp.graph;
  const [b] = x.tokenLogp.shape as number[];
  const masked = o.mul(x.tokenLogp, x.mask); // [B, T]
  const l = o.reduceSum(masked, [1]); // [B]
  const seqLogprob = o.stopGradient(l);
  const lRef = o.reduceSum(o.mul(x.refTokenLogp, x.mask), [1]); // [B]
  const tokens = o.max(o.sumAll(x.mask), 1);
  const mean = (v: Value): Value => o.div(o.sumAll(v), b);
  const one = g.scalar(1);
  const zero = g.scalar(0);
  const rowWeights = (w: Value, atBound: Value) => ({ meanWeight: mean(w), clipFraction: mean(atBound) });
  const tokenWeights = (w: Value, atBound: Value) => ({
    meanWeight: o.div(o.sumAll(o.mul(w, x.mask)), tokens),
    clipFraction: o.div(o.sumAll(atBound), tokens),
  });

  if (isBaseline(variant)) {
    if (!s.baseline) throw new Error(`${variant}: the loss settings lack the baseline's settings`);
    const terms = { l, lRef, mask: x.mask, coef: x.coef, extra: x.extra ?? {} };
    return { ...baselineLoss(variant as BaselineVariant, terms, s.baseline), seqLogprob };
  }
  switch (variant) {
    case 'nll':
    case 'wnll':
    case 'a_lol_ref_free':
      return { loss: mean(o.mul(x.coef, o.neg(l))), meanWeight: one, clipFraction: zero, seqLogprob };
    case 'r_lol':
    case 'a_lol': {
      const lPolicy = o.reduceSum(o.mul(policyLogp(variant, x), x.mask), [1]); // [B], summed like lRef
      const { w, atBound } = clipped(o.sub(lPolicy, lRef), s.clipEps, null); // [B]
      return { loss: mean(o.mul(o.mul(x.coef, o.stopGradient(w)), o.neg(l))), ...rowWeights(w, atBound), seqLogprob };
    }
    case 'a_lol_seq': {
      const { w, atBound } = clipped(o.sub(policyLogp(variant, x), x.refTokenLogp), s.clipEps, x.mask); // [B, T]
      const perRow = o.reduceSum(o.mul(o.stopGradient(w), o.neg(masked)), [1]);
      return { loss: mean(o.mul(x.coef, perRow)), ...tokenWeights(w, atBound), seqLogprob };
    }
    case 'r_gold': {
      const p = o.exp(o.stopGradient(x.tokenLogp));
      const w = o.max(p, GOLD_FLOOR); // [B, T]
      const floored = o.mul(o.cast(o.less(p, GOLD_FLOOR), p.dtype), x.mask);
      const perRow = o.reduceSum(o.mul(o.stopGradient(w), o.neg(masked)), [1]);
      return { loss: mean(o.mul(x.coef, perRow)), ...tokenWeights(w, floored), seqLogprob };
    }
    case 'a_lol_kl':
      return {
        loss: mean(o.add(o.mul(x.coef, o.neg(l)), o.mul(o.sub(l, lRef), s.klBeta))),
        meanWeight: one,
        clipFraction: zero,
        seqLogprob,
      };
    case 'dpo': {
      if (b % 2 !== 0) throw new Error(`dpo: the batch must be P chosen rows then P rejected rows (got ${b} rows)`);
      const p = b / 2;
      const half = (v: Value, k: number) => o.slice(v, [k * p], [(k + 1) * p], [0]);
      const margin = o.sub(o.sub(half(l, 0), half(l, 1)), o.sub(half(lRef, 0), half(lRef, 1))); // [P]
      const loss = o.div(o.sumAll(softplus(o.mul(margin, -s.dpoBeta))), p); // -log sigmoid(z) = softplus(-z)
      return { loss, meanWeight: one, clipFraction: zero, seqLogprob };
    }
    default:
      throw new Error(`no loss for variant ${variant}`);
  }
}

export interface AlolStepOptions {
  variant: Variant;
  settings: LossSettings;
  mode: StepMode;
  adamw: AdamWConfig;
  /** Trains LoRA adapters on the frozen base instead of every weight. */
  lora?: LoraSpec;
  /** For providers without a LogSoftmax kernel (WebGPU): graph/ir.ts GraphOptions. */
  composedLogSoftmax?: boolean;
  /** Mixed precision (model/gpt-graphs.ts GraphBuildOptions.compute). */
  compute?: ComputeType;
  /** Token-wise ops on the real tokens only: the `pack_index` input (model/pack.ts). */
  packed?: boolean;
}

function lossInputs(g: Graph, variant: Variant, b: number, t: number) {
  return {
    mask: g.floatInput('mask', [b, t]),
    refTokenLogp: g.floatInput('ref_token_logp', [b, t]),
    coef: g.floatInput('coef', [b]),
    ...(needsPolicyLogprobs(variant) ? { policyTokenLogp: g.floatInput('policy_token_logp', [b, t]) } : {}),
    extra: baselineInputs(g, variant, b),
  };
}

function outputs(g: Graph, out: LossOutputs): void {
  g.output('mean_weight', out.meanWeight);
  g.output('clip_fraction', out.clipFraction);
  g.output('seq_logprob', out.seqLogprob);
}

export function buildAlolStepGraph(cfg: ModelConfig, batch: number, seqLen: number, step: AlolStepOptions): Graph {
  const g = new Graph({ name: `alol_${step.variant}_step`, composedLogSoftmax: step.composedLogSoftmax, compute: step.compute });
  const { params, specs } = addParams(g, cfg, step.lora);
  const ids = g.input('ids', 'int64', [batch, seqLen]);
  const targets = g.input('targets', 'int64', [batch, seqLen]);
  const pack = step.packed ? packingInput(g, { batch, seqLen }) : undefined;
  const tokenLogp = forwardTokenLogprobs(cfg, params, ids, targets, { lora: loraForward(g, step.lora, true), pack });
  const out = variantLoss(step.variant, { tokenLogp, ...lossInputs(g, step.variant, batch, seqLen) }, step.settings);
  outputs(g, out);
  addTrainStep(out.loss, specs, step.mode, step.adamw);
  return g;
}

/** The variant's loss over a `token_logp` input, with its gradient `d_token_logp` (float32 unless asked). */
export function buildLossGraph(
  variant: Variant,
  settings: LossSettings,
  batch: number,
  seqLen: number,
  float: FloatType = 'float32',
): Graph {
  const g = new Graph({ name: `alol_${variant}_loss`, float });
  const tokenLogp = g.floatInput('token_logp', [batch, seqLen]);
  const out = variantLoss(variant, { tokenLogp, ...lossInputs(g, variant, batch, seqLen) }, settings);
  g.output('loss', out.loss);
  outputs(g, out);
  g.output('d_token_logp', gradients(out.loss, [tokenLogp])[0]);
  return g;
}
