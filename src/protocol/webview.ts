// The extension host <-> dashboard webview channel. Every message is validated on arrival on both
// sides (postMessage carries no types). The host sends a run's events as they arrive (batched and
// throttled), its summary.json when there is one, and the trainer process's state; the webview sends
// user actions back. Pure: imports only zod.

import { z } from 'zod';
import { TimedEventSchema } from './trainer.js';

const Num = z.number().finite();

const MetricsSchema = z.object({
  /** Mean reward per component and `total`; `{total: null}` when nothing could score generated text (n/a). */
  reward: z.record(z.string(), Num.nullable()),
  distinct1: Num,
  distinct2: Num,
  distinct3: Num,
  length: Num,
  lengthWords: Num.optional(),
  preferenceAccuracy: Num.nullable().optional(),
});

/** summary.json of a run (alol train, alol eval, alol demo). */
export const SummarySchema = z.object({
  variants: z.record(
    z.string(),
    z.object({
      heldout: MetricsSchema,
      heldoutSampled: MetricsSchema,
      filteredFraction: Num,
      trainSeconds: Num,
      steps: z.number().int(),
      evaluatedStep: z.number().int().nullable().optional(),
      /** How the evaluated checkpoint was chosen. */
      selectedBy: z.enum(['validation reward', 'validation preference accuracy', 'final']).optional(),
      validationSeconds: Num.optional(),
      evalSeconds: Num.optional(),
    }),
  ),
  prompts: z.number().int().optional(),
  seed: z.number().int().optional(),
  /** Seconds by phase (runs from before it have none). */
  timing: z
    .object({ auditSeconds: Num, trainSeconds: Num, validationSeconds: Num, evalSeconds: Num, totalSeconds: Num })
    .optional(),
});
export type RunSummary = z.infer<typeof SummarySchema>;

export { TimedEventSchema, type TimedEvent } from './trainer.js';

export const TRAINER_STATES = ['idle', 'starting', 'running', 'stopping', 'finished', 'stopped', 'crashed'] as const;
export type TrainerState = (typeof TRAINER_STATES)[number];

export const HostToWebviewSchema = z.discriminatedUnion('type', [
  /** A run is shown: everything before this message belongs to another run. */
  z.strictObject({ type: z.literal('run/didOpen'), runDir: z.string(), title: z.string(), live: z.boolean() }),
  z.strictObject({ type: z.literal('events/didAppend'), events: z.array(TimedEventSchema) }),
  z.strictObject({ type: z.literal('summary/didLoad'), summary: SummarySchema }),
  z.strictObject({
    type: z.literal('trainer/didChangeState'),
    state: z.enum(TRAINER_STATES),
    message: z.string().optional(),
    canResume: z.boolean(),
  }),
]);
export type HostToWebview = z.infer<typeof HostToWebviewSchema>;

export const WebviewToHostSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('webview/ready') }),
  z.strictObject({ type: z.literal('run/stop') }),
  z.strictObject({ type: z.literal('run/resume') }),
  /** The user clicked a histogram bin: list (and open) the rows whose advantage is in [lo, hi). */
  z.strictObject({ type: z.literal('histogram/openBin'), lo: Num, hi: Num }),
]);
export type WebviewToHost = z.infer<typeof WebviewToHostSchema>;
