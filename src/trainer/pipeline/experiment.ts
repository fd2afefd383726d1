// An experiment: the audit, then each requested variant trained from the same reference, then the
// reference and every variant evaluated the same way on the test split (greedy and sampled), with
// preference accuracy for pair data; summary.json in the run folder and a table for the terminal.
// `alol train` runs one variant; the demo runs several.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Variant } from '../alol/rules.js';
import { readDataset } from '../data/dataset.js';
import type { Row } from '../data/rows.js';
import { loadModelFolder } from '../model/folder.js';
import { type Policy, loadPolicy, withWeights } from '../model/policy.js';
import { RewardSet } from '../rewards/registry.js';
import type { RunContext } from '../run/context.js';
import { writeFileAtomic } from '../util/atomic.js';
import { type AuditResult, runAudit } from './audit.js';
import { evaluateOnTest, generationRewards, validationReward } from './evaluate.js';
import type { Metrics } from './metrics.js';
import { type OnProgress, progressBarOf } from './phase.js';
import { trainVariant } from './train.js';

export type MetricsSummary = Omit<Metrics, 'count'> & { preferenceAccuracy?: number | null };

export interface VariantSummary {
  heldout: MetricsSummary;
  heldoutSampled: MetricsSummary;
  filteredFraction: number;
  trainSeconds: number;
  steps: number;
  /** The checkpoint evaluated: the best by validation reward, else the final one. */
  evaluatedStep: number | null;
}

export interface Summary {
  variants: Record<string, VariantSummary>;
  prompts: number;
  seed: number;
}

/** What a variant's training left in its folder, so a continued run can skip or resume it. */
interface VariantRecord {
  steps: number;
  trainSeconds: number;
  filteredFraction: number;
  bestStep: number | null;
}

/** The latest checkpoint folder of a variant, if any (names sort by step). */
export function latestCheckpoint(variantDir: string): string | null {
  const dir = path.join(variantDir, 'checkpoints');
  if (!existsSync(dir)) return null;
  const steps = readdirSync(dir).filter((n) => /^step-\d+$/.test(n)).sort();
  return steps.length ? path.join(dir, steps[steps.length - 1]) : null;
}

export function metricsOf(m: Metrics, accuracy?: number | null): MetricsSummary {
  const { count: _count, ...rest } = m;
  void _count;
  return accuracy === undefined ? rest : { ...rest, preferenceAccuracy: accuracy };
}

/** What the experiment shares between its phases after the audit. */
interface Bench {
  audit: AuditResult;
  genRewards: RewardSet;
  testRows: Row[];
  validationRows: Row[];
  summary: Summary;
}

/** The evaluate phase of one policy: the test split, the summary's entry, a line and the phase events. */
async function evaluateVariant(
  ctx: RunContext,
  bench: Bench,
  label: string,
  policy: Policy,
  extra: Omit<VariantSummary, 'heldout' | 'heldoutSampled'>,
): Promise<void> {
  const { config, log } = ctx;
  const message = `evaluating ${label} on the test prompts: greedy, and ${config.eval.samplesPerPrompt} samples per prompt`;
  log.emit({ type: 'phase/didChange', phase: 'evaluation', variant: label, status: 'started', message });
  const t0 = performance.now();
  const at = { variant: label, step: extra.steps, onProgress: progressBarOf(ctx, 'evaluation') };
  const { result, accuracy } = await evaluateOnTest(policy, bench.testRows, bench.audit.pairs, bench.genRewards, ctx, at);
  bench.summary.prompts = result.prompts;
  bench.summary.variants[label] = {
    heldout: metricsOf(result.heldout, accuracy),
    heldoutSampled: metricsOf(result.heldoutSampled, accuracy),
    ...extra
  };
  const pref = accuracy !== undefined && accuracy !== null ? `, preference accuracy ${accuracy.toFixed(3)}` : '';
  const rewards = `sampled reward ${result.heldoutSampled.reward.total.toFixed(3)}, greedy ${result.heldout.reward.total.toFixed(3)}`;
  const msg = `${label}: ${rewards}${pref}`;
  ctx.say(`[evaluation] ${msg} (${((performance.now() - t0) / 1e3).toFixed(1)} s)`);
  log.emit({
    type: 'phase/didChange',
    phase: 'evaluation',
    variant: label,
    status: 'finished',
    message: msg,
    elapsedMs: performance.now() - t0,
  });
}

/** The train phase of one variant (with validation rewards for its best checkpoint), then its evaluate phase. */
async function trainThenEvaluate(ctx: RunContext, bench: Bench, variant: Variant, resume: string | undefined): Promise<void> {
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
  const trainBar = progressBarOf(ctx, 'training');
  const evaluate = async (params: ReadonlyMap<string, Float32Array>, step: number) =>
    validationReward(withWeights(audit.reference, new Map(params)), validationRows, bench.genRewards, ctx, { variant, step });
  const trained = await trainVariant(ctx, audit, {
    variant,
    dir,
    resume,
    progress: (total) => (done) => trainBar(done, total),
    evaluate: validationRows.length ? evaluate : undefined,
  });
  const { steps, trainSeconds, filteredFraction, bestStep } = trained;
  const record: VariantRecord = { steps, trainSeconds, filteredFraction, bestStep };
  await writeFileAtomic(path.join(dir, 'result.json'), `${JSON.stringify(record)}\n`);
  const best = bestStep ? `, best validation reward at step ${bestStep}` : '';
  const msg = `${variant}: ${steps} steps in ${trainSeconds.toFixed(1)} s, final loss ${trained.losses.at(-1)?.toFixed(4) ?? '-'}${best}`;
  ctx.say(`[training] ${msg}`);
  ctx.log.emit({ type: 'phase/didChange', phase: 'training', variant, status: 'finished', message: msg, elapsedMs: trainSeconds * 1e3 });
  const params = bestStep ? (await loadModelFolder(path.join(dir, 'best'))).params : trained.params;
  await evaluateVariant(
    ctx,
    bench,
    variant,
    withWeights(audit.reference, params),
    { filteredFraction, trainSeconds, steps, evaluatedStep: bestStep ?? steps },
  );
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
  const audit = await runAudit(ctx);
  const { config, runDir } = ctx;
  const rewardOptions = { baseDir: ctx.baseDir, cacheDir: null, provider: ctx.device.provider, threads: config.threads };
  const genRewards = await RewardSet.create(generationRewards(config.rewards), rewardOptions);
  if (genRewards.names.length === 0) ctx.say(
    '[evaluation] no reward component can score generated text (fields only): generation rewards are reported as 0',
  );
  genRewards.fit(audit.rowsByIndex);
  const testRows = audit.allRows.filter((r) => r.split === 'test');
  const validationRows = audit.allRows.filter((r) => r.split === 'validation');
  const bench: Bench = { audit, genRewards, testRows, validationRows, summary: { variants: {}, prompts: 0, seed: config.train.seed } };
  try {
    await evaluateVariant(
      ctx,
      bench,
      'reference',
      audit.reference,
      { filteredFraction: 0, trainSeconds: 0, steps: 0, evaluatedStep: null },
    );
    for (const variant of variants) {
      const dir = path.join(runDir, variant);
      const recordFile = path.join(dir, 'result.json');
      if (opts.continue && existsSync(recordFile)) {
        const rec = JSON.parse(readFileSync(recordFile, 'utf8')) as VariantRecord;
        ctx.say(`[training] ${variant}: already trained in this run folder (${rec.steps} steps); evaluating it`);
        const params = (await loadModelFolder(path.join(dir, rec.bestStep ? 'best' : 'final'))).params;
        const extra = {
          filteredFraction: rec.filteredFraction,
          trainSeconds: rec.trainSeconds,
          steps: rec.steps,
          evaluatedStep: rec.bestStep ?? rec.steps,
        };
        await evaluateVariant(ctx, bench, variant, withWeights(audit.reference, params), extra);
        continue;
      }
      await trainThenEvaluate(ctx, bench, variant, opts.resume ?? (opts.continue ? (latestCheckpoint(dir) ?? undefined) : undefined));
    }
  } finally {
    await genRewards.dispose();
  }
  await writeFileAtomic(path.join(runDir, 'summary.json'), `${JSON.stringify(bench.summary, null, 2)}\n`);
  return { audit, summary: bench.summary };
}

/**
 * `alol eval`: a model folder evaluated on the test split of the run's data as an experiment evaluates
 * its variants (the entry is named after the folder); writes summary.json.
 */
export async function evaluateModel(ctx: RunContext, modelDir: string, onProgress: OnProgress): Promise<{
  summary: Summary; components: string[],
}> {
  const { config } = ctx;
  const policy = await loadPolicy(path.resolve(modelDir));
  const { rows, pairs } = await readDataset(
    path.resolve(ctx.baseDir, config.data.path),
    { format: config.data.format, split: config.data.split },
  );
  const rewardOptions = { baseDir: ctx.baseDir, cacheDir: null, provider: ctx.device.provider, threads: config.threads };
  const rewards = await RewardSet.create(generationRewards(config.rewards), rewardOptions);
  try {
    rewards.fit(rows.filter((r) => r.split === 'train'));
    const name = path.basename(path.resolve(modelDir));
    const testRows = rows.filter((r) => r.split === 'test');
    const { result, accuracy } = await evaluateOnTest(policy, testRows, pairs, rewards, ctx, { variant: name, step: 0, onProgress });
    const entry = { heldout: metricsOf(result.heldout, accuracy), heldoutSampled: metricsOf(result.heldoutSampled, accuracy) };
    const extra = { filteredFraction: 0, trainSeconds: 0, steps: 0, evaluatedStep: null };
    const summary: Summary = { variants: { [name]: { ...entry, ...extra } }, prompts: result.prompts, seed: config.train.seed };
    await writeFileAtomic(path.join(ctx.runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    return { summary, components: rewards.names };
  } finally {
    await rewards.dispose();
  }
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
    ];
    lines.push(cells.map((c, i) => c.padStart(widths[i])).join(' '));
  }
  return lines;
}
