// Training-step benchmark: a full optimizer step (forward, backward, clipping, AdamW) of the
// benchmark model (GPT-2, or with --arch llama the same sizes in the Llama layout: RMSNorm, rotary
// positions, SwiGLU of width 8/3 embd, --kv-heads key/value heads) through the ONNX Runtime compute
// backend's trainer (what SFT, pretraining and A-LoL
// training run), against a plain 512^3 float32 matmul run through ORT with the same session options
// in the same process (the practical roofline of this machine).
//
//   npm run bench:train -- [--device cpu|cuda|webgpu] [--threads 2] [--steps 20] [--warmup 5]
//                          [--batch 16] [--seq 128] [--embd 256] [--layers 4] [--heads 8]
//                          [--arch gpt2|llama] [--kv-heads 4]

import { parseArgs } from 'node:util';
import { Graph } from '../src/trainer/graph/ir.js';
import * as o from '../src/trainer/graph/ops.js';
import { serialize } from '../src/trainer/graph/onnx.js';
import { type DeviceRequest, resolveDevice } from '../src/trainer/runtime/device.js';
import { SessionPool } from '../src/trainer/runtime/pool.js';
import { tensor } from '../src/trainer/runtime/session.js';
import { OrtBackend } from '../src/trainer/compute/ort/backend.js';
import { DEFAULT_ADAMW } from '../src/trainer/graph/optim.js';
import { type ModelConfig, describeConfig } from '../src/trainer/model/config.js';
import { countParams, initParams } from '../src/trainer/model/family.js';
import { gptConfig } from '../src/trainer/model/gpt-config.js';
import { buildStepGraph } from '../src/trainer/model/gpt-graphs.js';
import { llamaConfig } from '../src/trainer/model/llama-config.js';
import { Rng } from '../src/trainer/util/rng.js';

const { values: a } = parseArgs({
  options: {
    device: { type: 'string', default: 'cpu' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    batch: { type: 'string', default: '16' },
    seq: { type: 'string', default: '128' },
    embd: { type: 'string', default: '256' },
    layers: { type: 'string', default: '4' },
    heads: { type: 'string', default: '8' },
    arch: { type: 'string', default: 'gpt2' },
    'kv-heads': { type: 'string', default: '4' },
  },
});
const num = (s: string | undefined): number => Number(s);

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function timeRuns(run: () => Promise<unknown>, warmup: number, n: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times;
}

async function main(): Promise<void> {
  const threads = num(a.threads);
  const device = await resolveDevice(a.device as DeviceRequest);
  if (device.fallback) console.log(device.fallback);
  const opts = { provider: device.provider, threads };
  const [B, T] = [num(a.batch), num(a.seq)];
  const sizes = { vocabSize: 257, nPositions: T, nEmbd: num(a.embd), nLayer: num(a.layers), nHead: num(a.heads) };
  if (a.arch !== 'gpt2' && a.arch !== 'llama') throw new Error(`--arch ${a.arch}: use gpt2 or llama`);
  const cfg: ModelConfig = a.arch === 'llama' ? llamaConfig({ ...sizes, nKvHead: num(a['kv-heads']) }) : gptConfig(sizes);
  const nParams = countParams(cfg);

  // Roofline: one 512x512x512 float32 matmul with the same session options.
  const mg = new Graph({ name: 'matmul' });
  mg.output('c', o.matmul(mg.floatInput('a', [512, 512]), mg.floatInput('b', [512, 512])));
  const pool = new SessionPool(opts);
  const ms = await pool.get('matmul', () => serialize(mg));
  const rng = new Rng(1);
  const mat = () => tensor('float32', Float32Array.from({ length: 512 * 512 }, () => rng.normal()), [512, 512]);
  const [ma, mb] = [mat(), mat()];
  const mOut = { c: tensor('float32', new Float32Array(512 * 512), [512, 512]) };
  const mTimes = await timeRuns(() => ms.run({ a: ma, b: mb }, mOut), 10, 50);
  const matmulGflops = (2 * 512 ** 3) / (median(mTimes) / 1e3) / 1e9;
  await pool.release();

  const bytes = serialize(buildStepGraph(cfg, { batch: B, seqLen: T })); // its size (the trainer builds its own)
  const compute = new OrtBackend(opts);
  const trainer = compute.policyTrainer(
    { config: cfg, params: initParams(cfg, 0) },
    { objective: { kind: 'nll' }, rows: B, adamw: DEFAULT_ADAMW },
  );
  const ids = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize)));
  const targets = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize)));
  const mask = new Float32Array(B * T).fill(1);
  const batch = { rows: B, seqLen: T, ids, targets, mask, exampleWeight: new Float32Array(B).fill(1 / T) };
  let lastLoss = NaN;
  const step = async () => (lastLoss = (await trainer.update([batch], 3e-4)).loss);
  const tBuild = Date.now();
  await step(); // builds the graph and its session, then steps once
  const buildMs = Date.now() - tBuild;
  const times = await timeRuns(step, Math.max(0, num(a.warmup) - 1), num(a.steps));
  await trainer.dispose();
  await compute.release();

  const stepMs = median(times);
  const tokens = B * T;
  const tokensPerSec = tokens / (stepMs / 1e3);
  // nanoGPT's estimate: 6 * params per token, plus attention 12 * layers * T * embd per token.
  const flopsPerStep = 6 * nParams * tokens + 12 * cfg.nLayer * T * cfg.nEmbd * tokens;
  const modelGflops = flopsPerStep / (stepMs / 1e3) / 1e9;
  const rssMiB = process.resourceUsage().maxRSS / 1024;

  console.log(`device           ${device.provider} (threads ${threads}, graph optimization all)`);
  console.log(`model            ${describeConfig(cfg)}, vocab ${cfg.vocabSize}; ${(nParams / 1e6).toFixed(2)}M params`);
  console.log(`batch            ${B} x ${T} = ${tokens} tokens, float32`);
  console.log(`graph            ${(bytes.length / 1e6).toFixed(2)} MB ONNX, build + session + first step ${buildMs} ms`);
  console.log(
    `step             median ${stepMs.toFixed(1)} ms over ${times.length} (min ${Math.min(...times).toFixed(1)}, max ` +
      `${Math.max(...times).toFixed(1)}), loss ${lastLoss.toFixed(3)}`,
  );
  console.log(`tokens/s         ${tokensPerSec.toFixed(0)}`);
  console.log(`model GFLOP/s    ${modelGflops.toFixed(1)}  (6*params*tokens + 12*layers*T*embd*tokens)`);
  console.log(`matmul GFLOP/s   ${matmulGflops.toFixed(1)}  (512x512x512 float32, same session options)`);
  console.log(`ratio            ${(modelGflops / matmulGflops).toFixed(3)}`);
  console.log(`peak RSS         ${rssMiB.toFixed(0)} MiB`);
}

main().catch((err) => {
  console.error(`bench: error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
