// Robustness to noisy data (the paper's second claim): held-out sampled reward of nll, wnll and a_lol
// at several noise levels, each over several seeds, from the built-in demo task. Prints mean and
// spread (sample standard deviation) per variant and level, and a_lol - nll.
//
//   npm run bench:noise -- [--noise 0.2,0.5,0.8] [--seeds 1,2,3,4,5] [--full] [--variants nll,wnll,a_lol,kto,...]

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { VARIANTS } from '../src/protocol/config.js';
import type { Variant } from '../src/trainer/alol/rules.js';
import { openDemoContext, runDemo } from '../src/trainer/demo/demo.js';

const { values: a } = parseArgs({ options: {
  noise: { type: 'string', default: '0.2,0.5,0.8' },
  seeds: { type: 'string', default: '1,2,3,4,5' },
  full: { type: 'boolean', default: false },
  variants: { type: 'string', default: 'nll,wnll,a_lol' },
} });
const levels = (a.noise as string).split(',').map(Number);
const seeds = (a.seeds as string).split(',').map(Number);
const variants = (a.variants as string).split(',') as Variant[];
const unknown = variants.filter((v) => !(VARIANTS as readonly string[]).includes(v));
if (unknown.length) throw new Error(`--variants: ${unknown.join(', ')}: use variants from ${VARIANTS.join(', ')}`);
const stat = (xs: number[]) => {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1)) : 0;
  return `${m.toFixed(3)} ± ${sd.toFixed(3)}`;
};

async function main(): Promise<void> {
  const t0 = performance.now();
  console.log(`demo task ${a.full ? 'full' : '--quick'}; held-out sampled total reward, mean ± sd over seeds ${seeds.join(',')}`);
  for (const noise of levels) {
    const results: Record<string, number[]> = Object.fromEntries(['reference', ...variants, 'gap'].map((k) => [k, [] as number[]]));
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
      if (variants.includes('a_lol') && variants.includes('nll')) results.gap.push(r('a_lol') - r('nll'));
      rmSync(out, { recursive: true, force: true });
    }
    const cells = ['reference', ...variants].map((k) => `${k} ${stat(results[k])}`);
    if (results.gap.length) cells.push(`a_lol - nll ${stat(results.gap)}`);
    console.log(`noise ${noise}: ${cells.join(' | ')}`);
  }
  console.log(`(${((performance.now() - t0) / 60e3).toFixed(1)} min)`);
}

main().catch((e) => {
  console.error(`bench: error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
