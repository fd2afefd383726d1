// The protocol schemas reject bad messages on every boundary: trainer events, trainer commands,
// host <-> webview messages.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrainerCommandSchema, TrainerEventSchema, parseEventLine } from '../../src/protocol/trainer.js';
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
    for (const b of [{ type: 'run/start', verb: 'rm -rf' }, { type: 'run/stop', checkpoint: 'yes' }, { type: 'run/launch' }, { type: 'run/start', verb: 'demo', demo: { noise: 3 } }]) {
      assert.equal(TrainerCommandSchema.safeParse(b).success, false, JSON.stringify(b));
    }
  });

  it('reject malformed webview messages in both directions', () => {
    assert.ok(WebviewToHostSchema.safeParse({ type: 'histogram/openBin', lo: 0, hi: 0.1 }).success);
    for (const b of [{ type: 'histogram/openBin', lo: '0' }, { type: 'run/stop', extra: true }, { type: 'eval' }]) {
      assert.equal(WebviewToHostSchema.safeParse(b).success, false, JSON.stringify(b));
    }
    assert.ok(HostToWebviewSchema.safeParse({ type: 'events/didAppend', events: [{ t: 1, event: step }] }).success);
    for (const b of [{ type: 'events/didAppend', events: [{ t: 1, event: { ...step, loss: 'x' } }] }, { type: 'trainer/didChangeState', state: 'dancing', canResume: false }, { type: 'summary/didLoad', summary: { variants: { a: {} } } }]) {
      assert.equal(HostToWebviewSchema.safeParse(b).success, false, JSON.stringify(b));
    }
  });
});
