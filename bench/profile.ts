// Where a training step's time goes: one step graph (the demo's model and batch by default) run under ORT's
// profiler, its kernel times summed by kind of op (GEMMs, fused kernels, elementwise, reductions, layout) and, for
// the elementwise ops, by the tensor they write (attention scores, the MLP's hidden layer, other activations, the
// logits, parameter-sized tensors: the optimizer and the gradients). The profile is of one process on this
// machine: read shares, not absolute times, when the machine is busy.
//
//   npm run bench:profile -- [--variant nll|a_lol] [--batch 16] [--seq 192] [--embd 128] [--layers 4] [--heads 4]
//                            [--vocab 257] [--threads 2] [--steps 10] [--warmup 3] [--packed] [--json]
//
// --packed: the packed step graph (model/pack.ts) on rows as long as 16 rows drawn from the demo's data (seed 1),
// which fill about 73% of a batch of length 192; without it, the padded graph (every position real).

import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildAlolStepGraph } from '../src/trainer/alol/losses.js';
import type { Graph } from '../src/trainer/graph/ir.js';
import { serialize } from '../src/trainer/graph/onnx.js';
import { DEFAULT_ADAMW } from '../src/trainer/graph/optim.js';
import { describeConfig } from '../src/trainer/model/config.js';
import { initParams } from '../src/trainer/model/family.js';
import { gptConfig } from '../src/trainer/model/gpt-config.js';
import { buildStepGraph } from '../src/trainer/model/gpt-graphs.js';
import { PACK_INDEX, packIndexOf } from '../src/trainer/model/pack.js';
import { demoRows } from '../src/trainer/demo/task.js';
import { Rng } from '../src/trainer/util/rng.js';
import { SessionPool } from '../src/trainer/runtime/pool.js';
import { type OrtTensor, tensor } from '../src/trainer/runtime/session.js';

const { values: a } = parseArgs({
  options: {
    variant: { type: 'string', default: 'a_lol' },
    batch: { type: 'string', default: '16' },
    seq: { type: 'string', default: '192' },
    embd: { type: 'string', default: '128' },
    layers: { type: 'string', default: '4' },
    heads: { type: 'string', default: '4' },
    vocab: { type: 'string', default: '257' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    packed: { type: 'boolean', default: false },
  },
});
const n = (s: string | undefined): number => Number(s);

const GEMM = new Set(['MatMul', 'FusedMatMul', 'Gemm']);
const FUSED = new Set(['FastGelu', 'LayerNormalization', 'SkipLayerNormalization', 'Softmax', 'LogSoftmax', 'BiasGelu', 'Gelu']);
const LAYOUT = new Set([
  'Transpose', 'Reshape', 'Concat', 'Split', 'Squeeze', 'Unsqueeze', 'Identity', 'Expand', 'Gather', 'GatherElements',
  'Slice', 'ScatterND', 'ScatterElements', 'Shape', 'Cast', 'Tile', 'Where',
]);
const kindOf = (op: string): string =>
  GEMM.has(op) ? 'gemm'
    : FUSED.has(op) ? 'fused kernels'
      : LAYOUT.has(op) ? 'layout'
        : op.startsWith('Reduce') ? 'reductions' : 'elementwise';

/** Feeds for every input of the step graph: weights from a seeded init, zero moments, a batch of token ids. */
/** Token counts of `b` rows drawn from the demo's data (prompt + response - 1 bytes, capped at t). */
function demoLengths(b: number, t: number): number[] {
  const rows = demoRows({ seed: 1, noise: 0.5, prompts: 800, responsesPerPrompt: 4 });
  const rng = new Rng(1);
  return Array.from({ length: b }, () => {
    const r = rows[rng.int(rows.length)];
    return Math.min(t, Math.min(64, Buffer.byteLength(r.prompt)) + Math.min(128, Buffer.byteLength(r.response) + 1) - 1);
  });
}

function feedsFor(
  g: Graph, params: ReadonlyMap<string, Float32Array>, t: number, vocab: number, lengths: number[] | null,
): Record<string, OrtTensor> {
  const feeds: Record<string, OrtTensor> = {};
  for (const x of g.inputs) {
    if (x.name === PACK_INDEX && lengths) {
      const index = packIndexOf(lengths, t);
      feeds[x.name] = tensor('int64', index, [index.length]);
      continue;
    }
    const dims = x.shape.map(Number);
    const size = dims.reduce((p, d) => p * d, 1);
    if (x.dtype === 'int64') {
      const shift = x.name === 'targets' ? 1 : 0;
      feeds[x.name] = tensor('int64', BigInt64Array.from({ length: size }, (_, i) => BigInt((i * 7 + shift) % vocab)), dims);
      continue;
    }
    const fill = x.name === 'mask' || x.name === 'coef' ? 1 : x.name === 'example_weight' ? 1 / t : /token_logp$/.test(x.name) ? -2 : 0;
    const data = params.get(x.name)?.slice() ?? new Float32Array(size).fill(fill);
    if (x.name === 'mask' && lengths) data.forEach((_, i) => (data[i] = i % t < lengths[Math.floor(i / t)] ? 1 : 0));
    feeds[x.name] = tensor('float32', x.name === 'lr' ? Float32Array.of(1e-3) : x.name === 'step' ? Float32Array.of(1) : data, dims);
  }
  return feeds;
}

async function main(): Promise<void> {
  const [B, T] = [n(a.batch), n(a.seq)];
  const cfg = gptConfig({ vocabSize: n(a.vocab), nPositions: T, nEmbd: n(a.embd), nLayer: n(a.layers), nHead: n(a.heads) });
  const variant = a.variant as string;
  const packed = a.packed as boolean;
  const g = variant === 'nll'
    ? buildStepGraph(cfg, { batch: B, seqLen: T }, { mode: 'update', packed })
    : buildAlolStepGraph(cfg, B, T, {
      variant: variant as 'a_lol', settings: { clipEps: 0.9, klBeta: 0.1, dpoBeta: 0.1 }, mode: 'update', adamw: DEFAULT_ADAMW, packed,
    });
  const lengths = packed ? demoLengths(B, T) : null;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'alol-profile-'));
  const pool = new SessionPool({ provider: 'cpu', threads: n(a.threads) });
  try {
    const session = await pool.get(`profile:${variant}`, () => serialize(g), { profile: path.join(dir, 'step') });
    const feeds = feedsFor(g, initParams(cfg, 1), T, cfg.vocabSize, lengths);
    const runs = n(a.warmup) + n(a.steps);
    for (let i = 0; i < n(a.warmup); i++) await session.run(feeds);
    const t0 = performance.now();
    for (let i = 0; i < n(a.steps); i++) await session.run(feeds);
    const wallMs = (performance.now() - t0) / n(a.steps);
    session.endProfiling();
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error(`profile: ORT wrote no trace in ${dir}`);
    type Ev = { cat: string; name: string; dur: number; args: { op_name: string; output_size: string } };
    const events = (JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Ev[])
      .filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
    const perStep = (us: number): number => us / 1000 / runs;
    const total = perStep(events.reduce((s, e) => s + e.dur, 0));
    const sum = (key: (e: Ev) => string | null): Map<string, number> => {
      const m = new Map<string, number>();
      for (const e of events) {
        const k = key(e);
        if (k !== null) m.set(k, (m.get(k) ?? 0) + perStep(e.dur));
      }
      return new Map([...m].sort((x, y) => y[1] - x[1]));
    };
    const C = cfg.nEmbd;
    const tensors: Record<number, string> = {
      [B * cfg.nHead * T * T * 4]: `attention scores [${B},${cfg.nHead},${T},${T}]`,
      [B * T * 4 * C * 4]: `MLP hidden [${B},${T},${4 * C}]`,
      [B * T * C * 4]: `activations [${B},${T},${C}]`,
      [B * T * cfg.vocabSize * 4]: `logits [${B},${T},${cfg.vocabSize}]`,
    };
    const byKind = sum((e) => kindOf(e.args.op_name));
    const byOp = sum((e) => e.args.op_name);
    const written = (e: Ev): string => tensors[Number(e.args.output_size)] ?? 'parameter-sized and smaller';
    const elementwise = sum((e) => (kindOf(e.args.op_name) === 'elementwise' ? written(e) : null));
    const share = (ms: number): string => `${((100 * ms) / total).toFixed(1).padStart(5)}%`;
    const row = (k: string, ms: number): string => `  ${k.padEnd(34)} ${ms.toFixed(1).padStart(7)} ms ${share(ms)}`;
    const fill = lengths ? `, packed: ${lengths.reduce((x, y) => x + y, 0)} of ${B * T} positions real` : '';
    console.log(`model    ${describeConfig(cfg)}, vocab ${cfg.vocabSize}; ${variant} step graph, batch ${B} x T ${T}${fill}, ` +
      `${a.threads} threads`);
    console.log(`step     ${wallMs.toFixed(1)} ms wall (mean of ${a.steps}), kernels ${total.toFixed(1)} ms, ` +
      `${Math.round(events.length / runs)} nodes a run`);
    console.log('\nby kind of op');
    for (const [k, ms] of byKind) console.log(row(k, ms));
    console.log('\nelementwise ops, by the tensor they write');
    for (const [k, ms] of elementwise) console.log(row(k, ms));
    console.log('\ntop op types');
    for (const [k, ms] of [...byOp].slice(0, 12)) console.log(row(k, ms));
    if (a.json) {
      const obj = (m: Map<string, number>) => Object.fromEntries([...m].map(([k, v]) => [k, Number(v.toFixed(3))]));
      const figures = { wall_ms: wallMs, kernel_ms: total, by_kind: obj(byKind), elementwise: obj(elementwise), by_op: obj(byOp) };
      console.log(JSON.stringify(figures));
    }
  } finally {
    await pool.release();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
