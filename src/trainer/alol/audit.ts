// The audit: everything A-LoL does before its first policy step, as phases — the reference policy,
// rewards, the reference's log-probs, the value head and the advantages — each reusing the caches of
// earlier runs where its inputs are unchanged and saying how much it reused. Writes the run folder:
// config.json (resolved), events.jsonl (the protocol's events), reference/ and advantages.jsonl.

import path from 'node:path';
import type { Phase } from '../../protocol/trainer.js';
import { type DatasetReport, describeReport, readDataset } from '../data/dataset.js';
import type { Pair, Row } from '../data/rows.js';
import { saveModelFolder } from '../model/folder.js';
import { RewardSet, describeRow } from '../rewards/registry.js';
import { StopRequested } from '../run/control.js';
import type { RunContext } from '../run/context.js';
import { AlolError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { advantageEdges, advantageHistogram, type AdvantageHistogram } from './advantages.js';
import { type Policy, promptHidden, referenceLogprobs, sftReference, startingModel, loadPolicy, type RefLogprobs } from './reference.js';
import { samplerFor, stepBudget, type Budget } from './rules.js';
import { type TokenizedRow, tokenizeRows } from './tokenize.js';
import { checkFitOn, estimateValues, type ValueEstimate } from './value-estimate.js';

export interface AuditResult {
  report: DatasetReport;
  reference: Policy;
  /** Training rows, tokenized as training sees them, in dataset order. */
  train: TokenizedRow[];
  rewards: { total: Float64Array; components: Map<string, Float64Array>; range: [number, number] };
  refLogprobs: RefLogprobs;
  value: ValueEstimate;
  advantages: Float64Array;
  kept: boolean[];
  positiveFraction: number;
  histogram: AdvantageHistogram;
  budget: Budget;
  rowsByIndex: Row[];
  /** Every row and pair of the dataset, all splits. */
  allRows: Row[];
  pairs: Pair[];
  phaseSeconds: Record<string, number>;
}

export async function runAudit(ctx: RunContext): Promise<AuditResult> {
  const { config, cacheDir, runDir } = ctx;
  const hooks = ctx;
  const loaded = ctx;
  const rt = { threads: config.threads, provider: ctx.device.provider };
  const phaseSeconds: Record<string, number> = {};
  let phaseStart = 0;
  const start = (phase: Phase, message: string): void => {
    phaseStart = performance.now();
    hooks.say(`[${phase}] ${message}`);
    hooks.log.emit({ type: 'phase/didChange', phase, status: 'started', message });
  };
  const finish = (phase: Phase, message: string): void => {
    if (hooks.control.stopRequested) throw new StopRequested(null);
    const ms = performance.now() - phaseStart;
    phaseSeconds[phase] = (phaseSeconds[phase] ?? 0) + ms / 1e3;
    hooks.say(`[${phase}] ${message} (${(ms / 1e3).toFixed(1)} s)`);
    hooks.log.emit({ type: 'phase/didChange', phase, status: 'finished', message, elapsedMs: ms });
  };
  // A progress callback (done, total) for a phase: a bar on the terminal and phase/didProgress events.
  const progressOf = (phase: Phase) => {
    let bar: ReturnType<RunContext['progress']> | null = null;
    let lastEmit = 0;
    return (done: number, total: number): void => {
      bar ??= hooks.progress(phase, total);
      bar.update(done);
      const now = performance.now();
      if (done >= total || now - lastEmit > 250) {
        lastEmit = now; // throttled: a fast phase must not flood the event log
        hooks.log.emit({ type: 'phase/didProgress', phase, done, total });
      }
      if (done >= total) bar.stop();
    };
  };

  // -- data
  const dataFile = path.resolve(loaded.baseDir, config.data.path);
  const { rows, pairs, report } = await readDataset(dataFile, { format: config.data.format, split: config.data.split });
  hooks.say(`[data] ${describeReport(report)}`);
  // Rows annotated `exclude: true` (in the editor) take no part in training.
  const excluded = rows.filter((r) => r.split === 'train' && r.raw.exclude === true).length;
  const trainRows = rows.filter((r) => r.split === 'train' && r.raw.exclude !== true);
  if (excluded) hooks.say(`[data] ${excluded} training rows are marked "exclude": true and left out`);
  if (trainRows.length === 0) {
    throw new AlolError('data', `${dataFile}: no rows in the training split`, 'lower data.split.validation / data.split.test');
  }
  if (config.rewards.length === 0) throw new AlolError('config', 'the config has no reward components', 'add at least one to "rewards" (see README)');
  checkFitOn(config);

  // -- reference policy
  let reference: Policy;
  let train: TokenizedRow[] = [];
  const lengths = (p: Policy) => ({ maxPromptTokens: config.data.maxPromptTokens, maxResponseTokens: config.data.maxResponseTokens, nPositions: p.config.nPositions });
  if (config.reference.path) {
    start('reference', `loading the reference policy from ${config.reference.path}`);
    reference = await loadPolicy(path.resolve(loaded.baseDir, config.reference.path));
    finish('reference', `reference loaded (${reference.hash})`);
  } else {
    const base = await startingModel(config.model, loaded.baseDir, config.train.seed);
    const sft = config.reference.sft;
    if (sft && sft.steps > 0) {
      const tok = tokenizeRows(trainRows, base.tokenizer, lengths(base));
      start('reference', `fine-tuning the starting model by NLL on ${trainRows.length} training rows for ${sft.steps} steps: this is pi_ref, the policy A-LoL improves on`);
      const bar = progressOf('reference');
      const r = await sftReference(base, tok.rows, sft, { ...rt, batchSize: config.train.batchSize, seed: config.train.seed, cacheDir, onStep: (e) => bar(e.step, sft.steps), shouldStop: () => hooks.control.stopRequested });
      if (r.reused) bar(sft.steps, sft.steps);
      reference = r.policy;
      finish('reference', r.reused ? `reused the fine-tuned reference from the cache (${reference.hash})` : `reference fine-tuned (${reference.hash})`);
    } else {
      start('reference', 'using the starting model as the reference policy (reference.sft is null)');
      reference = base;
      finish('reference', `reference ready (${reference.hash})`);
    }
  }
  await saveModelFolder(path.join(runDir, 'reference'), { config: reference.config, params: reference.params, tokenizerJson: reference.tokenizerJson });
  const tokenized = tokenizeRows(trainRows, reference.tokenizer, lengths(reference));
  train = tokenized.rows;
  if (tokenized.report.truncatedPrompts || tokenized.report.truncatedResponses) {
    hooks.say(`[data] truncated ${tokenized.report.truncatedPrompts} prompts (left, to ${config.data.maxPromptTokens} tokens or n_positions) and ${tokenized.report.truncatedResponses} responses (right, to ${config.data.maxResponseTokens})`);
  }

  // -- rewards
  start('rewards', `scoring ${trainRows.length} training rows with ${config.rewards.length} reward components (${config.rewards.map((r) => r.name).join(', ')})`);
  const rewardSet = await RewardSet.create(config.rewards, { baseDir: loaded.baseDir, cacheDir, ...rt });
  let rewards: AuditResult['rewards'];
  try {
    rewardSet.fit(trainRows);
    const scored = await rewardSet.score(trainRows, { onProgress: progressOf('rewards') });
    rewards = { total: scored.total, components: scored.components, range: rewardSet.range() };
    const cachedKinds = config.rewards.filter((c) => c.kind !== 'field'); // fields are read from the data, never cached
    const computed = cachedKinds.reduce((a, c) => a + (scored.computed.get(c.name) ?? 0), 0);
    const reused = cachedKinds.reduce((a, c) => a + (scored.cached.get(c.name) ?? 0), 0);
    finish('rewards', `rewards ready: ${computed} values computed, ${reused} reused from the cache${cachedKinds.length < config.rewards.length ? ' (fields read from the data)' : ''}; total reward range [${rewards.range[0]}, ${rewards.range[1]}]`);

    // -- reference log-probs
    start('reference', `log-probabilities of the ${train.length} training responses under pi_ref (the denominator of A-LoL's importance weights)`);
    const refLogprobs = await referenceLogprobs(reference, train, { ...rt, cacheDir, onProgress: progressOf('reference') });
    finish('reference', `reference log-probs: ${refLogprobs.computed} rows computed, ${refLogprobs.cached} reused from the cache`);

    // -- value
    const value = await estimateValues({ config, reference, train, rewards, rewardSet, validation: rows.filter((r) => r.split === 'validation'), lengths: lengths(reference), cacheDir, rt, start, finish, hidden: promptHidden, progress: progressOf });

    // -- advantages
    start('advantages', 'advantage A = R - V(x) per row; rows with A <= 0 are filtered out of A-LoL training');
    const advantages = Float64Array.from(rewards.total, (r, i) => r - value.values[i]);
    const kept = Array.from(advantages, (a) => a > 0);
    const nKept = kept.filter(Boolean).length;
    const positiveFraction = nKept / advantages.length;
    const histogram = advantageHistogram(advantages, advantageEdges(advantages));
    const budget = stepBudget(config.train, positiveFraction);
    const byKind: Record<string, { kept: number; filtered: number }> = {};
    train.forEach((t, i) => {
      const k = (byKind[t.row.kind] ??= { kept: 0, filtered: 0 });
      if (kept[i]) k.kept++;
      else k.filtered++;
    });
    const lines = train.map((t, i) =>
      JSON.stringify({
        rowId: t.row.id,
        file: t.row.file,
        line: t.row.line,
        kind: t.row.kind,
        reward: { total: rewards.total[i], ...Object.fromEntries([...rewards.components].map(([n, v]) => [n, v[i]])) },
        value: value.values[i],
        advantage: advantages[i],
        kept: kept[i],
        refLogprob: refLogprobs.sum[i],
        refTokens: t.response.length,
        timesSampled: 0,
      }),
    );
    const advFile = path.join(runDir, 'advantages.jsonl');
    await writeFileAtomic(advFile, `${lines.join('\n')}\n`);
    let rmin = Infinity;
    let rmax = -Infinity;
    let rsum = 0;
    for (const r of rewards.total) {
      rmin = Math.min(rmin, r);
      rmax = Math.max(rmax, r);
      rsum += r;
    }
    hooks.log.emit({
      type: 'advantages/didCompute',
      histogram,
      counts: { rows: advantages.length, kept: nKept, filtered: advantages.length - nKept },
      positiveFraction,
      byKind,
      value: { fitOn: config.value.fitOn, headMse: value.headMse, meanMse: value.meanMse, betterThanMean: value.headMse < 0.95 * value.meanMse },
      reward: { mean: rsum / rewards.total.length, min: rmin, max: rmax, range: rewards.range },
      budget: { variant: config.train.variant, sampler: samplerFor(config.train.variant, config.train.sampler), steps: budget.steps, evalEvery: budget.evalEvery, scaled: budget.scaled },
      file: 'advantages.jsonl',
    });
    finish('advantages', `${nKept} of ${advantages.length} rows kept (A > 0, ${(100 * positiveFraction).toFixed(1)}%), ${advantages.length - nKept} filtered; wrote ${advFile}`);
    if (train.some((t) => t.row.kind !== 'row')) {
      for (const [kind, c] of Object.entries(byKind)) hooks.say(`[advantages] ${kind}: ${c.filtered} of ${c.kept + c.filtered} filtered (${((100 * c.filtered) / (c.kept + c.filtered)).toFixed(1)}%)`);
    }
    const firstBad = train.findIndex((_, i) => !Number.isFinite(advantages[i]));
    if (firstBad >= 0) throw new Error(`advantage of row ${describeRow(train[firstBad].row)} is not finite`);
    return { report, reference, train, rewards, refLogprobs, value, advantages, kept, positiveFraction, histogram, budget, rowsByIndex: trainRows, allRows: rows, pairs, phaseSeconds };
  } finally {
    await rewardSet.dispose();
  }
}
