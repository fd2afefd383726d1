// The embedding (Gather) gradient on the CPU with two intra-op threads, at a training batch's size with
// repeated tokens: equal to float64 sums, and the same bits run after run. ORT 1.30's CPU ScatterND with
// reduction 'add', which graph/grad.ts used until 2026-12-01, split the updates over the threads and lost
// sums of repeated indices here (5.3 absolute error, different every run). Also the gradient of packed
// rows' distinct gather (model/pack.ts) and of their ScatterND back, against float64.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Graph } from '../../src/trainer/graph/ir.js';
import { gradients } from '../../src/trainer/graph/grad.js';
import * as o from '../../src/trainer/graph/ops.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { Session, tensor } from '../../src/trainer/runtime/session.js';

const [V, N, C] = [257, 3072, 128];

function weights(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
}

describe('embedding gradient (CPU, 2 threads)', () => {
  it('sums repeated tokens exactly as float64 does, with the same bits every run', async () => {
    const g = new Graph({ name: 'emb_grad' });
    const table = g.floatInput('table', [V, C]);
    const ids = g.input('ids', 'int64', [N]);
    const w = g.floatInput('w', [N, C]);
    const loss = o.sumAll(o.mul(o.gather(table, ids), w));
    g.output('d_table', gradients(loss, [table])[0]);
    const id = BigInt64Array.from({ length: N }, (_, i) => BigInt((i * 7) % 40)); // 40 tokens, each ~77 times
    const wd = weights(N * C, 1);
    const want = new Float64Array(V * C);
    for (let i = 0; i < N; i++) for (let c = 0; c < C; c++) want[Number(id[i]) * C + c] += wd[i * C + c];
    const sess = await Session.create(serialize(g), 'emb_grad', { threads: 2 });
    try {
      const feeds = {
        table: tensor('float32', new Float32Array(V * C), [V, C]),
        ids: tensor('int64', id, [N]),
        w: tensor('float32', wd, [N, C]),
      };
      let first: Float32Array | null = null;
      for (let run = 0; run < 5; run++) {
        const got = (await sess.run(feeds)).d_table.data as Float32Array;
        let err = 0;
        for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
        assert.ok(err < 1e-4, `run ${run}: max error ${err} against float64`);
        if (first) assert.deepEqual(got, first, `run ${run} differs from run 0`);
        else first = got.slice();
      }
    } finally {
      await sess.release();
    }
  });

  it('packed rows: the distinct gather and the scatter back have exact gradients', async () => {
    const [B, T, K] = [4, 6, 5];
    const lengths = [6, 2, 4, 1];
    const index = lengths.flatMap((l, b) => Array.from({ length: l }, (_, t) => b * T + t));
    const g = new Graph({ name: 'pack_grad' });
    const x = g.floatInput('x', [B * T, K]);
    const idx = g.input('idx', 'int64', ['N']);
    const packed = o.gatherDistinct(x, idx); // [N, K]
    const zeros = o.constantOfShape(g.ints([B * T, K]), 0, 'float32', [B * T, K]);
    const back = o.scatterND(zeros, o.unsqueeze(idx, [-1]), o.mul(packed, packed)); // [B*T, K]
    const w = g.floatInput('w', [B * T, K]);
    g.output('dx', gradients(o.sumAll(o.mul(back, w)), [x])[0]);
    const xd = weights(B * T * K, 2);
    const wd = weights(B * T * K, 3);
    const sess = await Session.create(serialize(g), 'pack_grad', { threads: 2 });
    try {
      const dx = (await sess.run({
        x: tensor('float32', xd, [B * T, K]),
        idx: tensor('int64', BigInt64Array.from(index, BigInt), [index.length]),
        w: tensor('float32', wd, [B * T, K]),
      })).dx.data as Float32Array;
      const real = new Set(index);
      for (let p = 0; p < B * T; p++) {
        for (let k = 0; k < K; k++) {
          const want = real.has(p) ? 2 * xd[p * K + k] * wd[p * K + k] : 0; // d/dx of w x^2 at real rows, 0 at padding
          assert.ok(Math.abs(dx[p * K + k] - want) < 1e-6, `position ${p}, ${k}: ${dx[p * K + k]} vs ${want}`);
        }
      }
    } finally {
      await sess.release();
    }
  });
});
