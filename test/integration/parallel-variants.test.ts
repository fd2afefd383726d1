// Variants trained at once (train.parallelVariants): each on a trainer in a worker thread of its own
// (compute/ort/thread-trainer.ts). A thread trainer on one intra-op thread computes what the run's trainer
// on two does, bit for bit (losses, weights, optimizer state), its step-0 importance weights against
// reference log-probs computed on the main thread are exactly 1, and its errors cross with their message.
// A run of three variants, two at a time, writes the same summary and final weights as the same run one
// variant after another. With a fake backend whose trainers wait for each other (no timing involved):
// a checkpoint-now request is answered by both variants training; a stop checkpoints both and starts no
// other; a failure in one stops the other after a checkpoint and is what the run throws.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredEvent } from '../../src/protocol/trainer.js';
import { variantBatch } from '../../src/trainer/alol/batch.js';
import type { Variant } from '../../src/trainer/alol/rules.js';
import type { ModelWeights, PolicyTrainer, PolicyTrainerSpec, StepStats, TrainBatch } from '../../src/trainer/compute/backend.js';
import { OrtBackend } from '../../src/trainer/compute/ort/backend.js';
import type { TokenizedRow } from '../../src/trainer/data/tokenize.js';
import { DEFAULT_ADAMW } from '../../src/trainer/graph/optim.js';
import { initParams } from '../../src/trainer/model/family.js';
import { loadModelFolder } from '../../src/trainer/model/folder.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { type Summary, runExperiment } from '../../src/trainer/pipeline/experiment.js';
import { variantLanes } from '../../src/trainer/pipeline/lanes.js';
import { WatchdogError } from '../../src/trainer/pipeline/train.js';
import { type RunControl, StopRequested, newControl } from '../../src/trainer/run/control.js';
import { type RunContext, openRunContext } from '../../src/trainer/run/context.js';
import { loadRunConfig } from '../../src/trainer/run/load-config.js';
import { Rng } from '../../src/trainer/util/rng.js';
import { FakeCompute } from '../helpers/fake-compute.js';

const cfg = gptConfig({ vocabSize: 40, nEmbd: 16, nLayer: 1, nHead: 2, nPositions: 64 });
const model = { config: cfg, params: initParams(cfg, 3) };
const spec = (variant: 'nll' | 'a_lol' | 'a_lol_seq'): PolicyTrainerSpec => ({
  objective: variant === 'nll' ? { kind: 'nll' } : { kind: 'variant', variant, settings: { clipEps: 0.2, klBeta: 0.1, dpoBeta: 0.1 } },
  rows: 4,
  adamw: { ...DEFAULT_ADAMW, weightDecay: 0.01, gradClip: 1 },
  packRows: true,
});

function rowsOf(seed: number): TokenizedRow[] {
  const rng = new Rng(seed);
  const ids = (n: number) => Array.from({ length: n }, () => rng.int(39));
  return Array.from({ length: 4 }, (_, i) => ({
    row: { id: `r${seed}-${i}`, prompt: '', response: '', split: 'train', file: 'x', line: i + 1 } as TokenizedRow['row'],
    prompt: ids(2 + rng.int(8)),
    response: [...ids(3 + rng.int(20)), 39],
  }));
}

/** An A-LoL batch of `rows` whose reference log-probs are `backend`'s (the main thread's, on two threads). */
async function alolBatch(backend: OrtBackend, rows: TokenizedRow[]): Promise<TrainBatch> {
  const ref = await backend.tokenLogprobs(model, rows, { batchSize: 4, addEos: false, eosTokenId: null });
  return variantBatch(rows, ref.map((r) => r.tokenLogprobs), Float32Array.of(0.5, 1, 0.25, 2), cfg.nPositions);
}

async function trainBoth(
  a: PolicyTrainer,
  b: PolicyTrainer,
  batches: TrainBatch[],
): Promise<[StepStats[], StepStats[]]> {
  const sa: StepStats[] = [];
  const sb: StepStats[] = [];
  for (const batch of batches) {
    sa.push(await a.update([batch], 3e-3));
    sb.push(await b.update([batch], 3e-3));
  }
  return [sa, sb];
}

describe('a trainer in a worker thread', () => {
  const main = new OrtBackend({ threads: 2, provider: 'cpu' });
  after(() => main.release());

  it('computes what the run\'s trainer computes, bit for bit, on one thread against two (a_lol_seq, nll)', async () => {
    assert.ok(main.parallelPolicyTrainer, 'the CPU backend trains beside the main thread');
    for (const variant of ['a_lol_seq', 'nll'] as const) {
      const batches: TrainBatch[] = [];
      for (let k = 0; k < 3; k++) {
        const b = await alolBatch(main, rowsOf(10 + k));
        batches.push(variant === 'nll' ? { ...b, exampleWeight: Float32Array.of(1, 0.5, 1, 2) } : b);
      }
      const inProcess = main.policyTrainer(model, spec(variant));
      const thread = main.parallelPolicyTrainer(model, spec(variant), 1);
      try {
        const [x, y] = await trainBoth(inProcess, thread, batches);
        assert.deepEqual(y, x, `${variant}: step stats`);
        assert.equal(thread.step, 3);
        if (variant !== 'nll') assert.equal(y[0].extra.mean_weight, 1, 'step-0 importance weights are exactly 1');
        if (variant !== 'nll') assert.equal(y[0].extra.clip_fraction, 0);
        assert.deepEqual(await thread.weights(), await inProcess.weights(), `${variant}: weights`);
        const [sx, sy] = [await inProcess.state(), await thread.state()];
        assert.deepEqual(sy, sx, `${variant}: weights and AdamW state`);
        assert.ok(x.some((s) => s.loss !== x[0].loss), 'the steps change the loss (the comparison sees training)');
      } finally {
        await inProcess.dispose();
        await thread.dispose();
      }
    }
  });

  it('continues from a loaded state as the run\'s trainer does, and its log-probs are the same', async () => {
    const batches = [await alolBatch(main, rowsOf(20)), await alolBatch(main, rowsOf(21))];
    const first = main.policyTrainer(model, spec('a_lol'));
    await first.update([batches[0]], 3e-3);
    const state = await first.state();
    const inProcess = main.policyTrainer(model, spec('a_lol'));
    const thread = main.parallelPolicyTrainer?.(model, spec('a_lol'), 1);
    assert.ok(thread);
    try {
      await inProcess.loadState(state, 1);
      await thread.loadState(state, 1);
      assert.equal(thread.step, 1);
      assert.deepEqual(await thread.update([batches[1]], 3e-3), await inProcess.update([batches[1]], 3e-3));
      assert.deepEqual(await thread.logprobs(batches[0]), await inProcess.logprobs(batches[0]));
    } finally {
      await Promise.all([first.dispose(), inProcess.dispose(), thread.dispose()]);
    }
  });

  it('rejects with the worker\'s error, stays usable after it, and rejects every call after dispose', async () => {
    const thread = main.parallelPolicyTrainer?.(model, spec('a_lol'), 1);
    assert.ok(thread);
    const batch = await alolBatch(main, rowsOf(30));
    const { refTokenLogp: _dropped, ...without } = batch;
    void _dropped;
    await assert.rejects(thread.update([without], 1e-3), /the batch lacks refTokenLogp/);
    assert.equal(thread.step, 0);
    const s = await thread.update([batch], 1e-3);
    assert.ok(Number.isFinite(s.loss));
    assert.equal(thread.step, 1);
    await thread.dispose();
    await assert.rejects(thread.weights(), /the trainer was disposed/);
  });
});

describe('train.parallelVariants', () => {
  it('auto: two at a time, one thread each, for a small model on two threads; else one', () => {
    const c = (threads: number, parallelVariants: 'auto' | number) => ({ threads, train: { parallelVariants } });
    assert.deepEqual(variantLanes(c(2, 'auto'), true, 1e6, 5).lanes, 2);
    assert.deepEqual(variantLanes(c(2, 'auto'), true, 1e6, 5).threads, 1);
    assert.equal(variantLanes(c(4, 'auto'), true, 1e6, 5).threads, 2);
    assert.equal(variantLanes(c(1, 'auto'), true, 1e6, 5).lanes, 1);
    assert.equal(variantLanes(c(2, 'auto'), true, 30e6, 5).lanes, 1, 'a large model trains one variant at a time');
    assert.equal(variantLanes(c(2, 'auto'), false, 1e6, 5).lanes, 1, 'a backend without parallel trainers');
    assert.equal(variantLanes(c(2, 'auto'), true, 1e6, 1).lanes, 1, 'one variant');
    assert.equal(variantLanes(c(2, 1), true, 1e6, 5).lanes, 1);
    assert.deepEqual([variantLanes(c(2, 3), true, 30e6, 5).lanes, variantLanes(c(2, 3), true, 30e6, 5).threads], [3, 1]);
    assert.equal(variantLanes(c(2, 3), true, 1e6, 2).lanes, 2, 'no more lanes than variants');
  });
});

// ---- whole runs ----

let dir = '';
const WORDS = ['sure', 'here', 'is', 'a', 'short', 'answer', 'about', 'that'];
const quiet = (said: string[] = [], onSay: (l: string) => void = () => undefined) => ({
  say: (l: string) => {
    said.push(l);
    onSay(l);
  },
  progress: () => ({ update: () => undefined, stop: () => undefined }),
});
const events = (runDir: string): StoredEvent[] =>
  readFileSync(path.join(runDir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StoredEvent);

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-parallel-'));
  const rows = Array.from({ length: 80 }, (_, i) => {
    const response = ` ${WORDS.slice(0, 1 + (i % WORDS.length)).join(' ')}`;
    return JSON.stringify({ id: `r${i}`, prompt: `Q: topic ${i % 16}?\nA:`, response });
  });
  await writeFile(path.join(dir, 'data.jsonl'), `${rows.join('\n')}\n`);
  const config = (parallelVariants: 'auto' | number, steps = 6) => ({
    data: { path: 'data.jsonl', maxPromptTokens: 16, maxResponseTokens: 48, split: { validation: 0.1, test: 0.2, seed: 0 } },
    model: { init: { layers: 1, embd: 16, heads: 2, positions: 80 } },
    reference: { sft: { steps: 3, lr: 1e-3 } },
    rewards: [{ name: 'len', kind: 'builtin', scorer: 'length', options: { target: 4 } }],
    value: { fitOn: 'train', folds: 2, epochs: 1, heads: 2 },
    train: { steps, batchSize: 4, evalEvery: 0, checkpointEvery: 0, lr: 3e-3, parallelVariants },
    eval: { maxNewTokens: 4, maxPrompts: 3, samplesPerPrompt: 2 },
    device: 'cpu',
    threads: 2,
  });
  await writeFile(path.join(dir, 'two.json'), JSON.stringify(config(2)));
  await writeFile(path.join(dir, 'one.json'), JSON.stringify(config(1)));
  await writeFile(path.join(dir, 'fake.json'), JSON.stringify(config(2, 8)));
});
after(() => rm(dir, { recursive: true, force: true }));

const timesOff = { trainSeconds: 0, evalSeconds: 0, validationSeconds: 0 };
const withoutTimes = (s: Summary) => ({
  ...s,
  timing: undefined,
  variants: Object.fromEntries(Object.entries(s.variants).map(([k, v]) => [k, { ...v, ...timesOff }])),
});

describe('a run of several variants', () => {
  it('two at a time writes what one after another writes: summary, final weights, step losses', async () => {
    const variants: Variant[] = ['a_lol', 'nll', 'wnll'];
    const out: Record<string, { summary: Summary; runDir: string; said: string[] }> = {};
    for (const name of ['two', 'one']) {
      const loaded = await loadRunConfig(path.join(dir, `${name}.json`));
      const runDir = path.join(dir, `run-${name}`);
      const said: string[] = [];
      const ctx = await openRunContext({ verb: 'train', loaded, runDir, cacheDir: path.join(dir, 'cache'), ...quiet(said) });
      out[name] = { summary: (await runExperiment(ctx, variants)).summary, runDir, said };
      await ctx.compute.release();
    }
    const [two, one] = [out.two, out.one];
    assert.ok(two.said.some((l) => l.startsWith('[training] a_lol, nll: 2 at a time, each on 1 thread')), two.said.join('\n'));
    assert.ok(!one.said.some((l) => / at a time/.test(l)));
    assert.equal(two.summary.timing?.parallelVariants, 2);
    assert.deepEqual(Object.keys(two.summary.variants), ['reference', 'a_lol', 'nll', 'wnll'], 'the order asked');
    assert.deepEqual(withoutTimes(two.summary), withoutTimes(one.summary));
    for (const v of variants) {
      const [a, b] = [await loadModelFolder(path.join(two.runDir, v, 'final')), await loadModelFolder(path.join(one.runDir, v, 'final'))];
      assert.deepEqual(a.params, b.params, `${v}: final weights`);
      const losses = (runDir: string) => events(runDir).flatMap((e) => (e.type === 'step/didComplete' && e.variant === v ? [e.loss] : []));
      assert.deepEqual(losses(two.runDir), losses(one.runDir), `${v}: step losses`);
      assert.ok(losses(two.runDir).length > 0);
    }
  });
});

/**
 * A fake backend whose parallel trainers hold their first update until `lanes` of them are inside it, then call
 * `meet` once (the test acts there: both variants are mid-training, neither can be done), then go on; a trainer of
 * `waiting` holds its second update until `hold` resolves; one of `failing` makes its second update only once that
 * trainer is holding (so the failure finds it mid-training, whatever the order of the event loop), and reports a NaN loss.
 */
class MeetingCompute extends FakeCompute {
  readonly parallelPolicyTrainer: (m: ModelWeights, s: PolicyTrainerSpec, threads: number) => PolicyTrainer;
  private arrived = 0;
  private open!: () => void;
  private readonly met = new Promise<void>((r) => (this.open = r));
  private holding!: () => void;
  private readonly held = new Promise<void>((r) => (this.holding = r));

  constructor(
    meet: () => void,
    opts: { failing?: string; waiting?: string; hold?: Promise<void> } = {},
  ) {
    super();
    this.parallelPolicyTrainer = (m, s, threads) => {
      assert.equal(threads, 1);
      const t = this.policyTrainer(m, s);
      const name = s.objective.kind === 'nll' ? 'nll' : s.objective.variant;
      const update = t.update.bind(t);
      t.update = async (micro, lr) => {
        if (t.step === 0 && ++this.arrived === 2) {
          meet();
          this.open();
        }
        if (t.step === 0) await this.met;
        if (name === opts.waiting && t.step === 1) {
          this.holding();
          await opts.hold;
        }
        if (name === opts.failing && t.step === 1) await this.held;
        const s = await update(micro, lr);
        return name === opts.failing && t.step === 2 ? { ...s, loss: NaN } : s;
      };
      return t;
    };
  }
}

async function fakeRun(
  name: string,
  compute: MeetingCompute,
  control: RunControl,
  said: string[] = [],
  onSay?: (l: string) => void,
): Promise<{ runDir: string; ctx: RunContext }> {
  const loaded = await loadRunConfig(path.join(dir, 'fake.json'));
  const runDir = path.join(dir, name);
  const ctx = await openRunContext({
    verb: 'train', loaded, runDir, cacheDir: null, compute: () => compute, control, ...quiet(said, onSay),
  });
  return { runDir, ctx };
}

const saves = (runDir: string) => events(runDir).flatMap((e) => (e.type === 'checkpoint/didSave' ? [`${e.variant}@${e.step}`] : []));

describe('variants trained at once, and the extension\'s requests', () => {
  it('a checkpoint-now request is answered by every variant training', async () => {
    const control = newControl();
    const { runDir, ctx } = await fakeRun('checkpoint', new MeetingCompute(() => control.checkpointRequests++), control);
    await runExperiment(ctx, ['nll', 'wnll']);
    const saved = saves(runDir);
    // the request lands while both are inside their first update: each checkpoints before its second step
    assert.ok(saved.includes('nll@1') && saved.includes('wnll@1'), saved.join(', '));
    assert.ok(existsSync(path.join(runDir, 'nll', 'checkpoints', 'step-000001')));
    assert.ok(existsSync(path.join(runDir, 'wnll', 'checkpoints', 'step-000001')));
    assert.equal(saved.filter((s) => s.endsWith('@1')).length, 2, 'answered once each');
  });

  it('a stop checkpoints every variant training and starts no other', async () => {
    const control = newControl();
    const { runDir, ctx } = await fakeRun('stop', new MeetingCompute(() => (control.stopRequested = true)), control);
    await assert.rejects(runExperiment(ctx, ['nll', 'wnll', 'a_lol', 'a_lol_seq']), StopRequested);
    assert.deepEqual(saves(runDir).sort(), ['nll@1', 'wnll@1']);
    const started = events(runDir).flatMap((e) => (e.type === 'phase/didChange' && e.phase === 'training' ? [e.variant] : []));
    assert.deepEqual([...new Set(started)].sort(), ['nll', 'wnll']);
  });

  it('a failure in one variant stops the other after a checkpoint, and is what the run throws', async () => {
    const control = newControl();
    const said: string[] = [];
    let go!: () => void;
    const hold = new Promise<void>((r) => (go = r));
    // nll's second update waits for the line that says wnll failed (said as the other variants are asked to stop)
    const compute = new MeetingCompute(() => undefined, { failing: 'wnll', waiting: 'nll', hold });
    const { runDir, ctx } = await fakeRun('failure', compute, control, said, (l) => /wnll failed/.test(l) && go());
    await assert.rejects(runExperiment(ctx, ['nll', 'wnll']), WatchdogError);
    assert.ok(said.some((l) => /wnll failed/.test(l)), said.join('\n'));
    assert.ok(existsSync(path.join(runDir, 'wnll', 'watchdog-step-2.json')));
    assert.ok(saves(runDir).includes('nll@2'), `nll checkpointed where it stopped: ${saves(runDir).join(', ')}`);
    assert.ok(!existsSync(path.join(runDir, 'nll', 'final')), 'nll did not go on to the end');
  });
});
