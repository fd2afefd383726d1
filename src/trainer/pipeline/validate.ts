// The fail-fast step: every problem of a run that its config and data show before any model work is
// found here, after the data is read and before the first phase starts — all of them in one error, each
// with what to do. `alol audit --dry-run` runs it alone and prints what the run would do. What it checks:
// reward components exist and can score every row that needs a reward (fields present and in range,
// module and ONNX files there); the training split (and, when evaluating, the test split) is not empty,
// with a hint that fits how rows were split; the value head can be fitted (fitOn "validation" needs
// rewards that score generated text and 10 validation prompts; fitOn "train" one group per fold); dpo
// has pairs to learn from; the baselines' data requirements (validate-baselines.ts); the model leaves room for
// evaluation's new tokens.

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RunConfig } from '../../protocol/config.js';
import { type Variant, usesAdvantages } from '../alol/rules.js';
import { responseSets, statedPairs } from '../data/pairs.js';
import type { Row, Split } from '../data/rows.js';
import { AlolError, type Failure } from '../errors.js';
import { fieldValue } from '../rewards/components.js';
import type { RunData } from './data.js';
import { generationRewards } from './evaluate.js';
import { baselineDataProblems, baselineRewardProblems, fieldTotals } from './validate-baselines.js';

/** What a run will do, so that only what it needs is checked (and computed). */
export interface RunPlan {
  /** Variants to train, in order (empty: the audit alone). */
  variants: readonly Variant[];
  /** Fit the value head and compute advantages (the audit; a run training an A-LoL variant). */
  value: boolean;
  /** Evaluate the reference and the variants on the test split. */
  evaluate: boolean;
}

/** The variants a config asks for: `train.variants`, else `train.variant`. */
export const configVariants = (config: RunConfig): Variant[] => [...(config.train.variants ?? [config.train.variant])];

/** An experiment's plan: the value head only when a variant uses advantages. */
export const experimentPlan = (variants: readonly Variant[]): RunPlan => ({
  variants,
  value: variants.some(usesAdvantages),
  evaluate: true,
});

/** What the checks found out, for `alol audit --dry-run`. */
export interface Validated {
  trainRows: number;
  trainGroups: number;
  /** Pairs the training split's records state, and its prompts with two or more responses (pairs form from their rewards). */
  statedTrainPairs: number;
  responseSetsTrain: number;
  testRows: number;
  statedTestPairs: number;
  responseSetsTest: number;
  validationPrompts: number;
  /** Components that score generated text (evaluation rewards); none: generation rewards are n/a. */
  generationRewards: string[];
}

export const MIN_VALIDATION_PROMPTS = 10;

const distinct = <T>(xs: readonly T[]): number => new Set(xs).size;

/** Why a split is empty, and what to do, for how its rows were split (split fields, fractions, or both). */
function emptySplit(split: Split, rows: readonly Row[], config: RunConfig, groups: number): Failure {
  const fixed = rows.filter((r) => r.fixedSplit).length;
  const fractions = config.data.split;
  const share = split === 'train' ? 1 - fractions.validation - fractions.test : fractions[split];
  const key = split === 'train' ? 'data.split.validation / data.split.test' : `data.split.${split}`;
  const raise = split === 'train' ? `lower ${key}` : `raise ${key} (now ${share})`;
  if (rows.length > 0 && fixed === rows.length) {
    return {
      code: 'data',
      message: `the ${split} split is empty: every row has a "split" field and none says "${split}" (data.split's fractions do not apply)`,
      hint: `give some rows "split": "${split}", or remove the split fields so that ${key} applies`,
    };
  }
  if (fixed > 0) {
    return {
      code: 'data',
      message: `the ${split} split is empty: ${fixed} rows have "split" fields (none "${split}"), the other ${rows.length - fixed} are ` +
        `split by data.split (${split} ${share}) over their groups`,
      hint: `give some rows "split": "${split}", or ${raise}`,
    };
  }
  return {
    code: 'data',
    message: `the ${split} split is empty: data.split gives it ${share} of ${groups} groups (prompts), which put none there`,
    hint: share === 0 || groups >= 20 ? raise : `${raise}, or add prompts: splits assign whole groups`,
  };
}

/** Field components without a default: every row that needs a reward has the field, a number in range. */
function fieldProblems(config: RunConfig, rows: readonly Row[]): Failure[] {
  const out: Failure[] = [];
  for (const c of config.rewards) {
    if (c.kind !== 'field') continue;
    let missing = 0;
    let bad = 0;
    let first: string | null = null;
    for (const r of rows) {
      const v = fieldValue(r, c.field) ?? c.default ?? undefined;
      const x = typeof v === 'boolean' ? Number(v) : v;
      const ok = typeof x === 'number' && Number.isFinite(x) && x >= c.range[0] && x <= c.range[1];
      if (ok) continue;
      if (v === undefined) missing++;
      else bad++;
      first ??= `${r.file}:${r.line} (row ${r.id}, ${r.split}): ` +
        (v === undefined ? `no field '${c.field}'` : `${JSON.stringify(v)} is not a number in [${c.range[0]}, ${c.range[1]}]`);
    }
    if (missing + bad === 0) continue;
    out.push({
      code: 'reward',
      message: `reward ${c.name} (field ${c.field}): ${missing + bad} of the ${rows.length} rows that need a reward cannot give one ` +
        `(${missing} without the field, ${bad} out of range or not a number), first ${first}`,
      hint: missing && !bad ? `give the component a "default", or add the field to those rows` : `fix those rows, or widen "range"`,
    });
  }
  return out;
}

/** Module files and ONNX folders exist (loading them is the rewards phase's; a missing one is known now). */
function fileProblems(config: RunConfig, baseDir: string): Failure[] {
  const out: Failure[] = [];
  for (const c of config.rewards) {
    if (c.kind === 'module' && !existsSync(path.resolve(baseDir, c.path))) {
      out.push({ code: 'config', message: `reward ${c.name}: module file ${path.resolve(baseDir, c.path)} does not exist`,
        hint: 'paths are relative to the config file' });
    }
    if (c.kind === 'onnx' && !existsSync(path.join(path.resolve(baseDir, c.path), 'model.onnx'))) {
      out.push({ code: 'config', message: `reward ${c.name}: ${path.resolve(baseDir, c.path)} holds no model.onnx`,
        hint: 'an onnx reward is a folder with model.onnx, tokenizer.json and config.json' });
    }
  }
  return out;
}

/**
 * Checks a run before its first phase; throws one AlolError listing every problem found (the first
 * one's code, each with its hint), else returns what it found.
 */
export function validateRun(config: RunConfig, baseDir: string, data: RunData, plan: RunPlan): Validated {
  const problems: Failure[] = [];
  const { allRows, trainRows } = data;
  const split = (s: Split) => allRows.filter((r) => r.split === s);
  const test = split('test');
  const validation = split('validation');
  const trainGroups = distinct(trainRows.map((r) => r.group));
  const groups = data.report.groups;
  const stated = (rows: readonly Row[]) => statedPairs(rows).length;
  const sets = (rows: readonly Row[]) => responseSets(rows);
  const gen = generationRewards(config.rewards).map((c) => c.name);

  // rewards
  if (config.rewards.length === 0) {
    problems.push({ code: 'config', message: 'the config has no reward components', hint: 'add at least one to "rewards" (see README)' });
  }
  problems.push(...fileProblems(config, baseDir));

  // splits
  const excluded = allRows.filter((r) => r.split === 'train' && r.raw.exclude === true).length;
  if (trainRows.length === 0) {
    problems.push(excluded
      ? { code: 'data', message: `all ${excluded} training rows are marked "exclude": true`, hint: 'remove "exclude" from some rows' }
      : emptySplit('train', allRows, config, groups));
  }
  if (plan.evaluate && test.length === 0) problems.push(emptySplit('test', allRows, config, groups));

  // rows that need a reward: training rows; when evaluating, the test and validation rows that pairs form from
  const evalRows = [...test, ...validation];
  const inSets = new Set(sets(evalRows).flat());
  const pairRows = plan.evaluate ? evalRows.filter((_, i) => inSets.has(i)) : [];
  problems.push(...fieldProblems(config, [...trainRows, ...pairRows]));

  // the value head
  if (plan.value && config.value.fitOn === 'validation') {
    const fields = config.rewards.filter((r) => r.kind === 'field').map((r) => `"${r.name}"`);
    if (fields.length) {
      problems.push({
        code: 'config',
        message: `value.fitOn "validation" fits V on rewards of the reference's own generations, which the ` +
          `reward${fields.length > 1 ? 's' : ''} ${fields.join(', ')} (kind field) cannot score: a field is read from the dataset row`,
        hint: 'use value.fitOn "train" (out-of-fold on the training rows\' rewards)',
      });
    }
    const prompts = distinct(validation.map((r) => r.prompt));
    if (prompts < MIN_VALIDATION_PROMPTS) {
      const why = prompts === 0 ? emptySplit('validation', allRows, config, groups).hint : 'raise data.split.validation';
      problems.push({
        code: 'data',
        message: `value.fitOn "validation" needs at least ${MIN_VALIDATION_PROMPTS} distinct validation prompts; ` +
          `the validation split has ${prompts}`,
        hint: `${why} or use value.fitOn "train"`,
      });
    }
  }
  if (plan.value && config.value.fitOn === 'train' && trainRows.length > 0 && trainGroups < config.value.folds) {
    problems.push({
      code: 'config',
      message: `value.fitOn "train" deals whole groups (prompts) to ${config.value.folds} folds; the training split has ${trainGroups}`,
      hint: 'lower value.folds, or add prompts',
    });
  }

  // pairs for dpo
  const statedTrain = stated(trainRows);
  const setsTrain = sets(trainRows).length;
  if (plan.variants.includes('dpo') && trainRows.length > 0 && statedTrain === 0 && setsTrain === 0) {
    problems.push({
      code: 'data',
      message: `dpo needs preference pairs, and the training split has none: no pair or HH records, and none of its ${trainGroups} ` +
        'prompts has two or more responses to form a pair from by their rewards',
      hint: 'add responses to the same prompt (rows sharing the prompt, or {prompt, responses: [...]}), or pair records',
    });
  }

  // the baselines' data requirements (validate-baselines.ts); rewards that score text are checked after the rewards phase
  problems.push(...baselineDataProblems(config, trainRows, plan.variants));
  const totals = fieldTotals(config, trainRows);
  if (totals) problems.push(...baselineRewardProblems(config, totals, plan.variants));

  // evaluation needs room for new tokens
  const init = 'init' in config.model && !config.reference.path ? config.model.init : null;
  if (plan.evaluate && init && init.positions - config.eval.maxNewTokens < 1) {
    problems.push({
      code: 'config',
      message: `eval.maxNewTokens ${config.eval.maxNewTokens} leaves no room for a prompt in model.init.positions ${init.positions}`,
      hint: 'lower eval.maxNewTokens or raise model.init.positions',
    });
  }

  if (problems.length) throw problemsError(problems);
  return {
    trainRows: trainRows.length,
    trainGroups,
    statedTrainPairs: statedTrain,
    responseSetsTrain: setsTrain,
    testRows: test.length,
    statedTestPairs: stated(test),
    responseSetsTest: sets(test).length,
    validationPrompts: distinct(validation.map((r) => r.prompt)),
    generationRewards: gen,
  };
}

/** One error for all problems: the first one's code; numbered when there are several. */
function problemsError(problems: readonly Failure[]): AlolError {
  if (problems.length === 1) return new AlolError(problems[0].code, problems[0].message, problems[0].hint);
  const text = problems.map((p, i) => `(${i + 1}) ${p.message}${p.hint ? ` (hint: ${p.hint})` : ''}`).join('; ');
  return new AlolError(problems[0].code, `${problems.length} problems, found before any model work: ${text}`);
}
