// K steps per run at the trainer level (OrtPolicyTrainer.updateMany, CPU provider) and in the training loop
// (compute/loop.ts stepsPerRun): updateMany over K batches equals K update() calls — weights, AdamW state and
// per-step stats within TOL relative — for a_lol (policy log-probs computed inside the loop body), kto (its
// second pass over the mismatched rows inside the body) and LoRA with dropout (frozen base fed once, one dropout
// seed per step); batches of different lengths are padded to the longest (equal up to float rounding: PAD_TOL,
// PAD_ABS); the loop's runs end at evaluation/checkpoint boundaries.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { PolicyTrainer, PolicyTrainerSpec, StepStats, Trainer, TrainBatch } from '../../src/trainer/compute/backend.js';
import { runLength, trainLoop } from '../../src/trainer/compute/loop.js';
import { OrtBackend } from '../../src/trainer/compute/ort/backend.js';
import { DEFAULT_ADAMW } from '../../src/trainer/graph/optim.js';
import { initParams } from '../../src/trainer/model/family.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { initLoraParams, resolveLora } from '../../src/trainer/model/lora.js';
import { RunConfigSchema } from '../../src/protocol/config.js';
import { Rng } from '../../src/trainer/util/rng.js';

const cfg = gptConfig({ vocabSize: 29, nPositions: 12, nEmbd: 16, nLayer: 2, nHead: 2 });
const ROWS = 2;
const LRS = [2e-2, 5e-3, 1e-2];
/** Max relative difference (|a - b| / max(|b|, 1e-3)) between updateMany and K update() calls of equal length. */
const TOL = 1e-6;
/**
 * Batches padded to the longest (sums over more, zero, positions) differ by rounding. Per-step stats: PAD_TOL relative.
 * Weights and moments: PAD_ABS absolute, since AdamW turns the rounding noise of gradients that are zero in exact
 * arithmetic (attention's key bias: softmax ignores a shift) into steps of up to lr per update (measured 4.3e-6).
 */
const PAD_TOL = 1e-5;
const PAD_ABS = 1e-5;

const compute = new OrtBackend({ threads: 1 });
after(() => compute.release());
const base = initParams(cfg, 3);

function tokenBatch(seed: number, seqLen: number): TrainBatch {
  const rng = new Rng(seed);
  const n = ROWS * seqLen;
  const ints = () => BigInt64Array.from({ length: n }, () => BigInt(rng.int(cfg.vocabSize)));
  const mask = Float32Array.from({ length: n }, (_, i) => (i % seqLen < 2 ? 0 : 1));
  return { rows: ROWS, seqLen, ids: ints(), targets: ints(), mask, exampleWeight: Float32Array.of(1, 0.5) };
}

/** a_lol batches: reference log-probs of the initial policy (importance weights 1 at step 0), advantages as coef. */
async function alolBatches(lengths: readonly number[]): Promise<TrainBatch[]> {
  const ref = compute.policyTrainer({ config: cfg, params: base }, spec('a_lol'));
  try {
    return await Promise.all(lengths.map(async (t, k) => {
      const b = tokenBatch(50 + k, t);
      return { ...b, refTokenLogp: (await ref.logprobs(b)).token, coef: Float32Array.of(0.7, 1.3) };
    }));
  } finally {
    await ref.dispose();
  }
}

/** kto's settings (the other variants ignore them). */
const KTO = { beta: 0.5, lambdaD: 1, lambdaU: 1.5 };

function spec(variant: 'a_lol' | 'nll' | 'kto', extra: Partial<PolicyTrainerSpec> = {}): PolicyTrainerSpec {
  const objective = variant === 'nll'
    ? { kind: 'nll' as const }
    : { kind: 'variant' as const, variant, settings: { clipEps: 0.2, klBeta: 0.1, dpoBeta: 0.1, baseline: KTO } };
  return { objective, rows: ROWS, adamw: { ...DEFAULT_ADAMW, gradClip: 0.5 }, ...extra };
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-3));
  return worst;
}

function absDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** The worst difference of two trainers' weights and moments, relative (relDiff) or absolute. */
async function stateDiff(a: PolicyTrainer, b: PolicyTrainer, diff = relDiff): Promise<number> {
  const [sa, sb] = [await a.state(), await b.state()];
  let worst = 0;
  for (const m of ['params', 'optimizer'] as const) {
    assert.deepEqual([...sa[m].keys()].sort(), [...sb[m].keys()].sort());
    for (const [name, x] of sa[m]) worst = Math.max(worst, diff(x, sb[m].get(name) as Float32Array));
  }
  return worst;
}

const flat = (s: StepStats): number[] => [s.loss, s.gradNorm, ...Object.keys(s.extra).sort().map((k) => s.extra[k])];

/** K update() calls on one trainer, one updateMany on another from the same start; the worst differences. */
async function compare(make: () => PolicyTrainer, batches: readonly TrainBatch[]) {
  const [single, many] = [make(), make()];
  try {
    const singleStats: StepStats[] = [];
    for (const [k, b] of batches.entries()) singleStats.push(await single.update([b], LRS[k]));
    const manyStats = await (many.updateMany as NonNullable<PolicyTrainer['updateMany']>)(batches.map((b) => [b]), LRS);
    assert.equal(many.step, batches.length);
    const stats = Math.max(...singleStats.map((s, k) => relDiff(flat(manyStats[k]), flat(s))));
    return { state: await stateDiff(many, single), stateAbs: await stateDiff(many, single, absDiff), stats, singleStats, manyStats };
  } finally {
    await single.dispose();
    await many.dispose();
  }
}

describe('OrtPolicyTrainer.updateMany (K steps per run)', () => {
  it('a_lol: updateMany over 3 batches equals 3 update() calls', async () => {
    const batches = await alolBatches([8, 8, 8]);
    const r = await compare(() => compute.policyTrainer({ config: cfg, params: base }, spec('a_lol')), batches);
    console.log(`a_lol trainer: state ${r.state.toExponential(2)}, stats ${r.stats.toExponential(2)}`);
    assert.equal(r.manyStats[0].extra.mean_weight, 1, 'importance weights exactly 1 at step 0');
    assert.ok(r.state <= TOL && r.stats <= TOL, `state ${r.state}, stats ${r.stats}`);
  });

  it('LoRA with dropout: the frozen base is fed once and each step draws its own dropout seed', async () => {
    const lora = resolveLora(cfg, { r: 2, alpha: 4, dropout: 0.3, targets: 'all-linear' });
    const init = initLoraParams(cfg, lora, 9);
    // B of the adapters is 0 at init; a first step moves it, so dropout on A's input matters from step 2 on
    const make = () => compute.policyTrainer({ config: cfg, params: base }, spec('nll', { lora: { spec: lora, init, seed: 4 } }));
    const r = await compare(make, [tokenBatch(1, 8), tokenBatch(2, 8), tokenBatch(3, 8)]);
    console.log(`LoRA trainer: state ${r.state.toExponential(2)}, stats ${r.stats.toExponential(2)}`);
    assert.ok(r.state <= TOL && r.stats <= TOL, `state ${r.state}, stats ${r.stats}`);
  });

  it('batches of different lengths are padded to the longest: equal up to rounding', async () => {
    const batches = await alolBatches([6, 8, 4]);
    const r = await compare(() => compute.policyTrainer({ config: cfg, params: base }, spec('a_lol')), batches);
    console.log(`a_lol padded: state ${r.stateAbs.toExponential(2)} absolute, stats ${r.stats.toExponential(2)} relative`);
    assert.ok(r.stateAbs <= PAD_ABS && r.stats <= PAD_TOL, `state ${r.stateAbs} absolute, stats ${r.stats}`);
  });

  for (const [what, lengths] of [['equal lengths', [[8, 6], [8, 6], [8, 6]]], ['padded', [[8, 6], [6, 8], [8, 8]]]] as const) {
    it(`kto, ${what}: its second no-grad pass (z0 from the mismatched rows, of their own length) runs in the body`, async () => {
      // reference log-probs of the mismatched rows 1 below the initial policy's: z0 = max(0, mean(kl)) > 0 reads kl_logp
      const ref = compute.policyTrainer({ config: cfg, params: base }, spec('a_lol'));
      const batches: TrainBatch[] = [];
      try {
        for (const [k, [t, tKl]] of lengths.entries()) {
          const b = tokenBatch(70 + k, t);
          const klBatch = tokenBatch(80 + k, tKl);
          const klRefLogp = (await ref.logprobs(klBatch)).seq.map((x) => x - 1);
          batches.push({ ...b, refTokenLogp: (await ref.logprobs(b)).token, coef: Float32Array.of(1, 0), klBatch, klRefLogp });
        }
      } finally {
        await ref.dispose();
      }
      const r = await compare(() => compute.policyTrainer({ config: cfg, params: base }, spec('kto')), batches);
      const [rel, abs] = [r.state.toExponential(2), r.stateAbs.toExponential(2)];
      console.log(`kto (${what}): state ${rel} rel, ${abs} abs; stats ${r.stats.toExponential(2)}`);
      if (what === 'padded') assert.ok(r.stateAbs <= PAD_ABS && r.stats <= PAD_TOL, `state ${r.stateAbs} absolute, stats ${r.stats}`);
      else assert.ok(r.state <= TOL && r.stats <= TOL, `state ${r.state}, stats ${r.stats}`);
    });
  }

  it('refuses what the loop graph does not hold, naming the fix', async () => {
    const nll = compute.policyTrainer({ config: cfg, params: base }, spec('nll'));
    try {
      const b = tokenBatch(1, 8);
      await assert.rejects(nll.updateMany?.([[b, b], [b]], [1e-3, 1e-3]) as Promise<unknown>, /step 0 has 2 micro-batches.*gradAccum 1/);
      await assert.rejects(nll.updateMany?.([[b]], [1e-3, 1e-3]) as Promise<unknown>, /1 steps but 2 learning rates/);
    } finally {
      await nll.dispose();
    }
  });

  it('the config refuses stepsPerRun > 1 with gradAccum > 1 or the torch backend', () => {
    const issues = (train: Record<string, unknown>, backend: Record<string, unknown> = {}) => {
      const r = RunConfigSchema.safeParse({ train, backend });
      return r.success ? [] : r.error.issues.filter((i) => i.path.join('.') === 'train.stepsPerRun').map((i) => i.message);
    };
    assert.deepEqual(issues({ stepsPerRun: 4 }), []);
    assert.match(issues({ stepsPerRun: 4, gradAccum: 2 }).join(), /gradAccum 1/);
    assert.deepEqual(issues({ stepsPerRun: 4, variants: ['a_lol', 'kto'] }), []);
    assert.match(issues({ stepsPerRun: 4 }, { kind: 'torch' }).join(), /built-in engine/);
  });
});

describe('trainLoop with stepsPerRun', () => {
  /** A trainer that records its calls; its step counts updates. */
  function recorder(): Trainer<number> & { calls: string[] } {
    const calls: string[] = [];
    let step = 0;
    const stats = (b: number): StepStats => ({ loss: b, gradNorm: 0, extra: {} });
    return {
      calls,
      get step() {
        return step;
      },
      update: async (micro) => {
        calls.push(`update(${micro.join()})`);
        step++;
        return stats(micro[0]);
      },
      updateMany: async (steps, lrs) => {
        calls.push(`updateMany(${steps.map((m) => m.join()).join('|')}; ${lrs.join()})`);
        step += steps.length;
        return steps.map((m) => stats(m[0]));
      },
      weights: async () => new Map(),
      state: async () => ({ params: new Map(), optimizer: new Map() }),
      loadState: async () => undefined,
      dispose: async () => undefined,
    };
  }

  it('runs up to K updates per call, ends runs at boundaries, and reports every update in order', async () => {
    const trainer = recorder();
    const done: string[] = [];
    const losses = await trainLoop(trainer, {
      from: 0, to: 9, lr: 0.5, stepsPerRun: 3,
      boundary: (step) => step % 4 === 0,
      batches: (step) => [10 + step],
      beforeStep: (step) => void done.push(`before ${step}`),
      afterStep: ({ step, stats }) => {
        if (step % 4 === 0) assert.equal(trainer.step, step, 'at a boundary the trainer is at that step');
        done.push(`after ${step} ${stats.loss}`);
      },
    });
    const all = '0.5,0.5,0.5';
    const calls = [`updateMany(10|11|12; ${all})`, 'update(13)', `updateMany(14|15|16; ${all})`, 'update(17)', 'update(18)'];
    assert.deepEqual(trainer.calls, calls);
    assert.deepEqual(losses, [10, 11, 12, 13, 14, 15, 16, 17, 18]);
    assert.deepEqual(done.filter((d) => d.startsWith('before')), ['before 0', 'before 3', 'before 4', 'before 7', 'before 8']);
    const after = done.filter((d) => d.startsWith('after'));
    assert.deepEqual(after, Array.from({ length: 9 }, (_, i) => `after ${i + 1} ${10 + i}`), 'one afterStep per update, in order');
  });

  it('runLength: stepsPerRun 1, a trainer without updateMany, and the end of the plan give shorter runs', () => {
    const plan = { from: 0, to: 10, lr: 1, batches: () => [], stepsPerRun: 4, boundary: (s: number) => s === 6 };
    assert.equal(runLength(plan, 0, true), 4);
    assert.equal(runLength(plan, 4, true), 2, 'ends after update 6');
    assert.equal(runLength(plan, 8, true), 2, 'the plan ends at 10');
    assert.equal(runLength(plan, 0, false), 1);
    assert.equal(runLength({ ...plan, stepsPerRun: 1 }, 0, true), 1);
  });
});
