// The train phase: one variant trained from the audit's reference policy, its settings read from the
// run's config. The updates run in the one training loop (compute/loop.ts) on a trainer of the run's
// compute backend; around them: requests from the extension (checkpoint now, stop), sampling and batch
// assembly, the watchdog, logging, evaluation (the best checkpoint by a validation score: the reward of
// generations, or the preference accuracy when nothing can score generations) and checkpoints.
// Importance weights come from the policy's log-probs inside the backend and the cached per-token
// reference log-probs, so at step 0 they are exactly 1.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { variantBatch } from '../alol/batch.js';
import { coefFor } from '../alol/losses.js';
import { type Variant, isAlol, isBaseline, samplerFor, stepBudget, usesAdvantages } from '../alol/rules.js';
import { RowSampler, type SamplerState, samplingUnits, unitGroups, unitWeights } from '../alol/sampler.js';
import type { PolicyTrainer, TrainBatch } from '../compute/backend.js';
import { trainLoop } from '../compute/loop.js';
import { AlolError } from '../errors.js';
import { isAdapterFolder, saveAdapterFolder } from '../model/adapter.js';
import {
  type TrainingState,
  loadAdapterCheckpoint,
  loadCheckpoint,
  saveAdapterCheckpoint,
  saveCheckpoint,
} from '../model/checkpoint.js';
import type { ModelConfig } from '../model/config.js';
import { saveModelFolder } from '../model/folder.js';
import { type LoraSpec, initLoraParams, mergeLora, resolveLora } from '../model/lora.js';
import { describeRow } from '../rewards/registry.js';
import { StopRequested } from '../run/control.js';
import type { RunContext } from '../run/context.js';
import type { AuditResult } from './audit.js';
import { baselinePlan } from './baseline-train.js';

/** A non-finite loss or gradient: the batch is written beside the variant and its rows named. */
export class WatchdogError extends AlolError {
  constructor(message: string, hint: string) {
    super('watchdog', message, hint);
  }
}

export interface TrainOptions {
  variant: Variant;
  /** The variant's folder in the run: checkpoints/, final/, best/, watchdog files. */
  dir: string;
  progress: (total: number) => (done: number) => void;
  /** Validation score of the current policy (for the best checkpoint); called every evalEvery steps. */
  evaluate?: (params: ReadonlyMap<string, Float32Array>, step: number) => Promise<ValidationScore>;
  /** Continue from this checkpoint folder (written by an earlier run of the same variant). */
  resume?: string;
  /**
   * Train beside other work: on a trainer of a thread of its own with this many intra-op threads
   * (ComputeBackend.parallelPolicyTrainer), where the backend has one; else on the run's.
   */
  threads?: number;
}

export interface TrainedVariant {
  variant: Variant;
  steps: number;
  trainSeconds: number;
  params: Map<string, Float32Array>;
  /** Share of training rows A-LoL never draws (A <= 0) under this variant's sampler; 0 for others. */
  filteredFraction: number;
  timesSampled: Int32Array;
  /** How often each training row (audit.train's order) was drawn: its units' counts (a dpo pair counts for both rows). */
  rowTimesSampled: Int32Array;
  losses: number[];
  bestStep: number | null;
}

/** A validation evaluation: higher is better; `tiebreak` decides equal values, then `laterWinsTies`. */
export interface ValidationScore {
  value: number;
  tiebreak?: number;
  /** Equal value and tiebreak: the later checkpoint (a metric that cannot tell two apart is no reason to stop early). */
  laterWinsTies?: boolean;
}

/** The best validation score so far and its step: in checkpoints, and in best/ beside that policy. */
interface Best {
  step: number;
  value: number;
  tiebreak: number | null;
}

/** Whether `s` beats the best so far. */
function beats(s: ValidationScore, best: Best | null): boolean {
  if (!best) return true;
  if (s.value !== best.value) return s.value > best.value;
  const [t, bt] = [s.tiebreak ?? -Infinity, best.tiebreak ?? -Infinity];
  return t !== bt ? t > bt : s.laterWinsTies === true;
}

/** A checkpoint's best, also as written before scores had a tiebreak (`{step, reward}`). */
function bestOf(saved: unknown): Best | null {
  if (!saved || typeof saved !== 'object') return null;
  const b = saved as { step?: unknown; value?: unknown; reward?: unknown; tiebreak?: unknown };
  const value = typeof b.value === 'number' ? b.value : b.reward;
  if (typeof b.step !== 'number' || typeof value !== 'number') return null;
  return { step: b.step, value, tiebreak: typeof b.tiebreak === 'number' ? b.tiebreak : null };
}
const BEST_FILE = 'best.json';

/** The step of the policy in `<dir>/best`, if its best.json says. */
async function bestStepIn(dir: string): Promise<number | null> {
  const saved = await readFile(path.join(dir, 'best', BEST_FILE), 'utf8').then((t) => JSON.parse(t) as Partial<Best>, () => null);
  return typeof saved?.step === 'number' ? saved.step : null;
}

const stepDir = (dir: string, step: number): string => path.join(dir, 'checkpoints', `step-${String(step).padStart(6, '0')}`);

export async function trainVariant(ctx: RunContext, audit: AuditResult, opts: TrainOptions): Promise<TrainedVariant> {
  const { variant } = opts;
  const cfg = audit.reference.config;
  const train = { ...ctx.config.train, variant };
  const adv = audit.adv;
  if (usesAdvantages(variant) && !adv) throw new Error(`${variant} needs advantages, and this run's audit skipped the value head`);
  const positiveFraction = adv?.positiveFraction ?? 1;
  const advantages = adv?.advantages ?? new Float64Array(audit.train.length); // unused by variants without advantages
  const budget = stepBudget(train, positiveFraction);
  const rows = audit.train.map((t) => t.row);
  const baseline = isBaseline(variant) ? await baselinePlan(ctx, audit, variant, advantages) : null;
  const units = baseline?.units ?? samplingUnits(rows, variant, audit.trainPairs);
  const sampler = new RowSampler(
    samplerFor(variant, train.sampler),
    unitWeights(variant, units, advantages, audit.rewards.total),
    train.seed,
    unitGroups(units, rows),
  );
  const unitsPerBatch = baseline?.unitsPerBatch ?? (variant === 'dpo' ? Math.max(1, Math.floor(train.batchSize / 2)) : train.batchSize);
  const batchRows = baseline?.rows ?? (variant === 'dpo' ? 2 * unitsPerBatch : unitsPerBatch);
  const settings = {
    clipEps: train.clipEps,
    klBeta: train.klBeta,
    dpoBeta: train.dpoBeta,
    ...(baseline ? { baseline: baseline.settings } : {}),
  };
  const adamw = {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: train.weightDecay,
    gradClip: train.gradClip > 0 ? train.gradClip : null,
  };
  const objective = { kind: 'variant' as const, variant, settings };
  // LoRA: adapters on pi_ref's weights, which stay frozen and shared (the reference is the same weights, adapters off)
  const lora = train.lora ? resolveLora(cfg, train.lora) : null;
  const loraTraining = lora ? { spec: lora, init: initLoraParams(cfg, lora, train.seed), seed: train.seed } : undefined;
  // packed rows (model/pack.ts) unless a Loop graph makes several steps per call (it does not pack)
  const spec = { objective, rows: batchRows, adamw, lora: loraTraining, packRows: train.packRows && train.stepsPerRun === 1 };
  const beside = ctx.compute.parallelPolicyTrainer;
  const trainer: PolicyTrainer = beside && opts.threads !== undefined
    ? beside(audit.reference, spec, opts.threads)
    : ctx.compute.policyTrainer(audit.reference, spec);
  /** The policy's full weights from the trainer's (all of them, or the adapters merged into the base). */
  const policyOf = (weights: Map<string, Float32Array>): Map<string, Float32Array> =>
    lora ? mergeLora(cfg, audit.reference.params, lora, weights) : weights;
  const basePath = path.resolve(ctx.runDir, 'reference'); // adapters name their base (the run's pi_ref)
  let best: Best | null = null;
  /** Rows of each micro-batch drawn, by batch (for the watchdog). */
  const drawn = new Map<TrainBatch, number[]>();
  const coefOf = (i: number) => (baseline ? baseline.coef[i] : coefFor(variant, audit.rewards.total[i], advantages[i]));
  // One micro-batch: rows of the drawn units (for dpo: the chosen rows, then their rejected rows; a baseline's own).
  const assemble = async (picked: number[]): Promise<TrainBatch> => {
    if (baseline) {
      const { batch, rows: idx } = await baseline.assemble(picked);
      drawn.set(batch, idx);
      return batch;
    }
    const idx = variant === 'dpo' ? [...picked.map((u) => units[u][0]), ...picked.map((u) => units[u][1])] : picked.map((u) => units[u][0]);
    const ref = idx.map((i) => audit.refLogprobs.perToken[i]);
    const batch = variantBatch(idx.map((i) => audit.train[i]), ref, Float32Array.from(idx, coefOf), cfg.nPositions);
    drawn.set(batch, idx);
    return batch;
  };
  const checkpoint = async (dir: string): Promise<void> => {
    const { params, optimizer } = await trainer.state();
    const state = { step: trainer.step, rngState: 0, config: { ...ctx.config, train }, extra: { variant, sampler: sampler.state(), best } };
    if (lora) {
      await saveAdapterCheckpoint(dir, { config: cfg, spec: lora, params, basePath, optimizer, state });
      return;
    }
    const { tokenizerJson, tokenizerFiles, extraConfig } = audit.reference;
    await saveCheckpoint(dir, { config: cfg, params, optimizer, tokenizerJson, tokenizerFiles, extraConfig, state });
  };
  const saved = (step: number, dir: string) => ctx.log.emit({ type: 'checkpoint/didSave', variant, phase: 'training', step, dir });

  try {
    if (opts.resume) {
      const ck = await loadTrainedCheckpoint(opts.resume, cfg, lora);
      if (ck.state.extra?.variant !== variant) throw new Error(
        `${opts.resume} is a checkpoint of ${String(ck.state.extra?.variant)}, not ${variant}`,
      );
      await trainer.loadState({ params: ck.params, optimizer: ck.optimizer }, ck.state.step);
      sampler.restore(ck.state.extra.sampler as SamplerState);
      ctx.say(`[training] resumed ${variant} from ${opts.resume} at step ${ck.state.step}`);
      // The best so far carries over when its policy is in this variant's best/ (a Stop, then Resume of the
      // same run folder); else the best is chosen among the evaluations from here on, as before.
      const savedBest = bestOf(ck.state.extra.best);
      if (savedBest && (await bestStepIn(opts.dir)) === savedBest.step) best = savedBest;
      else if (savedBest) {
        const from = ck.state.step;
        ctx.say(
          `[training] the best policy so far (step ${savedBest.step}) is not in ${path.join(opts.dir, 'best')}: ` +
            `the best is chosen again from step ${from}`,
        );
      }
    }
    let requestsSeen = ctx.control.answeredRequests; // checkpoint-now requests answered (RunControl)
    const bar = opts.progress(budget.steps);
    const t0 = performance.now();
    const losses = await trainLoop(trainer, {
      from: trainer.step,
      to: budget.steps,
      lr: { kind: train.schedule, lr: train.lr, warmupSteps: train.warmupSteps, totalSteps: budget.scheduleSteps },
      // requests from the extension: checkpoint now, or checkpoint and stop
      beforeStep: async (step) => {
        if (ctx.control.checkpointRequests === requestsSeen && !ctx.control.stopRequested) return;
        requestsSeen = ctx.control.answeredRequests = ctx.control.checkpointRequests;
        const dir = stepDir(opts.dir, step);
        await checkpoint(dir);
        saved(step, dir);
        if (ctx.control.stopRequested) throw new StopRequested(dir);
      },
      // several updates per trainer call (train.stepsPerRun), ending where afterStep evaluates or saves
      stepsPerRun: train.stepsPerRun,
      boundary: (step) =>
        (Boolean(opts.evaluate) && budget.evalEvery > 0 && step % budget.evalEvery === 0) ||
        (train.checkpointEvery > 0 && step % train.checkpointEvery === 0),
      batches: async () => {
        const out: TrainBatch[] = [];
        for (let m = 0; m < train.gradAccum; m++) out.push(await assemble(sampler.next(unitsPerBatch)));
        return out;
      },
      afterStep: async ({ step, lr, stats, batches, elapsedMs }) => {
        // watchdog: a non-finite loss or gradient stops the run with the batch written and its rows named
        if (!Number.isFinite(stats.loss) || !Number.isFinite(stats.gradNorm)) {
          await watchdog(opts.dir, audit, advantages, coefOf, variant, step, stats, drawn.get(batches[batches.length - 1]) ?? []);
        }
        for (const b of batches) drawn.delete(b); // with several updates per run, later ones are drawn already
        // logging
        const tokens = batches.reduce((a, b) => a + b.mask.reduce((s, x) => s + x, 0), 0);
        const { loss, gradNorm } = stats;
        const weights = { meanImportanceWeight: stats.extra.mean_weight, clipFraction: stats.extra.clip_fraction };
        const { loss_scale: lossScale, grad_finite: finite } = stats.extra; // float16 only
        const scaling = lossScale === undefined ? {} : { lossScale, skippedUpdate: finite === 0 };
        const timing = { tokensPerSec: tokens / (elapsedMs / 1e3), elapsedMs: performance.now() - t0 };
        ctx.log.emit({
          type: 'step/didComplete', variant, phase: 'training', step, totalSteps: budget.steps, loss, lr, gradNorm, ...weights,
          ...scaling, ...timing,
        });
        bar(step);
        // evaluation: keep the best policy by its validation score
        if (opts.evaluate && budget.evalEvery > 0 && step % budget.evalEvery === 0) {
          const weights = await trainer.weights(); // fetched once: evaluated, and saved when best
          const score = await opts.evaluate(policyOf(weights), step);
          if (beats(score, best)) {
            best = { step, value: score.value, tiebreak: score.tiebreak ?? null };
            const bestFile = { [BEST_FILE]: `${JSON.stringify(best)}\n` };
            const bestDir = path.join(opts.dir, 'best');
            if (lora) await saveAdapterFolder(bestDir, { config: cfg, spec: lora, params: weights, basePath }, bestFile);
            else {
              const { tokenizerJson, tokenizerFiles } = audit.reference;
              await saveModelFolder(bestDir, { config: cfg, params: weights, tokenizerJson, tokenizerFiles }, bestFile);
            }
          }
        }
        // checkpoint
        if (train.checkpointEvery > 0 && step % train.checkpointEvery === 0 && step < budget.steps) {
          await checkpoint(stepDir(opts.dir, step));
          saved(step, stepDir(opts.dir, step));
        }
      },
    });
    const trainSeconds = (performance.now() - t0) / 1e3;
    await checkpoint(path.join(opts.dir, 'final'));
    saved(trainer.step, path.join(opts.dir, 'final'));
    // filtered_bc: the share of rows its filter leaves out
    const filteredFraction = isAlol(variant) && budget.scaled ? 1 - positiveFraction
      : variant === 'filtered_bc' ? 1 - units.length / rows.length : 0;
    const timesSampled = Int32Array.from(sampler.timesSampled);
    const rowTimesSampled = new Int32Array(rows.length);
    units.forEach((unit, k) => unit.forEach((i) => (rowTimesSampled[i] += timesSampled[k])));
    return {
      variant,
      steps: budget.steps,
      trainSeconds,
      params: policyOf(await trainer.weights()),
      filteredFraction,
      timesSampled,
      rowTimesSampled,
      losses,
      bestStep: best?.step ?? null,
    };
  } finally {
    await trainer.dispose();
  }
}

/**
 * A checkpoint's trained parameters and state: a model folder for full fine-tuning, an adapter folder on
 * `cfg` for LoRA (the run's config and the checkpoint must agree on which, and on the adapters' shape).
 */
async function loadTrainedCheckpoint(
  dir: string,
  cfg: ModelConfig,
  lora: LoraSpec | null,
): Promise<{ params: Map<string, Float32Array>; optimizer: Map<string, Float32Array>; state: TrainingState }> {
  const isAdapter = await isAdapterFolder(dir);
  if (isAdapter !== Boolean(lora)) {
    const what = isAdapter ? 'a LoRA adapter checkpoint, but train.lora is null' : 'a full model checkpoint, but train.lora is set';
    throw new AlolError('checkpoint', `${dir} is ${what}`, 'resume with the config the run was started with');
  }
  if (!lora) {
    const ck = await loadCheckpoint(dir);
    return { params: ck.model.params, optimizer: ck.optimizer, state: ck.state };
  }
  const ck = await loadAdapterCheckpoint(dir, cfg);
  const got = ck.adapter.spec;
  if (got.r !== lora.r || got.alpha !== lora.alpha || got.modules.join() !== lora.modules.join()) {
    const shape = (s: LoraSpec) => `r ${s.r}, alpha ${s.alpha}, ${s.modules.length} modules (${s.targetNames.join(', ')})`;
    throw new AlolError('checkpoint', `${dir} holds adapters with ${shape(got)}; train.lora asks for ${shape(lora)}`);
  }
  return { params: ck.adapter.params, optimizer: ck.optimizer, state: ck.state };
}

/** Writes the batch of a non-finite step beside the variant and throws a WatchdogError naming its rows. */
async function watchdog(
  dir: string,
  audit: AuditResult,
  advantages: Float64Array,
  coef: (i: number) => number,
  variant: Variant,
  step: number,
  stats: { loss: number; gradNorm: number },
  idx: readonly number[],
): Promise<never> {
  const row = (i: number) => audit.train[i];
  const file = path.join(dir, `watchdog-step-${step}.json`);
  await mkdir(dir, { recursive: true });
  const rows = idx.map((i) => ({
    rowId: row(i).row.id,
    file: row(i).row.file,
    line: row(i).row.line,
    prompt: row(i).prompt,
    response: row(i).response,
    refLogprobs: Array.from(audit.refLogprobs.perToken[i], (x) => (Number.isFinite(x) ? x : String(x))),
    coef: coef(i),
  }));
  await writeFile(file, JSON.stringify({ step, loss: stats.loss, gradNorm: stats.gradNorm, rows }, null, 1));
  const finite = (
    i: number,
  ) => audit.refLogprobs.perToken[i].every(Number.isFinite) && Number.isFinite(advantages[i]) && Number.isFinite(
    audit.rewards.total[i],
  );
  const bad = idx.filter((i) => !finite(i));
  const named = (bad.length ? bad : idx).slice(0, 5).map((i) => describeRow(row(i).row)).join(', ');
  const which = bad.length ? 'rows with non-finite inputs' : 'rows in the batch';
  const what = `${variant} step ${step}: loss ${stats.loss}, gradient norm ${stats.gradNorm}; the batch is in ${file}; ${which}: ${named}`;
  throw new WatchdogError(what, "check those rows' rewards and reference log-probs, or lower train.lr");
}
