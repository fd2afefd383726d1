// The reference phase: pi_ref, the policy A-LoL improves on — a model folder, the starting model, or
// the starting model fine-tuned by NLL on the training rows (cached by everything that determines it)
// — saved as the run's reference/; then the log-probs of every training response under it (summed and
// per token, EOS included: the denominators of A-LoL's importance weights), cached per (policy, row).

import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ComputeBackend, RowLogprobs } from '../compute/backend.js';
import { type ComputeOptions, logprobsKeyOf, withCompute } from '../compute/local.js';
import type { Row } from '../data/rows.js';
import { type Lengths, type TokenizedRow, tokenizeRows } from '../data/tokenize.js';
import { describeConfig, kvHeads, modelTypeOf } from '../model/config.js';
import { countParams } from '../model/family.js';
import { countLoraParams, resolveLora } from '../model/lora.js';
import { saveModelFolder } from '../model/folder.js';
import { type Policy, loadPolicy, policyOf, startingModel } from '../model/policy.js';
import type { RunContext } from '../run/context.js';
import { DiskMemo } from '../util/disk-memo.js';
import { sha } from '../util/hash.js';
import type { OnProgress, PhaseClock } from './phase.js';
import { type SftOptions, sftRows } from './sft.js';

/** Token lengths of training rows for a policy: the config's limits and the model's positions. */
export const lengthsFor = (ctx: Pick<RunContext, 'config'>, p: Policy): Lengths => ({
  maxPromptTokens: ctx.config.data.maxPromptTokens,
  maxResponseTokens: ctx.config.data.maxResponseTokens,
  nPositions: p.config.nPositions,
  chatTemplate: ctx.config.data.chatTemplate,
});

/** Chooses or makes pi_ref, saves it as <run>/reference, and tokenizes the training rows for it. */
export async function referencePhase(ctx: RunContext, clock: PhaseClock, trainRows: readonly Row[]): Promise<{
  reference: Policy; train: TokenizedRow[],
}> {
  const { config } = ctx;
  let reference: Policy;
  if (config.reference.path) {
    clock.start('reference', `loading the reference policy from ${config.reference.path}`);
    reference = await loadPolicy(path.resolve(ctx.baseDir, config.reference.path));
    clock.finish('reference', `reference loaded (${reference.hash})`);
  } else {
    const base = await startingModel(config.model, ctx.baseDir, config.train.seed);
    if (config.train.lora) resolveLora(base.config, config.train.lora); // unknown targets: refused before the fine-tuning
    const sft = config.reference.sft;
    const sftLora = sft?.lora ? resolveLora(base.config, sft.lora, 'reference.sft.lora') : null;
    if (sft && sft.steps > 0) {
      const tok = tokenizeRows(trainRows, base.tokenizer, lengthsFor(ctx, base));
      const how = sftLora ? ` with LoRA adapters (rank ${sftLora.r}, merged in after)` : '';
      const what = `fine-tuning the starting model by NLL${how} on ${trainRows.length} training rows for ${sft.steps} steps`;
      clock.start('reference', `${what}: this is pi_ref, the policy A-LoL improves on`);
      const bar = clock.progress('reference');
      const r = await sftReference(base, tok.rows, { steps: sft.steps, lr: sft.lr }, {
        lora: sftLora,
        batchSize: config.train.batchSize,
        seed: config.train.seed,
        packRows: config.train.packRows,
        cacheDir: ctx.cacheDir,
        compute: ctx.compute,
        precision: config.backend.kind === 'builtin' ? config.backend.precision : undefined,
        onStep: (e) => {
          bar(e.step, sft.steps);
          const { step, loss, lr, gradNorm, tokensPerSec, elapsedMs, lossScale, skippedUpdate } = e;
          const totalSteps = sft.steps;
          const scaling = lossScale === undefined ? {} : { lossScale, skippedUpdate };
          ctx.log.emit({
            type: 'step/didComplete', phase: 'reference', step, totalSteps, loss, lr, gradNorm, ...scaling, tokensPerSec, elapsedMs,
          });
        },
        shouldStop: () => ctx.control.stopRequested,
      });
      if (r.reused) bar(sft.steps, sft.steps);
      reference = r.policy;
      clock.finish(
        'reference',
        r.reused ? `reused the fine-tuned reference from the cache (${reference.hash})` : `reference fine-tuned (${reference.hash})`,
      );
    } else {
      clock.start('reference', 'using the starting model as the reference policy (reference.sft is null)');
      reference = base;
      clock.finish('reference', `reference ready (${reference.hash})`);
    }
  }
  const cfg = reference.config;
  const lora = config.train.lora ? resolveLora(cfg, config.train.lora) : null;
  const parameters = countParams(cfg);
  const trainable = lora ? countLoraParams(cfg, lora) : parameters;
  if (lora) {
    const share = `${((100 * trainable) / parameters).toFixed(2)}% of ${parameters}`;
    ctx.say(
      `[reference] LoRA: the policy trains adapters of rank ${lora.r} (alpha ${lora.alpha}) on ${lora.modules.length} projections ` +
        `(${lora.targetNames.join(', ')}): ${trainable} trainable parameters, ${share}; pi_ref is the same weights with the ` +
        'adapters off, so the reference, its log-probs and the value head\'s hidden states share the one copy in memory',
    );
  }
  ctx.log.emit({
    type: 'model/didLoad',
    role: 'reference',
    modelType: modelTypeOf(cfg),
    summary: describeConfig(cfg),
    parameters,
    trainable,
    lora: lora && { r: lora.r, alpha: lora.alpha, dropout: lora.dropout, modules: lora.modules.length, targets: [...lora.targetNames] },
    layers: cfg.nLayer,
    hidden: cfg.nEmbd,
    heads: cfg.nHead,
    kvHeads: kvHeads(cfg),
  });
  const { tokenizerJson, tokenizerFiles, extraConfig } = reference;
  const saved = { config: reference.config, params: reference.params, tokenizerJson, tokenizerFiles, extraConfig };
  await saveModelFolder(path.join(ctx.runDir, 'reference'), saved);
  const tokenized = tokenizeRows(trainRows, reference.tokenizer, lengthsFor(ctx, reference));
  const { truncatedPrompts, truncatedResponses } = tokenized.report;
  if (truncatedPrompts || truncatedResponses) {
    const prompts = `${truncatedPrompts} prompts (left, to ${config.data.maxPromptTokens} tokens or n_positions)`;
    ctx.say(`[data] truncated ${prompts} and ${truncatedResponses} responses (right, to ${config.data.maxResponseTokens})`);
  }
  return { reference, train: tokenized.rows };
}

/** Fine-tunes `base` by NLL on the rows, or loads the result of an identical earlier run from the cache. */
export async function sftReference(
  base: Policy,
  rows: readonly TokenizedRow[],
  sft: { steps: number; lr: number },
  opts: Omit<SftOptions, 'steps' | 'lr'> & { cacheDir: string | null },
): Promise<{ policy: Policy; reused: boolean }> {
  // LoRA and a mixed precision join the key only when set, so caches of float32 full fine-tunings stay valid
  const precision = opts.precision && opts.precision !== 'float32' ? { precision: opts.precision } : {};
  const how = opts.lora ? { ...sft, lora: opts.lora, ...precision } : { ...sft, ...precision };
  // v2: the embedding gradient on CPU no longer loses sums (graph/grad.ts gatherGrad); v1 results are not reused
  const key = sha('sft-v2', base.hash, how, opts.batchSize, opts.seed, rows.map((r) => [r.prompt, r.response]));
  const dir = opts.cacheDir ? path.join(opts.cacheDir, `sft-${key}`) : null;
  if (dir && (await stat(dir).then(() => true, () => false))) return { policy: await loadPolicy(dir), reused: true };
  const params = await sftRows(base.config, base.params, rows, { ...opts, steps: sft.steps, lr: sft.lr });
  const { tokenizerJson, tokenizerFiles, extraConfig } = base;
  if (dir) await saveModelFolder(dir, { config: base.config, params, tokenizerJson, tokenizerFiles, extraConfig });
  return { policy: policyOf(base.config, params, tokenizerJson, '(reference)', tokenizerFiles, extraConfig), reused: false };
}

/** Log-probs of tokenized rows (responses already end with EOS) under a policy, in row order. */
export async function scoreTokenized(
  policy: Policy,
  rows: readonly TokenizedRow[],
  opts: ComputeOptions & { batchSize?: number; onProgress?: OnProgress },
): Promise<RowLogprobs[]> {
  const request = { batchSize: opts.batchSize ?? 16, addEos: false, eosTokenId: policy.tokenizer.eosTokenId, onProgress: opts.onProgress };
  return withCompute(opts, (compute: ComputeBackend) => compute.tokenLogprobs(policy, rows, request));
}

export interface RefLogprobs {
  sum: Float64Array;
  perToken: Float32Array[];
  computed: number;
  cached: number;
}

type Entry = { s: number; t: number[] };
const isEntry = (v: unknown): v is Entry => typeof v === 'object' && v !== null && typeof (v as Entry).s === 'number' && Array.isArray(
  (v as Entry).t,
);

/** Log-probs of each row's response (EOS included) under the policy, cached per (policy, row text). */
export async function referenceLogprobs(
  ref: Policy,
  rows: readonly TokenizedRow[],
  opts: ComputeOptions & { cacheDir: string | null; batchSize?: number; onProgress?: OnProgress },
): Promise<RefLogprobs> {
  const memo = opts.cacheDir ? new DiskMemo<Entry>(opts.cacheDir, 'reflogprobs', isEntry) : null;
  // by policy and by what computes them (another engine, provider or graph revision computes them again)
  const memoKey = `${ref.hash}-${sha(logprobsKeyOf(opts)).slice(0, 12)}`;
  const known = memo ? await memo.load(memoKey) : new Map<string, Entry>();
  const keys = rows.map((r) => `${r.row.id}|${sha(r.prompt, r.response)}`);
  const todo = rows.map((_, i) => i).filter((i) => !known.has(keys[i]));
  if (todo.length) {
    const scored = await scoreTokenized(ref, todo.map((i) => rows[i]), opts);
    const fresh = todo.map((i, j) => [keys[i], { s: scored[j].logprob, t: Array.from(scored[j].tokenLogprobs) }] as const);
    for (const [k, v] of fresh) known.set(k, v);
    await memo?.append(memoKey, fresh);
  }
  const entries = keys.map((k) => known.get(k) as Entry);
  return {
    sum: Float64Array.from(entries.map((e) => e.s)),
    perToken: entries.map((e) => Float32Array.from(e.t)),
    computed: todo.length,
    cached: rows.length - todo.length,
  };
}

/** The reference log-probs phase of the audit. */
export async function referenceLogprobsPhase(
  ctx: RunContext,
  clock: PhaseClock,
  reference: Policy,
  train: readonly TokenizedRow[],
): Promise<RefLogprobs> {
  const why = "(the denominator of A-LoL's importance weights)";
  clock.start('reference', `log-probabilities of the ${train.length} training responses under pi_ref ${why}`);
  const refLogprobs = await referenceLogprobs(
    reference,
    train,
    { compute: ctx.compute, cacheDir: ctx.cacheDir, onProgress: clock.progress('reference') },
  );
  clock.finish('reference', `reference log-probs: ${refLogprobs.computed} rows computed, ${refLogprobs.cached} reused from the cache`);
  return refLogprobs;
}
