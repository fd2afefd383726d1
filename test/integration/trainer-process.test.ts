// The extension's trainer process manager against the real trainer subprocess (no VS Code needed):
// start -> events -> stop with a checkpoint -> resume; a killed trainer is reported as crashed with its
// last stderr lines; malformed lines are reported and the process keeps working; a protocol version
// mismatch is refused.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TrainerEvent } from '../../src/protocol/trainer.js';
import { type TrainerExit, TrainerProcess } from '../../src/extension/trainerProcess.js';
import { trainerEntry } from '../../src/extension/nodeRuntime.js';
import { Rng } from '../../src/trainer/util/rng.js';

const root = path.resolve(__dirname, '../../..');
let dir = '';
const launch = () => ({ command: [process.execPath, trainerEntry(root)], cwd: dir });

function waitFor<T>(p: TrainerProcess, pick: (e: TrainerEvent) => T | undefined, timeoutMs = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for an event')), timeoutMs);
    const on = (e: TrainerEvent) => {
      const v = pick(e);
      if (v !== undefined) {
        clearTimeout(timer);
        p.off('event', on);
        resolve(v);
      }
    };
    p.on('event', on);
  });
}
const exited = (p: TrainerProcess) => new Promise<TrainerExit>((resolve) => p.once('exit', resolve));

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-proc-'));
  const rng = new Rng(3);
  const rows = Array.from({ length: 200 }, (_, i) => JSON.stringify({
    id: `r${i}`, prompt: `Q: item ${i % 10}?\nA:`, response: rng.next() < 0.5 ? ` yes, item ${i % 10}.` : ' no', reward: rng.next(),
  }));
  await writeFile(path.join(dir, 'data.jsonl'), `${rows.join('\n')}\n`);
  await writeFile(
    path.join(dir, 'run.json'),
    JSON.stringify({
      data: { path: 'data.jsonl', maxPromptTokens: 16, maxResponseTokens: 16 },
      model: { init: { layers: 1, embd: 32, heads: 4, positions: 48 } },
      reference: { sft: { steps: 20, lr: 3e-3 } },
      rewards: [{ name: 'label', kind: 'field', field: 'reward' }],
      value: { fitOn: 'train', folds: 2, epochs: 2 },
      train: { variant: 'a_lol', steps: 100000, batchSize: 8, evalEvery: 0, checkpointEvery: 0 },
      eval: { maxNewTokens: 8, maxPrompts: 3, samplesPerPrompt: 1 },
      threads: 1,
    }),
  );
});
after(() => rm(dir, { recursive: true, force: true }));

describe('trainer process manager (real trainer)', () => {
  it('start -> events -> stop with a checkpoint -> resume from it', async () => {
    const p = new TrainerProcess();
    await p.launch(launch());
    assert.equal(p.state, 'running');
    const runDir = path.join(dir, 'run-stop');
    p.send({ type: 'run/start', verb: 'train', configFile: 'run.json', set: [], outDir: runDir, resume: null });
    await waitFor(p, (e) => (e.type === 'advantages/didCompute' ? e : undefined));
    await waitFor(p, (e) => (e.type === 'step/didComplete' && e.phase === 'training' && e.step >= 3 ? e : undefined));
    const saved = waitFor(p, (e) => (e.type === 'checkpoint/didSave' ? e : undefined));
    const finish = waitFor(p, (e) => (e.type === 'run/didFinish' ? e : undefined));
    const exit = exited(p);
    await p.stop(60_000);
    const ck = await saved;
    assert.ok((await finish).stopped);
    assert.equal((await exit).state, 'stopped');
    assert.ok(existsSync(path.join(ck.dir, 'training_state.json')), ck.dir);

    // Resume: the same run folder continues from its latest checkpoint.
    const q = new TrainerProcess();
    await q.launch(launch());
    q.send({ type: 'run/start', verb: 'train', configFile: 'run.json', set: [], outDir: runDir, resume: runDir });
    const first = await waitFor(q, (e) => (e.type === 'step/didComplete' && e.phase === 'training' ? e : undefined));
    assert.equal(first.step, ck.step + 1, 'the first step after resuming follows the checkpoint');
    const qExit = exited(q);
    await q.stop(60_000);
    assert.equal((await qExit).state, 'stopped');
    assert.ok(readdirSync(path.join(runDir, 'a_lol', 'checkpoints')).length >= 2);
  });

  it('a killed trainer is reported as crashed, with its last stderr lines', async () => {
    const p = new TrainerProcess();
    await p.launch(launch());
    p.send({ type: 'run/start', verb: 'train', configFile: 'run.json', set: [], outDir: path.join(dir, 'run-kill'), resume: null });
    await waitFor(p, (e) => (e.type === 'step/didComplete' && e.phase === 'training' ? e : undefined));
    const exit = exited(p);
    p.kill();
    const x = await exit;
    assert.equal(x.state, 'crashed');
    assert.equal(x.signal, 'SIGKILL');
    assert.ok(x.stderrTail.some((l) => l.includes('[training] a_lol')), x.stderrTail.join('\n'));
  });

  it('a malformed line is reported and the process keeps working', async () => {
    const fake = path.join(dir, 'fake-trainer.js');
    await writeFile(
      fake,
      `const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
out({ type: 'ready', protocolVersion: 1, trainer: 'fake', pid: process.pid });
process.stdout.write('this is not json\\n');
out({ type: 'step/didComplete', step: 'one' });
out({ type: 'checkpoint/didSave', step: 1, dir: '/x' });
process.stdin.on('data', () => { out({ type: 'run/didFinish', runDir: '/x', elapsedMs: 1 }); process.exit(0); });
`,
    );
    const p = new TrainerProcess();
    const malformed: string[] = [];
    p.on('malformed', (line, err) => malformed.push(`${line} => ${err}`));
    const saved = waitFor(p, (e) => (e.type === 'checkpoint/didSave' ? e : undefined));
    await p.launch({ command: [process.execPath, fake], cwd: dir });
    await saved;
    assert.equal(malformed.length, 2, malformed.join('\n'));
    assert.match(malformed[0], /not JSON/);
    assert.match(malformed[1], /step/);
    const exit = exited(p);
    p.send({ type: 'checkpoint/save' });
    assert.equal((await exit).state, 'finished');
  });

  it('a trainer speaking another protocol version is refused with a hint', async () => {
    const fake = path.join(dir, 'old-trainer.js');
    await writeFile(fake, `process.stdout.write(JSON.stringify({ type: 'ready', protocolVersion: 99, trainer: 'old', pid: 1 }) + '\\n'); `
      + 'setTimeout(() => {}, 5000);\n');
    const p = new TrainerProcess();
    await assert.rejects(p.launch({ command: [process.execPath, fake], cwd: dir }), /protocol version 99.*hint/);
    p.kill();
  });
});
