// The one training loop: pretraining (model/lm.ts), SFT (pipeline/sft.ts), A-LoL training
// (pipeline/train.ts) and the value head's fit (value/fit.ts) all make their updates here. Each update
// has the same labelled phases — stop and checkpoint requests, learning rate, batch assembly,
// forward-backward-update (gradient accumulation happens inside the trainer, global-norm clipping
// inside the step graph), then the caller's checks, logging, evaluation and checkpoints. What differs
// between the four is passed in; the loop itself is written once.

import { type Schedule, getLr } from '../model/schedule.js';
import type { StepStats, Trainer } from './backend.js';

/** What an update left, for the caller's checks, logging, evaluation and checkpoints. */
export interface StepDone<B> {
  /** Updates done so far (1-based: the first update is step 1). */
  step: number;
  lr: number;
  stats: StepStats;
  /** The micro-batches of this update. */
  batches: readonly B[];
  /** Wall time of this update: batch assembly and compute. */
  elapsedMs: number;
}

export interface LoopPlan<B> {
  /** The first update (0, or where a resumed trainer is) and the update count to reach. */
  from: number;
  to: number;
  /** Learning rate of update `step` (0-based): a schedule, or a constant. */
  lr: Schedule | number;
  /** The micro-batches of update `step` (one, or gradAccum of them). */
  batches(step: number): readonly B[] | Promise<readonly B[]>;
  /** Before update `step`: stop and checkpoint-now requests (throw to stop). */
  beforeStep?(step: number): void | Promise<void>;
  /** After each update: the loss check, logging, evaluation, checkpoints. */
  afterStep?(done: StepDone<B>): void | Promise<void>;
}

/** Runs updates `from` .. `to` - 1 of `trainer`; returns each update's loss. */
export async function trainLoop<B>(trainer: Trainer<B>, plan: LoopPlan<B>): Promise<number[]> {
  const losses: number[] = [];
  for (let step = plan.from; step < plan.to; step++) {
    // requests: stop, checkpoint now
    await plan.beforeStep?.(step);
    // learning rate
    const lr = typeof plan.lr === 'number' ? plan.lr : getLr(plan.lr, step);
    // batches; forward-backward-update
    const t0 = performance.now();
    const batches = await plan.batches(step);
    const stats = await trainer.update(batches, lr);
    const elapsedMs = performance.now() - t0;
    losses.push(stats.loss);
    // checks, logging, evaluation, checkpoints
    await plan.afterStep?.({ step: step + 1, lr, stats, batches, elapsedMs });
  }
  return losses;
}

