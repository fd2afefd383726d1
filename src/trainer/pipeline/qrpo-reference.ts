// QRPO's reference rewards when the rewards can score text: K samples of pi_ref per training prompt
// (train.qrpo.samples) at the evaluation's temperature, top-p and length, scored by the run's text-scoring
// reward components, cached per prompt in the run's cache (keyed by the reference, the reward config and the
// sampling settings), like the reference log-probs. A prompt's rows share its K rewards.

import type { Row } from '../data/rows.js';
import { promptKey } from '../alol/baseline-data.js';
import type { TokenizedRow } from '../data/tokenize.js';
import type { Policy } from '../model/policy.js';
import { RewardSet } from '../rewards/registry.js';
import type { RunContext } from '../run/context.js';
import { DiskMemo } from '../util/disk-memo.js';
import { sha } from '../util/hash.js';
import { generationRewards } from './evaluate.js';

const isRewards = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');

/** K reference rewards per training row (its prompt's), from samples of the reference policy. */
export async function sampledReferenceRewards(
  ctx: RunContext,
  reference: Policy,
  train: readonly TokenizedRow[],
  k: number,
): Promise<number[][]> {
  const { config } = ctx;
  const ev = config.eval;
  const keys = train.map((t) => promptKey(t.row));
  const first = new Map<string, number>();
  keys.forEach((key, i) => (first.has(key) ? undefined : first.set(key, i)));
  const fingerprint = sha(reference.hash, JSON.stringify(config.rewards), String(k), JSON.stringify([ev.maxNewTokens, ev.temperature,
    ev.topP, config.train.seed]));
  const memo = ctx.cacheDir ? new DiskMemo<number[]>(ctx.cacheDir, 'qrpo-refrewards', isRewards) : null;
  const known = memo ? await memo.load(fingerprint) : new Map<string, number[]>();
  const todo = [...first.keys()].filter((key) => !known.has(key));
  ctx.say(
    `[training] qrpo: reference rewards from ${k} samples of pi_ref per training prompt: ${todo.length} prompts to sample, ` +
      `${first.size - todo.length} reused from the cache`,
  );
  const t0 = performance.now();
  if (todo.length) {
    const room = Math.max(1, reference.config.nPositions - ev.maxNewTokens);
    const gen = ctx.compute.generator(reference, reference.tokenizer);
    const rewards = await RewardSet.create(
      generationRewards(config.rewards),
      { baseDir: ctx.baseDir, cacheDir: null, provider: ctx.device.provider, threads: config.threads },
    );
    try {
      rewards.fit(train.map((t) => t.row));
      const perBatch = 16;
      for (let s = 0; s < todo.length; s += perBatch) {
        const chunk = todo.slice(s, s + perBatch);
        const prompts = chunk.flatMap((key) => Array.from({ length: k }, () => train[first.get(key) as number].prompt.slice(-room)));
        const seed = (config.train.seed * 7919 + s) >>> 0;
        const out = await gen.generate(prompts, { maxNewTokens: ev.maxNewTokens, temperature: ev.temperature, topP: ev.topP, seed });
        const rows: Row[] = out.map((g, j) => {
          const src = train[first.get(chunk[Math.floor(j / k)]) as number].row;
          return { ...src, id: `qrpo-ref:${s + j}`, file: '(generated)', response: g.text, kind: 'row', raw: {} };
        });
        const totals = (await rewards.score(rows)).total;
        const fresh = chunk.map((key, c) => [key, Array.from(totals.subarray(c * k, (c + 1) * k))] as const);
        for (const [key, v] of fresh) known.set(key, v);
        await memo?.append(fingerprint, fresh);
      }
    } finally {
      await rewards.dispose();
      await gen.dispose();
    }
    const seconds = ((performance.now() - t0) / 1e3).toFixed(1);
    ctx.say(`[training] qrpo: ${todo.length * k} samples of pi_ref generated and scored in ${seconds} s`);
  }
  return keys.map((key) => known.get(key) as number[]);
}
