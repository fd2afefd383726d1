// `alol score`: the rewards of every row of the run config's dataset, per component and total, with a
// summary (mean, min, max and a histogram per component) and a progress bar. Module rewards run in
// worker threads with their time limits; values are cached per component under --cache-dir.

import path from 'node:path';
import type { Command } from 'commander';
import { type RunConfig } from '../../protocol/config.js';
import { loadRunConfig, resolveFromConfig } from '../run/load-config.js';
import { describeReport, readDataset } from '../data/dataset.js';
import type { Row } from '../data/rows.js';
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

export async function scoreRows(config: RunConfig, baseDir: string, rows: readonly Row[], opts: { cacheDir: string | null; batchSize: number; onProgress?: (done: number, total: number) => void }) {
  const rewards = await RewardSet.create(config.rewards, { baseDir, cacheDir: opts.cacheDir, provider: await providerFor(config.device), threads: config.threads });
  try {
    rewards.fit(rows.filter((r) => r.split === 'train'));
    const result = await rewards.score(rows, { batchSize: opts.batchSize, onProgress: opts.onProgress });
    return { rewards, result };
  } finally {
    await rewards.dispose();
  }
}

async function score(o: ScoreFlags): Promise<void> {
  const sets = [...(o.set ?? []), ...(o.data ? [`data.path=${JSON.stringify(path.resolve(o.data))}`] : [])];
  const loaded = await loadRunConfig(o.config ?? null, sets);
  const { config } = loaded;
  if (config.rewards.length === 0) {
    throw new Error(`${o.config ?? 'the config'} has no reward components; hint: add "rewards": [{"name": "sentiment", "kind": "builtin", "scorer": "sentiment"}]`);
  }
  const dataFile = resolveFromConfig(loaded, config.data.path);
  const t0 = performance.now();
  const { rows, report } = await readDataset(dataFile, { format: config.data.format, skipBadRows: o.skipBadRows, split: config.data.split });
  console.log(describeReport(report));
  const cacheDir = o.cache ? path.resolve(o.cacheDir ?? path.join(loaded.baseDir, '.alol', 'cache')) : null;
  const bar = progressBar('score', rows.length * config.rewards.length);
  const tScore = performance.now();
  const { rewards, result } = await scoreRows(config, loaded.baseDir, rows, { cacheDir, batchSize: o.batchSize, onProgress: (d) => bar.update(d) });
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
  await writeFileAtomic(o.out, lines.length ? `${lines.join('\n')}\n` : '');

  const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');
  console.log(`\n${'component'.padEnd(16)} ${'kind'.padEnd(18)} ${'weight'.padStart(6)}  ${'range'.padEnd(12)} ${'mean'.padStart(7)} ${'min'.padStart(7)} ${'max'.padStart(7)}  computed / cached`);
  for (const c of config.rewards) {
    const range = rewards.rangeOf(c.name);
    const s = summarize(result.components.get(c.name) as Float64Array, range);
    const kind = c.kind === 'builtin' ? `builtin ${c.scorer}` : c.kind;
    console.log(`${c.name.padEnd(16)} ${kind.padEnd(18)} ${String(c.weight).padStart(6)}  ${`[${range[0]}, ${range[1]}]`.padEnd(12)} ${fmt(s.mean).padStart(7)} ${fmt(s.min).padStart(7)} ${fmt(s.max).padStart(7)}  ${result.computed.get(c.name)} / ${result.cached.get(c.name)}`);
  }
  const totalRange = rewards.range();
  const st = summarize(result.total, totalRange);
  console.log(`${'total'.padEnd(16)} ${''.padEnd(18)} ${''.padStart(6)}  ${`[${fmt(totalRange[0])}, ${fmt(totalRange[1])}]`.padEnd(12)} ${fmt(st.mean).padStart(7)} ${fmt(st.min).padStart(7)} ${fmt(st.max).padStart(7)}`);
  for (const c of config.rewards) {
    console.log(`\n${c.name}:`);
    for (const l of renderHistogram(summarize(result.components.get(c.name) as Float64Array, rewards.rangeOf(c.name)).histogram)) console.log(l);
  }
  console.log(`\ntotal:`);
  for (const l of renderHistogram(st.histogram)) console.log(l);
  const computed = [...result.computed.values()].reduce((a, x) => a + x, 0);
  console.log(
    `\nscored ${rows.length} rows x ${config.rewards.length} components in ${scoreSeconds.toFixed(2)} s (${(rows.length / Math.max(scoreSeconds, 1e-9)).toFixed(0)} rows/s; ` +
      `${computed} values computed, ${rows.length * config.rewards.length - computed} from the cache${cacheDir ? ` in ${cacheDir}` : ', cache off'}); total ${((performance.now() - t0) / 1e3).toFixed(2)} s; wrote ${o.out}`,
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
