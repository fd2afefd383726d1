// Supervised fine-tuning on rows (the paper's reference policy): next-token NLL on response tokens
// (EOS included), summed over tokens and averaged over the batch, AdamW with a cosine schedule,
// shuffled epochs over the training rows with a seeded RNG. Updates run in compute/loop.ts. With LoRA
// (reference.sft.lora) only adapters train, and the result is the model with them merged in.

import { type ComputeOptions, withCompute } from '../compute/local.js';
import { trainLoop } from '../compute/loop.js';
import { rowBatch } from '../alol/batch.js';
import type { TokenizedRow } from '../data/tokenize.js';
import { AlolError } from '../errors.js';
import { DEFAULT_ADAMW } from '../graph/optim.js';
import type { ModelConfig } from '../model/config.js';
import { type LoraSpec, initLoraParams, mergeLora } from '../model/lora.js';
import { StopRequested } from '../run/control.js';
import { Rng } from '../util/rng.js';

export interface SftOptions extends ComputeOptions {
  steps: number;
  lr: number;
  batchSize: number;
  seed: number;
  /** Fine-tune LoRA adapters on the frozen model and return it with them merged in (null/absent: every weight). */
  lora?: LoraSpec | null;
  /** Token-wise ops on the rows' real tokens only (PolicyTrainerSpec.packRows); default true. */
  packRows?: boolean;
  /** Polled between steps: true stops the fine-tuning (it is redone, or taken from the cache, next time). */
  shouldStop?: () => boolean;
  onStep?: (
    e: {
      step: number; steps: number; loss: number; lr: number; gradNorm: number; tokensPerSec: number; elapsedMs: number;
      /** float16 (loss scaling): the scale the step used and whether its update was skipped. */
      lossScale?: number; skippedUpdate?: boolean;
    },
  ) => void;
}

export async function sftRows(
  cfg: ModelConfig,
  init: ReadonlyMap<string, Float32Array>,
  rows: readonly TokenizedRow[],
  opts: SftOptions,
): Promise<Map<string, Float32Array>> {
  if (rows.length === 0) throw new Error('SFT: no training rows');
  const b = Math.min(opts.batchSize, rows.length);
  return withCompute(opts, async (compute) => {
    const lora = opts.lora ? { spec: opts.lora, init: initLoraParams(cfg, opts.lora, opts.seed), seed: opts.seed } : undefined;
    const spec = { objective: { kind: 'nll' as const }, rows: b, adamw: DEFAULT_ADAMW, lora, packRows: opts.packRows ?? true };
    const trainer = compute.policyTrainer({ config: cfg, params: init }, spec);
    const rng = new Rng(opts.seed);
    const exampleWeight = new Float32Array(b).fill(1);
    let order: number[] = [];
    const t0 = performance.now();
    try {
      await trainLoop(trainer, {
        from: 0,
        to: opts.steps,
        lr: { kind: 'cosine', lr: opts.lr, warmupSteps: Math.min(100, Math.floor(opts.steps / 10)), totalSteps: opts.steps },
        beforeStep: () => {
          if (opts.shouldStop?.()) throw new StopRequested(null);
        },
        batches: () => {
          if (order.length < b) order = [...order, ...rng.shuffle([...rows.keys()])];
          return [{ ...rowBatch(order.splice(0, b).map((i) => rows[i]), cfg.nPositions), exampleWeight }];
        },
        afterStep: ({ step, lr, stats, batches, elapsedMs }) => {
          if (!Number.isFinite(stats.loss)) throw new AlolError(
            'training',
            `SFT: loss became ${stats.loss} at step ${step}`,
            'lower reference.sft.lr',
          );
          const tokens = batches[0].mask.reduce((a, x) => a + x, 0);
          const e = { step, steps: opts.steps, loss: stats.loss, lr, gradNorm: stats.gradNorm, tokensPerSec: tokens / (elapsedMs / 1e3) };
          const { loss_scale: lossScale, grad_finite: finite } = stats.extra;
          const scaling = lossScale === undefined ? {} : { lossScale, skippedUpdate: finite === 0 };
          opts.onStep?.({ ...e, ...scaling, elapsedMs: performance.now() - t0 });
        },
      });
      return lora ? mergeLora(cfg, init, lora.spec, await trainer.weights()) : await trainer.weights(); // before dispose()
    } finally {
      await trainer.dispose();
    }
  });
}
