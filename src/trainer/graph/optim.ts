// A training step as one graph: loss -> gradients -> (micro-batch accumulation) -> global-norm
// clipping -> AdamW. Parameters, optimizer moments, the learning rate and the step number are graph
// inputs and the updated values are outputs, so a schedule needs no rebuild and the caller owns all
// state (checkpoints are just these tensors).
//
// Inputs added (for each parameter P):   P, adam.m.P, adam.v.P, lr, step        [+ acc.P, grad_scale]
// Outputs added:                          new.P, new.adam.m.P, new.adam.v.P, loss, grad_norm, clip_coef
// An `accumulate` graph instead outputs   new.acc.P = acc.P + dLoss/dP, and loss.
//
// float16 compute (Graph.compute; graph/ops.ts matmul) adds loss scaling: a `loss_scale` input S multiplies the loss
// before the backward pass (small float16 gradients would flush to zero) and 1/S the float32 gradients after it; a
// `grad_finite` output (1 or 0) says whether every gradient was finite, and when not, the update is skipped in the
// graph (new.P = P, moments unchanged). The host chooses S (runtime/loss-scale.ts). bfloat16 has float32's range:
// no scaling.

import { type Graph, type Value } from './ir.js';
import { gradients } from './grad.js';
import * as o from './ops.js';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Max global L2 norm of the gradient; 0 or null turns clipping off. */
  gradClip: number | null;
}

export const DEFAULT_ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1.0 };

export interface ParamSpec {
  /** A graph input holding the parameter. */
  readonly value: Value;
  /** Decoupled weight decay applies (usually matrices, not biases, gains or embeddings). */
  readonly decay: boolean;
}

export type StepMode =
  /** forward + backward + AdamW in one run (gradient accumulation off). */
  | 'update'
  /** forward + backward, adding this micro-batch's gradients to `acc.P` inputs. */
  | 'accumulate'
  /** the last micro-batch: (acc.P + grad) * grad_scale, then clipping and AdamW. */
  | 'accumulate-update';

/** float16 step graphs: the loss scale input, and the output saying the gradients were finite (the update applied). */
export const LOSS_SCALE = 'loss_scale';
export const GRAD_FINITE = 'grad_finite';

export const momentName = (kind: 'm' | 'v', param: string): string => `adam.${kind}.${param}`;
export const accName = (param: string): string => `acc.${param}`;
export const newName = (name: string): string => `new.${name}`;

/** Squared L2 norm of several tensors, as a scalar. */
function sumSquares(xs: readonly Value[]): Value {
  return xs.map((x) => o.sumAll(o.mul(x, x))).reduce((a, b) => o.add(a, b));
}

/**
 * Adds gradients, optional accumulation, clipping and the AdamW update of `params` for the scalar
 * `loss` to its graph, with the inputs and outputs listed at the top of this file.
 */
export function addTrainStep(loss: Value, params: readonly ParamSpec[], mode: StepMode, cfg: AdamWConfig = DEFAULT_ADAMW): void {
  const g: Graph = loss.graph;
  for (const p of params) {
    if (p.value.kind !== 'input') throw new Error(`parameter ${p.value.name} must be a graph input`);
  }
  g.output('loss', loss);
  const lossScale = g.compute === 'float16' ? g.floatInput(LOSS_SCALE, []) : null;
  let grads = gradients(lossScale ? o.mul(loss, lossScale) : loss, params.map((p) => p.value));
  if (lossScale) {
    const unscale = o.reciprocal(lossScale);
    grads = grads.map((gr) => o.mul(gr, unscale));
  }

  if (mode !== 'update') {
    grads = grads.map((gr, i) => o.add(g.floatInput(accName(params[i].value.name), params[i].value.shape), gr));
  }
  if (mode === 'accumulate') {
    grads.forEach((gr, i) => g.output(newName(accName(params[i].value.name)), gr));
    return;
  }
  if (mode === 'accumulate-update') {
    const scale = g.floatInput('grad_scale', []);
    grads = grads.map((gr) => o.mul(gr, scale));
  }

  // Global-norm clipping as torch.nn.utils.clip_grad_norm_: coef = min(1, maxNorm / (norm + 1e-6)).
  const norm = o.sqrt(sumSquares(grads));
  g.output('grad_norm', norm);
  // any Inf or NaN gradient makes the norm non-finite: one scalar test for all of them
  const finite = lossScale ? o.isFinite(norm) : null;
  if (finite) g.output(GRAD_FINITE, o.cast(finite, 'float32'));
  const keepIfFinite = (next: Value, prev: Value): Value => (finite ? o.where(finite, next, prev) : next);
  if (cfg.gradClip && cfg.gradClip > 0) {
    const coef = o.min(o.div(cfg.gradClip, o.add(norm, 1e-6)), 1);
    g.output('clip_coef', coef);
    grads = grads.map((gr) => o.mul(gr, coef));
  } else {
    g.output('clip_coef', o.identity(g.scalar(1)));
  }

  const lr = g.floatInput('lr', []);
  const step = g.floatInput('step', []); // 1-based count of updates, including this one
  // Bias corrections 1 - beta^t, computed in the graph so the step number is just an input.
  const bc1 = o.sub(1, o.pow(g.scalar(cfg.beta1), step));
  const bc2 = o.sub(1, o.pow(g.scalar(cfg.beta2), step));
  params.forEach((p, i) => {
    const name = p.value.name;
    const gr = grads[i];
    const m = g.floatInput(momentName('m', name), p.value.shape);
    const v = g.floatInput(momentName('v', name), p.value.shape);
    const m2 = o.add(o.mul(m, cfg.beta1), o.mul(gr, 1 - cfg.beta1));
    const v2 = o.add(o.mul(v, cfg.beta2), o.mul(o.mul(gr, gr), 1 - cfg.beta2));
    // p <- p * (1 - lr * wd) - lr * mhat / (sqrt(vhat) + eps), as torch.optim.AdamW.
    const decayed = p.decay && cfg.weightDecay > 0 ? o.mul(p.value, o.sub(1, o.mul(lr, cfg.weightDecay))) : p.value;
    const denom = o.add(o.sqrt(o.div(v2, bc2)), cfg.eps);
    const update = o.div(o.div(m2, bc1), denom);
    g.output(newName(name), keepIfFinite(o.sub(decayed, o.mul(update, lr)), p.value));
    g.output(newName(momentName('m', name)), keepIfFinite(m2, m));
    g.output(newName(momentName('v', name)), keepIfFinite(v2, v));
  });
}
