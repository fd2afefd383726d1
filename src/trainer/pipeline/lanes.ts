// Variants of one run trained at once (train.parallelVariants): how many at a time and on how many threads each, the
// queue that keeps their evaluations on the main thread one at a time, and the one progress bar they share.
// experiment.ts runs them (trainAll).

import type { RunContext } from '../run/context.js';
import { progressBarOf } from './phase.js';

/** A queue of async jobs run one at a time, in the order given (a failed job does not stop the next). */
export function serialQueue(): <T>(f: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(f: () => Promise<T>): Promise<T> => {
    const run = tail.then(f, f);
    tail = run.catch(() => undefined);
    return run;
  };
}

/** How many variants train at once and on how many intra-op threads each (train.parallelVariants). */
export interface Lanes {
  lanes: number;
  threads: number;
}

/** Models under this many parameters train two variants at once under train.parallelVariants 'auto'. */
export const AUTO_PARALLEL_MAX_PARAMS = 25e6;

/** train.parallelVariants resolved for `toTrain` variants of a model with `params` parameters. */
export function variantLanes(
  config: Pick<RunContext['config'], 'threads'> & { train: Pick<RunContext['config']['train'], 'parallelVariants'> },
  canParallel: boolean,
  params: number,
  toTrain: number,
): Lanes {
  const asked = config.train.parallelVariants;
  const one = { lanes: 1, threads: config.threads };
  if (toTrain < 2 || !canParallel) return one;
  if (asked === 'auto' && (config.threads < 2 || params >= AUTO_PARALLEL_MAX_PARAMS)) return one;
  const lanes = Math.min(asked === 'auto' ? 2 : asked, toTrain);
  return lanes < 2 ? one : { lanes, threads: Math.max(1, Math.floor(config.threads / lanes)) };
}

/** One progress bar for variants trained at once: their steps summed, over the sum of their step budgets. */
export function sharedBar(
  ctx: Pick<RunContext, 'progress'>,
  totals: ReadonlyMap<string, number>,
): (variant: string) => (total: number) => (done: number) => void {
  const bar = progressBarOf(ctx, 'training');
  const all = [...totals.values()].reduce((a, b) => a + b, 0);
  const done = new Map<string, number>();
  return (variant) => () => (d) => {
    done.set(variant, d);
    bar(Math.min(all, [...done.values()].reduce((a, b) => a + b, 0)), all);
  };
}
