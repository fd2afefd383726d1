// The reference log-probs cache is keyed by what computes them (ComputeBackend.logprobsKey, pipeline/reference.ts):
// A-LoL's importance weights are exactly 1 at step 0 only when the policy's log-probs come from the very graph that
// made the cached reference log-probs, so another engine, provider or graph revision must compute them again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logprobsKeyOf } from '../../src/trainer/compute/local.js';
import { OrtBackend, ortLogprobsKey } from '../../src/trainer/compute/ort/backend.js';
import type { ComputeBackend } from '../../src/trainer/compute/backend.js';

describe('log-prob cache keys', () => {
  it('differ by provider and engine, and agree for the same computation', async () => {
    const cpu = new OrtBackend({ provider: 'cpu', threads: 1 });
    const webgpu = new OrtBackend({ provider: 'webgpu', threads: 1 }); // nothing loads until a session is asked for
    try {
      assert.equal(logprobsKeyOf({ compute: cpu }), logprobsKeyOf({ provider: 'cpu' }), "a run's backend and a private one");
      assert.equal(logprobsKeyOf({}), ortLogprobsKey('cpu'));
      assert.notEqual(logprobsKeyOf({ compute: cpu }), logprobsKeyOf({ compute: webgpu }));
      const other = { name: 'pytorch worker (cpu, float32)' } as ComputeBackend;
      assert.equal(logprobsKeyOf({ compute: other }), 'pytorch worker (cpu, float32)', 'a backend without a key: its name');
      assert.notEqual(logprobsKeyOf({ compute: other }), logprobsKeyOf({ compute: cpu }));
      assert.match(ortLogprobsKey('cpu'), /r2$/, 'the graph revision (FastGelu) is part of the key');
    } finally {
      await cpu.release();
      await webgpu.release();
    }
  });
});
