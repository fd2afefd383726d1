// Robustness to noisy data (the paper's second claim): held-out sampled reward of nll, wnll and a_lol
// at several noise levels, each over several seeds, from the built-in demo task. Prints mean and
// spread (sample standard deviation) per variant and level, and a_lol - nll.
//
//   npm run bench:noise -- [--noise 0.2,0.5,0.8] [--seeds 1,2,3,4,5] [--full]

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openDemoContext, runDemo } from '../src/trainer/demo/demo.js';

const { values: a } = parseArgs({ options: {
  noise: { type: 'string', default: '0.2,0.5,0.8' },
  seeds: { type: 'string', default: '1,2,3,4,5' },
  full: { type: 'boolean', default: false },
} });
const levels = (a.noise as string).split(',').map(Number);
const seeds = (a.seeds as string).split(',').map(Number);
const variants = ['nll', 'wnll', 'a_lol'] as const;
const stat = (xs: number[]) => {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1)) : 0;
  return `${m.toFixed(3)} ± ${sd.toFixed(3)}`;
};

async function main(): Promise<void> {
  const t0 = performance.now();
  console.log(`demo task ${a.full ? 'full' : '--quick'}; held-out sampled total reward, mean ± sd over seeds ${seeds.join(',')}`);
  for (const noise of levels) {
    const results: Record<string, number[]> = { reference: [], nll: [], wnll: [], a_lol: [], gap: [] };
    for (const seed of seeds) {
      const out = mkdtempSync(path.join(os.tmpdir(), 'alol-noise-'));
      const opts = { out, seed, quick: !a.full, noise, variants };
      const ctx = await openDemoContext(
        opts,
        { say: () => undefined, progress: () => ({ update: () => undefined, stop: () => undefined }) },
      );
      const s = await runDemo(ctx, opts);
      const r = (k: string) => s.variants[k].heldoutSampled.reward.total ?? NaN; // the demo scores generations: never null
      for (const k of ['reference', ...variants]) results[k].push(r(k));
      results.gap.push(r('a_lol') - r('nll'));
      rmSync(out, { recursive: true, force: true });
    }
    console.log(
      `noise ${noise}: reference ${stat(results.reference)} | nll ${stat(results.nll)} | wnll ${stat(results.wnll)} | a_lol ` +
        `${stat(results.a_lol)} | a_lol - nll ${stat(results.gap)}`,
    );
  }
  console.log(`(${((performance.now() - t0) / 60e3).toFixed(1)} min)`);
}

main().catch((e) => {
  console.error(`bench: error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
