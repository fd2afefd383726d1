// `alol score`: the rewards of every row of the run config's dataset, per component and total, with a
// summary (mean, min, max and a histogram per component) and a progress bar. Module rewards run in
// worker threads with their time limits; values are cached per component under --cache-dir.

import path from 'node:path';
import type { Command } from 'commander';
import { type RunConfig } from '../../protocol/config.js';
import { loadRunConfig, resolveFromConfig } from '../run/load-config.js';
import { describeReport, readDataset } from '../data/dataset.js';
import type { Row } from '../data/rows.js';
import { AlolError } from '../errors.js';
import { RewardSet } from '../rewards/registry.js';
import { renderHistogram, summarize } from '../rewards/summary.js';
import { writeFileAtomic } from '../util/atomic.js';
import { collect, int, providerFor } from './options.js';
import { progressBar } from './progress.js';

interface ScoreFlags {
  config?: string;
  set?: string[];
  data?: string;
  out: string;
  batchSize: number;
  cacheDir?: string;
  cache: boolean;
  skipBadRows: boolean;
}

interface ScoreRowsOptions {
  cacheDir: string | null;
  batchSize: number;
  onProgress?: (done: number, total: number) => void;
}

export async function scoreRows(config: RunConfig, baseDir: string, rows: readonly Row[], opts: ScoreRowsOptions) {
  const provider = await providerFor(config.device);
  const rewards = await RewardSet.create(config.rewards, { baseDir, cacheDir: opts.cacheDir, provider, threads: config.threads });
  try {
    rewards.fit(rows.filter((r) => r.split === 'train'));
    const result = await rewards.score(rows, { batchSize: opts.batchSize, onProgress: opts.onProgress });
    return { rewards, result };
  } finally {
    await rewards.dispose();
  }
}

async function score(flags: ScoreFlags): Promise<void> {
  const sets = [...(flags.set ?? []), ...(flags.data ? [`data.path=${JSON.stringify(path.resolve(flags.data))}`] : [])];
  const loaded = await loadRunConfig(flags.config ?? null, sets);
  const { config } = loaded;
  if (config.rewards.length === 0) {
    throw new AlolError(
      'config',
      `${flags.config ?? 'the config'} has no reward components`,
      'add "rewards": [{"name": "sentiment", "kind": "builtin", "scorer": "sentiment"}]',
    );
  }
  const dataFile = resolveFromConfig(loaded, config.data.path);
  const t0 = performance.now();
  const { format, split } = config.data;
  const { rows, report } = await readDataset(dataFile, { format, skipBadRows: flags.skipBadRows, split });
  console.log(describeReport(report));
  const cacheDir = flags.cache ? path.resolve(flags.cacheDir ?? path.join(loaded.baseDir, '.alol', 'cache')) : null;
  const bar = progressBar('score', rows.length * config.rewards.length);
  const tScore = performance.now();
  const onProgress = (d: number): void => bar.update(d);
  const { rewards, result } = await scoreRows(config, loaded.baseDir, rows, { cacheDir, batchSize: flags.batchSize, onProgress });
  bar.stop();
  const scoreSeconds = (performance.now() - tScore) / 1e3;

  const lines = rows.map((r, i) =>
    JSON.stringify({
      id: r.id,
      file: r.file,
      line: r.line,
      split: r.split,
      kind: r.kind,
      total: result.total[i],
      rewards: Object.fromEntries(rewards.names.map((n) => [n, (result.components.get(n) as Float64Array)[i]])),
    }),
  );
  await writeFileAtomic(flags.out, lines.length ? `${lines.join('\n')}\n` : '');

  const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');
  // One row per component: name, kind, weight, range, then mean / min / max right-aligned.
  const row = (name: string, kind: string, weight: string, range: string, stats: readonly string[]): string =>
    `${name.padEnd(16)} ${kind.padEnd(18)} ${weight.padStart(6)}  ${range.padEnd(12)} ${stats.map((x) => x.padStart(7)).join(' ')}`;
  console.log(`\n${row('component', 'kind', 'weight', 'range', ['mean', 'min', 'max'])}  computed / cached`);
  for (const c of config.rewards) {
    const range = rewards.rangeOf(c.name);
    const s = summarize(result.components.get(c.name) as Float64Array, range);
    const kind = c.kind === 'builtin' ? `builtin ${c.scorer}` : c.kind;
    const counts = `${result.computed.get(c.name)} / ${result.cached.get(c.name)}`;
    console.log(`${row(c.name, kind, String(c.weight), `[${range[0]}, ${range[1]}]`, [fmt(s.mean), fmt(s.min), fmt(s.max)])}  ${counts}`);
  }
  const totalRange = rewards.range();
  const st = summarize(result.total, totalRange);
  console.log(row('total', '', '', `[${fmt(totalRange[0])}, ${fmt(totalRange[1])}]`, [fmt(st.mean), fmt(st.min), fmt(st.max)]));
  for (const c of config.rewards) {
    console.log(`\n${c.name}:`);
    const values = result.components.get(c.name) as Float64Array;
    for (const l of renderHistogram(summarize(values, rewards.rangeOf(c.name)).histogram)) console.log(l);
  }
  console.log(`\ntotal:`);
  for (const l of renderHistogram(st.histogram)) console.log(l);
  const computed = [...result.computed.values()].reduce((a, x) => a + x, 0);
  const rate = `${(rows.length / Math.max(scoreSeconds, 1e-9)).toFixed(0)} rows/s`;
  const cached = `${rows.length * config.rewards.length - computed} from the cache${cacheDir ? ` in ${cacheDir}` : ', cache off'}`;
  console.log(
    `\nscored ${rows.length} rows x ${config.rewards.length} components in ${scoreSeconds.toFixed(2)} s (${rate}; ` +
      `${computed} values computed, ${cached}); total ${((performance.now() - t0) / 1e3).toFixed(2)} s; wrote ${flags.out}`,
  );
}

export function registerScoreVerb(program: Command): void {
  program
    .command('score')
    .description("the rewards of every row of the config's dataset, per component and total, with a summary")
    .option('--config <file>', 'run config (JSON with comments); without it every field has its default')
    .option('--set <key=value>', 'override a config field, e.g. --set rewards.0.weight=0.5 (repeatable)', collect)
    .option('--data <file>', 'dataset file (overrides data.path)')
    .requiredOption('--out <file>', 'JSONL to write: {id, file, line, split, kind, total, rewards: {name: value}}')
    .option('--batch-size <n>', 'rows per reward call', int(1), 64)
    .option('--cache-dir <dir>', 'reward cache (default: .alol/cache beside the config)')
    .option('--no-cache', 'compute every value, read and write no cache')
    .option('--skip-bad-rows', 'skip rows that fail validation (listed in the report) instead of stopping', false)
    .action(score);
}
