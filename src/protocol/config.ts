// The run config: one zod schema shared by the trainer, the extension and the webview. Every field
// has a default and a description, unknown keys are errors, and cross-field rules live in one place
// (the superRefine at the bottom). Pure: imports only zod. DESIGN.md "One run config" is the source.

import { z } from 'zod';

const int = (min: number) => z.number().int().min(min);
const range = z
  .tuple([z.number(), z.number()])
  .refine(([lo, hi]) => Number.isFinite(lo) && Number.isFinite(hi) && lo < hi, { message: 'range must be [lo, hi] with finite lo < hi' });

export const SplitSchema = z
  .strictObject({
    validation: z.number().min(0).max(1).default(0.05).describe('share of rows (or pairs) in the validation split, when rows have no `split` field'),
    test: z.number().min(0).max(1).default(0.05).describe('share of rows (or pairs) in the test split'),
    seed: int(0).default(0).describe('seed of the split assignment (a hash of seed and row identity)'),
  })
  .refine((s) => s.validation + s.test < 1, { message: 'validation + test must leave rows for training (sum < 1)' });

export const DataSchema = z.strictObject({
  path: z.string().min(1).default('data/train.jsonl').describe('dataset file (.jsonl, HH .jsonl, optionally .gz), relative to the config file'),
  format: z.enum(['auto', 'jsonl', 'hh']).default('auto').describe('jsonl rows / pair rows, HH chosen-rejected transcripts, or detect'),
  split: SplitSchema.prefault({}).describe('seeded split fractions'),
  maxPromptTokens: int(1).default(256).describe('prompts are left-truncated to this many tokens'),
  maxResponseTokens: int(1).default(128).describe('responses are right-truncated to this many tokens (EOS appended after)'),
});

export const ModelInitSchema = z.strictObject({
  layers: int(1).default(4),
  embd: int(8).default(256),
  heads: int(1).default(8),
  positions: int(2).default(512),
});

export const ModelSchema = z
  .union([
    z.strictObject({ path: z.string().min(1).describe('a Hugging Face GPT-2 model folder') }),
    z.strictObject({ init: ModelInitSchema.prefault({}).describe('a new randomly initialised GPT with a byte-level tokenizer') }),
  ])
  .default({ path: 'models/base' });

export const ReferenceSchema = z.strictObject({
  path: z.string().min(1).nullable().default(null).describe('an existing SFT model folder used as pi_ref; then `model` is not used'),
  sft: z
    .strictObject({
      steps: int(0).default(2000).describe('NLL fine-tuning steps of `model` on the training split'),
      lr: z.number().positive().default(3e-4),
    })
    .nullable()
    .prefault({})
    .describe('with path null: pi_ref = model fine-tuned by NLL (null: the model as is)'),
});

const componentBase = {
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'names are letters, digits, _ . - (not starting with a digit)').describe('the component\'s name in reports'),
  weight: z.number().finite().default(1).describe('weight in the total reward'),
};

export const BUILTIN_SCORERS = ['sentiment', 'toxicity', 'length', 'tfidf'] as const;

export const RewardComponentSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    ...componentBase,
    kind: z.literal('builtin'),
    scorer: z.enum(BUILTIN_SCORERS).describe('built-in scorer; each declares its range [0, 1]'),
    options: z.record(z.string(), z.unknown()).default({}).describe('scorer options, e.g. {target: 30} for length'),
  }),
  z.strictObject({
    ...componentBase,
    kind: z.literal('module'),
    path: z.string().min(1).describe('a .js or .ts file exporting score(batch) -> number[] (default export or `score`)'),
    range: range.describe('declared [lo, hi] of the values it returns'),
    timeoutMs: int(1).nullable().default(2000).describe('a call running longer is terminated (null: no limit)'),
    export: z.string().min(1).nullable().default(null).describe('the exported score function to use (null: the default export, else `score`)'),
  }),
  z.strictObject({
    ...componentBase,
    kind: z.literal('field'),
    field: z.string().min(1).describe('`reward`, `rewards.<name>`, `label` (HH/pairs: chosen 1, rejected 0) or any numeric field of the row, e.g. an annotation `human_reward` or `human_label`'),
    range: range.default([0, 1]).describe('declared [lo, hi] of the field'),
    default: z.number().finite().nullable().default(null).describe('the value of rows without the field (null: such a row is an error); annotations set on some rows need one'),
  }),
  z.strictObject({
    ...componentBase,
    kind: z.literal('onnx'),
    path: z.string().min(1).describe('folder with model.onnx (input_ids, attention_mask -> logits), tokenizer.json, config.json (id2label)'),
    label: z.string().min(1).describe('the label whose softmax probability is the score'),
    input: z.enum(['response', 'prompt+response']).default('response').describe('the text the classifier reads'),
    batchSize: int(1).default(32),
  }),
]);

export const ValueSchema = z.strictObject({
  fitOn: z.enum(['validation', 'train']).default('validation').describe('validation: rewards of pi_ref greedy generations; train: out-of-fold on training rows'),
  heads: int(1).default(8),
  epochs: int(1).default(10),
  lr: z.number().positive().default(1e-3),
  batchSize: int(1).default(16),
  folds: int(2).default(5),
});

export const VARIANTS = ['nll', 'wnll', 'r_gold', 'r_lol', 'a_lol', 'a_lol_ref_free', 'a_lol_seq', 'a_lol_kl', 'dpo'] as const;

export const TrainSchema = z.strictObject({
  variant: z.enum(VARIANTS).default('a_lol'),
  sampler: z.enum(['default', 'priority', 'uniform_positive', 'all']).default('default'),
  clipEps: z.number().min(0).max(1).default(0.9).describe('importance weights are clipped to [1 - eps, 1 + eps]'),
  klBeta: z.number().min(0).default(0.1),
  dpoBeta: z.number().positive().default(0.1),
  steps: int(1).default(2000),
  batchSize: int(1).default(16),
  gradAccum: int(1).default(1),
  lr: z.number().positive().default(2e-5),
  schedule: z.enum(['constant', 'linear', 'cosine']).default('linear'),
  warmupSteps: int(0).default(0),
  weightDecay: z.number().min(0).default(0.01),
  gradClip: z.number().min(0).default(1.0),
  evalEvery: int(0).default(200),
  checkpointEvery: int(0).default(200),
  seed: int(0).default(0),
});

export const EvalSchema = z.strictObject({
  maxNewTokens: int(1).default(64),
  maxPrompts: int(1).default(200),
  samplesPerPrompt: int(1).default(4),
  temperature: z.number().min(0).default(1.0),
  topP: z.number().gt(0).max(1).default(1.0),
  showSamples: int(0).default(8).describe('generations sent to the dashboard per evaluation'),
});

export const RunConfigSchema = z
  .strictObject({
    data: DataSchema.prefault({}),
    model: ModelSchema,
    reference: ReferenceSchema.prefault({}),
    rewards: z.array(RewardComponentSchema).default([]).describe('reward components; the total is their weighted sum'),
    value: ValueSchema.prefault({}),
    train: TrainSchema.prefault({}),
    eval: EvalSchema.prefault({}),
    device: z.enum(['auto', 'cpu', 'cuda', 'webgpu']).default('auto'),
    threads: int(1).default(2),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.rewards.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: ['rewards', i, 'name'], message: `duplicate reward name '${r.name}'` });
      seen.add(r.name);
    });
    if (c.data.maxPromptTokens + c.data.maxResponseTokens + 1 > 100000) {
      ctx.addIssue({ code: 'custom', path: ['data', 'maxResponseTokens'], message: 'prompt + response tokens is unreasonably large' });
    }
  });

export type RunConfig = z.infer<typeof RunConfigSchema>;
export type RewardComponentConfig = z.infer<typeof RewardComponentSchema>;
