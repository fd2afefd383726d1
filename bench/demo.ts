// Wall time of the full built-in demo (`alol demo --seed 1`), and the time of each phase from its
// events.jsonl, plus the results table. The goal: under 10 minutes on a 2-core machine.
//
//   npm run bench:demo -- [--quick] [--seed 1] [--noise 0.5] [--parallel-variants auto|N]
//
// With variants trained at once (train.parallelVariants, default auto) the training and evaluation phases overlap:
// their sums exceed the wall time they took.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { StoredEvent } from '../src/protocol/trainer.js';

const { values: a } = parseArgs({ options: {
  quick: { type: 'boolean', default: false },
  seed: { type: 'string', default: '1' },
  noise: { type: 'string', default: '0.5' },
  'parallel-variants': { type: 'string', default: 'auto' },
} });
const out = mkdtempSync(path.join(os.tmpdir(), 'alol-bench-demo-'));
const args = [
  path.resolve(__dirname, '../../bin/alol.js'),
  'demo',
  '--seed',
  a.seed as string,
  '--noise',
  a.noise as string,
  '--out',
  out,
  '--parallel-variants',
  a['parallel-variants'] as string,
  ...(a.quick ? ['--quick'] : [])
];
const t0 = performance.now();
const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
const seconds = (performance.now() - t0) / 1e3;
if (r.status !== 0) {
  console.error(r.stdout, r.stderr);
  process.exit(1);
}
const events = readFileSync(path.join(out, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StoredEvent);
const phases = new Map<string, number>();
for (const e of events) if (e.type === 'phase/didChange' && e.status === 'finished') phases.set(
  e.phase,
  (phases.get(e.phase) ?? 0) + (e.elapsedMs ?? 0) / 1e3,
);
console.log(r.stdout.split('\n').filter((l) => /held-out results|^\s+(variant|reference|nll|wnll|a_lol)/.test(l)).join('\n'));
const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as { timing?: { parallelVariants?: number } };
const at = summary.timing?.parallelVariants;
const overlap = at ? ` (up to ${at} variants at once: training and evaluation summed over them)` : '';
console.log(`\nphases: ${[...phases].map(([p, s]) => `${p} ${s.toFixed(0)} s`).join(', ')}${overlap}`);
console.log(
  `demo ${a.quick ? '--quick ' : ''}--seed ${a.seed} --noise ${a.noise} --parallel-variants ${a['parallel-variants']}: ` +
    `${seconds.toFixed(0)} s wall (${(seconds / 60).toFixed(1)} ` +
    `min; goal < 10 min for the full demo)`,
);
rmSync(out, { recursive: true, force: true });
