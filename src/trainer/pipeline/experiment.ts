// An experiment: the audit, then each requested variant trained from the same reference, then the
// reference and every variant evaluated the same way on the test split (greedy and sampled), with the
// preference accuracy on the test pairs (stated by pair records, or formed from several scored responses
// to a test prompt); summary.json in the run folder and a table for the terminal. `alol train` runs the
// config's variant(s); the demo runs several. When no reward component can score generated text,
// generation rewards are n/a (null) and the best checkpoint is chosen by the validation preference
// accuracy, or is the final one; each variant's summary says which (`selectedBy`).

import path from 'node:path';
import { type Variant, stepBudget } from '../alol/rules.js';
import { formPairs, pairsOf, responseSets } from '../data/pairs.js';
import type { Pair, Row } from '../data/rows.js';
import { loadPolicyWeights } from '../model/adapter.js';
import { type Policy, withWeights } from '../model/policy.js';
import { RewardSet } from '../rewards/registry.js';
import type { RunContext } from '../run/context.js';
import { StopRequested } from '../run/control.js';
import { writeFileAtomic } from '../util/atomic.js';
import { type AuditResult, runAudit } from './audit.js';
import { evaluateOnTest, generationRewards, validationAccuracy, validationReward } from './evaluate.js';
import type { Metrics } from './metrics.js';
import { memoryNow, progressBarOf } from './phase.js';
import { trainVariant, type ValidationScore } from './train.js';
import {
  type SelectedBy, type VariantRecord, latestCheckpoint, readVariantRecord, recordTimesSampled, writeVariantRecord,
} from './records.js';
import { experimentPlan } from './validate.js';
import { serialQueue, sharedBar, variantLanes } from './lanes.js';
import { type Timing, renderTiming, timingOf } from './timing.js';

/** Mean reward per component and total; `{total: null}` when nothing could score the generations (n/a). */
export type RewardSummary = { total: number | null } & Record<string, number | null>;

export type MetricsSummary = Omit<Metrics, 'count' | 'reward'> & { reward: RewardSummary; preferenceAccuracy?: number | null };

/** How a variant's evaluated checkpoint was chosen. */
export type { SelectedBy } from './records.js';

export interface VariantSummary {
  heldout: MetricsSummary;
  heldoutSampled: MetricsSummary;
  filteredFraction: number;
  trainSeconds: number;
  steps: number;
  /** The checkpoint evaluated: the best by `selectedBy`, else the final one. */
  evaluatedStep: number | null;
  selectedBy?: SelectedBy;
  /** Wall time of the validation evaluations inside trainSeconds (best-checkpoint selection). */
  validationSeconds?: number;
  /** Wall time of the test evaluation. */
  evalSeconds?: number;
}

export interface Summary {
  variants: Record<string, VariantSummary>;
  prompts: number;
  seed: number;
  timing?: Timing;
}

/** A summary's metrics: rewards n/a (`{total: null}`) unless `scored`; the preference accuracy when there were pairs. */
export function metricsOf(m: Metrics, accuracy?: number | null, scored = true): MetricsSummary {
  const { count: _count, reward, ...rest } = m;
  void _count;
  const out: MetricsSummary = { reward: scored ? reward : { total: null }, ...rest };
  return accuracy === undefined ? out : { ...out, preferenceAccuracy: accuracy };
}

/** What the experiment shares between its phases after the audit. */
interface Bench {
  audit: AuditResult;
  genRewards: RewardSet;
  testRows: Row[];
  validationRows: Row[];
  testPairs: Pair[];
  validationPairs: Pair[];
  /** How the best checkpoint is chosen (when evaluations happen): 'final' when no validation score exists. */
  selection: SelectedBy;
  summary: Summary;
  /** Evaluations, one at a time: variants trained at once finish, and validate, on the one main thread. */
  serial: <T>(f: () => Promise<T>) => Promise<T>;
}

/**
 * The preference pairs of the test and validation splits: those the records state, and those formed
 * from prompts with several responses, scored by the run's reward components (cached per row).
 * Validation pairs are formed only when `validation` (they choose the best checkpoint when nothing can
 * score generations).
 */
export async function heldoutPairs(
  ctx: Pick<RunContext, 'config' | 'baseDir' | 'cacheDir' | 'device' | 'say'>,
  allRows: readonly Row[],
  stated: readonly Pair[],
  trainRows: readonly Row[],
  validation = true,
): Promise<{ test: Pair[]; validation: Pair[] }> {
  const { config } = ctx;
  const inSets = (split: 'test' | 'validation') => {
    const rows = allRows.filter((r) => r.split === split);
    return responseSets(rows).flatMap((set) => set.map((i) => rows[i]));
  };
  const [test, val] = [inSets('test'), validation ? inSets('validation') : []];
  const formed = { test: [] as Pair[], validation: [] as Pair[] };
  if (test.length + val.length > 0) {
    const opts = { baseDir: ctx.baseDir, cacheDir: ctx.cacheDir, provider: ctx.device.provider, threads: config.threads };
    const rewards = await RewardSet.create(config.rewards, opts);
    try {
      rewards.fit(trainRows);
      const totals = (await rewards.score([...test, ...val])).total;
      formed.test = pairsOf(test, formPairs(test, totals.subarray(0, test.length), config.data.pairs));
      formed.validation = pairsOf(val, formPairs(val, totals.subarray(test.length), config.data.pairs));
    } finally {
      await rewards.dispose();
    }
  }
  const of = (split: 'test' | 'validation') => [...stated.filter((p) => p.split === split), ...formed[split]];
  const out = { test: of('test'), validation: of('validation') };
  if (formed.test.length + formed.validation.length > 0) {
    ctx.say(
      `[evaluation] preference pairs formed from scored responses (data.pairs: ${config.data.pairs.from}): ` +
        `${formed.test.length} test, ${formed.validation.length} validation; with stated pairs ${out.test.length} test, ` +
        `${out.validation.length} validation`,
    );
  }
  return out;
}

/** The evaluate phase of one policy: the test split, the summary's entry, a line and the phase events (one at a time). */
function evaluateVariant(
  ctx: RunContext,
  bench: Bench,
  label: string,
  policy: Policy,
  extra: Omit<VariantSummary, 'heldout' | 'heldoutSampled'>,
): Promise<void> {
  return bench.serial(async () => {
    const { config, log } = ctx;
    const message = `evaluating ${label} on the test prompts: greedy, and ${config.eval.samplesPerPrompt} samples per prompt`;
    log.emit({ type: 'phase/didChange', phase: 'evaluation', variant: label, status: 'started', message });
    const t0 = performance.now();
    const at = { variant: label, step: extra.steps, onProgress: progressBarOf(ctx, 'evaluation') };
    const { result, accuracy } = await evaluateOnTest(policy, bench.testRows, bench.testPairs, bench.genRewards, ctx, at);
    bench.summary.prompts = result.prompts;
    bench.summary.variants[label] = {
      heldout: metricsOf(result.heldout, accuracy, result.scored),
      heldoutSampled: metricsOf(result.heldoutSampled, accuracy, result.scored),
      ...extra,
      evalSeconds: (performance.now() - t0) / 1e3,
    };
    const pref = accuracy !== undefined && accuracy !== null ? `, preference accuracy ${accuracy.toFixed(3)}` : '';
    const rewards = result.scored
      ? `sampled reward ${result.heldoutSampled.reward.total.toFixed(3)}, greedy ${result.heldout.reward.total.toFixed(3)}`
      : 'generation rewards n/a (no component scores generated text)';
    const msg = `${label}: ${rewards}${pref}`;
    ctx.say(`[evaluation] ${msg} (${((performance.now() - t0) / 1e3).toFixed(1)} s; ${memoryNow()})`);
    log.emit({
      type: 'phase/didChange',
      phase: 'evaluation',
      variant: label,
      status: 'finished',
      message: msg,
      elapsedMs: performance.now() - t0,
    });
  });
}

/** The train phase of one variant (with validation rewards for its best checkpoint), then its evaluate phase. */
async function trainThenEvaluate(
  ctx: RunContext,
  bench: Bench,
  variant: Variant,
  resume: string | undefined,
  lane?: { threads: number; progress: (total: number) => (done: number) => void },
): Promise<void> {
  const { audit, validationRows } = bench;
  const dir = path.join(ctx.runDir, variant);
  const from = resume ? ` (resuming from ${resume})` : '';
  ctx.log.emit({
    type: 'phase/didChange',
    phase: 'training',
    variant,
    status: 'started',
    message: `training ${variant} from the reference${from}`,
  });
  ctx.say(`[training] ${variant}: starting from the reference policy${resume ? `, resuming from ${resume}` : ''}`);
  const trainBar = lane ? null : progressBarOf(ctx, 'training');
  const policyOf = (params: ReadonlyMap<string, Float32Array>) => withWeights(audit.reference, new Map(params));
  let validationMs = 0;
  const evaluate = (params: ReadonlyMap<string, Float32Array>, step: number): Promise<ValidationScore> => bench.serial(async () => {
    const t0 = performance.now();
    try {
      return bench.selection === 'validation reward'
        ? { value: await validationReward(policyOf(params), validationRows, bench.genRewards, ctx, { variant, step }) }
        : await validationAccuracy(policyOf(params), bench.validationPairs, ctx, { variant, step });
    } finally {
      validationMs += performance.now() - t0;
    }
  });
  const trained = await trainVariant(ctx, audit, {
    variant,
    dir,
    resume,
    progress: lane ? lane.progress : (total) => (done) => trainBar?.(done, total),
    evaluate: bench.selection === 'final' ? undefined : evaluate,
    ...(lane ? { threads: lane.threads } : {}),
  });
  const { steps, trainSeconds, filteredFraction, bestStep } = trained;
  const selectedBy: SelectedBy = bestStep ? bench.selection : 'final';
  const record: VariantRecord = {
    steps, trainSeconds, validationSeconds: validationMs / 1e3, filteredFraction, bestStep, selectedBy,
    timesSampled: [...trained.rowTimesSampled],
  };
  await writeVariantRecord(dir, record);
  const best = bestStep ? `, best ${bench.selection} at step ${bestStep}` : '';
  const msg = `${variant}: ${steps} steps in ${trainSeconds.toFixed(1)} s, final loss ${trained.losses.at(-1)?.toFixed(4) ?? '-'}${best}`;
  ctx.say(`[training] ${msg} (${memoryNow()})`);
  ctx.log.emit({ type: 'phase/didChange', phase: 'training', variant, status: 'finished', message: msg, elapsedMs: trainSeconds * 1e3 });
  const params = bestStep ? await loadPolicyWeights(path.join(dir, 'best'), audit.reference) : trained.params;
  await evaluateVariant(
    ctx,
    bench,
    variant,
    withWeights(audit.reference, params),
    { filteredFraction, trainSeconds, steps, evaluatedStep: bestStep ?? steps, selectedBy, validationSeconds: validationMs / 1e3 },
  );
}

/**
 * Trains and evaluates `toTrain`: `lanes` at a time (variantLanes), each in a thread of its own, the variants left
 * over (the count modulo the lanes) one at a time after them on the run's trainer and all its threads; else one
 * after another. A failure in one lane asks the others to stop (each saves a checkpoint), then is thrown.
 */
async function trainAll(
  ctx: RunContext,
  bench: Bench,
  toTrain: readonly Variant[],
  opts: { resume?: string; continue?: boolean },
): Promise<number> {
  const resumeOf = (v: Variant) => opts.resume ?? (opts.continue ? (latestCheckpoint(path.join(ctx.runDir, v)) ?? undefined) : undefined);
  const params = [...bench.audit.reference.params.values()].reduce((a, x) => a + x.length, 0);
  const plan = variantLanes(ctx.config, Boolean(ctx.compute.parallelPolicyTrainer), params, toTrain.length);
  const together = plan.lanes > 1 ? toTrain.slice(0, toTrain.length - (toTrain.length % plan.lanes)) : [];
  if (plan.lanes > 1) {
    ctx.say(
      `[training] ${together.join(', ')}: ${plan.lanes} at a time, each on ${plan.threads} thread${plan.threads > 1 ? 's' : ''} ` +
        `(train.parallelVariants ${ctx.config.train.parallelVariants}; 1 trains one after another, to the same numbers)`,
    );
    const positive = bench.audit.adv?.positiveFraction ?? 1;
    const totals = new Map(together.map((v) => [v, stepBudget({ ...ctx.config.train, variant: v }, positive).steps]));
    const progress = sharedBar(ctx, totals);
    const queue = [...together];
    let failed = false;
    const lane = async (): Promise<void> => {
      for (let v = queue.shift(); v !== undefined && !failed; v = queue.shift()) {
        try {
          await trainThenEvaluate(ctx, bench, v, resumeOf(v), { threads: plan.threads, progress: progress(v) });
        } catch (e) {
          if (!failed && !(e instanceof StopRequested)) {
            ctx.say(`[training] ${v} failed: the variants training beside it stop after a checkpoint`);
          }
          if (!failed) ctx.control.stopRequested = true; // the other lanes checkpoint and stop
          failed = true;
          throw e;
        }
      }
    };
    const results = await Promise.allSettled(Array.from({ length: plan.lanes }, lane));
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    // the first error that is not a stop it caused (a requested stop when there is nothing else)
    if (errors.length) throw errors.find((e) => !(e instanceof StopRequested)) ?? errors[0];
  }
  for (const v of toTrain.slice(together.length)) await trainThenEvaluate(ctx, bench, v, resumeOf(v));
  return plan.lanes;
}

/**
 * The audit, then the reference and each variant: trained from the reference and evaluated.
 * `resume`: a checkpoint to continue the (single) variant from. `continue`: this run folder was started
 * before — variants with a final model are evaluated without training again, a variant with
 * checkpoints resumes from its latest one (what the extension's Resume does).
 */
export async function runExperiment(
  ctx: RunContext,
  variants: readonly Variant[],
  opts: { resume?: string; continue?: boolean } = {},
): Promise<{ audit: AuditResult; summary: Summary }> {
  const t0 = performance.now();
  const audit = await runAudit(ctx, experimentPlan(variants));
  const auditSeconds = (performance.now() - t0) / 1e3;
  const { config, runDir } = ctx;
  const scoresGenerations = generationRewards(config.rewards).length > 0;
  const held = await heldoutPairs(ctx, audit.allRows, audit.pairs, audit.rowsByIndex, !scoresGenerations);
  const rewardOptions = { baseDir: ctx.baseDir, cacheDir: null, provider: ctx.device.provider, threads: config.threads };
  const genRewards = await RewardSet.create(generationRewards(config.rewards), rewardOptions);
  const testRows = audit.allRows.filter((r) => r.split === 'test');
  const validationRows = audit.allRows.filter((r) => r.split === 'validation');
  const selection: SelectedBy = scoresGenerations
    ? (validationRows.length ? 'validation reward' : 'final')
    : held.validation.length ? 'validation preference accuracy' : 'final';
  if (!scoresGenerations) {
    const best = selection === 'final' ? 'the final checkpoint is evaluated (no validation pairs to choose by)' :
      `the best checkpoint is chosen by the validation preference accuracy on ${held.validation.length} pairs`;
    ctx.say(`[evaluation] no reward component can score generated text (fields only): generation rewards are n/a; ${best}`);
  }
  genRewards.fit(audit.rowsByIndex);
  const bench: Bench = {
    serial: serialQueue(),
    audit,
    genRewards,
    testRows,
    validationRows,
    testPairs: held.test,
    validationPairs: held.validation,
    selection,
    summary: { variants: {}, prompts: 0, seed: config.train.seed },
  };
  let lanes = 1;
  try {
    await evaluateVariant(
      ctx,
      bench,
      'reference',
      audit.reference,
      { filteredFraction: 0, trainSeconds: 0, steps: 0, evaluatedStep: null },
    );
    const toTrain: Variant[] = [];
    for (const variant of variants) {
      const dir = path.join(runDir, variant);
      const rec = opts.continue ? readVariantRecord(dir) : null;
      if (!rec) {
        toTrain.push(variant);
        continue;
      }
      ctx.say(`[training] ${variant}: already trained in this run folder (${rec.steps} steps); evaluating it`);
      const params = await loadPolicyWeights(path.join(dir, rec.bestStep ? 'best' : 'final'), audit.reference);
      const extra: Omit<VariantSummary, 'heldout' | 'heldoutSampled'> = {
        filteredFraction: rec.filteredFraction,
        trainSeconds: rec.trainSeconds,
        ...(rec.validationSeconds === undefined ? {} : { validationSeconds: rec.validationSeconds }),
        steps: rec.steps,
        evaluatedStep: rec.bestStep ?? rec.steps,
        selectedBy: rec.selectedBy ?? (rec.bestStep ? 'validation reward' : 'final'),
      };
      await evaluateVariant(ctx, bench, variant, withWeights(audit.reference, params), extra);
    }
    lanes = await trainAll(ctx, bench, toTrain, opts);
    // the summary lists the variants in the order asked, whichever finished first
    const done = bench.summary.variants;
    bench.summary.variants = Object.fromEntries(['reference', ...variants].filter((v) => v in done).map((v) => [v, done[v]]));
  } finally {
    await genRewards.dispose();
  }
  await recordTimesSampled(runDir, variants, audit.train.length);
  bench.summary.timing = timingOf(Object.values(bench.summary.variants), auditSeconds, (performance.now() - t0) / 1e3, lanes);
  ctx.say(`[timing] ${renderTiming(bench.summary.timing)}`);
  await writeFileAtomic(path.join(runDir, 'summary.json'), `${JSON.stringify(bench.summary, null, 2)}\n`);
  return { audit, summary: bench.summary };
}

/** The summary as a table: one row per variant. */
export function renderSummary(summary: Summary, components: readonly string[]): string[] {
  const cols = [
    'variant',
    'sampled',
    'greedy',
    ...components.map((c) => `${c}(s)`),
    'dist-1',
    'dist-2',
    'dist-3',
    'len',
    'pref.acc',
    'filtered',
    'steps',
    'train s',
    'eval s',
  ];
  const widths = cols.map((c) => Math.max(8, c.length));
  const f = (x: number | null | undefined, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
  const lines = [cols.map((c, i) => c.padStart(widths[i])).join(' ')];
  for (const [name, v] of Object.entries(summary.variants)) {
    const s = v.heldoutSampled;
    const cells = [
      name,
      f(s.reward.total),
      f(v.heldout.reward.total),
      ...components.map((c) => f(s.reward[c])),
      f(s.distinct1),
      f(s.distinct2),
      f(s.distinct3),
      f(s.length, 1),
      f(s.preferenceAccuracy),
      f(v.filteredFraction, 2),
      String(v.steps),
      f(v.trainSeconds, 1),
      f(v.evalSeconds, 1),
    ];
    lines.push(cells.map((c, i) => c.padStart(widths[i])).join(' '));
  }
  return lines;
}
