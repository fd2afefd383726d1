// Supervised fine-tuning on rows (the paper's reference policy): next-token NLL on response tokens
// (EOS included), summed over tokens and averaged over the batch, AdamW with a cosine schedule,
// shuffled epochs over the training rows with a seeded RNG. One step graph per length bucket.

import { serialize } from '../graph/onnx.js';
import { type Provider, Session, tensor } from '../runtime/session.js';
import { Stepper } from '../runtime/stepper.js';
import { Rng } from '../util/rng.js';
import { StopRequested } from '../run/control.js';
import type { GptConfig } from '../model/config.js';
import { buildStepGraph } from '../model/graphs.js';
import { gptParamInfos } from '../model/params.js';
import { getLr } from '../model/schedule.js';
import { rowBatch } from './batch.js';
import type { TokenizedRow } from './tokenize.js';
import { AlolError } from '../errors.js';

export interface SftOptions {
  steps: number;
  lr: number;
  batchSize: number;
  seed: number;
  threads?: number;
  provider?: Provider;
  /** Polled between steps: true stops the fine-tuning (it is redone, or taken from the cache, next time). */
  shouldStop?: () => boolean;
  onStep?: (e: { step: number; steps: number; loss: number; lr: number; gradNorm: number; tokensPerSec: number; elapsedMs: number }) => void;
}

export async function sftRows(cfg: GptConfig, init: ReadonlyMap<string, Float32Array>, rows: readonly TokenizedRow[], opts: SftOptions): Promise<Map<string, Float32Array>> {
  if (rows.length === 0) throw new Error('SFT: no training rows');
  const stepper = new Stepper('float32', gptParamInfos(cfg).map((p) => ({ name: p.name, shape: p.shape, data: (init.get(p.name) as Float32Array).slice() })));
  const sessions = new Map<number, Session>();
  const rng = new Rng(opts.seed);
  const schedule = { kind: 'cosine' as const, lr: opts.lr, warmupSteps: Math.min(100, Math.floor(opts.steps / 10)), totalSteps: opts.steps };
  const b = Math.min(opts.batchSize, rows.length);
  let order: number[] = [];
  const t0 = performance.now();
  try {
    for (let step = 0; step < opts.steps; step++) {
      if (opts.shouldStop?.()) throw new StopRequested(null);
      if (order.length < b) order = [...order, ...rng.shuffle([...rows.keys()])];
      const batch = rowBatch(order.splice(0, b).map((i) => rows[i]), cfg.nPositions);
      let session = sessions.get(batch.seqLen);
      if (!session) {
        session = await Session.create(serialize(buildStepGraph(cfg, { batch: b, seqLen: batch.seqLen })), `sft_${batch.seqLen}`, { threads: opts.threads, provider: opts.provider });
        sessions.set(batch.seqLen, session);
      }
      const lr = getLr(schedule, step);
      const ts = performance.now();
      const stats = await stepper.update(session, { ids: batch.ids, targets: batch.targets, mask: batch.mask, example_weight: tensor('float32', new Float32Array(b).fill(1), [b]) }, lr);
      if (!Number.isFinite(stats.loss)) throw new AlolError('training', `SFT: loss became ${stats.loss} at step ${step + 1}`, 'lower reference.sft.lr');
      const tokens = batch.tokens.reduce((a, x) => a + x, 0);
      opts.onStep?.({ step: step + 1, steps: opts.steps, loss: stats.loss, lr, gradNorm: stats.gradNorm, tokensPerSec: tokens / ((performance.now() - ts) / 1e3), elapsedMs: performance.now() - t0 });
    }
  } finally {
    for (const s of sessions.values()) await s.release();
  }
  return new Map(stepper.paramNames.map((n) => [n, Float32Array.from(stepper.param(n))]));
}
