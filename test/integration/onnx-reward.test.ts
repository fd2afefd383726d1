// An `onnx` reward end to end: a tiny GPT-2 sequence classifier trained by the project's own engine,
// exported in the reward-model folder layout, then scoring texts; a missing label or input is a
// named error; rewards loaded on a run's session pool share its one session for the model.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Graph } from '../../src/trainer/graph/ir.js';
import * as o from '../../src/trainer/graph/ops.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { Session, tensor } from '../../src/trainer/runtime/session.js';
import { Stepper } from '../../src/trainer/runtime/stepper.js';
import { SCORE_WEIGHT, buildClassifierStepGraph, exportClassifierFolder, initScoreWeight } from '../../src/trainer/model/classifier.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { gptParamInfos, initGptParams } from '../../src/trainer/model/params.js';
import { byteLevelTokenizer } from '../../src/trainer/model/tokenizer.js';
import { OnnxReward } from '../../src/trainer/rewards/onnx-reward.js';
import { RewardComponentSchema } from '../../src/protocol/config.js';
import { RewardSet } from '../../src/trainer/rewards/registry.js';
import { SessionPool, sessionsCreated } from '../../src/trainer/runtime/pool.js';
import { Rng } from '../../src/trainer/util/rng.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const WORDS = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'dog', 'ran', 'home', 'fast', 'slow', 'red'];
function sentence(rng: Rng, polite: boolean): string {
  const w = Array.from({ length: 3 + rng.int(5) }, () => WORDS[rng.int(WORDS.length)]);
  if (polite) w.splice(rng.int(w.length + 1), 0, 'thanks');
  return w.join(' ');
}

/** The folder the first test trains and exports (the pool test reuses it). */
let trained: string | null = null;

describe('onnx rewards', () => {
  it('a classifier trained by the engine and exported scores rows by its label', async (t) => {
    const tok = byteLevelTokenizer();
    const cfg = gptConfig({ vocabSize: tok.vocabSize, nPositions: 48, nEmbd: 32, nLayer: 1, nHead: 4 });
    const [B, T] = [16, 48];
    const session = await Session.create(serialize(buildClassifierStepGraph(cfg, 2, B, T)), 'clf', { threads: 2 });
    const init = initGptParams(cfg, 1);
    init.set(SCORE_WEIGHT, initScoreWeight(cfg, 2, 2));
    const infos = [...gptParamInfos(cfg), { name: SCORE_WEIGHT, shape: [2, cfg.nEmbd] }];
    const start = infos.map((p) => ({ name: p.name, shape: p.shape, data: (init.get(p.name) as Float32Array).slice() }));
    const stepper = new Stepper('float32', start);
    const rng = new Rng(3);
    let loss = NaN;
    for (let step = 0; step < 150; step++) {
      const ids = new BigInt64Array(B * T).fill(256n);
      const mask = new BigInt64Array(B * T);
      const labels = new BigInt64Array(B);
      for (let b = 0; b < B; b++) {
        const polite = rng.next() < 0.5;
        labels[b] = polite ? 1n : 0n;
        tok.encode(sentence(rng, polite)).slice(0, T).forEach((id, j) => {
          ids[b * T + j] = BigInt(id);
          mask[b * T + j] = 1n;
        });
      }
      const feeds = {
        input_ids: tensor('int64', ids, [B, T]),
        attention_mask: tensor('int64', mask, [B, T]),
        labels: tensor('int64', labels, [B]),
      };
      loss = (await stepper.update(session, feeds, 3e-3)).loss;
    }
    await session.release();
    t.diagnostic(`classifier loss after 150 steps: ${loss.toFixed(4)}`);

    const dir = await mkdtemp(path.join(os.tmpdir(), 'alol-clf-'));
    dirs.push(dir);
    const params = new Map(stepper.paramNames.map((n) => [n, Float32Array.from(stepper.param(n))]));
    await exportClassifierFolder(dir, cfg, params, ['rude', 'polite'], tok.toJSON());
    trained = dir;
    const reward = await OnnxReward.load(dir, 'polite');
    const test = new Rng(99);
    const polite = Array.from({ length: 20 }, () => sentence(test, true));
    const plain = Array.from({ length: 20 }, () => sentence(test, false));
    const [sp, sn] = [await reward.score(polite), await reward.score(plain)]; // batches of different lengths, padded
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
    t.diagnostic(`mean p(polite): polite texts ${mean(sp).toFixed(3)}, plain texts ${mean(sn).toFixed(3)}`);
    assert.ok(mean(sp) > 0.8 && mean(sn) < 0.2);
    assert.ok([...sp, ...sn].every((x) => x >= 0 && x <= 1));
    // A text scored alone gets the same probability as in a padded batch.
    const [alone] = await reward.score([polite[0]]);
    assert.ok(Math.abs(alone - sp[0]) < 1e-5);
    await reward.dispose();

    await assert.rejects(OnnxReward.load(dir, 'friendly'), /label 'friendly' is not in .*config\.json \(labels: rude, polite\)/);
  });

  it('rewards on a given pool share one session for their model; the pool, not dispose(), releases it', async () => {
    assert.ok(trained, 'needs the folder of the first test');
    const pool = new SessionPool({ threads: 1 });
    const before = sessionsCreated();
    const polite = await OnnxReward.load(trained, 'polite', { pool });
    const rude = await OnnxReward.load(trained, 'rude', { pool });
    assert.equal(sessionsCreated() - before, 1);
    const [p] = await polite.score(['thanks a lot']);
    const [r] = await rude.score(['thanks a lot']);
    assert.ok(Math.abs(p + r - 1) < 1e-5, `two labels of one softmax: ${p} + ${r}`);
    await polite.dispose();
    assert.deepEqual(await rude.score(['thanks a lot']), [r]);

    // The registry passes its pool on to its onnx components.
    const configs = ['polite', 'rude'].map((label) => RewardComponentSchema.parse({ name: label, kind: 'onnx', path: trained, label }));
    const set = await RewardSet.create(configs, { baseDir: '/', pool });
    assert.equal(sessionsCreated() - before, 1);
    await set.dispose();
    assert.equal(pool.size, 1);
    await pool.release();
    await assert.rejects(rude.score(['x']), /was released/);
  });

  it('a model without an attention_mask input is a named error', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'alol-clf-bad-'));
    dirs.push(dir);
    const g = new Graph();
    const ids = g.input('input_ids', 'int64', ['B', 'T']);
    g.output('logits', o.cast(o.reduceSum(ids, [1], true), 'float32'));
    await writeFile(path.join(dir, 'model.onnx'), serialize(g));
    await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(byteLevelTokenizer().toJSON()));
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ id2label: { 0: 'x' } }));
    await assert.rejects(OnnxReward.load(dir, 'x'), /has no input named 'attention_mask' \(inputs: input_ids\)/);
  });
});
