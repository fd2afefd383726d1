// Dynamic loss scaling for float16 step graphs (graph/optim.ts: the `loss_scale` input, the `grad_finite` output),
// as torch.cuda.amp.GradScaler: halve after a step whose gradients were not finite (that step's update was skipped
// inside the graph), double after `growthInterval` finite steps in a row. Host-side state, a few numbers: the graph
// does the unscaling, the finiteness test and the skip.
//
// It starts at 2^10, not torch's 2^16: the objectives here sum log-probs over a sequence's tokens (DESIGN.md), so
// gradients are ~T times those of a per-token mean. Measured on WebGPU: a reference SFT step of the tiny model
// (gradient norm ~50) overflowed float16 at 2^16, 2^15 and 2^14 — three of its four steps skipped — and ran at 2^13.
// Growth every 500 finite steps (torch: 2000) since runs here are hundreds of steps, not hundreds of thousands.

import { GRAD_FINITE, LOSS_SCALE } from '../graph/optim.js';
import { type OrtTensor, type Session, tensor } from './session.js';

export interface LossScaleOptions {
  initScale: number;
  growthInterval: number;
  /** The scale never goes below this (a run whose gradients are NaN at any scale keeps skipping, and says so). */
  minScale: number;
}

export const DEFAULT_LOSS_SCALE: LossScaleOptions = { initScale: 2 ** 10, growthInterval: 500, minScale: 1 };

export class LossScaler {
  scale: number;
  /** Finite steps since the last overflow or growth. */
  private good = 0;
  /** Updates skipped so far (gradients not finite). */
  skipped = 0;

  constructor(readonly options: LossScaleOptions = DEFAULT_LOSS_SCALE) {
    if (!(options.initScale > 0) || !(options.minScale > 0) || !(options.growthInterval >= 1)) {
      throw new Error('loss scale: initScale and minScale must be > 0 and growthInterval >= 1');
    }
    this.scale = options.initScale;
  }

  /** Adds the loss_scale feed when the step graph takes one (float16 compute). */
  feed(session: Session, feeds: Record<string, OrtTensor>): void {
    if (session.inputNames.includes(LOSS_SCALE)) feeds[LOSS_SCALE] = tensor('float32', Float32Array.of(this.scale), []);
  }

  /**
   * After an update run: whether it was applied (true for graphs without loss scaling), the scale moved for the
   * next step, and `extra` given loss_scale (the one this step used) and skipped_updates (the run's count so far).
   */
  afterUpdate(session: Session, out: Record<string, OrtTensor>, extra: Record<string, number>): boolean {
    if (!session.inputNames.includes(LOSS_SCALE)) return true;
    const applied = Number(out[GRAD_FINITE].data[0]) === 1;
    extra.loss_scale = this.scale;
    if (applied) {
      if (++this.good >= this.options.growthInterval) {
        this.scale *= 2;
        this.good = 0;
      }
    } else {
      this.skipped++;
      this.good = 0;
      this.scale = Math.max(this.options.minScale, this.scale / 2);
    }
    extra.skipped_updates = this.skipped;
    return applied;
  }
}
