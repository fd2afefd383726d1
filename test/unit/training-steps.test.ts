// The status bar's text from a run's events (src/extension/trainingSteps.ts): the phase; one variant's (or fit's)
// step as before; with variants trained at once, each one's step, not whichever reported last.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrainingSteps } from '../../src/extension/trainingSteps.js';
import type { TrainerEvent } from '../../src/protocol/trainer.js';

const phase = (variant: string, status: 'started' | 'finished'): TrainerEvent =>
  ({ type: 'phase/didChange', phase: 'training', status, variant, message: `training ${variant}` });
const step = (variant: string, s: number, total: number, ph: 'training' | 'reference' = 'training'): TrainerEvent => ({
  type: 'step/didComplete', variant, phase: ph, step: s, totalSteps: total, loss: 1, lr: 1e-3, gradNorm: 1, tokensPerSec: 10, elapsedMs: 1,
});
const text = (s: TrainingSteps, e: TrainerEvent) => s.onEvent(e)?.text;

describe('status bar steps', () => {
  it('the phase, a fit\'s step, one variant\'s step; other events say nothing', () => {
    const s = new TrainingSteps();
    assert.equal(text(s, { type: 'phase/didChange', phase: 'reference', status: 'started', message: 'fine-tuning' }), 'reference');
    assert.equal(text(s, step('run', 3, 500, 'reference')), 'reference SFT 3/500');
    assert.equal(text(s, phase('nll', 'started')), 'training');
    assert.equal(text(s, step('nll', 4, 300)), 'nll 4/300');
    assert.equal(s.onEvent({ type: 'run/didFail', code: 'x', message: 'm' }), null);
  });

  it('two at once: both steps, the one yet to report marked; back to one when the other finishes', () => {
    const s = new TrainingSteps();
    s.onEvent(phase('nll', 'started'));
    s.onEvent(phase('wnll', 'started'));
    assert.equal(text(s, step('wnll', 2, 300)), 'nll …, wnll 2/300');
    assert.equal(text(s, step('nll', 5, 300)), 'nll 5/300, wnll 2/300');
    s.onEvent(phase('wnll', 'finished'));
    assert.equal(text(s, step('nll', 6, 300)), 'nll 6/300');
    s.clear();
    s.onEvent(phase('a_lol', 'started'));
    assert.equal(text(s, step('a_lol', 1, 165)), 'a_lol 1/165');
  });
});
