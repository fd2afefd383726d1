// Batched text generation: greedy (temperature 0) or temperature / top-p sampling with a seeded RNG,
// a KV cache (one prefill run over the left-padded prompts, then one decode run per new token), max
// new tokens, EOS (any of the model's EOS ids: generation_config.json may list several) and stop
// strings. Generated text is decoded as a continuation of the prompt. `useCache: false` recomputes the
// whole sequence every step; it exists to test the cache and to measure what the cache saves.

import type { Detokenizer, GeneratedText as Generation } from '../compute/backend.js';
import { AlolError } from '../errors.js';
import { serialize } from '../graph/onnx.js';
import { SessionPool, poolKey } from '../runtime/pool.js';
import { type OrtTensor, type Provider, type Session, onDevice, tensor } from '../runtime/session.js';
import { releaseUploaded, uploadTensors } from '../runtime/upload.js';
import { Rng } from '../util/rng.js';
import { pickToken } from './sampling.js';
import { type ModelConfig, headSize, kvHeads, positionsLimit } from './config.js';
import { buildGenerationGraph } from './gpt-graphs.js';
import { type PlainSteps, bucket, cachedSteps, uncachedSteps } from './plain-steps.js';
import { countParams, paramFeeds } from './family.js';
import { buildFusedGenerationGraph } from './fused.js';
import { CachePool, decodeInputs, kvBuffers, withDecodeOutputs, writeNewKv } from './kv-cache.js';

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
  /** The KV-cache graphs: 'fused' (model/fused.ts: contrib kernels, a cache updated in place; the default)
   * or 'plain' (the training graphs' primitives, a cache grown by concatenation). */
  kernels?: 'fused' | 'plain';
}

export const DEFAULT_GENERATE: GenerateOptions = { maxNewTokens: 64, temperature: 0, topP: 1, seed: 0 };

/** What one row's generation gave, and the detokenizer: the compute seam's own types. */
export type { Detokenizer, Generation };

export { pickToken } from './sampling.js';

export interface GeneratorOptions {
  /** Where sessions come from (the run's pool); without one the generator keeps a pool of its own. */
  pool?: SessionPool;
  /** For a pool of its own (a given pool has its own provider and threads). */
  provider?: Provider;
  threads?: number;
  /** The fused graphs' weights: built into this generator's own sessions ('embedded'), or fed to shared
   * sessions ('fed'). Default: embedded up to EMBED_LIMIT_BYTES. */
  weights?: 'embedded' | 'fed';
}

/** Models up to this size get the fused graphs with their weights built in (ONNX's protobuf limit is 2 GiB). */
export const EMBED_LIMIT_BYTES = 1 << 30;
/**
 * Decode steps under this many FLOPs (2 x params x rows) run on one intra-op thread: handing each small kernel
 * to a second thread costs more than it saves (measured: batch 1 of the bench model ran at half the speed
 * with two threads).
 */
export const SMALL_STEP_FLOPS = 64e6;

/**
 * The prompt run's session options: it runs once per call, between the decode session's runs, so its threads
 * do not spin after it (they would take a core from the decode steps; see SessionOptions.spinning).
 */
const PROMPT_RUN = { spinning: false } as const;

/** A session and the feeds it needs besides the step's own (the weights, unless they are built in). */
interface FusedSession {
  session: Session;
  feeds: Record<string, OrtTensor>;
}
let nextGeneratorId = 0;

export class Generator {
  private readonly paramFeeds: Record<string, OrtTensor>;
  /** Fed weights on the device (WebGPU: uploaded once, at the first call that feeds them); freed in dispose(). */
  private deviceFeeds: Promise<Record<string, OrtTensor>> | null = null;
  /** Whether the fused graphs carry the weights (model/fused.ts); see fusedSession(). */
  private readonly embedWeights: boolean;
  /** Pool keys of sessions that hold this generator's weights, dropped in dispose(). */
  private readonly owned = new Set<string>();
  private readonly id = nextGeneratorId++;
  private readonly nParams: number;
  /** KV-cache buffers of finished calls and shrunk batches, reused by the next call of the same shape. */
  private readonly spare = new CachePool();
  /** KV-cache allocations of the fused path: at most one per call and batch shrink, none when a spare fits. */
  get cacheAllocations(): number {
    return this.spare.allocations;
  }
  /** The pool this generator made (and releases in dispose()); null while it has none or uses a given one. */
  private ownPool: SessionPool | null = null;

  constructor(
    readonly cfg: ModelConfig,
    private readonly params: ReadonlyMap<string, Float32Array>,
    private readonly detok: Detokenizer,
    private readonly options: GeneratorOptions = {},
  ) {
    this.paramFeeds = paramFeeds(cfg, params, 'generate');
    this.embedWeights = (options.weights ?? 'auto') === 'auto'
      ? [...params.values()].reduce((a, w) => a + w.byteLength, 0) <= EMBED_LIMIT_BYTES
      : options.weights === 'embedded';
    this.nParams = countParams(cfg);
  }

  private get pool(): SessionPool {
    if (this.options.pool) return this.options.pool;
    this.ownPool ??= new SessionPool({ provider: this.options.provider, threads: this.options.threads });
    return this.ownPool;
  }

  private async session(kind: 'prefill' | 'decode' | 'full', batch: number, seqLen: number): Promise<Session> {
    const t = kind === 'decode' ? 1 : seqLen; // a decode graph takes one new token; its past length is dynamic
    const extra = kind === 'prefill' ? PROMPT_RUN : {};
    const key = poolKey(`gpt_${kind}`, this.cfg, { batch, seqLen: t, ...extra });
    return this.pool.get(key, () => serialize(buildGenerationGraph(this.cfg, kind, batch, seqLen)), extra);
  }

  /**
   * The fused graphs' two sessions (any batch; the prompt's any width, or one token). Weights up to
   * EMBED_LIMIT_BYTES are built into them as initializers: ORT prepacks them and nothing is fed per token
   * (the runtime copies every fed tensor on each run). Those sessions hold this generator's weights, so
   * they are dropped in dispose(); larger models feed the weights and share pooled sessions.
   */
  private async fusedSession(kind: 'prefill' | 'decode' | 'decode1'): Promise<FusedSession> {
    const seqLen = kind === 'prefill' ? 'S' : 1;
    const extra = kind === 'decode1' ? { threads: 1 } : kind === 'prefill' ? PROMPT_RUN : {};
    const shape = { batch: 'B', seqLen, ...extra };
    if (!this.embedWeights) {
      const key = poolKey('gpt_fused', this.cfg, shape);
      const session = await this.pool.get(key, () => serialize(buildFusedGenerationGraph(this.cfg, 'B', seqLen)), extra);
      return { session, feeds: await this.weightFeeds() };
    }
    const key = `${poolKey('gpt_fused_weights', this.cfg, shape)}#${this.id}`;
    this.owned.add(key);
    const session = await this.pool.get(key, () => serialize(buildFusedGenerationGraph(this.cfg, 'B', seqLen, this.params)), extra);
    return { session, feeds: {} };
  }

  /**
   * The weights as fed to every run: on WebGPU copied to the device once (runtime/upload.ts), so a decode step
   * does not send the whole model again; elsewhere the host tensors.
   */
  private weightFeeds(): Promise<Record<string, OrtTensor>> {
    this.deviceFeeds ??= uploadTensors(this.pool, this.paramFeeds);
    return this.deviceFeeds;
  }

  /** Whether the fed weights are on the device now (WebGPU, after a call that fed them). */
  async weightsOnDevice(): Promise<boolean> {
    const feeds = this.deviceFeeds ? await this.deviceFeeds : null;
    return !!feeds && Object.values(feeds).every(onDevice);
  }

  /** What the plain KV-cache and uncached paths (plain-steps.ts) use of this generator. */
  private async plainSteps(): Promise<PlainSteps> {
    const paramFeeds = await this.weightFeeds();
    return { cfg: this.cfg, paramFeeds, session: (kind, batch, seqLen) => this.session(kind, batch, seqLen) };
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
    const step: { next: (last: number[]) => Promise<Float32Array>; release?: () => void } =
      opts.useCache === false
        ? await uncachedSteps(await this.plainSteps(), rows, opts.maxNewTokens)
        : opts.kernels === 'plain'
          ? await cachedSteps(await this.plainSteps(), rows)
          : await this.fused(rows, opts.maxNewTokens, () => out.map((r) => r.done));

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
    step.release?.(); // the fused path's cache buffers go back for the next call
    return out.map((r) => ({
      tokens: r.tokens,
      finishReason: r.finishReason,
      text: r.finishReason === 'stop' ? r.text : this.decode(r.tokens),
    }));
  }

  private decode(ids: readonly number[]): string {
    return this.detok.decodeContinuation ? this.detok.decodeContinuation(ids) : this.detok.decode(ids);
  }

  /**
   * The fused graphs (model/fused.ts) with right-padded rows. The cache is this generator's: one buffer per
   * layer and kind of [B, K, M, d], allocated once per call for a capacity of M tokens and fed to every run
   * (the runtime reads a fed tensor in place); each run returns only its new tokens' keys and values, which
   * are written into the buffers at each row's length. When half the rows or more have finished, the live
   * ones move into a batch half the size (or less), so finished rows stop costing work.
   */
  private async fused(
    rows: number[][],
    maxNew: number,
    finished: () => boolean[],
  ): Promise<{ next: (last: number[]) => Promise<Float32Array>; release?: () => void }> {
    const n = rows.length;
    const [layers, v, kv, d] = [this.cfg.nLayer, this.cfg.vocabSize, kvHeads(this.cfg), headSize(this.cfg)];
    const s = bucket(Math.max(...rows.map((r) => r.length)));
    const capacity = bucket(Math.max(...rows.map((r) => r.length)) + maxNew);
    const lens = rows.map((r) => r.length); // tokens of each row in the cache after the next run
    let slots = rows.map((_, i) => i); // slot -> row
    let buf = kvBuffers({ layers, batch: n, kv, capacity, d, vocab: v, newTokens: s }, this.spare);
    const logits = new Float32Array(n * v); // by row, what next() returns
    const run = async (graph: FusedSession, feeds: Record<string, OrtTensor>): Promise<void> => {
      await graph.session.run({ ...graph.feeds, ...feeds, ...buf.feeds }, buf.fetches);
      slots.forEach((row, slot) => logits.set(buf.logits.subarray(slot * v, (slot + 1) * v), row * v));
    };
    const prefill = await this.fusedSession('prefill');
    const decoders = new Map<'decode1' | 'decode', FusedSession>(); // made when first needed
    const decoder = async (kind: 'decode1' | 'decode'): Promise<FusedSession> => {
      let d = decoders.get(kind);
      if (!d) decoders.set(kind, (d = await this.fusedSession(kind)));
      return d;
    };
    // a decode step's inputs, made once per batch size and refilled in place each token
    const stepInputs = new Map<number, ReturnType<typeof decodeInputs>>();
    let first = true;
    return {
      release: () => this.spare.give(buf),
      next: async (last) => {
        if (first) {
          first = false;
          const ids = new BigInt64Array(n * s);
          const positions = new BigInt64Array(n * s);
          rows.forEach((r, i) => r.forEach((t, j) => ((ids[i * s + j] = BigInt(t)), (positions[i * s + j] = BigInt(j)))));
          await run(prefill, {
            ids: tensor('int64', ids, [n, s]),
            positions: tensor('int64', positions, [n, s]),
            seqlens_k: tensor('int32', Int32Array.from(lens, (l) => l - 1), [n]),
            total_sequence_length: tensor('int32', Int32Array.of(s), []),
            last_index: tensor('int64', BigInt64Array.from(lens, (l, i) => BigInt(i * s + l - 1)), [n]),
          });
          writeNewKv(buf, new Array<number>(n).fill(0));
          buf = withDecodeOutputs(buf); // the prompt-width outputs are not needed again
                return logits;
        }
        const done = finished();
        const live = slots.filter((row) => !done[row]);
        if (live.length > 0 && live.length <= slots.length / 2) {
          // Move the live rows into a smaller batch: a power of two that holds them.
          const smaller = 2 ** Math.ceil(Math.log2(live.length));
          const next = kvBuffers({ layers, batch: smaller, kv, capacity, d, vocab: v, newTokens: 1 }, this.spare);
          const rowSize = kv * capacity * d;
          // slot k of the smaller batch takes live row k; spare slots repeat the last live row
          const from = Array.from({ length: smaller }, (_, k) => slots.indexOf(live[Math.min(k, live.length - 1)]));
          for (const [name, t] of Object.entries(buf.caches)) {
            from.forEach((f, k) => next.caches[name].set(t.subarray(f * rowSize, (f + 1) * rowSize), k * rowSize));
          }
          slots = from.map((f) => slots[f]);
          this.spare.give(buf);
          buf = next;
              }
        const m = slots.length;
        const pos = slots.map((row) => lens[row]);
        let x = stepInputs.get(m);
        if (!x) stepInputs.set(m, (x = decodeInputs(m)));
        slots.forEach((row, k) => {
          x.ids[k] = BigInt(Math.max(last[row], 0));
          x.positions[k] = BigInt(pos[k]);
          x.seqlens[k] = pos[k];
        });
        x.total[0] = Math.max(...pos) + 1;
        await run(await decoder(2 * this.nParams * m < SMALL_STEP_FLOPS ? 'decode1' : 'decode'), x.feeds);
        writeNewKv(buf, pos);
        for (const row of new Set(slots)) lens[row]++;
        return logits;
      },
    };
  }

  /** Releases the sessions of a pool of its own (a given pool is its owner's to release); usable again after. */
  async dispose(): Promise<void> {
    this.spare.clear();
    const uploaded = this.deviceFeeds;
    this.deviceFeeds = null;
    if (uploaded) releaseUploaded(await uploaded.catch(() => ({})));
    const pool = this.options.pool;
    if (pool) for (const key of this.owned) await pool.drop(key);
    this.owned.clear();
    const own = this.ownPool;
    this.ownPool = null;
    await own?.release();
  }
}
