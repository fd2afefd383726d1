// UI test: A-LoL: Compare Runs… in a real VS Code (code-server + headless Chromium, the packaged .vsix) on two
// recorded run folders copied into the workspace's runs folder (test/fixtures/recorded: a quick demo and a second
// audit of the same rows): the palette command's multi-select picker, then the dashboard in compare mode — both runs'
// curves overlaid, the config difference, and the kept-set difference, whose rows must be exactly the rows kept by
// one audit and filtered by the other, computed here from the two advantages.jsonl. Screenshots in the dark and the
// light theme (test/e2e/artifacts/compare-vscode-*.png). Needs `npm run package` and scripts/e2e-setup.sh.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, closeUiSuite, openWorkbench, runCommand, screenshot, startCodeServer, vsixPath, webviewFrame } from './lib/harness.mjs';

const RECORDED = path.join(ROOT, 'test', 'fixtures', 'recorded');
const RUNS = ['demo-seq', 'audit-folds'];
const rows = (name) =>
  fs.readFileSync(path.join(RECORDED, name, 'advantages.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));

describe('Compare Runs in VS Code (code-server + Chromium)', { timeout: 900_000 }, () => {
  let server;
  let wb;
  let ws;

  before(async () => {
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'alol-e2e-compare-'));
    for (const name of RUNS) fs.cpSync(path.join(RECORDED, name), path.join(ws, 'runs', name), { recursive: true });
    const settings = { 'workbench.colorTheme': 'Default Dark Modern' };
    server = await startCodeServer({ workspace: ws, extensions: [vsixPath()], settings });
    wb = await openWorkbench(server);
  });

  after(async () => {
    await closeUiSuite({ wb, server, ws });
  });

  it('picks two runs and shows them together, with the kept-set difference of their audits', async () => {
    const { page } = wb;
    await runCommand(page, 'A-LoL: Compare Runs…', { opensQuickPick: true });
    const picker = page.locator('.quick-input-widget');
    for (const name of RUNS) {
      // a click on a row of a multi-select picker ticks it
      const row = picker.locator('.monaco-list-row', { hasText: name });
      await row.click();
      await picker.locator('.monaco-list-row[aria-checked="true"]', { hasText: name }).waitFor({ state: 'attached' });
    }
    await page.keyboard.press('Enter');

    const dash = webviewFrame(page);
    // Expected: the rows one audit keeps and the other filters (the picker lists the newest first, so A is either run).
    const [a, b] = RUNS.map(rows);
    const kb = new Map(b.map((r) => [r.rowId, r.kept]));
    const differing = a.filter((r) => kb.has(r.rowId) && kb.get(r.rowId) !== r.kept).map((r) => r.rowId).sort();
    assert.ok(differing.length > 0);
    await dash.locator('.kept-diff tbody tr').first().waitFor({ state: 'visible', timeout: 60_000 });
    const shown = (await dash.locator('.kept-diff tbody tr').evaluateAll((trs) => trs.map((r) => r.dataset.rowId))).sort();
    assert.deepEqual(shown, differing);
    const title = await dash.locator('.run-title').textContent();
    assert.match(title, /^Compare: A (demo-seq|audit-folds) · B (demo-seq|audit-folds)$/);
    const legend = await dash.locator('.legend .legend-toggle').evaluateAll((bs) => bs.map((x) => x.dataset.variant));
    const seqRun = /A demo-seq/.test(title) ? 'A' : 'B';
    for (const v of ['nll', 'a_lol_seq']) assert.ok(legend.includes(`${seqRun}/${v}`), `${seqRun}/${v} in ${legend.join(', ')}`);
    assert.equal(await dash.locator('figure.chart[data-chart="π_ref SFT loss"]').getAttribute('data-series'), '2');
    const diffKeys = await dash.locator('.config-diff tbody td.path').allTextContents();
    assert.ok(diffKeys.includes('value.folds') && diffKeys.includes('value.epochs'), diffKeys.join(', '));
    await dash.locator('section.compare').scrollIntoViewIfNeeded();
    await screenshot(page, 'compare-vscode-dark');


    // The light theme: the page's colours (and the charts' canvas colours) follow VS Code's.
    await runCommand(page, 'Preferences: Color Theme', { opensQuickPick: true });
    await page.locator('.quick-input-widget .quick-input-box input').fill('Light Modern');
    await page.locator('.quick-input-widget .monaco-list-row.focused', { hasText: 'Light Modern' }).waitFor({ state: 'visible' });
    await page.keyboard.press('Enter');
    await dash.locator('body.vscode-light').waitFor({ state: 'attached', timeout: 60_000 });
    await dash.locator('section.curves').scrollIntoViewIfNeeded();
    await screenshot(page, 'compare-vscode-light');

    // A warning's "why?" opens the README's section about it in the Markdown preview (last: the preview is a webview too).
    await dash.locator('.sentinel[data-sentinel="value-head"] .link-button').click();
    await page.locator('.tabs-container .tab', { hasText: 'Preview README.md' }).waitFor({ state: 'visible', timeout: 60_000 });
  });
});
