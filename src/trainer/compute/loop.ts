// The one training loop: pretraining (model/lm.ts), SFT (pipeline/sft.ts), A-LoL training
// (pipeline/train.ts) and the value head's fit (value/fit.ts) all make their updates here. Each update
// has the same labelled phases — stop and checkpoint requests, learning rate, batch assembly,
// forward-backward-update (gradient accumulation happens inside the trainer, global-norm clipping
// inside the step graph), then the caller's checks, logging, evaluation and checkpoints. What differs
// between the four is passed in; the loop itself is written once.
// With stepsPerRun K > 1 the trainer makes up to K updates per call (Trainer.updateMany: a Loop graph), then the
// caller's afterStep runs for each of them in order; a run ends at every step the caller marks as a boundary
// (evaluation, checkpoint), so what afterStep reads from the trainer there is that step's state.

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
  /**
   * Updates per trainer call (default 1; more needs Trainer.updateMany, else 1). Stop and checkpoint-now requests
   * (beforeStep) are then checked before each call, not each update.
   */
  stepsPerRun?: number;
  /** Whether afterStep of update `step` (1-based) reads the trainer (evaluates, saves): a run of updates ends there. */
  boundary?(step: number): boolean;
}

/** How many updates from `step` (0-based) the next trainer call makes: up to stepsPerRun, ending at a boundary. */
export function runLength<B>(plan: LoopPlan<B>, step: number, canMany: boolean): number {
  const most = Math.min(canMany ? (plan.stepsPerRun ?? 1) : 1, plan.to - step);
  for (let k = 1; k < most; k++) if (plan.boundary?.(step + k)) return k;
  return most;
}

/** Runs updates `from` .. `to` - 1 of `trainer`; returns each update's loss. */
export async function trainLoop<B>(trainer: Trainer<B>, plan: LoopPlan<B>): Promise<number[]> {
  const losses: number[] = [];
  const lrAt = (step: number): number => (typeof plan.lr === 'number' ? plan.lr : getLr(plan.lr, step));
  const many = trainer.updateMany?.bind(trainer);
  for (let step = plan.from; step < plan.to;) {
    // requests: stop, checkpoint now
    await plan.beforeStep?.(step);
    const k = runLength(plan, step, many !== undefined);
    // learning rate; batches; forward-backward-update (k of them in one call)
    const t0 = performance.now();
    const lrs: number[] = [];
    const batches: (readonly B[])[] = [];
    for (let i = 0; i < k; i++) {
      lrs.push(lrAt(step + i));
      batches.push(await plan.batches(step + i));
    }
    const stats = many && k > 1 ? await many(batches, lrs) : [await trainer.update(batches[0], lrs[0])];
    if (stats.length !== k) throw new Error(`trainLoop: the trainer returned ${stats.length} step stats for ${k} updates`);
    const elapsedMs = (performance.now() - t0) / k; // per update
    // checks, logging, evaluation, checkpoints: per update, in order
    for (let i = 0; i < k; i++) {
      losses.push(stats[i].loss);
      await plan.afterStep?.({ step: step + i + 1, lr: lrs[i], stats: stats[i], batches: batches[i], elapsedMs });
    }
    step += k;
  }
  return losses;
}

