// UI test: a run on the PyTorch backend started from the palette in a real VS Code (code-server + headless Chromium,
// the packaged .vsix). The workspace holds a small dataset and a run config with "backend": {"kind": "torch"}; the
// interpreter comes from the alolStudio.python setting (Debian's python3-torch here, CPU). A-LoL: Start Training,
// pick the config, and the run goes to its end: the trainer's worker computes every model step, and the dashboard
// shows it like any other run — histogram and counts, the reference's SFT curve, the training curves, samples — with
// the "finished" badge. Screenshot: test/e2e/artifacts/torch-run-finished.png. Needs `npm run package`,
// scripts/e2e-setup.sh and python3-torch (`.ci/run` installs it; without it this test skips, or fails under
// ALOL_REQUIRE_TORCH=1).
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { closeUiSuite, openWorkbench, runCommand, screenshot, startCodeServer, vsixPath, webviewFrame } from './lib/harness.mjs';
import { followRun, runEvents } from './lib/runs.mjs';

const PYTHON = process.env.ALOL_TEST_PYTHON ?? '/usr/bin/python3';
const HAVE_TORCH = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const skip = HAVE_TORCH || process.env.ALOL_REQUIRE_TORCH === '1' ? false : `no torch for ${PYTHON}`;
const WORDS = ['sure', 'here', 'is', 'a', 'short', 'answer', 'about', 'that'];
const CONFIG = 'torch-run.alol.json';

/** A workspace with the words dataset and a run config on the torch backend (tiny model, a few steps). */
function workspace() {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'alol-e2e-torch-'));
  const rows = Array.from({ length: 80 }, (_, i) => JSON.stringify({
    id: `r${i}`, prompt: `Q: topic ${i % 16}?\nA:`, response: ` ${WORDS.slice(0, 1 + ((i * 3) % WORDS.length)).join(' ')}`,
  }));
  fs.writeFileSync(path.join(ws, 'data.jsonl'), `${rows.join('\n')}\n`);
  const config = {
    data: { path: 'data.jsonl', maxPromptTokens: 16, maxResponseTokens: 48, split: { validation: 0.1, test: 0.2, seed: 0 } },
    model: { init: { layers: 1, embd: 16, heads: 2, positions: 80 } },
    reference: { sft: { steps: 6, lr: 1e-3 } },
    rewards: [{ name: 'len', kind: 'builtin', scorer: 'length', options: { target: 4 } }],
    value: { fitOn: 'train', folds: 2, epochs: 2, heads: 2 },
    train: { variant: 'a_lol', steps: 12, batchSize: 4, evalEvery: 6, checkpointEvery: 6, lr: 1e-3 },
    eval: { maxNewTokens: 6, maxPrompts: 4, samplesPerPrompt: 2 },
    backend: { kind: 'torch' },
    threads: 1,
  };
  fs.writeFileSync(path.join(ws, CONFIG), `${JSON.stringify(config, null, 2)}\n`);
  return ws;
}

describe('a PyTorch-backend run from the palette (code-server + Chromium)', { timeout: 900_000, skip: skip || undefined }, () => {
  let server;
  let wb;
  let ws;

  before(async () => {
    ws = workspace();
    const settings = { 'alolStudio.python': PYTHON, 'alolStudio.device': 'cpu' };
    server = await startCodeServer({ workspace: ws, extensions: [vsixPath()], settings });
    wb = await openWorkbench(server);
  });

  after(async () => {
    await closeUiSuite({ wb, server, ws });
  });

  it('Start Training on a torch config: the run finishes and the dashboard shows it like any other', async () => {
    const { page } = wb;
    await runCommand(page, 'A-LoL: Start Training', { opensQuickPick: true });
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: CONFIG });
    await row.waitFor({ state: 'visible', timeout: 30_000 });
    await row.click();
    const runsDir = path.join(ws, 'runs');
    await followRun(runsDir, 'run/didFinish (the torch run to its end)', (ev) => ev.some((e) => e.type === 'run/didFinish'));
    const ev = runEvents(runsDir);
    const started = ev.find((e) => e.type === 'run/didStart');
    assert.equal(started.config.backend.kind, 'torch', 'the run config reached the trainer with backend.kind torch');
    assert.equal(ev.at(-1).stopped, undefined, 'the run ended by itself');
    const steps = ev.filter((e) => e.type === 'step/didComplete' && e.phase === 'training');
    assert.ok(steps.length >= 2 && steps.every((e) => Number.isFinite(e.loss)), `${steps.length} training steps`);
    const runDir = started.runDir;
    assert.ok(fs.existsSync(path.join(runDir, 'a_lol', 'final', 'model.safetensors')), 'the trained policy');
    assert.ok(!fs.existsSync(path.join(runDir, 'torch')), 'the worker\'s scratch folder is gone');

    const dash = webviewFrame(page);
    await dash.locator('.run-header .badge', { hasText: 'finished' }).waitFor({ timeout: 60_000 });
    const counts = Object.fromEntries(await Promise.all(['kept', 'filtered', 'total']
      .map(async (k) => [k, Number(await dash.locator(`.count.${k} .count-n`).textContent())])));
    assert.ok(counts.kept > 0 && counts.kept + counts.filtered === counts.total, JSON.stringify(counts));
    await dash.locator('.histogram-svg .bar.kept').first().waitFor({ state: 'attached' });
    // the charts draw the worker's numbers: the reference's SFT loss (6 steps) and the training loss
    const points = async (title) => (await dash.locator(`figure.chart[data-chart="${title}"]`).getAttribute('data-points')) ?? '';
    assert.equal(await points('π_ref SFT loss'), '6');
    const trained = (await points('loss')).split(',').map(Number);
    assert.ok(trained.some((n) => n === steps.length), `the training loss chart holds ${steps.length} points (got ${trained})`);
    assert.ok((await dash.locator('.sample-card[data-variant]').count()) > 0, 'samples of the evaluations');
    console.log(`# screenshot: ${await screenshot(page, 'torch-run-finished')}`);
    assert.deepEqual(wb.errors, [], 'uncaught errors in the workbench page');
  });
});
