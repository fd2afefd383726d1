// Fitting and running the A-LoL value head (graphs in head.ts): MSE + AdamW on padded batches,
// the epoch chosen on a seeded 10% of the fitting examples held out (kept whole by group), the
// mean-target predictor reported beside it, and out-of-fold fitting for `value.fitOn: "train"`.
// Graphs have static shapes: batches are padded to B rows (dummy rows weigh 0) and T rounded up to
// a multiple of 16, so the backend serves every batch with a few graph shapes. The updates run in the
// one training loop (compute/loop.ts). Tested by test/unit/value-head.test.ts.

import { AlolError } from '../errors.js';
import { trainLoop } from '../compute/loop.js';
import { Rng } from '../util/rng.js';
import { initValueParams } from './head.js';
import { type ValueRunner, runnerFor } from './runner.js';
import type {
  FittedValueHead,
  OutOfFoldFit,
  ValueEpoch,
  ValueExample,
  ValueFitOptions,
  ValueFitSummary,
  ValueFold,
  ValuePredictor,
} from './types.js';

const DEFAULT_DROPOUT = 0.1;
const DEFAULT_HELDOUT = 0.1;

function checkExamples(examples: readonly ValueExample[], c: number, range: readonly [number, number] | null): void {
  examples.forEach((ex, i) => {
    if (!Number.isInteger(ex.length) || ex.length < 1) throw new Error(`value example ${i}: length ${ex.length} must be >= 1`);
    if (ex.hidden.length !== ex.length * c) {
      throw new Error(`value example ${i}: ${ex.hidden.length} hidden values for length ${ex.length} x hidden size ${c}`);
    }
    if (range && !(ex.target >= range[0] && ex.target <= range[1])) {
      const why = `value example ${i}: target ${ex.target} is outside the reward range [${range[0]}, ${range[1]}]`;
      throw new AlolError('data', why, 'widen the range or check the rewards', 'parenthesized');
    }
  });
}

const groupOf = (examples: readonly ValueExample[], i: number): string => examples[i].group ?? `\u0000${i}`;

/** The distinct groups of examples `idx`, in first-appearance order, each with its examples. */
function groupsOf(examples: readonly ValueExample[], idx: readonly number[]): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (const i of idx) {
    const key = groupOf(examples, i);
    const list = groups.get(key);
    if (list) list.push(i);
    else groups.set(key, [i]);
  }
  return groups;
}

/** Seeded split of `idx` into train and a held-out share (whole groups; at least one group each). */
function splitHeldout(examples: readonly ValueExample[], idx: readonly number[], fraction: number, rng: Rng): {
  train: number[]; heldout: number[],
} {
  const groups = groupsOf(examples, idx);
  if (groups.size < 2) throw new Error(
    `value head: ${groups.size} group(s) of examples; fitting needs at least 2 (one is held out to choose the epoch)`,
  );
  const want = Math.max(1, Math.round(fraction * idx.length));
  const order = rng.shuffle([...groups.keys()]);
  const held = new Set<number>();
  for (const key of order.slice(0, -1)) {
    if (held.size >= want) break;
    for (const i of groups.get(key) as number[]) held.add(i);
  }
  return { train: idx.filter((i) => !held.has(i)), heldout: idx.filter((i) => held.has(i)) };
}

function mse(pred: ArrayLike<number> | number, idx: readonly number[], examples: readonly ValueExample[]): number {
  let s = 0;
  idx.forEach((i, k) => (s += ((typeof pred === 'number' ? pred : pred[k]) - examples[i].target) ** 2));
  return s / Math.max(1, idx.length);
}

const meanTargetOf = (examples: readonly ValueExample[], idx: readonly number[]): number =>
  idx.reduce((a, i) => a + examples[i].target, 0) / Math.max(1, idx.length);

/** Fits a head on examples `idx`: train on 90%, choose the epoch on the seeded 10% held out. */
async function fitOn(
  runner: ValueRunner,
  examples: readonly ValueExample[],
  idx: readonly number[],
  opts: ValueFitOptions,
  fold?: number,
): Promise<ValueFitSummary> {
  const dropout = opts.dropout ?? DEFAULT_DROPOUT;
  if (!(dropout >= 0 && dropout < 1)) throw new Error(`value head: dropout ${dropout} must be in [0, 1)`);
  if (!Number.isInteger(opts.epochs) || opts.epochs < 1) throw new Error(`value head: epochs ${opts.epochs} must be a positive integer`);
  const seeds = new Rng(opts.seed);
  const [splitRng, initSeed, shuffleRng, dropoutRng] = [
    new Rng(seeds.int(2 ** 32)),
    seeds.int(2 ** 32),
    new Rng(seeds.int(2 ** 32)),
    new Rng(seeds.int(2 ** 32)),
  ];
  const { train, heldout } = splitHeldout(examples, idx, opts.heldoutFraction ?? DEFAULT_HELDOUT, splitRng);
  const meanTarget = meanTargetOf(examples, train);
  const meanMse = mse(meanTarget, heldout, examples);

  const init = initValueParams(runner.cfg, initSeed, meanTarget);
  const trainer = runner.trainer(init);
  const history: ValueEpoch[] = [];
  let best = { epoch: 0, mse: Infinity, params: init };
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    // forward-backward-update over a seeded shuffle of the training part, at a constant learning rate
    const order = shuffleRng.shuffle(train.slice());
    const rowsOf = (s: number) => order.slice(s * runner.batch, (s + 1) * runner.batch);
    let sq = 0;
    let gradSum = 0;
    const steps = Math.ceil(order.length / runner.batch);
    const t0 = performance.now();
    await trainLoop(trainer, {
      from: 0,
      to: steps,
      lr: opts.lr,
      batches: (s) => [runner.trainBatch(examples, rowsOf(s), dropoutRng, dropout)],
      afterStep: ({ step, stats }) => {
        sq += rowsOf(step - 1).length * stats.loss;
        gradSum += stats.gradNorm;
      },
    });
    const elapsedMs = performance.now() - t0;
    const tokens = order.reduce((a, i) => a + examples[i].length, 0);
    // evaluate on the held-out part; keep the best epoch's parameters
    const current = await trainer.weights();
    const heldoutMse = mse(await runner.predict(current, examples, heldout), heldout, examples);
    const record = { epoch, trainMse: sq / train.length, heldoutMse };
    history.push(record);
    const extra = { gradNorm: gradSum / steps, tokens, elapsedMs };
    opts.onProgress?.(fold === undefined ? { ...record, ...extra } : { ...record, fold, ...extra });
    if (!Number.isFinite(record.trainMse)) {
      throw new AlolError('value', `value head: the training loss is not finite at epoch ${epoch}`, 'lower value.lr', 'parenthesized');
    }
    if (heldoutMse < best.mse) {
      best = { epoch, mse: heldoutMse, params: current };
    }
  }
  return {
    params: best.params,
    epochChosen: best.epoch,
    heldoutMse: best.mse,
    meanMse,
    meanTarget,
    history,
    trainIndices: Int32Array.from(train),
    heldoutIndices: Int32Array.from(heldout),
  };
}

/** Fits a value head on `examples` (hidden states [T_i, hiddenSize]); dispose() releases its sessions. */
export async function fitValueHead(examples: readonly ValueExample[], hiddenSize: number, opts: ValueFitOptions): Promise<FittedValueHead> {
  const runner = runnerFor(hiddenSize, opts);
  try {
    checkExamples(examples, hiddenSize, opts.range);
    const summary = await fitOn(runner, examples, [...examples.keys()], opts);
    return { ...summary, ...predictorOf(runner, summary.params) };
  } catch (err) {
    await runner.dispose();
    throw err;
  }
}

function predictorOf(runner: ValueRunner, params: ReadonlyMap<string, Float32Array>): ValuePredictor {
  return {
    predict: async (examples) => {
      checkExamples(examples, runner.cfg.hiddenSize, null);
      return runner.predict(params, examples, [...examples.keys()]);
    },
    dispose: () => runner.dispose(),
  };
}

/** A predictor from saved parameters (e.g. a run folder's value head). */
export function createValuePredictor(
  params: ReadonlyMap<string, Float32Array>,
  hiddenSize: number,
  opts: Pick<ValueFitOptions, 'heads' | 'range' | 'batchSize' | 'lengthMultiple' | 'compute' | 'threads' | 'provider'>,
): ValuePredictor {
  return predictorOf(runnerFor(hiddenSize, opts), params);
}

/** Fold of each example: the distinct groups, shuffled with the seed, dealt round-robin to k folds. */
export function assignFolds(examples: readonly ValueExample[], folds: number, seed: number): Int32Array {
  const groups = groupsOf(examples, [...examples.keys()]);
  if (!Number.isInteger(folds) || folds < 2) throw new Error(`value head: ${folds} folds; out-of-fold fitting needs at least 2`);
  if (groups.size < folds) {
    throw new AlolError('config', `value head: ${groups.size} groups for ${folds} folds`, 'lower value.folds', 'parenthesized');
  }
  const foldOf = new Int32Array(examples.length);
  new Rng(seed).shuffle([...groups.keys()]).forEach((key, k) => {
    for (const i of groups.get(key) as number[]) foldOf[i] = k % folds;
  });
  return foldOf;
}

/**
 * Out-of-fold values (`value.fitOn: "train"`): for each of k folds, a head fit (with its own 10%
 * epoch-selection hold-out) on the other folds predicts the fold. The mean predictor of a fold is the
 * mean target of the other folds.
 */
export async function fitOutOfFold(
  examples: readonly ValueExample[],
  hiddenSize: number,
  folds: number,
  opts: ValueFitOptions,
): Promise<OutOfFoldFit> {
  checkExamples(examples, hiddenSize, opts.range);
  const seeds = new Rng(opts.seed);
  const foldOf = assignFolds(examples, folds, seeds.int(2 ** 32));
  const predictions = new Float64Array(examples.length);
  const meanPredictions = new Float64Array(examples.length);
  const runner = runnerFor(hiddenSize, opts);
  const reports: ValueFold[] = [];
  try {
    for (let f = 0; f < folds; f++) {
      const inFold = [...examples.keys()].filter((i) => foldOf[i] === f);
      const others = [...examples.keys()].filter((i) => foldOf[i] !== f);
      const fit = await fitOn(runner, examples, others, { ...opts, seed: seeds.int(2 ** 32) }, f);
      const pred = await runner.predict(fit.params, examples, inFold);
      const othersMean = meanTargetOf(examples, others);
      inFold.forEach((i, k) => {
        predictions[i] = pred[k];
        meanPredictions[i] = othersMean;
      });
      const { epochChosen, heldoutMse, meanMse, history, trainIndices, heldoutIndices } = fit;
      const [oofMse, oofMeanMse] = [mse(pred, inFold, examples), mse(othersMean, inFold, examples)];
      const [predicted, fittedOn] = [Int32Array.from(inFold), Int32Array.from(others)];
      reports.push({
        fold: f,
        epochChosen,
        heldoutMse,
        meanMse,
        history,
        trainIndices,
        heldoutIndices,
        predicted,
        fittedOn,
        oofMse,
        oofMeanMse,
      });
    }
  } finally {
    await runner.dispose();
  }
  const all = [...examples.keys()];
  return {
    predictions,
    meanPredictions,
    foldOf,
    oofMse: mse(predictions, all, examples),
    meanMse: mse(meanPredictions, all, examples),
    folds: reports,
  };
}
