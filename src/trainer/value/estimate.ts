// V(x) for every training row from the value head (DESIGN.md "Value estimate"): fitted out-of-fold on
// the training rows' own rewards (fitOn "train": a row's V comes from a head not fitted on it), or
// fitted on validation prompts and applied to each distinct training prompt (fitOn "validation").
// The pipeline's value phase (pipeline/value.ts) supplies hidden states, targets and caching.

import { fitOutOfFold, fitValueHead } from './fit.js';
import type { ValueExample, ValueFitOptions } from './types.js';

export interface ValueFit {
  /** V per training row. */
  values: Float64Array;
  /** Held-out MSE of the head (out-of-fold for fitOn train) and of predicting the mean reward. */
  headMse: number;
  meanMse: number;
}

/** fitOn "train": one example per training row (its prompt's hidden states, its reward, its group). */
export async function outOfFoldValues(
  examples: readonly ValueExample[],
  hiddenSize: number,
  folds: number,
  opts: ValueFitOptions,
): Promise<ValueFit> {
  const oof = await fitOutOfFold(examples, hiddenSize, folds, opts);
  return { values: oof.predictions, headMse: oof.oofMse, meanMse: oof.meanMse };
}

/**
 * fitOn "validation": a head fitted on `fitExamples`, then V of each distinct training prompt
 * (`promptHidden`), given to every row of that prompt (`promptOfRow`).
 */
export async function validationValues(
  fitExamples: readonly ValueExample[],
  promptHidden: readonly Float32Array[],
  promptOfRow: readonly number[],
  hiddenSize: number,
  opts: ValueFitOptions,
): Promise<ValueFit> {
  const head = await fitValueHead(fitExamples, hiddenSize, opts);
  try {
    const unique = await head.predict(promptHidden.map((h) => ({ hidden: h, length: h.length / hiddenSize, target: head.meanTarget })));
    return { values: Float64Array.from(promptOfRow, (u) => unique[u]), headMse: head.heldoutMse, meanMse: head.meanMse };
  } finally {
    await head.dispose();
  }
}
