// An experiment: the audit, then each requested variant trained from the same reference, then the
// reference and every variant evaluated the same way on the test split (greedy and sampled), with
// preference accuracy for pair data; summary.json in the run folder and a table for the terminal.
// `alol train` runs one variant; the demo runs several.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Phase } from '../../protocol/trainer.js';
import type { Row } from '../data/rows.js';
import { AlolError } from '../errors.js';
import { loadModelFolder } from '../model/folder.js';
import { RewardSet } from '../rewards/registry.js';
import type { RunContext } from '../run/context.js';
import { writeFileAtomic } from '../util/atomic.js';
import { type AuditResult, runAudit } from './audit.js';
import { type EvalResult, evaluatePolicy, generationRewards, preferenceAccuracy } from './evaluate.js';
import type { Metrics } from './metrics.js';
import { type Policy, policyHash } from './reference.js';
import type { Variant } from './rules.js';
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

function metricsOf(m: Metrics, accuracy?: number | null): MetricsSummary {
  const { count: _count, ...rest } = m;
  void _count;
  return accuracy === undefined ? rest : { ...rest, preferenceAccuracy: accuracy };
}

/** Evaluates a policy on the test split the same way for every variant (and for `alol eval`). */
export async function evaluateOnTest(
  policy: Policy,
  testRows: readonly Row[],
  pairs: AuditResult['pairs'],
  rewardSet: RewardSet,
  ctx: Pick<RunContext, 'config' | 'device' | 'log'>,
  at: { variant: string; step: number; onProgress?: (done: number, total: number) => void },
): Promise<{ result: EvalResult; accuracy: number | null | undefined }> {
  const { config } = ctx;
  const provider = ctx.device.provider;
  if (testRows.length === 0) throw new AlolError('data', 'the test split is empty', 'raise data.split.test');
  const evalOpts = { eval: config.eval, data: config.data, seed: config.train.seed, threads: config.threads, provider, onProgress: at.onProgress };
  const result = await evaluatePolicy(policy, testRows, rewardSet, evalOpts);
  const testPairs = pairs.filter((p) => p.split === 'test');
  const prefOpts = { data: config.data, threads: config.threads, provider };
  const accuracy = testPairs.length ? (await preferenceAccuracy(policy, testPairs, prefOpts)).accuracy : undefined;
  for (const [sampled, m] of [[false, result.heldout], [true, result.heldoutSampled]] as const) {
    ctx.log.emit({ type: 'eval/didComplete', variant: at.variant, step: at.step, split: 'test', sampled, rewards: { ...m.reward }, distinct: [m.distinct1, m.distinct2, m.distinct3], lengthTokens: m.length, samples: sampled ? [] : result.samples.map((s) => ({ ...s, rewards: { ...s.rewards } })) });
  }
  return { result, accuracy };
}

/**
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
  const hooks = ctx;
  const provider = ctx.device.provider;
  const genRewards = await RewardSet.create(generationRewards(config.rewards), { baseDir: ctx.baseDir, cacheDir: null, provider, threads: config.threads });
  if (genRewards.names.length === 0) hooks.say('[evaluation] no reward component can score generated text (fields only): generation rewards are reported as 0');
  genRewards.fit(audit.rowsByIndex);
  const testRows = audit.allRows.filter((r) => r.split === 'test');
  const validationRows = audit.allRows.filter((r) => r.split === 'validation');
  const summary: Summary = { variants: {}, prompts: 0, seed: config.train.seed };
  const bar = (phase: Phase) => {
    let b: ReturnType<RunContext['progress']> | null = null;
    return (done: number, total: number) => {
      b ??= hooks.progress(phase, total);
      b.update(done);
      if (done >= total) b.stop();
    };
  };
  const evaluate = async (label: string, policy: Policy, extra: Omit<VariantSummary, 'heldout' | 'heldoutSampled'>): Promise<void> => {
    hooks.log.emit({ type: 'phase/didChange', phase: 'evaluation', variant: label, status: 'started', message: `evaluating ${label} on the test prompts: greedy, and ${config.eval.samplesPerPrompt} samples per prompt` });
    const t0 = performance.now();
    const { result, accuracy } = await evaluateOnTest(policy, testRows, audit.pairs, genRewards, ctx, { variant: label, step: extra.steps, onProgress: bar('evaluation') });
    summary.prompts = result.prompts;
    summary.variants[label] = { heldout: metricsOf(result.heldout, accuracy), heldoutSampled: metricsOf(result.heldoutSampled, accuracy), ...extra };
    const msg = `${label}: sampled reward ${result.heldoutSampled.reward.total.toFixed(3)}, greedy ${result.heldout.reward.total.toFixed(3)}${accuracy !== undefined && accuracy !== null ? `, preference accuracy ${accuracy.toFixed(3)}` : ''}`;
    hooks.say(`[evaluation] ${msg} (${((performance.now() - t0) / 1e3).toFixed(1)} s)`);
    hooks.log.emit({ type: 'phase/didChange', phase: 'evaluation', variant: label, status: 'finished', message: msg, elapsedMs: performance.now() - t0 });
  };
  try {
    await evaluate('reference', audit.reference, { filteredFraction: 0, trainSeconds: 0, steps: 0, evaluatedStep: null });
    for (const variant of variants) {
      const dir = path.join(runDir, variant);
      const recordFile = path.join(dir, 'result.json');
      if (opts.continue && existsSync(recordFile)) {
        const rec = JSON.parse(readFileSync(recordFile, 'utf8')) as VariantRecord;
        hooks.say(`[training] ${variant}: already trained in this run folder (${rec.steps} steps); evaluating it`);
        const params = (await loadModelFolder(path.join(dir, rec.bestStep ? 'best' : 'final'))).params;
        await evaluate(variant, { ...audit.reference, params, hash: policyHash(audit.reference.config, params) }, { filteredFraction: rec.filteredFraction, trainSeconds: rec.trainSeconds, steps: rec.steps, evaluatedStep: rec.bestStep ?? rec.steps });
        continue;
      }
      const resume = opts.resume ?? (opts.continue ? (latestCheckpoint(dir) ?? undefined) : undefined);
      hooks.log.emit({ type: 'phase/didChange', phase: 'training', variant, status: 'started', message: `training ${variant} from the reference${resume ? ` (resuming from ${resume})` : ''}` });
      hooks.say(`[training] ${variant}: starting from the reference policy${resume ? `, resuming from ${resume}` : ''}`);
      const trainBar = bar('training');
      const trained = await trainVariant(ctx, audit, {
        variant,
        dir,
        resume,
        progress: (total) => (done) => trainBar(done, total),
        evaluate: validationRows.length
          ? async (params, step) => {
              const policy: Policy = { ...audit.reference, params: new Map(params), hash: policyHash(audit.reference.config, params) };
              const r = await evaluatePolicy(policy, validationRows, genRewards, { eval: config.eval, data: config.data, seed: config.train.seed, threads: config.threads, provider });
              const m = config.eval.samplesPerPrompt > 0 ? r.heldoutSampled : r.heldout;
              hooks.log.emit({ type: 'eval/didComplete', variant, step, split: 'validation', sampled: config.eval.samplesPerPrompt > 0, rewards: { ...m.reward }, distinct: [m.distinct1, m.distinct2, m.distinct3], lengthTokens: m.length, samples: r.samples.map((s) => ({ ...s, rewards: { ...s.rewards } })) });
              return m.reward.total;
            }
          : undefined,
      });
      const record: VariantRecord = { steps: trained.steps, trainSeconds: trained.trainSeconds, filteredFraction: trained.filteredFraction, bestStep: trained.bestStep };
      await writeFileAtomic(recordFile, `${JSON.stringify(record)}\n`);
      const msg = `${variant}: ${trained.steps} steps in ${trained.trainSeconds.toFixed(1)} s, final loss ${trained.losses.at(-1)?.toFixed(4) ?? '-'}${trained.bestStep ? `, best validation reward at step ${trained.bestStep}` : ''}`;
      hooks.say(`[training] ${msg}`);
      hooks.log.emit({ type: 'phase/didChange', phase: 'training', variant, status: 'finished', message: msg, elapsedMs: trained.trainSeconds * 1e3 });
      const params = trained.bestStep ? (await loadModelFolder(path.join(dir, 'best'))).params : trained.params;
      const policy: Policy = { ...audit.reference, params, hash: policyHash(audit.reference.config, params) };
      await evaluate(variant, policy, { filteredFraction: trained.filteredFraction, trainSeconds: trained.trainSeconds, steps: trained.steps, evaluatedStep: trained.bestStep ?? trained.steps });
    }
  } finally {
    await genRewards.dispose();
  }
  await writeFileAtomic(path.join(runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return { audit, summary };
}

/** The summary as a table: one row per variant. */
export function renderSummary(summary: Summary, components: readonly string[]): string[] {
  const cols = ['variant', 'sampled', 'greedy', ...components.map((c) => `${c}(s)`), 'dist-1', 'dist-2', 'dist-3', 'len', 'pref.acc', 'filtered', 'steps', 'train s'];
  const widths = cols.map((c) => Math.max(8, c.length));
  const f = (x: number | null | undefined, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
  const lines = [cols.map((c, i) => c.padStart(widths[i])).join(' ')];
  for (const [name, v] of Object.entries(summary.variants)) {
    const s = v.heldoutSampled;
    const cells = [name, f(s.reward.total), f(v.heldout.reward.total), ...components.map((c) => f(s.reward[c])), f(s.distinct1), f(s.distinct2), f(s.distinct3), f(s.length, 1), f(s.preferenceAccuracy), f(v.filteredFraction, 2), String(v.steps), f(v.trainSeconds, 1)];
    lines.push(cells.map((c, i) => c.padStart(widths[i])).join(' '));
  }
  return lines;
}
