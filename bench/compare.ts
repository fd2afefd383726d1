// This project against PyTorch on the same model and machine, in one run: the benchmark model (GPT-2 layout,
// vocab 257, 128 positions, hidden 256, 4 layers, 8 heads) through bench/generate.ts and bench/train.ts on
// one side and scripts/torch_bench.py (plain PyTorch eager, Debian's python3-torch, 2 threads,
// OPENBLAS_NUM_THREADS=1, torch.inference_mode() for inference) on the other, alternating A B A B ... so
// drift and other load hit both alike. Prints each round, the medians, and the ratio against the goal of
// issue 20 (at least 2x on every workload). Also runs this project's plain KV-cache graphs, to show what the
// fused ones (model/fused.ts) change.
//
//   npm run bench:compare -- [--rounds 3] [--threads 2] [--python /usr/bin/python3]

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});

const root = join(__dirname, '..', '..');
const GOAL = 2;
const workloads = [
  ['generate_b1_tokens_per_s', 'generation, KV cache, batch 1 (new tokens/s)'],
  ['generate_b16_tokens_per_s', 'generation, KV cache, batch 16 (new tokens/s)'],
  ['logprobs_tokens_per_s', 'forward log-probs, batch 16 (tokens/s)'],
  ['train_tokens_per_s', 'training step, B16 x T128 (tokens/s)'],
] as const;
type Figures = Partial<Record<(typeof workloads)[number][0], number>>;

/** Runs a command that prints its figures as the last line of JSON. */
function figures(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Figures {
  const out = execFileSync(cmd, args, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = out.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Figures;
  } catch {
    throw new Error(`${cmd} ${args.join(' ')}: expected a line of JSON last, got: ${line.slice(0, 200)}`);
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function main(): void {
  const threads = a.threads;
  const python = a.python;
  try {
    execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    throw new Error(`${python} cannot import torch: the PyTorch peer needs Debian's python3-torch (apt-get install python3-torch)`);
  }
  if (!existsSync(join(root, 'out', 'bench', 'generate.js'))) throw new Error('build first: npm run build');
  const sides = {
    alol: [] as Figures[],
    plain: [] as Figures[],
    torch: [] as Figures[],
  };
  const fmt = (f: Figures): string => workloads.map(([k]) => (f[k] === undefined ? '-' : f[k].toFixed(0))).join(' / ');
  console.log(`rounds of: ${workloads.map(([, label]) => label).join(' / ')}`);
  for (let r = 1; r <= Number(a.rounds); r++) {
    const ours = {
      ...figures('node', ['out/bench/generate.js', '--json', '--threads', threads]),
      ...figures('node', ['out/bench/train.js', '--json', '--threads', threads, '--steps', '10', '--warmup', '3']),
    };
    sides.alol.push(ours);
    console.log(`round ${r} alol (fused):  ${fmt(ours)}`);
    const torch = figures(python, ['scripts/torch_bench.py', '--json', '--threads', threads], { OPENBLAS_NUM_THREADS: '1' });
    sides.torch.push(torch);
    console.log(`round ${r} pytorch:       ${fmt(torch)}`);
    const plain = figures('node', ['out/bench/generate.js', '--json', '--threads', threads, '--kernels', 'plain']);
    sides.plain.push(plain);
    console.log(`round ${r} alol (plain):  ${fmt(plain)}`);
  }
  const med = (side: Figures[], k: (typeof workloads)[number][0]): number | undefined => {
    const xs = side.map((f) => f[k]).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  console.log(`\n# this project vs PyTorch ${Number(a.rounds)} round(s), medians, ${threads} threads; goal: at least ${GOAL}x`);
  console.log('| workload | alol | PyTorch | ratio | goal met | plain graphs (ratio) |');
  console.log('|---|---|---|---|---|---|');
  for (const [k, label] of workloads) {
    const [x, t, p] = [med(sides.alol, k), med(sides.torch, k), med(sides.plain, k)];
    if (x === undefined || t === undefined) continue;
    const plain = p === undefined ? '' : `${p.toFixed(0)} (${(p / t).toFixed(2)}x)`;
    console.log(`| ${label} | ${x.toFixed(0)} | ${t.toFixed(0)} | ${(x / t).toFixed(2)}x | ${x / t >= GOAL ? 'yes' : 'no'} | ${plain} |`);
  }
}

try {
  main();
} catch (err) {
  console.error(`bench:compare: error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
