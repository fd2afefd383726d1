// `alol audit`: the reference policy, rewards, reference log-probs, value head and advantages of a run
// config, with a line per phase, progress bars, the advantage histogram as text, kept/filtered
// counts, the value head against the mean predictor, and the time per phase. Writes a run folder the
// dashboard can open (events.jsonl) and advantages.jsonl.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { runAudit } from '../alol/audit.js';
import { renderAdvantageHistogram } from '../alol/advantages.js';
import { type LoadedConfig, loadRunConfig } from '../config.js';
import { resolveDevice } from '../runtime/device.js';
import { RunLog, runName } from '../run/events.js';
import { writeFileAtomic } from '../util/atomic.js';
import { collect } from './options.js';
import { progressBar } from './progress.js';

export interface RunFlags {
  config?: string;
  set?: string[];
  out?: string;
  cacheDir?: string;
  cache: boolean;
}

/** Loads the config, makes the run folder (with the resolved config) and its event log. */
export async function openRun(verb: string, o: RunFlags): Promise<{ loaded: LoadedConfig; runDir: string; cacheDir: string | null; log: RunLog }> {
  const loaded = await loadRunConfig(o.config ?? null, o.set ?? []);
  const runDir = path.resolve(o.out ?? path.join(loaded.baseDir, 'runs', runName(verb)));
  await mkdir(runDir, { recursive: true });
  await writeFileAtomic(path.join(runDir, 'config.json'), `${JSON.stringify(loaded.config, null, 2)}\n`);
  const cacheDir = o.cache ? path.resolve(o.cacheDir ?? path.join(loaded.baseDir, '.alol', 'cache')) : null;
  const log = new RunLog(runDir);
  const device = await resolveDevice(loaded.config.device);
  if (device.fallback) console.error(`alol: ${device.fallback}`);
  log.emit({ type: 'run/didStart', runId: path.basename(runDir), runDir, verb, config: loaded.config, device: { requested: device.requested, provider: device.provider, ...(device.fallback ? { fallback: device.fallback } : {}) } });
  return { loaded, runDir, cacheDir, log };
}

/** Runs `body`, logging run/didFinish or run/didFail (with the message) before rethrowing. */
export async function inRun<T>(log: RunLog, runDir: string, body: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    const r = await body();
    log.emit({ type: 'run/didFinish', runDir, elapsedMs: performance.now() - t0 });
    return r;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const hint = /hint: (.*)$/.exec(message)?.[1];
    log.emit({ type: 'run/didFail', code: e instanceof Error && e.name !== 'Error' ? e.name : 'error', message, ...(hint ? { hint } : {}) });
    throw e;
  }
}

async function audit(o: RunFlags): Promise<void> {
  const { loaded, runDir, cacheDir, log } = await openRun('audit', o);
  console.log(`audit: run folder ${runDir}${cacheDir ? `; caches in ${cacheDir}` : '; caches off'}`);
  const r = await inRun(log, runDir, () =>
    runAudit(loaded, runDir, cacheDir, { log, say: (l) => console.log(l), progress: (phase, total) => progressBar(phase, total) }),
  );
  console.log('\nadvantage histogram (A = R - V; # kept, . filtered):');
  for (const l of renderAdvantageHistogram(r.histogram)) console.log(l);
  const nKept = r.kept.filter(Boolean).length;
  console.log(`\nkept ${nKept} / filtered ${r.kept.length - nKept} of ${r.kept.length} training rows (positive fraction ${r.positiveFraction.toFixed(3)})`);
  const ratio = r.value.headMse / r.value.meanMse;
  console.log(`value head (${r.value.fitOn}): held-out MSE ${r.value.headMse.toFixed(4)}, mean predictor ${r.value.meanMse.toFixed(4)} (ratio ${ratio.toFixed(2)}${ratio < 0.95 ? '' : ': no better than the mean'})`);
  console.log(`training budget for ${r.config.train.variant}: ${r.budget.steps} steps, eval every ${r.budget.evalEvery}${r.budget.scaled ? ` (scaled by the positive fraction from ${r.config.train.steps})` : ''}`);
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
    .option('--cache-dir <dir>', 'caches of rewards, reference log-probs, hidden states, value estimates (default: .alol/cache beside the config)')
    .option('--no-cache', 'compute everything; read and write no cache')
    .action(audit);
}
