// The KV-cache path on the training graphs' primitives ('plain' kernels: a cache grown by concatenation, left-padded
// prompts) and generation without a cache, which recomputes the whole sequence each step (to test the cache and to
// measure what it saves). Each returns a `next(lastTokens)` that gives the next logits; Generator (generate.ts) picks
// the tokens. The default path is generate.ts's fused graphs.

import { type OrtTensor, type Session, tensor } from '../runtime/session.js';
import type { ModelConfig } from './config.js';
import { pastName, presentName } from './gpt-graphs.js';

/** What these paths need of the generator: the model, its weights as feeds, and a session per graph and shape. */
export interface PlainSteps {
  cfg: ModelConfig;
  paramFeeds: Record<string, OrtTensor>;
  session: (kind: 'prefill' | 'decode' | 'full', batch: number, seqLen: number) => Promise<Session>;
}

/** Rounds a prompt length up so batches of similar prompts share one prefill session. */
export const bucket = (n: number): number => Math.ceil(n / 16) * 16;

/**
 * Prompts placed right-aligned in rows of `width` (`end` columns used, left padding before them):
 * ids, positions (0 at each prompt's first token, continuing past `end`) and a key mask.
 */
function leftPadded(
  rows: readonly number[][],
  end: number,
  width: number,
): { ids: BigInt64Array; positions: BigInt64Array; mask: Float32Array } {
  const b = rows.length;
  const ids = new BigInt64Array(b * width);
  const positions = new BigInt64Array(b * width);
  const mask = new Float32Array(b * width);
  rows.forEach((r, i) => {
    const pad = end - r.length;
    for (let j = 0; j < r.length; j++) {
      ids[i * width + pad + j] = BigInt(r[j]);
      positions[i * width + pad + j] = BigInt(j);
      mask[i * width + pad + j] = 1;
    }
    for (let j = end; j < width; j++) positions[i * width + j] = BigInt(r.length + j - end);
  });
  return { ids, positions, mask };
}

/** KV cache: prefill over left-padded prompts, then one decode run per token. */
export async function cachedSteps(steps: PlainSteps, rows: number[][]): Promise<{ next: (last: number[]) => Promise<Float32Array> }> {
  const b = rows.length;
  const s = bucket(Math.max(...rows.map((r) => r.length)));
  const { ids, positions, mask: promptMask } = leftPadded(rows, s, s);
  let mask = promptMask;
  const nextPos = rows.map((r) => r.length);
  const prefill = await steps.session('prefill', b, s);
  const decode = await steps.session('decode', b, s);
  let cache: Record<string, OrtTensor> = {};
  let first = true;
  let width = s;
  const takeCache = (res: Record<string, OrtTensor>): void => {
    cache = {};
    for (let l = 0; l < steps.cfg.nLayer; l++) {
      for (const kind of ['key', 'value'] as const) cache[pastName(l, kind)] = res[presentName(l, kind)];
    }
  };
  return {
    next: async (last) => {
      if (first) {
        first = false;
        const res = await prefill.run({
          ...steps.paramFeeds,
          ids: tensor('int64', ids, [b, s]),
          positions: tensor('int64', positions, [b, s]),
          key_mask: tensor('float32', mask, [b, s]),
        });
        takeCache(res);
        return res.logits.data as Float32Array;
      }
      // Append the token just chosen for each row (finished rows keep feeding a real token, ignored).
      const grown = new Float32Array(b * (width + 1));
      for (let i = 0; i < b; i++) {
        grown.set(mask.subarray(i * width, (i + 1) * width), i * (width + 1));
        grown[i * (width + 1) + width] = 1;
      }
      mask = grown;
      width++;
      const res = await decode.run({
        ...steps.paramFeeds,
        ...cache,
        ids: tensor('int64', BigInt64Array.from(last, (t) => BigInt(Math.max(t, 0))), [b, 1]),
        positions: tensor('int64', BigInt64Array.from(nextPos.map((p) => BigInt(p))), [b, 1]),
        key_mask: tensor('float32', mask, [b, width]),
      });
      for (let i = 0; i < b; i++) nextPos[i]++;
      takeCache(res);
      return res.logits.data as Float32Array;
    },
  };
}


/** No cache: the whole left-padded sequence, padded on the right to its final length, every step. */
export async function uncachedSteps(
  steps: PlainSteps,
  rows: number[][],
  maxNew: number,
): Promise<{ next: (last: number[]) => Promise<Float32Array> }> {
  const b = rows.length;
  const v = steps.cfg.vocabSize;
  const s = Math.max(...rows.map((r) => r.length));
  const total = s + maxNew;
  const full = await steps.session('full', b, total);
  const { ids, positions, mask } = leftPadded(rows, s, total);
  let cur = s; // tokens in place so far (per row, counting left padding)
  return {
    next: async (last) => {
      if (cur > s) {
        for (let i = 0; i < b; i++) {
          ids[i * total + cur - 1] = BigInt(Math.max(last[i], 0));
          mask[i * total + cur - 1] = 1;
        }
      }
      const res = await full.run({
        ...steps.paramFeeds,
        ids: tensor('int64', ids, [b, total]),
        positions: tensor('int64', positions, [b, total]),
        key_mask: tensor('float32', mask, [b, total]),
      });
      const all = res.logits.data as Float32Array;
      const picked = new Float32Array(b * v);
      for (let i = 0; i < b; i++) picked.set(all.subarray((i * total + cur - 1) * v, (i * total + cur) * v), i * v);
      cur++;
      return picked;
    },
  };
}
