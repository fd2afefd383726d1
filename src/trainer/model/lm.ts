// Pretraining (`alol pretrain`): language modelling on token ids — seeded random windows of seqLen + 1
// tokens, AdamW with a learning-rate schedule, gradient accumulation over micro-batches, and held-out
// loss (mean NLL per token on fixed held-out windows) every evalEvery steps. The updates run in the
// one training loop (compute/loop.ts). (The reference policy's SFT on rows is pipeline/sft.ts.)

import type { PolicyTrainer, TokenBatch, TrainBatch } from '../compute/backend.js';
import { type ComputeOptions, withCompute } from '../compute/local.js';
import { trainLoop } from '../compute/loop.js';
import { AlolError } from '../errors.js';
import type { AdamWConfig } from '../graph/optim.js';
import { DEFAULT_ADAMW } from '../graph/optim.js';
import { Rng } from '../util/rng.js';
import { type ModelConfig, positionsLimit } from './config.js';
import type { ScheduleKind } from './schedule.js';

export type TokenArray = Uint8Array | Uint16Array | Int32Array;

export interface LmOptions extends ComputeOptions {
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

/** Token windows [B, T] (ids) and their next tokens (targets) starting at the given offsets; every position counts. */
function windows(tokens: TokenArray, starts: readonly number[], t: number): TokenBatch {
  const b = starts.length;
  const ids = new BigInt64Array(b * t);
  const targets = new BigInt64Array(b * t);
  starts.forEach((s, r) => {
    for (let i = 0; i < t; i++) {
      ids[r * t + i] = BigInt(tokens[s + i]);
      targets[r * t + i] = BigInt(tokens[s + i + 1]);
    }
  });
  return { rows: b, seqLen: t, ids, targets, mask: new Float32Array(b * t).fill(1) };
}

/** Mean NLL per token of the trainer's current weights on fixed held-out windows. */
export async function heldoutLoss(trainer: PolicyTrainer, tokens: TokenArray, opts: LmOptions): Promise<number> {
  const { batchSize: b, seqLen: t } = opts;
  const n = opts.evalBatches * b;
  const span = tokens.length - t - 1;
  if (span < 0) throw new Error(`held-out text has ${tokens.length} tokens; need more than seqLen + 1 = ${t + 1}`);
  let total = 0;
  for (let k = 0; k < opts.evalBatches; k++) {
    const starts = Array.from({ length: b }, (_, r) => Math.floor(((k * b + r) * span) / Math.max(1, n - 1)));
    total -= (await trainer.logprobs(windows(tokens, starts, t))).seq.reduce((a, x) => a + x, 0);
  }
  return total / (n * t);
}

export async function trainLm(
  cfg: ModelConfig,
  init: ReadonlyMap<string, Float32Array>,
  data: { train: TokenArray; heldout: TokenArray },
  opts: LmOptions,
  onEvent: (e: LmEvent) => void = () => undefined,
): Promise<LmResult> {
  const { batchSize: b, seqLen: t } = opts;
  if (t > cfg.nPositions) throw new Error(`seqLen ${t} exceeds the model's ${positionsLimit(cfg)}`);
  if (data.train.length < t + 2) throw new Error(`training text has ${data.train.length} tokens; need at least seqLen + 2 = ${t + 2}`);
  return withCompute(opts, async (compute) => {
    const trainer = compute.policyTrainer({ config: cfg, params: init }, { objective: { kind: 'nll' }, rows: b, adamw: opts.adamw });
    try {
      const rng = new Rng(opts.seed);
      if (opts.resume) {
        const r = opts.resume;
        await trainer.loadState({ params: r.params, optimizer: r.optimizer }, r.step);
        rng.state = r.rngState;
      }
      const exampleWeight = new Float32Array(b).fill(1 / t); // loss = mean NLL per token
      const nextBatch = (): TrainBatch => ({
        ...windows(data.train, Array.from({ length: b }, () => rng.int(data.train.length - t - 1)), t),
        exampleWeight,
      });
      let lastHeldout = NaN;
      const losses = await trainLoop(trainer, {
        from: trainer.step,
        to: opts.steps,
        lr: { kind: opts.schedule, lr: opts.lr, warmupSteps: opts.warmupSteps, totalSteps: opts.steps },
        batches: () => Array.from({ length: opts.gradAccum }, nextBatch),
        afterStep: async ({ step, lr, stats, elapsedMs }) => {
          // the loss check
          if (!Number.isFinite(stats.loss)) throw new AlolError(
            'training',
            `loss became ${stats.loss} at step ${step}`,
            'lower the learning rate',
          );
          // logging
          onEvent({
            type: 'step',
            step,
            loss: stats.loss,
            lr,
            gradNorm: stats.gradNorm,
            tokensPerSec: (b * t * opts.gradAccum) / (elapsedMs / 1e3),
          });
          // evaluation
          const last = step === opts.steps;
          if (last || (opts.evalEvery > 0 && step % opts.evalEvery === 0)) {
            lastHeldout = await heldoutLoss(trainer, data.heldout, opts);
            onEvent({ type: 'eval', step, heldoutLoss: lastHeldout });
          }
          // checkpoint
          const every = opts.checkpointEvery ?? 0;
          if (opts.onCheckpoint && (last || (every > 0 && step % every === 0))) {
            await opts.onCheckpoint({ step: trainer.step, rngState: rng.state, ...(await trainer.state()) });
          }
        },
      });
      return { params: await trainer.weights(), heldoutLoss: lastHeldout, losses };
    } finally {
      await trainer.dispose();
    }
  });
}
