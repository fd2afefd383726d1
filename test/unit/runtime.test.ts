// The runtime module: device choice and CPU fallback, feed checks, preallocated outputs, release.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Graph } from '../../src/trainer/graph/ir.js';
import * as o from '../../src/trainer/graph/ops.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { probeProvider, resolveDevice } from '../../src/trainer/runtime/device.js';
import { Session, listBackends, tensor } from '../../src/trainer/runtime/session.js';

async function doubler(): Promise<Session> {
  const g = new Graph();
  const x = g.floatInput('x', [4]);
  const s = g.floatInput('s', []);
  g.output('y', o.mul(x, s));
  return Session.create(serialize(g), 'doubler', { threads: 1 });
}

describe('device resolution', () => {
  it('cpu is used as asked, with no fallback note', async () => {
    assert.deepEqual(await resolveDevice('cpu'), { requested: 'cpu', provider: 'cpu' });
  });

  it('a GPU provider that cannot load falls back to CPU with the reason and a hint', async () => {
    const failing = async (): Promise<string> => 'Failed to load library libonnxruntime_providers_cuda.so';
    const r = await resolveDevice('cuda', failing);
    assert.equal(r.provider, 'cpu');
    assert.match(r.fallback ?? '', /device cuda is not available \(Failed to load library .*\); using cpu instead\. hint: /);
    const w = await resolveDevice('webgpu', failing);
    assert.equal(w.provider, 'cpu');
    assert.match(w.fallback ?? '', /device webgpu is not available.*hint: .*Vulkan/);
  });

  it('the real providers of this binary either run the probe graph or fall back (never throw)', async () => {
    for (const requested of ['cuda', 'webgpu', 'auto'] as const) {
      const r = await resolveDevice(requested);
      if (r.provider === 'cpu' && requested !== 'auto') assert.ok(r.fallback, `${requested}: fallback without a reason`);
      if (r.provider !== 'cpu') assert.equal(await probeProvider(r.provider), null);
    }
    assert.ok(listBackends().some((b) => b.name === 'cpu'));
  });

  it('an unknown device name is an error listing the choices', async () => {
    await assert.rejects(resolveDevice('tpu' as never), /unknown device 'tpu' \(use one of: auto, cpu, cuda, webgpu\)/);
  });
});

describe('sessions', () => {
  it('names missing and unknown feeds', async () => {
    const s = await doubler();
    await assert.rejects(s.run({ x: tensor('float32', new Float32Array(4), [4]) }), /missing feed: s/);
    await assert.rejects(
      s.run({
        x: tensor('float32', new Float32Array(4), [4]),
        s: tensor('float32', Float32Array.of(1), []),
        z: tensor('float32', Float32Array.of(1), []),
      }),
      /unknown feed: z \(inputs are: x, s\)/,
    );
    await s.release();
  });

  it('fills preallocated outputs in place, step after step', async () => {
    const s = await doubler();
    const out = new Float32Array(4);
    const outTensor = tensor('float32', out, [4]);
    for (let k = 1; k <= 3; k++) {
      await s.run(
        { x: tensor('float32', Float32Array.from([1, 2, 3, 4]), [4]), s: tensor('float32', Float32Array.of(k), []) },
        { y: outTensor },
      );
      assert.deepEqual(Array.from(out), [k, 2 * k, 3 * k, 4 * k]);
    }
    await assert.rejects(
      s.run({ x: tensor('float32', new Float32Array(4), [4]), s: tensor('float32', Float32Array.of(1), []) }, { nope: outTensor }),
      /no output named 'nope'/,
    );
    await s.release();
  });

  it('a released session refuses to run', async () => {
    const s = await doubler();
    await s.release();
    await s.release(); // twice is harmless
    await assert.rejects(s.run({}), /was released/);
  });

  it('a tensor whose data does not fill its dims is refused', () => {
    assert.throws(() => tensor('float32', new Float32Array(3), [2, 2]), /3 values do not fill dims \[2,2\]/);
  });
});
