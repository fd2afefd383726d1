// Device-resident training steps (WebGPU): the same step graphs as stepper.ts, but parameters, AdamW moments
// and gradient accumulators stay on the device between steps. Each run's `new.*` outputs are kept there
// (SessionOptions.deviceOutputs) and fed as the next run's inputs; the previous buffers are freed after the run.
// The host sends the batch, lr and step, and fetches the loss and the step's few scalars. Parameters go up once,
// as host tensors, at the first step (and after loadState); reading them back (weights for an evaluation, a
// checkpoint) runs an identity graph whose outputs are on the host, since a device tensor has no host data in
// onnxruntime-node. On a provider without device outputs the same code runs with every output on the host.

import { serialize } from '../graph/onnx.js';
import type { FloatType } from '../graph/ir.js';
import { copyName, identityGraph } from './upload.js';
import { accName, momentName, newName } from '../graph/optim.js';
import { type OrtTensor, type Session, disposeTensor, hostBytes, onDevice, tensor } from './session.js';
import { LossScaler } from './loss-scale.js';
import {
  ADAM_STEP,
  type FloatArray,
  type ParamTensor,
  type StepStats,
  adamStepOf,
  adamStepTensors,
  extraScalars,
  first,
  scalar,
  zerosOf,
} from './stepper.js';

/** Host<->device bytes of the runs so far: fed from host tensors, fetched into host tensors. */
export interface Traffic {
  runs: number;
  fedBytes: number;
  fetchedBytes: number;
  /** The last optimizer update's: its runs and those since the update before (accumulation, a no-grad pass, reads). */
  last: { fedBytes: number; fetchedBytes: number };
}

/** Gets (or makes) a session for `key` from `build()`: the trainer's pool, so readers are released with it. */
export type SessionSource = (key: string, build: () => Uint8Array, extra?: { deviceOutputs?: readonly string[] }) => Promise<Session>;

/** The names of the outputs a step graph of `mode` returns for the state it carries (what stays on the device). */
export function stateOutputs(paramNames: readonly string[], mode: 'update' | 'accumulate' | 'accumulate-update'): string[] {
  if (mode === 'accumulate') return paramNames.map((p) => newName(accName(p)));
  return paramNames.flatMap((p) => [newName(p), newName(momentName('m', p)), newName(momentName('v', p))]);
}

export class DeviceStepper {
  /** Updates made so far (the training loop's count; a checkpoint's step). */
  step = 0;
  /** AdamW's count for its bias correction: the updates applied (see stepper.ts ADAM_STEP). */
  adamStep = 0;
  /** float16 step graphs only: the loss scale they are fed (loss-scale.ts). */
  readonly scaler = new LossScaler();
  readonly traffic: Traffic = { runs: 0, fedBytes: 0, fetchedBytes: 0, last: { fedBytes: 0, fetchedBytes: 0 } };
  /** Parameters then moments, by name: host tensors until a run returns them on the device. */
  private readonly state = new Map<string, OrtTensor>();
  private readonly accs = new Map<string, OrtTensor>();
  private readonly shapes = new Map<string, readonly number[]>();
  readonly paramNames: string[];
  private microSteps = 0;
  /** Bytes since the last update, which become traffic.last when the next one ends. */
  private pending = { fedBytes: 0, fetchedBytes: 0 };

  constructor(
    readonly float: FloatType,
    params: readonly ParamTensor[],
    private readonly sessions: SessionSource,
  ) {
    this.paramNames = params.map((p) => p.name);
    for (const p of params) {
      const n = p.shape.reduce((a, b) => a * b, 1);
      if (p.data.length !== n) throw new Error(`parameter ${p.name}: ${p.data.length} values for shape [${p.shape.join(',')}]`);
      this.set(this.state, p.name, tensor(float, p.data, p.shape), p.shape);
      for (const k of ['m', 'v'] as const) this.set(this.state, momentName(k, p.name), tensor(float, zerosOf(float, n), p.shape), p.shape);
      this.set(this.accs, accName(p.name), tensor(float, zerosOf(float, n), p.shape), p.shape);
    }
  }

  private set(map: Map<string, OrtTensor>, name: string, t: OrtTensor, shape?: readonly number[]): void {
    const old = map.get(name);
    if (old && old !== t) disposeTensor(old);
    map.set(name, t);
    if (shape) this.shapes.set(name, shape);
  }

  /** Whether every parameter is on the device now (false before the first update, or on a host-only provider). */
  get resident(): boolean {
    return this.paramNames.every((n) => onDevice(this.state.get(n) as OrtTensor));
  }

  /** Parameter feeds for a forward-only graph on the same provider (device tensors are fed as they are). */
  paramFeeds(): Record<string, OrtTensor> {
    return Object.fromEntries(this.paramNames.map((n) => [n, this.state.get(n) as OrtTensor]));
  }

  /** Counts a run's host<->device bytes: this stepper's runs, and the trainer's other runs between updates. */
  count(feeds: Record<string, OrtTensor>, out: Record<string, OrtTensor>): void {
    const fed = Object.values(feeds).reduce((a, t) => a + hostBytes(t), 0);
    const fetched = Object.values(out).reduce((a, t) => a + hostBytes(t), 0);
    this.traffic.runs++;
    this.traffic.fedBytes += fed;
    this.traffic.fetchedBytes += fetched;
    this.pending.fedBytes += fed;
    this.pending.fetchedBytes += fetched;
  }

  private async run(session: Session, feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> {
    const out = await session.run(feeds);
    this.count(feeds, out);
    return out;
  }

  /** One optimizer update (an `update` or `accumulate-update` graph); see Stepper.update. */
  async update(session: Session, batch: Record<string, OrtTensor>, lr: number): Promise<StepStats> {
    const accumulating = session.inputNames.includes('grad_scale');
    if (!accumulating && this.microSteps > 0) {
      throw new Error('update: micro-batches were accumulated; finish with an accumulate-update graph');
    }
    const feeds: Record<string, OrtTensor> = { ...batch, lr: scalar(this.float, lr), step: scalar(this.float, this.adamStep + 1) };
    for (const [name, t] of this.state) feeds[name] = t;
    if (accumulating) {
      for (const [name, t] of this.accs) feeds[name] = t;
      feeds.grad_scale = scalar(this.float, 1 / (this.microSteps + 1));
    }
    this.scaler.feed(session, feeds);
    const out = await this.run(session, feeds);
    for (const name of [...this.state.keys()]) this.set(this.state, name, this.take(out, name));
    if (accumulating) {
      // the accumulators start again from zero: host zeros, sent with the next accumulate run
      for (const name of [...this.accs.keys()]) {
        this.set(this.accs, name, tensor(this.float, zerosOf(this.float, this.size(name)), this.shapes.get(name) as number[]));
      }
    }
    this.microSteps = 0;
    const extra = extraScalars(out);
    if (this.scaler.afterUpdate(session, out, extra)) this.adamStep++;
    this.step++;
    this.traffic.last = this.pending;
    this.pending = { fedBytes: 0, fetchedBytes: 0 };
    return { loss: first(out.loss), gradNorm: first(out.grad_norm), clipCoef: first(out.clip_coef), extra };
  }

  /** Adds one micro-batch's gradients to the accumulators (an `accumulate` graph); returns its loss. */
  async accumulate(session: Session, batch: Record<string, OrtTensor>): Promise<number> {
    const feeds: Record<string, OrtTensor> = { ...batch, ...this.paramFeeds() };
    for (const [name, t] of this.accs) feeds[name] = t;
    this.scaler.feed(session, feeds);
    const out = await this.run(session, feeds);
    for (const name of [...this.accs.keys()]) this.set(this.accs, name, this.take(out, name));
    this.microSteps++;
    return first(out.loss);
  }

  private take(out: Record<string, OrtTensor>, name: string): OrtTensor {
    const t = out[newName(name)];
    if (!t) throw new Error(`step graph returned no ${newName(name)}`);
    return t;
  }

  private size(name: string): number {
    return (this.shapes.get(name) as readonly number[]).reduce((a, b) => a * b, 1);
  }

  /** Host copies of the named state tensors (an identity graph reads device tensors back). */
  private async read(names: readonly string[]): Promise<Map<string, FloatArray>> {
    const out = new Map<string, FloatArray>();
    const onDev = names.filter((n) => onDevice(this.state.get(n) as OrtTensor));
    for (const n of names) if (!onDev.includes(n)) out.set(n, ((this.state.get(n) as OrtTensor).data as FloatArray).slice());
    if (onDev.length === 0) return out;
    const key = `read_back:${this.float}:${onDev.map((n) => `${n}[${(this.shapes.get(n) as number[]).join('x')}]`).join(',')}`;
    const inputs = onDev.map((n) => [n, this.shapes.get(n) as number[]] as const);
    const session = await this.sessions(key, () => serialize(identityGraph(this.float, inputs)));
    const res = await this.run(session, Object.fromEntries(onDev.map((n) => [n, this.state.get(n) as OrtTensor])));
    for (const n of onDev) out.set(n, res[copyName(n)].data as FloatArray);
    return out;
  }

  /** The parameters, as host copies. */
  params(): Promise<Map<string, FloatArray>> {
    return this.read(this.paramNames);
  }

  /** Every parameter and moment, as host copies (a checkpoint). */
  async stateTensors(): Promise<{ name: string; shape: readonly number[]; data: FloatArray }[]> {
    const data = await this.read([...this.state.keys()]);
    const shapeOf = (name: string): number[] => this.shapes.get(name) as number[];
    const tensors = [...this.state.keys()].map((name) => ({ name, shape: shapeOf(name), data: data.get(name) as FloatArray }));
    return [...tensors, ...adamStepTensors(this.step, this.adamStep)];
  }

  /** Restores parameters and moments saved by stateTensors(): host tensors again, sent at the next run. */
  loadState(tensors: readonly { name: string; data: FloatArray }[], step: number): void {
    for (const t of tensors) {
      if (t.name === ADAM_STEP) continue;
      if (!this.state.has(t.name)) throw new Error(`checkpoint has an unknown tensor ${t.name}`);
      if (this.size(t.name) !== t.data.length) throw new Error(`checkpoint tensor ${t.name} has the wrong size`);
      this.set(this.state, t.name, tensor(this.float, t.data.slice() as FloatArray, this.shapes.get(t.name) as number[]));
    }
    this.step = step;
    this.adamStep = adamStepOf(tensors, step);
  }

  /**
   * Copies of host tensors on the device (an identity graph whose outputs stay there): weights every step reads
   * and none changes, such as LoRA's frozen base, go up once instead of with every run. The caller frees them
   * (disposeTensor) when done. On a provider without device outputs they come back as host tensors.
   */
  async upload(tensors: Readonly<Record<string, OrtTensor>>): Promise<Record<string, OrtTensor>> {
    const names = Object.keys(tensors);
    if (names.length === 0) return {};
    const inputs = names.map((n) => [n, [...tensors[n].dims]] as const);
    const key = `upload:${this.float}:${inputs.map(([n, s]) => `${n}[${s.join('x')}]`).join(',')}`;
    const session = await this.sessions(key, () => serialize(identityGraph(this.float, inputs)), {
      deviceOutputs: names.map(copyName),
    });
    const res = await this.run(session, tensors as Record<string, OrtTensor>);
    return Object.fromEntries(names.map((n) => [n, res[copyName(n)]]));
  }

  /** Frees the device buffers. */
  dispose(): void {
    for (const t of [...this.state.values(), ...this.accs.values()]) disposeTensor(t);
  }
}
