// Batched text generation: greedy (temperature 0) or temperature / top-p sampling with a seeded RNG,
// a KV cache (one prefill run over the left-padded prompts, then one decode run per new token), max
// new tokens, EOS (any of the model's EOS ids: generation_config.json may list several) and stop
// strings. Generated text is decoded as a continuation of the prompt. `useCache: false` recomputes the
// whole sequence every step; it exists to test the cache and to measure what the cache saves.

import type { Detokenizer, GeneratedText as Generation } from '../compute/backend.js';
import { AlolError } from '../errors.js';
import { serialize } from '../graph/onnx.js';
import { SessionPool, poolKey } from '../runtime/pool.js';
import { type OrtTensor, type Provider, type Session, tensor } from '../runtime/session.js';
import { Rng } from '../util/rng.js';
import { type ModelConfig, positionsLimit } from './config.js';
import { buildGenerationGraph, pastName, presentName } from './gpt-graphs.js';
import { paramFeeds } from './family.js';

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches topP. */
  topP: number;
  seed: number;
  /** Generation of a row ends at the first of these strings (excluded from the text). */
  stop?: readonly string[];
  useCache?: boolean;
}

export const DEFAULT_GENERATE: GenerateOptions = { maxNewTokens: 64, temperature: 0, topP: 1, seed: 0 };

/** What one row's generation gave, and the detokenizer: the compute seam's own types. */
export type { Detokenizer, Generation };

/** Picks the next token from one row of logits. */
export function pickToken(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  const probs = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    probs[i] = Math.exp((logits[i] - logits[best]) / temperature);
    sum += probs[i];
  }
  let order = [...probs.keys()];
  if (topP < 1) {
    order.sort((a, b) => probs[b] - probs[a] || a - b);
    let cum = 0;
    let keep = 0;
    while (keep < order.length && cum < topP * sum) cum += probs[order[keep++]];
    order = order.slice(0, Math.max(1, keep));
    sum = cum;
  }
  let r = rng.next() * sum;
  for (const i of order) {
    r -= probs[i];
    if (r <= 0) return i;
  }
  return order[order.length - 1];
}

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

/** Rounds a prompt length up so batches of similar prompts share one prefill session. */
const bucket = (n: number): number => Math.ceil(n / 16) * 16;

export interface GeneratorOptions {
  /** Where sessions come from (the run's pool); without one the generator keeps a pool of its own. */
  pool?: SessionPool;
  /** For a pool of its own (a given pool has its own provider and threads). */
  provider?: Provider;
  threads?: number;
}

export class Generator {
  private readonly paramFeeds: Record<string, OrtTensor>;
  /** The pool this generator made (and releases in dispose()); null while it has none or uses a given one. */
  private ownPool: SessionPool | null = null;

  constructor(
    readonly cfg: ModelConfig,
    params: ReadonlyMap<string, Float32Array>,
    private readonly detok: Detokenizer,
    private readonly options: GeneratorOptions = {},
  ) {
    this.paramFeeds = paramFeeds(cfg, params, 'generate');
  }

  private get pool(): SessionPool {
    if (this.options.pool) return this.options.pool;
    this.ownPool ??= new SessionPool({ provider: this.options.provider, threads: this.options.threads });
    return this.ownPool;
  }

  private async session(kind: 'prefill' | 'decode' | 'full', batch: number, seqLen: number): Promise<Session> {
    const t = kind === 'decode' ? 1 : seqLen; // a decode graph takes one new token; its past length is dynamic
    const key = poolKey(`gpt_${kind}`, this.cfg, { batch, seqLen: t });
    return this.pool.get(key, () => serialize(buildGenerationGraph(this.cfg, kind, batch, seqLen)));
  }

  /** Continues each prompt (token ids; an empty prompt starts from EOS). */
  async generate(prompts: readonly (readonly number[])[], options: Partial<GenerateOptions> = {}): Promise<Generation[]> {
    const opts = { ...DEFAULT_GENERATE, ...options };
    const eos = this.detok.eosTokenId;
    const stopIds = new Set(this.detok.eosTokenIds ?? (eos === null ? [] : [eos]));
    const rows = prompts.map((p) => (p.length > 0 ? [...p] : [eos ?? 0]));
    const b = rows.length;
    if (b === 0) return [];
    const longest = Math.max(...rows.map((r) => r.length));
    if (longest + opts.maxNewTokens > this.cfg.nPositions) {
      throw new AlolError(
        'model',
        `generate: a prompt of ${longest} tokens plus ${opts.maxNewTokens} new tokens exceeds ${positionsLimit(this.cfg)}`,
        'shorten the prompt or generate fewer new tokens (--max-new-tokens)',
      );
    }
    const rng = new Rng(opts.seed);
    const out = rows.map(() => ({ tokens: [] as number[], done: false, finishReason: 'length' as Generation['finishReason'], text: '' }));
    const step = opts.useCache === false ? await this.uncached(rows, opts.maxNewTokens) : await this.cached(rows);

    for (let n = 0; n < opts.maxNewTokens; n++) {
      const logits = await step.next(out.map((r) => r.tokens[r.tokens.length - 1] ?? -1));
      const v = this.cfg.vocabSize;
      for (let r = 0; r < b; r++) {
        const row = out[r];
        if (row.done) continue;
        const tok = pickToken(logits.subarray(r * v, (r + 1) * v), opts.temperature, opts.topP, rng);
        if (stopIds.has(tok)) {
          row.done = true;
          row.finishReason = 'eos';
          continue;
        }
        row.tokens.push(tok);
        if (opts.stop?.length) {
          const text = this.decode(row.tokens);
          const at = Math.min(...opts.stop.map((s) => text.indexOf(s)).filter((i) => i >= 0));
          if (Number.isFinite(at)) {
            row.done = true;
            row.finishReason = 'stop';
            row.text = text.slice(0, at);
          }
        }
      }
      if (out.every((r) => r.done)) break;
    }
    return out.map((r) => ({
      tokens: r.tokens,
      finishReason: r.finishReason,
      text: r.finishReason === 'stop' ? r.text : this.decode(r.tokens),
    }));
  }

  private decode(ids: readonly number[]): string {
    return this.detok.decodeContinuation ? this.detok.decodeContinuation(ids) : this.detok.decode(ids);
  }

  /** KV cache: prefill over left-padded prompts, then one decode run per token. */
  private async cached(rows: number[][]): Promise<{ next: (last: number[]) => Promise<Float32Array> }> {
    const b = rows.length;
    const s = bucket(Math.max(...rows.map((r) => r.length)));
    const { ids, positions, mask: promptMask } = leftPadded(rows, s, s);
    let mask = promptMask;
    const nextPos = rows.map((r) => r.length);
    const prefill = await this.session('prefill', b, s);
    const decode = await this.session('decode', b, s);
    let cache: Record<string, OrtTensor> = {};
    let first = true;
    let width = s;
    const takeCache = (res: Record<string, OrtTensor>): void => {
      cache = {};
      for (let l = 0; l < this.cfg.nLayer; l++) {
        for (const kind of ['key', 'value'] as const) cache[pastName(l, kind)] = res[presentName(l, kind)];
      }
    };
    return {
      next: async (last) => {
        if (first) {
          first = false;
          const res = await prefill.run({
            ...this.paramFeeds,
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
          ...this.paramFeeds,
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
  private async uncached(rows: number[][], maxNew: number): Promise<{ next: (last: number[]) => Promise<Float32Array> }> {
    const b = rows.length;
    const v = this.cfg.vocabSize;
    const s = Math.max(...rows.map((r) => r.length));
    const total = s + maxNew;
    const full = await this.session('full', b, total);
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
          ...this.paramFeeds,
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

  /** Releases the sessions of a pool of its own (a given pool is its owner's to release); usable again after. */
  async dispose(): Promise<void> {
    const own = this.ownPool;
    this.ownPool = null;
    await own?.release();
  }
}
