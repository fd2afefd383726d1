// A fake ComputeBackend: deterministic numbers from the inputs alone, no ONNX Runtime. It records what
// the pipeline asked of it, so a test can drive the whole pipeline through the seam and check that
// everything a run needs from a model went through it.
import type {
  ComputeBackend,
  Detokenizer,
  GeneratedText,
  GenerationRequest,
  LogprobRequest,
  ModelWeights,
  PolicyTrainer,
  PolicyTrainerSpec,
  RowLogprobs,
  StepStats,
  TokenBatch,
  TokenRow,
  Trainer,
  TrainerState,
  TrainBatch,
  ValueBatch,
  ValueHeadCompute,
  ValueTrainBatch,
} from '../../src/trainer/compute/backend.js';
import type { ValueHeadConfig } from '../../src/trainer/value/head.js';

/** The fake's log-prob of a response token: depends on the token and the prompt's length only. */
export const fakeTokenLogprob = (token: number, promptLength: number): number => -(1 + ((token + promptLength) % 5)) / 10;
/** The fake's loss after update `step` (1-based). */
export const fakeLoss = (step: number): number => 1 / step;

const copyMap = (m: ReadonlyMap<string, Float32Array>) => new Map([...m].map(([k, v]) => [k, Float32Array.from(v)]));

/** A trainer whose every update adds lr to every weight and reports fakeLoss(step). */
class FakeTrainer<B> implements Trainer<B> {
  step = 0;
  protected params: Map<string, Float32Array>;
  private optimizer = new Map<string, Float32Array>();
  readonly batchesSeen: B[][] = [];

  constructor(
    init: ReadonlyMap<string, Float32Array>,
    private readonly extra: Record<string, number>,
  ) {
    this.params = copyMap(init);
  }

  async update(micro: readonly B[], lr: number): Promise<StepStats> {
    this.batchesSeen.push([...micro]);
    this.step++;
    for (const v of this.params.values()) v.forEach((x, i) => (v[i] = x + lr));
    this.optimizer = new Map([...this.params].map(([k, v]) => [`adam.m.${k}`, new Float32Array(v.length).fill(this.step)]));
    return { loss: fakeLoss(this.step), gradNorm: 0.5, extra: { ...this.extra } };
  }

  async weights(): Promise<Map<string, Float32Array>> {
    return copyMap(this.params);
  }

  async state(): Promise<TrainerState> {
    return { params: copyMap(this.params), optimizer: copyMap(this.optimizer) };
  }

  async loadState(state: TrainerState, step: number): Promise<void> {
    this.params = copyMap(state.params);
    this.optimizer = copyMap(state.optimizer);
    this.step = step;
  }

  async dispose(): Promise<void> {}
}

class FakePolicyTrainer extends FakeTrainer<TrainBatch> implements PolicyTrainer {
  async logprobs(batch: TokenBatch): Promise<{ token: Float32Array; seq: Float32Array }> {
    const token = batch.mask.map((m) => -0.5 * m);
    const seq = Float32Array.from(
      { length: batch.rows },
      (_, r) => token.subarray(r * batch.seqLen, (r + 1) * batch.seqLen).reduce((a, x) => a + x, 0),
    );
    return { token, seq };
  }
}

export class FakeCompute implements ComputeBackend {
  readonly name = 'fake';
  readonly calls: string[] = [];
  readonly trainers: { spec: PolicyTrainerSpec; trainer: FakePolicyTrainer }[] = [];
  releases = 0;

  async tokenLogprobs(_model: ModelWeights, rows: readonly TokenRow[], request: LogprobRequest): Promise<RowLogprobs[]> {
    this.calls.push('tokenLogprobs');
    const out = rows.map((row) => {
      const response = request.addEos ? [...row.response, request.eosTokenId ?? 0] : [...row.response];
      const tokenLogprobs = Float32Array.from(response, (t) => fakeTokenLogprob(t, row.prompt.length));
      return { logprob: tokenLogprobs.reduce((a, x) => a + x, 0), tokens: response.length, tokenLogprobs, truncatedPromptTokens: 0 };
    });
    request.onProgress?.(rows.length, rows.length);
    return out;
  }

  async promptHidden(model: ModelWeights, prompts: readonly (readonly number[])[]): Promise<Float32Array[]> {
    this.calls.push('promptHidden');
    const c = model.config.nEmbd;
    return prompts.map((p) => Float32Array.from({ length: p.length * c }, (_, i) => Math.sin(0.1 * p[Math.floor(i / c)] + (i % c))));
  }

  policyTrainer(model: ModelWeights, spec: PolicyTrainerSpec): PolicyTrainer {
    this.calls.push(`policyTrainer:${spec.objective.kind === 'nll' ? 'nll' : spec.objective.variant}`);
    const extra: Record<string, number> = spec.objective.kind === 'nll' ? {} : { mean_weight: 1, clip_fraction: 0 };
    const trainer = new FakePolicyTrainer(model.params, extra);
    this.trainers.push({ spec, trainer });
    return trainer;
  }

  valueHead(cfg: ValueHeadConfig, rows: number): ValueHeadCompute {
    this.calls.push('valueHead');
    return {
      trainer: (init) => new FakeTrainer<ValueTrainBatch>(init, {}),
      predict: async (_params, batch: ValueBatch) => {
        const c = cfg.hiddenSize;
        // z from the first hidden value of each row: deterministic, and different across prompts
        return Float32Array.from({ length: rows }, (_, r) => batch.hidden[r * batch.seqLen * c]);
      },
      dispose: async () => undefined,
    };
  }

  generator(_model: ModelWeights, detokenizer: Detokenizer) {
    this.calls.push('generator');
    return {
      generate: async (prompts: readonly (readonly number[])[], request: GenerationRequest): Promise<GeneratedText[]> =>
        prompts.map((p, i) => {
          const tokens = Array.from(
            { length: Math.min(request.maxNewTokens, 1 + (p.length % 3)) },
            (_, j) => 97 + ((p.length + i * (request.seed ?? 0) + j) % 26),
          );
          return { tokens, text: ` ${detokenizer.decode(tokens)}`, finishReason: 'length' as const };
        }),
      dispose: async () => undefined,
    };
  }

  async release(): Promise<void> {
    this.releases++;
  }
}
