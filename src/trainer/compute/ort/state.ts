// What the ONNX Runtime trainers share: the sessions a trainer asked its pool for (dropped together), and the
// weights and AdamW state of a stepper (host: runtime/stepper.ts, or device: runtime/device-stepper.ts) as the
// compute seam's TrainerState and weight maps.

import { type ModelConfig, configKey } from '../../model/config.js';
import type { SessionPool } from '../../runtime/pool.js';
import type { StepMode } from '../../graph/optim.js';
import type { OrtTensor, Session, SessionOptions } from '../../runtime/session.js';
import type { FloatArray, Stepper } from '../../runtime/stepper.js';
import { DeviceStepper } from '../../runtime/device-stepper.js';
import type { StepStats, TrainerState } from '../backend.js';

/** What a model graph's shape depends on besides the batch: part of every pool key. */
export const modelKey = (cfg: ModelConfig): string => configKey(cfg);

export const copy = (data: FloatArray): Float32Array => Float32Array.from(data);

/** Sessions a trainer asked the pool for: dropped together when it is disposed. */
export class Sessions {
  private readonly keys = new Set<string>();
  private disposed = false;

  constructor(
    private readonly pool: SessionPool,
    private readonly what: string,
  ) {}

  get(key: string, build: () => Uint8Array, extra?: Pick<SessionOptions, 'spinning' | 'deviceOutputs'>): Promise<Session> {
    if (this.disposed) throw new Error(`${this.what}: used after dispose()`);
    this.keys.add(key);
    return this.pool.get(key, build, extra);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const key of this.keys) await this.pool.drop(key);
    this.keys.clear();
  }
}

/** Weights and AdamW state on the host (stepper.ts) or the device (device-stepper.ts, WebGPU). */
export type AnyStepper = Stepper | DeviceStepper;

/** A host stepper's arrays are live views (copied); a device stepper's read-back arrays are fresh (kept when float32). */
const own = (stepper: AnyStepper, data: FloatArray): Float32Array =>
  stepper instanceof DeviceStepper && data instanceof Float32Array ? data : copy(data);

/** Weights and moments of a Stepper as a checkpoint holds them. */
export async function stateOf(stepper: AnyStepper): Promise<TrainerState> {
  const params = new Map<string, Float32Array>();
  const optimizer = new Map<string, Float32Array>();
  for (const t of await stepper.stateTensors()) (t.name.startsWith('adam.') ? optimizer : params).set(t.name, own(stepper, t.data));
  return { params, optimizer };
}

export async function weightsOf(stepper: AnyStepper): Promise<Map<string, Float32Array>> {
  if (stepper instanceof DeviceStepper) return new Map([...(await stepper.params())].map(([n, d]) => [n, own(stepper, d)]));
  return new Map(stepper.paramNames.map((n) => [n, copy(stepper.param(n))]));
}

export function loadStateInto(stepper: AnyStepper, state: TrainerState, step: number): void {
  stepper.loadState([...state.params, ...state.optimizer].map(([name, data]) => ({ name, data })), step);
}

/** Updates over micro-batches: accumulate all but the last, then update (or update alone). */
export async function accumulateThenUpdate<B>(
  stepper: AnyStepper,
  micro: readonly B[],
  lr: number,
  run: (batch: B, mode: StepMode) => Promise<{ session: Session; feeds: Record<string, OrtTensor> }>,
): Promise<StepStats> {
  let lossSum = 0;
  for (let m = 0; m + 1 < micro.length; m++) {
    const { session, feeds } = await run(micro[m], 'accumulate');
    lossSum += await stepper.accumulate(session, feeds);
  }
  const { session, feeds } = await run(micro[micro.length - 1], micro.length > 1 ? 'accumulate-update' : 'update');
  const out = await stepper.update(session, feeds, lr);
  // float16: an update skipped because a gradient overflowed (the loss scale then halves) is not a diverging run;
  // its norm was not finite, reported as 0 with extra.grad_finite 0 (runtime/loss-scale.ts)
  const gradNorm = out.extra.grad_finite === 0 ? 0 : out.gradNorm;
  return { loss: (lossSum + out.loss) / micro.length, gradNorm, extra: out.extra };
}
