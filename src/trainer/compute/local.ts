// The compute backend of a call made outside a run (tests, benchmarks, `alol` verbs that take
// --threads/--device): the caller's backend when it passes one, else an ONNX Runtime backend of the
// given provider and threads, released when the call ends. A run passes its context's backend.

import type { ComputeType } from '../graph/ir.js';
import type { Provider } from '../runtime/session.js';
import type { ComputeBackend } from './backend.js';
import { OrtBackend, ortLogprobsKey } from './ort/backend.js';

export interface ComputeOptions {
  /** The backend to use (a run's); when absent, a private one is made for the call. */
  compute?: ComputeBackend;
  threads?: number;
  provider?: Provider;
  /** Mixed precision of the training steps (OrtBackend); checked against the provider when the backend is made. */
  precision?: ComputeType;
}

/** The ONNX Runtime backend on a provider: a run's backend (see run/context.ts). */
export function localBackend(options: { threads?: number; provider?: Provider; precision?: ComputeType }): ComputeBackend {
  return new OrtBackend({ threads: options.threads, provider: options.provider }, options.precision);
}

/** What computes log-probs for `opts` (ComputeBackend.logprobsKey): the given backend's, or a local backend's. */
export const logprobsKeyOf = (opts: ComputeOptions): string =>
  opts.compute ? (opts.compute.logprobsKey ?? opts.compute.name) : ortLogprobsKey(opts.provider);

/** Runs `f` with opts.compute, or with a backend of its own, released when `f` ends (also on a throw). */
export async function withCompute<T>(opts: ComputeOptions, f: (compute: ComputeBackend) => Promise<T>): Promise<T> {
  if (opts.compute) return f(opts.compute);
  const compute = localBackend(opts);
  try {
    return await f(compute);
  } finally {
    await compute.release();
  }
}
