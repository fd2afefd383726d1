// The value phase: V(x) for every training row (DESIGN.md "Value estimate") from the value head on the
// frozen reference's prompt hidden states, fitted either on validation prompts with targets = rewards
// of pi_ref's own greedy generations (fitOn "validation", the paper's choice) or out-of-fold on the
// training rows' own rewards (fitOn "train"). The whole estimate is cached by everything it depends
// on, so an unchanged audit does not refit; hidden states and greedy generations are cached too.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig } from '../../protocol/config.js';
import type { ComputeBackend } from '../compute/backend.js';
import type { Row } from '../data/rows.js';
import { type TokenizedRow, promptIds } from '../data/tokenize.js';
import { AlolError } from '../errors.js';
import type { Policy } from '../model/policy.js';
import type { RewardSet } from '../rewards/registry.js';
import type { RunContext } from '../run/context.js';
import { DiskMemo } from '../util/disk-memo.js';
import { sha } from '../util/hash.js';
import { outOfFoldValues, validationValues } from '../value/estimate.js';
import type { ValueExample, ValueFitOptions } from '../value/types.js';

type FitEpoch = Parameters<NonNullable<ValueFitOptions['onProgress']>>[0];
import type { PhaseClock } from './phase.js';
import { lengthsFor } from './reference.js';
import type { Rewards } from './rewards.js';

export interface ValueEstimate {
  values: Float64Array;
  fitOn: 'validation' | 'train';
  /** Held-out MSE of the head (out-of-fold for fitOn train) and of predicting the mean reward. */
  headMse: number;
  meanMse: number;
  reused: boolean;
  examples: number;
}

export interface ValueInputs {
  reference: Policy;
  train: readonly TokenizedRow[];
  rewards: Pick<Rewards, 'total' | 'range'>;
  rewardSet: RewardSet;
  validation: readonly Row[];
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
async function greedy(ctx: RunContext, clock: PhaseClock, reference: Policy, prompts: number[][]): Promise<string[]> {
  const maxNew = ctx.config.eval.maxNewTokens;
  const memo = ctx.cacheDir ? new DiskMemo<string>(ctx.cacheDir, 'greedy', (v): v is string => typeof v === 'string') : null;
  const fp = `${reference.hash}-${maxNew}`;
  const known = memo ? await memo.load(fp) : new Map<string, string>();
  const keys = prompts.map((p) => sha(p));
  const todo = prompts.map((_, i) => i).filter((i) => !known.has(keys[i]));
  const gen = ctx.compute.generator(reference, reference.tokenizer);
  const bar = clock.progress('value');
  try {
    for (let k = 0; k < todo.length; k += 16) {
      const idx = todo.slice(k, k + 16);
      const out = await gen.generate(idx.map((i) => prompts[i]), { maxNewTokens: maxNew, temperature: 0 });
      const fresh = idx.map((i, j) => [keys[i], out[j].text] as const);
      fresh.forEach(([key, text]) => known.set(key, text));
      await memo?.append(fp, fresh);
      bar(Math.min(k + 16, todo.length), todo.length);
    }
  } finally {
    await gen.dispose();
  }
  return keys.map((k) => known.get(k) as string);
}

/** Last-layer hidden states [T, C] of each distinct prompt, cached per (policy, prompt tokens). */
export async function promptHidden(
  compute: ComputeBackend,
  ref: Policy,
  prompts: readonly (readonly number[])[],
  opts: { cacheDir: string | null; batchSize?: number },
): Promise<{ hidden: Float32Array[]; computed: number; cached: number }> {
  const c = ref.config.nEmbd;
  const dir = opts.cacheDir ? path.join(opts.cacheDir, `hidden-${ref.hash}`) : null;
  const keys = prompts.map((p) => sha(p));
  const hidden: (Float32Array | null)[] = await Promise.all(
    keys.map(async (k, i) => {
      if (!dir) return null;
      const buf = await readFile(path.join(dir, `${k}.f32`)).catch(() => null);
      if (!buf || buf.byteLength !== prompts[i].length * c * 4) return null;
      return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    }),
  );
  // shortest first, so a batch wastes little padding
  const todo = hidden.map((h, i) => (h ? -1 : i)).filter((i) => i >= 0).sort((a, b) => prompts[a].length - prompts[b].length);
  const fresh = await compute.promptHidden(ref, todo.map((i) => prompts[i]), opts.batchSize ?? 16);
  todo.forEach((i, k) => (hidden[i] = fresh[k]));
  if (dir && todo.length) {
    await mkdir(dir, { recursive: true });
    for (const i of todo) {
      const h = hidden[i] as Float32Array;
      await writeFile(path.join(dir, `${keys[i]}.f32`), new Uint8Array(h.buffer, h.byteOffset, h.byteLength));
    }
  }
  return { hidden: hidden as Float32Array[], computed: todo.length, cached: prompts.length - todo.length };
}

const MIN_VALIDATION_PROMPTS = 10;

/**
 * What makes fitOn "validation" impossible whatever the data: a `field` reward reads the dataset, so it
 * cannot score the reference's generations. validate.ts reports it before the first phase; this guard stays.
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

/** The validation prompts and their targets: rewards of pi_ref's greedy generations. */
async function validationTargets(ctx: RunContext, clock: PhaseClock, a: ValueInputs): Promise<{
  prompts: number[][]; targets: Float64Array,
}> {
  const { config } = ctx;
  const { reference } = a;
  checkFitOn(config);
  const lengths = lengthsFor(ctx, reference);
  const maxPromptTokens = Math.min(lengths.maxPromptTokens, reference.config.nPositions - config.eval.maxNewTokens);
  if (maxPromptTokens < 1) {
    const room = `eval.maxNewTokens ${config.eval.maxNewTokens} leaves no room for prompts in n_positions ${reference.config.nPositions}`;
    throw new AlolError('config', `value.fitOn "validation": ${room}`, 'lower eval.maxNewTokens');
  }
  const val = distinct(a.validation.map((r) => promptIds(reference.tokenizer, r.prompt, lengths, maxPromptTokens, r).ids));
  if (val.unique.length < MIN_VALIDATION_PROMPTS) {
    throw new AlolError(
      'data',
      `value.fitOn "validation" needs at least ${MIN_VALIDATION_PROMPTS} distinct validation prompts; the validation split has ` +
        `${val.unique.length}`,
      'raise data.split.validation or use value.fitOn "train"',
    );
  }
  const texts = await greedy(ctx, clock, reference, val.unique);
  const firstRow: number[] = [];
  val.index.forEach((u, r) => (firstRow[u] ??= r));
  const genRows: Row[] = val.unique.map((p, i) => ({
    id: `greedy:${sha(p)}`,
    file: '(reference greedy generation)',
    line: i + 1,
    prompt: a.validation[firstRow[i]].prompt, // the text of the first row with these prompt tokens
    response: texts[i],
    split: 'validation',
    group: `greedy:${i}`,
    kind: 'row',
    raw: {},
  }));
  return { prompts: val.unique, targets: (await a.rewardSet.score(genRows)).total };
}

export async function valuePhase(ctx: RunContext, clock: PhaseClock, a: ValueInputs): Promise<ValueEstimate> {
  const { config } = ctx;
  const { reference } = a;
  const c = reference.config.nEmbd;
  const heads = c % config.value.heads === 0 ? config.value.heads : reference.config.nHead;
  const fitOpts = {
    heads,
    epochs: config.value.epochs,
    lr: config.value.lr,
    batchSize: config.value.batchSize,
    seed: config.train.seed,
    range: a.rewards.range,
  };
  const trainPrompts = distinct(a.train.map((t) => t.prompt));
  const fitOn = config.value.fitOn;
  const folds = config.value.folds;
  clock.start(
    'value',
    fitOn === 'train'
      ? `fitting the value head V(x) on the reference's hidden states of ${trainPrompts.unique.length} training prompts, ` +
          `out-of-fold (${folds} folds by prompt group: no row's V comes from a head fitted on its prompt's rows)`
      : `fitting the value head V(x) on validation prompts, with targets = rewards of the reference's own greedy generations`,
  );

  const { prompts: fitPrompts, targets } =
    fitOn === 'train' ? { prompts: a.train.map((t) => t.prompt), targets: a.rewards.total } : await validationTargets(ctx, clock, a);

  const groups = a.train.map((t) => t.row.group);
  const key = sha(
    'value-v1',
    reference.hash,
    config.value,
    heads,
    config.train.seed,
    a.rewards.range,
    fitOn,
    [...targets],
    fitPrompts,
    trainPrompts.unique,
    groups,
  );
  const cacheFile = ctx.cacheDir ? path.join(ctx.cacheDir, `value-${key}.json`) : null;
  if (cacheFile) {
    type Hit = { values: number[]; headMse: number; meanMse: number; examples: number };
    const hit = await readFile(cacheFile, 'utf8').then((s) => JSON.parse(s) as Hit, () => null);
    if (hit) {
      const mses = `head MSE ${hit.headMse.toFixed(4)} vs mean predictor ${hit.meanMse.toFixed(4)}`;
      clock.finish('value', `reused the value estimate from the cache (its inputs are unchanged): ${mses}`);
      return {
        values: Float64Array.from(hit.values),
        fitOn,
        headMse: hit.headMse,
        meanMse: hit.meanMse,
        reused: true,
        examples: hit.examples,
      };
    }
  }

  const prompts = fitOn === 'train' ? trainPrompts.unique : [...fitPrompts, ...trainPrompts.unique];
  const hiddenOf = (await promptHidden(ctx.compute, reference, prompts, { cacheDir: ctx.cacheDir })).hidden;
  const bar = clock.progress('value');
  // Each epoch of the head's fit (fold by fold when out-of-fold) as a step of the value phase: the dashboard's fit curves.
  let fitMs = 0;
  const fitStep = (step: number, totalSteps: number, e: FitEpoch) => {
    fitMs += e.elapsedMs;
    const tokensPerSec = e.tokens / Math.max(e.elapsedMs / 1e3, 1e-9);
    ctx.log.emit({
      type: 'step/didComplete', phase: 'value', step, totalSteps, loss: e.trainMse, heldoutLoss: e.heldoutMse, lr: config.value.lr,
      gradNorm: e.gradNorm, tokensPerSec, elapsedMs: fitMs,
    });
  };
  const example = (h: Float32Array, target: number, group?: string): ValueExample => ({
    hidden: h,
    length: h.length / c,
    target,
    ...(group === undefined ? {} : { group })
  });
  const fit =
    fitOn === 'train'
      ? await (() => {
          let done = 0;
          const examples = a.train.map((t, i) => example(hiddenOf[trainPrompts.index[i]], targets[i], t.row.group));
          const onProgress = (e: FitEpoch) => {
            bar(++done, folds * config.value.epochs);
            fitStep(done, folds * config.value.epochs, e);
          };
          return outOfFoldValues(examples, c, folds, { ...fitOpts, compute: ctx.compute, onProgress });
        })()
      : await validationValues(
          fitPrompts.map((_, i) => example(hiddenOf[i], targets[i])),
          trainPrompts.unique.map((_, u) => hiddenOf[fitPrompts.length + u]),
          trainPrompts.index,
          c,
          {
            ...fitOpts,
            compute: ctx.compute,
            onProgress: (e) => {
              bar(e.epoch, config.value.epochs);
              fitStep(e.epoch, config.value.epochs, e);
            },
          },
        );
  const { values, headMse, meanMse } = fit;
  if (cacheFile) {
    await mkdir(path.dirname(cacheFile), { recursive: true });
    await writeFile(cacheFile, JSON.stringify({ values: [...values], headMse, meanMse, examples: targets.length }));
  }
  const verdict =
    headMse < 0.95 * meanMse
      ? 'better than predicting the mean'
      : 'NO better than predicting the mean reward, so A is about R - mean(R) ' +
        '(expected when quality varies per response rather than per prompt)';
  const mses = `held-out MSE ${headMse.toFixed(4)} vs ${meanMse.toFixed(4)} for the mean predictor`;
  clock.finish('value', `value head fitted on ${targets.length} examples: ${mses} — ${verdict}`);
  return { values, fitOn, headMse, meanMse, reused: false, examples: targets.length };
}
