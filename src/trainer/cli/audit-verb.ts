// `alol audit`: the reference policy, rewards, reference log-probs, value head and advantages of a run
// config, with a line per phase, progress bars, the advantage histogram as text, kept/filtered
// counts, the value head against the mean predictor, and the time per phase. Writes a run folder the
// dashboard can open (events.jsonl) and advantages.jsonl.

import path from 'node:path';
import type { Command } from 'commander';
import { runAudit } from '../pipeline/audit.js';
import { renderAdvantageHistogram } from '../alol/advantages.js';
import { type RunFlags, inRun, openRunFromFlags } from '../run/context.js';
import { collect } from './options.js';

import { progressBar } from './progress.js';

async function audit(flags: RunFlags): Promise<void> {
  const ctx = await openRunFromFlags('audit', flags, { say: (l) => console.log(l), progress: (phase, total) => progressBar(phase, total) });
  const { runDir, cacheDir, log, config } = ctx;
  console.log(`audit: run folder ${runDir}${cacheDir ? `; caches in ${cacheDir}` : '; caches off'}`);
  const r = await inRun(ctx, () => runAudit(ctx));
  console.log('\nadvantage histogram (A = R - V; # kept, . filtered):');
  for (const l of renderAdvantageHistogram(r.histogram)) console.log(l);
  const nKept = r.kept.filter(Boolean).length;
  console.log(
    `\nkept ${nKept} / filtered ${r.kept.length - nKept} of ${r.kept.length} training rows ` +
      `(positive fraction ${r.positiveFraction.toFixed(3)})`,
  );
  const ratio = r.value.headMse / r.value.meanMse;
  console.log(
    `value head (${r.value.fitOn}): held-out MSE ${r.value.headMse.toFixed(4)}, mean predictor ${r.value.meanMse.toFixed(4)} ` +
      `(ratio ${ratio.toFixed(2)}${ratio < 0.95 ? '' : ': no better than the mean'})`,
  );
  const scaled = r.budget.scaled ? ` (scaled by the positive fraction from ${config.train.steps})` : '';
  console.log(`training budget for ${config.train.variant}: ${r.budget.steps} steps, eval every ${r.budget.evalEvery}${scaled}`);
  console.log(`time per phase: ${Object.entries(r.phaseSeconds).map(([p, s]) => `${p} ${s.toFixed(1)} s`).join(', ')}`);
  console.log(`wrote ${path.join(runDir, 'advantages.jsonl')} and ${log.file}`);
}

export function registerAuditVerb(program: Command): void {
  program
    .command('audit')
    .description('reference policy, rewards, reference log-probs, value head and advantages of a run config; writes a run folder')
    .option('--config <file>', 'run config (JSON with comments); without it every field has its default')
    .option('--set <key=value>', 'override a config field (repeatable), e.g. --set value.fitOn=train', collect)
    .option('--out <dir>', 'run folder (default: runs/audit-<time> beside the config)')
    .option(
      '--cache-dir <dir>',
      'caches of rewards, reference log-probs, hidden states, value estimates (default: .alol/cache beside the config)',
    )
    .option('--no-cache', 'compute everything; read and write no cache')
    .action(audit);
}
