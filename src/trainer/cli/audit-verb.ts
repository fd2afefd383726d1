// `alol audit`: the reference policy, rewards, reference log-probs, value head and advantages of a run
// config, with a line per phase, progress bars, the advantage histogram as text, kept/filtered
// counts, the value head against the mean predictor, and the time per phase. Writes a run folder the
// dashboard can open (events.jsonl) and advantages.jsonl. `--dry-run`: reads the data and runs the
// fail-fast checks of the audit and of `alol train` with this config (validate.ts), prints what the run
// would work on, and computes nothing (no run folder).

import path from 'node:path';
import type { Command } from 'commander';
import { auditPlan, runAudit } from '../pipeline/audit.js';
import { readRunData } from '../pipeline/data.js';
import { configVariants, validateRun } from '../pipeline/validate.js';
import { renderAdvantageHistogram } from '../alol/advantages.js';
import { type RunFlags, inRun, openRunFromFlags } from '../run/context.js';
import { loadRunConfig } from '../run/load-config.js';
import { backendOptions, collect } from './options.js';

import { progressBar } from './progress.js';

async function dryRun(flags: RunFlags): Promise<void> {
  const set = [...(flags.backend ? [`backend.kind=${flags.backend}`] : []), ...(flags.set ?? [])];
  const { config, baseDir } = await loadRunConfig(flags.config ?? null, set);
  const data = await readRunData({ config, baseDir, say: (l) => console.log(l) });
  const variants = configVariants(config);
  const v = validateRun(config, baseDir, data, { variants, value: true, evaluate: true });
  const pairs = (stated: number, sets: number) =>
    `${stated} stated pairs, ${sets} prompts with several responses (pairs form from their rewards)`;
  console.log(`dry run: no problems found for the audit and for \`alol train\` of ${variants.join(', ')}`);
  console.log(`  training: ${v.trainRows} rows in ${v.trainGroups} groups (prompts); ${pairs(v.statedTrainPairs, v.responseSetsTrain)}`);
  console.log(`  test: ${v.testRows} rows; ${pairs(v.statedTestPairs, v.responseSetsTest)}`);
  const fit = config.value.fitOn === 'train' ? 'the training rows, out-of-fold' : 'validation prompts';
  console.log(`  validation: ${v.validationPrompts} prompts; value head fitted on ${fit}`);
  console.log(
    v.generationRewards.length
      ? `  generations scored by ${v.generationRewards.join(', ')}`
      : '  no component scores generated text: generation rewards n/a; preference accuracy is the held-out metric',
  );
}

async function audit(flags: RunFlags & { dryRun?: boolean }): Promise<void> {
  if (flags.dryRun) return dryRun(flags);
  const ctx = await openRunFromFlags('audit', flags, { say: (l) => console.log(l), progress: (phase, total) => progressBar(phase, total) });
  const { runDir, cacheDir, log, config } = ctx;
  console.log(`audit: run folder ${runDir}${cacheDir ? `; caches in ${cacheDir}` : '; caches off'}`);
  const r = await inRun(ctx, () => runAudit(ctx, auditPlan(ctx)));
  const adv = r.adv;
  if (!adv) throw new Error('the audit skipped the value head'); // auditPlan always fits it
  console.log(`\ndata: ${r.report.rows} rows in ${r.report.groups} groups (prompts); training ${r.train.length} rows in ` +
    `${r.validated.trainGroups} groups, ${r.trainPairs.length} preference pairs`);
  console.log('\nadvantage histogram (A = R - V; # kept, . filtered):');
  for (const l of renderAdvantageHistogram(adv.histogram)) console.log(l);
  const nKept = adv.kept.filter(Boolean).length;
  console.log(
    `\nkept ${nKept} / filtered ${adv.kept.length - nKept} of ${adv.kept.length} training rows ` +
      `(positive fraction ${adv.positiveFraction.toFixed(3)})`,
  );
  const ratio = adv.value.headMse / adv.value.meanMse;
  console.log(
    `value head (${adv.value.fitOn}): held-out MSE ${adv.value.headMse.toFixed(4)}, mean predictor ${adv.value.meanMse.toFixed(4)} ` +
      `(ratio ${ratio.toFixed(2)}${ratio < 0.95 ? '' : ': no better than the mean'})`,
  );
  const scaled = adv.budget.scaled ? ` (scaled by the positive fraction from ${config.train.steps})` : '';
  console.log(`training budget for ${config.train.variant}: ${adv.budget.steps} steps, eval every ${adv.budget.evalEvery}${scaled}`);
  console.log(`time per phase: ${Object.entries(r.phaseSeconds).map(([p, s]) => `${p} ${s.toFixed(1)} s`).join(', ')}`);
  console.log(`wrote ${path.join(runDir, 'advantages.jsonl')} and ${log.file}`);
}

export function registerAuditVerb(program: Command): void {
  backendOptions(program.command('audit'))
    .description('reference policy, rewards, reference log-probs, value head and advantages of a run config; writes a run folder')
    .option('--config <file>', 'run config (JSON with comments); without it every field has its default')
    .option('--set <key=value>', 'override a config field (repeatable), e.g. --set value.fitOn=train', collect)
    .option('--out <dir>', 'run folder (default: runs/audit-<time> beside the config)')
    .option(
      '--cache-dir <dir>',
      'caches of rewards, reference log-probs, hidden states, value estimates (default: .alol/cache beside the config)',
    )
    .option('--no-cache', 'compute everything; read and write no cache')
    .option('--dry-run', 'read the data and check the config for the audit and `alol train` (every problem at once); compute nothing')
    .action(audit);
}
