// The PyTorch compute backend: the same seam as the built-in engine (compute/backend.ts), served by a Python worker
// (alol_torch/, started by worker-process.ts) that runs the models on torch — transformers and peft where they are
// installed, torch.distributed (DDP) across processes. Only the model compute moves: data, rewards, splits, caches,
// the audit, events and the run folder stay in this process, and so does the value head (a small head on cached
// hidden states: the built-in engine fits it bit for bit as in every other run, and nothing of it needs a GPU).
//
// Models reach the worker as Hugging Face folders (config.json + model.safetensors) written once per weights map
// into the backend's scratch folder (the run's torch/ folder, removed when the run ends); a trainer's own weights stay
// in the worker, and an evaluation of them right after a step reuses them there. Batches and results travel as
// safetensors files (measured in docs/benchmarks.md); commands and scalars as JSON lines.

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RunConfig } from '../../../protocol/config.js';
import { AlolError } from '../../errors.js';
import { bucketLength } from '../../alol/batch.js';
import { positionsLimit } from '../../model/config.js';
import { paramInfos } from '../../model/family.js';
import { configJson, safetensorsOrder, sourceFolderOf } from '../../model/folder.js';
import { scoreInBatches } from '../../model/logprobs.js';
import { type SafeTensor, float32Tensor, readSafetensors, writeSafetensors } from '../../model/safetensors.js';
import type { Provider } from '../../runtime/session.js';
import type { ValueHeadConfig } from '../../value/head.js';
import type {
  ComputeBackend,
  Detokenizer,
  GeneratedText,
  GenerationRequest,
  LogprobRequest,
  ModelWeights,
  PolicyTrainer,
  PolicyTrainerSpec,
  RowLogprobs,
  TextGenerator,
  TokenBatch,
  TokenRow,
  ValueHeadCompute,
} from '../backend.js';
import { OrtBackend } from '../ort/backend.js';
import { asMap, batchTensors, i64Tensor } from './tensors.js';
import { TorchPolicyTrainer } from './trainer.js';
import { type WorkerInfo, WorkerProcess, pythonOf } from './worker-process.js';

export interface TorchBackendOptions {
  /** The interpreter (CLI --python or the alolStudio.python setting; null: python3 on PATH). */
  python: string | null;
  backend: RunConfig['backend'];
  device: RunConfig['device'];
  /** CPU threads per worker process (and the value head's ONNX Runtime sessions). */
  threads: number;
  /** Scratch folder for model folders and tensor files (a run's <run>/torch); null: a temporary folder. */
  workDir: string | null;
  /** The worker's stderr lines (transformers' warnings, tracebacks). */
  log?: (line: string) => void;
  /** `builtin`: the worker's own GPT-2 / Llama modules even where transformers is installed (tests). */
  engine?: 'auto' | 'transformers' | 'builtin';
  /** Where ONNX Runtime runs the value head (default cpu). */
  valueProvider?: Provider;
}

export class TorchBackend implements ComputeBackend {
  readonly name: string;
  /** The value head's engine (see the top of this file). */
  private readonly ort: OrtBackend;
  private worker: Promise<{ worker: WorkerProcess; info: WorkerInfo }> | null = null;
  private dir: Promise<string> | null = null;
  private seq = 0;
  /** Weights maps already in the worker, by identity. */
  private readonly handles = new WeakMap<ReadonlyMap<string, Float32Array>, string>();
  /**
   * When the pipeline lets go of a weights map (an evaluated policy, a merged LoRA model), its copy in the worker and
   * its folder go too: models do not pile up in the worker's memory or on disk over a long run.
   */
  private readonly unused = new FinalizationRegistry<{ handle: string; dir: string | null }>(({ handle, dir }) => {
    if (this.worker) void this.request('model/drop', { model: handle }).catch(() => undefined);
    if (dir) void rm(dir, { recursive: true, force: true }); // only folders this backend wrote
  });
  /** Model folders written for the worker (weights made or changed here); a model read from a folder goes as it is. */
  modelFoldersWritten = 0;
  /** Weights maps a trainer returned, with the step they hold: still in the worker while it is at that step. */
  readonly trainerWeights = new WeakMap<ReadonlyMap<string, Float32Array>, { trainer: TorchPolicyTrainer; step: number }>();

  constructor(readonly options: TorchBackendOptions) {
    const b = options.backend;
    const procs = b.launcher === 'none' ? '' : `, ${b.processes} processes under ${b.launcher}`;
    this.name = `pytorch worker (${options.device}${procs}, ${b.precision})`;
    if (options.device === 'webgpu') {
      throw new AlolError('config', 'device "webgpu" is the built-in engine\'s; the torch backend runs on "cpu" or "cuda"',
        'set device to auto, cpu or cuda, or backend.kind to builtin');
    }
    this.ort = new OrtBackend({ threads: options.threads, provider: options.valueProvider ?? 'cpu' });
  }

  /** A handle no other model or trainer of this backend has. */
  newHandle(prefix: string): string {
    return `${prefix}${++this.seq}`;
  }

  /** Starts the worker (once) and says what it runs on. */
  start(): Promise<WorkerInfo> {
    this.worker ??= WorkerProcess.start(
      {
        python: pythonOf(this.options.python),
        backend: this.options.backend,
        device: this.options.device as 'auto' | 'cpu' | 'cuda',
        threads: this.options.threads,
        engine: this.options.engine,
      },
      this.options.log ?? ((line) => process.stderr.write(`[torch] ${line}\n`)),
    );
    return this.worker.then((w) => w.info);
  }

  async prepare(): Promise<string> {
    const info = await this.start();
    const v = info.versions;
    const engine = this.options.engine === 'builtin' || !v.transformers ? 'its own GPT-2/Llama modules' : `transformers ${v.transformers}`;
    const procs = info.world > 1 ? ` × ${info.world} processes (${this.options.backend.launcher})` : '';
    return `[torch] worker ready: torch ${String(v.torch)} on ${info.device}${procs}, ${engine}${v.peft ? `, peft ${v.peft}` : ''}`;
  }

  /** Sends a command to the worker (started on first use). */
  async request(cmd: string, args: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    await this.start();
    const { worker } = await (this.worker as Promise<{ worker: WorkerProcess }>);
    const t0 = performance.now();
    const reply = await worker.request(cmd, args);
    this.timing.commands++;
    this.timing.wallMs += performance.now() - t0;
    this.timing.workerMs += typeof reply.ms === 'number' ? reply.ms : 0;
    return reply;
  }

  /** Where the time of the commands went (bench:torch reads it): round trips, the worker's part, tensor files here. */
  readonly timing = { commands: 0, wallMs: 0, workerMs: 0, fileMs: 0 };

  /** Writes a tensor file for the worker, counted in timing.fileMs. */
  async writeTensors(file: string, tensors: readonly SafeTensor[]): Promise<void> {
    const t0 = performance.now();
    await writeFile(file, writeSafetensors(tensors));
    this.timing.fileMs += performance.now() - t0;
  }

  private workDir(): Promise<string> {
    this.dir ??= (async () => {
      const dir = this.options.workDir ?? (await mkdtemp(path.join(os.tmpdir(), 'alol-torch-')));
      await mkdir(path.join(dir, 'x'), { recursive: true });
      return dir;
    })();
    return this.dir;
  }

  /** A fresh pair of tensor file names (input, output) in the scratch folder. */
  async files(): Promise<{ input: string; output: string }> {
    const n = ++this.seq;
    const dir = path.join(await this.workDir(), 'x');
    return { input: path.join(dir, `${n}.in.safetensors`), output: path.join(dir, `${n}.out.safetensors`) };
  }

  /** Writes tensors, runs a command that reads them (`file`) and writes its result (`out`), reads it back. */
  async exchange(
    cmd: string,
    args: Record<string, unknown>,
    tensors: readonly SafeTensor[] | null,
  ): Promise<{ reply: Record<string, unknown>; out: Map<string, Float32Array> }> {
    const f = await this.files();
    try {
      if (tensors) await this.writeTensors(f.input, tensors);
      const reply = await this.request(cmd, { ...args, ...(tensors ? { file: f.input } : {}), out: f.output });
      const t0 = performance.now();
      const bytes = await readFile(f.output).catch(() => null);
      const out = bytes ? asMap(readSafetensors(bytes, f.output).tensors, f.output) : new Map<string, Float32Array>();
      this.timing.fileMs += performance.now() - t0;
      return { reply, out };
    } finally {
      await rm(f.input, { force: true });
      await rm(f.output, { force: true });
    }
  }

  /** The worker's handle of a model: a live trainer's weights at their step, the folder they were read from, else a
   * folder written once from them. */
  async modelHandle(model: ModelWeights): Promise<string> {
    const live = this.trainerWeights.get(model.params);
    if (live && live.trainer.alive && live.trainer.step === live.step) return live.trainer.handle;
    const known = this.handles.get(model.params);
    if (known) return known;
    const handle = this.newHandle('m');
    const source = sourceFolderOf(model.params);
    if (source) {
      // the folder the weights came from, unchanged: the worker reads it itself (its own dtype, any shards)
      await this.request('model/load', { model: handle, dir: source });
      this.handles.set(model.params, handle);
      this.unused.register(model.params, { handle, dir: null });
      return handle;
    }
    const dir = path.join(await this.workDir(), 'models', handle);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'config.json'), `${JSON.stringify(configJson(model.config), null, 2)}\n`);
    await writeFile(path.join(dir, 'model.safetensors'), writeSafetensors(modelTensors(model), { format: 'pt' }));
    this.modelFoldersWritten++;
    await this.request('model/load', { model: handle, dir });
    this.handles.set(model.params, handle);
    this.unused.register(model.params, { handle, dir });
    return handle;
  }

  async tokenLogprobs(model: ModelWeights, rows: readonly TokenRow[], request: LogprobRequest): Promise<RowLogprobs[]> {
    const handle = await this.modelHandle(model);
    return scoreInBatches(model.config, rows, request, (batch) => this.batchLogprobs(handle, batch).then((r) => r.token));
  }

  /** Per-token [B, T] and per-row [B] log-probs of a batch under a model or trainer handle. */
  async batchLogprobs(handle: string, batch: TokenBatch): Promise<{ token: Float32Array; seq: Float32Array }> {
    const { out } = await this.exchange('logprobs', { model: handle }, batchTensors(batch));
    return { token: out.get('token_logprob') as Float32Array, seq: out.get('seq_logprob') as Float32Array };
  }

  async promptHidden(model: ModelWeights, prompts: readonly (readonly number[])[], batchSize: number): Promise<Float32Array[]> {
    const handle = await this.modelHandle(model);
    const c = model.config.nEmbd;
    const out: Float32Array[] = [];
    for (let k = 0; k < prompts.length; k += batchSize) {
      const batch = prompts.slice(k, k + batchSize);
      const b = batch.length;
      const t = bucketLength(Math.max(...batch.map((p) => p.length)), model.config.nPositions);
      const ids = new BigInt64Array(b * t);
      batch.forEach((p, r) => p.forEach((id, j) => (ids[r * t + j] = BigInt(id))));
      const { out: res } = await this.exchange('hidden', { model: handle }, [i64Tensor('ids', [b, t], ids)]);
      const hidden = res.get('hidden') as Float32Array; // [B, T, C], right padding: a prompt's positions come first
      batch.forEach((p, r) => out.push(hidden.slice(r * t * c, (r * t + p.length) * c)));
    }
    return out;
  }

  policyTrainer(model: ModelWeights, spec: PolicyTrainerSpec): PolicyTrainer {
    return new TorchPolicyTrainer(this, model, spec);
  }

  valueHead(cfg: ValueHeadConfig, rows: number): ValueHeadCompute {
    return this.ort.valueHead(cfg, rows);
  }

  generator(model: ModelWeights, detokenizer: Detokenizer): TextGenerator {
    return {
      generate: (prompts, request) => this.generate(model, detokenizer, prompts, request),
      dispose: async () => undefined,
    };
  }

  private async generate(
    model: ModelWeights,
    detok: Detokenizer,
    prompts: readonly (readonly number[])[],
    request: GenerationRequest,
  ): Promise<GeneratedText[]> {
    if (prompts.length === 0) return [];
    const eos = detok.eosTokenId;
    const eosIds = detok.eosTokenIds ?? (eos === null ? [] : [eos]);
    const rows = prompts.map((p) => (p.length > 0 ? [...p] : [eos ?? 0]));
    const longest = Math.max(...rows.map((r) => r.length));
    if (longest + request.maxNewTokens > model.config.nPositions) {
      throw new AlolError('model',
        `generate: a prompt of ${longest} tokens plus ${request.maxNewTokens} new tokens exceeds ${positionsLimit(model.config)}`,
        'shorten the prompt or generate fewer new tokens (--max-new-tokens)');
    }
    const handle = await this.modelHandle(model);
    const reply = await this.request('generate', {
      model: handle,
      prompts: rows,
      maxNewTokens: request.maxNewTokens,
      temperature: request.temperature,
      topP: request.topP ?? 1,
      seed: request.seed ?? 0,
      eosIds,
    });
    return (reply.tokens as number[][]).map((tokens) => finishGeneration(tokens, eosIds, request.stop ?? [], detok));
  }

  async release(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.then(({ worker }) => worker.close(), () => undefined);
    await this.ort.release();
    const dir = this.dir ? await this.dir.catch(() => null) : null;
    this.dir = null;
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

/** A model's tensors in its folder's order, for the worker to load. */
function modelTensors(model: ModelWeights): SafeTensor[] {
  const shapes = new Map(paramInfos(model.config).map((i) => [i.name, i.shape]));
  return safetensorsOrder(model.config).map((name) => {
    const data = model.params.get(name);
    if (!data) throw new Error(`torch backend: the model lacks parameter ${name}`);
    return float32Tensor(name, shapes.get(name) as number[], data);
  });
}

/** New tokens as the worker returned them (ending with an EOS id when it stopped there) -> text and finish reason. */
export function finishGeneration(
  tokens: readonly number[],
  eosIds: readonly number[],
  stop: readonly string[],
  detok: Detokenizer,
): GeneratedText {
  const decode = (ids: readonly number[]) => (detok.decodeContinuation ? detok.decodeContinuation(ids) : detok.decode(ids));
  const end = tokens.findIndex((t) => eosIds.includes(t));
  const kept = end >= 0 ? tokens.slice(0, end) : [...tokens];
  if (stop.length) {
    // as the built-in generator: the first token after which the text holds a stop string ends the generation
    for (let n = 1; n <= kept.length; n++) {
      const text = decode(kept.slice(0, n));
      const at = Math.min(...stop.map((s) => text.indexOf(s)).filter((i) => i >= 0));
      if (Number.isFinite(at)) return { tokens: kept.slice(0, n), text: text.slice(0, at), finishReason: 'stop' };
    }
  }
  return { tokens: kept, text: decode(kept), finishReason: end >= 0 ? 'eos' : 'length' };
}
