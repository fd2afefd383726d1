// The only importer of onnxruntime-node: sessions on a chosen execution provider, tensors, feed
// checks, preallocated outputs and disposal. Everything else in the trainer passes typed arrays and
// ModelProto bytes through here, so swapping or upgrading the runtime touches one folder.

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
}

const ortType: Record<DType, ort.Tensor.Type> = {
  float32: 'float32',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
};

/** An ORT tensor over `data` (no copy). */
export function tensor(dtype: DType, data: TypedData, dims: readonly number[]): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`tensor: ${data.length} values do not fill dims [${dims.join(',')}]`);
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
            : new Uint8Array(n);
  return tensor(dtype, data, dims);
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
