// LoRA vs full fine-tuning on one model: tokens/s and peak RSS of training steps (forward, backward,
// clipping, AdamW) through the ONNX Runtime trainer, each mode and batch in a process of its own (peak
// RSS is a process's lifetime maximum), on a Llama-layout model of about 0.4-0.5 B parameters by default
// (Qwen2-0.5B's shape: 24 layers x 896 hidden, GQA 14/2 heads, SwiGLU 4864, vocab 32k; random init, no
// download). LoRA: rank 16 on every projection (all-linear), dropout 0.05. Prints per batch the two
// modes side by side, the ratios (goal: LoRA peak RSS <= 0.5 x full, step time <= 0.8 x full) and the
// bytes of the base weights.
//
//   npm run bench:lora -- [--batches 1,4] [--seq 256] [--steps 2] [--warmup 1] [--threads 2]
//                         [--layers 24] [--embd 896] [--heads 14] [--kv-heads 2] [--inner 4864] [--vocab 32000]
//                         [--r 16] [--dropout 0.05]

import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { OrtBackend } from '../src/trainer/compute/ort/backend.js';
import { DEFAULT_ADAMW } from '../src/trainer/graph/optim.js';
import { describeConfig } from '../src/trainer/model/config.js';
import { countParams, initParams } from '../src/trainer/model/family.js';
import { llamaConfig } from '../src/trainer/model/llama-config.js';
import { countLoraParams, initLoraParams, resolveLora } from '../src/trainer/model/lora.js';
import { Rng } from '../src/trainer/util/rng.js';

const { values: a } = parseArgs({
  options: {
    batches: { type: 'string', default: '1,4' },
    seq: { type: 'string', default: '256' },
    steps: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '1' },
    threads: { type: 'string', default: '2' },
    layers: { type: 'string', default: '24' },
    embd: { type: 'string', default: '896' },
    heads: { type: 'string', default: '14' },
    'kv-heads': { type: 'string', default: '2' },
    inner: { type: 'string', default: '4864' },
    vocab: { type: 'string', default: '32000' },
    r: { type: 'string', default: '16' },
    dropout: { type: 'string', default: '0.05' },
    child: { type: 'string' }, // "full:4" or "lora:4": one measurement, printed as JSON
  },
});
const num = (s: string | undefined): number => Number(s);

const cfg = llamaConfig({
  vocabSize: num(a.vocab),
  nPositions: num(a.seq),
  nEmbd: num(a.embd),
  nLayer: num(a.layers),
  nHead: num(a.heads),
  nKvHead: num(a['kv-heads']),
  nInner: num(a.inner),
  tieWordEmbeddings: true,
  modelType: 'qwen2',
  qkvBias: true,
});
const lora = resolveLora(cfg, { r: num(a.r), alpha: 2 * num(a.r), dropout: num(a.dropout), targets: 'all-linear' });

interface Measured {
  mode: 'full' | 'lora';
  batch: number;
  stepMs: number[];
  firstStepMs: number;
  peakRssBytes: number;
  loss: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function measure(mode: 'full' | 'lora', b: number): Promise<Measured> {
  const t = num(a.seq);
  const compute = new OrtBackend({ threads: num(a.threads) });
  const base = initParams(cfg, 0);
  const spec = {
    objective: { kind: 'nll' as const },
    rows: b,
    adamw: DEFAULT_ADAMW,
    ...(mode === 'lora' ? { lora: { spec: lora, init: initLoraParams(cfg, lora, 1), seed: 0 } } : {}),
  };
  const trainer = compute.policyTrainer({ config: cfg, params: base }, spec);
  const rng = new Rng(2);
  const ids = BigInt64Array.from({ length: b * t }, () => BigInt(rng.int(cfg.vocabSize)));
  const targets = BigInt64Array.from({ length: b * t }, () => BigInt(rng.int(cfg.vocabSize)));
  const batch = { rows: b, seqLen: t, ids, targets, mask: new Float32Array(b * t).fill(1), exampleWeight: new Float32Array(b).fill(1 / t) };
  let loss = NaN;
  const step = async (): Promise<number> => {
    const t0 = performance.now();
    loss = (await trainer.update([batch], 1e-4)).loss;
    return performance.now() - t0;
  };
  const firstStepMs = await step(); // builds the graph and its session
  for (let i = 1; i < num(a.warmup); i++) await step();
  const stepMs: number[] = [];
  for (let i = 0; i < num(a.steps); i++) stepMs.push(await step());
  await trainer.dispose();
  await compute.release();
  return { mode, batch: b, stepMs, firstStepMs, peakRssBytes: process.resourceUsage().maxRSS * 1024, loss };
}

/** One measurement in a process of its own; null when the system killed it (out of memory). */
function runChild(mode: 'full' | 'lora', b: number): Measured | null {
  const args = process.argv.slice(2).filter((x, i, all) => x !== '--child' && all[i - 1] !== '--child');
  const r = spawnSync(process.execPath, [__filename, ...args, '--child', `${mode}:${b}`], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.signal === 'SIGKILL') {
    console.log(`${`${b} x ${a.seq}`.padEnd(13)} ${mode.padEnd(5)} killed (SIGKILL: out of memory on this machine)`);
    return null;
  }
  if (r.status !== 0) throw new Error(`${mode} batch ${b} failed (exit ${r.status ?? r.signal}):\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').at(-1) as string;
  return JSON.parse(line) as Measured;
}

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

async function main(): Promise<void> {
  if (a.child) {
    const [mode, b] = a.child.split(':');
    console.log(JSON.stringify(await measure(mode as 'full' | 'lora', Number(b))));
    return;
  }
  const params = countParams(cfg);
  const trainable = countLoraParams(cfg, lora);
  const t = num(a.seq);
  console.log(`model            ${describeConfig(cfg)}, vocab ${cfg.vocabSize}; ${(params / 1e6).toFixed(1)}M parameters`);
  console.log(`base weights     ${gib(params * 4)} float32`);
  console.log(
    `LoRA             r ${lora.r}, alpha ${lora.alpha}, dropout ${lora.dropout}, ${lora.modules.length} projections ` +
      `(all-linear): ${(trainable / 1e6).toFixed(2)}M trainable (${((100 * trainable) / params).toFixed(2)}%)`,
  );
  console.log(`steps            median of ${a.steps} after ${a.warmup} warm-up (the first builds the graph), threads ${a.threads}`);
  console.log('');
  console.log('batch x seq   mode   step ms   tokens/s   peak RSS   first step ms   loss');
  const rows: [Measured, Measured][] = [];
  for (const b of a.batches.split(',').map(Number)) {
    const [full, lo] = [runChild('full', b), runChild('lora', b)];
    for (const m of [full, lo]) {
      if (!m) continue;
      const ms = median(m.stepMs);
      console.log(
        `${`${b} x ${t}`.padEnd(13)} ${m.mode.padEnd(5)} ${ms.toFixed(0).padStart(8)} ${((b * t) / (ms / 1e3)).toFixed(0).padStart(10)} ` +
          `${gib(m.peakRssBytes).padStart(10)} ${m.firstStepMs.toFixed(0).padStart(15)}   ${m.loss.toFixed(3)}`,
      );
    }
    if (full && lo) rows.push([full, lo]);
  }
  console.log('');
  for (const [full, lo] of rows) {
    const time = median(lo.stepMs) / median(full.stepMs);
    const rss = lo.peakRssBytes / full.peakRssBytes;
    console.log(
      `batch ${full.batch}: LoRA / full step time ${time.toFixed(2)} (goal <= 0.8), peak RSS ${rss.toFixed(2)} (goal <= 0.5)`,
    );
  }
}

main().catch((err) => {
  console.error(`bench: error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
