// Each baseline of issue 25 learns the synthetic task of the training integration test (test/helpers/
// word-task.ts: a module reward that reads only the text): `alol train --variants` trains filtered_bc, rwr,
// awr, kto, qrpo (reference rewards from K samples of pi_ref, since the reward scores text) and pro from one
// audit, on the real ONNX Runtime backend, and each one's held-out sampled reward beats the reference's.
// Also: the step budget is the configured one (no scaling), every step's loss is finite.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredEvent } from '../../src/protocol/trainer.js';
import { wordTaskConfig, writeWordTask } from '../helpers/word-task.js';

const bin = path.resolve(__dirname, '../../../bin/alol.js');
const VARIANTS = ['filtered_bc', 'rwr', 'awr', 'kto', 'qrpo', 'pro'] as const;
const STEPS = 150;
let dir = '';

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-baselines-learn-'));
  await writeWordTask(dir);
  await writeFile(
    path.join(dir, 'run.json'),
    JSON.stringify(wordTaskConfig({ steps: STEPS, checkpointEvery: 0, qrpo: { samples: 4 } })),
  );
});
after(() => rm(dir, { recursive: true, force: true }));

describe('the baselines learn the synthetic task', () => {
  it('each beats the reference on held-out sampled reward', () => {
    const r = spawnSync(process.execPath, [bin, 'train', '--config', 'run.json', '--variants', VARIANTS.join(','), '--out', 'run'], {
      cwd: dir,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    // the reward scores text, so qrpo's reference rewards are samples of pi_ref (not the dataset's responses)
    assert.match(r.stdout, /qrpo: reference rewards from 4 samples of pi_ref per training prompt: \d+ prompts to sample/);
    assert.match(r.stdout, /filtered_bc keeps \d+ of \d+ training rows \(R >= the median/);
    type Summary = { variants: Record<string, { heldoutSampled: { reward: { total: number } }; steps: number }> };
    const s = JSON.parse(readFileSync(path.join(dir, 'run', 'summary.json'), 'utf8')) as Summary;
    const ref = s.variants.reference.heldoutSampled.reward.total;
    const events = readFileSync(path.join(dir, 'run', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StoredEvent);
    const lines = VARIANTS.map((v) => `${v} ${s.variants[v].heldoutSampled.reward.total.toFixed(3)}`).join(', ');
    console.log(`# sampled reward: reference ${ref.toFixed(3)}, ${lines}`);
    for (const v of VARIANTS) {
      assert.equal(s.variants[v].steps, STEPS, `${v}: the configured budget, not scaled`);
      const losses = events.flatMap((e) => (e.type === 'step/didComplete' && e.variant === v ? [e.loss] : []));
      assert.equal(losses.length, STEPS, v);
      assert.ok(losses.every(Number.isFinite), `${v}: a non-finite loss`);
      const got = s.variants[v].heldoutSampled.reward.total;
      assert.ok(got > ref, `${v}: sampled reward ${got.toFixed(3)} does not beat the reference's ${ref.toFixed(3)}`);
    }
  });
});
