// A policy trained in the PyTorch worker (alol_torch/worker.py Trainer): its weights and AdamW state live in the
// worker; batches go as safetensors files; weights and state come back the same way. The worker is reached through
// its backend (backend.ts), seen here as a WorkerChannel.

import { rm } from 'node:fs/promises';
import type { ModelConfig } from '../../model/config.js';
import { paramInfos } from '../../model/family.js';
import { loraParamInfos } from '../../model/lora.js';
import { type SafeTensor, float32Tensor } from '../../model/safetensors.js';
import type { ModelWeights, PolicyTrainer, PolicyTrainerSpec, StepStats, TokenBatch, TrainBatch, TrainerState } from '../backend.js';
import { trainTensors } from './tensors.js';

/** What a trainer needs of the backend. */
export interface WorkerChannel {
  newHandle(prefix: string): string;
  files(): Promise<{ input: string; output: string }>;
  request(cmd: string, args?: Record<string, unknown>): Promise<Record<string, unknown>>;
  exchange(
    cmd: string,
    args: Record<string, unknown>,
    tensors: readonly SafeTensor[] | null,
  ): Promise<{ reply: Record<string, unknown>; out: Map<string, Float32Array> }>;
  modelHandle(model: ModelWeights): Promise<string>;
  writeTensors(file: string, tensors: readonly SafeTensor[]): Promise<void>;
  batchLogprobs(handle: string, batch: TokenBatch): Promise<{ token: Float32Array; seq: Float32Array }>;
  /** Weights maps a trainer returned, with the step they hold. */
  readonly trainerWeights: WeakMap<ReadonlyMap<string, Float32Array>, { trainer: TorchPolicyTrainer; step: number }>;
}

/** A policy trained in the worker: its weights and AdamW state live there; batches go as files. */
export class TorchPolicyTrainer implements PolicyTrainer {
  readonly handle: string;
  private created: Promise<void> | null = null;
  private steps = 0;
  alive = true;

  constructor(
    private readonly backend: WorkerChannel,
    private readonly model: ModelWeights,
    private readonly spec: PolicyTrainerSpec,
  ) {
    this.handle = backend.newHandle('t');
  }

  get step(): number {
    return this.steps;
  }

  private create(): Promise<void> {
    this.created ??= (async () => {
      const { spec } = this;
      const cfg: ModelConfig = this.model.config;
      const lora = spec.lora;
      const infos = lora ? loraParamInfos(cfg, lora.spec) : paramInfos(cfg);
      let loraArgs: Record<string, unknown> | undefined;
      const f = lora ? await this.backend.files() : null;
      if (lora && f) {
        const init = infos.map((i) => {
          const d = lora.init.get(i.name);
          if (!d) throw new Error(`initial adapter parameters lack ${i.name}`);
          return float32Tensor(i.name, i.shape, d);
        });
        await this.backend.writeTensors(f.input, init);
        const { r, alpha, dropout, modules } = lora.spec;
        loraArgs = { modules, r, alpha, dropout, seed: lora.seed, file: f.input };
      }
      try {
        await this.backend.request('trainer/create', {
          trainer: this.handle,
          model: await this.backend.modelHandle(this.model),
          objective: spec.objective,
          rows: spec.rows,
          adamw: spec.adamw,
          decay: infos.filter((i) => i.decay).map((i) => i.name),
          ...(loraArgs ? { lora: loraArgs } : {}),
        });
      } finally {
        if (f) await rm(f.input, { force: true });
      }
    })();
    return this.created;
  }

  /** Writes the micro-batches as tensor files, runs `f` on their names, removes them. */
  private async withBatchFiles<T>(micro: readonly TrainBatch[], f: (files: string[]) => Promise<T>): Promise<T> {
    await this.create();
    const files: string[] = [];
    try {
      for (const b of micro) {
        const { input } = await this.backend.files();
        await this.backend.writeTensors(input, trainTensors(b));
        files.push(input);
      }
      return await f(files);
    } finally {
      for (const file of files) await rm(file, { force: true });
    }
  }

  update(micro: readonly TrainBatch[], lr: number): Promise<StepStats> {
    return this.withBatchFiles(micro, async (files) => {
      const r = await this.backend.request('trainer/update', { trainer: this.handle, files, lr });
      this.steps = r.step as number;
      return { loss: r.loss as number, gradNorm: r.gradNorm as number, extra: r.extra as Record<string, number> };
    });
  }

  /** The batch's gradient without an update (by parameter name): the distributed-equality test reads it. */
  gradients(micro: readonly TrainBatch[]): Promise<{ grads: Map<string, Float32Array>; loss: number }> {
    return this.withBatchFiles(micro, async (files) => {
      const { reply, out } = await this.backend.exchange('trainer/grad', { trainer: this.handle, files }, null);
      return { grads: out, loss: reply.loss as number };
    });
  }

  async logprobs(batch: TokenBatch): Promise<{ token: Float32Array; seq: Float32Array }> {
    await this.create();
    return this.backend.batchLogprobs(this.handle, batch);
  }

  async weights(): Promise<Map<string, Float32Array>> {
    await this.create();
    const { out } = await this.backend.exchange('trainer/weights', { trainer: this.handle }, null);
    this.backend.trainerWeights.set(out, { trainer: this, step: this.steps });
    return out;
  }

  async state(): Promise<TrainerState> {
    await this.create();
    const { out } = await this.backend.exchange('trainer/state', { trainer: this.handle }, null);
    const params = new Map<string, Float32Array>();
    const optimizer = new Map<string, Float32Array>();
    for (const [name, data] of out) (name.startsWith('adam.') ? optimizer : params).set(name, data);
    return { params, optimizer };
  }

  async loadState(state: TrainerState, step: number): Promise<void> {
    await this.create();
    const cfg = this.model.config;
    const infos = this.spec.lora ? loraParamInfos(cfg, this.spec.lora.spec) : paramInfos(cfg);
    const shapes = new Map(infos.map((i) => [i.name, i.shape]));
    const shapeOf = (name: string): readonly number[] => {
      const s = shapes.get(name.replace(/^adam\.[mv]\./, ''));
      if (!s) throw new Error(`loadState: ${name} is not a parameter of this trainer`);
      return s;
    };
    const tensors = [...state.params, ...state.optimizer].map(([name, d]) => float32Tensor(name, shapeOf(name), d));
    await this.backend.exchange('trainer/loadState', { trainer: this.handle, step }, tensors);
    this.steps = step;
  }

  async dispose(): Promise<void> {
    this.alive = false;
    if (this.created) await this.backend.request('trainer/dispose', { trainer: this.handle }).catch(() => undefined);
  }
}
