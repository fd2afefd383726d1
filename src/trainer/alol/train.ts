// The A-LoL training loop for one variant, starting from the audit's reference policy: one loop with
// labelled phases — learning rate, sampling and batch assembly, forward-backward-update (micro-batches
// when accumulating), watchdog, logging, evaluation (best checkpoint by validation reward),
// checkpoint. Importance weights come from the policy's log-probs inside the step graph and the cached
// per-token reference log-probs, so at step 0 they are exactly 1.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type OrtTensor, Session, tensor } from '../runtime/session.js';
import { Stepper } from '../runtime/stepper.js';
import { serialize } from '../graph/onnx.js';
import { saveCheckpoint, loadCheckpoint } from '../model/checkpoint.js';
import { saveModelFolder } from '../model/folder.js';
import { buildLogprobGraph } from '../model/graphs.js';
import { gptParamInfos } from '../model/params.js';
import { getLr } from '../model/schedule.js';
import { describeRow } from '../rewards/registry.js';
import { StopRequested } from '../run/control.js';
import type { RunContext } from '../run/context.js';
import { AlolError } from '../errors.js';
import type { AuditResult } from './audit.js';
import { rowBatch } from './batch.js';
import { buildAlolStepGraph } from './graphs.js';
import { coefFor, needsPolicyLogprobs } from './losses.js';
import { type Variant, isAlol, samplerFor, stepBudget } from './rules.js';
import { RowSampler, type SamplerState } from './sampler.js';

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
  /** Validation reward of the current policy (for the best checkpoint); called every evalEvery steps. */
  evaluate?: (params: ReadonlyMap<string, Float32Array>, step: number) => Promise<number>;
  /** Continue from this checkpoint folder (written by an earlier run of the same variant). */
  resume?: string;
}

export interface TrainedVariant {
  variant: Variant;
  steps: number;
  trainSeconds: number;
  params: Map<string, Float32Array>;
  /** Share of training rows A-LoL never draws (A <= 0) under this variant's sampler; 0 for others. */
  filteredFraction: number;
  timesSampled: Int32Array;
  losses: number[];
  bestStep: number | null;
}

/** The best validation reward so far and its step: in checkpoints, and in best/ beside that policy. */
interface Best {
  step: number;
  reward: number;
}
const BEST_FILE = 'best.json';

/** The step of the policy in `<dir>/best`, if its best.json says. */
async function bestStepIn(dir: string): Promise<number | null> {
  const saved = await readFile(path.join(dir, 'best', BEST_FILE), 'utf8').then((t) => JSON.parse(t) as Partial<Best>, () => null);
  return typeof saved?.step === 'number' ? saved.step : null;
}

/** Units the sampler draws: rows, or (chosen, rejected) row pairs for dpo. */
function unitsOf(audit: AuditResult, variant: Variant): number[][] {
  if (variant !== 'dpo') return audit.train.map((_, i) => [i]);
  const byPair = new Map<string, number[]>();
  audit.train.forEach((t, i) => {
    if (!t.row.pairId) return;
    const p = byPair.get(t.row.pairId) ?? [];
    p[t.row.kind === 'chosen' ? 0 : 1] = i;
    byPair.set(t.row.pairId, p);
  });
  const pairs = [...byPair.values()].filter((p) => p[0] !== undefined && p[1] !== undefined);
  if (pairs.length === 0) throw new Error('dpo needs preference pairs (HH records or {prompt, chosen, rejected} rows) in the training split');
  return pairs;
}

export async function trainVariant(ctx: RunContext, audit: AuditResult, o: TrainOptions): Promise<TrainedVariant> {
  const { config } = ctx;
  const cfg = audit.reference.config;
  const train = { ...config.train, variant: o.variant };
  const sampler = samplerFor(o.variant, train.sampler);
  const budget = stepBudget(train, audit.positiveFraction);
  const units = unitsOf(audit, o.variant);
  const weights = Float64Array.from(units, (u) => (isAlol(o.variant) ? Math.max(audit.advantages[u[0]], 0) : o.variant === 'dpo' || o.variant === 'nll' ? 1 : audit.rewards.total[u[0]]));
  const rows = new RowSampler(sampler, weights, train.seed);
  const unitsPerBatch = o.variant === 'dpo' ? Math.max(1, Math.floor(train.batchSize / 2)) : train.batchSize;
  const b = o.variant === 'dpo' ? 2 * unitsPerBatch : unitsPerBatch;
  const settings = { clipEps: train.clipEps, klBeta: train.klBeta, dpoBeta: train.dpoBeta };
  const adamw = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: train.weightDecay, gradClip: train.gradClip > 0 ? train.gradClip : null };
  const stepper = new Stepper('float32', gptParamInfos(cfg).map((p) => ({ name: p.name, shape: p.shape, data: (audit.reference.params.get(p.name) as Float32Array).slice() })));
  let best: Best | null = null;
  if (o.resume) {
    const ck = await loadCheckpoint(o.resume);
    if (ck.state.extra?.variant !== o.variant) throw new Error(`${o.resume} is a checkpoint of ${String(ck.state.extra?.variant)}, not ${o.variant}`);
    stepper.loadState([...ck.model.params, ...ck.optimizer].map(([name, data]) => ({ name, data })), ck.state.step);
    rows.restore(ck.state.extra.sampler as SamplerState);
    ctx.say(`[training] resumed ${o.variant} from ${o.resume} at step ${ck.state.step}`);
    // The best so far carries over when its policy is in this variant's best/ (a Stop, then Resume of the
    // same run folder); else the best is chosen among the evaluations from here on, as before.
    const saved = (ck.state.extra.best ?? null) as Best | null;
    if (saved && (await bestStepIn(o.dir)) === saved.step) best = saved;
    else if (saved) {
      const from = ck.state.step;
      ctx.say(`[training] the best policy so far (step ${saved.step}) is not in ${path.join(o.dir, 'best')}: the best is chosen again from step ${from}`);
    }
  }
  const sessions = new Map<string, Session>();
  const session = async (mode: 'update' | 'accumulate' | 'accumulate-update' | 'logprobs', t: number): Promise<Session> => {
    const key = `${mode}:${t}`;
    let s = sessions.get(key);
    if (!s) {
      const graph = mode === 'logprobs' ? buildLogprobGraph(cfg, { batch: b, seqLen: t }) : buildAlolStepGraph(cfg, b, t, { variant: o.variant, settings, mode, adamw });
      s = await Session.create(serialize(graph), `alol_${o.variant}_${mode}_${t}`, { threads: config.threads, provider: ctx.device.provider });
      sessions.set(key, s);
    }
    return s;
  };
  // The policy's log-probs for importance weights: a no-grad pass of the inference graph that also
  // produced the reference log-probs (see losses.ts), so at step 0 every weight is exactly 1.
  const withPolicyLogprobs = async (feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> => {
    if (!needsPolicyLogprobs(o.variant)) return feeds;
    const t = (feeds.ids.dims as readonly number[])[1];
    const out = await (await session('logprobs', t)).run({ ...stepper.paramFeeds(), ids: feeds.ids, targets: feeds.targets, mask: feeds.mask });
    return { ...feeds, policy_token_logp: out.token_logprob };
  };
  // One micro-batch: rows of the drawn units, their per-token reference log-probs and factors.
  const assemble = (drawn: number[]): { feeds: Record<string, OrtTensor>; idx: number[] } => {
    const idx = o.variant === 'dpo' ? [...drawn.map((u) => units[u][0]), ...drawn.map((u) => units[u][1])] : drawn.map((u) => units[u][0]);
    const rb = rowBatch(idx.map((i) => audit.train[i]), cfg.nPositions);
    const ref = new Float32Array(b * rb.seqLen);
    idx.forEach((i, r) => ref.set(audit.refLogprobs.perToken[i], r * rb.seqLen + audit.train[i].prompt.length - 1));
    const coef = Float32Array.from(idx, (i) => coefFor(o.variant, audit.rewards.total[i], audit.advantages[i]));
    return { feeds: { ids: rb.ids, targets: rb.targets, mask: rb.mask, ref_token_logp: tensor('float32', ref, [b, rb.seqLen]), coef: tensor('float32', coef, [b]) }, idx };
  };
  const schedule = { kind: train.schedule, lr: train.lr, warmupSteps: train.warmupSteps, totalSteps: budget.scheduleSteps };
  const snapshot = () => new Map(stepper.paramNames.map((n) => [n, Float32Array.from(stepper.param(n))]));
  const checkpoint = async (dir: string): Promise<void> => {
    const state = stepper.stateTensors();
    await saveCheckpoint(dir, {
      config: cfg,
      params: new Map(state.filter((t) => !t.name.startsWith('adam.')).map((t) => [t.name, Float32Array.from(t.data)])),
      optimizer: new Map(state.filter((t) => t.name.startsWith('adam.')).map((t) => [t.name, Float32Array.from(t.data)])),
      tokenizerJson: audit.reference.tokenizerJson,
      state: { step: stepper.step, rngState: 0, config: { ...config, train }, extra: { variant: o.variant, sampler: rows.state(), best } },
    });
  };

  const losses: number[] = [];
  const bar = o.progress(budget.steps);
  const t0 = performance.now();
  try {
    for (let step = stepper.step; step < budget.steps; step++) {
      // requests from the extension: checkpoint now, or checkpoint and stop
      if (ctx.control.checkpointRequested || ctx.control.stopRequested) {
        const dir = path.join(o.dir, 'checkpoints', `step-${String(step).padStart(6, '0')}`);
        await checkpoint(dir);
        ctx.log.emit({ type: 'checkpoint/didSave', variant: o.variant, step, dir });
        ctx.control.checkpointRequested = false;
        if (ctx.control.stopRequested) throw new StopRequested(dir);
      }
      // learning rate
      const lr = getLr(schedule, step);
      // sample and assemble; forward-backward-update (micro-batches first when accumulating)
      const ts = performance.now();
      let lossSum = 0;
      let tokens = 0;
      let last: { feeds: Record<string, OrtTensor>; idx: number[] } | null = null;
      let out: Awaited<ReturnType<Stepper['update']>> | null = null;
      for (let m = 0; m < train.gradAccum; m++) {
        last = assemble(rows.next(unitsPerBatch));
        last.feeds = await withPolicyLogprobs(last.feeds);
        const t = (last.feeds.ids.dims as readonly number[])[1];
        tokens += (last.feeds.mask.data as Float32Array).reduce((a, x) => a + x, 0);
        if (m + 1 < train.gradAccum) lossSum += await stepper.accumulate(await session('accumulate', t), last.feeds);
        else out = await stepper.update(await session(train.gradAccum > 1 ? 'accumulate-update' : 'update', t), last.feeds, lr);
      }
      const stats = out as NonNullable<typeof out>;
      const loss = (lossSum + stats.loss) / train.gradAccum;
      // watchdog: a non-finite loss or gradient stops the run with the batch written and its rows named
      if (!Number.isFinite(loss) || !Number.isFinite(stats.gradNorm)) {
        const batch = last as NonNullable<typeof last>;
        const file = path.join(o.dir, `watchdog-step-${step + 1}.json`);
        await mkdir(o.dir, { recursive: true });
        await writeFile(file, JSON.stringify({ step: step + 1, loss, gradNorm: stats.gradNorm, rows: batch.idx.map((i) => ({ rowId: audit.train[i].row.id, file: audit.train[i].row.file, line: audit.train[i].row.line, prompt: audit.train[i].prompt, response: audit.train[i].response, refLogprobs: Array.from(audit.refLogprobs.perToken[i], (x) => (Number.isFinite(x) ? x : String(x))), coef: coefFor(o.variant, audit.rewards.total[i], audit.advantages[i]) })) }, null, 1));
        const bad = batch.idx.filter((i) => !audit.refLogprobs.perToken[i].every(Number.isFinite) || !Number.isFinite(audit.advantages[i]) || !Number.isFinite(audit.rewards.total[i]));
        const named = (bad.length ? bad : batch.idx).slice(0, 5).map((i) => describeRow(audit.train[i].row)).join(', ');
        const which = bad.length ? 'rows with non-finite inputs' : 'rows in the batch';
        const what = `${o.variant} step ${step + 1}: loss ${loss}, gradient norm ${stats.gradNorm}; the batch is in ${file}; ${which}: ${named}`;
        throw new WatchdogError(what, "check those rows' rewards and reference log-probs, or lower train.lr");
      }
      losses.push(loss);
      // logging
      ctx.log.emit({ type: 'step/didComplete', variant: o.variant, step: step + 1, totalSteps: budget.steps, loss, lr, gradNorm: stats.gradNorm, meanImportanceWeight: stats.extra.mean_weight, clipFraction: stats.extra.clip_fraction, tokensPerSec: tokens / ((performance.now() - ts) / 1e3), elapsedMs: performance.now() - t0 });
      bar(step + 1);
      // evaluation: keep the best policy by validation reward
      if (o.evaluate && budget.evalEvery > 0 && (step + 1) % budget.evalEvery === 0) {
        const reward = await o.evaluate(snapshot(), step + 1);
        if (reward > (best?.reward ?? -Infinity)) {
          best = { step: step + 1, reward };
          const policy = { config: cfg, params: snapshot(), tokenizerJson: audit.reference.tokenizerJson };
          await saveModelFolder(path.join(o.dir, 'best'), policy, { [BEST_FILE]: `${JSON.stringify(best)}\n` });
        }
      }
      // checkpoint
      if (train.checkpointEvery > 0 && (step + 1) % train.checkpointEvery === 0 && step + 1 < budget.steps) {
        const dir = path.join(o.dir, 'checkpoints', `step-${String(step + 1).padStart(6, '0')}`);
        await checkpoint(dir);
        ctx.log.emit({ type: 'checkpoint/didSave', variant: o.variant, step: step + 1, dir });
      }
    }
    const trainSeconds = (performance.now() - t0) / 1e3;
    await checkpoint(path.join(o.dir, 'final'));
    ctx.log.emit({ type: 'checkpoint/didSave', variant: o.variant, step: stepper.step, dir: path.join(o.dir, 'final') });
    const filteredFraction = isAlol(o.variant) && budget.scaled ? 1 - audit.positiveFraction : 0;
    const timesSampled = Int32Array.from(rows.timesSampled);
    const bestStep = best?.step ?? null;
    return { variant: o.variant, steps: budget.steps, trainSeconds, params: snapshot(), filteredFraction, timesSampled, losses, bestStep };
  } finally {
    for (const s of sessions.values()) await s.release();
  }
}
