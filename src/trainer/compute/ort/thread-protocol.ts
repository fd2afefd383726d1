// The messages between a ThreadPolicyTrainer (thread-trainer.ts) and its worker (trainer-thread.ts).

import { AlolError } from '../../errors.js';
import type { ComputeType } from '../../graph/ir.js';
import type { PoolOptions } from '../../runtime/pool.js';
import type { ModelWeights, PolicyTrainerSpec } from '../backend.js';

/** What the worker is started with. */
export interface TrainerThreadData {
  options: PoolOptions;
  precision: ComputeType;
  model: ModelWeights;
  spec: PolicyTrainerSpec;
}

/** One request of the main thread: a PolicyTrainer method and its arguments. */
export interface TrainerRequest {
  id: number;
  op: 'update' | 'updateMany' | 'weights' | 'state' | 'loadState' | 'logprobs' | 'dispose';
  args: unknown[];
}

/** An error thrown in the worker, as the main thread rebuilds it. */
export interface ThreadError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  hint?: string;
}

/** The answer to a request: its value and the trainer's step after it, or the error it threw. */
export type TrainerReply = { id: number; ok: true; value: unknown; step: number } | { id: number; ok: false; error: ThreadError };

export function threadErrorOf(e: unknown): ThreadError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const out: ThreadError = { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
  if (e instanceof AlolError) return { ...out, code: e.code, ...(e.hint ? { hint: e.hint } : {}) };
  return out;
}
