// The reference policy pi_ref and what the audit needs from it, each cached by the reference's hash:
// the policy itself (a model folder, or the starting model fine-tuned by NLL on the training rows —
// cached by everything that determines it), the log-probs of every training response (summed and per
// token, EOS included), and the last-layer hidden states of prompts (for the value head).

import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig } from '../../protocol/config.js';
import { serialize } from '../graph/onnx.js';
import { type Provider, Session, tensor } from '../runtime/session.js';
import { type GptConfig, gptConfig } from '../model/config.js';
import { loadModelFolder, saveModelFolder } from '../model/folder.js';
import { buildHiddenGraph } from '../model/graphs.js';
import { LogprobScorer, type ScoredRow } from '../model/logprobs.js';
import { gptParamFeeds, gptParamInfos, initGptParams } from '../model/params.js';
import { type TextTokenizer, byteLevelTokenizer, loadTokenizer } from '../model/tokenizer.js';
import { KvCache } from '../util/kv-cache.js';
import { bucketLength } from './batch.js';
import { type SftOptions, sftRows } from './sft.js';
import type { TokenizedRow } from './tokenize.js';

export interface Policy {
  config: GptConfig;
  params: Map<string, Float32Array>;
  tokenizer: TextTokenizer;
  tokenizerJson: unknown;
  /** sha256 of config + weights: what caches of this policy are keyed by. */
  hash: string;
}

export const sha = (...parts: unknown[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p instanceof Uint8Array ? p : JSON.stringify(p));
  return h.digest('hex').slice(0, 16);
};

export function policyHash(cfg: GptConfig, params: ReadonlyMap<string, Float32Array>): string {
  // Canonical order: a config read back from a folder must hash like the one it was written from.
  const h = createHash('sha256').update(JSON.stringify([cfg.vocabSize, cfg.nPositions, cfg.nEmbd, cfg.nLayer, cfg.nHead, cfg.nInner, cfg.layerNormEpsilon]));
  for (const info of gptParamInfos(cfg)) {
    const d = params.get(info.name) as Float32Array;
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex').slice(0, 16);
}

function policy(config: GptConfig, params: Map<string, Float32Array>, tokenizerJson: unknown, where: string): Policy {
  return { config, params, tokenizerJson, tokenizer: loadTokenizer(tokenizerJson, where), hash: policyHash(config, params) };
}

export async function loadPolicy(dir: string): Promise<Policy> {
  const m = await loadModelFolder(dir);
  return policy(m.config, m.params, m.tokenizerJson, path.join(dir, 'tokenizer.json'));
}

/** The starting model of `config.model`: a folder, or a new seeded model with a byte tokenizer. */
export async function startingModel(model: RunConfig['model'], baseDir: string, seed: number): Promise<Policy> {
  if ('path' in model) return loadPolicy(path.resolve(baseDir, model.path));
  const tok = byteLevelTokenizer();
  const cfg = gptConfig({ vocabSize: tok.vocabSize, nPositions: model.init.positions, nEmbd: model.init.embd, nLayer: model.init.layers, nHead: model.init.heads });
  return policy(cfg, initGptParams(cfg, seed), tok.toJSON(), '(byte-level tokenizer)');
}

/** Fine-tunes `base` by NLL on the rows, or loads the result of an identical earlier run from the cache. */
export async function sftReference(base: Policy, rows: readonly TokenizedRow[], sft: { steps: number; lr: number }, opts: Omit<SftOptions, 'steps' | 'lr'> & { cacheDir: string | null }): Promise<{ policy: Policy; reused: boolean }> {
  const key = sha('sft-v1', base.hash, sft, opts.batchSize, opts.seed, rows.map((r) => [r.prompt, r.response]));
  const dir = opts.cacheDir ? path.join(opts.cacheDir, `sft-${key}`) : null;
  if (dir && (await stat(dir).then(() => true, () => false))) return { policy: await loadPolicy(dir), reused: true };
  const params = await sftRows(base.config, base.params, rows, { ...opts, steps: sft.steps, lr: sft.lr });
  if (dir) await saveModelFolder(dir, { config: base.config, params, tokenizerJson: base.tokenizerJson });
  return { policy: policy(base.config, params, base.tokenizerJson, '(reference)'), reused: false };
}

/** Log-probs of tokenized rows (responses already end with EOS) under a policy, in row order. */
export async function scoreTokenized(
  policy: Policy,
  rows: readonly TokenizedRow[],
  opts: { threads?: number; provider?: Provider; batchSize?: number; onProgress?: (done: number, total: number) => void },
): Promise<ScoredRow[]> {
  const scorer = new LogprobScorer(policy.config, policy.params);
  try {
    return await scorer.score(rows, { batchSize: opts.batchSize ?? 16, addEos: false, eosTokenId: policy.tokenizer.eosTokenId, threads: opts.threads, provider: opts.provider, onProgress: opts.onProgress });
  } finally {
    await scorer.dispose();
  }
}

export interface RefLogprobs {
  sum: Float64Array;
  perToken: Float32Array[];
  computed: number;
  cached: number;
}

type Entry = { s: number; t: number[] };
const isEntry = (v: unknown): v is Entry => typeof v === 'object' && v !== null && typeof (v as Entry).s === 'number' && Array.isArray((v as Entry).t);

/** Log-probs of each row's response (EOS included) under the policy, cached per (policy, row text). */
export async function referenceLogprobs(
  ref: Policy,
  rows: readonly TokenizedRow[],
  opts: { cacheDir: string | null; threads?: number; provider?: Provider; batchSize?: number; onProgress?: (done: number, total: number) => void },
): Promise<RefLogprobs> {
  const cache = opts.cacheDir ? new KvCache<Entry>(opts.cacheDir, 'reflogprobs', isEntry) : null;
  const known = cache ? await cache.load(ref.hash) : new Map<string, Entry>();
  const keys = rows.map((r) => `${r.row.id}|${sha(r.prompt, r.response)}`);
  const todo = rows.map((_, i) => i).filter((i) => !known.has(keys[i]));
  if (todo.length) {
    const scored = await scoreTokenized(ref, todo.map((i) => rows[i]), opts);
      const fresh = todo.map((i, j) => [keys[i], { s: scored[j].logprob, t: Array.from(scored[j].tokenLogprobs) }] as const);
      for (const [k, v] of fresh) known.set(k, v);
      await cache?.append(ref.hash, fresh);
  }
  const entries = keys.map((k) => known.get(k) as Entry);
  return { sum: Float64Array.from(entries.map((e) => e.s)), perToken: entries.map((e) => Float32Array.from(e.t)), computed: todo.length, cached: rows.length - todo.length };
}

/** Last-layer hidden states [T, C] of each distinct prompt, cached per (policy, prompt tokens). */
export async function promptHidden(
  ref: Policy,
  prompts: readonly (readonly number[])[],
  opts: { cacheDir: string | null; threads?: number; provider?: Provider; batchSize?: number },
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
  const todo = hidden.map((h, i) => (h ? -1 : i)).filter((i) => i >= 0).sort((a, b) => prompts[a].length - prompts[b].length);
  const sessions = new Map<string, Session>();
  const feeds = gptParamFeeds(ref.config, ref.params, 'hidden states');
  const batchSize = opts.batchSize ?? 16;
  try {
    for (let k = 0; k < todo.length; k += batchSize) {
      const idx = todo.slice(k, k + batchSize);
      const b = idx.length;
      const t = bucketLength(Math.max(...idx.map((i) => prompts[i].length)), ref.config.nPositions);
      let s = sessions.get(`${b}:${t}`);
      if (!s) {
        s = await Session.create(serialize(buildHiddenGraph(ref.config, { batch: b, seqLen: t })), 'gpt_hidden', { threads: opts.threads, provider: opts.provider });
        sessions.set(`${b}:${t}`, s);
      }
      const ids = new BigInt64Array(b * t);
      idx.forEach((i, r) => prompts[i].forEach((id, j) => (ids[r * t + j] = BigInt(id))));
      const out = (await s.run({ ...feeds, ids: tensor('int64', ids, [b, t]) })).hidden.data as Float32Array; // [B, T, C]
      for (let r = 0; r < b; r++) {
        const i = idx[r];
        hidden[i] = out.slice(r * t * c, (r * t + prompts[i].length) * c); // right padding: the real positions come first
      }
    }
  } finally {
    for (const s of sessions.values()) await s.release();
  }
  if (dir && todo.length) {
    await mkdir(dir, { recursive: true });
    for (const i of todo) {
      const h = hidden[i] as Float32Array;
      await writeFile(path.join(dir, `${keys[i]}.f32`), new Uint8Array(h.buffer, h.byteOffset, h.byteLength));
    }
  }
  return { hidden: hidden as Float32Array[], computed: todo.length, cached: prompts.length - todo.length };
}
