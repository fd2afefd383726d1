// UI test of the first ten minutes: the packaged .vsix in code-server, the workbench in headless Chromium.
//  - The Get Started walkthrough opens from "Welcome: Open Walkthrough…" with its five steps (demo, dataset
//    advantages, annotation, reward function, training), each with its page.
//  - A step completes when its command runs: Audit Advantages (cancelled at its run config question) ticks
//    "See your dataset's advantages"; the other steps stay open.
//  - The run config status-bar item names no config in a fresh workspace.
// Needs `npm run package` and scripts/e2e-setup.sh.
import { after, before, describe } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  closeUiSuite, openWorkbench, quickInput, quickRows, runCommand, screenshot, screenshotStep, startCodeServer, stopwatch, vsixPath,
} from './lib/harness.mjs';

const TITLE = 'Get started with A-LoL Studio';
const STEPS = ['Run the demo', 'See your dataset\'s advantages', 'Annotate a row', 'Write and check a reward function',
  'Train from a run config'];

describe('The Get Started walkthrough in VS Code (code-server + Chromium)', { timeout: 300_000 }, () => {
  let ws;
  let server;
  let wb;
  const step = screenshotStep('walkthrough', () => wb?.page);
  const { timings, timed } = stopwatch();

  before(async () => {
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'alol-e2e-walkthrough-'));
    fs.writeFileSync(path.join(ws, 'data.jsonl'), `${JSON.stringify({ prompt: 'Human: hi\n\nAssistant:', response: ' Hello!' })}\n`);
    server = await timed('code-server start', () => startCodeServer({
      workspace: ws, extensions: [vsixPath()], settings: { 'workbench.startupEditor': 'none' },
    }));
    wb = await timed('workbench open', () => openWorkbench(server));
  });

  after(() => closeUiSuite({ wb, server, ws, timings }));

  // A step's checkbox: role checkbox, aria-checked true once the step is done.
  const DONE = '[role="checkbox"][aria-checked="true"]';
  /** The walkthrough's step buttons: [{ title, complete }]. */
  const steps = (page) => page.locator('.gettingStartedContainer .getting-started-step').evaluateAll((els, done) => els.map((e) => ({
    title: (e.querySelector('.step-title')?.textContent ?? '').trim(),
    complete: e.querySelector(done) !== null,
  })), DONE);

  step('opens with its five steps; running Audit Advantages completes the dataset step only', async () => {
    const page = wb.page;
    await timed('open walkthrough', async () => {
      await runCommand(page, 'Welcome: Open Walkthrough', { opensQuickPick: true });
      const ours = quickRows(page).filter({ hasText: TITLE }).first();
      await ours.waitFor({ state: 'visible', timeout: 30_000 });
      await ours.click();
      await page.locator('.gettingStartedContainer .getting-started-step .step-title', { hasText: STEPS[0] })
        .first().waitFor({ state: 'visible', timeout: 30_000 });
    });
    const initial = await steps(page);
    console.log(`# steps: ${JSON.stringify(initial)}`);
    assert.deepEqual(initial.map((s) => s.title), STEPS);
    assert.ok(initial.every((s) => !s.complete), 'no step is complete in a fresh profile');
    console.log(`# screenshot: ${await screenshot(page, 'walkthrough-open')}`);

    // The user runs the step's command and backs out of its question: the step is done (onCommand).
    await runCommand(page, 'A-LoL: Audit Advantages', { opensQuickPick: true });
    await page.keyboard.press('Escape');
    await quickInput(page).waitFor({ state: 'hidden', timeout: 10_000 });
    const done = page.locator('.gettingStartedContainer .getting-started-step', { hasText: STEPS[1] }).filter({ has: page.locator(DONE) });
    await done.first().waitFor({ state: 'attached', timeout: 30_000 });
    const later = await steps(page);
    console.log(`# steps after Audit Advantages: ${JSON.stringify(later)}`);
    assert.deepEqual(later.map((s) => s.complete), [false, true, false, false, false]);
    console.log(`# screenshot: ${await screenshot(page, 'walkthrough-step-done')}`);

    const status = page.locator('.part.statusbar .statusbar-item', { hasText: 'A-LoL: no run config' });
    await status.first().waitFor({ state: 'visible', timeout: 10_000 });
    assert.deepEqual(wb.errors, [], 'uncaught errors in the workbench page');
  });
});
