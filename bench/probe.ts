// What the trainer relies on a provider for, checked before anything is measured on it (issue 21's "check early"):
//   int64   token ids fed as int64 (every model graph's first input) through a Gather
//   big     one tensor larger than WebGPU's default 128 MiB storage-buffer binding: GPT-2 124M's embedding
//           (50257 x 768 float32, 154 MB) fed from the host, gathered and multiplied by as the LM head does
//   device  a tensor kept on the device by one session (gpu-buffer output) fed to a second session
// Each result is checked against the same computation in float64 on the host; an error is recorded with its
// message, never thrown, so the report says what failed. Prints one JSON line with --json.
//
//   npm run bench:probe -- [--device webgpu] [--vocab 50257] [--embd 768] [--json]

import { parseArgs } from 'node:util';
import { Graph } from '../src/trainer/graph/ir.js';
import { serialize } from '../src/trainer/graph/onnx.js';
import * as o from '../src/trainer/graph/ops.js';
import { type DeviceRequest, resolveDevice } from '../src/trainer/runtime/device.js';
import { SessionPool } from '../src/trainer/runtime/pool.js';
import { disposeTensor, onDevice, tensor } from '../src/trainer/runtime/session.js';
import { Rng } from '../src/trainer/util/rng.js';

const { values: a } = parseArgs({
  options: {
    device: { type: 'string', default: 'webgpu' },
    vocab: { type: 'string', default: '50257' },
    embd: { type: 'string', default: '768' },
    threads: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
});

interface Probe {
  ok: boolean;
  /** Largest |ours - float64 host reference| over the values compared. */
  max_abs_err?: number;
  error?: string;
  ms?: number;
  [k: string]: unknown;
}

const TOL = 1e-4;

async function probe(what: string, f: () => Promise<Omit<Probe, 'ok' | 'ms'> & { max_abs_err: number }>): Promise<Probe> {
  const t0 = performance.now();
  try {
    const r = await f();
    const ok = r.max_abs_err <= TOL;
    return { ok, ...r, ms: Math.round(performance.now() - t0), ...(ok ? {} : { error: `${what}: off by ${r.max_abs_err} (> ${TOL})` }) };
  } catch (err) {
    const msg = String(err instanceof Error ? err.message : err);
    const error = (msg.match(/Failed to [^\n]*/)?.[0] ?? msg.split('\n')[0]).slice(0, 400);
    return { ok: false, error, ms: Math.round(performance.now() - t0) };
  }
}

function randomTable(rows: number, cols: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: rows * cols }, () => (rng.next() - 0.5) * 0.1);
}

async function main(): Promise<void> {
  const device = await resolveDevice(a.device as DeviceRequest);
  if (device.fallback) console.log(device.fallback);
  const provider = device.provider;
  const pool = new SessionPool({ provider, threads: Number(a.threads) });
  const [V, C] = [Number(a.vocab), Number(a.embd)];
  const rng = new Rng(7);

  // int64: out[i, :] = table[ids[i], :]
  const int64 = await probe('int64', async () => {
    const [n, rows, cols] = [6, 40, 8];
    const g = new Graph({ name: 'probe_int64' });
    g.output('out', o.gather(g.floatInput('table', [rows, cols]), g.input('ids', 'int64', [n])));
    const s = await pool.get('probe_int64', () => serialize(g));
    const table = randomTable(rows, cols, 1);
    const ids = Array.from({ length: n }, () => rng.int(rows));
    const feeds = { table: tensor('float32', table, [rows, cols]), ids: tensor('int64', BigInt64Array.from(ids.map(BigInt)), [n]) };
    const out = (await s.run(feeds)).out.data as Float32Array;
    let err = 0;
    ids.forEach((id, i) => { for (let c = 0; c < cols; c++) err = Math.max(err, Math.abs(out[i * cols + c] - table[id * cols + c])); });
    return { max_abs_err: err };
  });

  // big: logits = gather(wte, ids) @ wte^T, wte [V, C] fed from the host (the LM head of a tied GPT-2)
  const big = await probe('big', async () => {
    const n = 8;
    const g = new Graph({ name: 'probe_big' });
    const wte = g.floatInput('wte', [V, C]);
    const h = o.gather(wte, g.input('ids', 'int64', [n]));
    g.output('logits', o.matmul(h, o.transpose(wte, [1, 0])));
    const s = await pool.get(`probe_big:${V}x${C}`, () => serialize(g));
    const table = randomTable(V, C, 2);
    const ids = Array.from({ length: n }, () => rng.int(V));
    const logits = (await s.run({ wte: tensor('float32', table, [V, C]), ids: tensor('int64', BigInt64Array.from(ids.map(BigInt)), [n]) }))
      .logits.data as Float32Array;
    let err = 0;
    for (let k = 0; k < 2000; k++) {
      const [i, v] = [rng.int(n), rng.int(V)];
      let ref = 0;
      for (let c = 0; c < C; c++) ref += table[ids[i] * C + c] * table[v * C + c];
      err = Math.max(err, Math.abs(logits[i * V + v] - ref));
    }
    return { max_abs_err: err, bytes: V * C * 4, over_128_mib: V * C * 4 > 128 * 2 ** 20 };
  });

  // device: y = 2x kept on the device by one session, z = y + 1 read back by another
  const handoff = await probe('device', async () => {
    const first = new Graph({ name: 'probe_dev_a' });
    first.output('y', o.add(first.floatInput('x', [256]), first.floatInput('x2', [256])));
    const second = new Graph({ name: 'probe_dev_b' });
    second.output('z', o.add(second.floatInput('y', [256]), 1));
    const keep = provider === 'webgpu' ? { deviceOutputs: ['y'] } : {};
    const sa = await pool.get('probe_dev_a', () => serialize(first), keep);
    const sb = await pool.get('probe_dev_b', () => serialize(second));
    const x = randomTable(256, 1, 3);
    const y = (await sa.run({ x: tensor('float32', x, [256]), x2: tensor('float32', x, [256]) })).y;
    const resident = onDevice(y);
    const z = (await sb.run({ y })).z.data as Float32Array;
    disposeTensor(y);
    let err = 0;
    x.forEach((v, i) => (err = Math.max(err, Math.abs(z[i] - (2 * v + 1)))));
    return { max_abs_err: err, resident };
  });

  await pool.release();
  const report = { provider, fallback: device.fallback ?? null, tolerance: TOL, int64, big, device: handoff };
  const line = (name: string, p: Probe) =>
    `${name.padEnd(7)} ${p.ok ? 'ok    ' : 'FAILED'} ${p.error ?? `max |err| ${p.max_abs_err?.toExponential(2)}`} (${p.ms} ms)`;
  console.log(`probe on ${provider}${device.fallback ? ' (fell back)' : ''}`);
  console.log(line('int64', int64));
  console.log(line('big', big) + (big.bytes ? `, a ${((big.bytes as number) / 1e6).toFixed(0)} MB tensor` : ''));
  console.log(line('device', handoff) + (handoff.resident !== undefined ? `, kept on the device: ${handoff.resident}` : ''));
  if (a.json) console.log(JSON.stringify(report));
  if (!int64.ok || !big.ok || !handoff.ok) process.exitCode = 1;
}

void main();
