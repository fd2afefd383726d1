// The golden loss values (test/golden/, written independently in PyTorch by scripts/golden_losses.py and
// scripts/golden_baselines.py) and the inputs of each case as the pipeline makes them (coefFor, and for the
// baselines alol/baseline-data.ts: the filter, kto's desirable rows, qrpo's q, pro's ranking matrices), as plain
// float32 arrays by the loss graph's input names. The ONNX loss graphs (unit/losses, unit/baseline-losses) and the
// PyTorch worker (integration/torch-worker) are checked against the same cases.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { filterKeep, ktoDesirable, proInputs, qrpoQuantiles } from '../../src/trainer/alol/baseline-data.js';
import type { BaselineLossSettings } from '../../src/trainer/alol/baselines.js';
import { type LossSettings, coefFor } from '../../src/trainer/alol/losses.js';
import type { Variant } from '../../src/trainer/alol/rules.js';

/** Tolerance of every golden comparison: relative, with a floor (see relErr). */
export const TOL = 1e-5;
// Entries with |golden| < 1e-3 (masked positions, zero-advantage rows, tiny gradients) are compared absolutely at
// 1e-8, where float32 rounding alone would otherwise make a relative error meaningless.
const FLOOR = 1e-3;
export const relErr = (got: number, want: number): number => Math.abs(got - want) / Math.max(Math.abs(want), FLOOR);

export interface Feed {
  data: Float32Array;
  dims: number[];
}

export interface Expected {
  loss: number;
  mean_weight: number;
  clip_fraction: number;
  grad: number[][];
}

export interface AlolCase {
  name: string;
  description: string;
  B: number;
  T: number;
  pairs?: number;
  settings: LossSettings;
  inputs: { token_logp: number[][]; mask: number[][]; ref_token_logp: number[][]; reward: number[]; advantage: number[] };
  seq_logprob: number[];
  expected: Partial<Record<Variant, Expected>>;
}

export interface BaselineInputs {
  token_logp: number[][];
  mask: number[][];
  ref_token_logp: number[][];
  reward: number[];
  advantage: number[];
  prompt: number[];
  ref_rewards?: number[][];
  kl_logp?: number[];
  kl_ref_logp?: number[];
}

export interface BaselineRun extends Expected {
  variant: Variant;
  label: string;
  settings: Record<string, number | string | null>;
  overrides: Partial<BaselineInputs>;
}

export interface BaselineCase {
  name: string;
  description: string;
  B: number;
  T: number;
  inputs: BaselineInputs;
  runs: BaselineRun[];
}

const read = <T>(file: string): T => JSON.parse(readFileSync(path.resolve(__dirname, '../../../test/golden', file), 'utf8')) as T;
export const alolGolden = (): { cases: AlolCase[] } => read('alol-losses.json');
export const baselineGolden = (): { cases: BaselineCase[] } => read('baseline-losses.json');

const mat = (m: number[][], b: number, t: number): Feed => ({ data: Float32Array.from(m.flat()), dims: [b, t] });

/** An A-LoL case's inputs for `variant`: token_logp, mask, ref_token_logp, coef and the policy's log-probs. */
export function alolFeeds(c: AlolCase, variant: Variant): Record<string, Feed> {
  const { B, T, inputs: x } = c;
  const coef = Float32Array.from(x.reward.map((r, i) => coefFor(variant, r, x.advantage[i])));
  return {
    token_logp: mat(x.token_logp, B, T),
    mask: mat(x.mask, B, T),
    ref_token_logp: mat(x.ref_token_logp, B, T),
    coef: { data: coef, dims: [B] },
    // the weighted variants read the policy's log-probs from the inference pass: the same numbers here
    policy_token_logp: mat(x.token_logp, B, T),
  };
}

/** A baseline run's loss settings (the numeric ones; the filter and threshold shape the inputs instead). */
export function baselineSettings(run: BaselineRun): LossSettings {
  const baseline = Object.fromEntries(
    Object.entries(run.settings).filter(([k, v]) => typeof v === 'number' && k !== 'threshold'),
  ) as BaselineLossSettings;
  return { clipEps: 0.9, klBeta: 0.1, dpoBeta: 0.1, baseline };
}

/** A baseline run's inputs, made as the pipeline makes them. */
export function baselineFeeds(c: BaselineCase, run: BaselineRun): Record<string, Feed> {
  const x = { ...c.inputs, ...run.overrides };
  const { B, T } = c;
  const keys = x.prompt.map((p) => (p < 0 ? null : `p${p}`));
  const threshold = typeof run.settings.threshold === 'number' ? run.settings.threshold : null;
  const extra: Record<string, Feed> = {};
  let coef: Float32Array;
  switch (run.variant) {
    case 'filtered_bc': {
      const filter = run.settings.filter as 'threshold' | 'best_of_prompt';
      coef = Float32Array.from(filterKeep(x.reward, keys as string[], filter, threshold), Number);
      break;
    }
    case 'rwr':
    case 'awr':
      coef = Float32Array.from(x.reward, (r, i) => coefFor(run.variant, r, x.advantage[i]));
      break;
    case 'kto':
      coef = Float32Array.from(ktoDesirable(x.reward, threshold), Number);
      extra.kl_logp = { data: Float32Array.from(x.kl_logp ?? []), dims: [B] };
      extra.kl_ref_logp = { data: Float32Array.from(x.kl_ref_logp ?? []), dims: [B] };
      break;
    case 'qrpo':
      coef = Float32Array.from(qrpoQuantiles(x.reward, x.ref_rewards ?? []));
      break;
    case 'pro': {
      const p = proInputs(x.reward, keys);
      coef = p.best;
      extra.pro_after = { data: p.after, dims: [B, B] };
      extra.pro_temp = { data: p.temp, dims: [B, B] };
      break;
    }
    default:
      throw new Error(`not a baseline: ${run.variant}`);
  }
  return {
    token_logp: mat(x.token_logp, B, T),
    mask: mat(x.mask, B, T),
    ref_token_logp: mat(x.ref_token_logp, B, T),
    coef: { data: coef, dims: [B] },
    ...extra,
  };
}
