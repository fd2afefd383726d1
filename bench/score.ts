// `alol score` throughput on the HH file in ../shared (4,624 rows): the built-in scorers, then one
// TypeScript module reward (run in a worker thread), cache off, 2 runs each (best reported).
//
//   npm run bench:score

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RewardComponentSchema } from '../src/protocol/config.js';
import { readDataset } from '../src/trainer/data/dataset.js';
import { RewardSet } from '../src/trainer/rewards/registry.js';

const HH = path.resolve(__dirname, '../../../shared/data/hh-harmless-base-test.jsonl.gz');

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'alol-bench-score-'));
  await writeFile(
    path.join(dir, 'polite.ts'),
    "const WORDS = ['please', 'thank', 'sorry', 'glad'];\nexport default (b: { response: string }[]) => b.map((x) => Math.min(1, " +
      "WORDS.filter((w) => x.response.toLowerCase().includes(w)).length / 2));\n",
  );
  const t0 = performance.now();
  const { rows } = await readDataset(HH);
  console.log(`read ${rows.length} rows in ${((performance.now() - t0) / 1e3).toFixed(2)} s`);
  const suites = {
    'builtins (sentiment, toxicity, length, tfidf)': ['sentiment', 'toxicity', 'length', 'tfidf'].map((s) => ({
      name: s,
      kind: 'builtin',
      scorer: s,
    })),
    'one module reward (TypeScript, worker thread)': [{ name: 'polite', kind: 'module', path: 'polite.ts', range: [0, 1] }],
  };
  for (const [label, raw] of Object.entries(suites)) {
    let best = Infinity;
    for (let rep = 0; rep < 2; rep++) {
      const set = await RewardSet.create(raw.map((c) => RewardComponentSchema.parse(c)), { baseDir: dir, cacheDir: null });
      const t = performance.now();
      set.fit(rows.filter((r) => r.split === 'train'));
      await set.score(rows, { batchSize: 64 });
      best = Math.min(best, (performance.now() - t) / 1e3);
      await set.dispose();
    }
    console.log(`${label.padEnd(48)} ${(rows.length / best).toFixed(0).padStart(7)} rows/s (${best.toFixed(2)} s for ${rows.length} rows)`);
  }
  await rm(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(`bench: error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
