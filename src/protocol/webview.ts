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

/** Thresholds of the dashboard's warnings (the settings alolStudio.sentinels.*; these are their defaults). */
export const SentinelSettingsSchema = z.strictObject({
  /** Importance weights saturate: the clip fraction above this ... */
  clipFraction: z.number().min(0).max(1).default(0.5),
  /** ... for this many consecutive steps of one variant. */
  clipSteps: z.number().int().min(1).default(20),
  /** The value head is no better than the mean: its held-out MSE at least this times the mean predictor's. */
  valueMseRatio: z.number().min(0).default(0.98),
  /** The reward follows response length: |Pearson r| of the total reward with the length above this. */
  lengthCorrelation: z.number().min(0).max(1).default(0.5),
});
export type SentinelSettings = z.infer<typeof SentinelSettingsSchema>;
export const DEFAULT_SENTINELS: SentinelSettings = SentinelSettingsSchema.parse({});

/** Rows kept (A > 0) by one audit and filtered by the other, matched by row id (src/protocol/compare.ts). */
export const KeptDiffSchema = z.strictObject({
  /** The two runs' labels. */
  a: z.string(),
  b: z.string(),
  /** Rows both audits scored (matched by rowId); rows in one only are counted, not compared. */
  common: z.number().int().min(0),
  onlyInA: z.number().int().min(0),
  onlyInB: z.number().int().min(0),
  /** Of the common rows: kept by A and filtered by B, and the other way round. */
  keptOnlyA: z.number().int().min(0),
  keptOnlyB: z.number().int().min(0),
  /** The differing rows (at most a limit of them, largest advantage change first). */
  rows: z.array(
    z.strictObject({
      rowId: z.string(),
      file: z.string(),
      line: z.number().int().min(1),
      keptIn: z.enum(['a', 'b']),
      advantageA: Num,
      advantageB: Num,
    }),
  ),
  truncated: z.boolean(),
});
export type KeptDiff = z.infer<typeof KeptDiffSchema>;

export const HostToWebviewSchema = z.discriminatedUnion('type', [
  /** A run is shown: everything before this message belongs to another run. */
  z.strictObject({ type: z.literal('run/didOpen'), runDir: z.string(), title: z.string(), live: z.boolean() }),
  /** Several runs are shown side by side (compare): everything before belongs to another view; `run` below indexes `runs`. */
  z.strictObject({
    type: z.literal('compare/didOpen'),
    title: z.string(),
    runs: z.array(z.strictObject({ label: z.string().min(1), runDir: z.string(), title: z.string() })).min(2),
    /** The kept-set difference of the first two runs' audits; null with `keptDiffNote` saying why there is none. */
    keptDiff: KeptDiffSchema.nullable(),
    keptDiffNote: z.string().optional(),
  }),
  /** `run`: which run of a comparison the events belong to (absent: the one run shown). */
  z.strictObject({ type: z.literal('events/didAppend'), events: z.array(TimedEventSchema), run: z.number().int().min(0).optional() }),
  z.strictObject({ type: z.literal('summary/didLoad'), summary: SummarySchema, run: z.number().int().min(0).optional() }),
  z.strictObject({ type: z.literal('settings/didChange'), sentinels: SentinelSettingsSchema }),
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
  /** Open a dataset row (a kept-set difference's row) in an editor. */
  z.strictObject({ type: z.literal('row/open'), file: z.string().min(1), line: z.number().int().min(1) }),
  /** Open the user documentation at a section (a warning's "why"). */
  z.strictObject({ type: z.literal('docs/open'), anchor: z.string().regex(/^[a-z0-9-]+$/) }),
]);
export type WebviewToHost = z.infer<typeof WebviewToHostSchema>;
