// The PyTorch backend against the built-in engine on the same model and machine, in one run: training steps,
// forward log-probs and greedy generation through the compute seam (what a run calls), alternating built-in and
// torch rounds so drift and other load hit both alike. Also where the torch backend's time goes: the worker's own
// time per command (tensor files it reads and writes included), the client's tensor files, and the rest (pipes,
// JSON, scheduling). The model is bench/train.ts's (GPT-2 layout, vocab 257, 128 positions, hidden 256, 4 layers).
//
//   npm run bench:torch -- [--rounds 3] [--threads 2] [--python /usr/bin/python3]
//     [--device cpu|cuda (the worker's) --builtin-device cpu|cuda|webgpu] [--precision float32|bfloat16]
//     [--arch gpt2|llama --vocab 257 --positions 128 --embd 256 --layers 4 --heads 8 --kv-heads 8 --inner 0]
//     [--lora R (LoRA on every projection; 0: all weights) --batch 16 --seq 128 --new-tokens 64]
// GPT-2 124M: --vocab 50257 --positions 1024 --embd 768 --layers 12 --heads 12; a ~0.5 B Llama layout:
// --arch llama --vocab 32000 --positions 2048 --embd 1024 --layers 24 --heads 16 --kv-heads 4 --inner 2816 --lora 16

import { parseArgs } from 'node:util';
import type { ComputeBackend, ModelWeights, TrainBatch } from '../src/trainer/compute/backend.js';
import { OrtBackend } from '../src/trainer/compute/ort/backend.js';
import { TorchBackend } from '../src/trainer/compute/torch/backend.js';
import { DEFAULT_ADAMW } from '../src/trainer/graph/optim.js';
import { type ModelConfig, describeConfig } from '../src/trainer/model/config.js';
import { countParams, initParams } from '../src/trainer/model/family.js';
import { gptConfig } from '../src/trainer/model/gpt-config.js';
import { llamaConfig } from '../src/trainer/model/llama-config.js';
import { initLoraParams, resolveLora } from '../src/trainer/model/lora.js';
import { type DeviceRequest, resolveDevice } from '../src/trainer/runtime/device.js';
import { Rng } from '../src/trainer/util/rng.js';

const { values: a } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    python: { type: 'string', default: '/usr/bin/python3' },
    device: { type: 'string', default: 'cpu' },
    'builtin-device': { type: 'string', default: 'cpu' },
    precision: { type: 'string', default: 'float32' },
    arch: { type: 'string', default: 'gpt2' },
    vocab: { type: 'string', default: '257' },
    positions: { type: 'string', default: '128' },
    embd: { type: 'string', default: '256' },
    layers: { type: 'string', default: '4' },
    heads: { type: 'string', default: '8' },
    'kv-heads': { type: 'string' },
    inner: { type: 'string' },
    lora: { type: 'string', default: '0' },
    batch: { type: 'string', default: '16' },
    seq: { type: 'string', default: '128' },
    'new-tokens': { type: 'string', default: '64' },
  },
});
const threads = Number(a.threads);
const size = {
  vocabSize: Number(a.vocab), nPositions: Number(a.positions), nEmbd: Number(a.embd), nLayer: Number(a.layers), nHead: Number(a.heads),
};
const cfg: ModelConfig = a.arch === 'llama'
  ? llamaConfig({ ...size, nKvHead: Number(a['kv-heads'] ?? a.heads), ...(a.inner ? { nInner: Number(a.inner) } : {}) })
  : gptConfig(size);
const model: ModelWeights = { config: cfg, params: initParams(cfg, 0) };
const [B, T] = [Number(a.batch), Number(a.seq)];
const r = Number(a.lora);
const loraSpec = r > 0 ? resolveLora(cfg, { r, alpha: 2 * r, dropout: 0, targets: 'all-linear' }) : null;
const lora = loraSpec ? { spec: loraSpec, init: initLoraParams(cfg, loraSpec, 0), seed: 0 } : undefined;
const tok = (): number => rng.int(Math.min(256, cfg.vocabSize));
const rng = new Rng(1);
const ids = (n: number) => Array.from({ length: n }, tok);

function trainBatch(): TrainBatch {
  const n = B * T;
  return {
    rows: B,
    seqLen: T,
    ids: BigInt64Array.from({ length: n }, () => BigInt(tok())),
    targets: BigInt64Array.from({ length: n }, () => BigInt(tok())),
    mask: new Float32Array(n).fill(1),
    exampleWeight: new Float32Array(B).fill(1 / (B * T)),
  };
}
const rows = Array.from({ length: 4 * B }, () => ({ prompt: ids(32), response: ids(T - 33) }));
const prompts = Array.from({ length: B }, () => ids(32));
const newTokens = Number(a['new-tokens']);
const detok = { decode: (x: readonly number[]) => x.join(' '), eosTokenId: null };

async function workloads(compute: ComputeBackend): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const trainer = compute.policyTrainer(model, { objective: { kind: 'nll' }, rows: B, adamw: DEFAULT_ADAMW, lora });
  for (let i = 0; i < 2; i++) await trainer.update([trainBatch()], 1e-4); // warm-up: sessions, allocations
  let t0 = performance.now();
  const steps = 6;
  for (let i = 0; i < steps; i++) await trainer.update([trainBatch()], 1e-4);
  out.train = (steps * B * T) / ((performance.now() - t0) / 1e3);
  await trainer.dispose();

  const request = { batchSize: B, addEos: false, eosTokenId: null };
  await compute.tokenLogprobs(model, rows.slice(0, B), request);
  t0 = performance.now();
  await compute.tokenLogprobs(model, rows, request);
  out.logprobs = (rows.length * (T - 1)) / ((performance.now() - t0) / 1e3);

  const gen = compute.generator(model, detok);
  await gen.generate(prompts.slice(0, 2), { maxNewTokens: 4, temperature: 0 });
  t0 = performance.now();
  await gen.generate(prompts, { maxNewTokens: newTokens, temperature: 0 });
  out.generate = (prompts.length * newTokens) / ((performance.now() - t0) / 1e3);
  await gen.dispose();
  return out;
}

const LABELS: Record<string, string> = {
  train: `training step, nll${lora ? `, LoRA r ${a.lora}` : ''}, B${B} x T${T} (tokens/s)`,
  logprobs: `forward log-probs, ${4 * B} rows x ${T - 1}, batch ${B} (tokens/s)`,
  generate: `greedy generation, ${B} prompts, ${newTokens} new tokens, KV cache (new tokens/s)`,
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const ort = new OrtBackend({ threads, provider: (await resolveDevice(a['builtin-device'] as DeviceRequest)).provider });
  const torch = new TorchBackend({
    python: a.python ?? null,
    backend: {
      kind: 'torch', launcher: 'none', processes: 1, fsdp: false, precision: a.precision as 'float32' | 'bfloat16', quantization: 'none',
    },
    device: a.device as 'cpu' | 'cuda',
    threads,
    workDir: null,
    log: () => undefined,
  });
  const info = await torch.start();
  const engine = info.versions.transformers ? 'transformers' : 'builtin';
  const what = `torch ${String(info.versions.torch)} (${info.device}), the worker's engine: ${engine}`;
  console.log(`${what}; ${threads} threads each; ${a.rounds} rounds; ${describeConfig(cfg)}, ${countParams(cfg)} parameters`);
  const got: Record<'builtin' | 'torch', Record<string, number[]>> = { builtin: {}, torch: {} };
  for (let r = 0; r < Number(a.rounds); r++) {
    for (const [name, compute] of [['builtin', ort], ['torch', torch]] as const) {
      const before = { ...torch.timing };
      const f = await workloads(compute);
      for (const [k, v] of Object.entries(f)) (got[name][k] ??= []).push(v);
      const line = Object.entries(f).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ');
      if (name === 'torch') {
        const t = torch.timing;
        const [wall, worker, files] = [t.wallMs - before.wallMs, t.workerMs - before.workerMs, t.fileMs - before.fileMs];
        const pct = (x: number) => `${((x / wall) * 100).toFixed(1)}%`;
        console.log(`round ${r + 1} ${name.padEnd(7)} ${line}; of ${(wall / 1e3).toFixed(1)} s in commands: worker ${pct(worker)}, `
          + `pipes/JSON ${pct(wall - worker)}; client tensor files ${pct(files)} more`);
      } else {
        console.log(`round ${r + 1} ${name.padEnd(7)} ${line}`);
      }
    }
  }
  console.log('\nmedians (torch / built-in: above 1, the torch backend is faster):');
  for (const k of Object.keys(LABELS)) {
    const [b, t] = [median(got.builtin[k]), median(got.torch[k])];
    const cols = `built-in ${b.toFixed(0).padStart(7)}  torch ${t.toFixed(0).padStart(7)}  ratio ${(t / b).toFixed(2)}`;
    console.log(`  ${LABELS[k].padEnd(72)} ${cols}`);
  }
  await torch.release();
  await ort.release();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
