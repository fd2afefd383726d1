// How the train phase feeds a baseline of issue 25 (losses: alol/baselines.ts): which units the sampler
// draws, each row's factor, and the batch beside the tokens. Every baseline draws shuffled epochs (sampler
// `all`) and keeps the configured step budget (none of these methods defines a scaling):
//   filtered_bc  units: the kept rows (filterKeep); factor 1
//   rwr, awr     units: every row; factor R or A (the weights are normalised per batch in the graph)
//   kto          units: every row; factor 1 desirable / 0 undesirable; each batch adds its mismatched rows (row
//                b's prompt with row b+1's response, the last with the first: TRL's rotation), scored without
//                gradient by the policy (inside the trainer) and by the reference (here) for z0
//   qrpo         units: rows with reference rewards; factor q (the share of the prompt's reference rewards <= R;
//                reference rewards: the prompt's other dataset responses)
//   pro          units: prompts with two or more responses; a batch holds floor(batchSize / n) prompts of at most
//                n responses each (n: the largest prompt), padded with mask-0 rows; inputs from proInputs

import type { RunConfig } from '../../protocol/config.js';
import {
  datasetReferenceRewards,
  filterKeep,
  ktoDesirable,
  median,
  promptGroups,
  promptKey,
  proInputs,
  qrpoQuantiles,
} from '../alol/baseline-data.js';
import type { BaselineLossSettings } from '../alol/baselines.js';
import { rowBatch, variantBatch } from '../alol/batch.js';
import type { Variant } from '../alol/rules.js';
import type { TrainBatch } from '../compute/backend.js';
import type { TokenizedRow } from '../data/tokenize.js';
import { AlolError } from '../errors.js';
import type { RunContext } from '../run/context.js';
import type { AuditResult } from './audit.js';
import { generationRewards } from './evaluate.js';
import { sampledReferenceRewards } from './qrpo-reference.js';

export interface BaselinePlan {
  /** Sampling units: row indices (a prompt's rows for pro). */
  units: number[][];
  /** Units per micro-batch, and rows per batch (the step graph's static B). */
  unitsPerBatch: number;
  rows: number;
  /** Each training row's factor (coef). */
  coef: Float64Array;
  settings: BaselineLossSettings;
  /** The micro-batch of the drawn units, and the training rows in it (for the watchdog). */
  assemble(picked: readonly number[]): Promise<{ batch: TrainBatch; rows: number[] }>;
}

/** The loss settings of a baseline from the run's train config (only those its loss reads). */
export function baselineLossSettings(variant: Variant, train: RunConfig['train']): BaselineLossSettings {
  switch (variant) {
    case 'rwr':
      return { tau: train.rwr.tau, wMax: train.rwr.wMax };
    case 'awr':
      return { tau: train.awr.tau, wMax: train.awr.wMax };
    case 'kto':
      return { beta: train.kto.beta, lambdaD: train.kto.lambdaD, lambdaU: train.kto.lambdaU };
    case 'qrpo':
      return { beta: train.qrpo.beta };
    case 'pro':
      return { sftWeight: train.pro.sftWeight };
    default:
      return {};
  }
}

const dataError = (message: string, hint: string) => new AlolError('data', message, hint);

/** A row whose prompt is left-cut so that prompt + response fits the model's positions. */
function fitted(prompt: readonly number[], r: TokenizedRow, nPositions: number): TokenizedRow {
  const room = Math.max(1, nPositions + 1 - r.response.length);
  return { row: r.row, prompt: prompt.slice(-room), response: r.response };
}

export async function baselinePlan(
  ctx: RunContext,
  audit: AuditResult,
  variant: Variant,
  advantages: Float64Array,
): Promise<BaselinePlan> {
  const train = ctx.config.train;
  const rewards = audit.rewards.total;
  const rows = audit.train;
  const n = rows.length;
  const keys = rows.map((t) => promptKey(t.row));
  const nPositions = audit.reference.config.nPositions;
  const settings = baselineLossSettings(variant, train);
  const ref = (i: number) => audit.refLogprobs.perToken[i];
  const every = rows.map((_, i) => [i]);
  const plain = (units: number[][], coef: Float64Array): BaselinePlan => ({
    units,
    unitsPerBatch: train.batchSize,
    rows: train.batchSize,
    coef,
    settings,
    assemble: async (picked) => {
      const idx = picked.map((u) => units[u][0]);
      const batch = variantBatch(idx.map((i) => rows[i]), idx.map(ref), Float32Array.from(idx, (i) => coef[i]), nPositions);
      return { batch, rows: idx };
    },
  });

  switch (variant) {
    case 'filtered_bc': {
      const { filter, threshold } = train.filteredBc;
      const keep = filterKeep(rewards, keys, filter, threshold);
      const kept = keep.flatMap((k, i) => (k ? [[i]] : []));
      const rule = filter === 'threshold' ? `R >= ${threshold ?? `the median ${median(rewards).toFixed(4)}`}` : 'the best of each prompt';
      if (kept.length === 0) {
        throw dataError(`filtered_bc: no training row passes the filter (${rule})`, 'lower train.filteredBc.threshold');
      }
      ctx.say(`[training] filtered_bc keeps ${kept.length} of ${n} training rows (${rule})`);
      return plain(kept, Float64Array.from(keep, Number));
    }
    case 'rwr':
      return plain(every, Float64Array.from(rewards));
    case 'awr':
      return plain(every, Float64Array.from(advantages));
    case 'qrpo': {
      if (generationRewards(ctx.config.rewards).length > 0) {
        const refs = await sampledReferenceRewards(ctx, audit.reference, rows, train.qrpo.samples);
        return plain(every, qrpoQuantiles(rewards, refs));
      }
      const refs = datasetReferenceRewards(rewards, keys);
      const units = every.filter(([i]) => refs[i] !== null);
      ctx.say(
        `[training] qrpo: q from each prompt's other dataset responses (field rewards cannot score samples); ${units.length} of ` +
          `${n} training rows have some (${n - units.length} answer a prompt alone and are left out)`,
      );
      return plain(units, qrpoQuantiles(rewards, refs));
    }
    case 'kto': {
      const desirable = ktoDesirable(rewards, train.kto.threshold);
      const coef = Float64Array.from(desirable, Number);
      const base = plain(every, coef);
      const eos = audit.reference.tokenizer.eosTokenId;
      return {
        ...base,
        assemble: async (picked) => {
          const { batch, rows: idx } = await base.assemble(picked);
          // TRL's KL estimate: each prompt with the next row's response (rotated by one), no gradient
          const mismatched = idx.map((i, b) => fitted(rows[i].prompt, rows[idx[(b + 1) % idx.length]], nPositions));
          const scored = await ctx.compute.tokenLogprobs(
            audit.reference,
            mismatched,
            { batchSize: mismatched.length, addEos: false, eosTokenId: eos },
          );
          const klBatch = rowBatch(mismatched, nPositions);
          return { batch: { ...batch, klBatch, klRefLogp: Float32Array.from(scored, (s) => s.logprob) }, rows: idx };
        },
      };
    }
    case 'pro': {
      const groups = promptGroups(keys).filter((g) => g.length >= 2);
      if (groups.length === 0) {
        throw dataError('pro needs prompts with two or more responses, and no training prompt has more than one',
          'add responses to the same prompt (rows sharing the prompt, or {prompt, responses: [...]})');
      }
      const most = Math.max(...groups.map((g) => g.length));
      const perBatch = Math.max(1, Math.floor(train.batchSize / most));
      const b = perBatch * most;
      ctx.say(`[training] pro: ${groups.length} training prompts with 2 to ${most} responses, ${perBatch} per batch (${b} rows)`);
      return {
        units: groups,
        unitsPerBatch: perBatch,
        rows: b,
        coef: new Float64Array(n),
        settings,
        assemble: async (picked) => {
          const idx = picked.flatMap((u) => groups[u]);
          const pad = b - idx.length; // padding rows: a copy of the first row, mask 0, in no prompt
          const all = [...idx, ...Array.from({ length: pad }, () => idx[0])];
          const inputs = proInputs(Float64Array.from(all, (i) => rewards[i]), all.map((i, k) => (k < idx.length ? keys[i] : null)));
          const batch = variantBatch(all.map((i) => rows[i]), all.map(ref), inputs.best, nPositions);
          const mask = Float32Array.from(batch.mask);
          mask.fill(0, idx.length * batch.seqLen);
          const extraFeeds = { pro_after: { data: inputs.after, dims: [b, b] }, pro_temp: { data: inputs.temp, dims: [b, b] } };
          return { batch: { ...batch, mask, extraFeeds }, rows: idx };
        },
      };
    }
    default:
      throw new Error(`${variant} is not a baseline`);
  }
}
