// The KV cache of fused generation (model/generate.ts, model/fused.ts): one buffer per layer and kind of
// [B, K, M, d], fed to every run (onnxruntime-node reads a fed tensor in place); each run's new keys and values
// come back in small preallocated outputs and are written in at each row's length. Buffers of a finished call
// or a shrunk batch wait in a CachePool for the next call of the same shape.

import { type OrtTensor, tensor } from '../runtime/session.js';
import { newKvName } from './fused.js';
import { pastName } from './gpt-graphs.js';

/**
 * The buffers of one fused generation batch, allocated once and reused every token: each layer's key and
 * value cache [B, K, M, d] (fed to every run), the logits [B, V], and the run's new keys and values
 * [B, S, K d] (fetched into preallocated tensors, then written into the cache).
 */
export interface KvBuffers {
  batch: number;
  kv: number;
  capacity: number;
  d: number;
  /** Cache buffers by input name (past_key_values.<layer>.<kind>). */
  caches: Record<string, Float32Array>;
  logits: Float32Array;
  /** New keys/values by output name (new.<layer>.<kind>), with the cache input each goes to. */
  fresh: { output: string; cache: string; data: Float32Array; tokens: number }[];
  feeds: Record<string, OrtTensor>;
  fetches: Record<string, OrtTensor>;
}

export interface KvShape {
  layers: number;
  batch: number;
  kv: number;
  capacity: number;
  d: number;
  vocab: number;
  /** New tokens per row in a run: the prompt width, or 1. */
  newTokens: number;
}

export function kvBuffers(x: KvShape, spare: CachePool): KvBuffers {
  const caches: Record<string, Float32Array> = {};
  const feeds: Record<string, OrtTensor> = {};
  const arrays = spare.take(x);
  for (let l = 0; l < x.layers; l++) {
    for (const kind of ['key', 'value'] as const) {
      const data = arrays[2 * l + (kind === 'key' ? 0 : 1)];
      caches[pastName(l, kind)] = data;
      feeds[pastName(l, kind)] = tensor('float32', data, [x.batch, x.kv, x.capacity, x.d]);
    }
  }
  const logits = new Float32Array(x.batch * x.vocab);
  const buf: KvBuffers = { ...x, caches, logits, fresh: [], feeds, fetches: { logits: tensor('float32', logits, [x.batch, x.vocab]) } };
  return withNewKvOutputs(buf, x.layers, x.newTokens);
}

/** The same cache and logits with new-key/value outputs for `tokens` new tokens per row. */
function withNewKvOutputs(buf: KvBuffers, layers: number, tokens: number): KvBuffers {
  const fresh: KvBuffers['fresh'] = [];
  const fetches: Record<string, OrtTensor> = { logits: buf.fetches.logits };
  for (let l = 0; l < layers; l++) {
    for (const kind of ['key', 'value'] as const) {
      const data = new Float32Array(buf.batch * tokens * buf.kv * buf.d);
      const output = newKvName(l, kind);
      fresh.push({ output, cache: pastName(l, kind), data, tokens });
      fetches[output] = tensor('float32', data, [buf.batch, tokens, buf.kv * buf.d]);
    }
  }
  return { ...buf, fresh, fetches };
}

export const withDecodeOutputs = (buf: KvBuffers): KvBuffers => withNewKvOutputs(buf, buf.fresh.length / 2, 1);

/** Writes each run's new keys/values ([B, S, K d]) into the cache ([B, K, M, d]) from position start[b] of row b. */
export function writeNewKv(buf: KvBuffers, start: readonly number[]): void {
  for (const f of buf.fresh) copyRows(f.data, buf.caches[f.cache], f.tokens, buf, start);
}

/** The copy loop of writeNewKv, on plain locals so that V8 compiles it to a tight loop. */
function copyRows(src: Float32Array, dst: Float32Array, tokens: number, shape: KvBuffers, start: readonly number[]): void {
  const { batch, kv, capacity, d } = shape;
  for (let b = 0; b < batch; b++) {
    const s0 = start[b];
    for (let t = 0; t < tokens; t++) {
      for (let h = 0; h < kv; h++) {
        let i = ((b * tokens + t) * kv + h) * d;
        let o = ((b * kv + h) * capacity + s0 + t) * d;
        for (const end = i + d; i < end; i++, o++) dst[o] = src[i];
      }
    }
  }
}

/** The inputs of a decode step over `m` rows: typed arrays the generator refills, wrapped in tensors once. */
export function decodeInputs(m: number) {
  const ids = new BigInt64Array(m);
  const positions = new BigInt64Array(m);
  const seqlens = new Int32Array(m);
  const total = new Int32Array(1);
  const feeds: Record<string, OrtTensor> = {
    ids: tensor('int64', ids, [m, 1]),
    positions: tensor('int64', positions, [m, 1]),
    seqlens_k: tensor('int32', seqlens, [m]),
    total_sequence_length: tensor('int32', total, []),
    last_index: tensor('int64', BigInt64Array.from({ length: m }, (_, k) => BigInt(k)), [m]),
  };
  return { ids, positions, seqlens, total, feeds };
}

/**
 * Spare KV-cache arrays by shape: a call takes its buffers here and gives them back when it ends, so calls of
 * one shape (every batch of an evaluation, mostly) reuse the same memory instead of mapping fresh pages.
 * Holds one set per shape, at most MAX_SPARE shapes.
 */
export class CachePool {
  private readonly sets = new Map<string, Float32Array[]>();
  allocations = 0;

  private static key = (x: { batch: number; kv: number; capacity: number; d: number }, layers: number): string =>
    `${layers}:${x.batch}x${x.kv}x${x.capacity}x${x.d}`;

  take(x: KvShape): Float32Array[] {
    const key = CachePool.key(x, x.layers);
    const set = this.sets.get(key);
    if (set) {
      this.sets.delete(key);
      return set; // stale values past each row's length are masked (composed attention) or never read (the prompt run)
    }
    this.allocations++;
    return Array.from({ length: 2 * x.layers }, () => new Float32Array(x.batch * x.kv * x.capacity * x.d));
  }

  give(buf: KvBuffers): void {
    const arrays = Object.values(buf.caches);
    this.sets.delete(CachePool.key(buf, arrays.length / 2));
    this.sets.set(CachePool.key(buf, arrays.length / 2), arrays);
    while (this.sets.size > MAX_SPARE) this.sets.delete(this.sets.keys().next().value as string);
  }

  clear(): void {
    this.sets.clear();
  }
}

const MAX_SPARE = 4;
