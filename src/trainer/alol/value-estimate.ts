// V(x) for every training row (DESIGN.md "Value estimate"): the value head on the frozen reference's
// prompt hidden states, fitted either on validation prompts with targets = rewards of pi_ref's own
// greedy generations (fitOn "validation", the paper's choice) or out-of-fold on the training rows'
// own rewards (fitOn "train": a row's V comes from a head not fitted on it). The whole estimate is
// cached by everything it depends on, so an unchanged audit does not refit.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig } from '../../protocol/config.js';
import type { Phase } from '../../protocol/trainer.js';
import type { Row } from '../data/rows.js';
import { Generator } from '../model/generate.js';
import type { RewardSet } from '../rewards/registry.js';
import type { Provider } from '../runtime/session.js';
import { KvCache } from '../util/kv-cache.js';
import { type Policy, type promptHidden, sha } from './reference.js';
import type { Lengths, TokenizedRow } from './tokenize.js';
import { type ValueExample, fitOutOfFold, fitValueHead } from './value-fit.js';
import { AlolError } from '../errors.js';

export interface ValueEstimate {
  values: Float64Array;
  fitOn: 'validation' | 'train';
  /** Held-out MSE of the head (out-of-fold for fitOn train) and of predicting the mean reward. */
  headMse: number;
  meanMse: number;
  reused: boolean;
  examples: number;
}

interface Args {
  config: RunConfig;
  reference: Policy;
  train: readonly TokenizedRow[];
  rewards: { total: Float64Array; range: [number, number] };
  rewardSet: RewardSet;
  validation: readonly Row[];
  lengths: Lengths;
  cacheDir: string | null;
  rt: { threads: number; provider: Provider };
  start: (phase: Phase, message: string) => void;
  finish: (phase: Phase, message: string) => void;
  hidden: typeof promptHidden;
  progress: (phase: Phase) => (done: number, total: number) => void;
}

/** Distinct prompts (by tokens) and, per row, the index of its prompt. */
function distinct(prompts: readonly (readonly number[])[]): { unique: number[][]; index: number[] } {
  const seen = new Map<string, number>();
  const unique: number[][] = [];
  const index = prompts.map((p) => {
    const k = p.join(',');
    let i = seen.get(k);
    if (i === undefined) {
      i = unique.length;
      seen.set(k, i);
      unique.push([...p]);
    }
    return i;
  });
  return { unique, index };
}

/** Greedy generations of pi_ref for prompts, cached per (policy, max new tokens, prompt). */
async function greedy(a: Args, prompts: number[][]): Promise<string[]> {
  const maxNew = a.config.eval.maxNewTokens;
  const cache = a.cacheDir ? new KvCache<string>(a.cacheDir, 'greedy', (v): v is string => typeof v === 'string') : null;
  const fp = `${a.reference.hash}-${maxNew}`;
  const known = cache ? await cache.load(fp) : new Map<string, string>();
  const keys = prompts.map((p) => sha(p));
  const todo = prompts.map((_, i) => i).filter((i) => !known.has(keys[i]));
  const gen = new Generator(a.reference.config, a.reference.params, a.reference.tokenizer, a.rt);
  const bar = a.progress('value');
  try {
    for (let k = 0; k < todo.length; k += 16) {
      const idx = todo.slice(k, k + 16);
      const out = await gen.generate(idx.map((i) => prompts[i]), { maxNewTokens: maxNew, temperature: 0 });
      const fresh = idx.map((i, j) => [keys[i], out[j].text] as const);
      fresh.forEach(([key, text]) => known.set(key, text));
      await cache?.append(fp, fresh);
      bar(Math.min(k + 16, todo.length), todo.length);
    }
  } finally {
    await gen.dispose();
  }
  return keys.map((k) => known.get(k) as string);
}

const MIN_VALIDATION_PROMPTS = 10;

/**
 * What makes fitOn "validation" impossible whatever the data: a `field` reward reads the dataset, so it
 * cannot score the reference's generations. The audit checks this before its first phase.
 */
export function checkFitOn(config: RunConfig): void {
  if (config.value.fitOn !== 'validation') return;
  const fields = config.rewards.filter((r) => r.kind === 'field').map((r) => `"${r.name}"`);
  if (fields.length === 0) return;
  throw new AlolError(
    'config',
    `value.fitOn "validation" fits V on rewards of the reference's own generations, which the ` +
      `reward${fields.length > 1 ? 's' : ''} ${fields.join(', ')} (kind field) cannot score: a field is read from the dataset row`,
    'use value.fitOn "train" (out-of-fold on the training rows\' rewards)',
  );
}

export async function estimateValues(a: Args): Promise<ValueEstimate> {
  const { config, reference } = a;
  const c = reference.config.nEmbd;
  const heads = c % config.value.heads === 0 ? config.value.heads : reference.config.nHead;
  const fitOpts = { heads, epochs: config.value.epochs, lr: config.value.lr, batchSize: config.value.batchSize, seed: config.train.seed, range: a.rewards.range, ...a.rt };
  const trainPrompts = distinct(a.train.map((t) => t.prompt));
  const fitOn = config.value.fitOn;
  a.start(
    'value',
    fitOn === 'train'
      ? `fitting the value head V(x) on the reference's hidden states of ${trainPrompts.unique.length} training prompts, out-of-fold (${config.value.folds} folds: no row's V comes from a head fitted on it)`
      : `fitting the value head V(x) on validation prompts, with targets = rewards of the reference's own greedy generations`,
  );

  let targets: Float64Array;
  let fitPrompts: number[][];
  if (fitOn === 'train') {
    targets = a.rewards.total;
    fitPrompts = a.train.map((t) => t.prompt);
  } else {
    checkFitOn(config);
    const budget = { ...a.lengths, maxPromptTokens: Math.min(a.lengths.maxPromptTokens, reference.config.nPositions - config.eval.maxNewTokens) };
    if (budget.maxPromptTokens < 1) {
      const room = `eval.maxNewTokens ${config.eval.maxNewTokens} leaves no room for prompts in n_positions ${reference.config.nPositions}`;
      throw new AlolError('config', `value.fitOn "validation": ${room}`, 'lower eval.maxNewTokens');
    }
    const val = distinct(a.validation.map((r) => reference.tokenizer.encode(r.prompt).slice(-budget.maxPromptTokens)));
    if (val.unique.length < MIN_VALIDATION_PROMPTS) {
      throw new AlolError(
        'data',
        `value.fitOn "validation" needs at least ${MIN_VALIDATION_PROMPTS} distinct validation prompts; the validation split has ` +
          `${val.unique.length}`,
        'raise data.split.validation or use value.fitOn "train"',
      );
    }
    const texts = await greedy(a, val.unique);
    const genRows: Row[] = val.unique.map((p, i) => ({ id: `greedy:${sha(p)}`, file: '(reference greedy generation)', line: i + 1, prompt: reference.tokenizer.decode(p), response: texts[i], split: 'validation', group: `greedy:${i}`, kind: 'row', raw: {} }));
    targets = (await a.rewardSet.score(genRows)).total;
    fitPrompts = val.unique;
  }

  const key = sha('value-v1', reference.hash, config.value, heads, config.train.seed, a.rewards.range, fitOn, [...targets], fitPrompts, trainPrompts.unique, a.train.map((t) => t.row.group));
  const cacheFile = a.cacheDir ? path.join(a.cacheDir, `value-${key}.json`) : null;
  if (cacheFile) {
    const hit = await readFile(cacheFile, 'utf8').then((s) => JSON.parse(s) as { values: number[]; headMse: number; meanMse: number; examples: number }, () => null);
    if (hit) {
      a.finish('value', `reused the value estimate from the cache (its inputs are unchanged): head MSE ${hit.headMse.toFixed(4)} vs mean predictor ${hit.meanMse.toFixed(4)}`);
      return { values: Float64Array.from(hit.values), fitOn, headMse: hit.headMse, meanMse: hit.meanMse, reused: true, examples: hit.examples };
    }
  }

  const hiddenOf = await a.hidden(reference, fitOn === 'train' ? trainPrompts.unique : [...fitPrompts, ...trainPrompts.unique], { cacheDir: a.cacheDir, ...a.rt });
  const bar = a.progress('value');
  let values: Float64Array;
  let headMse: number;
  let meanMse: number;
  if (fitOn === 'train') {
    const examples: ValueExample[] = a.train.map((t, i) => {
      const h = hiddenOf.hidden[trainPrompts.index[i]];
      return { hidden: h, length: h.length / c, target: targets[i], group: t.row.group };
    });
    let done = 0;
    const oof = await fitOutOfFold(examples, c, config.value.folds, { ...fitOpts, onProgress: () => bar(++done, config.value.folds * config.value.epochs) });
    values = oof.predictions;
    headMse = oof.oofMse;
    meanMse = oof.meanMse;
  } else {
    const examples: ValueExample[] = fitPrompts.map((_, i) => ({ hidden: hiddenOf.hidden[i], length: hiddenOf.hidden[i].length / c, target: targets[i] }));
    const head = await fitValueHead(examples, c, { ...fitOpts, onProgress: (e) => bar(e.epoch, config.value.epochs) });
    try {
      headMse = head.heldoutMse;
      meanMse = head.meanMse;
      const unique = await head.predict(trainPrompts.unique.map((_, u) => {
        const h = hiddenOf.hidden[fitPrompts.length + u];
        return { hidden: h, length: h.length / c, target: head.meanTarget };
      }));
      values = Float64Array.from(a.train, (_, i) => unique[trainPrompts.index[i]]);
    } finally {
      await head.dispose();
    }
  }
  if (cacheFile) {
    await mkdir(path.dirname(cacheFile), { recursive: true });
    await writeFile(cacheFile, JSON.stringify({ values: [...values], headMse, meanMse, examples: targets.length }));
  }
  const verdict = headMse < 0.95 * meanMse ? 'better than predicting the mean' : 'NO better than predicting the mean reward, so A is about R - mean(R) (expected when quality varies per response rather than per prompt)';
  a.finish('value', `value head fitted on ${targets.length} examples: held-out MSE ${headMse.toFixed(4)} vs ${meanMse.toFixed(4)} for the mean predictor — ${verdict}`);
  return { values, fitOn, headMse, meanMse, reused: false, examples: targets.length };
}
