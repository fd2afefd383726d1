// The baselines of issue 25 as losses on the same step graph as every A-LoL variant (losses.ts calls
// baselineLoss for them). Letters: B rows, T positions; l = sum_t m_t logp_t (with gradient), l_ref
// likewise for pi_ref; R the total reward, A = R - V; sg() stop-gradient. Per-row losses are averaged
// over the batch (pro: summed per prompt, averaged over the batch's prompts).
//
//   filtered_bc  coef * -l                        coef = 1 on rows the filter keeps (filterKeep), else 0
//   rwr, awr     w * -l,  w = min(e / mean(e), wMax), e = exp(coef / tau); coef = R (rwr) or A (awr);
//                the weights are constants (they do not depend on the policy)
//   kto          coef = 1 (desirable: R >= threshold): lambdaD (1 - sigmoid(beta (l - l_ref - z0)))
//                coef = 0 (undesirable):                lambdaU (1 - sigmoid(beta (z0 - (l - l_ref))))
//                z0 = sg(max(0, mean_b(kl_logp - kl_ref_logp))): the policy's and the reference's log-probs of
//                mismatched rows (prompt b with another row's response), no gradient, as TRL's KTO
//   qrpo         (coef - beta log Z - beta (l - l_ref))^2, coef = q (qrpoQuantiles), log Z = log(beta (e^(1/beta) - 1))
//   pro          per prompt with responses ordered by R (high to low; ties in dataset order), s = l / |y|:
//                sum_k [log(e^(s_k T_k) + sum_{i>k} e^(s_i (R_k - R_i))) - s_k T_k], T_k = max_{i>k} (R_k - R_i),
//                plus sftWeight (n - 1)^2 * -l(best response) — the A-LoL authors' PRO script
//                (pro_qlora_llama_hh.py): reward differences are the temperatures, no epsilon inside the log.
//                Inputs: coef = 1 on each prompt's best row; pro_after [B, B] = 1 where row i ranks after row k
//                in k's prompt; pro_temp [B, B] = R_k - R_i there (proInputs builds them).

import type { Graph, Value } from '../graph/ir.js';
import * as o from '../graph/ops.js';
import type { BASELINE_VARIANTS } from '../../protocol/baselines.js';
import type { Variant } from './rules.js';

export type BaselineVariant = (typeof BASELINE_VARIANTS)[number];

/** The settings of one baseline's loss (only the ones it reads; part of the step graph's cache key). */
export interface BaselineLossSettings {
  tau?: number;
  wMax?: number;
  beta?: number;
  lambdaD?: number;
  lambdaU?: number;
  sftWeight?: number;
}

/** Extra graph inputs of a baseline besides mask, ref_token_logp and coef. */
export function baselineInputs(g: Graph, variant: Variant, b: number): Record<string, Value> {
  if (variant === 'kto') return { klLogp: g.floatInput('kl_logp', [b]), klRefLogp: g.floatInput('kl_ref_logp', [b]) };
  if (variant === 'pro') return { proAfter: g.floatInput('pro_after', [b, b]), proTemp: g.floatInput('pro_temp', [b, b]) };
  return {};
}

export interface BaselineTerms {
  /** l and l_ref per row [B], the mask [B, T] and the per-row factor [B]. */
  l: Value;
  lRef: Value;
  mask: Value;
  coef: Value;
  extra: Record<string, Value | undefined>;
}

export interface BaselineOutputs {
  loss: Value;
  meanWeight: Value;
  clipFraction: Value;
}

/** log Z of QRPO for uniform quantile rewards: log(beta (e^(1/beta) - 1)), computed without overflow. */
export const qrpoLogZ = (beta: number): number => Math.log(beta) + 1 / beta + Math.log1p(-Math.exp(-1 / beta));

function need(s: BaselineLossSettings, key: keyof BaselineLossSettings, variant: string): number {
  const v = s[key];
  if (v === undefined) throw new Error(`${variant}: the loss settings lack ${key}`);
  return v;
}

function input(t: BaselineTerms, name: string, variant: string): Value {
  const v = t.extra[name];
  if (!v) throw new Error(`${variant}: the loss needs the ${name} input`);
  return v;
}

export function baselineLoss(variant: BaselineVariant, t: BaselineTerms, s: BaselineLossSettings): BaselineOutputs {
  const g = t.l.graph;
  const [b] = t.l.shape as number[];
  const mean = (v: Value): Value => o.div(o.sumAll(v), b);
  const one = g.scalar(1);
  const zero = g.scalar(0);
  switch (variant) {
    case 'filtered_bc':
      return { loss: mean(o.mul(t.coef, o.neg(t.l))), meanWeight: one, clipFraction: zero };
    case 'rwr':
    case 'awr': {
      const [tau, wMax] = [need(s, 'tau', variant), need(s, 'wMax', variant)];
      const x = o.div(t.coef, tau); // [B]
      const e = o.exp(o.sub(x, o.reduceMax(x, [0], true))); // shifted: the normalisation cancels the shift
      const w = o.stopGradient(o.div(e, o.div(o.sumAll(e), b))); // mean 1 over the batch
      const clipped = o.min(w, wMax);
      const atBound = o.cast(o.greater(w, wMax), w.dtype);
      return { loss: mean(o.mul(clipped, o.neg(t.l))), meanWeight: mean(clipped), clipFraction: mean(atBound) };
    }
    case 'kto': {
      const [beta, lambdaD, lambdaU] = [need(s, 'beta', variant), need(s, 'lambdaD', variant), need(s, 'lambdaU', variant)];
      const kl = o.sub(input(t, 'klLogp', variant), input(t, 'klRefLogp', variant));
      const z0 = o.stopGradient(o.max(o.div(o.sumAll(kl), b), 0));
      const r = o.sub(t.l, t.lRef); // [B]
      const desirable = o.mul(o.sub(1, o.sigmoid(o.mul(o.sub(r, z0), beta))), lambdaD);
      const undesirable = o.mul(o.sub(1, o.sigmoid(o.mul(o.sub(z0, r), beta))), lambdaU);
      const per = o.add(o.mul(t.coef, desirable), o.mul(o.sub(1, t.coef), undesirable));
      return { loss: mean(per), meanWeight: one, clipFraction: zero };
    }
    case 'qrpo': {
      const beta = need(s, 'beta', variant);
      const resid = o.sub(o.sub(t.coef, beta * qrpoLogZ(beta)), o.mul(o.sub(t.l, t.lRef), beta));
      return { loss: mean(o.mul(resid, resid)), meanWeight: one, clipFraction: zero };
    }
    case 'pro': {
      const sftWeight = need(s, 'sftWeight', variant);
      const after = input(t, 'proAfter', variant); // [B, B]
      const temp = input(t, 'proTemp', variant); // [B, B]
      const len = o.max(o.reduceSum(t.mask, [1]), 1);
      const score = o.div(t.l, len); // s [B]
      const below = o.reduceSum(after, [1]); // [B]: responses ranked after row k (n - 1 on a prompt's best row)
      const anchor = o.min(below, 1); // rows with a ranking term
      const a = o.mul(score, o.reduceMax(temp, [1])); // s_k T_k [B] (temp >= 0, and 0 off the ranked-after entries)
      const bij = o.mul(o.unsqueeze(score, [0]), temp); // [B, B]: s_i (R_k - R_i)
      const masked = o.add(o.mul(bij, after), o.mul(o.sub(after, 1), 1e4)); // -1e4 off the candidates
      const c = o.stopGradient(o.max(a, o.reduceMax(masked, [1]))); // every exponent <= 0
      const cands = o.reduceSum(o.mul(after, o.exp(o.sub(bij, o.unsqueeze(c, [1])))), [1]);
      const inside = o.add(o.add(o.mul(anchor, o.exp(o.sub(a, c))), cands), o.sub(1, anchor)); // 1 for rows without a term
      const ranking = o.mul(anchor, o.sub(c, a)); // log(...) + c - a on anchors, 0 elsewhere
      const perRow = o.add(o.log(inside), ranking);
      const sft = o.mul(o.mul(t.coef, o.mul(below, below)), o.mul(o.neg(t.l), sftWeight));
      const prompts = o.max(o.sumAll(t.coef), 1);
      return { loss: o.div(o.sumAll(o.add(perRow, sft)), prompts), meanWeight: one, clipFraction: zero };
    }
  }
}
