// A whole `alol train` run (audit with an SFT reference, a_lol with checkpoints, evaluation) with backend.kind
// "torch" against the same run on the built-in engine: the same run folder and events, the same audit (kept and
// filtered rows), the same number of steps, training losses within float32 noise of each other, and a resumed run
// from a torch checkpoint. The PyTorch worker runs its own modules (no transformers on CI); see torch-worker.test.ts
// for when these tests skip or fail without torch.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TrainerEvent, parseEventLine } from '../../src/protocol/trainer.js';
import { loadModelFolder } from '../../src/trainer/model/folder.js';
import { runExperiment } from '../../src/trainer/pipeline/experiment.js';
import { inRun, openRunContext } from '../../src/trainer/run/context.js';
import { loadRunConfig } from '../../src/trainer/run/load-config.js';

const PYTHON = process.env.ALOL_TEST_PYTHON ?? '/usr/bin/python3';
const HAVE_TORCH = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const skip = HAVE_TORCH || process.env.ALOL_REQUIRE_TORCH === '1' ? false : `no torch for ${PYTHON}`;

let dir = '';
const WORDS = ['sure', 'here', 'is', 'a', 'short', 'answer', 'about', 'that'];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-torch-run-'));
  const rows = Array.from({ length: 80 }, (_, i) => {
    const response = ` ${WORDS.slice(0, 1 + ((i * 3) % WORDS.length)).join(' ')}`;
    return JSON.stringify({ id: `r${i}`, prompt: `Q: topic ${i % 16}?\nA:`, response });
  });
  await writeFile(path.join(dir, 'data.jsonl'), `${rows.join('\n')}\n`);
  const config = {
    data: { path: 'data.jsonl', maxPromptTokens: 16, maxResponseTokens: 48, split: { validation: 0.1, test: 0.2, seed: 0 } },
    model: { init: { layers: 1, embd: 16, heads: 2, positions: 80 } },
    reference: { sft: { steps: 4, lr: 1e-3 } },
    rewards: [{ name: 'len', kind: 'builtin', scorer: 'length', options: { target: 4 } }],
    value: { fitOn: 'train', folds: 2, epochs: 2, heads: 2 },
    train: { variant: 'a_lol', steps: 6, batchSize: 4, evalEvery: 0, checkpointEvery: 2, clipEps: 0.3, lr: 1e-3 },
    eval: { maxNewTokens: 4, maxPrompts: 3, samplesPerPrompt: 2 },
    device: 'cpu',
    threads: 1,
  };
  await writeFile(path.join(dir, 'run.json'), JSON.stringify(config));
});
after(() => rm(dir, { recursive: true, force: true }));

const quiet = { say: () => undefined, progress: () => ({ update: () => undefined, stop: () => undefined }) };

async function train(name: string, set: string[], resume?: string) {
  const loaded = await loadRunConfig(path.join(dir, 'run.json'), set);
  const runDir = path.join(dir, name);
  const ctx = await openRunContext({ verb: 'train', loaded, runDir, cacheDir: null, writeConfig: true, python: PYTHON, ...quiet });
  const r = await inRun(ctx, () => runExperiment(ctx, ['a_lol'], resume ? { resume } : {}));
  const events = readFileSync(path.join(runDir, 'events.jsonl'), 'utf8').trim().split('\n').map(parseEventLine)
    .flatMap((l) => (l.ok ? [l.event as TrainerEvent] : []));
  return { ...r, runDir, events };
}

const steps = (events: TrainerEvent[], phase: string) =>
  events.flatMap((e) => (e.type === 'step/didComplete' && e.phase === phase ? [e] : []));

describe('a run on the torch backend', { skip: skip || undefined }, () => {
  it('gives the built-in engine\'s result: same audit, steps, run folder; losses within float32 noise', async () => {
    const builtin = await train('builtin', []);
    const torch = await train('torch', ['backend.kind=torch']);
    const started = torch.events.find((e) => e.type === 'run/didStart');
    assert.ok(started?.type === 'run/didStart' && started.config.backend.kind === 'torch');
    assert.equal(torch.events[torch.events.length - 1].type, 'run/didFinish');
    // the run folder: the same files; the worker's scratch folder is gone
    for (const f of ['advantages.jsonl', 'summary.json', 'reference/model.safetensors', 'a_lol/final/model.safetensors',
      'a_lol/checkpoints/step-000002/model.safetensors']) {
      assert.ok(existsSync(path.join(torch.runDir, f)), f);
    }
    assert.ok(!existsSync(path.join(torch.runDir, 'torch')), 'the scratch folder torch/ is removed at the end');
    // SFT of the reference: the same losses step by step
    const [sa, sb] = [steps(torch.events, 'reference'), steps(builtin.events, 'reference')];
    assert.equal(sa.length, 4);
    sa.forEach((e, i) => {
      assert.ok(Math.abs(e.loss - sb[i].loss) <= 1e-4 * Math.abs(sb[i].loss), `SFT step ${i + 1}: ${e.loss} vs ${sb[i].loss}`);
    });
    // the audit: the same kept set
    const kept = (r: typeof torch) => r.audit.adv?.kept ?? [];
    assert.deepEqual(kept(torch), kept(builtin));
    assert.ok(kept(torch).includes(true) && kept(torch).includes(false), 'rows kept and rows filtered');
    // training: the same steps and losses within float32 noise
    const [ta, tb] = [steps(torch.events, 'training'), steps(builtin.events, 'training')];
    assert.equal(ta.length, tb.length);
    assert.ok(ta.length >= 2);
    ta.forEach((e, i) => {
      assert.ok(Math.abs(e.loss - tb[i].loss) <= 1e-3 * Math.max(Math.abs(tb[i].loss), 1e-3), `step ${i + 1}: ${e.loss} vs ${tb[i].loss}`);
      assert.ok(Math.abs((e.clipFraction ?? 0) - (tb[i].clipFraction ?? 0)) <= 1e-6, `step ${i + 1} clip fraction`);
    });
    // the summary evaluates both policies on the same prompts
    assert.deepEqual(Object.keys(torch.summary.variants), Object.keys(builtin.summary.variants));
    assert.equal(torch.summary.prompts, builtin.summary.prompts);
    // the trained policy on disk is the built-in engine's within float32 noise (checked on the whole update)
    const [fa, fb, ref] = await Promise.all(['torch', 'builtin'].map((r) => loadModelFolder(path.join(dir, r, 'a_lol', 'final')))
      .concat(loadModelFolder(path.join(dir, 'builtin', 'reference'))));
    let d = 0;
    let n = 0;
    for (const [name, w0] of ref.params) {
      const [a, b] = [fa.params.get(name) as Float32Array, fb.params.get(name) as Float32Array];
      w0.forEach((x, i) => {
        d += (a[i] - b[i]) ** 2;
        n += (b[i] - x) ** 2;
      });
    }
    assert.ok(Math.sqrt(d / n) <= 1e-3, `the trained policies' updates differ by ${Math.sqrt(d / n).toExponential(2)} (relative, in norm)`);
  });

  it('resumes from a torch checkpoint: the steps after it are the uninterrupted run\'s', async () => {
    const ck = path.join(dir, 'torch', 'a_lol', 'checkpoints', 'step-000002');
    const resumed = await train('torch-resumed', ['backend.kind=torch'], ck);
    const [ra, full] = [steps(resumed.events, 'training'), steps(await readEvents('torch'), 'training')];
    assert.deepEqual(ra.map((e) => e.step), full.slice(2).map((e) => e.step));
    ra.forEach((e, i) => assert.ok(Math.abs(e.loss - full[i + 2].loss) <= 1e-6 * Math.max(Math.abs(full[i + 2].loss), 1e-3),
      `step ${e.step}: ${e.loss} vs ${full[i + 2].loss}`));
  });
});

async function readEvents(name: string): Promise<TrainerEvent[]> {
  return readFileSync(path.join(dir, name, 'events.jsonl'), 'utf8').trim().split('\n').map(parseEventLine)
    .flatMap((l) => (l.ok ? [l.event as TrainerEvent] : []));
}
