// UI test: the packaged .vsix installed into code-server, the workbench in headless Chromium, a
// command run from the palette. Needs `npm run package` and scripts/e2e-setup.sh (npm run test:e2e
// does both). No smoke-test driver here, so notification toasts show.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  MANIFEST, notification, openWorkbench, runCommand, screenshot, startCodeServer, until, vsixPath, webviewFrame,
} from './lib/harness.mjs';
import { followRun, runEvents } from './lib/runs.mjs';

/**
 * PIDs of the trainer subprocesses (out/src/trainer/main.js) that this test's code-server started: descendants
 * of its process, so a trainer of another test run on the same machine is not counted.
 */
function trainers(server) {
  const procs = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' }).split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter(Boolean).map(([, pid, ppid, args]) => ({ pid: Number(pid), ppid: Number(ppid), args }));
  const ours = new Set([server.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs) if (!ours.has(p.pid) && ours.has(p.ppid)) grew = ours.add(p.pid) !== null;
  }
  return procs.filter((p) => ours.has(p.pid) && p.args.includes('out/src/trainer/main.js')).map((p) => p.pid);
}

// The suite's bound covers a quick demo on a machine whose cores are busy with other work; the waits inside follow the
// trainer's events (followRun) and fail early, with the reason, when it stalls or fails.
describe('A-LoL Studio in VS Code (code-server + Chromium)', { timeout: 1_500_000 }, () => {
  let server;
  let wb;

  before(async () => {
    server = await startCodeServer({ extensions: [vsixPath()] });
    wb = await openWorkbench(server);
  });

  after(async () => {
    await wb?.close();
    await server?.stop();
  });

  it('runs "A-LoL: Show Version" from the command palette and shows the version', async () => {
    const attempts = await runCommand(wb.page, 'A-LoL: Show Version');
    const toast = notification(wb.page, `A-LoL Studio ${MANIFEST.version}`);
    await toast.waitFor({ state: 'visible', timeout: 30_000 });
    const file = await screenshot(wb.page, 'show-version');
    assert.match(await toast.innerText(), new RegExp(`A-LoL Studio ${MANIFEST.version.replace(/\./g, '\\.')}`));
    console.log(`# palette attempts: ${attempts}; screenshot: ${file}`);
    assert.deepEqual(wb.errors, [], 'uncaught errors in the workbench page');
  });

  it('Run Demo (quick) from the palette: the dashboard fills with the histogram, counts and samples; Stop ends the trainer', async () => {
    const page = wb.page;
    await runCommand(page, 'A-LoL: Run Demo', { opensQuickPick: true });
    const quick = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Quick demo' });
    await quick.waitFor({ state: 'visible', timeout: 30_000 });
    await quick.click();
    const dash = webviewFrame(page);
    const runsDir = path.join(server.workspace, 'runs');
    // The histogram and counts arrive with advantages/didCompute, the samples with the reference's evaluation: wait
    // for the trainer to emit them, then for the dashboard to draw them (a render, bounded in seconds).
    const has = (type) => (ev) => ev.some((e) => e.type === type);
    await followRun(runsDir, 'advantages/didCompute (the audit of the quick demo)', has('advantages/didCompute'));
    await dash.locator('.histogram-svg .bar.kept').first().waitFor({ state: 'attached', timeout: 60_000 })
      .catch((e) => { throw new Error(`the trainer computed the advantages, but the dashboard drew no histogram: ${e.message}`); });
    const counts = Object.fromEntries(await Promise.all(['kept', 'filtered', 'total']
      .map(async (k) => [k, Number(await dash.locator(`.count.${k} .count-n`).textContent())])));
    assert.ok(counts.kept > 0 && counts.filtered > 0 && counts.kept + counts.filtered === counts.total, JSON.stringify(counts));
    await followRun(runsDir, "eval/didComplete (the reference's samples)", has('eval/didComplete'));
    await dash.locator('.sample-card[data-variant]').first().waitFor({ state: 'attached', timeout: 60_000 })
      .catch((e) => { throw new Error(`the trainer evaluated the reference, but the dashboard shows no sample: ${e.message}`); });
    assert.ok((await dash.locator('.sample-card[data-variant]').count()) > 0);
    await dash.locator('.histogram-svg .bar.filtered').first().waitFor({ state: 'attached' });
    // Mid-run, once a variant has taken a training step: a screenshot for the record, then Stop.
    const training = await followRun(runsDir, 'a training step of a variant (step/didComplete after "training … started")', (ev) => {
      const start = ev.findLastIndex((e) => e.type === 'phase/didChange' && e.phase === 'training' && e.status === 'started');
      return start >= 0 && ev.slice(start).some((e) => e.type === 'step/didComplete') ? ev[start] : null;
    });
    // The status bar names the provider the run computes on (run/didStart's device: auto resolves to cpu here).
    const item = page.locator('.statusbar-item', { hasText: /A-LoL: .+ · cpu/ }).first();
    await item.waitFor({ state: 'attached', timeout: 30_000 })
      .catch((e) => { throw new Error(`the status bar does not show the run's provider (" · cpu"): ${e.message}`); });
    console.log(`# status bar: ${JSON.stringify(await item.innerText())}`);
    console.log(`# screenshot: ${await screenshot(page, 'dashboard-mid-run')}`);
    const running = trainers(server);
    assert.equal(running.length, 1, `this test's code-server runs one trainer (${running.join(', ') || 'none'})`);
    await runCommand(page, 'A-LoL: Stop');
    // The trainer checkpoints at the next step boundary and exits; a Stop that is ignored leaves it training.
    await until(`trainer ${running[0]} to exit after Stop`, 90_000, () => trainers(server).length === 0);
    const ev = runEvents(runsDir);
    const last = ev.at(-1);
    assert.equal(last?.type, 'run/didFinish', `the run's last event is ${JSON.stringify(last?.type)}`);
    assert.equal(last.stopped, true, 'the run finished by itself instead of stopping');
    // The checkpoints written at the stop: one for each variant training then (the quick demo trains two at a time,
    // train.parallelVariants), each at the step that variant had reached, well before its end.
    assert.equal(ev.at(-2)?.type, 'checkpoint/didSave', `no checkpoint right before the stop (got ${JSON.stringify(ev.at(-2)?.type)})`);
    const phases = (status) => new Set(ev.filter((e) => e.type === 'phase/didChange' && e.phase === 'training' && e.status === status)
      .map((e) => e.variant));
    const finished = phases('finished');
    const interrupted = [...phases('started')].filter((v) => !finished.has(v));
    assert.ok(interrupted.includes(training.variant), `${training.variant} (training when the screenshot was taken) was not interrupted`);
    console.log(`# interrupted by Stop: ${interrupted.join(', ')}`);
    for (const variant of interrupted) {
      const saved = ev.findLast((e) => e.type === 'checkpoint/didSave' && e.variant === variant);
      assert.ok(saved, `no checkpoint of ${variant}, which was training at the stop`);
      const steps = ev.filter((e) => e.type === 'step/didComplete' && e.phase === 'training' && e.variant === variant);
      const reached = steps.at(-1)?.step ?? 0;
      assert.equal(saved.step, reached, `checkpoint at step ${saved.step}, but ${variant} had reached step ${reached}`);
      const total = steps.at(-1)?.totalSteps;
      assert.ok(reached < (total ?? Infinity), `stopped at step ${reached} of ${total}: ${variant} had finished`);
      assert.equal(path.basename(saved.dir), `step-${String(reached).padStart(6, '0')}`);
      assert.ok(fs.existsSync(saved.dir), `checkpoint folder ${saved.dir} is missing`);
    }
    await dash.locator('.run-header .badge', { hasText: 'stopped' }).waitFor({ timeout: 30_000 });
    console.log(`# screenshot: ${await screenshot(page, 'dashboard-stopped')}`);
    assert.deepEqual(wb.errors, [], 'uncaught errors in the workbench page');
  });
});
