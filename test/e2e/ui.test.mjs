// UI test: the packaged .vsix installed into code-server, the workbench in headless Chromium, a
// command run from the palette. Needs `npm run package` and scripts/e2e-setup.sh (npm run test:e2e
// does both). No smoke-test driver here, so notification toasts show.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { MANIFEST, notification, openWorkbench, runCommand, screenshot, startCodeServer, vsixPath, webviewFrame } from './lib/harness.mjs';

/** PIDs of running trainer subprocesses (out/src/trainer/main.js of the installed extension). */
const trainers = () => execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('out/src/trainer/main.js') && !l.includes('ps -eo'));

describe('A-LoL Studio in VS Code (code-server + Chromium)', { timeout: 420_000 }, () => {
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
    // The histogram and counts arrive with advantages/didCompute, the samples with the reference's evaluation.
    await dash.locator('.histogram-svg .bar.kept').first().waitFor({ state: 'attached', timeout: 240_000 });
    const counts = Object.fromEntries(await Promise.all(['kept', 'filtered', 'total'].map(async (k) => [k, Number(await dash.locator(`.count.${k} .count-n`).textContent())])));
    assert.ok(counts.kept > 0 && counts.filtered > 0 && counts.kept + counts.filtered === counts.total, JSON.stringify(counts));
    await dash.locator('.samples-table tbody tr').first().waitFor({ state: 'attached', timeout: 120_000 });
    assert.ok((await dash.locator('.samples-table tbody tr').count()) > 0);
    await dash.locator('.histogram-svg .bar.filtered').first().waitFor({ state: 'attached' });
    // Mid-run, while the variants train: a screenshot for the record.
    await page.waitForTimeout(4_000);
    console.log(`# screenshot: ${await screenshot(page, 'dashboard-mid-run')}`);
    assert.ok(trainers().length > 0, 'a trainer process is running');
    await runCommand(page, 'A-LoL: Stop');
    const deadline = Date.now() + 90_000;
    while (trainers().length > 0 && Date.now() < deadline) await page.waitForTimeout(500);
    assert.deepEqual(trainers(), [], 'Stop ended the trainer process');
    await dash.locator('.run-header .badge', { hasText: /stopped|finished/ }).waitFor({ timeout: 30_000 });
    console.log(`# screenshot: ${await screenshot(page, 'dashboard-stopped')}`);
    assert.deepEqual(wb.errors, [], 'uncaught errors in the workbench page');
  });
});
