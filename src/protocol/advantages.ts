// advantages.jsonl, a run folder's per-row file (DESIGN.md "Rows and caches"): one line per training
// row of the audit, written by the trainer's advantages phase and read by the editor (CodeLens, hover,
// the histogram's "list this bin"). Every field is always written; a value that was not finite is
// written by JSON as null, and such a line fails the schema (the run that wrote it failed too).
// Pure: imports only zod.

import { z } from 'zod';
import { describeIssue } from './issues.js';
import { ROW_KINDS } from './rows.js';

const Num = z.number().finite();

export const AdvantageRowSchema = z.strictObject({
  /** The row's identity (src/protocol/rows.ts): its `id` field, else a hash of prompt and response. */
  rowId: z.string().min(1),
  /** The dataset file as the trainer resolved it, and the row's 1-based line there. */
  file: z.string().min(1),
  line: z.number().int().min(1),
  kind: z.enum(ROW_KINDS),
  /** The total reward and each component's value, by component name. */
  reward: z.object({ total: Num }).catchall(Num),
  /** V(x): the value head's estimate for the row's prompt. */
  value: Num,
  /** A = reward.total - value. */
  advantage: Num,
  /** A > 0: the row takes part in A-LoL training. */
  kept: z.boolean(),
  /** Summed log-probability of the response under the reference policy (natural log), over refTokens tokens. */
  refLogprob: Num,
  refTokens: z.number().int().min(0),
  /** How often training drew the row, summed over the run's variants (0 in an audit, and until training ends). */
  timesSampled: z.number().int().min(0),
});
export type AdvantageRow = z.infer<typeof AdvantageRowSchema>;

export interface AdvantageLines {
  rows: AdvantageRow[];
  /** Each line that is not JSON or fails the schema (skipped, never trusted): its 1-based number and why. */
  rejected: { line: number; reason: string }[];
}

/** Parses the text of an advantages.jsonl; blank lines are skipped, bad ones listed. */
export function parseAdvantageLines(text: string): AdvantageLines {
  const rows: AdvantageRow[] = [];
  const rejected: AdvantageLines['rejected'] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (e) {
      return void rejected.push({ line: i + 1, reason: `not valid JSON (${(e as Error).message})` });
    }
    const r = AdvantageRowSchema.safeParse(json);
    if (r.success) return void rows.push(r.data);
    const d = describeIssue(r.error, json);
    rejected.push({ line: i + 1, reason: `${d.field ? `field ${d.field}: ` : ''}${d.reason}` });
  });
  return { rows, rejected };
}
