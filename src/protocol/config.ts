// The run config: one zod schema shared by the trainer, the extension and the webview. Every field
// has a default and a description, unknown keys are errors, and cross-field rules live in one place
// (the superRefine at the bottom). Pure: imports only zod. DESIGN.md "One run config" is the source.

import { z } from 'zod';
import { BackendSchema } from './backend.js';
import { BASELINE_VARIANTS, BaselineSettingsSchema } from './baselines.js';

export { BackendSchema } from './backend.js';

const int = (min: number) => z.number().int().min(min);
const range = z
  .tuple([z.number(), z.number()])
  .refine(([lo, hi]) => Number.isFinite(lo) && Number.isFinite(hi) && lo < hi, { message: 'range must be [lo, hi] with finite lo < hi' });

export const SplitSchema = z
  .strictObject({
    validation: z
      .number()
      .min(0)
      .max(1)
      .default(0.05)
      .describe('share of groups (prompts) in the validation split, for rows without a `split` field'),
    test: z.number().min(0).max(1).default(0.05).describe('share of groups (prompts) in the test split, for rows without a `split` field'),
    seed: int(0).default(0).describe('seed of the split assignment (a hash of seed and the row\'s group)'),
  })
  .refine((s) => s.validation + s.test < 1, { message: 'validation + test must leave rows for training (sum < 1)' });

export const PairsSchema = z
  .strictObject({
    from: z
      .enum(['best-worst', 'all'])
      .default('best-worst')
      .describe('best-worst: one pair per prompt, its highest- vs lowest-reward response; all: every two responses of different reward'),
    minMargin: z
      .number()
      .min(0)
      .default(0)
      .describe('a pair needs reward(chosen) - reward(rejected) >= this (and > 0: ties are never pairs)'),
  })
  .describe(
    'preference pairs from several scored responses per prompt (rows sharing a prompt, or {prompt, responses}): for dpo, and for ' +
      'the held-out preference accuracy; pair and HH records keep the pairs they state',
  );

export const DataSchema = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .default('data/train.jsonl')
      .describe('dataset file (.jsonl, HH .jsonl, optionally .gz), relative to the config file'),
    format: z.enum(['auto', 'jsonl', 'hh']).default('auto').describe('jsonl rows / pair rows, HH chosen-rejected transcripts, or detect'),
    split: SplitSchema.prefault({}).describe('seeded split fractions'),
    pairs: PairsSchema.prefault({}),
    maxPromptTokens: int(1).default(256).describe('prompts are left-truncated to this many tokens'),
    maxResponseTokens: int(1).default(128).describe('responses are right-truncated to this many tokens (EOS appended after)'),
    chatTemplate: z
      .boolean()
      .default(false)
      .describe(
        "format prompts with the model's chat template (chat_template.jinja or tokenizer_config.json's chat_template): " +
          'HH turns become user/assistant messages, any other prompt one user message; false: the prompt text as it is',
      ),
  })
  .describe('the dataset: which file, how it splits into train / validation / test, and how much of each row the model sees');

export const ModelInitSchema = z.strictObject({
  layers: int(1).default(4).describe('transformer blocks of the new GPT-2'),
  embd: int(8).default(256).describe('embedding width (n_embd); must be a multiple of `heads`'),
  heads: int(1).default(8).describe('attention heads per block'),
  positions: int(2).default(512).describe('longest sequence in tokens (n_positions): prompt + response, or prompt + generated tokens'),
});

export const ModelSchema = z
  .union([
    z.strictObject({
      path: z.string().min(1).describe('a Hugging Face model folder (GPT-2, Llama, Qwen2 or Mistral), relative to the config file'),
    }),
    z.strictObject({ init: ModelInitSchema.prefault({}).describe('a new randomly initialised GPT with a byte-level tokenizer') }),
  ])
  .default({ path: 'models/base' })
  .describe('the starting model: {path} of a model folder, or {init} for a new one; pi_ref is made from it (see `reference`)');

export const LoraSchema = z
  .strictObject({
    r: int(1).default(16).describe('rank of the adapters: A is [r, in], B is [out, r]'),
    alpha: z.number().positive().default(32).describe('the adapters\' output is scaled by alpha / r'),
    dropout: z.number().min(0).lt(1).default(0.05).describe('dropout on each adapted projection\'s input, in the adapter branch only'),
    targets: z
      .union([z.literal('all-linear'), z.array(z.string().min(1)).min(1)])
      .default('all-linear')
      .describe(
        'projections to adapt: Llama family q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj; GPT-2 c_attn, c_proj, ' +
          'c_fc; "all-linear": every projection but the LM head',
      ),
  })
  .describe('LoRA: train low-rank adapters on the frozen model (PEFT layout); pi_ref is the same weights with the adapters off');

export const ReferenceSchema = z
  .strictObject({
    path: z.string().min(1).nullable().default(null).describe('an existing SFT model folder used as pi_ref; then `model` is not used'),
    sft: z
      .strictObject({
        steps: int(0).default(2000).describe('NLL fine-tuning steps of `model` on the training split'),
        lr: z.number().positive().default(3e-4).describe('peak learning rate of the fine-tuning (AdamW, cosine schedule, short warmup)'),
        lora: LoraSchema.nullable()
          .default(null)
          .describe('fine-tune LoRA adapters and merge them into the model (null: every weight)'),
      })
      .nullable()
      .prefault({})
      .describe('with path null: pi_ref = model fine-tuned by NLL (null: the model as is)'),
  })
  .describe('pi_ref, the reference policy: importance weights divide by it, the value head reads it, training starts from a copy');

const componentBase = {
  name: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'names are letters, digits, _ . - (not starting with a digit)')
    .describe('the component\'s name in reports'),
  weight: z.number().finite().default(1).describe('weight in the total reward'),
};

export const BUILTIN_SCORERS = ['sentiment', 'toxicity', 'length', 'tfidf'] as const;

export const RewardComponentSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    ...componentBase,
    kind: z.literal('builtin').describe('a scorer that ships with A-LoL Studio'),
    scorer: z.enum(BUILTIN_SCORERS).describe('built-in scorer; each declares its range [0, 1]'),
    options: z.record(z.string(), z.unknown()).default({}).describe('scorer options, e.g. {target: 30} for length'),
  }),
  z.strictObject({
    ...componentBase,
    kind: z.literal('module').describe('your own JS/TS score function'),
    path: z.string().min(1).describe('a .js or .ts file exporting score(batch) -> number[] (default export or `score`)'),
    range: range.describe('declared [lo, hi] of the values it returns'),
    timeoutMs: int(1).nullable().default(2000).describe('a call running longer is terminated (null: no limit)'),
    export: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe('the exported score function to use (null: the default export, else `score`)'),
  }),
  z.strictObject({
    ...componentBase,
    kind: z.literal('field').describe('a number read from each row of the dataset'),
    field: z
      .string()
      .min(1)
      .describe(
        '`reward`, `rewards.<name>`, `label` (HH/pairs: chosen 1, rejected 0) or any numeric field of the row, e.g. an annotation ' +
          '`human_reward` or `human_label`',
      ),
    range: range.default([0, 1]).describe('declared [lo, hi] of the field'),
    default: z
      .number()
      .finite()
      .nullable()
      .default(null)
      .describe('the value of rows without the field (null: such a row is an error); annotations set on some rows need one'),
  }),
  z.strictObject({
    ...componentBase,
    kind: z.literal('onnx').describe('an ONNX text classifier'),
    path: z
      .string()
      .min(1)
      .describe('folder with model.onnx (input_ids, attention_mask -> logits), tokenizer.json, config.json (id2label)'),
    label: z.string().min(1).describe('the label whose softmax probability is the score'),
    input: z.enum(['response', 'prompt+response']).default('response').describe('the text the classifier reads'),
    batchSize: int(1).default(32).describe('texts per classifier call'),
  }),
]);

export const ValueSchema = z
  .strictObject({
    fitOn: z
      .enum(['validation', 'train'])
      .default('validation')
      .describe('validation: rewards of pi_ref greedy generations; train: out-of-fold on training rows'),
    heads: int(1)
      .default(8)
      .describe(
        'attention heads of the value head\'s one query over the prompt\'s hidden states (the model\'s head count when this one ' +
          'does not divide the width)',
      ),
    epochs: int(1).default(10).describe('passes over the fitting prompts; the epoch with the lowest held-out MSE is kept'),
    lr: z.number().positive().default(1e-3).describe('learning rate of the value head (AdamW); pi_ref stays frozen'),
    batchSize: int(1).default(16).describe('prompts per value-head step'),
    folds: int(2)
      .default(5)
      .describe('fitOn "train": k folds by group, so no row\'s V(x) comes from a head fitted on its prompt\'s rows'),
  })
  .describe('the value head V(x) that estimates the reward from the prompt alone; the advantage is A = R - V(x)');

export const VARIANTS = [
  'nll', 'wnll', 'r_gold', 'r_lol', 'a_lol', 'a_lol_ref_free', 'a_lol_seq', 'a_lol_kl', 'dpo', ...BASELINE_VARIANTS,
] as const;

export const TrainSchema = z
  .strictObject({
    variant: z
      .enum(VARIANTS)
      .default('a_lol')
      .describe(
        'the loss: nll, wnll (reward-weighted NLL), r_gold, r_lol (reward x clipped importance weight), a_lol (advantage x clipped ' +
          'sequence weight), a_lol_ref_free (no weight), a_lol_seq (per-token weights), a_lol_kl (plus a KL penalty), dpo (pairs); ' +
          'baselines: filtered_bc, rwr, awr, kto, qrpo, pro (settings in train.<name>)',
      ),
    variants: z
      .array(z.enum(VARIANTS))
      .min(1)
      .nullable()
      .default(null)
      .describe('several variants trained from one audit and one reference evaluation, in this order (null: `variant` alone)'),
    sampler: z
      .enum(['default', 'priority', 'uniform_positive', 'all'])
      .default('default')
      .describe(
        'which rows a batch draws: priority (with replacement, p proportional to A+ for A-LoL variants, to R for wnll / r_gold / ' +
          'r_lol), uniform_positive (rows with A > 0), all (shuffled epochs); default: all for nll, priority otherwise; ' +
          'dpo always draws pairs; the baselines (filtered_bc, rwr, awr, kto, qrpo, pro) always draw shuffled epochs of their units',
      ),
    clipEps: z.number().min(0).max(1).default(0.9).describe('importance weights are clipped to [1 - eps, 1 + eps]'),
    klBeta: z.number().min(0).default(0.1).describe('a_lol_kl: weight of the KL penalty (l_theta - l_ref) added to the loss'),
    dpoBeta: z
      .number()
      .positive()
      .default(0.1)
      .describe('dpo: beta, the inverse temperature of the implicit reward (higher: stay closer to pi_ref)'),
    steps: int(1)
      .default(2000)
      .describe('optimizer steps; A-LoL variants under priority / uniform_positive sampling train steps x the positive fraction #(A>0)/N'),
    batchSize: int(1).default(16).describe('rows per micro-batch (dpo: half as many pairs); also the batch of the reference fine-tuning'),
    gradAccum: int(1)
      .default(1)
      .describe('micro-batches whose gradients are summed per optimizer step (effective batch: batchSize x gradAccum)'),
    stepsPerRun: int(1)
      .default(1)
      .describe(
        'optimizer steps per ONNX Runtime call (built-in engine): K > 1 runs K steps in one Loop graph, so on CUDA the weights ' +
          'and AdamW state cross the bus once per K steps; needs gradAccum 1; runs end at evaluations and checkpoints',
      ),
    packRows: z
      .boolean()
      .default(true)
      .describe(
        'built-in engine on CPU or CUDA: each training step (reference fine-tuning and variants) runs norms, projections, ' +
          'the MLP and the head on each row\'s tokens only, not on the batch\'s padding — the same numbers up to float ' +
          'rounding, less work; not with stepsPerRun > 1 nor LoRA dropout; false reproduces a run made before bit for bit',
      ),
    parallelVariants: z
      .union([z.literal('auto'), int(1).max(8)])
      .default('auto')
      .describe(
        'variants of one run trained at the same time, each in a thread of its own on threads / N intra-op threads (built-in ' +
          'engine on CPU; elsewhere 1): the same numbers as one after another, sooner where one step does not use every ' +
          'thread well; auto: 2 for a model under 25M parameters with threads >= 2 (two one-thread trainers take about 1.25x ' +
          'the steps of one on two threads), else 1',
      ),
    lr: z.number().positive().default(2e-5).describe('peak learning rate (AdamW), reached after warmupSteps'),
    schedule: z
      .enum(['constant', 'linear', 'cosine'])
      .default('linear')
      .describe('learning rate after warmup over the (scaled) step budget: constant, linear decay to 0, or cosine decay to 0.1 x lr'),
    warmupSteps: int(0).default(0).describe('steps of linear warmup from 0 to lr (0: none)'),
    weightDecay: z.number().min(0).default(0.01).describe('AdamW decoupled weight decay'),
    gradClip: z.number().min(0).default(1.0).describe('the global gradient norm is clipped to this (0: no clipping)'),
    evalEvery: int(0)
      .default(200)
      .describe(
        'steps between validation evaluations, which choose the best checkpoint (0: none; the final weights are evaluated); ' +
          'scaled like steps',
      ),
    checkpointEvery: int(0).default(200).describe('steps between resumable checkpoints (0: only the final one)'),
    seed: int(0).default(0).describe('seed of the sampler, new weights, the reference fine-tuning, the value head and sampled evaluation'),
    ...BaselineSettingsSchema,
    lora: LoraSchema.nullable()
      .default(null)
      .describe('train LoRA adapters on pi_ref instead of every weight (null: full fine-tuning); checkpoints then hold the adapters'),
  })
  .describe('training a policy from a copy of pi_ref');

export const EvalSchema = z
  .strictObject({
    maxNewTokens: int(1).default(64).describe('tokens generated per prompt at most (generation also stops at EOS)'),
    maxPrompts: int(1).default(200).describe('distinct prompts of the split evaluated at most (the first ones, in dataset order)'),
    validationPrompts: int(1)
      .nullable()
      .default(null)
      .describe(
        'distinct validation prompts (or validation pairs) of each evaluation during training (train.evalEvery), at most ' +
          '(the first ones); null: maxPrompts. Lower it to bound the share of a run that validation takes',
      ),
    samplesPerPrompt: int(1)
      .default(4)
      .describe('sampled generations per prompt, beside the greedy one; their mean reward is heldoutSampled in summary.json'),
    temperature: z.number().min(0).default(1.0).describe('sampling temperature of the sampled generations (the greedy one ignores it)'),
    topP: z
      .number()
      .gt(0)
      .max(1)
      .default(1.0)
      .describe('nucleus sampling: draw from the smallest token set with this much probability (1: all)'),
    showSamples: int(0).default(8).describe('generations sent to the dashboard per evaluation'),
  })
  .describe('evaluation of pi_ref and each trained policy on the test split (and on validation every train.evalEvery steps)');

export const RunConfigSchema = z
  .strictObject({
    $schema: z
      .string()
      .optional()
      .describe('the JSON Schema of this file, for editors (the trainer ignores it); VS Code finds it by name for *.alol.json(c) files'),
    data: DataSchema.prefault({}),
    model: ModelSchema,
    reference: ReferenceSchema.prefault({}),
    rewards: z.array(RewardComponentSchema).default([]).describe('reward components; the total is their weighted sum'),
    value: ValueSchema.prefault({}),
    train: TrainSchema.prefault({}),
    eval: EvalSchema.prefault({}),
    device: z
      .enum(['auto', 'cpu', 'cuda', 'webgpu'])
      .default('auto')
      .describe(
        'where ONNX Runtime runs: auto (CUDA when its provider loads, else WebGPU on a GPU that is not a software one, else CPU; ' +
          'the reason is in run/didStart), cpu, cuda or webgpu (else CPU, with a hint)',
      ),
    threads: int(1).default(2).describe('CPU threads per ONNX Runtime session (intra-op); torch backend: per worker process'),
    backend: BackendSchema.prefault({}),
  })
  .describe('An A-LoL Studio run config: every field has a default, unknown keys are errors. `alol <verb> --config FILE`.')
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.rewards.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: ['rewards', i, 'name'], message: `duplicate reward name '${r.name}'` });
      seen.add(r.name);
    });
    if (c.backend.quantization === 'nf4') {
      const why = 'a 4-bit (nf4) model trains LoRA adapters only';
      if (!c.train.lora) ctx.addIssue({ code: 'custom', path: ['train', 'lora'], message: `${why}: set train.lora` });
      if (c.reference.path === null && c.reference.sft && !c.reference.sft.lora) {
        const message = `${why}: set reference.sft.lora, or reference.sft null`;
        ctx.addIssue({ code: 'custom', path: ['reference', 'sft', 'lora'], message });
      }
    }
    if (c.backend.kind === 'torch' && c.device === 'webgpu') {
      const message = 'webgpu is the built-in engine\'s; the torch backend runs on "auto", "cpu" or "cuda"';
      ctx.addIssue({ code: 'custom', path: ['device'], message });
    }
    if (c.train.stepsPerRun > 1) {
      const steps = (message: string) => ctx.addIssue({ code: 'custom', path: ['train', 'stepsPerRun'], message });
      if (c.train.gradAccum > 1) steps('several steps per run take one micro-batch each: set train.gradAccum 1, or stepsPerRun 1');
      if (c.backend.kind === 'torch') steps('several steps per run are the built-in engine\'s (backend.kind "builtin")');
    }
    if (c.data.maxPromptTokens + c.data.maxResponseTokens + 1 > 100000) {
      ctx.addIssue({ code: 'custom', path: ['data', 'maxResponseTokens'], message: 'prompt + response tokens is unreasonably large' });
    }
  });

export type RunConfig = z.infer<typeof RunConfigSchema>;

/**
 * The run config as JSON Schema (draft 7, the config as written: fields with defaults are optional), for
 * editors: media/run-config.schema.json is this, and package.json's jsonValidation gives it to VS Code
 * for *.alol.json(c) files (and alol.run*.json(c), what version 0.1.0's template wrote), so hovers show the
 * descriptions above and completions the defaults. Cross-field rules (superRefine) are the trainer's to
 * check. test/unit/config-schema.test.ts keeps the file equal to this (`npm run build:schema` rewrites it).
 */
export function runConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(RunConfigSchema, { target: 'draft-7', io: 'input', unrepresentable: 'any' });
}
export type RewardComponentConfig = z.infer<typeof RewardComponentSchema>;
