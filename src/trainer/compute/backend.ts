// The compute-backend seam: everything the pipeline asks of a model goes through a ComputeBackend —
// token log-probs of rows, prompt hidden states, the value head's steps and predictions, training
// steps of a policy on batches the pipeline assembles, generation, and the weights and optimizer state
// of what it trains (for checkpoints). Batches go in as plain typed arrays, numbers come out; nothing
// here is an ONNX Runtime type, so a PyTorch worker, LoRA, other model families and GPU providers can
// sit behind the same interface. compute/ort/ is the built-in ONNX Runtime implementation.
// Data, splits, rewards, caches, events and the run folder stay outside: the pipeline owns them.
//
// Letters: B rows of a batch, T padded positions, C hidden size.

import type { AdamWConfig } from '../graph/optim.js';
import type { LossSettings } from '../alol/losses.js';
import type { Variant } from '../alol/rules.js';
import type { ModelConfig } from '../model/config.js';
import type { LoraSpec } from '../model/lora.js';
import type { ValueHeadConfig } from '../value/head.js';

/** A model as the pipeline holds it: its shape and its named parameters (Hugging Face names). */
export interface ModelWeights {
  readonly config: ModelConfig;
  readonly params: ReadonlyMap<string, Float32Array>;
}

/** A row as token ids: the prompt, then the response (what is scored or trained). */
export interface TokenRow {
  readonly prompt: readonly number[];
  readonly response: readonly number[];
}

/** Log-probs of one row's response tokens (natural log). */
export interface RowLogprobs {
  /** Sum over the response tokens. */
  logprob: number;
  /** Response tokens scored (EOS included when added). */
  tokens: number;
  tokenLogprobs: Float32Array;
  /** Prompt tokens dropped from the left to fit the model's positions. */
  truncatedPromptTokens: number;
}

export interface LogprobRequest {
  /** Rows per forward pass. */
  batchSize: number;
  /** Appends EOS to every response (training responses already end with it). */
  addEos: boolean;
  eosTokenId: number | null;
  onProgress?: (done: number, total: number) => void;
}

/** A padded token batch [B, T]: position t reads ids[t] and is scored on targets[t] where mask is 1. */
export interface TokenBatch {
  readonly rows: number;
  readonly seqLen: number;
  readonly ids: BigInt64Array; // [B, T]
  readonly targets: BigInt64Array; // [B, T]
  readonly mask: Float32Array; // [B, T], 1 on response positions
}

/** A training batch: the token batch and what the objective reads beside it. */
export interface TrainBatch extends TokenBatch {
  /** NLL objective: per-row weight [B] (loss = -(1/B) sum_b w_b sum_t mask * log p). */
  readonly exampleWeight?: Float32Array;
  /** A-LoL objectives: the reference's per-token log-probs [B, T] and the per-row factor [B]. */
  readonly refTokenLogp?: Float32Array;
  readonly coef?: Float32Array;
  /** kto: the mismatched rows (each prompt with another row's response) and their reference log-probs [B]. */
  readonly klBatch?: TokenBatch;
  readonly klRefLogp?: Float32Array;
  /** Other float inputs of a baseline's loss by graph input name (pro: pro_after, pro_temp [B, B]). */
  readonly extraFeeds?: Readonly<Record<string, { data: Float32Array; dims: number[] }>>;
}

/** What a policy is trained on: weighted NLL (pretraining, SFT) or the loss of an A-LoL variant. */
export type Objective = { kind: 'nll' } | { kind: 'variant'; variant: Variant; settings: LossSettings };

/** LoRA training: adapters on a frozen base. */
export interface LoraTraining {
  spec: LoraSpec;
  /** The adapters' starting A and B (model/lora.ts names). */
  init: ReadonlyMap<string, Float32Array>;
  /** Seeds the dropout masks (each update and micro-batch draws its own, reproducibly). */
  seed: number;
}

export interface PolicyTrainerSpec {
  objective: Objective;
  /** Rows of every batch (graphs have static shapes). */
  rows: number;
  adamw: AdamWConfig;
  /**
   * Train LoRA adapters instead of every weight: the model's weights are then read as they are (never
   * copied nor changed) and the trainer's weights(), state() and loadState() hold the adapters only.
   */
  lora?: LoraTraining;
  /**
   * Single updates compute the token-wise ops (norms, projections, MLP, head) on each row's tokens up to its last
   * response position only, not on the padding (ORT engine, CPU and CUDA; model/pack.ts): the same numbers to
   * rounding, less work. Off by default; the pipeline turns it on unless several steps run per call (a Loop graph
   * does not pack, and a run keeps one kind of step graph so its updates stay comparable bit for bit).
   */
  packRows?: boolean;
}

/** One optimizer update's numbers. */
export interface StepStats {
  /** Mean of the micro-batches' losses (before the update). */
  loss: number;
  /** 0 for an update skipped by float16 loss scaling (extra.grad_finite 0: a gradient overflowed). */
  gradNorm: number;
  /** Other scalars the objective reports (A-LoL: mean_weight, clip_fraction; float16: loss_scale, grad_finite,
   * skipped_updates). */
  extra: Record<string, number>;
}

/** Weights and AdamW moments (named adam.m.<param> / adam.v.<param>), as a checkpoint holds them. */
export interface TrainerState {
  params: Map<string, Float32Array>;
  optimizer: Map<string, Float32Array>;
}

/** A model being trained: it holds the weights and optimizer state between updates. */
export interface Trainer<B> {
  /** Optimizer updates applied so far. */
  readonly step: number;
  /** One optimizer update over the micro-batches (gradients accumulated when there are several). */
  update(micro: readonly B[], lr: number): Promise<StepStats>;
  /**
   * K updates, one per entry of `steps` with lrs[k], in one runtime call where the backend can (ONNX Runtime: a Loop
   * graph; weights and optimizer state cross to the device once per K updates). Equal to K update() calls.
   */
  updateMany?(steps: readonly (readonly B[])[], lrs: readonly number[]): Promise<StepStats[]>;
  /** A copy of the current weights (async: a worker backend fetches them). */
  weights(): Promise<Map<string, Float32Array>>;
  /** A copy of the weights and optimizer state. */
  state(): Promise<TrainerState>;
  /** Continues from a state saved by state(), after `step` updates. */
  loadState(state: TrainerState, step: number): Promise<void>;
  /** Frees what the trainer holds (sessions, device memory); it cannot be used after. */
  dispose(): Promise<void>;
}

export interface PolicyTrainer extends Trainer<TrainBatch> {
  /** Per-token [B, T] (0 where mask is 0) and per-row [B] log-probs under the current weights. */
  logprobs(batch: TokenBatch): Promise<{ token: Float32Array; seq: Float32Array }>;
}

/** Prompt hidden states padded to [B, T, C] for the value head; mask [B, T] marks real positions. */
export interface ValueBatch {
  readonly rows: number;
  readonly seqLen: number;
  readonly hidden: Float32Array; // [B, T, C]
  readonly mask: Float32Array; // [B, T]
}

export interface ValueTrainBatch extends ValueBatch {
  readonly dropoutKeep: Float32Array; // [B, C]: 0 or 1/(1-p)
  readonly target: Float32Array; // [B]
  readonly exampleWeight: Float32Array; // [B]: 1/n on n real rows, 0 on padding rows
}

/** The value head of one shape ([B] rows of hidden size C): its training and its predictions. */
export interface ValueHeadCompute {
  /** A trainer of the head from these parameters (value/head.ts names, VALUE_ADAMW). */
  trainer(init: ReadonlyMap<string, Float32Array>): Trainer<ValueTrainBatch>;
  /** z per row [B] (V = r_min + (r_max - r_min) * sigmoid(z)). */
  predict(params: ReadonlyMap<string, Float32Array>, batch: ValueBatch): Promise<Float32Array>;
  dispose(): Promise<void>;
}

export interface GenerationRequest {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP?: number;
  seed?: number;
  /** A generation ends at the first of these strings. */
  stop?: readonly string[];
}

export interface GeneratedText {
  /** New tokens (EOS and tokens past a stop string excluded). */
  tokens: number[];
  text: string;
  finishReason: 'eos' | 'stop' | 'length';
}

/** Turns token ids back into text (the model's tokenizer). */
export interface Detokenizer {
  decode(ids: readonly number[]): string;
  /** The text ids add after a prompt (a SentencePiece-style tokenizer keeps the leading space); decode when absent. */
  decodeContinuation?(ids: readonly number[]): string;
  /** An empty prompt starts from it; a generation ends at it. */
  readonly eosTokenId: number | null;
  /** Every id that ends a generation (generation_config.json's eos_token_id list); [eosTokenId] when absent. */
  readonly eosTokenIds?: readonly number[];
}

export interface TextGenerator {
  /** Continues each prompt (token ids; an empty prompt starts from EOS). */
  generate(prompts: readonly (readonly number[])[], request: GenerationRequest): Promise<GeneratedText[]>;
  dispose(): Promise<void>;
}

export interface ComputeBackend {
  /** For logs, e.g. "onnxruntime (cpu)". */
  readonly name: string;
  /**
   * What computes log-probs (engine, provider, graph revision), for caches of them: the reference log-probs of a
   * run's cache are reused only by the same computation, since A-LoL's importance weights are exactly 1 at step 0
   * only when the policy's log-probs come from the very graph that made them. Absent: `name`.
   */
  readonly logprobsKey?: string;
  /** Log-probs of each row's response given its prompt, in row order. */
  tokenLogprobs(model: ModelWeights, rows: readonly TokenRow[], request: LogprobRequest): Promise<RowLogprobs[]>;
  /** Last-layer hidden states [T_i, C] of each prompt, batched in the order given. */
  promptHidden(model: ModelWeights, prompts: readonly (readonly number[])[], batchSize: number): Promise<Float32Array[]>;
  /** A trainer of `model` (its weights are copied, or with LoRA shared and frozen) on the given objective. */
  policyTrainer(model: ModelWeights, spec: PolicyTrainerSpec): PolicyTrainer;
  /**
   * A trainer that computes beside the calling thread (a thread of its own, on `threads` intra-op threads), so
   * several can train at once (an experiment's variants, train.parallelVariants); the same numbers as
   * policyTrainer's. Absent where the backend cannot.
   */
  readonly parallelPolicyTrainer?: (model: ModelWeights, spec: PolicyTrainerSpec, threads: number) => PolicyTrainer;
  /** The value head of this shape, for fitting and prediction. */
  valueHead(cfg: ValueHeadConfig, rows: number): ValueHeadCompute;
  /** A generator of text by `model`. */
  generator(model: ModelWeights, detokenizer: Detokenizer): TextGenerator;
  /** Frees everything the backend holds (all its sessions, together). */
  release(): Promise<void>;
  /**
   * Starts what the backend runs on (the torch backend's worker) and says where it computes; a run calls it first,
   * so a missing interpreter or package fails the run before any data is read. Absent: nothing to start.
   */
  prepare?(): Promise<string>;
}
