// The session pool: one session per key (a graph and its shapes), a new one for another shape, all
// released together; the model's session users (Generator, LogprobScorer) share a given pool and keep
// their own only when none is given; and no source file outside src/trainer/runtime/ creates sessions.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Graph } from '../../src/trainer/graph/ir.js';
import { serialize } from '../../src/trainer/graph/onnx.js';
import * as o from '../../src/trainer/graph/ops.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { Generator } from '../../src/trainer/model/generate.js';
import { LogprobScorer } from '../../src/trainer/model/logprobs.js';
import { initGptParams } from '../../src/trainer/model/params.js';
import { probeProvider } from '../../src/trainer/runtime/device.js';
import { SessionPool, poolKey, sessionsCreated, withPool } from '../../src/trainer/runtime/pool.js';
import { tensor } from '../../src/trainer/runtime/session.js';

/** y = x * 2 over a vector of length n: one graph per shape. */
function doubler(n: number): Uint8Array {
  const g = new Graph({ name: 'doubler' });
  const x = g.floatInput('x', [n]);
  g.output('y', o.mul(x, 2));
  return serialize(g);
}

const run = async (pool: SessionPool, n: number): Promise<number[]> => {
  const s = await pool.get(poolKey('doubler', { n }), () => doubler(n));
  const out = await s.run({ x: tensor('float32', Float32Array.from({ length: n }, (_, i) => i), [n]) });
  return [...(out.y.data as Float32Array)];
};

describe('SessionPool', () => {
  it('reuses the session for a key, makes a new one for another shape, and release() releases them all', async () => {
    const pool = new SessionPool({ threads: 1 });
    const before = sessionsCreated();
    const a = await pool.get(poolKey('doubler', { n: 3 }), () => doubler(3));
    const again = await pool.get(poolKey('doubler', { n: 3 }), () => assert.fail('built twice for one key'));
    assert.equal(again, a);
    assert.equal(sessionsCreated() - before, 1);
    assert.deepEqual(await run(pool, 4), [0, 2, 4, 6]);
    assert.equal(sessionsCreated() - before, 2, 'another shape is another session');
    assert.equal(pool.size, 2);

    const b = await pool.get(poolKey('doubler', { n: 4 }), () => doubler(4));
    await pool.release();
    assert.equal(pool.size, 0);
    for (const s of [a, b]) await assert.rejects(s.run({ x: tensor('float32', new Float32Array(3), [3]) }), /was released/);
    await assert.rejects(pool.get('doubler[n=3]', () => doubler(3)), /after the pool was released/);
  });

  it('drop() releases one session; a failed load is not kept', async () => {
    await withPool({ threads: 1 }, async (pool) => {
      const s = await pool.get('d3', () => doubler(3));
      await pool.drop('d3');
      assert.equal(pool.size, 0);
      await assert.rejects(s.run({ x: tensor('float32', new Float32Array(3), [3]) }), /was released/);
      await assert.rejects(pool.get('bad', () => Uint8Array.of(1, 2, 3)));
      assert.equal(pool.size, 0);
      assert.deepEqual(await run(pool, 2), [0, 2]);
    });
  });

  it('poolKey names the graph and every field, in name order, and refuses one name with two values', () => {
    assert.equal(poolKey('g', { b: 2, a: 1 }, { seqLen: 8 }), 'g[a=1,b=2,seqLen=8]');
    assert.equal(poolKey('g', { a: 1, b: 2 }), poolKey('g', { b: 2 }, { a: 1 }));
    assert.notEqual(poolKey('g', { a: 1 }), poolKey('h', { a: 1 }));
    assert.equal(poolKey('g', { a: 1, skip: undefined }), 'g[a=1]');
    assert.throws(() => poolKey('g', { batch: 1 }, { batch: 2 }), /batch is both 1 and 2/);
  });

  it('the device probe makes its one session in a pool of its own', async () => {
    const before = sessionsCreated();
    assert.equal(await probeProvider('cpu'), null);
    assert.equal(sessionsCreated() - before, 1);
  });
});

describe('session users and a given pool', () => {
  const cfg = gptConfig({ vocabSize: 257, nPositions: 32, nEmbd: 16, nLayer: 1, nHead: 2 });
  const params = initGptParams(cfg, 3);
  const detok = { decode: (ids: readonly number[]) => ids.join(' '), eosTokenId: 256 };
  const rows = [{ prompt: [1, 2, 3], response: [4, 5] }];
  const scoring = { batchSize: 4, addEos: true, eosTokenId: 256, threads: 1 };

  it('two scorers on one pool share its sessions; dispose() leaves a given pool to its owner', async () => {
    const pool = new SessionPool({ threads: 1 });
    const first = new LogprobScorer(cfg, params, { pool });
    const before = sessionsCreated();
    const [a] = await first.score(rows, scoring);
    assert.equal(sessionsCreated() - before, 1);
    await first.dispose();
    assert.equal(pool.size, 1, 'a given pool keeps its sessions');
    const second = new LogprobScorer(cfg, params, { pool });
    const [b] = await second.score(rows, scoring);
    assert.equal(sessionsCreated() - before, 1, 'the same graph and shape: no new session');
    assert.equal(b.logprob, a.logprob);
    await pool.release();
  });

  it('a generator on the pool reuses its graphs across calls; with fed weights, other generators share them', async () => {
    await withPool({ threads: 1 }, async (pool) => {
      const before = sessionsCreated();
      const g1 = new Generator(cfg, params, detok, { pool, weights: 'fed' });
      const out1 = await g1.generate([[1, 2, 3]], { maxNewTokens: 4 });
      const made = sessionsCreated() - before;
      assert.equal(made, 2, 'prefill and decode');
      await g1.generate([[4, 5], [6]], { maxNewTokens: 3 });
      assert.equal(sessionsCreated() - before, made, 'any batch and prompt width: the fused graphs have symbolic shapes');
      const g2 = new Generator(cfg, params, detok, { pool, weights: 'fed' });
      assert.deepEqual(await g2.generate([[1, 2, 3]], { maxNewTokens: 4 }), out1);
      assert.equal(sessionsCreated() - before, made);
      await g1.dispose();
      assert.equal(pool.size, made);
    });
  });

  it('a generator with its weights built in owns its sessions and drops them from the pool in dispose()', async () => {
    await withPool({ threads: 1 }, async (pool) => {
      const fed = await new Generator(cfg, params, detok, { pool, weights: 'fed' }).generate([[1, 2, 3]], { maxNewTokens: 4 });
      const held = pool.size;
      const g = new Generator(cfg, params, detok, { pool, weights: 'embedded' });
      assert.deepEqual(await g.generate([[1, 2, 3]], { maxNewTokens: 4 }), fed, 'the same tokens either way');
      await g.generate([[1, 2, 3]], { maxNewTokens: 4 });
      assert.equal(pool.size, held + 2, 'its own prefill and decode, made once');
      await g.dispose();
      assert.equal(pool.size, held);
    });
  });

  it('without a pool, each keeps one of its own, released by dispose() and made again on the next use', async () => {
    const scorer = new LogprobScorer(cfg, params);
    const gen = new Generator(cfg, params, detok, { threads: 1 });
    const before = sessionsCreated();
    const [a] = await scorer.score(rows, scoring);
    await gen.generate([[1]], { maxNewTokens: 2 });
    assert.equal(sessionsCreated() - before, 3);
    await scorer.dispose();
    await gen.dispose();
    const [b] = await scorer.score(rows, scoring);
    assert.equal(b.logprob, a.logprob);
    assert.equal(sessionsCreated() - before, 4, 'a fresh own pool after dispose()');
    await scorer.dispose();
  });
});

// ---- Session.create only inside src/trainer/runtime/ -------------------------------------------

const root = path.resolve(__dirname, '../../..');

function tsFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : tsFiles(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

/** Lines that create a session directly (comments aside), as `file:line`. */
function sessionCreators(): string[] {
  const found: string[] = [];
  for (const file of [...tsFiles('src'), ...tsFiles('webview/src')]) {
    if (file.startsWith('src/trainer/runtime/')) continue;
    readFileSync(path.join(root, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const code = line.trim();
        if (code.startsWith('//') || code.startsWith('*') || code.startsWith('/*')) return;
        if (/\b(?:Inference)?Session\s*\.\s*create\s*\(/.test(code)) found.push(`${file}:${i + 1}`);
      });
  }
  return found;
}

describe('sessions come from the runtime pool', () => {
  it('no Session.create outside src/trainer/runtime/ (the trainer, extension, protocol and webview)', () => {
    assert.deepEqual(sessionCreators(), []);
  });
});
