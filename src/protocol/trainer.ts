// The trainer <-> extension protocol: JSON lines, commands on the trainer's stdin, events on its stdout
// (logs on stderr), the same events in <run dir>/events.jsonl. Every message has a `type`, is validated
// on arrival on both sides, and carries nothing only our ORT trainer could produce, so any program that
// speaks it (e.g. a PyTorch trainer on a cluster) can drive the extension. Pure: imports only zod.

import { z } from 'zod';
import { RunConfigSchema } from './config.js';

export const PROTOCOL_VERSION = 1;

export const PHASES = ['reference', 'rewards', 'value', 'advantages', 'training', 'evaluation'] as const;
export type Phase = (typeof PHASES)[number];

const Num = z.number().finite();
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
    device: z.strictObject({ requested: z.string(), provider: z.string(), fallback: z.string().optional() }),
  }),
  z.strictObject({
    type: z.literal('phase/didChange'),
    phase: z.enum(PHASES),
    /** The variant (or 'reference') this event belongs to; absent in run folders written before protocol 2. */
    variant: z.string().optional(),
    status: z.enum(['started', 'finished']),
    /** One line a newcomer understands: what this phase does, or what it found. */
    message: z.string(),
    elapsedMs: Num.optional(),
  }),
  z.strictObject({ type: z.literal('phase/didProgress'), phase: z.enum(PHASES), done: z.number().int().min(0), total: z.number().int().min(0) }),
  z.strictObject({
    type: z.literal('advantages/didCompute'),
    histogram: Histogram,
    counts: z.strictObject({ rows: z.number().int(), kept: z.number().int(), filtered: z.number().int() }),
    positiveFraction: Num,
    /** Kept/filtered per row kind (chosen/rejected for preference data). */
    byKind: z.record(z.string(), z.strictObject({ kept: z.number().int(), filtered: z.number().int() })),
    value: z.strictObject({ fitOn: z.enum(['validation', 'train']), headMse: Num, meanMse: Num, betterThanMean: z.boolean() }),
    reward: z.strictObject({ mean: Num, min: Num, max: Num, range: z.tuple([Num, Num]) }),
    /** The training budget A-LoL would get under the configured variant and sampler. */
    budget: z.strictObject({ variant: z.string(), sampler: z.string(), steps: z.number().int(), evalEvery: z.number().int(), scaled: z.boolean() }),
    /** Per-row file in the run folder (rowId, file, line, rewards, value, advantage, kept, ...). */
    file: z.string(),
  }),
  z.strictObject({
    type: z.literal('step/didComplete'),
    /** The variant (or 'reference') this event belongs to; absent in run folders written before protocol 2. */
    variant: z.string().optional(),
    step: z.number().int(),
    totalSteps: z.number().int(),
    loss: Num,
    lr: Num,
    gradNorm: Num,
    meanImportanceWeight: Num.optional(),
    clipFraction: Num.optional(),
    tokensPerSec: Num,
    elapsedMs: Num,
  }),
  z.strictObject({
    type: z.literal('eval/didComplete'),
    /** The variant (or 'reference') this event belongs to; absent in run folders written before protocol 2. */
    variant: z.string().optional(),
    step: z.number().int(),
    split: z.enum(['validation', 'test']),
    sampled: z.boolean(),
    rewards: z.record(z.string(), Num),
    distinct: z.tuple([Num, Num, Num]),
    lengthTokens: Num,
    samples: z.array(Sample),
  }),
  z.strictObject({ type: z.literal('checkpoint/didSave'), variant: z.string().optional(), step: z.number().int(), dir: z.string() }),
  z.strictObject({ type: z.literal('run/didFail'), code: z.string(), message: z.string(), hint: z.string().optional() }),
  /** `stopped`: ended early on a run/stop command, after writing a checkpoint it can resume from. */
  z.strictObject({ type: z.literal('run/didFinish'), runDir: z.string(), elapsedMs: Num, stopped: z.boolean().optional() }),
]);

export type TrainerEvent = z.infer<typeof TrainerEventSchema>;
/** An event as stored in events.jsonl: with the time it was emitted (ms since the epoch). */
export type StoredEvent = TrainerEvent & { t: number };

export const TrainerCommandSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('run/start'),
    verb: z.enum(['audit', 'train', 'demo']),
    configFile: z.string().nullable().default(null),
    set: z.array(z.string()).default([]),
    outDir: z.string().nullable().default(null),
    /** train: continue from this checkpoint folder. */
    resume: z.string().nullable().default(null),
    /** demo: its flags. */
    demo: z.strictObject({ quick: z.boolean().default(true), seed: z.number().int().default(1), noise: z.number().min(0).max(1).default(0.5) }).optional(),
  }),
  z.strictObject({ type: z.literal('run/stop'), checkpoint: z.boolean().default(true) }),
  z.strictObject({ type: z.literal('checkpoint/save') }),
]);

export type TrainerCommand = z.infer<typeof TrainerCommandSchema>;

/** Parses one line from the other side; a bad line is reported by the caller, never trusted. */
export function parseEventLine(line: string): { ok: true; event: TrainerEvent } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (e) {
    return { ok: false, error: `not JSON: ${(e as Error).message}` };
  }
  if (typeof json === 'object' && json !== null && 't' in json) {
    const rest: Record<string, unknown> = { ...(json as Record<string, unknown>) };
    delete rest.t; // events.jsonl stamps each event with its time
    json = rest;
  }
  const r = TrainerEventSchema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0];
    return { ok: false, error: `${i.path.join('.') || '(message)'}: ${i.message}` };
  }
  return { ok: true, event: r.data };
}
