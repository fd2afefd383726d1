// The protocol schemas reject bad messages on every boundary: trainer events, trainer commands,
// host <-> webview messages.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  TrainerCommandSchema,
  TrainerEventSchema,
  parseEventLine,
  variantOfPhase,
} from '../../src/protocol/trainer.js';
import { HostToWebviewSchema, WebviewToHostSchema } from '../../src/protocol/webview.js';

const step = { type: 'step/didComplete', step: 3, totalSteps: 10, loss: 1.5, lr: 1e-3, gradNorm: 0.4, tokensPerSec: 1000, elapsedMs: 12 };

describe('protocol schemas', () => {
  it('accept well-formed events and events.jsonl lines (with their time stamp)', () => {
    assert.ok(TrainerEventSchema.safeParse(step).success);
    const r = parseEventLine(JSON.stringify({ ...step, t: 123 }));
    assert.ok(r.ok);
  });

  it('reject malformed trainer events', () => {
    const bad: unknown[] = [
      { ...step, loss: 'low' },
      { ...step, loss: NaN },
      { ...step, unexpected: 1 },
      { type: 'step/didExplode' },
      { type: 'advantages/didCompute', histogram: { edges: [0], kept: [], filtered: [] } },
      { type: 'run/didFail', message: 'x' },
      'step',
      null,
    ];
    for (const b of bad) assert.equal(TrainerEventSchema.safeParse(b).success, false, JSON.stringify(b));
    const r = parseEventLine('{"type":"step/didComplete",');
    assert.ok(!r.ok && /not JSON/.test(r.error));
  });

  it('reject malformed commands', () => {
    assert.ok(TrainerCommandSchema.safeParse({ type: 'run/start', verb: 'train' }).success);
    for (const b of [
      { type: 'run/start', verb: 'rm -rf' },
      { type: 'run/stop', checkpoint: 'yes' },
      { type: 'run/launch' },
      { type: 'run/start', verb: 'demo', demo: { noise: 3 } },
    ]) {
      assert.equal(TrainerCommandSchema.safeParse(b).success, false, JSON.stringify(b));
    }
  });

  it('reject malformed webview messages in both directions', () => {
    assert.ok(WebviewToHostSchema.safeParse({ type: 'histogram/openBin', lo: 0, hi: 0.1 }).success);
    for (const b of [{ type: 'histogram/openBin', lo: '0' }, { type: 'run/stop', extra: true }, { type: 'eval' }]) {
      assert.equal(WebviewToHostSchema.safeParse(b).success, false, JSON.stringify(b));
    }
    assert.ok(HostToWebviewSchema.safeParse({ type: 'events/didAppend', events: [{ t: 1, event: step }] }).success);
    for (const b of [
      { type: 'events/didAppend', events: [{ t: 1, event: { ...step, loss: 'x' } }] },
      { type: 'trainer/didChangeState', state: 'dancing', canResume: false },
      { type: 'summary/didLoad', summary: { variants: { a: {} } } },
    ]) {
      assert.equal(HostToWebviewSchema.safeParse(b).success, false, JSON.stringify(b));
    }
  });

  it('version 2: per-variant events carry variant and phase; version-1 events (without them) still parse', () => {
    assert.equal(PROTOCOL_VERSION, 2);
    assert.equal(MIN_PROTOCOL_VERSION, 1);
    const evalDone = {
      type: 'eval/didComplete',
      step: 0,
      split: 'test',
      sampled: false,
      rewards: { total: 1 },
      distinct: [1, 1, 1],
      lengthTokens: 3,
      samples: [],
    };
    for (const e of [
      { ...step, variant: 'a_lol', phase: 'training' },
      step,
      { ...evalDone, variant: 'reference', phase: 'evaluation' },
      evalDone,
      { type: 'checkpoint/didSave', variant: 'nll', phase: 'training', step: 3, dir: '/r/nll/final' },
      { type: 'phase/didChange', phase: 'training', variant: 'a_lol', status: 'started', message: 'started' },
    ]) {
      assert.ok(TrainerEventSchema.safeParse(e).success, JSON.stringify(e));
    }
    for (const b of [{ ...step, variant: '' }, { ...step, variant: 3 }, { ...step, phase: 'warmup' }]) {
      assert.equal(TrainerEventSchema.safeParse(b).success, false, JSON.stringify(b));
    }
  });

  it('variantOfPhase: the field, else (protocol 1) the name in a started training or evaluation message', () => {
    const phase = (o: object) => {
      const r = TrainerEventSchema.parse({ type: 'phase/didChange', status: 'started', message: '', ...o });
      assert.ok(r.type === 'phase/didChange');
      return variantOfPhase(r);
    };
    assert.equal(phase({ phase: 'training', message: 'training a_lol from the reference' }), 'a_lol');
    assert.equal(phase({ phase: 'training', message: 'training a_lol_seq from the reference (resuming from /r/x)' }), 'a_lol_seq');
    assert.equal(phase({ phase: 'evaluation', message: 'evaluating reference on the test prompts: greedy' }), 'reference');
    assert.equal(phase({ phase: 'training', status: 'finished', message: 'training a_lol done' }), null);
    assert.equal(phase({ phase: 'evaluation', message: 'training a_lol' }), null);
    assert.equal(phase({ phase: 'rewards', message: 'training rewards' }), null);
    assert.equal(phase({ phase: 'training', message: 'a_lol: 3 steps' }), null);
    assert.equal(phase({ phase: 'training', variant: 'dpo', message: 'training a_lol from the reference' }), 'dpo');
    assert.equal(phase({ phase: 'training', variant: 'dpo', status: 'finished', message: 'done' }), 'dpo');
  });

  it('parseEventLine keeps the time stamp beside the event (null when the line has none)', () => {
    const r = parseEventLine(JSON.stringify({ ...step, t: 123 }));
    assert.ok(r.ok);
    assert.equal(r.t, 123);
    assert.deepEqual(r.event, step);
    const ready = parseEventLine(JSON.stringify({ type: 'ready', protocolVersion: 2, trainer: 'x', pid: 1 }));
    assert.ok(ready.ok && ready.t === null);
  });
});
