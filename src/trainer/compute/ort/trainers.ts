// The policy trainer of the ONNX Runtime backend: a Stepper (runtime/stepper.ts: weights and AdamW state as
// typed arrays, double-buffered; on WebGPU runtime/device-stepper.ts, on the device) stepped by step graphs from
// the pool — one per mode and padded length, or K steps in one Loop graph (updateMany). It runs weighted NLL
// (pretraining, SFT) or an A-LoL variant's loss (alol/losses.ts). The value head is value-head.ts.

import type { ComputeType, Graph } from '../../graph/ir.js';
import { type LoopPass, buildLoopGraph } from '../../graph/loop.js';
import { serialize } from '../../graph/onnx.js';
import type { StepMode } from '../../graph/optim.js';
import { buildAlolStepGraph, needsPolicyLogprobs } from '../../alol/losses.js';
import type { ModelConfig } from '../../model/config.js';
import { type BatchShape, LORA_SEED, buildLogprobGraph, buildStepGraph } from '../../model/gpt-graphs.js';
import { PACK_INDEX, packIndexOf } from '../../model/pack.js';
import { paramFeeds, paramInfos } from '../../model/family.js';
import { loraParamInfos } from '../../model/lora.js';
import type { SessionPool } from '../../runtime/pool.js';
import { type OrtTensor, type Session, disposeTensor, tensor } from '../../runtime/session.js';
import { Stepper } from '../../runtime/stepper.js';
import { DeviceStepper, stateOutputs } from '../../runtime/device-stepper.js';
import { padBatch, stackFeeds } from './stack.js';
import type { ModelWeights, PolicyTrainer, PolicyTrainerSpec, StepStats, TokenBatch, TrainerState, TrainBatch } from '../backend.js';
import { type AnyStepper, Sessions, accumulateThenUpdate, loadStateInto, modelKey, stateOf, weightsOf } from './state.js';

/** Prefix of kto's mismatched-rows token inputs in a loop graph (kl_ids, kl_targets, kl_mask). */
const KL = 'kl_';

/** The dropout seed of one micro-batch: a function of the run's seed, the update and the micro-batch. */
const dropoutSeed = (seed: number, step: number, micro: number): bigint =>
  BigInt(seed) * 1000003n + BigInt(step) * 1024n + BigInt(micro);

export class OrtPolicyTrainer implements PolicyTrainer {
  private readonly stepper: AnyStepper;
  private readonly sessions: Sessions;
  private readonly cfg: ModelConfig;
  /** With LoRA: the base weights, fed to every graph as they are (frozen, not copied; on WebGPU uploaded once). */
  private frozen: Record<string, OrtTensor>;
  private frozenOnDevice: Promise<void> | null = null;
  /** Outputs of the no-grad passes of the update under way (device tensors on WebGPU), freed when it ends. */
  private readonly transient: OrtTensor[] = [];
  private micro = 0;
  /** WebGPU: device-resident state, and graphs without LogSoftmax (the provider has no kernel for it). */
  private readonly webgpu: boolean;
  /** Single-step graphs compute token-wise ops on the real tokens only (model/pack.ts; PolicyTrainerSpec.packRows). */
  private readonly packs: boolean;

  constructor(
    pool: SessionPool,
    model: ModelWeights,
    private readonly spec: PolicyTrainerSpec,
    /** Mixed precision of the step graphs (the no-grad log-prob passes stay float32, as the reference's were). */
    private readonly precision: ComputeType = 'float32',
  ) {
    this.cfg = model.config;
    this.sessions = new Sessions(pool, 'trainer');
    const lora = spec.lora;
    const infos = lora ? loraParamInfos(this.cfg, lora.spec) : paramInfos(this.cfg);
    const from = lora ? lora.init : model.params;
    this.frozen = lora ? paramFeeds(this.cfg, model.params, 'LoRA base') : {};
    const initial = infos.map((p) => {
      const d = from.get(p.name);
      if (!d) throw new Error(`initial ${lora ? 'adapter ' : ''}parameters lack ${p.name}`);
      return { name: p.name, shape: p.shape, data: d.slice() };
    });
    // On WebGPU the weights and AdamW state stay on the device between steps (runtime/device-stepper.ts).
    this.webgpu = pool.options.provider === 'webgpu';
    // not on WebGPU (its embedding gradient is a one-hot product, and packing's scatter is untested there), nor with
    // LoRA dropout (its masks hash the [B, T] element index)
    this.packs = spec.packRows === true && !this.webgpu && !(lora && lora.spec.dropout > 0);
    this.stepper = this.webgpu
      ? new DeviceStepper('float32', initial, (key, build, extra) => this.sessions.get(key, build, extra))
      : new Stepper('float32', initial);
  }

  /** Host<->device bytes of the trainer's runs so far (WebGPU: the device-resident stepper counts them); null on the host. */
  get traffic(): DeviceStepper['traffic'] | null {
    return this.stepper instanceof DeviceStepper ? this.stepper.traffic : null;
  }

  /** Part of every graph key: what the trainer trains (all weights, or which adapters). */
  private get loraKey(): string {
    const l = this.spec.lora?.spec;
    return l ? `:lora${l.r},${l.alpha},${l.dropout}:${l.modules.join(',')}` : '';
  }

  get step(): number {
    return this.stepper.step;
  }

  /** The pool key of the step graph of `mode` for [B, T] batches (without what the runtime adds, e.g. ':device'). */
  private stepKey(mode: StepMode, t: number, packed = false): string {
    const { objective, rows: b, adamw } = this.spec;
    const what = objective.kind === 'nll' ? 'gpt_step' : `alol_${objective.variant}_step`;
    const settings = objective.kind === 'nll' ? '' : `:${JSON.stringify(objective.settings)}`;
    const prec = this.precision === 'float32' ? '' : `:${this.precision}`;
    const pk = packed ? ':packed' : '';
    return `${what}_${mode}:${modelKey(this.cfg)}:${b}x${t}${settings}:${JSON.stringify(adamw)}${this.loraKey}${prec}${pk}`;
  }

  private stepGraph(mode: StepMode, t: number, packed = false): Graph {
    const { objective, rows: b, adamw } = this.spec;
    const lora = this.spec.lora?.spec;
    const compute = this.precision;
    return objective.kind === 'nll'
      ? buildStepGraph(this.cfg, { batch: b, seqLen: t }, { mode, adamw, lora, composedLogSoftmax: this.webgpu, compute, packed })
      : buildAlolStepGraph(this.cfg, b, t, {
        variant: objective.variant, settings: objective.settings, mode, adamw, lora, composedLogSoftmax: this.webgpu, compute, packed,
      });
  }

  private stepSession(mode: StepMode, t: number, packed = false): Promise<Session> {
    const device = this.webgpu ? { deviceOutputs: stateOutputs(this.stepper.paramNames, mode) } : undefined;
    const key = `${this.stepKey(mode, t, packed)}${device ? ':device' : ''}`;
    return this.sessions.get(key, () => serialize(this.stepGraph(mode, t, packed)), device);
  }

  /**
   * A packed step's `pack_index`: each row's positions up to its last response position (mask 1) — all the loss reads
   * (causal: a position never sees a later one). Null when packing is off or would drop no position.
   */
  private packIndex(batch: TokenBatch): OrtTensor | null {
    if (!this.packs) return null;
    const [b, t] = [batch.rows, batch.seqLen];
    const lengths = Array.from({ length: b }, (_, r) => {
      for (let j = t - 1; j >= 0; j--) if (batch.mask[r * t + j] !== 0) return j + 1;
      return 0;
    });
    if (lengths.every((l) => l === t)) return null;
    const index = packIndexOf(lengths, t);
    return tensor('int64', index, [index.length]);
  }

  /**
   * K update steps in one run (graph/loop.ts), on the host stepper: the no-grad log-prob graph the single step runs
   * first is inlined into the loop body before the step (same graph, same numbers); LoRA's frozen base is fed once.
   */
  private loopSession(k: number, t: number, kl: { rows: number; seqLen: number } | null): Promise<Session> {
    const { objective, rows: b } = this.spec;
    const klKey = kl ? `:kl${kl.rows}x${kl.seqLen}` : '';
    return this.sessions.get(`${this.stepKey('update', t)}:loop${k}${klKey}`, () => {
      const logprobs = (shape: BatchShape) => buildLogprobGraph(this.cfg, shape, { lora: this.spec.lora?.spec });
      const passes: LoopPass[] = [];
      if (objective.kind === 'variant' && needsPolicyLogprobs(objective.variant)) {
        passes.push({ graph: logprobs({ batch: b, seqLen: t }), feeds: { policy_token_logp: 'token_logprob' } });
      }
      if (kl) {
        // kto's z0: the mismatched rows' log-probs under the current policy, fed as kl_ids, kl_targets, kl_mask
        const inputs = { ids: `${KL}ids`, targets: `${KL}targets`, mask: `${KL}mask` };
        passes.push({ graph: logprobs({ batch: kl.rows, seqLen: kl.seqLen }), inputs, feeds: { kl_logp: 'seq_logprob' } });
      }
      return serialize(buildLoopGraph(this.stepGraph('update', t), { steps: k, shared: Object.keys(this.frozen), passes }));
    });
  }

  /**
   * The no-grad log-prob graph. It runs once before each step graph run (importance weights, kto's z0), so its
   * threads do not spin after it: they would take a core from the step (SessionOptions.spinning).
   */
  private logprobSession(b: number, t: number, inStep = false): Promise<Session> {
    // inside a step on WebGPU, the per-token log-probs stay on the device for the step graph that reads them
    const device = inStep && this.webgpu;
    return this.sessions.get(
      `gpt_logprobs:${modelKey(this.cfg)}:${b}x${t}${this.loraKey}:nospin${device ? ':device' : ''}`,
      () => serialize(
        buildLogprobGraph(this.cfg, { batch: b, seqLen: t }, { lora: this.spec.lora?.spec, composedLogSoftmax: this.webgpu }),
      ),
      { spinning: false, ...(device ? { deviceOutputs: ['token_logprob'] } : {}) },
    );
  }

  /** A no-grad pass inside a step: counted in the device stepper's traffic; device outputs freed after the update. */
  private async passInStep(b: number, t: number, feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> {
    const out = await (await this.logprobSession(b, t, true)).run(feeds);
    if (this.stepper instanceof DeviceStepper) this.stepper.count(feeds, out);
    for (const x of Object.values(out)) this.transient.push(x);
    return out;
  }

  /** The weights every graph reads: the trained parameters, and with LoRA the frozen base beside them. */
  private weightFeeds(): Record<string, OrtTensor> {
    return { ...this.frozen, ...this.stepper.paramFeeds() };
  }

  private tokenFeeds(batch: TokenBatch): Record<string, OrtTensor> {
    const dims = [batch.rows, batch.seqLen];
    return {
      ids: tensor('int64', batch.ids, dims),
      targets: tensor('int64', batch.targets, dims),
      mask: tensor('float32', batch.mask, dims),
    };
  }

  /** WebGPU with LoRA: the frozen base goes to the device once, before the first run that reads it. */
  private baseOnDevice(): Promise<void> {
    const stepper = this.stepper;
    if (!(stepper instanceof DeviceStepper) || Object.keys(this.frozen).length === 0) return Promise.resolve();
    this.frozenOnDevice ??= stepper.upload(this.frozen).then((onDevice) => void (this.frozen = onDevice));
    return this.frozenOnDevice;
  }

  async logprobs(batch: TokenBatch): Promise<{ token: Float32Array; seq: Float32Array }> {
    await this.baseOnDevice();
    const session = await this.logprobSession(batch.rows, batch.seqLen);
    const out = await session.run({ ...this.weightFeeds(), ...this.tokenFeeds(batch) });
    return { token: out.token_logprob.data as Float32Array, seq: out.seq_logprob.data as Float32Array };
  }

  /**
   * A micro-batch's own feeds, computed on the host: tokens, the objective's per-row inputs and LoRA's dropout seed
   * (`update` and `micro` number it); not the frozen base nor what a no-grad pass computes.
   */
  private hostFeeds(batch: TrainBatch, update: number, micro: number): Record<string, OrtTensor> {
    const [b, t] = [batch.rows, batch.seqLen];
    const feeds: Record<string, OrtTensor> = this.tokenFeeds(batch);
    const { objective, lora } = this.spec;
    if (lora && lora.spec.dropout > 0) feeds[LORA_SEED] = tensor('int64', BigInt64Array.of(dropoutSeed(lora.seed, update, micro)), []);
    const need = (x: Float32Array | undefined, name: string): Float32Array => {
      if (!x) throw new Error(`trainer: the batch lacks ${name}`);
      return x;
    };
    if (objective.kind === 'nll') return { ...feeds, example_weight: tensor('float32', need(batch.exampleWeight, 'exampleWeight'), [b]) };
    feeds.ref_token_logp = tensor('float32', need(batch.refTokenLogp, 'refTokenLogp'), [b, t]);
    feeds.coef = tensor('float32', need(batch.coef, 'coef'), [b]);
    if (objective.variant === 'kto') feeds.kl_ref_logp = tensor('float32', need(batch.klRefLogp, 'klRefLogp'), [b]);
    for (const [name, x] of Object.entries(batch.extraFeeds ?? {})) feeds[name] = tensor('float32', x.data, x.dims);
    return feeds;
  }

  /** The feeds of one micro-batch; A-LoL's importance weights read the policy's log-probs from a no-grad pass. */
  private async feeds(batch: TrainBatch): Promise<Record<string, OrtTensor>> {
    const [b, t] = [batch.rows, batch.seqLen];
    const feeds: Record<string, OrtTensor> = { ...this.frozen, ...this.hostFeeds(batch, this.stepper.step, this.micro++) };
    const { objective } = this.spec;
    if (objective.kind === 'nll') return feeds;
    const extra: Record<string, OrtTensor> = {};
    if (needsPolicyLogprobs(objective.variant)) {
      // the inference graph that produced the reference log-probs (see losses.ts): every weight is 1 at step 0
      const out = await this.passInStep(b, t, { ...this.weightFeeds(), ...this.tokenFeeds(batch) });
      extra.policy_token_logp = out.token_logprob;
    }
    if (objective.variant === 'kto') {
      // z0's mismatched rows under the current policy, no gradient (their reference log-probs come with the batch)
      const kl = batch.klBatch;
      if (!kl) throw new Error('trainer: the kto batch lacks klBatch');
      const out = await this.passInStep(kl.rows, kl.seqLen, { ...this.weightFeeds(), ...this.tokenFeeds(kl) });
      extra.kl_logp = out.seq_logprob;
    }
    return { ...feeds, ...extra };
  }

  async update(micro: readonly TrainBatch[], lr: number): Promise<StepStats> {
    await this.baseOnDevice();
    this.micro = 0;
    try {
      return await accumulateThenUpdate(this.stepper, micro, lr, async (batch, mode) => {
        const index = this.packIndex(batch);
        return {
          feeds: { ...(await this.feeds(batch)), ...(index ? { [PACK_INDEX]: index } : {}) },
          session: await this.stepSession(mode, batch.seqLen, index !== null),
        };
      });
    } finally {
      for (const x of this.transient.splice(0)) disposeTensor(x);
    }
  }

  /**
   * K updates, one micro-batch each, in one run of a Loop graph: the weights and AdamW state cross to the runtime
   * once and back once (what CUDA needs, where Node keeps no output on the device). The batches are padded to the
   * longest of them (kto's mismatched rows to theirs). Equal to K update() calls (test/unit/loop-steps.test.ts,
   * loop-trainer.test.ts). On WebGPU, whose state already stays
   * on the device, and for K = 1 it is K update() calls; so it is in float16, whose loss scale the host adjusts
   * after every step (runtime/loss-scale.ts), which a Loop of K steps cannot.
   */
  async updateMany(steps: readonly (readonly TrainBatch[])[], lrs: readonly number[]): Promise<StepStats[]> {
    if (steps.length !== lrs.length) throw new Error(`trainer.updateMany: ${steps.length} steps but ${lrs.length} learning rates`);
    const stepper = this.stepper;
    if (stepper instanceof DeviceStepper || steps.length <= 1 || this.precision === 'float16') {
      const stats: StepStats[] = [];
      for (const [k, micro] of steps.entries()) stats.push(await this.update(micro, lrs[k]));
      return stats;
    }
    steps.forEach((micro, k) => {
      if (micro.length !== 1) {
        throw new Error(
          `trainer.updateMany: step ${k} has ${micro.length} micro-batches; several steps per run take one each ` +
            '(hint: train.gradAccum 1, or train.stepsPerRun 1)',
        );
      }
    });
    const { objective } = this.spec;
    const t = Math.max(...steps.map((micro) => micro[0].seqLen));
    const kls = objective.kind === 'variant' && objective.variant === 'kto' ? steps.map((micro, k) => {
      if (!micro[0].klBatch) throw new Error(`trainer.updateMany: the kto batch of step ${k} lacks klBatch`);
      return micro[0].klBatch;
    }) : null;
    const klLen = kls ? Math.max(...kls.map((kl) => kl.seqLen)) : 0;
    const feeds = steps.map((micro, k) => {
      const own = this.hostFeeds(padBatch(micro[0], t), stepper.step + k, 0);
      if (!kls) return own;
      const kl = Object.entries(this.tokenFeeds(padBatch(kls[k], klLen))).map(([name, x]) => [`${KL}${name}`, x]);
      return { ...own, ...Object.fromEntries(kl) };
    });
    const session = await this.loopSession(steps.length, t, kls ? { rows: kls[0].rows, seqLen: klLen } : null);
    const stats = await stepper.updateMany(session, stackFeeds(feeds), lrs, this.frozen);
    return stats.map((s) => ({ loss: s.loss, gradNorm: s.gradNorm, extra: s.extra }));
  }

  weights(): Promise<Map<string, Float32Array>> {
    return weightsOf(this.stepper);
  }

  async state(): Promise<TrainerState> {
    return stateOf(this.stepper);
  }

  async loadState(state: TrainerState, step: number): Promise<void> {
    loadStateInto(this.stepper, state, step);
  }

  async dispose(): Promise<void> {
    if (this.stepper instanceof DeviceStepper) {
      this.stepper.dispose();
      await this.frozenOnDevice?.catch(() => undefined);
      for (const t of Object.values(this.frozen)) disposeTensor(t);
    }
    return this.sessions.dispose();
  }
}
