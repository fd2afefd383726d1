// Held-out evaluation of a policy (DESIGN.md "Splits and evaluation"). `evaluatePolicy` continues the
// distinct prompts of a split greedily (`heldout`) and with `eval.samplesPerPrompt` seeded samples at
// the eval temperature / top-p (`heldoutSampled`), scores every generation with the reward set and
// returns the metrics of metrics.ts plus the first `eval.showSamples` greedy samples for the
// dashboard. `preferenceAccuracy` is the share of test pairs with l(chosen) > l(rejected): pairs that
// records state, and pairs formed from several scored responses to a test prompt (data/pairs.ts).
//
// Generated text has no dataset fields, so it is scored only by builtin, module and onnx components:
// the caller builds the RewardSet from `generationRewards(config.rewards)` and the generations'
// `reward.total` is the weighted sum of those components alone (a `field` component would throw). With
// none (rewards from fields only) generations cannot be scored: `scored` is false, and the summary says
// n/a (null) instead of a mean of nothing.
//
// Determinism: the same policy, prompts and options give the same numbers. Prompts are laid out in a
// fixed order (by token length, ties in dataset order, so a batch wastes little left padding), each
// batch holds `promptsPerBatch` prompts with all samples of a prompt side by side, and batch k samples
// with a seed derived from (opts.seed, k). Changing promptsPerBatch changes which samples come out.

import type { RewardComponentConfig, RunConfig } from '../../protocol/config.js';
import type { TrainerEvent } from '../../protocol/trainer.js';
import type { GeneratedText as Generation } from '../compute/backend.js';
import { type ComputeOptions, withCompute } from '../compute/local.js';
import { type Pair, type Row, shortHash } from '../data/rows.js';
import { promptIds, tokenizeRows } from '../data/tokenize.js';
import { AlolError } from '../errors.js';
import type { Policy } from '../model/policy.js';
import type { TextTokenizer } from '../model/tokenizer.js';
import type { RewardSet } from '../rewards/registry.js';
import type { RunContext } from '../run/context.js';
import { type Metrics, type RewardMeans, corpusMetrics } from './metrics.js';
import { scoreTokenized } from './reference.js';

/** A greedy generation as the dashboard shows it (the `samples` of the protocol's eval/didComplete). */
export interface Sample {
  prompt: string;
  /** The dataset response of the prompt's first row. */
  reference: string | null;
  response: string;
  /** `total` and each component of the reward set. */
  rewards: RewardMeans;
}

export interface EvalResult {
  /** Greedy: one continuation per prompt. */
  heldout: Metrics;
  /** `samplesPerPrompt` samples per prompt at the eval temperature / top-p. */
  heldoutSampled: Metrics;
  samples: Sample[];
  /** Distinct prompts evaluated, and how many of them were left-truncated. */
  prompts: number;
  truncatedPrompts: number;
  /** Whether any component scored the generations; false: every reward in the metrics is meaningless (n/a). */
  scored: boolean;
}

export interface EvalOptions extends ComputeOptions {
  eval: RunConfig['eval'];
  data: Pick<RunConfig['data'], 'maxPromptTokens'> & Partial<Pick<RunConfig['data'], 'chatTemplate'>>;
  /** Seed of the sampled generations. */
  seed: number;
  /** Prompts per generation batch (default 16); the sampled batches hold their samplesPerPrompt copies. */
  promptsPerBatch?: number;
  /** A generation ends at the first of these strings (none by default). */
  stop?: readonly string[];
  /** Units: generations produced, then generations scored (total = 2 x prompts x (1 + samplesPerPrompt)). */
  onProgress?: (done: number, total: number) => void;
}

/** A distinct prompt of the split, tokenized and left-truncated to fit generation. */
export interface EvalPrompt {
  text: string;
  /** The prompt's first row (its response is the sample's reference). */
  row: Row;
  ids: number[];
  truncated: boolean;
}

/** The components that can score generated text: all but `field` (which reads dataset fields). */
export function generationRewards(configs: readonly RewardComponentConfig[]): RewardComponentConfig[] {
  return configs.filter((c) => c.kind !== 'field');
}

/**
 * The first `maxPrompts` distinct prompts (by text, dataset order), each left-truncated to
 * min(maxPromptTokens, nPositions - maxNewTokens) tokens so prompt + new tokens fit n_positions.
 */
export function evalPrompts(
  rows: readonly Row[],
  tok: TextTokenizer,
  limits: { maxPrompts: number; maxPromptTokens: number; maxNewTokens: number; nPositions: number; chatTemplate?: boolean },
): EvalPrompt[] {
  const budget = Math.min(limits.maxPromptTokens, limits.nPositions - limits.maxNewTokens);
  if (budget < 1) {
    const room = `eval.maxNewTokens ${limits.maxNewTokens} leaves no room for a prompt in the model's n_positions ${limits.nPositions}`;
    throw new AlolError('config', `evaluation: ${room}`, 'lower eval.maxNewTokens');
  }
  const seen = new Set<string>();
  const out: EvalPrompt[] = [];
  for (const row of rows) {
    if (out.length >= limits.maxPrompts) break;
    if (seen.has(row.prompt)) continue;
    seen.add(row.prompt);
    const { ids, dropped } = promptIds(tok, row.prompt, limits, budget, row);
    // An empty prompt stays empty: the generator starts it from EOS.
    out.push({ text: row.prompt, row, ids, truncated: dropped > 0 });
  }
  return out;
}

/** Seed of sampled batch k: distinct per batch so batches draw independent streams. */
const batchSeed = (seed: number, k: number): number => (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(k + 1, 0x85ebca6b)) >>> 0;

/** Row objects for the reward set: one per generation, identified by its text. */
function generatedRows(items: readonly { prompt: EvalPrompt; gen: Generation }[]): Row[] {
  return items.map(({ prompt, gen }, i) => ({
    id: `gen:${shortHash(JSON.stringify([prompt.text, gen.text]))}`,
    file: '(generated)',
    line: i + 1,
    prompt: prompt.text,
    response: gen.text,
    split: prompt.row.split,
    group: `gen:${i}`,
    kind: 'row',
    raw: {},
  }));
}

export async function evaluatePolicy(policy: Policy, rows: readonly Row[], rewardSet: RewardSet, opts: EvalOptions): Promise<EvalResult> {
  const ev = opts.eval;
  const prompts = evalPrompts(
    rows,
    policy.tokenizer,
    {
      maxPrompts: ev.maxPrompts,
      maxPromptTokens: opts.data.maxPromptTokens,
      maxNewTokens: ev.maxNewTokens,
      nPositions: policy.config.nPositions,
      chatTemplate: opts.data.chatTemplate,
    },
  );
  const p = prompts.length;
  const s = ev.samplesPerPrompt;
  const perBatch = opts.promptsPerBatch ?? 16;
  const units = p * (1 + s);
  let done = 0;
  const tick = (n: number): void => {
    done += n;
    opts.onProgress?.(done, 2 * units);
  };

  // Fixed layout: prompts by token length (stable), batches of `perBatch` prompts.
  const order = prompts.map((_, i) => i).sort((a, b) => prompts[a].ids.length - prompts[b].ids.length || a - b);
  const greedy: Generation[] = new Array(p);
  const sampled: Generation[] = new Array(p * s); // [P, S]: sample j of prompt i at i * s + j
  await withCompute(opts, async (compute) => {
    const gen = compute.generator(policy, policy.tokenizer);
    try {
      for (let k = 0; k * perBatch < p; k++) {
        const idx = order.slice(k * perBatch, (k + 1) * perBatch);
        const out = await gen.generate(idx.map((i) => prompts[i].ids), { maxNewTokens: ev.maxNewTokens, temperature: 0, stop: opts.stop });
        idx.forEach((i, r) => (greedy[i] = out[r]));
        tick(idx.length);
      }
      for (let k = 0; k * perBatch < p; k++) {
        const idx = order.slice(k * perBatch, (k + 1) * perBatch);
        const batch = idx.flatMap((i) => Array.from({ length: s }, () => prompts[i].ids));
        const out = await gen.generate(
          batch,
          { maxNewTokens: ev.maxNewTokens, temperature: ev.temperature, topP: ev.topP, seed: batchSeed(opts.seed, k), stop: opts.stop },
        );
        idx.forEach((i, r) => {
          for (let j = 0; j < s; j++) sampled[i * s + j] = out[r * s + j];
        });
        tick(batch.length);
      }
    } finally {
      await gen.dispose();
    }
  });

  // One scoring pass over greedy then sampled generations.
  const items = [
    ...greedy.map((g, i) => ({ prompt: prompts[i], gen: g })),
    ...sampled.map((g, k) => ({ prompt: prompts[Math.floor(k / s)], gen: g }))
  ];
  const base = done;
  const scored = await rewardSet.score(
    generatedRows(items),
    { onProgress: (d, t) => opts.onProgress?.(base + Math.round((d / Math.max(t, 1)) * units), 2 * units) },
  );
  const part = (from: number, to: number) => ({
    total: scored.total.subarray(from, to),
    components: new Map([...scored.components].map(([name, v]) => [name, v.subarray(from, to)] as const)),
  });
  const asText = (g: Generation) => ({ text: g.text, tokens: g.tokens.length });
  const heldout = corpusMetrics(greedy.map(asText), part(0, p));
  const heldoutSampled = corpusMetrics(sampled.map(asText), part(p, p + p * s));

  const canScore = rewardSet.names.length > 0;
  const samples: Sample[] = prompts.slice(0, ev.showSamples).map((q, i) => {
    const rewards = { total: scored.total[i] } as RewardMeans;
    for (const [name, v] of scored.components) rewards[name] = v[i];
    return { prompt: q.text, reference: q.row.response, response: greedy[i].text, rewards: canScore ? rewards : ({} as RewardMeans) };
  });
  const truncatedPrompts = prompts.filter((q) => q.truncated).length;
  return { heldout, heldoutSampled, samples, prompts: p, truncatedPrompts, scored: canScore };
}

export interface PreferenceOptions extends ComputeOptions {
  data: Pick<RunConfig['data'], 'maxPromptTokens' | 'maxResponseTokens'> & Partial<Pick<RunConfig['data'], 'chatTemplate'>>;
  /** Rows (pair halves) per scoring batch (default 16). */
  batchSize?: number;
  /** Units: pair halves scored. */
  onProgress?: (done: number, total: number) => void;
}

export interface PreferenceResult {
  /** Share of pairs with l(chosen) > l(rejected) (ties count as not greater); null without pairs. */
  accuracy: number | null;
  /** Mean of l(chosen) - l(rejected); null without pairs. */
  meanMargin: number | null;
  count: number;
  ties: number;
  /** l(chosen) - l(rejected) per pair, in the pairs' order. */
  margins: Float64Array;
}

/**
 * Held-out preference accuracy: l = summed log-prob of the response given the prompt, EOS appended
 * and truncated as in training (tokenizeRows), so a pair is judged on the tokens training sees.
 */
export async function preferenceAccuracy(policy: Policy, pairs: readonly Pair[], opts: PreferenceOptions): Promise<PreferenceResult> {
  const n = pairs.length;
  if (n === 0) return { accuracy: null, meanMargin: null, count: 0, ties: 0, margins: new Float64Array(0) };
  const lengths = {
    maxPromptTokens: opts.data.maxPromptTokens,
    maxResponseTokens: opts.data.maxResponseTokens,
    nPositions: policy.config.nPositions,
    chatTemplate: opts.data.chatTemplate,
  };
  const { rows } = tokenizeRows(pairs.flatMap((q) => [q.chosen, q.rejected]), policy.tokenizer, lengths); // [chosen, rejected] per pair
  const scored = await scoreTokenized(policy, rows, opts); // [chosen, rejected] per pair
  const margins = Float64Array.from(pairs, (_, i) => scored[2 * i].logprob - scored[2 * i + 1].logprob);
  let wins = 0;
  let ties = 0;
  for (const m of margins) {
    if (m > 0) wins++;
    else if (m === 0) ties++;
  }
  return { accuracy: wins / n, meanMargin: margins.reduce((a, m) => a + m, 0) / n, count: n, ties, margins };
}

/** Evaluates a policy on the test split the same way for every variant (and for `alol eval`); `testPairs` give the preference accuracy. */
export async function evaluateOnTest(
  policy: Policy,
  testRows: readonly Row[],
  testPairs: readonly Pair[],
  rewardSet: RewardSet,
  ctx: Pick<RunContext, 'config' | 'compute' | 'log'>,
  at: { variant: string; step: number; onProgress?: (done: number, total: number) => void },
): Promise<{ result: EvalResult; accuracy: number | null | undefined }> {
  const { config, compute } = ctx;
  if (testRows.length === 0) throw new AlolError('data', 'the test split is empty', 'see `alol audit --dry-run` for why');
  const result = await evaluatePolicy(
    policy,
    testRows,
    rewardSet,
    { eval: config.eval, data: config.data, seed: config.train.seed, compute, onProgress: at.onProgress },
  );
  const accuracy = testPairs.length ? (await preferenceAccuracy(policy, testPairs, { data: config.data, compute })).accuracy : undefined;
  for (const [sampled, m] of [[false, result.heldout], [true, result.heldoutSampled]] as const) {
    ctx.log.emit(evalEvent({ ...at, phase: 'evaluation', split: 'test', sampled }, m, sampled ? [] : result.samples, result.scored));
  }
  return { result, accuracy };
}

/** eval/didComplete of one evaluation: where it belongs, its metrics and the samples shown. */
function evalEvent(
  at: { variant: string; step: number; phase: 'training' | 'evaluation'; split: 'validation' | 'test'; sampled: boolean },
  m: Metrics,
  samples: readonly Sample[],
  scored: boolean,
): Extract<TrainerEvent, { type: 'eval/didComplete' }> {
  return {
    type: 'eval/didComplete', variant: at.variant, phase: at.phase, step: at.step, split: at.split, sampled: at.sampled,
    rewards: scored ? { ...m.reward } : {}, // nothing scored the generations: no reward at all, not a 0
    distinct: [m.distinct1, m.distinct2, m.distinct3],
    lengthTokens: m.length,
    samples: samples.map((x) => ({ ...x, rewards: { ...x.rewards } })),
  };
}

/** The validation reward of a policy during training (sampled when eval samples, else greedy), logged as eval/didComplete. */
export async function validationReward(
  policy: Policy,
  rows: readonly Row[],
  rewardSet: RewardSet,
  ctx: Pick<RunContext, 'config' | 'compute' | 'log'>,
  at: { variant: string; step: number },
): Promise<number> {
  const { config } = ctx;
  const ev = { ...config.eval, maxPrompts: config.eval.validationPrompts ?? config.eval.maxPrompts };
  const r = await evaluatePolicy(policy, rows, rewardSet, { eval: ev, data: config.data, seed: config.train.seed, compute: ctx.compute });
  const sampled = config.eval.samplesPerPrompt > 0;
  const m = sampled ? r.heldoutSampled : r.heldout;
  ctx.log.emit(evalEvent({ ...at, phase: 'training', split: 'validation', sampled }, m, r.samples, r.scored));
  return m.reward.total;
}

/**
 * The validation preference accuracy of a policy during training (for the best checkpoint when nothing
 * can score generations): ties broken by the mean log-prob margin, then by the later step.
 */
export async function validationAccuracy(
  policy: Policy,
  pairs: readonly Pair[],
  ctx: Pick<RunContext, 'config' | 'compute' | 'say'>,
  at: { variant: string; step: number },
): Promise<{ value: number; tiebreak: number; laterWinsTies: true }> {
  const bound = ctx.config.eval.validationPrompts;
  const judged = bound === null ? pairs : pairs.slice(0, bound);
  const r = await preferenceAccuracy(policy, judged, { data: ctx.config.data, compute: ctx.compute });
  const [value, tiebreak] = [r.accuracy ?? 0, r.meanMargin ?? 0];
  ctx.say(`[training] ${at.variant} step ${at.step}: validation preference accuracy ${value.toFixed(3)} on ${r.count} pairs ` +
    `(mean margin ${tiebreak.toFixed(3)})`);
  return { value, tiebreak, laterWinsTies: true };
}
