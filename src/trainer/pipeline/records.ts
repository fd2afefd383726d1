// What a variant's training leaves in its run folder beside the model: result.json (steps, times, how the policy was
// selected, how often each training row was drawn), so a continued run can skip or resume it, and its latest
// checkpoint; and advantages.jsonl's timesSampled, summed over the run's variants from those records.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Variant } from '../alol/rules.js';
import { writeFileAtomic } from '../util/atomic.js';

export type SelectedBy = 'validation reward' | 'validation preference accuracy' | 'final';

/** What a variant's training left in its folder, so a continued run can skip or resume it. */
export interface VariantRecord {
  steps: number;
  trainSeconds: number;
  validationSeconds?: number;
  filteredFraction: number;
  bestStep: number | null;
  selectedBy?: SelectedBy;
  /** How often training drew each training row (advantages.jsonl's order); absent in runs of older versions. */
  timesSampled?: number[];
}

const RECORD_FILE = 'result.json';

/** The record of the variant trained in `dir`, or null when it has not finished training there. */
export function readVariantRecord(dir: string): VariantRecord | null {
  const file = path.join(dir, RECORD_FILE);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as VariantRecord) : null;
}

export function writeVariantRecord(dir: string, record: VariantRecord): Promise<void> {
  return writeFileAtomic(path.join(dir, RECORD_FILE), `${JSON.stringify(record)}\n`);
}

/**
 * advantages.jsonl's timesSampled: how often training drew each row, summed over the run's variants (from their
 * result.json, so variants trained by an earlier process of a continued run count too). Unchanged when no variant
 * recorded its counts.
 */
export async function recordTimesSampled(runDir: string, variants: readonly Variant[], rows: number): Promise<void> {
  const total = new Array<number>(rows).fill(0);
  let any = false;
  for (const variant of variants) {
    const counts = readVariantRecord(path.join(runDir, variant))?.timesSampled;
    if (!counts || counts.length !== rows) continue;
    counts.forEach((n, i) => (total[i] += n));
    any = true;
  }
  const advFile = path.join(runDir, 'advantages.jsonl');
  if (!any || !existsSync(advFile)) return;
  const lines = readFileSync(advFile, 'utf8').split('\n').filter((l) => l.trim());
  if (lines.length !== rows) return;
  const updated = lines.map((l, i) => JSON.stringify({ ...(JSON.parse(l) as Record<string, unknown>), timesSampled: total[i] }));
  await writeFileAtomic(advFile, `${updated.join('\n')}\n`);
}

/** The latest checkpoint folder of a variant, if any (names sort by step). */
export function latestCheckpoint(variantDir: string): string | null {
  const dir = path.join(variantDir, 'checkpoints');
  if (!existsSync(dir)) return null;
  const steps = readdirSync(dir).filter((n) => /^step-\d+$/.test(n)).sort();
  return steps.length ? path.join(dir, steps[steps.length - 1]) : null;
}
