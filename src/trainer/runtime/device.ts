// Device choice: `auto | cpu | cuda | webgpu` -> the execution provider actually used. A GPU provider
// is probed by loading and running a tiny graph; when it cannot load, the trainer falls back to CPU
// and says why in one line, rather than crashing a run the user started on a laptop.

import { Graph } from '../graph/ir.js';
import { serialize } from '../graph/onnx.js';
import * as o from '../graph/ops.js';
import { poolKey, withPool } from './pool.js';
import { type Provider, listBackends, tensor } from './session.js';

export type DeviceRequest = 'auto' | Provider;

export interface ResolvedDevice {
  requested: DeviceRequest;
  /** The provider sessions will use. */
  provider: Provider;
  /** Set when the requested provider could not be used: what happened and what to do. */
  fallback?: string;
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

let resolutions = 0;
/** How many times resolveDevice ran in this process (a run resolves its device once: tests count it). */
export const deviceResolutions = (): number => resolutions;

/**
 * Resolves a device request. `auto` uses CUDA when its provider loads, else CPU (WebGPU only when
 * asked for by name: it also runs on software adapters, where it is slower than the CPU provider).
 */
export async function resolveDevice(requested: DeviceRequest, probe = probeProvider): Promise<ResolvedDevice> {
  resolutions++;
  if (!DEVICE_REQUESTS.includes(requested)) {
    throw new Error(`unknown device '${String(requested)}' (use one of: ${DEVICE_REQUESTS.join(', ')})`);
  }
  if (requested === 'cpu') return { requested, provider: 'cpu' };
  if (requested === 'auto') {
    const hasCuda = listBackends().some((b) => b.name === 'cuda');
    if (hasCuda && (await probe('cuda')) === null) return { requested, provider: 'cuda' };
    return { requested, provider: 'cpu' };
  }
  const err = await probe(requested);
  if (err === null) return { requested, provider: requested };
  return {
    requested,
    provider: 'cpu',
    fallback: `device ${requested} is not available (${err}); using cpu instead. ${HINTS[requested]}`,
  };
}
