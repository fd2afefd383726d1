// The main thread's side of a trainer in a worker thread (trainer-thread.ts): a PolicyTrainer whose every call is a
// message to the worker and its answer. While the worker computes, the main thread is free — for another such
// trainer, an evaluation, the extension's commands. Batches and weights cross by structured clone (copies): a demo
// batch is about 100 KB, small beside a step's compute.

import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { AlolError } from '../../errors.js';
import type { PolicyTrainer, StepStats, TokenBatch, TrainBatch, TrainerState } from '../backend.js';
import type { ThreadError, TrainerReply, TrainerRequest, TrainerThreadData } from './thread-protocol.js';

function errorOf(x: ThreadError): Error {
  const e = x.code ? new AlolError(x.code, x.message) : new Error(x.message);
  // AlolError's message already ends with its hint; keep the hint itself for run/didFail
  if (x.hint) Object.defineProperty(e, 'hint', { value: x.hint, enumerable: true });
  e.name = x.name;
  if (x.stack) e.stack = x.stack;
  return e;
}

export class ThreadPolicyTrainer implements PolicyTrainer {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private current = 0;
  /** Why the worker cannot answer any more (it threw outside a request, or exited); every later call rejects with it. */
  private dead: Error | null = null;

  constructor(data: TrainerThreadData) {
    this.worker = new Worker(path.join(__dirname, 'trainer-thread.js'), { workerData: data });
    this.worker.on('message', (r: TrainerReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) {
        this.current = r.step;
        p.resolve(r.value);
      } else p.reject(errorOf(r.error));
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`the trainer thread stopped (exit code ${code})`)));
  }

  get step(): number {
    return this.current;
  }

  private fail(e: Error): void {
    this.dead ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private call<T>(op: TrainerRequest['op'], ...args: unknown[]): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, args } satisfies TrainerRequest);
    });
  }

  update(micro: readonly TrainBatch[], lr: number): Promise<StepStats> {
    return this.call('update', micro, lr);
  }

  updateMany(steps: readonly (readonly TrainBatch[])[], lrs: readonly number[]): Promise<StepStats[]> {
    return this.call('updateMany', steps, lrs);
  }

  weights(): Promise<Map<string, Float32Array>> {
    return this.call('weights');
  }

  state(): Promise<TrainerState> {
    return this.call('state');
  }

  loadState(state: TrainerState, step: number): Promise<void> {
    return this.call('loadState', state, step);
  }

  logprobs(batch: TokenBatch): Promise<{ token: Float32Array; seq: Float32Array }> {
    return this.call('logprobs', batch);
  }

  async dispose(): Promise<void> {
    try {
      if (!this.dead) await this.call('dispose');
    } finally {
      this.dead ??= new Error('the trainer was disposed');
      this.worker.removeAllListeners('exit');
      await this.worker.terminate();
    }
  }
}
