// CPU / GPU parity of training: the same model from the same init takes the same N optimizer steps (forward,
// backward, clipping, AdamW; the NLL objective, as bench/train.ts) on the same batches through
// `new OrtBackend({ provider, threads }).policyTrainer(...)`, once on the CPU provider and once on the GPU provider
// (--device, webgpu by default). Prints both losses per step, the largest absolute difference, and one JSON line:
//   {"parity_max_abs_loss_diff": x, "parity_steps": n, "parity_tolerance": tol, "parity_ok": bool, "provider": "..."}
// When the GPU provider cannot load, the device falls back to cpu (the fallback line says why): the run then compares
// cpu with cpu, and "provider" says "cpu".
//
// Tolerance: 1e-3 absolute on the per-step loss (losses here are about ln 257 = 5.55, so about 2e-4 relative).
// Both sides compute in float32, but with different kernels (MLAS on the CPU; WGSL shaders on WebGPU) that sum in
// different orders, so the losses agree to float32 rounding at step 1 and drift apart slowly as AdamW's updates
// (normalized by sqrt(v), which magnifies tiny gradient differences early on) compound. Measured here
// (2026-12-01, CPU against Mesa's lavapipe, software Vulkan, lr 3e-4): the bench model over 20 steps, largest loss
// difference 9.5e-7 (weights 1.6e-4 apart after 20 steps; 7.6 min on 2 cores); the --quick model (2 x 64) over
// 5 steps, 4.8e-7. A real GPU's kernels (other reduction orders, fused multiply-adds) may differ more than
// lavapipe's: 1e-3 leaves three orders of magnitude of room. A bug in a kernel
// (a wrong mask, a missing term of a gradient) moves the loss by 1e-2 or more within a few steps.
//
//   npm run bench:parity -- [--device webgpu] [--threads 2] [--steps 20] [--lr 3e-4] [--tolerance 1e-3]
//                           [--batch 16] [--seq 128] [--embd 256] [--layers 4] [--heads 8] [--quick]
//                           [--precision float16]
// --quick: a tiny model (2 layers x 64, 4 heads, T 64, batch 4) and 5 steps.
// --precision float16 (or bfloat16 on cuda): the GPU side trains in mixed precision (docs/benchmarks.md "Mixed
// precision") against the CPU's float32; its tolerance is the caller's to choose (not yet measured on this bench model:
// the tiny model of test/integration/precision-webgpu.test.ts stays within 2.4e-4 over 16 steps on lavapipe).

import { parseArgs } from 'node:util';
import { type DeviceRequest, PRECISIONS, resolveDevice } from '../src/trainer/runtime/device.js';
import type { ComputeType } from '../src/trainer/graph/ir.js';
import type { Provider } from '../src/trainer/runtime/session.js';
import { OrtBackend } from '../src/trainer/compute/ort/backend.js';
import { DEFAULT_ADAMW } from '../src/trainer/graph/optim.js';
import { describeConfig } from '../src/trainer/model/config.js';
import { initParams } from '../src/trainer/model/family.js';
import { gptConfig } from '../src/trainer/model/gpt-config.js';
import { Rng } from '../src/trainer/util/rng.js';

const { values: a } = parseArgs({
  options: {
    device: { type: 'string', default: 'webgpu' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string' },
    lr: { type: 'string', default: '3e-4' },
    tolerance: { type: 'string', default: '1e-3' },
    batch: { type: 'string' },
    seq: { type: 'string' },
    embd: { type: 'string' },
    layers: { type: 'string' },
    heads: { type: 'string' },
    quick: { type: 'boolean', default: false },
    precision: { type: 'string', default: 'float32' },
  },
});

const QUICK = { steps: 5, batch: 4, seq: 64, embd: 64, layers: 2, heads: 4 };
const FULL = { steps: 20, batch: 16, seq: 128, embd: 256, layers: 4, heads: 8 };

async function main(): Promise<void> {
  const d = a.quick ? QUICK : FULL;
  const pick = (s: string | undefined, dflt: number): number => (s === undefined ? dflt : Number(s));
  const [steps, B, T] = [pick(a.steps, d.steps), pick(a.batch, d.batch), pick(a.seq, d.seq)];
  const [threads, lr, tol] = [Number(a.threads), Number(a.lr), Number(a.tolerance)];
  const sizes = { nEmbd: pick(a.embd, d.embd), nLayer: pick(a.layers, d.layers), nHead: pick(a.heads, d.heads) };
  const cfg = gptConfig({ vocabSize: 257, nPositions: T, ...sizes });
  const precision = a.precision as ComputeType;
  if (!PRECISIONS.includes(precision)) throw new Error(`--precision ${precision}: use one of ${PRECISIONS.join(', ')}`);
  const device = await resolveDevice(a.device as DeviceRequest);
  if (device.fallback) console.log(device.fallback);

  // the same batches on both sides
  const rng = new Rng(7);
  const batches = Array.from({ length: steps }, () => ({
    rows: B,
    seqLen: T,
    ids: BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize))),
    targets: BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize))),
    mask: new Float32Array(B * T).fill(1),
    exampleWeight: new Float32Array(B).fill(1 / T),
  }));

  const train = async (provider: Provider, prec: ComputeType): Promise<{ losses: number[]; weights: Map<string, Float32Array> }> => {
    const compute = new OrtBackend({ provider, threads }, prec);
    const trainer = compute.policyTrainer(
      { config: cfg, params: initParams(cfg, 0) },
      { objective: { kind: 'nll' }, rows: B, adamw: DEFAULT_ADAMW },
    );
    try {
      const losses: number[] = [];
      for (const batch of batches) losses.push((await trainer.update([batch], lr)).loss);
      return { losses, weights: await trainer.weights() };
    } finally {
      await trainer.dispose();
      await compute.release();
    }
  };

  const what = `${describeConfig(cfg)}, vocab 257, batch ${B} x ${T}, ${steps} steps, lr ${lr}`;
  console.log(`parity           cpu vs ${device.provider}${precision === 'float32' ? '' : ` (${precision})`}: ${what}`);
  const cpu = await train('cpu', 'float32');
  const gpu = await train(device.provider, precision);
  let maxDiff = 0;
  for (let i = 0; i < steps; i++) {
    const diff = Math.abs(cpu.losses[i] - gpu.losses[i]);
    maxDiff = Math.max(maxDiff, Number.isFinite(diff) ? diff : Infinity);
    console.log(
      `step ${String(i + 1).padStart(3)}         cpu ${cpu.losses[i].toFixed(6)}  ${device.provider} ${gpu.losses[i].toFixed(6)}  ` +
        `|diff| ${diff.toExponential(2)}`,
    );
  }
  let maxWeightDiff = 0;
  for (const [name, w] of cpu.weights) {
    const v = gpu.weights.get(name);
    if (!v) throw new Error(`parity: ${device.provider} has no weight ${name}`);
    for (let i = 0; i < w.length; i++) maxWeightDiff = Math.max(maxWeightDiff, Math.abs(w[i] - v[i]));
  }
  const ok = maxDiff <= tol;
  console.log(`max |loss diff|  ${maxDiff.toExponential(3)} (tolerance ${tol}): ${ok ? 'ok' : 'FAILED'}`);
  console.log(`max |weight diff| ${maxWeightDiff.toExponential(3)} after ${steps} steps`);
  console.log(
    JSON.stringify({
      parity_max_abs_loss_diff: maxDiff,
      parity_steps: steps,
      parity_tolerance: tol,
      parity_ok: ok,
      provider: device.provider,
      precision,
      parity_max_abs_weight_diff: maxWeightDiff,
      parity_losses_cpu: cpu.losses,
      parity_losses_gpu: gpu.losses,
    }),
  );
  if (!ok) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`bench: error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
