// The data requirements of the baselines (issue 25), checked before any compute (validate.ts calls these
// before the first phase): pro needs prompts with several responses; qrpo with field rewards takes its
// reference rewards from a prompt's other responses, so it needs them too; kto needs training rows on both
// sides of its threshold, and filtered_bc at least one row past its filter. The reward checks need the
// training rewards: with field rewards alone they are read from the data here; with rewards that score text
// they are known only after the rewards phase, and the audit runs the same check right after it.

import type { RunConfig } from '../../protocol/config.js';
import { median, promptGroups, promptKey } from '../alol/baseline-data.js';
import type { Variant } from '../alol/rules.js';
import type { Row } from '../data/rows.js';
import { AlolError, type Failure } from '../errors.js';
import { fieldValue } from '../rewards/components.js';
import { generationRewards } from './evaluate.js';

/** The training rows' total rewards when every component is a field (read from the data), else null. */
export function fieldTotals(config: RunConfig, rows: readonly Row[]): Float64Array | null {
  if (config.rewards.length === 0 || config.rewards.some((c) => c.kind !== 'field')) return null;
  const totals = new Float64Array(rows.length);
  for (const c of config.rewards) {
    if (c.kind !== 'field') return null;
    for (let i = 0; i < rows.length; i++) {
      const v = fieldValue(rows[i], c.field) ?? c.default ?? undefined;
      const x = typeof v === 'boolean' ? Number(v) : v;
      if (typeof x !== 'number' || !Number.isFinite(x)) return null; // validate.ts reports the row
      totals[i] += c.weight * x;
    }
  }
  return totals;
}

/** Problems of the data alone (prompt groups). */
export function baselineDataProblems(config: RunConfig, rows: readonly Row[], variants: readonly Variant[]): Failure[] {
  if (rows.length === 0) return [];
  const groups = promptGroups(rows.map(promptKey));
  const several = groups.filter((g) => g.length >= 2).length;
  const out: Failure[] = [];
  const add = 'add responses to the same prompt (rows sharing the prompt text, or {prompt, responses: [...]})';
  if (variants.includes('pro') && several === 0) {
    out.push({
      code: 'data',
      message: `pro ranks each prompt's responses, and none of the ${groups.length} training prompts has more than one response`,
      hint: add,
    });
  }
  if (variants.includes('qrpo') && generationRewards(config.rewards).length === 0 && several === 0) {
    out.push({
      code: 'data',
      message: 'qrpo with field rewards (which cannot score samples of pi_ref) takes each prompt\'s reference rewards from its other ' +
        `dataset responses, and none of the ${groups.length} training prompts has more than one response`,
      hint: `${add}, or use a reward component that scores text (then qrpo samples pi_ref ${config.train.qrpo.samples} times per prompt)`,
    });
  }
  return out;
}

/** Problems of the training rewards (kto's two sides, filtered_bc's kept rows). */
export function baselineRewardProblems(config: RunConfig, totals: ArrayLike<number>, variants: readonly Variant[]): Failure[] {
  if (totals.length === 0) return [];
  const out: Failure[] = [];
  const lo = Math.min(...Array.from(totals));
  const hi = Math.max(...Array.from(totals));
  const thresholdOf = (t: number | null) => t ?? median(totals);
  const what = (t: number | null) => (t === null ? `the median ${thresholdOf(t)}` : String(t));
  if (variants.includes('kto')) {
    const t = thresholdOf(config.train.kto.threshold);
    const desirable = Array.from(totals).filter((r) => r >= t).length;
    if (desirable === 0 || desirable === totals.length) {
      const side = desirable === 0 ? 'undesirable (R < threshold); no desirable row' : 'desirable (R >= threshold); no undesirable row';
      out.push({
        code: 'data',
        message: `kto needs desirable and undesirable training rows: with threshold ${what(config.train.kto.threshold)} all ` +
          `${totals.length} are ${side} (rewards from ${lo} to ${hi})`,
        hint: lo < hi ? `set train.kto.threshold above ${lo} and at most ${hi}` : 'kto needs rewards that differ between rows',
      });
    }
  }
  const f = config.train.filteredBc;
  if (variants.includes('filtered_bc') && f.filter === 'threshold' && f.threshold !== null && !(hi >= f.threshold)) {
    out.push({
      code: 'data',
      message: `filtered_bc keeps rows with R >= train.filteredBc.threshold ${f.threshold}, and no training row has one ` +
        `(the highest is ${hi})`,
      hint: 'lower train.filteredBc.threshold, or set it to null (the median)',
    });
  }
  return out;
}

/** The audit's check after the rewards phase (rewards that score text): throws before the reference log-probs. */
export function checkBaselineRewards(config: RunConfig, totals: ArrayLike<number>, variants: readonly Variant[]): void {
  const problems = baselineRewardProblems(config, totals, variants);
  if (problems.length) {
    const p = problems[0];
    const more = problems.length > 1 ? `; ${problems.slice(1).map((x) => x.message).join('; ')}` : '';
    throw new AlolError(p.code, `${p.message}${more}`, p.hint);
  }
}
