// The only importer of onnxruntime-node: sessions on a chosen execution provider, tensors, feed
// checks, preallocated outputs and disposal. Everything else in the trainer passes typed arrays and
// ModelProto bytes through here, so swapping or upgrading the runtime touches one folder.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { DType, TypedData } from '../graph/ir.js';

// ORT's native logger writes provider-load failures to stderr in red even when they are caught and
// handled (a CPU fallback is not an error). Failures reach callers as exceptions; ALOL_DEBUG=1 shows
// the native log too. Process-wide, and read when the first session is created.
ort.env.logLevel = process.env.ALOL_DEBUG ? 'warning' : 'fatal';

export type Provider = 'cpu' | 'cuda' | 'webgpu';
export type OrtTensor = ort.Tensor;

export interface SessionOptions {
  provider?: Provider;
  /** Intra-op threads (default: ORT's choice, all cores). */
  threads?: number;
  graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** ORT log severity, 0 (verbose) .. 4 (fatal); default 3 (errors only). */
  logSeverity?: 0 | 1 | 2 | 3 | 4;
  /**
   * Whether the session's intra-op threads spin while waiting for work (ORT's default, true). Each session has
   * its own thread pool, and a pool's threads spin on after a run: a session that runs once between another
   * session's runs (a generation call's prompt run, a trainer's no-grad log-prob pass) should not spin, or its
   * threads take a core from the session that runs next. Measured on 2 cores: batch-16 generation 10-20% faster,
   * an A-LoL step 11% faster (bench:generate, bench:compare; docs/benchmarks.md).
   */
  spinning?: boolean;
  /**
   * Outputs that stay on the device (WebGPU only): ORT returns them as opaque `gpu-buffer` tensors that can be
   * fed to the next run of any session on the same provider, and read back only through a session whose outputs
   * are on the host (runtime/device-stepper.ts reads them with an identity graph). The other outputs come back as usual.
   */
  deviceOutputs?: readonly string[];
  /** Writes ORT's profile (a Chrome trace of every kernel's time) to a file starting with this path; see endProfiling(). */
  profile?: string;
}

const ortType: Record<DType, ort.Tensor.Type> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  bfloat16: 'float16', // never used: tensor() refuses bfloat16 (the binding has none; graphs cast inside)
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
};

/** An ORT tensor over `data` (no copy). */
export function tensor(dtype: DType, data: TypedData, dims: readonly number[]): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`tensor: ${data.length} values do not fill dims [${dims.join(',')}]`);
  if (dtype === 'bfloat16') throw new Error('tensor: onnxruntime-node has no bfloat16 tensors (cast to bfloat16 inside the graph)');
  return new ort.Tensor(ortType[dtype], data as Float32Array, dims);
}

export function zeros(dtype: DType, dims: readonly number[]): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const data =
    dtype === 'float32'
      ? new Float32Array(n)
      : dtype === 'float64'
        ? new Float64Array(n)
        : dtype === 'int64'
          ? new BigInt64Array(n)
          : dtype === 'int32'
            ? new Int32Array(n)
            : dtype === 'float16' || dtype === 'bfloat16'
              ? new Uint16Array(n)
              : new Uint8Array(n);
  return tensor(dtype, data, dims);
}

/**
 * ALOL_ORT_OPTIMIZED_DIR: every session writes the model ORT optimized for its provider there (bench:train counts the
 * host<->device copy nodes the WebGPU provider inserted: memcpyNodes()). A diagnostic; unset in runs.
 */
const optimizedModelDir = (): string | undefined => process.env.ALOL_ORT_OPTIMIZED_DIR || undefined;
const safeName = (name: string): string => name.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 120);

/** The copy nodes between host and device in a model ORT wrote optimized (ALOL_ORT_OPTIMIZED_DIR). */
export function memcpyNodes(file: string): { fromHost: number; toHost: number } {
  const text = readFileSync(file).toString('latin1');
  const count = (op: string): number => text.split(op).length - 1;
  return { fromHost: count('MemcpyFromHost'), toHost: count('MemcpyToHost') };
}

function deviceLocations(provider: Provider, names: readonly string[]): Record<string, 'gpu-buffer'> {
  if (provider !== 'webgpu') throw new Error(`deviceOutputs: outputs stay on the device only on webgpu (provider ${provider})`);
  return Object.fromEntries(names.map((n) => [n, 'gpu-buffer' as const]));
}

/** Whether a tensor lives on the device (an output kept there by `deviceOutputs`): its data cannot be read on the host. */
export const onDevice = (t: ort.Tensor): boolean => t.location === 'gpu-buffer';

/** Bytes of a tensor's host data (0 for a device tensor: feeding it moves nothing). */
export const hostBytes = (t: ort.Tensor): number => (onDevice(t) ? 0 : (t.data as ArrayLike<number> & { byteLength: number }).byteLength);

/** Frees a device tensor's buffer now (a host tensor is left to the garbage collector). */
export function disposeTensor(t: ort.Tensor): void {
  if (onDevice(t)) t.dispose();
}

export class Session {
  private released = false;

  private constructor(
    private readonly inner: ort.InferenceSession,
    readonly provider: Provider,
    readonly name: string,
  ) {}

  /**
   * Loads ONNX bytes on one provider; throws the runtime's error when the provider cannot load. Called
   * only by SessionPool (pool.ts): everything else asks a pool, so sessions are shared and released together.
   */
  static async create(model: Uint8Array, name: string, options: SessionOptions = {}): Promise<Session> {
    const provider = options.provider ?? 'cpu';
    const inner = await ort.InferenceSession.create(model, {
      executionProviders: [provider],
      ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
      interOpNumThreads: 1,
      ...(options.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
      ...(options.deviceOutputs?.length ? { preferredOutputLocation: deviceLocations(provider, options.deviceOutputs) } : {}),
      ...(optimizedModelDir() ? { optimizedModelFilePath: path.join(optimizedModelDir() as string, `${safeName(name)}.onnx`) } : {}),
      ...(options.profile ? { enableProfiling: true, profileFilePrefix: options.profile } : {}),
      graphOptimizationLevel: options.graphOptimization ?? 'all',
      logSeverityLevel: options.logSeverity ?? 3,
    });
    return new Session(inner, provider, name);
  }

  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }

  /** Names missing and unexpected feeds, instead of ORT's first-failure message. */
  checkFeeds(feeds: Record<string, ort.Tensor>): void {
    const expected = new Set(this.inner.inputNames);
    const given = Object.keys(feeds);
    const missing = this.inner.inputNames.filter((n) => !(n in feeds));
    const extra = given.filter((n) => !expected.has(n));
    if (missing.length || extra.length) {
      const parts: string[] = [];
      if (missing.length) parts.push(`missing feed${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`);
      if (extra.length) parts.push(`unknown feed${extra.length > 1 ? 's' : ''}: ${extra.join(', ')}`);
      throw new Error(`session ${this.name}: ${parts.join('; ')} (inputs are: ${this.inner.inputNames.join(', ')})`);
    }
  }

  /**
   * Runs the graph. `into` gives preallocated tensors for some outputs, which ORT fills in place, so
   * a loop that reuses them does not allocate step after step. Returns every output.
   */
  async run(feeds: Record<string, ort.Tensor>, into?: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    if (this.released) throw new Error(`session ${this.name} was released; create a new one`);
    this.checkFeeds(feeds);
    if (!into) return this.inner.run(feeds);
    const fetches: Record<string, ort.Tensor | null> = {};
    for (const n of this.inner.outputNames) fetches[n] = into[n] ?? null;
    for (const n of Object.keys(into)) {
      if (!(n in fetches)) throw new Error(`session ${this.name}: no output named '${n}' (outputs are: ${this.outputNames.join(', ')})`);
    }
    return this.inner.run(feeds, fetches);
  }

  /** Ends a profiled session's trace (SessionOptions.profile) and writes it; returns its file name where ORT says it. */
  endProfiling(): string | undefined {
    return (this.inner.endProfiling as () => string | undefined)();
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.inner.release();
  }
}

/** Execution providers compiled into (or installed beside) the onnxruntime-node binary. */
export function listBackends(): { name: string; bundled: boolean }[] {
  return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
}

export const runtimeVersion = (): string => ort.env.versions.node ?? 'unknown';
