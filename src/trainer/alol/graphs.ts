// Graphs of A-LoL training, for a static batch shape [B, T]: the training step of a variant (the GPT
// forward, the variant's loss, gradients, AdamW), and the loss alone over given per-token log-probs
// (what the golden-value tests evaluate: the same loss subgraph the step runs).
//
// Step inputs: GPT parameters, ids, targets, mask [B, T], ref_token_logp [B, T], coef [B],
// policy_token_logp [B, T] (r_lol, a_lol, a_lol_seq: from the inference graph), + optim.ts's.
// Step outputs: loss, mean_weight, clip_fraction, seq_logprob [B], + optim.ts's (new.*, grad_norm, ...).

import { type FloatType, Graph } from '../graph/ir.js';
import { gradients } from '../graph/grad.js';
import { type AdamWConfig, type StepMode, addTrainStep } from '../graph/optim.js';
import type { GptConfig } from '../model/config.js';
import { gptForward, tokenLogprobs } from '../model/gpt.js';
import { addParams } from '../model/graphs.js';
import { type LossOutputs, type LossSettings, needsPolicyLogprobs, variantLoss } from './losses.js';
import type { Variant } from './rules.js';

export interface AlolStepOptions {
  variant: Variant;
  settings: LossSettings;
  mode: StepMode;
  adamw: AdamWConfig;
}

function lossInputs(g: Graph, variant: Variant, b: number, t: number) {
  return {
    mask: g.floatInput('mask', [b, t]),
    refTokenLogp: g.floatInput('ref_token_logp', [b, t]),
    coef: g.floatInput('coef', [b]),
    ...(needsPolicyLogprobs(variant) ? { policyTokenLogp: g.floatInput('policy_token_logp', [b, t]) } : {}),
  };
}

function outputs(g: Graph, out: LossOutputs): void {
  g.output('mean_weight', out.meanWeight);
  g.output('clip_fraction', out.clipFraction);
  g.output('seq_logprob', out.seqLogprob);
}

export function buildAlolStepGraph(cfg: GptConfig, batch: number, seqLen: number, o: AlolStepOptions): Graph {
  const g = new Graph({ name: `alol_${o.variant}_step` });
  const { params, specs } = addParams(g, cfg);
  const ids = g.input('ids', 'int64', [batch, seqLen]);
  const targets = g.input('targets', 'int64', [batch, seqLen]);
  const tokenLogp = tokenLogprobs(gptForward(cfg, params, ids).logits, targets);
  const out = variantLoss(o.variant, { tokenLogp, ...lossInputs(g, o.variant, batch, seqLen) }, o.settings);
  outputs(g, out);
  addTrainStep(out.loss, specs, o.mode, o.adamw);
  return g;
}

/** The variant's loss over a `token_logp` input, with its gradient `d_token_logp` (float32 unless asked). */
export function buildLossGraph(variant: Variant, settings: LossSettings, batch: number, seqLen: number, float: FloatType = 'float32'): Graph {
  const g = new Graph({ name: `alol_${variant}_loss`, float });
  const tokenLogp = g.floatInput('token_logp', [batch, seqLen]);
  const out = variantLoss(variant, { tokenLogp, ...lossInputs(g, variant, batch, seqLen) }, settings);
  g.output('loss', out.loss);
  outputs(g, out);
  g.output('d_token_logp', gradients(out.loss, [tokenLogp])[0]);
  return g;
}
