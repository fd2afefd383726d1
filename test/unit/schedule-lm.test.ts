// Learning-rate schedules, and the LM loop's accumulation path and input checks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getLr } from '../../src/trainer/model/schedule.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { DEFAULT_LM, type LmSnapshot, trainLm } from '../../src/trainer/model/lm.js';
import { initGptParams } from '../../src/trainer/model/params.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

describe('learning-rate schedules', () => {
  it('constant, with linear warmup', () => {
    const s = { kind: 'constant' as const, lr: 1, warmupSteps: 4, totalSteps: 10 };
    assert.deepEqual([0, 1, 2, 3, 4, 9].map((i) => getLr(s, i)), [0.25, 0.5, 0.75, 1, 1, 1]);
  });
  it('linear decay to zero after warmup', () => {
    const s = { kind: 'linear' as const, lr: 2, warmupSteps: 2, totalSteps: 10 };
    close(getLr(s, 1), 2);
    close(getLr(s, 2), 2);
    close(getLr(s, 6), 1);
    close(getLr(s, 10), 0);
  });
  it('cosine decay to minRatio * lr', () => {
    const s = { kind: 'cosine' as const, lr: 1, warmupSteps: 0, totalSteps: 100, minRatio: 0.1 };
    close(getLr(s, 0), 1);
    close(getLr(s, 50), 0.55);
    close(getLr(s, 100), 0.1);
    close(getLr(s, 500), 0.1);
  });
});

describe('LM loop', () => {
  const cfg = gptConfig({ vocabSize: 257, nPositions: 16, nEmbd: 16, nLayer: 1, nHead: 2 });
  const text = new Uint8Array(Buffer.from('the cat sat on the mat. '.repeat(40)));
  it('trains with gradient accumulation and reports every step', async () => {
    const steps: number[] = [];
    const r = await trainLm(cfg, initGptParams(cfg, 0), { train: text, heldout: text }, {
      ...DEFAULT_LM, steps: 40, batchSize: 4, seqLen: 16, gradAccum: 2, lr: 1e-2, warmupSteps: 0, evalEvery: 0, threads: 1,
    }, (e) => {
      if (e.type === 'step') steps.push(e.step);
    });
    assert.deepEqual(steps, [...Array(40).keys()].map((i) => i + 1));
    assert.ok(r.losses[39] < r.losses[0] / 2, `loss ${r.losses[0]} -> ${r.losses[39]}`);
  });
  it('resume from a snapshot gives the same losses and weights as one uninterrupted run', async () => {
    const base = {
      ...DEFAULT_LM, steps: 8, batchSize: 4, seqLen: 16, gradAccum: 2, lr: 1e-2, warmupSteps: 2,
      schedule: 'cosine' as const, evalEvery: 0, threads: 1,
    };
    const init = initGptParams(cfg, 0);
    const whole = await trainLm(cfg, init, { train: text, heldout: text }, base);
    // Interrupted run: the process "dies" right after the checkpoint at step 3 of 8.
    let snap: LmSnapshot | null = null;
    const firstLosses: number[] = [];
    const crash = (s: LmSnapshot) => {
      snap = s;
      return Promise.reject(new Error('killed'));
    };
    await assert.rejects(
      trainLm(cfg, init, { train: text, heldout: text }, { ...base, checkpointEvery: 3, onCheckpoint: crash },
        (e) => e.type === 'step' && firstLosses.push(e.loss)),
      /killed/,
    );
    assert.ok(snap);
    assert.equal((snap as LmSnapshot).step, 3);
    const rest = await trainLm(cfg, init, { train: text, heldout: text }, { ...base, resume: snap });
    assert.deepEqual([...firstLosses, ...rest.losses], whole.losses);
    for (const [name, v] of whole.params) assert.deepEqual(rest.params.get(name), v, name);
  });

  it('refuses a sequence longer than the model and text shorter than a window', async () => {
    await assert.rejects(trainLm(cfg, initGptParams(cfg, 0), { train: text, heldout: text }, { ...DEFAULT_LM, seqLen: 32 }),
      /seqLen 32 exceeds the model's n_positions 16/);
    await assert.rejects(trainLm(cfg, initGptParams(cfg, 0), { train: text.slice(0, 10), heldout: text }, { ...DEFAULT_LM, seqLen: 16 }),
      /training text has 10 tokens/);
  });
});
