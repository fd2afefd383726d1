// A language-modelling loop on token ids: seeded random windows of seqLen + 1 tokens, AdamW with a
// learning-rate schedule, gradient accumulation over micro-batches, and held-out loss (mean NLL per
// token on fixed held-out windows) every evalEvery steps. Used to pretrain models from scratch and
// as the SFT step of the reference policy.

import type { AdamWConfig } from '../graph/optim.js';
import { DEFAULT_ADAMW } from '../graph/optim.js';
import { serialize } from '../graph/onnx.js';
import { type OrtTensor, type Provider, Session, tensor } from '../runtime/session.js';
import { Stepper } from '../runtime/stepper.js';
import { Rng } from '../util/rng.js';
import type { GptConfig } from './config.js';
import { buildLogprobGraph, buildStepGraph } from './graphs.js';
import { gptParamInfos } from './params.js';
import { type ScheduleKind, getLr } from './schedule.js';
import { AlolError } from '../errors.js';

export type TokenArray = Uint8Array | Uint16Array | Int32Array;

export interface LmOptions {
  steps: number;
  batchSize: number;
  seqLen: number;
  lr: number;
  schedule: ScheduleKind;
  warmupSteps: number;
  gradAccum: number;
  /** Held-out loss every this many steps (and after the last); 0 = only at the end. */
  evalEvery: number;
  /** Held-out windows = evalBatches * batchSize, evenly spaced over the held-out tokens. */
  evalBatches: number;
  seed: number;
  adamw: AdamWConfig;
  threads?: number;
  provider?: Provider;
  /** Calls onCheckpoint every this many steps (0 = never) and after the last step. */
  checkpointEvery?: number;
  onCheckpoint?: (snapshot: LmSnapshot) => Promise<void>;
  /** Continue from a snapshot: parameters, AdamW moments, step and RNG state. */
  resume?: LmSnapshot;
}

/** Everything needed to continue training exactly where it stopped. */
export interface LmSnapshot {
  step: number;
  /** State of the batch RNG: the data position is a function of it. */
  rngState: number;
  params: Map<string, Float32Array>;
  /** AdamW moments, named adam.m.<param> / adam.v.<param>. */
  optimizer: Map<string, Float32Array>;
}

export const DEFAULT_LM: LmOptions = {
  steps: 1000,
  batchSize: 16,
  seqLen: 128,
  lr: 1e-3,
  schedule: 'cosine',
  warmupSteps: 50,
  gradAccum: 1,
  evalEvery: 100,
  evalBatches: 4,
  seed: 0,
  adamw: DEFAULT_ADAMW,
};

export type LmEvent =
  | { type: 'step'; step: number; loss: number; lr: number; gradNorm: number; tokensPerSec: number }
  | { type: 'eval'; step: number; heldoutLoss: number };

export interface LmResult {
  params: Map<string, Float32Array>;
  /** Held-out loss after the last step. */
  heldoutLoss: number;
  losses: number[];
}

/** Token windows [B, T] (ids) and their next tokens (targets) starting at the given offsets. */
function windows(tokens: TokenArray, starts: readonly number[], t: number): { ids: OrtTensor; targets: OrtTensor } {
  const b = starts.length;
  const ids = new BigInt64Array(b * t);
  const targets = new BigInt64Array(b * t);
  starts.forEach((s, r) => {
    for (let i = 0; i < t; i++) {
      ids[r * t + i] = BigInt(tokens[s + i]);
      targets[r * t + i] = BigInt(tokens[s + i + 1]);
    }
  });
  return { ids: tensor('int64', ids, [b, t]), targets: tensor('int64', targets, [b, t]) };
}

/** Mean NLL per token of `params` on fixed held-out windows. */
export async function heldoutLoss(session: Session, stepper: Stepper, tokens: TokenArray, opts: LmOptions): Promise<number> {
  const { batchSize: b, seqLen: t } = opts;
  const n = opts.evalBatches * b;
  const span = tokens.length - t - 1;
  if (span < 0) throw new Error(`held-out text has ${tokens.length} tokens; need more than seqLen + 1 = ${t + 1}`);
  const mask = tensor('float32', new Float32Array(b * t).fill(1), [b, t]);
  let total = 0;
  for (let k = 0; k < opts.evalBatches; k++) {
    const starts = Array.from({ length: b }, (_, r) => Math.floor(((k * b + r) * span) / Math.max(1, n - 1)));
    const out = await session.run({ ...stepper.paramFeeds(), ...windows(tokens, starts, t), mask });
    total -= (out.seq_logprob.data as Float32Array).reduce((a, x) => a + x, 0);
  }
  return total / (n * t);
}

export async function trainLm(
  cfg: GptConfig,
  init: ReadonlyMap<string, Float32Array>,
  data: { train: TokenArray; heldout: TokenArray },
  opts: LmOptions,
  onEvent: (e: LmEvent) => void = () => undefined,
): Promise<LmResult> {
  const { batchSize: b, seqLen: t } = opts;
  if (t > cfg.nPositions) throw new Error(`seqLen ${t} exceeds the model's n_positions ${cfg.nPositions}`);
  if (data.train.length < t + 2) throw new Error(`training text has ${data.train.length} tokens; need at least seqLen + 2 = ${t + 2}`);
  const shape = { batch: b, seqLen: t };
  const sessionOpts = { threads: opts.threads, provider: opts.provider };
  const accumulating = opts.gradAccum > 1;
  const update = await Session.create(
    serialize(buildStepGraph(cfg, shape, { mode: accumulating ? 'accumulate-update' : 'update', adamw: opts.adamw })),
    'lm_step',
    sessionOpts,
  );
  const accumulate = accumulating ? await Session.create(serialize(buildStepGraph(cfg, shape, { mode: 'accumulate', adamw: opts.adamw })), 'lm_accumulate', sessionOpts) : null;
  const evalSession = await Session.create(serialize(buildLogprobGraph(cfg, shape)), 'lm_logprobs', sessionOpts);
  const stepper = new Stepper(
    'float32',
    gptParamInfos(cfg).map((p) => {
      const d = init.get(p.name);
      if (!d) throw new Error(`initial parameters lack ${p.name}`);
      return { name: p.name, shape: p.shape, data: d.slice() };
    }),
  );
  const rng = new Rng(opts.seed);
  let start = 0;
  if (opts.resume) {
    const r = opts.resume;
    stepper.loadState([...r.params, ...r.optimizer].map(([name, data]) => ({ name, data })), r.step);
    rng.state = r.rngState;
    start = r.step;
  }
  const snapshot = (): LmSnapshot => {
    const params = new Map<string, Float32Array>();
    const optimizer = new Map<string, Float32Array>();
    for (const t of stepper.stateTensors()) (t.name.startsWith('adam.') ? optimizer : params).set(t.name, Float32Array.from(t.data));
    return { step: stepper.step, rngState: rng.state, params, optimizer };
  };
  const fixed = {
    mask: tensor('float32', new Float32Array(b * t).fill(1), [b, t]),
    example_weight: tensor('float32', new Float32Array(b).fill(1 / t), [b]), // loss = mean NLL per token
  };
  const nextBatch = () => ({ ...windows(data.train, Array.from({ length: b }, () => rng.int(data.train.length - t - 1)), t), ...fixed });
  const schedule = { kind: opts.schedule, lr: opts.lr, warmupSteps: opts.warmupSteps, totalSteps: opts.steps };

  const losses: number[] = [];
  let lastHeldout = NaN;
  try {
    for (let step = start; step < opts.steps; step++) {
      // learning rate for this update
      const lr = getLr(schedule, step);
      // forward, backward, update (micro-batches first when accumulating)
      const t0 = performance.now();
      let lossSum = 0;
      for (let m = 0; m < opts.gradAccum - 1; m++) lossSum += await stepper.accumulate(accumulate as Session, nextBatch());
      const stats = await stepper.update(update, nextBatch(), lr);
      const loss = (lossSum + stats.loss) / opts.gradAccum;
      if (!Number.isFinite(loss)) throw new AlolError('training', `loss became ${loss} at step ${step + 1}`, 'lower the learning rate');
      losses.push(loss);
      // timing and logging
      const elapsedMs = performance.now() - t0;
      onEvent({ type: 'step', step: step + 1, loss, lr, gradNorm: stats.gradNorm, tokensPerSec: (b * t * opts.gradAccum) / (elapsedMs / 1e3) });
      // evaluation
      const last = step + 1 === opts.steps;
      if (last || (opts.evalEvery > 0 && (step + 1) % opts.evalEvery === 0)) {
        lastHeldout = await heldoutLoss(evalSession, stepper, data.heldout, opts);
        onEvent({ type: 'eval', step: step + 1, heldoutLoss: lastHeldout });
      }
      // checkpoint
      const every = opts.checkpointEvery ?? 0;
      if (opts.onCheckpoint && (last || (every > 0 && (step + 1) % every === 0))) await opts.onCheckpoint(snapshot());
    }
    const params = new Map<string, Float32Array>();
    for (const name of stepper.paramNames) params.set(name, Float32Array.from(stepper.param(name)));
    return { params, heldoutLoss: lastHeldout, losses };
  } finally {
    await update.release();
    await accumulate?.release();
    await evalSession.release();
  }
}
