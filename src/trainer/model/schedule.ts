// Learning-rate schedules (nanoGPT's getLr): linear warmup from 0, then constant, linear decay to 0,
// or cosine decay to minRatio * lr, over `totalSteps` updates.

export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface Schedule {
  kind: ScheduleKind;
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  /** Floor of the cosine schedule as a fraction of lr (nanoGPT: 0.1). */
  minRatio?: number;
}

/** Learning rate for update number `step` (0-based). */
export function getLr(s: Schedule, step: number): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  if (s.kind === 'constant') return s.lr;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  if (s.kind === 'linear') return s.lr * (1 - progress);
  const floor = s.lr * (s.minRatio ?? 0.1);
  return floor + 0.5 * (1 + Math.cos(Math.PI * progress)) * (s.lr - floor);
}
