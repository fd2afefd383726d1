// Weights that many runs read and none changes (a policy being evaluated: every decode step, every scored batch)
// go to the device once. onnxruntime-node has no Tensor.fromGpuBuffer, so an identity graph whose outputs stay on
// the device (SessionOptions.deviceOutputs) makes the copies; runs then feed those device tensors as they are,
// instead of the runtime copying every host weight to the device on each run. On a provider without device
// outputs (the CPU) the host tensors are returned as they are.

import { type FloatType, Graph } from '../graph/ir.js';
import { serialize } from '../graph/onnx.js';
import * as o from '../graph/ops.js';
import type { SessionPool } from './pool.js';
import { type OrtTensor, disposeTensor, onDevice } from './session.js';

/** The output of identityGraph() that copies input `name`. */
export const copyName = (name: string): string => `copy.${name}`;

/**
 * y_i = x_i for each named input, as output copyName(x_i): a copy where the session puts its outputs — on the device
 * (SessionOptions.deviceOutputs: uploadTensors, DeviceStepper.upload) or on the host (DeviceStepper's read-back).
 */
export function identityGraph(float: FloatType, inputs: readonly (readonly [string, readonly number[]])[]): Graph {
  const g = new Graph({ name: 'copy', float });
  for (const [name, shape] of inputs) g.output(copyName(name), o.identity(g.floatInput(name, [...shape])));
  return g;
}

/**
 * Device copies of float32 host tensors on `pool`'s provider when it keeps outputs on the device (WebGPU), in one
 * run; else `tensors` themselves. The caller frees the copies with releaseUploaded() when done.
 */
export async function uploadTensors(pool: SessionPool, tensors: Readonly<Record<string, OrtTensor>>): Promise<Record<string, OrtTensor>> {
  const names = Object.keys(tensors);
  if (pool.options.provider !== 'webgpu' || names.length === 0) return { ...tensors };
  for (const n of names) if (tensors[n].type !== 'float32') throw new Error(`uploadTensors: ${n} is ${tensors[n].type}, not float32`);
  const inputs = names.map((n) => [n, [...tensors[n].dims]] as const);
  const key = `upload[${inputs.map(([n, s]) => `${n}:${s.join('x')}`).join(',')}]`;
  const session = await pool.get(key, () => serialize(identityGraph('float32', inputs)), { deviceOutputs: names.map(copyName) });
  const out = await session.run({ ...tensors });
  return Object.fromEntries(names.map((n) => [n, out[copyName(n)]]));
}

/** Frees what uploadTensors() put on the device (host tensors are left to the garbage collector). */
export function releaseUploaded(tensors: Readonly<Record<string, OrtTensor>>): void {
  for (const t of Object.values(tensors)) if (onDevice(t)) disposeTensor(t);
}
