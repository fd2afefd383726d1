// Checkpoints through files: N steps, a checkpoint written to disk, a crash, load, M more steps equals
// N + M steps in one go; a checkpoint is a loadable model folder; damaged state is a named error.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadCheckpoint, saveCheckpoint } from '../../src/trainer/model/checkpoint.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { loadModelFolder } from '../../src/trainer/model/folder.js';
import { DEFAULT_LM, trainLm } from '../../src/trainer/model/lm.js';
import { initGptParams } from '../../src/trainer/model/params.js';
import { byteLevelTokenizer } from '../../src/trainer/model/tokenizer.js';

const cfg = gptConfig({ vocabSize: 257, nPositions: 16, nEmbd: 16, nLayer: 1, nHead: 2 });
const text = new Uint8Array(Buffer.from('to be or not to be, that is the question. '.repeat(30)));
const tok = byteLevelTokenizer();
const dirs: string[] = [];
const tmp = async () => {
  const d = await mkdtemp(path.join(os.tmpdir(), 'alol-ckpt-'));
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('checkpoints', () => {
  it('resume from a checkpoint on disk reproduces the uninterrupted run exactly', async () => {
    const base = { ...DEFAULT_LM, steps: 7, batchSize: 4, seqLen: 16, lr: 5e-3, warmupSteps: 2, evalEvery: 0, threads: 1 };
    const init = initGptParams(cfg, 3);
    const whole = await trainLm(cfg, init, { train: text, heldout: text }, base);
    const dir = path.join(await tmp(), 'ckpt');
    const losses: number[] = [];
    await assert.rejects(
      trainLm(cfg, init, { train: text, heldout: text }, {
        ...base,
        checkpointEvery: 4,
        onCheckpoint: async (s) => {
          await saveCheckpoint(dir, {
            config: cfg, params: s.params, tokenizerJson: tok.toJSON(), optimizer: s.optimizer,
            state: { step: s.step, rngState: s.rngState, config: { note: 'test' } },
          });
          throw new Error('killed after the checkpoint');
        },
      }, (e) => e.type === 'step' && losses.push(e.loss)),
      /killed/,
    );
    const ck = await loadCheckpoint(dir);
    assert.equal(ck.state.step, 4);
    assert.deepEqual(ck.state.config, { note: 'test' });
    const rest = await trainLm(cfg, ck.model.params, { train: text, heldout: text }, {
      ...base, resume: { step: ck.state.step, rngState: ck.state.rngState, params: ck.model.params, optimizer: ck.optimizer },
    });
    assert.deepEqual([...losses, ...rest.losses], whole.losses);
    for (const [name, v] of whole.params) assert.deepEqual(rest.params.get(name), v, name);
    // The checkpoint is an ordinary model folder too, and nothing temporary is left beside it.
    assert.equal((await loadModelFolder(dir)).config.nEmbd, 16);
    assert.deepEqual((await readdir(path.dirname(dir))).filter((f) => f !== 'ckpt'), []);
  });

  it('a model folder without training state, or with another version, is a clear error', async () => {
    const dir = path.join(await tmp(), 'c');
    const params = initGptParams(cfg, 1);
    await saveCheckpoint(dir, {
      config: cfg, params, tokenizerJson: tok.toJSON(), optimizer: new Map(), state: { step: 1, rngState: 5, config: {} },
    });
    await writeFile(path.join(dir, 'training_state.json'),
      JSON.stringify({ format: 'alol-training-state', version: 99, step: 1, rngState: 5 }));
    await assert.rejects(loadCheckpoint(dir), /training_state\.json: version 99 is not supported/);
    await rm(path.join(dir, 'training_state.json'));
    await assert.rejects(loadCheckpoint(dir), /is a model folder but not a training checkpoint; hint: /);
  });
});
