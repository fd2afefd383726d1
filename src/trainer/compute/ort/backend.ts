// The ONNX Runtime compute backend: the GPT and value-head graphs of this repository run by
// onnxruntime-node on the run's execution provider. Every session comes from one SessionPool, keyed by
// graph, model shape and batch shape (so the reference and every trained policy share the scoring and
// generation sessions of one shape); a trainer or a phase drops what only it uses when it is done, and
// release() frees the rest together at the end of the run.

import type { ComputeType } from '../../graph/ir.js';
import { serialize } from '../../graph/onnx.js';
import { Generator } from '../../model/generate.js';
import { buildHiddenGraph } from '../../model/gpt-graphs.js';
import { LogprobScorer } from '../../model/logprobs.js';
import { paramFeeds } from '../../model/family.js';
import { type PoolOptions, SessionPool } from '../../runtime/pool.js';
import { checkPrecision } from '../../runtime/device.js';
import { type Provider, tensor } from '../../runtime/session.js';
import { bucketLength } from '../../alol/batch.js';
import type { ValueHeadConfig } from '../../value/head.js';
import type {
  ComputeBackend,
  Detokenizer,
  LogprobRequest,
  ModelWeights,
  PolicyTrainer,
  PolicyTrainerSpec,
  RowLogprobs,
  TextGenerator,
  TokenRow,
  ValueHeadCompute,
} from '../backend.js';
import { modelKey } from './state.js';
import { ThreadPolicyTrainer } from './thread-trainer.js';
import { OrtPolicyTrainer } from './trainers.js';
import { OrtValueHead } from './value-head.js';

/** Bumped when the log-prob graph's numerics change (r2: FastGelu; LogSoftmax composed on WebGPU), so caches recompute. */
const LOGPROB_GRAPH_REVISION = 'r2';

/** ComputeBackend.logprobsKey of this backend on `provider`. */
export const ortLogprobsKey = (provider: Provider = 'cpu'): string => `onnxruntime ${provider} ${LOGPROB_GRAPH_REVISION}`;

export class OrtBackend implements ComputeBackend {
  readonly name: string;
  readonly logprobsKey: string;
  readonly pool: SessionPool;
  readonly parallelPolicyTrainer?: (model: ModelWeights, spec: PolicyTrainerSpec, threads: number) => PolicyTrainer;

  /**
   * `precision`: what the policy trainers' step graphs compute their MatMuls in (float32 weights and AdamW either
   * way); throws before any compute when the provider cannot (runtime/device.ts checkPrecision). Scoring, the
   * no-grad passes and generation stay float32.
   */
  constructor(
    readonly options: PoolOptions,
    readonly precision: ComputeType = 'float32',
  ) {
    checkPrecision(precision, options.provider ?? 'cpu');
    this.pool = new SessionPool(options);
    this.name = `onnxruntime (${options.provider ?? 'cpu'}${precision === 'float32' ? '' : `, ${precision}`})`;
    this.logprobsKey = ortLogprobsKey(options.provider);
    // On the CPU provider in float32: trainers in worker threads with sessions of their own (thread-trainer.ts). Not on
    // a GPU provider: one device, which trainers do not gain from sharing.
    if ((options.provider ?? 'cpu') === 'cpu' && precision === 'float32') {
      this.parallelPolicyTrainer = (model, spec, threads) =>
        // the weights alone cross (a Policy also holds its tokenizer, which has functions)
        new ThreadPolicyTrainer({ options: { ...options, threads }, precision, model: { config: model.config, params: model.params },
          spec });
    }
  }

  async tokenLogprobs(model: ModelWeights, rows: readonly TokenRow[], request: LogprobRequest): Promise<RowLogprobs[]> {
    const scorer = new LogprobScorer(model.config, model.params, { pool: this.pool });
    try {
      return await scorer.score(rows, { ...request, ...this.options });
    } finally {
      await scorer.dispose();
    }
  }

  async promptHidden(model: ModelWeights, prompts: readonly (readonly number[])[], batchSize: number): Promise<Float32Array[]> {
    const cfg = model.config;
    const c = cfg.nEmbd;
    const feeds = paramFeeds(cfg, model.params, 'hidden states');
    const used = new Set<string>();
    const out: Float32Array[] = [];
    try {
      for (let k = 0; k < prompts.length; k += batchSize) {
        const batch = prompts.slice(k, k + batchSize);
        const b = batch.length;
        const t = bucketLength(Math.max(...batch.map((p) => p.length)), cfg.nPositions);
        const key = `gpt_hidden:${modelKey(cfg)}:${b}x${t}`;
        used.add(key);
        const session = await this.pool.get(key, () => serialize(buildHiddenGraph(cfg, { batch: b, seqLen: t })));
        const ids = new BigInt64Array(b * t);
        batch.forEach((p, r) => p.forEach((id, j) => (ids[r * t + j] = BigInt(id))));
        const hidden = (await session.run({ ...feeds, ids: tensor('int64', ids, [b, t]) })).hidden.data as Float32Array; // [B, T, C]
        // right padding: a prompt's real positions come first
        batch.forEach((p, r) => out.push(hidden.slice(r * t * c, (r * t + p.length) * c)));
      }
    } finally {
      for (const key of used) await this.pool.drop(key);
    }
    return out;
  }

  policyTrainer(model: ModelWeights, spec: PolicyTrainerSpec): PolicyTrainer {
    return new OrtPolicyTrainer(this.pool, model, spec, this.precision);
  }

  valueHead(cfg: ValueHeadConfig, rows: number): ValueHeadCompute {
    return new OrtValueHead(this.pool, cfg, rows);
  }

  generator(model: ModelWeights, detokenizer: Detokenizer): TextGenerator {
    const gen = new Generator(model.config, model.params, detokenizer, { pool: this.pool });
    return { generate: (prompts, request) => gen.generate(prompts, request), dispose: () => gen.dispose() };
  }

  release(): Promise<void> {
    return this.pool.release();
  }
}
