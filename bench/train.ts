// Training-step benchmark: a full optimizer step (forward, backward, clipping, AdamW) of the
// benchmark model (GPT-2, or with --arch llama the same sizes in the Llama layout: RMSNorm, rotary
// positions, SwiGLU of width 8/3 embd, --kv-heads key/value heads) through the ONNX Runtime compute
// backend's trainer (what SFT, pretraining and A-LoL training run), against a GEMM roofline: the best
// rate of plain float32 MatMuls through ORT on the step's own GEMM shapes ([B*T, k] x [k, n] for every
// weight matrix and the LM head), with the same session options, best of many runs per shape, measured
// before and after the model in one process. A model rate above the roofline means the reference
// under-measured; the bench then prints no ratio and says why. With --steps-per-run K (train.stepsPerRun) each
// timed run is K optimizer steps in one Loop graph (OrtPolicyTrainer.updateMany); times are per step.
//
//   npm run bench:train -- [--device cpu|cuda|webgpu] [--threads 2] [--steps 20] [--warmup 5]
//                          [--batch 16] [--seq 128] [--embd 256] [--layers 4] [--heads 8]
//                          [--arch gpt2|llama] [--kv-heads 4] [--vocab 257] [--steps-per-run 1] [--json]
//                          [--precision float32|float16|bfloat16]   (mixed precision: webgpu float16, cuda bfloat16)
//                          [--inner N] (llama's MLP width) [--lora R --lora-dropout 0.05] (rank-R adapters, base frozen)

import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Graph } from '../src/trainer/graph/ir.js';
import * as o from '../src/trainer/graph/ops.js';
import { serialize } from '../src/trainer/graph/onnx.js';
import { type DeviceRequest, resolveDevice } from '../src/trainer/runtime/device.js';
import type { Provider } from '../src/trainer/runtime/session.js';
import { SessionPool } from '../src/trainer/runtime/pool.js';
import { memcpyNodes, tensor } from '../src/trainer/runtime/session.js';
import { OrtBackend } from '../src/trainer/compute/ort/backend.js';
import type { ComputeType } from '../src/trainer/graph/ir.js';
import type { OrtPolicyTrainer } from '../src/trainer/compute/ort/trainers.js';
import { DEFAULT_ADAMW } from '../src/trainer/graph/optim.js';
import { type ModelConfig, describeConfig } from '../src/trainer/model/config.js';
import { countParams, initParams, paramInfos } from '../src/trainer/model/family.js';
import { gptConfig } from '../src/trainer/model/gpt-config.js';
import { buildStepGraph } from '../src/trainer/model/gpt-graphs.js';
import { llamaConfig } from '../src/trainer/model/llama-config.js';
import { countLoraParams, initLoraParams, resolveLora } from '../src/trainer/model/lora.js';
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
    vocab: { type: 'string', default: '257' },
    inner: { type: 'string' },
    lora: { type: 'string', default: '0' },
    'lora-dropout': { type: 'string', default: '0.05' },
    'steps-per-run': { type: 'string', default: '1' },
    precision: { type: 'string', default: 'float32' },
    json: { type: 'boolean', default: false },
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
  const sizes = { vocabSize: num(a.vocab), nPositions: T, nEmbd: num(a.embd), nLayer: num(a.layers), nHead: num(a.heads) };
  if (a.arch !== 'gpt2' && a.arch !== 'llama') throw new Error(`--arch ${a.arch}: use gpt2 or llama`);
  const inner = a.inner === undefined ? {} : { nInner: num(a.inner) };
  const cfg: ModelConfig = a.arch === 'llama' ? llamaConfig({ ...sizes, nKvHead: num(a['kv-heads']), ...inner }) : gptConfig(sizes);
  const nParams = countParams(cfg);
  // --lora R: rank-R adapters on every projection (all-linear, alpha 2R), the base frozen
  const r = num(a.lora);
  const lora = r > 0 ? resolveLora(cfg, { r, alpha: 2 * r, dropout: num(a['lora-dropout']), targets: 'all-linear' }, '--lora') : null;

  const rng = new Rng(1);
  const shapes = gemmShapes(cfg, B * T);
  const before = await gemmRoofline(shapes, opts, rng);
  const bytes = serialize(buildStepGraph(cfg, { batch: B, seqLen: T })); // its size (the trainer builds its own)
  // On a GPU provider: the optimized step graph is written out, to count the host<->device copies ORT inserted
  const optimizedDir = device.provider === 'cpu' ? null : mkdtempSync(path.join(os.tmpdir(), 'alol-bench-optimized-'));
  if (optimizedDir) process.env.ALOL_ORT_OPTIMIZED_DIR = optimizedDir;
  const precision = a.precision as ComputeType;
  const compute = new OrtBackend(opts, precision); // checks that the provider computes in it
  if (precision !== 'float32') console.log(`precision        ${precision} compute, float32 weights and AdamW (loss scaling: float16)`);
  const trainer = compute.policyTrainer(
    { config: cfg, params: initParams(cfg, 0) },
    {
      objective: { kind: 'nll' }, rows: B, adamw: DEFAULT_ADAMW,
      ...(lora ? { lora: { spec: lora, init: initLoraParams(cfg, lora, 1), seed: 0 } } : {}),
    },
  );
  if (lora) {
    const trained = countLoraParams(cfg, lora);
    console.log(`lora             rank ${r} on ${lora.targetNames.join(', ')}: ${trained} trained parameters; base frozen`);
  }
  const ids = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize)));
  const targets = BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize)));
  const mask = new Float32Array(B * T).fill(1);
  const batch = { rows: B, seqLen: T, ids, targets, mask, exampleWeight: new Float32Array(B).fill(1 / T) };
  let lastLoss = NaN;
  const k = num(a['steps-per-run']);
  if (!Number.isInteger(k) || k < 1) throw new Error(`--steps-per-run ${a['steps-per-run']}: use an integer >= 1`);
  const many = async () => {
    const stats = await (trainer as OrtPolicyTrainer).updateMany(Array.from({ length: k }, () => [batch]), new Array<number>(k).fill(3e-4));
    return stats[k - 1].loss;
  };
  const step = async () => (lastLoss = k > 1 ? await many() : (await trainer.update([batch], 3e-4)).loss);
  const tBuild = Date.now();
  await step(); // builds the graph and its session, then steps once
  const buildMs = Date.now() - tBuild;
  const times = (await timeRuns(step, Math.max(0, num(a.warmup) - 1), num(a.steps))).map((ms) => ms / k); // per step
  const traffic = (trainer as OrtPolicyTrainer).traffic;
  const resident = traffic !== null && traffic.last.fedBytes < bytesOf(batch) + 64;
  delete process.env.ALOL_ORT_OPTIMIZED_DIR;
  const copies = optimizedDir ? stepCopies(optimizedDir) : null;
  if (optimizedDir) rmSync(optimizedDir, { recursive: true, force: true });
  await trainer.dispose();
  await compute.release();
  const afterRoof = await gemmRoofline(shapes, opts, rng);
  const roof = before.gflops >= afterRoof.gflops ? before : afterRoof;

  const stepMs = median(times);
  const tokens = B * T;
  const tokensPerSec = tokens / (stepMs / 1e3);
  // nanoGPT's estimate: 6 * params per token, plus attention 12 * layers * T * embd per token.
  // with LoRA the base's weight gradients are not computed: forward 2N, backward to the activations 2N (adapters: small)
  const flopsPerStep = (lora ? 4 : 6) * nParams * tokens + 12 * cfg.nLayer * T * cfg.nEmbd * tokens;
  const modelGflops = flopsPerStep / (stepMs / 1e3) / 1e9;
  const rssMiB = process.resourceUsage().maxRSS / 1024;

  console.log(`device           ${device.provider} (threads ${threads}, graph optimization all)`);
  if (k > 1) console.log(`steps per run    ${k} (one Loop graph per run; times below are per step)`);
  console.log(`model            ${describeConfig(cfg)}, vocab ${cfg.vocabSize}; ${(nParams / 1e6).toFixed(2)}M params`);
  console.log(`batch            ${B} x ${T} = ${tokens} tokens, float32`);
  console.log(`graph            ${(bytes.length / 1e6).toFixed(2)} MB ONNX, build + session + first step ${buildMs} ms`);
  console.log(
    `step             median ${stepMs.toFixed(1)} ms over ${times.length} (min ${Math.min(...times).toFixed(1)}, max ` +
      `${Math.max(...times).toFixed(1)}), loss ${lastLoss.toFixed(3)}`,
  );
  console.log(`tokens/s         ${tokensPerSec.toFixed(0)}`);
  console.log(`model GFLOP/s    ${modelGflops.toFixed(1)}  (${lora ? 4 : 6}*params*tokens + 12*layers*T*embd*tokens)`);
  console.log(
    `GEMM roofline    ${roof.gflops.toFixed(1)} GFLOP/s  (best of the step's own GEMM shapes, ${shapes.length} of them, best of ` +
      `${ROOF_RUNS} runs each, same session options; before the model ${before.gflops.toFixed(1)}, after ` +
      `${afterRoof.gflops.toFixed(1)}; best shape ${roof.shape})`,
  );
  if (modelGflops > roof.gflops) {
    console.log(
      `ratio            not printed: the model's ${modelGflops.toFixed(1)} GFLOP/s exceeds the GEMM reference's ` +
        `${roof.gflops.toFixed(1)}, so the reference under-measured this machine (other load during it, or a kernel ` +
        `path the model takes and plain MatMul does not); rerun on a quiet machine`,
    );
  } else {
    console.log(`ratio            ${(modelGflops / roof.gflops).toFixed(3)}  (model / GEMM roofline)`);
  }
  const perStep = traffic ? traffic.last.fedBytes + traffic.last.fetchedBytes : null;
  if (traffic) {
    console.log(
      `host<->device     ${traffic.last.fedBytes} bytes fed + ${traffic.last.fetchedBytes} fetched per step (batch ${bytesOf(batch)} ` +
        `bytes); weights, moments ${resident ? 'stay on the device' : 'cross the bus every step'}; ` +
        `${copies ? `${copies.fromHost + copies.toHost} copy nodes in the optimized step graph (${copies.fromHost} to the device, ` +
          `${copies.toHost} to the host: ops the provider lacks run on the CPU; their bytes are not counted here)` : ''}`,
    );
  }
  console.log(`peak RSS         ${rssMiB.toFixed(0)} MiB`);
  if (a.json) {
    console.log(JSON.stringify({
      train_tokens_per_s: tokensPerSec, model_gflops: modelGflops, roofline_gflops: roof.gflops, provider: device.provider,
      bytes_per_step: perStep, device_resident: resident, memcpy_nodes: copies ? copies.fromHost + copies.toHost : null,
      precision, lora_rank: r > 0 ? r : null, params: nParams,
    }));
  }
}

/** Bytes of a token batch's host arrays (what a device-resident step should send, besides lr and step). */
function bytesOf(batch: { ids: BigInt64Array; targets: BigInt64Array; mask: Float32Array; exampleWeight: Float32Array }): number {
  return batch.ids.byteLength + batch.targets.byteLength + batch.mask.byteLength + batch.exampleWeight.byteLength;
}

/** Copy nodes in the optimized update graph the trainer ran (the largest gpt_step_update file written). */
function stepCopies(dir: string): { fromHost: number; toHost: number } | null {
  const files = readdirSync(dir).filter((f) => f.startsWith('gpt_step_update')).map((f) => path.join(dir, f));
  if (files.length === 0) return null;
  const file = files.sort((x, y) => statSync(y).size - statSync(x).size)[0];
  return memcpyNodes(file);
}

/** Runs per GEMM shape; the roofline takes each shape's fastest. */
const ROOF_RUNS = 30;

/** The forward GEMMs of a training step over `m` tokens: [m, k] x [k, n] for every weight matrix and the LM head. */
function gemmShapes(cfg: ModelConfig, m: number): { m: number; k: number; n: number }[] {
  const seen = new Map<string, { m: number; k: number; n: number }>();
  for (const info of paramInfos(cfg)) {
    if (info.shape.length !== 2 || /wte|wpe|embed_tokens/.test(info.name)) continue;
    // GPT-2's Conv1D weights are [in, out]; the Llama family's nn.Linear weights [out, in]
    const [k, n] = cfg.arch === 'llama' ? [info.shape[1], info.shape[0]] : [info.shape[0], info.shape[1]];
    seen.set(`${k}x${n}`, { m, k, n });
  }
  seen.set(`head`, { m, k: cfg.nEmbd, n: cfg.vocabSize });
  return [...seen.values()];
}

/** The best float32 GEMM rate over `shapes` through ORT with the trainer's session options. */
async function gemmRoofline(
  shapes: { m: number; k: number; n: number }[],
  opts: { provider: Provider; threads: number },
  rng: Rng,
): Promise<{ gflops: number; shape: string }> {
  let best = { gflops: 0, shape: '' };
  const pool = new SessionPool(opts);
  try {
    for (const { m, k, n } of shapes) {
      const g = new Graph({ name: 'gemm' });
      g.output('c', o.matmul(g.floatInput('a', [m, k]), g.floatInput('b', [k, n])));
      const session = await pool.get(`gemm_${m}x${k}x${n}`, () => serialize(g));
      const mat = (r: number, c: number) => tensor('float32', Float32Array.from({ length: r * c }, () => rng.normal()), [r, c]);
      const feeds = { a: mat(m, k), b: mat(k, n) };
      const into = { c: tensor('float32', new Float32Array(m * n), [m, n]) };
      const ms = Math.min(...(await timeRuns(() => session.run(feeds, into), 5, ROOF_RUNS)));
      const gflops = (2 * m * k * n) / (ms / 1e3) / 1e9;
      if (gflops > best.gflops) best = { gflops, shape: `${m}x${k}x${n}` };
    }
  } finally {
    await pool.release();
  }
  return best;
}

main().catch((err) => {
  console.error(`bench: error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
