// Device choice: `auto | cpu | cuda | webgpu` -> the execution provider actually used. A GPU provider
// is probed by loading and running a tiny graph; when it cannot load, the trainer falls back to CPU
// and says why in one line, rather than crashing a run the user started on a laptop.

import { AlolError } from '../errors.js';
import { type ComputeType, Graph } from '../graph/ir.js';
import { serialize } from '../graph/onnx.js';
import * as o from '../graph/ops.js';
import { type AdapterGuess, guessAdapter } from './adapter.js';
import { poolKey, withPool } from './pool.js';
import { type Provider, listBackends, tensor } from './session.js';

export type DeviceRequest = 'auto' | Provider;

export interface ResolvedDevice {
  requested: DeviceRequest;
  /** The provider sessions will use. */
  provider: Provider;
  /** Set when the requested provider could not be used: what happened and what to do. */
  fallback?: string;
  /** `auto` only: why it chose this provider (what it tried, and what it found). */
  reason?: string;
}

/** What `auto` consults; tests pass their own. */
export interface AutoOptions {
  /** The providers this onnxruntime-node lists (default: listBackends()). */
  backends?: () => readonly string[];
  /** The adapter WebGPU would get (default: runtime/adapter.ts's guess from the Vulkan driver files). */
  adapter?: () => AdapterGuess;
  /** Whether `auto` may pick WebGPU (default true; the torch backend keeps ONNX Runtime's small models off it). */
  webgpu?: boolean;
}

export const DEVICE_REQUESTS: readonly DeviceRequest[] = ['auto', 'cpu', 'cuda', 'webgpu'];

const HINTS: Record<Provider, string> = {
  cpu: '',
  cuda:
    'hint: the CUDA provider is downloaded by onnxruntime-node\'s postinstall; reinstall with internet access ' +
    'and ONNXRUNTIME_NODE_INSTALL unset (this project\'s .npmrc skips it), on a machine with an NVIDIA driver and CUDA 12+',
  webgpu: 'hint: the WebGPU provider needs a Vulkan (Linux), Metal (macOS) or D3D12 (Windows) capable GPU and driver',
};

let probeModel: Uint8Array | null = null;

/** A one-node graph (y = x + x) used to check that a provider loads and runs. */
function probeBytes(): Uint8Array {
  if (!probeModel) {
    const g = new Graph({ name: 'probe' });
    const x = g.floatInput('x', [4]);
    g.output('y', o.add(x, x));
    probeModel = serialize(g);
  }
  return probeModel;
}

/**
 * Loads and runs the probe graph on `provider`, in a pool of its own released right after; returns
 * null when it works, else the error's first line. Its log is quiet: a failure here is expected.
 */
export async function probeProvider(provider: Provider): Promise<string | null> {
  try {
    return await withPool({ provider }, async (pool) => {
      const session = await pool.get(poolKey('probe', { x: 4 }), probeBytes, { logSeverity: 4 });
      const out = await session.run({ x: tensor('float32', Float32Array.from([1, 2, 3, 4]), [4]) });
      const y = out.y.data as Float32Array;
      return y[3] === 8 ? null : `the probe graph computed a wrong result on ${provider}`;
    });
  } catch (err) {
    const msg = String(err instanceof Error ? err.message : err);
    // ORT's messages start with a source path; the readable part begins at "Failed to ...".
    return (msg.match(/Failed to [^\n]*/)?.[0] ?? msg.split('\n')[0]).slice(0, 300);
  }
}

export const PRECISIONS: readonly ComputeType[] = ['float32', 'float16', 'bfloat16'];

/**
 * Throws, naming the setting, when `provider` cannot compute in `precision` (checked once the device is resolved,
 * before any compute). Measured with onnxruntime-node 1.30: the CPU provider has no float16 MatMul kernel on x86 —
 * it inserts casts back to float32 and then removes the float32->float16->float32 pairs, so a float16 graph would
 * silently run in float32; bfloat16 MatMul has no kernel on CPU or WebGPU (the session fails to load). bfloat16 is
 * CUDA-only in ORT (not run here).
 */
export function checkPrecision(precision: ComputeType, provider: Provider, setting = 'precision'): void {
  if (!PRECISIONS.includes(precision)) {
    throw new AlolError('config', `${setting}: unknown precision '${String(precision)}' (use one of: ${PRECISIONS.join(', ')})`);
  }
  const runs: Record<ComputeType, readonly Provider[]> = {
    float32: ['cpu', 'cuda', 'webgpu'],
    float16: ['webgpu', 'cuda'],
    bfloat16: ['cuda'],
  };
  if (runs[precision].includes(provider)) return;
  const why =
    provider !== 'cpu'
      ? "ONNX Runtime's WebGPU provider has no bfloat16 kernels (the session fails to load)"
      : precision === 'float16'
        ? "ONNX Runtime's CPU provider has no float16 MatMul kernel (it would cast back and run float32 while claiming float16)"
        : "ONNX Runtime's CPU provider has no bfloat16 MatMul kernel (the session fails to load)";
  const hint =
    precision === 'float16'
      ? `use device webgpu or cuda (--device, or "device" in the run config), or ${setting} float32`
      : `bfloat16 needs device cuda; on webgpu use float16, elsewhere ${setting} float32`;
  throw new AlolError('config', `${setting} ${precision} cannot run on the ${provider} provider: ${why}`, hint);
}

let resolutions = 0;
/** How many times resolveDevice ran in this process (a run resolves its device once: tests count it). */
export const deviceResolutions = (): number => resolutions;

/** An ORT load error, short enough for one line of a reason. */
const short = (err: string): string => (err.length > 160 ? `${err.slice(0, 157)}...` : err);

/**
 * `auto`: CUDA when its provider loads and runs; else WebGPU when it loads and its adapter is not known to be
 * software (Mesa's lavapipe runs "WebGPU" on the CPU, slower than the CPU provider); else the CPU. The reason
 * says what was tried and found. An adapter of unknown kind (macOS, Windows) is used, and said to be unknown.
 */
async function resolveAuto(probe: (p: Provider) => Promise<string | null>, opts: AutoOptions): Promise<ResolvedDevice> {
  const backends = opts.backends?.() ?? listBackends().map((b) => b.name);
  const notes: string[] = [];
  if (backends.includes('cuda')) {
    const err = await probe('cuda');
    if (err === null) return { requested: 'auto', provider: 'cuda', reason: 'the CUDA provider loads and runs' };
    notes.push(`CUDA: ${short(err)}`);
  } else {
    notes.push('CUDA: not in this onnxruntime-node');
  }
  if (opts.webgpu === false) {
    notes.push('WebGPU: not considered here');
  } else if (!backends.includes('webgpu')) {
    notes.push('WebGPU: not in this onnxruntime-node');
  } else {
    const adapter = (opts.adapter ?? guessAdapter)();
    if (adapter.kind === 'software' || adapter.kind === 'none') {
      notes.push(`WebGPU: not used, ${adapter.detail}`);
    } else {
      const err = await probe('webgpu');
      if (err === null) return { requested: 'auto', provider: 'webgpu', reason: `WebGPU loads and runs; ${adapter.detail}` };
      notes.push(`WebGPU: ${short(err)}`);
    }
  }
  return { requested: 'auto', provider: 'cpu', reason: `no usable GPU provider. ${notes.join('; ')}` };
}

/** Resolves a device request (see resolveAuto for `auto`); a named GPU that cannot load falls back to CPU, saying why. */
export async function resolveDevice(
  requested: DeviceRequest,
  probe: (p: Provider) => Promise<string | null> = probeProvider,
  auto: AutoOptions = {},
): Promise<ResolvedDevice> {
  resolutions++;
  if (!DEVICE_REQUESTS.includes(requested)) {
    throw new Error(`unknown device '${String(requested)}' (use one of: ${DEVICE_REQUESTS.join(', ')})`);
  }
  if (requested === 'cpu') return { requested, provider: 'cpu' };
  if (requested === 'auto') return resolveAuto(probe, auto);
  const err = await probe(requested);
  if (err === null) return { requested, provider: requested };
  return {
    requested,
    provider: 'cpu',
    fallback: `device ${requested} is not available (${err}); using cpu instead. ${HINTS[requested]}`,
  };
}
