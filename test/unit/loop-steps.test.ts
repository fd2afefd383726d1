// K optimizer steps per run (graph/loop.ts: an ONNX Loop over the step graph) against K single `update` runs
// on ORT's CPU provider: parameters, AdamW moments and every per-step scalar (loss, grad_norm, clip_coef,
// mean_weight, ...) must be equal to float32 rounding (TOL below; measured: bit-identical), for weighted NLL,
// a_lol_kl, and a_lol, a_lol_seq and r_lol, whose body computes the policy's log-probs with the inlined no-grad
// graph before each step. Steps fed in another order
// must give a different result (the Loop really runs the batches in order, each on the previous step's state).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { buildAlolStepGraph, needsPolicyLogprobs } from '../../src/trainer/alol/losses.js';
import { Graph } from '../../src/trainer/graph/ir.js';
import { inlineGraph } from '../../src/trainer/graph/inline.js';
import * as o from '../../src/trainer/graph/ops.js';
import { type LoopPass, buildLoopGraph } from '../../src/trainer/graph/loop.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { DEFAULT_ADAMW } from '../../src/trainer/graph/optim.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { buildLogprobGraph, buildStepGraph } from '../../src/trainer/model/gpt-graphs.js';
import { gptParamInfos, initGptParams } from '../../src/trainer/model/params.js';
import { type OrtTensor, Session, tensor } from '../../src/trainer/runtime/session.js';
import { type StepStats, Stepper } from '../../src/trainer/runtime/stepper.js';
import { Rng } from '../../src/trainer/util/rng.js';

const cfg = gptConfig({ vocabSize: 31, nPositions: 8, nEmbd: 16, nLayer: 2, nHead: 2 });
const [B, T, K] = [2, 8, 3];
const LRS = [2e-2, 5e-3, 1e-2];
/** Max relative difference (|a - b| / max(|b|, 1e-3)) allowed between the Loop and the single steps. */
const TOL = 1e-6;

const sessions: Session[] = [];
after(async () => {
  for (const s of sessions) await s.release();
});
async function session(g: Graph, name: string): Promise<Session> {
  const s = await Session.create(serialize(g), name, { threads: 1 });
  sessions.push(s);
  return s;
}

function newStepper(): Stepper {
  const init = initGptParams(cfg, 3);
  const params = gptParamInfos(cfg).map((p) => ({ name: p.name, shape: p.shape, data: (init.get(p.name) as Float32Array).slice() }));
  return new Stepper('float32', params);
}

type Batch = Record<string, OrtTensor>;

function randomBatches(seed: number, extra: (rng: Rng) => Batch): Batch[] {
  const rng = new Rng(seed);
  const ints = () => BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocabSize)));
  return Array.from({ length: K }, () => ({
    ids: tensor('int64', ints(), [B, T]),
    targets: tensor('int64', ints(), [B, T]),
    mask: tensor('float32', Float32Array.from({ length: B * T }, (_, i) => (i % T < 2 ? 0 : 1)), [B, T]),
    ...extra(rng),
  }));
}

/** Each name's tensors of the K batches, stacked along a new first axis. */
function stack(batches: readonly Batch[]): Batch {
  const out: Batch = {};
  for (const name of Object.keys(batches[0])) {
    const ts = batches.map((b) => b[name]);
    const n = ts[0].data.length;
    const data = ts[0].type === 'int64' ? new BigInt64Array(n * ts.length) : new Float32Array(n * ts.length);
    ts.forEach((t, i) => (data as Float32Array).set(t.data as Float32Array, i * n));
    out[name] = tensor(ts[0].type === 'int64' ? 'int64' : 'float32', data, [ts.length, ...ts[0].dims]);
  }
  return out;
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-3));
  return worst;
}

function stateDiff(a: Stepper, b: Stepper): number {
  const bs = new Map(b.stateTensors().map((t) => [t.name, t.data]));
  let worst = 0;
  for (const t of a.stateTensors()) worst = Math.max(worst, relDiff(t.data, bs.get(t.name) as Float32Array));
  return worst;
}

function statsDiff(a: readonly StepStats[], b: readonly StepStats[]): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  a.forEach((s, i) => {
    assert.deepEqual(Object.keys(s.extra).sort(), Object.keys(b[i].extra).sort());
    const flat = (x: StepStats) => [x.loss, x.gradNorm, x.clipCoef, ...Object.keys(s.extra).sort().map((k) => x.extra[k])];
    worst = Math.max(worst, relDiff(flat(s), flat(b[i])));
  });
  return worst;
}

interface Case {
  step: Graph;
  passes: LoopPass[];
  batches: Batch[];
  /** Adds what the trainer computes before each single step (the policy's log-probs) to its feeds. */
  before: (stepper: Stepper, batch: Batch) => Promise<Batch>;
}

interface Runs {
  single: Stepper;
  loop: Stepper;
  singleStats: StepStats[];
  loopStats: StepStats[];
}

async function compare(c: Case, name: string): Promise<Runs> {
  const stepSession = await session(c.step, `${name}-step`);
  const single = newStepper();
  const singleStats: StepStats[] = [];
  for (let k = 0; k < K; k++) singleStats.push(await single.update(stepSession, await c.before(single, c.batches[k]), LRS[k]));
  const loopSession = await session(buildLoopGraph(c.step, { steps: K, passes: c.passes }), `${name}-loop`);
  const loop = newStepper();
  const loopStats = await loop.updateMany(loopSession, stack(c.batches), LRS);
  return { single, loop, singleStats, loopStats };
}

/** [B] values in [lo, lo + 1). */
const positive = (rng: Rng, lo: number): OrtTensor => tensor('float32', Float32Array.from({ length: B }, () => lo + rng.next()), [B]);

const noPass = async (_: Stepper, batch: Batch): Promise<Batch> => batch;

describe('K optimizer steps per run (graph/loop.ts)', () => {
  const nll = (): Case => ({
    step: buildStepGraph(cfg, { batch: B, seqLen: T }, { mode: 'update', adamw: { ...DEFAULT_ADAMW, gradClip: 0.5 } }),
    passes: [],
    batches: randomBatches(7, (rng) => ({ example_weight: positive(rng, 0.5) })),
    before: noPass,
  });

  it('NLL: the Loop graph for K = 3 equals 3 single update runs', async () => {
    const r = await compare(nll(), 'nll');
    const [state, stats] = [stateDiff(r.loop, r.single), statsDiff(r.loopStats, r.singleStats)];
    console.log(`nll: params+moments max rel diff ${state.toExponential(2)}, per-step stats ${stats.toExponential(2)}`);
    assert.ok(state <= TOL, `params/moments differ by ${state}`);
    assert.ok(stats <= TOL, `per-step stats differ by ${stats}`);
    assert.equal(r.loop.step, K);
    assert.ok(r.singleStats.some((s) => s.clipCoef < 1), 'clipping took part');
    assert.notDeepEqual(r.singleStats[0].loss, r.singleStats[1].loss);
  });

  for (const variant of ['a_lol', 'a_lol_seq', 'r_lol', 'a_lol_kl'] as const) {
    const pass = needsPolicyLogprobs(variant);
    const how = pass ? '; the body computes the policy log-probs with the inlined no-grad graph' : '';
    it(`${variant}: the Loop graph for K = 3 equals 3 single update runs${how}`, async () => {
      const lpGraph = buildLogprobGraph(cfg, { batch: B, seqLen: T });
      const lp = await session(lpGraph, `${variant}-lp`);
      const logprobs = async (stepper: Stepper, batch: Batch) =>
        (await lp.run({ ...stepper.paramFeeds(), ids: batch.ids, targets: batch.targets, mask: batch.mask })).token_logprob;
      // the reference log-probs are the initial policy's, as the trainer's reference model
      const ref = newStepper();
      const batches = randomBatches(11, (rng) => ({ coef: positive(rng, 0.2) }));
      for (const b of batches) b.ref_token_logp = await logprobs(ref, b);
      const step = buildAlolStepGraph(cfg, B, T, {
        variant, settings: { clipEps: 0.2, klBeta: 0.1, dpoBeta: 0.1 }, mode: 'update', adamw: DEFAULT_ADAMW,
      });
      const r = await compare(
        {
          step,
          passes: pass ? [{ graph: lpGraph, feeds: { policy_token_logp: 'token_logprob' } }] : [],
          batches,
          before: async (stepper, batch) => (pass ? { ...batch, policy_token_logp: await logprobs(stepper, batch) } : batch),
        },
        variant,
      );
      const [state, stats] = [stateDiff(r.loop, r.single), statsDiff(r.loopStats, r.singleStats)];
      console.log(`${variant}: params+moments max rel diff ${state.toExponential(2)}, per-step stats ${stats.toExponential(2)}`);
      if (pass) {
        assert.equal(r.loopStats[0].extra.mean_weight, 1, 'importance weights are exactly 1 at step 0');
        assert.ok(r.loopStats.slice(1).some((s) => s.extra.mean_weight !== 1), 'the policy moved: later weights differ from 1');
      }
      assert.ok(state <= TOL, `params/moments differ by ${state}`);
      assert.ok(stats <= TOL, `per-step stats differ by ${stats}`);
    });
  }

  it('steps fed in another order give a different result (the wiring is checked, not just the shapes)', async () => {
    const c = nll();
    const r = await compare(c, 'nll-order');
    const swapped = await session(buildLoopGraph(c.step, { steps: K }), 'nll-swapped');
    const other = newStepper();
    const otherStats = await other.updateMany(swapped, stack([c.batches[1], c.batches[0], c.batches[2]]), LRS);
    assert.ok(stateDiff(other, r.single) > 1e-3, 'swapping two steps changed the parameters');
    assert.ok(Math.abs(otherStats[0].loss - r.singleStats[0].loss) > 1e-4, 'the first step read the second batch');
    const reversedLr = newStepper();
    await reversedLr.updateMany(swapped, stack(c.batches), [...LRS].reverse());
    assert.ok(stateDiff(reversedLr, r.single) > 1e-3, 'learning rates are applied per step, in order');
  });

  it('inlineGraph copies a graph node for node, binding its inputs by name; bad bindings are named', async () => {
    const src = new Graph({ name: 'src' });
    const x = src.floatInput('x', [3]);
    src.output('y', o.mul(o.add(x, 2), src.constant(Float32Array.of(1, -1, 0.5), [3], 'w')));
    const dst = new Graph({ name: 'dst' });
    const a = dst.floatInput('a', [3]);
    const y = inlineGraph(dst, src, { x: a }).get('y');
    assert.ok(y);
    dst.output('z', o.sub(y, 1));
    const s = await session(dst, 'inline');
    const z = (await s.run({ a: tensor('float32', Float32Array.of(1, 2, 3), [3]) })).z.data as Float32Array;
    assert.deepEqual([...z], [2, -5, 1.5]);
    assert.throws(() => inlineGraph(new Graph(), src, {}), /input 'x' is not bound/);
    const other = new Graph({ name: 'other' });
    assert.throws(() => inlineGraph(other, src, { x: other.input('x', 'int64', [3]) }), /'x' is float32\[3\], bound to int64\[3\]/);
  });

  it('a graph that reads outer values is a subgraph: serializing it alone is refused', () => {
    const outer = new Graph({ name: 'outer' });
    const body = new Graph({ name: 'body' });
    body.reserveNames(outer.names);
    body.output('y', o.identity(body.capture(outer.floatInput('x', []))));
    assert.throws(() => serialize(body), /reads outer values \(x\): it is a subgraph/);
    const clash = new Graph({ name: 'clash' });
    clash.floatInput('x', []);
    assert.throws(() => clash.capture(outer.inputs[0]), /would shadow its own value/);
  });

  it('refuses graphs it cannot loop, naming why', () => {
    const acc = buildStepGraph(cfg, { batch: B, seqLen: T }, { mode: 'accumulate-update' });
    assert.throws(() => buildLoopGraph(acc, { steps: 2 }), /not an 'update' step graph.*accumulates/);
    const step = buildStepGraph(cfg, { batch: B, seqLen: T });
    assert.throws(() => buildLoopGraph(step, { steps: 0 }), /steps must be an integer >= 1/);
    assert.throws(() => buildLoopGraph(step, { steps: 2, shared: ['nope'] }), /shared input 'nope'/);
  });
});
