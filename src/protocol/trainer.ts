// The trainer <-> extension protocol: JSON lines, commands on the trainer's stdin, events on its stdout
// (logs on stderr), the same events in <run dir>/events.jsonl. Every message has a `type`, is validated
// on arrival on both sides, and carries nothing only our ORT trainer could produce, so any program that
// speaks it (e.g. a PyTorch trainer on a cluster) can drive the extension. Pure: imports only zod.
//
// Versions. 2: per-variant events (phase/didChange of training and evaluation, step/didComplete,
// eval/didComplete, checkpoint/didSave) name their variant in a `variant` field, and steps, evaluations
// and checkpoints their phase. 1: the variant was only in the text of phase messages. A reader of version
// 2 reads version 1 too (every new field is optional): variantOfPhase below is the one place that reads
// a variant out of a version-1 message.
//
// Time. Every duration is `elapsedMs` (milliseconds). Every event has one time stamp `t` (ms since the
// epoch): on the wire and in events.jsonl it is a field of the event's line (StoredEvent), in memory it
// stands beside the event (TimedEvent); parseEventLine converts one into the other.

import { z } from 'zod';
import { RunConfigSchema } from './config.js';

/** The version this side speaks (the trainer's `ready` says it). */
export const PROTOCOL_VERSION = 2;
/** The oldest version this side still reads (run folders and trainers of that version). */
export const MIN_PROTOCOL_VERSION = 1;

export const PHASES = ['reference', 'rewards', 'value', 'advantages', 'training', 'evaluation'] as const;
export type Phase = (typeof PHASES)[number];

const Num = z.number().finite();
/** The variant (or 'reference') an event belongs to; absent before protocol 2. */
const Variant = z.string().min(1).optional();
const Histogram = z.strictObject({
  /** Bin edges, ascending, one more than bins; zero is always an edge. */
  edges: z.array(Num).min(2),
  /** Rows per bin with A > 0 (kept) and A <= 0 (filtered). */
  kept: z.array(z.number().int().min(0)),
  filtered: z.array(z.number().int().min(0)),
});

const Sample = z.strictObject({
  prompt: z.string(),
  /** The dataset's response for this prompt, when there is one. */
  reference: z.string().nullable(),
  response: z.string(),
  rewards: z.record(z.string(), Num),
});

export const TrainerEventSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready'), protocolVersion: z.number().int(), trainer: z.string(), pid: z.number().int() }),
  z.strictObject({
    type: z.literal('run/didStart'),
    runId: z.string(),
    runDir: z.string(),
    verb: z.string(),
    config: RunConfigSchema,
    device: z.strictObject({ requested: z.string(), provider: z.string(), fallback: z.string().optional(), reason: z.string().optional() }),
  }),
  z.strictObject({
    type: z.literal('phase/didChange'),
    phase: z.enum(PHASES),
    /** Set on the training and evaluation phases of a variant (the reference's evaluation: 'reference'). */
    variant: Variant,
    status: z.enum(['started', 'finished']),
    /** One line a newcomer understands: what this phase does, or what it found. Never parsed. */
    message: z.string(),
    /** finished: how long the phase took. */
    elapsedMs: Num.optional(),
  }),
  /** The model a run works on (pi_ref), once loaded or made: its family and shape, for the dashboard. */
  z.strictObject({
    type: z.literal('model/didLoad'),
    role: z.enum(['reference']),
    /** config.json's model_type: gpt2, llama, qwen2, mistral. */
    modelType: z.string(),
    /** One line: layers, hidden size, heads and key/value heads, MLP, positions, head. */
    summary: z.string(),
    parameters: z.number().int(),
    /** Parameters the policy trains: all of them, or with LoRA the adapters' (absent in runs before LoRA). */
    trainable: z.number().int().optional(),
    /** The LoRA adapters trained (train.lora resolved against the model), null for full fine-tuning. */
    lora: z
      .strictObject({
        r: z.number().int(),
        alpha: z.number(),
        dropout: z.number(),
        modules: z.number().int(),
        targets: z.array(z.string()),
      })
      .nullable()
      .optional(),
    layers: z.number().int(),
    hidden: z.number().int(),
    heads: z.number().int(),
    kvHeads: z.number().int(),
  }),
  z.strictObject({
    type: z.literal('phase/didProgress'),
    phase: z.enum(PHASES),
    done: z.number().int().min(0),
    total: z.number().int().min(0),
  }),
  z.strictObject({
    type: z.literal('advantages/didCompute'),
    histogram: Histogram,
    counts: z.strictObject({ rows: z.number().int(), kept: z.number().int(), filtered: z.number().int() }),
    positiveFraction: Num,
    /** Kept/filtered per row kind (chosen/rejected for preference data). */
    byKind: z.record(z.string(), z.strictObject({ kept: z.number().int(), filtered: z.number().int() })),
    value: z.strictObject({ fitOn: z.enum(['validation', 'train']), headMse: Num, meanMse: Num, betterThanMean: z.boolean() }),
    reward: z.strictObject({
      mean: Num,
      min: Num,
      max: Num,
      range: z.tuple([Num, Num]),
      /** Pearson correlation of the total reward with the response length in tokens (null: either is constant; absent in older runs). */
      lengthCorrelation: Num.nullable().optional(),
    }),
    /** The training budget A-LoL would get under the configured variant and sampler. */
    budget: z.strictObject({
      variant: z.string(),
      sampler: z.string(),
      steps: z.number().int(),
      evalEvery: z.number().int(),
      scaled: z.boolean(),
    }),
    /** Per-row file in the run folder (rowId, file, line, rewards, value, advantage, kept, ...). */
    file: z.string(),
  }),
  z.strictObject({
    type: z.literal('step/didComplete'),
    variant: Variant,
    /** The phase the step belongs to: 'training'; 'reference' for the fine-tuning that makes pi_ref; 'value' for an epoch
     *  of the value head's fit (out-of-fold: fold after fold). Absent before protocol 2, where only training had steps. */
    phase: z.enum(PHASES).optional(),
    step: z.number().int(),
    totalSteps: z.number().int(),
    loss: Num,
    /** The phase's held-out loss at this step where it measures one (the value head's fit: held-out MSE per epoch). */
    heldoutLoss: Num.optional(),
    lr: Num,
    gradNorm: Num,
    meanImportanceWeight: Num.optional(),
    clipFraction: Num.optional(),
    /** Mixed precision float16 (backend.precision): the loss scale this step used, and whether its update was skipped
     *  because a gradient overflowed (then gradNorm is 0 and the scale halves for the next step). */
    lossScale: Num.optional(),
    skippedUpdate: z.boolean().optional(),
    tokensPerSec: Num,
    /** Training time of this variant so far, up to and including this step. */
    elapsedMs: Num,
  }),
  z.strictObject({
    type: z.literal('eval/didComplete'),
    variant: Variant,
    /** 'training' (a validation evaluation between steps) or 'evaluation' (the test split afterwards). */
    phase: z.enum(PHASES).optional(),
    step: z.number().int(),
    split: z.enum(['validation', 'test']),
    sampled: z.boolean(),
    rewards: z.record(z.string(), Num),
    distinct: z.tuple([Num, Num, Num]),
    lengthTokens: Num,
    samples: z.array(Sample),
  }),
  z.strictObject({
    type: z.literal('checkpoint/didSave'),
    variant: Variant,
    /** 'training' (the phase whose state it saves). */
    phase: z.enum(PHASES).optional(),
    step: z.number().int(),
    dir: z.string(),
  }),
  z.strictObject({ type: z.literal('run/didFail'), code: z.string(), message: z.string(), hint: z.string().optional() }),
  /** `elapsedMs`: the whole run. `stopped`: ended early on a run/stop command, after writing a checkpoint it can resume from. */
  z.strictObject({ type: z.literal('run/didFinish'), runDir: z.string(), elapsedMs: Num, stopped: z.boolean().optional() }),
]);

export type TrainerEvent = z.infer<typeof TrainerEventSchema>;
/** A line of events.jsonl (and of the trainer's stdout): the event with the time it was emitted (ms since the epoch). */
export type StoredEvent = TrainerEvent & { t: number };
/** An event in memory (the extension, the dashboard): the same event and time stamp, side by side. */
export const TimedEventSchema = z.strictObject({ t: z.number(), event: TrainerEventSchema });
export type TimedEvent = z.infer<typeof TimedEventSchema>;

type PhaseChange = Extract<TrainerEvent, { type: 'phase/didChange' }>;

/**
 * The variant a phase/didChange is about: its `variant` field; else — the reader for protocol 1, whose
 * events named the variant only in their text — the name after "training " / "evaluating " in the
 * message that starts a training / evaluation phase ("training a_lol from the reference", "evaluating
 * reference on the test prompts"). Null for other phases and messages. Steps, evaluations and checkpoints
 * of version 1 belong to the variant of the training or evaluation phase under way.
 */
export function variantOfPhase(e: PhaseChange): string | null {
  if (e.variant !== undefined) return e.variant;
  if (e.status !== 'started') return null;
  const v1 = e.phase === 'training' ? /^training (\S+)/ : e.phase === 'evaluation' ? /^evaluating (\S+)/ : null;
  return v1?.exec(e.message)?.[1] ?? null;
}

export const TrainerCommandSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('run/start'),
    verb: z.enum(['audit', 'train', 'demo']),
    configFile: z.string().nullable().default(null),
    set: z.array(z.string()).default([]),
    outDir: z.string().nullable().default(null),
    /** train: continue from this checkpoint folder. */
    resume: z.string().nullable().default(null),
    /** The torch backend's interpreter (the extension's alolStudio.python setting; null: python3 on PATH). */
    python: z.string().nullable().optional(),
    /** demo: its flags. */
    demo: z
      .strictObject({ quick: z.boolean().default(true), seed: z.number().int().default(1), noise: z.number().min(0).max(1).default(0.5) })
      .optional(),
  }),
  z.strictObject({ type: z.literal('run/stop'), checkpoint: z.boolean().default(true) }),
  z.strictObject({ type: z.literal('checkpoint/save') }),
]);

export type TrainerCommand = z.infer<typeof TrainerCommandSchema>;

/**
 * Parses one line from the other side (stdout or events.jsonl) into the event and its time stamp `t`
 * (null when the line has none, e.g. `ready`); a bad line is reported by the caller, never trusted.
 */
export function parseEventLine(line: string): { ok: true; event: TrainerEvent; t: number | null } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (e) {
    return { ok: false, error: `not JSON: ${(e as Error).message}` };
  }
  let t: number | null = null;
  if (typeof json === 'object' && json !== null && 't' in json) {
    const rest: Record<string, unknown> = { ...(json as Record<string, unknown>) };
    if (typeof rest.t === 'number' && Number.isFinite(rest.t)) t = rest.t;
    delete rest.t;
    json = rest;
  }
  const r = TrainerEventSchema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0];
    return { ok: false, error: `${i.path.join('.') || '(message)'}: ${i.message}` };
  }
  return { ok: true, event: r.data, t };
}
