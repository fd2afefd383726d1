// Runs training-step graphs built by graph/optim.ts: owns parameters, AdamW moments and gradient
// accumulators as typed arrays, feeds them with each batch, and writes the updated values into a
// second, preallocated set of buffers that swaps with the first after every step (ORT cannot write
// an output into the tensor it reads as an input). Memory is allocated once, not per step.

import type { FloatType } from '../graph/ir.js';
import { accName, momentName, newName } from '../graph/optim.js';
import { type OrtTensor, type Session, tensor } from './session.js';
import { LossScaler } from './loss-scale.js';

export type FloatArray = Float32Array | Float64Array;

export interface ParamTensor {
  readonly name: string;
  readonly shape: readonly number[];
  data: FloatArray;
}

export interface StepStats {
  loss: number;
  gradNorm: number;
  clipCoef: number;
  /** Other scalar outputs of the step graph (e.g. mean_weight, clip_fraction). */
  extra: Record<string, number>;
}

/** A step's other scalar outputs (not new state, loss, grad_norm or clip_coef), by name. */
export function extraScalars(out: Record<string, OrtTensor>): Record<string, number> {
  const extra: Record<string, number> = {};
  for (const [name, t] of Object.entries(out)) {
    if (name.startsWith('new.') || name === 'loss' || name === 'grad_norm' || name === 'clip_coef' || t.dims.length !== 0) continue;
    extra[name] = Number((t.data as FloatArray)[0]);
  }
  return extra;
}

class DoubleBuffer {
  private a: FloatArray;
  private b: FloatArray;
  constructor(
    initial: FloatArray,
    readonly shape: readonly number[],
    private readonly float: FloatType,
  ) {
    this.a = initial;
    this.b = initial.slice() as FloatArray;
  }
  get current(): FloatArray {
    return this.a;
  }
  set current(data: FloatArray) {
    this.a = data;
  }
  currentTensor(): OrtTensor {
    return tensor(this.float, this.a, this.shape);
  }
  nextTensor(): OrtTensor {
    return tensor(this.float, this.b, this.shape);
  }
  swap(): void {
    [this.a, this.b] = [this.b, this.a];
  }
}

export function scalar(float: FloatType, x: number): OrtTensor {
  return tensor(float, float === 'float32' ? Float32Array.of(x) : Float64Array.of(x), []);
}

export function first(t: OrtTensor): number {
  return Number((t.data as FloatArray)[0]);
}

export function zerosOf(float: FloatType, n: number): FloatArray {
  return float === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

/**
 * The state tensor that records AdamW's own step count where it differs from the updates made: float16 updates
 * skipped for non-finite gradients leave the weights, the moments and the bias correction's count as they were
 * (torch's GradScaler does the same), so a checkpoint keeps that count to resume with the same bias correction.
 */
export const ADAM_STEP = 'adam.step';

/** The ADAM_STEP tensor when AdamW's count differs from the updates made; none otherwise (float32 checkpoints are as before). */
export function adamStepTensors(step: number, adamStep: number): { name: string; shape: readonly number[]; data: Float32Array }[] {
  return adamStep === step ? [] : [{ name: ADAM_STEP, shape: [1], data: Float32Array.of(adamStep) }];
}

/** AdamW's count from a checkpoint's tensors: its ADAM_STEP tensor, else the updates made. */
export function adamStepOf(tensors: readonly { name: string; data: FloatArray }[], step: number): number {
  const t = tensors.find((x) => x.name === ADAM_STEP);
  return t ? Number(t.data[0]) : step;
}

/** Parameters + AdamW state + accumulators, stepped by ORT sessions. */
export class Stepper {
  /** Updates made so far (the training loop's count; a checkpoint's step). */
  step = 0;
  /** AdamW's count for its bias correction: the updates applied (a float16 update skipped for non-finite gradients is not one). */
  adamStep = 0;
  /** float16 step graphs only: the loss scale they are fed (loss-scale.ts). */
  readonly scaler = new LossScaler();
  private readonly params = new Map<string, DoubleBuffer>();
  private readonly moments = new Map<string, DoubleBuffer>();
  private readonly accs = new Map<string, DoubleBuffer>();
  private microSteps = 0;

  constructor(
    readonly float: FloatType,
    params: readonly ParamTensor[],
  ) {
    for (const p of params) {
      const n = p.shape.reduce((a, b) => a * b, 1);
      if (p.data.length !== n) throw new Error(`parameter ${p.name}: ${p.data.length} values for shape [${p.shape.join(',')}]`);
      this.params.set(p.name, new DoubleBuffer(p.data, p.shape, float));
      for (const k of ['m', 'v'] as const) this.moments.set(momentName(k, p.name), new DoubleBuffer(zerosOf(float, n), p.shape, float));
      this.accs.set(accName(p.name), new DoubleBuffer(zerosOf(float, n), p.shape, float));
    }
  }

  get paramNames(): string[] {
    return [...this.params.keys()];
  }

  /** The current value of a parameter (a live view: copy it to keep it). */
  param(name: string): FloatArray {
    const p = this.params.get(name);
    if (!p) throw new Error(`no parameter named ${name}`);
    return p.current;
  }

  /** Every parameter, moment and the step, e.g. for a checkpoint. */
  stateTensors(): { name: string; shape: readonly number[]; data: FloatArray }[] {
    const all = [...this.params, ...this.moments];
    return [...all.map(([name, b]) => ({ name, shape: b.shape, data: b.current })), ...adamStepTensors(this.step, this.adamStep)];
  }

  /** Restores parameters and moments saved by stateTensors(). */
  loadState(tensors: readonly { name: string; data: FloatArray }[], step: number): void {
    for (const t of tensors) {
      if (t.name === ADAM_STEP) continue;
      const b = this.params.get(t.name) ?? this.moments.get(t.name);
      if (!b) throw new Error(`checkpoint has an unknown tensor ${t.name}`);
      if (b.current.length !== t.data.length) throw new Error(`checkpoint tensor ${t.name} has the wrong size`);
      b.current.set(t.data);
    }
    this.step = step;
    this.adamStep = adamStepOf(tensors, step);
  }

  /** Parameter feeds for a forward-only graph that takes the same parameter inputs. */
  paramFeeds(): Record<string, OrtTensor> {
    const feeds: Record<string, OrtTensor> = {};
    for (const [name, b] of this.params) feeds[name] = b.currentTensor();
    return feeds;
  }

  /**
   * One optimizer update with an `update` or `accumulate-update` graph. With micro-batches accumulated
   * before it, the gradient is their sum times 1 / (number of micro-batches).
   */
  async update(session: Session, batch: Record<string, OrtTensor>, lr: number): Promise<StepStats> {
    const accumulating = session.inputNames.includes('grad_scale');
    if (!accumulating && this.microSteps > 0) {
      throw new Error('update: micro-batches were accumulated; finish with an accumulate-update graph');
    }
    const feeds: Record<string, OrtTensor> = { ...batch, lr: scalar(this.float, lr), step: scalar(this.float, this.adamStep + 1) };
    const into: Record<string, OrtTensor> = {};
    for (const [name, b] of [...this.params, ...this.moments]) {
      feeds[name] = b.currentTensor();
      into[newName(name)] = b.nextTensor();
    }
    if (accumulating) {
      for (const [name, b] of this.accs) feeds[name] = b.currentTensor();
      feeds.grad_scale = scalar(this.float, 1 / (this.microSteps + 1));
    }
    this.scaler.feed(session, feeds);
    const out = await session.run(feeds, into);
    for (const b of [...this.params.values(), ...this.moments.values()]) b.swap();
    if (accumulating) for (const b of this.accs.values()) b.current.fill(0);
    this.microSteps = 0;
    const extra = extraScalars(out);
    if (this.scaler.afterUpdate(session, out, extra)) this.adamStep++;
    this.step++;
    return { loss: first(out.loss), gradNorm: first(out.grad_norm), clipCoef: first(out.clip_coef), extra };
  }

  /**
   * K optimizer updates in one run of a Loop graph (graph/loop.ts): parameters and moments are fed once and read
   * back once. `stacked` holds each step's batch inputs along a first axis of length K = lrs.length; `shared` the
   * inputs every step reads unchanged. Returns one StepStats per step, in order.
   */
  async updateMany(
    session: Session,
    stacked: Record<string, OrtTensor>,
    lrs: readonly number[],
    shared: Record<string, OrtTensor> = {},
  ): Promise<StepStats[]> {
    const k = lrs.length;
    if (k === 0) throw new Error('updateMany: lrs is empty (one learning rate per step)');
    if (this.microSteps > 0) throw new Error('updateMany: micro-batches were accumulated; finish them with update() first');
    for (const [name, t] of Object.entries(stacked)) {
      if (t.dims[0] !== k) throw new Error(`updateMany: stacked input ${name} has ${t.dims[0]} steps on its first axis, not ${k}`);
    }
    const lr = tensor(this.float, this.float === 'float32' ? Float32Array.from(lrs) : Float64Array.from(lrs), [k]);
    const feeds: Record<string, OrtTensor> = { ...shared, ...stacked, lr, step: scalar(this.float, this.adamStep + 1) };
    const into: Record<string, OrtTensor> = {};
    for (const [name, b] of [...this.params, ...this.moments]) {
      feeds[name] = b.currentTensor();
      into[newName(name)] = b.nextTensor();
    }
    const out = await session.run(feeds, into);
    const next = out[newName('step')];
    if (next && first(next) !== this.adamStep + k + 1) {
      throw new Error(`updateMany: the graph ran ${first(next) - this.adamStep - 1} steps, not ${k} (hint: its K must be lrs.length)`);
    }
    for (const b of [...this.params.values(), ...this.moments.values()]) b.swap();
    this.step += k;
    this.adamStep += k; // a Loop graph has no loss scaling (float16 runs single updates): every update applies
    const at = (name: string, i: number): number => Number((out[name].data as FloatArray)[i]);
    const perStep = Object.entries(out).filter(([name, t]) => !name.startsWith('new.') && t.dims.length === 1 && t.dims[0] === k);
    return Array.from({ length: k }, (_, i) => {
      const extra: Record<string, number> = {};
      for (const [name] of perStep) if (!['loss', 'grad_norm', 'clip_coef'].includes(name)) extra[name] = at(name, i);
      return { loss: at('loss', i), gradNorm: at('grad_norm', i), clipCoef: at('clip_coef', i), extra };
    });
  }

  /** Adds one micro-batch's gradients to the accumulators (an `accumulate` graph); returns its loss. */
  async accumulate(session: Session, batch: Record<string, OrtTensor>): Promise<number> {
    const feeds: Record<string, OrtTensor> = { ...batch };
    const into: Record<string, OrtTensor> = {};
    for (const [name, b] of this.params) feeds[name] = b.currentTensor();
    for (const [name, b] of this.accs) {
      feeds[name] = b.currentTensor();
      into[newName(name)] = b.nextTensor();
    }
    this.scaler.feed(session, feeds);
    const out = await session.run(feeds, into);
    for (const b of this.accs.values()) b.swap();
    this.microSteps++;
    return first(out.loss);
  }
}
