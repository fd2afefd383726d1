// Where a run's wall time went, by phase: summary.json's `timing` and the run's last `[timing]` line.

/** A variant's wall times, as summary.json holds them. */
interface VariantTimes {
  trainSeconds: number;
  validationSeconds?: number;
  evalSeconds?: number;
}

/** Where a run's wall time went, by phase (seconds): the audit (reference, rewards, value head, advantages),
 * training (validation included), evaluation on the test split, and the run as a whole. */
export interface Timing {
  auditSeconds: number;
  trainSeconds: number;
  validationSeconds: number;
  evalSeconds: number;
  totalSeconds: number;
  /** Variants trained at once (train.parallelVariants), when more than one: the sums above then overlap in time. */
  parallelVariants?: number;
}

export function timingOf(variants: readonly VariantTimes[], auditSeconds: number, totalSeconds: number, parallel = 1): Timing {
  const sum = (f: (v: VariantTimes) => number | undefined) => variants.reduce((a, v) => a + (f(v) ?? 0), 0);
  return {
    auditSeconds,
    trainSeconds: sum((v) => v.trainSeconds),
    validationSeconds: sum((v) => v.validationSeconds),
    evalSeconds: sum((v) => v.evalSeconds),
    totalSeconds,
    ...(parallel > 1 ? { parallelVariants: parallel } : {}),
  };
}

/** One line: each phase's seconds and share of the run. */
export function renderTiming(t: Timing): string {
  const part = (name: string, s: number) => `${name} ${s.toFixed(1)} s (${((100 * s) / Math.max(t.totalSeconds, 1e-9)).toFixed(0)}%)`;
  const validation = t.validationSeconds > 0 ? `, of which validation ${t.validationSeconds.toFixed(1)} s` : '';
  if (t.parallelVariants) {
    // the variants' times overlap: the wall time after the audit, then each phase summed over the variants
    return (
      `${t.totalSeconds.toFixed(1)} s in all: ${part('audit (reference, rewards, value head)', t.auditSeconds)}, ` +
      `${part('training and evaluation', t.totalSeconds - t.auditSeconds)} with up to ${t.parallelVariants} variants at once ` +
      `(summed over the variants: training ${t.trainSeconds.toFixed(1)} s${validation}, evaluation ${t.evalSeconds.toFixed(1)} s)`
    );
  }
  return (
    `${t.totalSeconds.toFixed(1)} s in all: ${part('audit (reference, rewards, value head)', t.auditSeconds)}, ` +
    `${part('training', t.trainSeconds)}${validation}, ${part('evaluation', t.evalSeconds)}`
  );
}

