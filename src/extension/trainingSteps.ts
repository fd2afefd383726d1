// What the status bar says while a run computes, from its phase and step events: the phase, or the step of the
// variant (or fit) that reported; with several variants training at once (train.parallelVariants) each one's step,
// not whichever reported last.

import { type TrainerEvent, variantOfPhase } from '../protocol/trainer.js';

const FITS: Partial<Record<string, string>> = { reference: 'reference SFT', value: 'value head fit' };

export class TrainingSteps {
  /** Variants training now and their last step ("120/600"; '' before their first). */
  private readonly steps = new Map<string, string>();
  /** The variant whose training started last (a version-1 step names none). */
  private variant = '';

  clear(): void {
    this.steps.clear();
    this.variant = '';
  }

  /** The status text and tooltip for a phase or step event (null for other events). */
  onEvent(e: TrainerEvent): { text: string; tooltip: string } | null {
    if (e.type === 'phase/didChange') {
      const trained = e.phase === 'training' ? variantOfPhase(e) : null;
      if (trained && e.status === 'started') {
        this.variant = trained;
        this.steps.set(trained, '');
      }
      if (trained && e.status === 'finished') this.steps.delete(trained);
      return { text: e.phase, tooltip: e.message };
    }
    if (e.type !== 'step/didComplete') return null;
    const name = (e.phase && FITS[e.phase]) ?? e.variant ?? (this.variant || 'training');
    return { text: this.text(name, e.step, e.totalSteps), tooltip: `loss ${e.loss.toFixed(4)}, ${e.tokensPerSec.toFixed(0)} tokens/s` };
  }

  private text(name: string, step: number, total: number): string {
    if (this.steps.has(name)) this.steps.set(name, `${step}/${total}`);
    if (this.steps.size < 2 || !this.steps.has(name)) return `${name} ${step}/${total}`;
    return [...this.steps].map(([v, s]) => `${v} ${s || '…'}`).join(', ');
  }
}
