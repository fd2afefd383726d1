// The value head of the ONNX Runtime backend: value/head.ts's step and predict graphs from the run's pool, one
// per padded length; each trainer a host Stepper (runtime/stepper.ts).

import { serialize } from '../../graph/onnx.js';
import type { SessionPool } from '../../runtime/pool.js';
import { type OrtTensor, type Session, tensor } from '../../runtime/session.js';
import { Stepper } from '../../runtime/stepper.js';
import {
  VALUE_ADAMW,
  type ValueHeadConfig,
  buildValuePredictGraph,
  buildValueStepGraph,
  checkValueConfig,
  valueParamInfos,
} from '../../value/head.js';
import type { Trainer, ValueBatch, ValueHeadCompute, ValueTrainBatch } from '../backend.js';
import { Sessions, accumulateThenUpdate, loadStateInto, stateOf, weightsOf } from './state.js';

/** The value head of one shape: trainers (a Stepper each) and predictions, sessions per padded length. */
export class OrtValueHead implements ValueHeadCompute {
  private readonly sessions: Sessions;
  private readonly key: string;

  constructor(
    pool: SessionPool,
    private readonly cfg: ValueHeadConfig,
    private readonly rows: number,
  ) {
    checkValueConfig(cfg);
    this.sessions = new Sessions(pool, 'value head');
    this.key = `c${cfg.hiddenSize}h${cfg.heads}r${cfg.range.join(',')}:${rows}`;
  }

  private session(kind: 'step' | 'predict', seqLen: number): Promise<Session> {
    const shape = { batch: this.rows, seqLen };
    return this.sessions.get(`value_${kind}:${this.key}x${seqLen}`, () =>
      serialize(kind === 'step' ? buildValueStepGraph(this.cfg, shape, VALUE_ADAMW) : buildValuePredictGraph(this.cfg, shape)),
    );
  }

  private batchFeeds(batch: ValueBatch): Record<string, OrtTensor> {
    const [b, t, c] = [batch.rows, batch.seqLen, this.cfg.hiddenSize];
    return { hidden: tensor('float32', batch.hidden, [b, t, c]), mask: tensor('float32', batch.mask, [b, t]) };
  }

  private paramFeeds(params: ReadonlyMap<string, Float32Array>): Record<string, OrtTensor> {
    const feeds: Record<string, OrtTensor> = {};
    for (const info of valueParamInfos(this.cfg.hiddenSize)) {
      const data = params.get(info.name);
      if (!data) throw new Error(`value head: parameter ${info.name} is missing`);
      feeds[info.name] = tensor('float32', data, info.shape);
    }
    return feeds;
  }

  trainer(init: ReadonlyMap<string, Float32Array>): Trainer<ValueTrainBatch> {
    const infos = valueParamInfos(this.cfg.hiddenSize);
    const stepper = new Stepper(
      'float32',
      infos.map((p) => ({ name: p.name, shape: p.shape, data: (init.get(p.name) as Float32Array).slice() })),
    );
    const c = this.cfg.hiddenSize;
    return {
      get step() {
        return stepper.step;
      },
      update: (micro, lr) =>
        accumulateThenUpdate(stepper, micro, lr, async (batch, mode) => {
          if (mode !== 'update') throw new Error('value head: one batch per update');
          const b = batch.rows;
          const feeds = {
            ...this.batchFeeds(batch),
            dropout_keep: tensor('float32', batch.dropoutKeep, [b, c]),
            target: tensor('float32', batch.target, [b]),
            example_weight: tensor('float32', batch.exampleWeight, [b]),
          };
          return { feeds, session: await this.session('step', batch.seqLen) };
        }),
      weights: async () => weightsOf(stepper),
      state: async () => stateOf(stepper),
      loadState: async (state, step) => loadStateInto(stepper, state, step),
      dispose: async () => undefined, // its sessions belong to the head
    };
  }

  async predict(params: ReadonlyMap<string, Float32Array>, batch: ValueBatch): Promise<Float32Array> {
    const session = await this.session('predict', batch.seqLen);
    const res = await session.run({ ...this.paramFeeds(params), ...this.batchFeeds(batch) });
    return res.z.data as Float32Array;
  }

  dispose(): Promise<void> {
    return this.sessions.dispose();
  }
}
