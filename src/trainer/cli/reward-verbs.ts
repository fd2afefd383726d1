// Reward debugging from the command line (and for the editor's commands, with --json): score given
// rows, check a reward function on N rows (every problem named with its row), run components in this
// process with no time limit under a debugger, and the reward report (distribution, correlation with
// length and between components, share of the total). All run the trainer's own reward registry.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { RewardComponentConfig } from '../../protocol/config.js';
import { loadRunConfig } from '../run/load-config.js';
import { DEFAULT_SPLIT, buildRecord, readDataset } from '../data/dataset.js';
import { type Row, classifyRecord } from '../data/rows.js';
import { AlolError } from '../errors.js';
import { ModuleReward } from '../rewards/module-reward.js';
import { RewardSet, type ScoreResult, type TolerantScore } from '../rewards/registry.js';
import { rewardReport } from '../rewards/report.js';
import { renderHistogram } from '../rewards/summary.js';
import { writeFileAtomic } from '../util/atomic.js';
import { collect, int } from './options.js';

interface Flags {
  config?: string;
  set?: string[];
  component?: string;
  rows: number;
  json: boolean;
}

async function open(flags: Flags, extra: { inProcess?: boolean; noTimeLimit?: boolean } = {}) {
  const loaded = await loadRunConfig(flags.config ?? null, flags.set ?? []);
  let configs: RewardComponentConfig[] = loaded.config.rewards;
  if (flags.component) {
    configs = configs.filter((c) => c.name === flags.component);
    if (!configs.length) {
      const names = loaded.config.rewards.map((c) => c.name).join(', ');
      throw new Error(`no reward component named '${flags.component}' (components: ${names})`);
    }
  }
  if (!configs.length) throw new AlolError('config', 'the config has no reward components', 'add one to "rewards"');
  const set = await RewardSet.create(configs, { baseDir: loaded.baseDir, cacheDir: null, threads: loaded.config.threads, ...extra });
  const { data: dataConfig } = loaded.config;
  const data = await readDataset(path.resolve(loaded.baseDir, dataConfig.path), { format: dataConfig.format, split: dataConfig.split });
  set.fit(data.rows.filter((r) => r.split === 'train'));
  return { loaded, set, data };
}

/** Rows from dataset lines given as text (the editor's row or selection), parsed as the trainer does. */
function rowsFromText(text: string, file: string): Row[] {
  return text.split(/\r?\n/).flatMap((line, i) => {
    if (!line.trim()) return [];
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (e) {
      throw new Error(`line ${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    const kind = classifyRecord(json);
    if (!kind) throw new Error(`line ${i + 1}: not a dataset row`);
    return buildRecord(kind, json, file, i + 1, DEFAULT_SPLIT).rows;
  });
}

/**
 * Scores as the editor reads them (`score-rows --json`, `debug-reward --results`): one object a row. A row
 * that could not be scored has `total: null`, no rewards and `error` (every component's reason).
 */
function scoredRows(set: RewardSet, rows: readonly Row[], r: ScoreResult, bad: TolerantScore['bad'] = []) {
  const errors = new Map(bad.map((b) => [b.index, b.errors.map((e) => e.message).join('; ')]));
  let j = 0; // r covers the good rows only, in order
  return rows.map((row, i) => {
    const error = errors.get(i);
    if (error !== undefined) return { rowId: row.id, line: row.line, kind: row.kind, total: null, rewards: {}, error };
    const k = j++;
    return {
      rowId: row.id,
      line: row.line,
      kind: row.kind,
      total: r.total[k],
      rewards: Object.fromEntries(set.names.map((n) => [n, (r.components.get(n) as Float64Array)[k]])),
    };
  });
}

/** Scores every row it can: a bad row is reported on its own (exit code 1), never hides the others. */
async function scoreRows(flags: Flags & { input: string; inputName?: string }): Promise<void> {
  const { set } = await open(flags);
  try {
    const text = flags.input === '-' ? readFileSync(0, 'utf8') : readFileSync(flags.input, 'utf8');
    const rows = rowsFromText(text, flags.inputName ?? flags.input);
    const { result, bad } = await set.scoreEach(rows);
    const out = scoredRows(set, rows, result, bad);
    const parts = (x: (typeof out)[number]) => Object.entries(x.rewards).map(([k, v]) => `${k} ${v.toFixed(4)}`).join('  ');
    const line = (x: (typeof out)[number]): string =>
      x.total === null ? `${x.rowId} ${x.kind}: ${x.error}` : `${x.rowId} ${x.kind}: total ${x.total.toFixed(4)}  ${parts(x)}`;
    console.log(flags.json ? JSON.stringify(out) : out.map(line).join('\n'));
    if (bad.length && !flags.json) process.exitCode = 1;
  } finally {
    await set.dispose();
  }
}

async function check(flags: Flags & { slowMs: number }): Promise<void> {
  const { set, data } = await open(flags);
  try {
    const rows = data.rows.slice(0, flags.rows);
    const report = await set.check(rows, { slowMs: flags.slowMs, only: flags.component });
    if (flags.json) return void console.log(JSON.stringify(report));
    for (const [name, t] of Object.entries(report.timing)) {
      console.log(`${name}: ${t.calls} rows, mean ${t.meanMs.toFixed(1)} ms, max ${t.maxMs.toFixed(1)} ms per row`);
    }
    if (!report.findings.length) console.log(`no problems on ${rows.length} rows`);
    for (const f of report.findings) console.log(`${f.component}: ${f.problem} on ${f.row}: ${f.detail}`);
    if (report.findings.some((f) => f.problem !== 'slow')) process.exitCode = 1;
  } finally {
    await set.dispose();
  }
}

/** The module components' bundles, written where the in-process run will write them (see ModuleReward.writeDebugCopy). */
async function prepareDebug(flags: Flags): Promise<void> {
  const loaded = await loadRunConfig(flags.config ?? null, flags.set ?? []);
  const modules = loaded.config.rewards.filter((c) => c.kind === 'module' && (!flags.component || c.name === flags.component));
  const files: string[] = [];
  for (const c of modules) {
    if (c.kind !== 'module') continue;
    const m = await ModuleReward.load(path.resolve(loaded.baseDir, c.path), null, c.export);
    try {
      files.push(m.writeDebugCopy());
    } finally {
      await m.dispose(); // never ran in process: leaves the copy in place
    }
  }
  console.log(flags.json ? JSON.stringify({ files }) : files.join('\n'));
}

async function debug(flags: Flags & { lines?: string; prepare: boolean; results?: string }): Promise<void> {
  if (flags.prepare) return prepareDebug(flags);
  const { set, data, loaded } = await open(flags, { inProcess: true });
  try {
    const wanted = flags.lines ? new Set(flags.lines.split(',').map(Number)) : null;
    const rows = data.rows.filter((r) => (wanted ? wanted.has(r.line) : true)).slice(0, flags.rows);
    if (!rows.length) {
      const file = path.resolve(loaded.baseDir, loaded.config.data.path);
      throw new Error(wanted ? `${file}: no dataset rows on lines ${flags.lines}` : 'the dataset has no rows');
    }
    console.error(`debugging ${set.names.join(', ')} on ${rows.length} rows in this process, no time limit`);
    const r = await set.score(rows);
    rows.forEach((row, i) => {
      const parts = set.names.map((n) => `${n} ${(r.components.get(n) as Float64Array)[i].toFixed(4)}`);
      console.log(`line ${row.line} (${row.id}): total ${r.total[i].toFixed(4)}  ${parts.join('  ')}`);
    });
    if (flags.results) {
      // For the editor, which shows them on the rows: written whole or not at all.
      await writeFileAtomic(flags.results, JSON.stringify(scoredRows(set, rows, r)));
    }
  } finally {
    await set.dispose();
  }
}

/** The report over the rows that score; the others are listed (with every component's reason), never abort it. */
async function report(flags: Flags): Promise<void> {
  const { set, data, loaded } = await open(flags);
  try {
    const { result: r, good, bad } = await set.scoreEach(data.rows);
    const comps = loaded.config.rewards
      .filter((c) => set.names.includes(c.name))
      .map((c) => ({ name: c.name, weight: c.weight, range: set.rangeOf(c.name), values: r.components.get(c.name) as Float64Array }));
    const rep = rewardReport(comps, good.map((i) => data.rows[i].response));
    const file = path.resolve(loaded.baseDir, loaded.config.data.path);
    const skipped = bad.map((b) => ({ line: b.row.line, rowId: b.row.id, kind: b.row.kind, errors: b.errors }));
    if (flags.json) {
      const head = { rows: good.length, of: data.rows.length, file, dataPath: loaded.config.data.path };
      return void console.log(JSON.stringify({ ...head, skipped, components: rep }));
    }
    const of = bad.length ? ` (of ${data.rows.length}; ${bad.length} could not be scored, listed at the end)` : '';
    console.log(`reward report: ${good.length} rows of ${loaded.config.data.path}${of}\n`);
    for (const c of rep) {
      const corr = Object.entries(c.correlations).map(([k, v]) => `${k} ${v === null ? '-' : v.toFixed(2)}`).join(', ');
      const stats = `mean ${c.summary.mean.toFixed(3)}, min ${c.summary.min.toFixed(3)}, max ${c.summary.max.toFixed(3)}`;
      const share = `share of the total ${(100 * c.shareOfTotal).toFixed(1)}%`;
      console.log(`${c.name} (weight ${c.weight}, range [${c.range.join(', ')}]): ${stats}; ${share}`);
      const withLength = c.lengthCorrelation === null ? '-' : c.lengthCorrelation.toFixed(2);
      console.log(`  correlation with length ${withLength}${corr ? `; with ${corr}` : ''}`);
      for (const w of c.warnings) console.log(`  warning: ${c.name} ${w}`);
      for (const l of renderHistogram(c.summary.histogram, 30)) console.log(l);
    }
    if (bad.length) console.log(`\nrows not scored (${bad.length}):`);
    for (const b of skipped) console.log(`  line ${b.line} (id ${b.rowId}): ${b.errors.map((e) => e.message).join('; ')}`);
  } finally {
    await set.dispose();
  }
}

export function registerRewardVerbs(program: Command): void {
  const common = (cmd: Command) =>
    cmd
      .option('--config <file>', 'run config with the reward components')
      .option('--set <key=value>', 'override a config field (repeatable)', collect)
      .option('--component <name>', 'only this reward component')
      .option('--rows <n>', 'rows to use (from the start of the dataset)', int(1), 50)
      .option('--json', 'machine-readable output (used by the editor)', false);
  const scoreWhat = "score dataset rows given as JSONL text (a file, or - for stdin) with the config's reward components";
  common(program.command('score-rows').description(scoreWhat))
    .requiredOption('--input <file>', 'JSONL rows, or - for stdin')
    .option('--input-name <file>', 'the file the rows come from, for messages (with --input -: the editor\'s dataset)')
    .action(scoreRows);
  const checkWhat =
    'dry-run reward components on N rows; report throws, NaN, non-numbers, wrong lengths, out-of-range values, time-outs and slow calls, ' +
    'each with its row';
  common(program.command('check-reward').description(checkWhat))
    .option('--slow-ms <ms>', 'a call slower than this per row is reported', int(1), 500)
    .action(check);
  const debugWhat = 'run reward components in this process with no time limit (start it under a debugger; breakpoints in the module bind)';
  common(program.command('debug-reward').description(debugWhat))
    .option('--lines <n,n>', 'dataset lines to score (default: the first --rows rows)')
    .option('--results <file>', 'also write the scores as JSON to this file (the editor shows them on the rows)')
    .option('--prepare', 'only write the bundles the run will load (for a debugger\'s outFiles) and print their paths', false)
    .action(debug);
  const reportWhat = 'per component: distribution, correlation with response length and with the other components, share of the total';
  common(program.command('reward-report').description(reportWhat)).action(report);
}
