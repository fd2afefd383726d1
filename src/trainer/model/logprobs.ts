// Log-probabilities of responses given prompts, batched by length to waste little padding: each
// sequence is prompt + response (+ EOS when asked), right-padded; only response positions count.
// An empty prompt is scored after an EOS token (GPT-2 has no BOS; EOS plays that role).

import { AlolError } from '../errors.js';
import { serialize } from '../graph/onnx.js';
import { SessionPool, poolKey } from '../runtime/pool.js';
import { type OrtTensor, type Provider, type Session, tensor } from '../runtime/session.js';
import { releaseUploaded, uploadTensors } from '../runtime/upload.js';
import { type ModelConfig, positionsLimit } from './config.js';
import { buildLogprobGraph } from './gpt-graphs.js';
import { paramFeeds } from './family.js';
import type { TokenBatch } from '../compute/backend.js';

export interface ScoreRow {
  prompt: readonly number[];
  response: readonly number[];
}

export interface ScoredRow {
  /** Sum of the response tokens' log-probs (natural log). */
  logprob: number;
  /** Response tokens scored (EOS included when added). */
  tokens: number;
  tokenLogprobs: Float32Array;
  /** Prompt tokens dropped from the left to fit n_positions. */
  truncatedPromptTokens: number;
}

export interface ScoreOptions {
  batchSize: number;
  /** Appends EOS to every response (training responses end with it). */
  eosTokenId: number | null;
  addEos: boolean;
  /** For the scorer's own pool, made on its first score() (a given pool has its own provider and threads). */
  provider?: Provider;
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

// Multiples of 32, as training batches (alol/batch.ts): the CPU kernels then give every row bit-identical
// log-probs in both, which is what makes A-LoL's step-0 importance weights exactly 1.
const bucket = (n: number): number => Math.ceil(n / 32) * 32;

export interface LogprobScorerOptions {
  /** Where sessions come from (the run's pool); without one the scorer keeps a pool of its own. */
  pool?: SessionPool;
}

export class LogprobScorer {
  private readonly paramFeeds: Record<string, OrtTensor>;
  /** The weights on the device (WebGPU: uploaded once, at the first batch), freed in dispose(). */
  private deviceFeeds: Promise<Record<string, OrtTensor>> | null = null;
  /** The pool this scorer made (and releases in dispose()); null while it has none or uses a given one. */
  private ownPool: SessionPool | null = null;

  constructor(
    readonly cfg: ModelConfig,
    params: ReadonlyMap<string, Float32Array>,
    private readonly options: LogprobScorerOptions = {},
  ) {
    this.paramFeeds = paramFeeds(cfg, params, 'logprobs');
  }

  private pool(opts: ScoreOptions): SessionPool {
    return this.options.pool ?? (this.ownPool ??= new SessionPool({ provider: opts.provider, threads: opts.threads }));
  }

  /** The weights as every batch reads them: on WebGPU copied to the device once (runtime/upload.ts). */
  private weightFeeds(opts: ScoreOptions): Promise<Record<string, OrtTensor>> {
    this.deviceFeeds ??= uploadTensors(this.pool(opts), this.paramFeeds);
    return this.deviceFeeds;
  }

  private async session(b: number, t: number, opts: ScoreOptions): Promise<Session> {
    const pool = this.pool(opts);
    const shape = { batch: b, seqLen: t };
    // the trainer's no-grad pass builds the same graph for the same provider (importance weights exactly 1 at step 0)
    const composedLogSoftmax = pool.options.provider === 'webgpu';
    return pool.get(poolKey('gpt_logprobs', this.cfg, shape), () => serialize(buildLogprobGraph(this.cfg, shape, { composedLogSoftmax })));
  }

  /** Scores rows in their order; `index` of a row in the input is kept in the output. */
  async score(rows: readonly ScoreRow[], opts: ScoreOptions): Promise<ScoredRow[]> {
    return scoreInBatches(this.cfg, rows, opts, async (batch) => {
      const session = await this.session(batch.rows, batch.seqLen, opts);
      const dims = [batch.rows, batch.seqLen];
      const out = await session.run({
        ...(await this.weightFeeds(opts)),
        ids: tensor('int64', batch.ids, dims),
        targets: tensor('int64', batch.targets, dims),
        mask: tensor('float32', batch.mask, dims),
      });
      return out.token_logprob.data as Float32Array;
    });
  }

  /** Releases the sessions of a pool of its own (a given pool is its owner's to release); usable again after. */
  async dispose(): Promise<void> {
    const uploaded = this.deviceFeeds;
    this.deviceFeeds = null;
    if (uploaded) releaseUploaded(await uploaded.catch(() => ({})));
    const own = this.ownPool;
    this.ownPool = null;
    await own?.release();
  }
}

function requireEos(opts: Pick<ScoreOptions, 'eosTokenId'>): number {
  if (opts.eosTokenId === null) {
    throw new AlolError('model', 'logprobs: the tokenizer has no end-of-text token', 'add <|endoftext|> to tokenizer.json');
  }
  return opts.eosTokenId;
}

/**
 * Scores rows with any compute: rows are left-truncated to the model's positions, sorted by length and cut into
 * right-padded batches (lengths bucketed by 32); `run` returns a batch's per-token log-probs [B, T] (the ONNX
 * Runtime scorer above, or a worker backend). Results come back in the input's order.
 */
export async function scoreInBatches(
  cfg: ModelConfig,
  rows: readonly ScoreRow[],
  opts: Pick<ScoreOptions, 'batchSize' | 'eosTokenId' | 'addEos' | 'onProgress'>,
  run: (batch: TokenBatch) => Promise<Float32Array>,
): Promise<ScoredRow[]> {
  const maxLen = cfg.nPositions + 1; // ids and targets are the sequence shifted by one
  const seqs = rows.map((r, i) => {
    const response = opts.addEos ? [...r.response, requireEos(opts)] : [...r.response];
    let prompt = r.prompt.length > 0 ? [...r.prompt] : [requireEos(opts)];
    if (response.length + 1 > maxLen) {
      const limit = `the model's ${positionsLimit(cfg)} fits at most ${maxLen - 1}`;
      throw new Error(`row ${i + 1}: the response has ${response.length} tokens; ${limit}`);
    }
    const drop = Math.max(0, prompt.length + response.length - maxLen);
    prompt = prompt.slice(drop);
    return { index: i, prompt, response, drop };
  });
  const order = [...seqs].sort((a, b) => a.prompt.length + a.response.length - (b.prompt.length + b.response.length));
  const results: ScoredRow[] = new Array(rows.length);
  let done = 0;
  for (let k = 0; k < order.length; k += opts.batchSize) {
    const group = order.slice(k, k + opts.batchSize);
    const b = group.length;
    const t = Math.min(cfg.nPositions, bucket(Math.max(...group.map((s) => s.prompt.length + s.response.length - 1))));
    const ids = new BigInt64Array(b * t);
    const targets = new BigInt64Array(b * t);
    const mask = new Float32Array(b * t);
    group.forEach((s, r) => {
      const seq = [...s.prompt, ...s.response];
      for (let j = 0; j + 1 < seq.length; j++) {
        ids[r * t + j] = BigInt(seq[j]);
        targets[r * t + j] = BigInt(seq[j + 1]);
        mask[r * t + j] = j + 1 >= s.prompt.length ? 1 : 0;
      }
    });
    const tok = await run({ rows: b, seqLen: t, ids, targets, mask });
    group.forEach((s, r) => {
      const from = s.prompt.length - 1;
      const tokenLogprobs = tok.slice(r * t + from, r * t + from + s.response.length);
      let sum = 0;
      for (const x of tokenLogprobs) sum += x;
      results[s.index] = { logprob: sum, tokens: s.response.length, tokenLogprobs, truncatedPromptTokens: s.drop };
    });
    done += b;
    opts.onProgress?.(done, rows.length);
  }
  return results;
}
