// UI test of the Runs view and the dashboard's state, on recorded run folders (test/fixtures/runs: a finished demo and
// a failed train run), not a live demo: the "A-LoL" activity-bar view lists both with status and key metric (checked
// against values computed here from their files), the failed one shows its error, a click opens a run in the one
// dashboard panel (a second run replaces the first, in the same column), closing and reopening the dashboard keeps its
// run, documents opened from the dashboard (a histogram bin's row, New Reward Function's template) do not cover it,
// and Delete asks first and removes the folder. Screenshots of the Runs view with the dashboard in dark and light
// themes go to test/e2e/artifacts/runs-*.png. Needs `npm run package` and scripts/e2e-setup.sh.
import { after, before, describe } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ROOT, activeTab, closeUiSuite, cursorStatus, openWorkbench, quickInput, quickRows, runCommand, runContextMenuItem, screenshot,
  screenshotStep, startCodeServer, until, vsixPath, webviewFrame,
} from './lib/harness.mjs';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'runs');
const readEvents = (dir) => fs.readFileSync(path.join(dir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

/** The expected key metric of the finished run, from its summary.json: the best non-reference held-out sampled reward. */
function bestReward(dir) {
  const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
  const [name, v] = Object.entries(summary.variants).filter(([k]) => k !== 'reference')
    .reduce((a, b) => (b[1].heldoutSampled.reward.total > a[1].heldoutSampled.reward.total ? b : a));
  return `reward ${v.heldoutSampled.reward.total.toFixed(3)} (${name})`;
}

describe('Runs view and dashboard state (code-server + Chromium, recorded runs)', { timeout: 600_000 }, () => {
  let server;
  let wb;
  let ws;
  const step = screenshotStep('runs', () => wb?.page);
  const runsDir = () => path.join(ws, 'runs');

  before(async () => {
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'alol-e2e-runs-ws-'));
    for (const n of ['demo-finished', 'train-failed']) {
      fs.cpSync(path.join(FIXTURES, n), path.join(ws, 'runs', n), { recursive: true });
    }
    // A third copy to delete; its start time is the oldest so the order of the others stays.
    fs.mkdirSync(path.join(ws, 'runs', 'old-failed'));
    const old = readEvents(path.join(FIXTURES, 'train-failed')).map((e) => ({ ...e, t: e.t - 86_400_000 }));
    fs.writeFileSync(path.join(ws, 'runs', 'old-failed', 'events.jsonl'), old.map((e) => JSON.stringify(e)).join('\n') + '\n');
    // A dataset and the demo's per-row advantages pointing into it: the histogram's bin [0.15, 0.2) lists two rows.
    fs.writeFileSync(path.join(ws, 'data.jsonl'), '{"id":"r1","prompt":"a","response":"b"}\n{"id":"r2","prompt":"c","response":"d"}\n');
    const row = (line, a) => JSON.stringify({
      rowId: `r${line}`, file: path.join(ws, 'data.jsonl'), line, kind: 'row', reward: { total: 0.5 }, value: 0.5 - a, advantage: a,
      kept: a > 0, refLogprob: -3, refTokens: 3, timesSampled: 0,
    });
    fs.writeFileSync(path.join(ws, 'runs', 'demo-finished', 'advantages.jsonl'), `${row(1, 0.17)}\n${row(2, 0.18)}\n`);
    const settings = { 'workbench.colorTheme': 'Default Dark Modern' };
    server = await startCodeServer({ workspace: ws, extensions: [vsixPath()], settings });
    wb = await openWorkbench(server);
  });

  after(async () => closeUiSuite({ wb, server, ws }));

  const page = () => wb.page;
  const runRow = (name) => page().locator('.part.sidebar .monaco-list-row',
    { has: page().locator('.label-name', { hasText: new RegExp(`^${name}$`) }) });
  const dash = () => webviewFrame(page());
  const dashTitle = () => dash().locator('.run-title');
  const dashboardTab = () => page().locator('.tab', { hasText: 'A-LoL Dashboard' });
  /** Waits until the dashboard's title names `run` (a run switch or reopen has been drawn). */
  const showing = (run) => dashTitle().filter({ hasText: run }).waitFor({ state: 'visible', timeout: 30_000 });
  /** Each editor group: whether it is the active one, and its tabs ('*' marks a group's active tab). */
  const groups = () => page().locator('.editor-group-container').evaluateAll((gs) => gs.map((g) => ({
    active: g.classList.contains('active'),
    tabs: [...g.querySelectorAll('.tab')].map((t) => `${t.textContent.trim()}${t.classList.contains('active') ? '*' : ''}`),
  })));

  step('the "A-LoL" activity-bar view lists the runs, newest first, with status, key metric and time', async () => {
    await page().locator('.activitybar .action-item .action-label[aria-label^="A-LoL"]').click();
    await runRow('demo-finished').waitFor({ state: 'visible', timeout: 60_000 });
    const rows = await page().locator('.part.sidebar .monaco-list-row .label-name').allInnerTexts();
    assert.deepEqual(rows, ['train-failed', 'demo-finished', 'old-failed'], 'runs newest first (by run/didStart time)');
    const desc = async (name) => (await runRow(name).locator('.label-description').innerText()).trim();
    const best = bestReward(path.join(FIXTURES, 'demo-finished')).replace(/[().]/g, '\\$&');
    assert.match(await desc('demo-finished'), new RegExp(`^finished · ${best} · `));
    assert.match(await desc('train-failed'), /^failed · no metric · \d+ (min|h|d) ago$/);
  });

  step('the failed run shows its error (code and message of its run/didFail) as a child', async () => {
    const failed = readEvents(path.join(FIXTURES, 'train-failed')).find((e) => e.type === 'run/didFail');
    await runRow('train-failed').locator('.monaco-tl-twistie').click();
    const child = page().locator('.part.sidebar .monaco-list-row', { hasText: `${failed.code}: ${failed.message}` });
    await child.waitFor({ state: 'visible', timeout: 15_000 });
    await runRow('demo-finished').locator('.monaco-tl-twistie').click();
    const summary = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'demo-finished', 'summary.json'), 'utf8'));
    for (const v of Object.keys(summary.variants)) await runRow(v).waitFor({ state: 'visible', timeout: 15_000 });
  });

  step('a run folder written while the view is open appears, and its status follows its events.jsonl (file watcher)', async () => {
    const dir = path.join(runsDir(), 'cli-run');
    const [start, ...rest] = readEvents(path.join(FIXTURES, 'train-failed'));
    const t = Date.now();
    fs.mkdirSync(dir);
    const line = (e) => `${JSON.stringify(e)}\n`;
    fs.writeFileSync(path.join(dir, 'events.jsonl'), line({ ...start, t }) + line({ ...rest[0], t: t + 1 }));
    const desc = () => runRow('cli-run').locator('.label-description');
    await desc().filter({ hasText: /^interrupted · no metric · just now$/ }).waitFor({ state: 'visible', timeout: 30_000 });
    const first = await page().locator('.part.sidebar .monaco-list-row .label-name').first().innerText();
    assert.equal(first, 'cli-run', 'the newest run is first');
    fs.appendFileSync(path.join(dir, 'events.jsonl'), line({ type: 'run/didFinish', runDir: dir, elapsedMs: 5, stopped: true, t: t + 2 }));
    await desc().filter({ hasText: /^stopped · / }).waitFor({ state: 'visible', timeout: 30_000 });
    fs.rmSync(dir, { recursive: true });
    await runRow('cli-run').waitFor({ state: 'detached', timeout: 30_000 });
  });

  step('clicking a run opens it in the dashboard; the failed one shows its error there', async () => {
    const failed = readEvents(path.join(FIXTURES, 'train-failed')).find((e) => e.type === 'run/didFail');
    await runRow('train-failed').locator('.label-name').click();
    await showing('train-failed');
    const banner = dash().locator('.banner.bad');
    await banner.filter({ hasText: `Run failed (${failed.code})` }).waitFor({ state: 'visible', timeout: 30_000 });
    assert.ok((await banner.innerText()).includes(failed.message), await banner.innerText());
  });

  step('a second run replaces the first in the same panel and column (no new editor column)', async () => {
    const before = await groups();
    await runRow('demo-finished').locator('.label-name').click();
    await showing('demo-finished');
    const demo = readEvents(path.join(FIXTURES, 'demo-finished'));
    const counts = demo.find((e) => e.type === 'advantages/didCompute').counts;
    await dash().locator('.count.kept .count-n', { hasText: String(counts.kept) }).waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await dash().locator('.banner.bad').count(), 0, 'the failed run\'s banner is gone');
    assert.equal(await page().locator('iframe.webview').count(), 1, 'one dashboard webview');
    assert.deepEqual((await groups()).length, before.length, `editor groups before ${JSON.stringify(before)}`);
    await dashboardTab().filter({ hasText: 'demo-finished' }).waitFor({ state: 'visible' });
    console.log(`# screenshot: ${await screenshot(page(), 'runs-view-dark')}`);
  });

  step('closing the dashboard and running "A-LoL: Open Dashboard" shows the same run again, rebuilt from its folder', async () => {
    await runCommand(page(), 'View: Close All Editors');
    await until('the dashboard to close', 30_000, async () => (await page().locator('iframe.webview').count()) === 0);
    await runCommand(page(), 'A-LoL: Open Dashboard');
    await showing('demo-finished');
    const counts = readEvents(path.join(FIXTURES, 'demo-finished')).find((e) => e.type === 'advantages/didCompute').counts;
    await dash().locator('.count.filtered .count-n', { hasText: String(counts.filtered) }).waitFor({ state: 'visible', timeout: 30_000 });
    await dash().locator('.banner.good').waitFor({ state: 'visible' });
  });

  step('a histogram bin\'s row opens beside the dashboard, not on top of it', async () => {
    await dashboardTab().click(); // the dashboard's group is the active one, as after a click in the dashboard
    assert.ok((await groups()).find((g) => g.active)?.tabs.some((t) => t.startsWith('A-LoL Dashboard')), JSON.stringify(await groups()));
    await dash().locator('.bin-hit[data-lo="0.15"]').click();
    const second = quickRows(page()).filter({ hasText: 'A +0.180' });
    await second.waitFor({ state: 'visible', timeout: 30_000 });
    await second.click();
    await activeTab(page(), 'data.jsonl').waitFor({ state: 'visible', timeout: 30_000 });
    await cursorStatus(page()).filter({ hasText: /Ln 2, Col 1/ }).waitFor({ state: 'visible', timeout: 15_000 });
    const state = await until('the dashboard to be its group\'s visible tab, and data.jsonl in another group', 30_000, async () => {
      const gs = await groups();
      const d = gs.find((g) => g.tabs.some((t) => t.startsWith('A-LoL Dashboard')));
      const data = gs.find((g) => g.tabs.some((t) => t.startsWith('data.jsonl')));
      return d && data && d !== data && d.tabs.some((t) => t.startsWith('A-LoL Dashboard') && t.endsWith('*')) ? gs : null;
    });
    assert.equal(state.length, 2, JSON.stringify(state));
    await dashTitle().filter({ hasText: 'demo-finished' }).waitFor({ state: 'visible' });
    // The moved editor keeps the row's selection.
    await activeTab(page(), 'data.jsonl').waitFor({ state: 'visible' });
    await cursorStatus(page()).filter({ hasText: /Ln 2, Col 1/ }).waitFor({ state: 'visible', timeout: 15_000 });
  });

  step('New Reward Function\'s template opens beside the dashboard too (the dashboard alone in the window)', async () => {
    // The layout where the dashboard covered: its group the only one. (With another group holding editors the dashboard
    // is not moved: see the report of issue 22.)
    await runCommand(page(), 'View: Close All Editors');
    await until('the editors to close', 30_000, async () => (await page().locator('iframe.webview').count()) === 0);
    await runCommand(page(), 'A-LoL: Open Dashboard');
    await showing('demo-finished');
    await dashboardTab().click();
    // The webview takes the focus a moment after its tab is clicked; a palette opened before that closes on the focus
    // change (seen once in a soak). Wait for the focus to be in the dashboard's frame, then open the palette.
    const dashboardFocused = () => document.activeElement?.tagName === 'IFRAME' && document.activeElement.classList.contains('webview');
    await page().waitForFunction(dashboardFocused);
    await runCommand(page(), 'A-LoL: New Reward Function', { opensQuickPick: true });
    await quickInput(page()).fill('tone_check');
    await quickInput(page()).press('Enter');
    // It asks for a run config to add the component to; none here: Escape, and the template alone opens.
    await page().locator('.quick-input-widget .quick-input-box input[placeholder="Choose a run config"]').waitFor({ state: 'visible' });
    await page().keyboard.press('Escape');
    await activeTab(page(), 'tone_check.ts').waitFor({ state: 'visible', timeout: 30_000 });
    await until('the dashboard to stay its group\'s visible tab', 30_000, async () => {
      const gs = await groups();
      const d = gs.find((g) => g.tabs.some((t) => t.startsWith('A-LoL Dashboard')));
      const shown = d?.tabs.some((t) => t.startsWith('A-LoL Dashboard') && t.endsWith('*'));
      return shown && !d.tabs.some((t) => t.startsWith('tone_check.ts'));
    });
  });

  step('Delete asks in a modal dialog and removes the run folder; the view drops it', async () => {
    await runContextMenuItem(page(), runRow('old-failed'), 'Delete Run');
    const dialog = page().locator('.monaco-dialog-box');
    await dialog.filter({ hasText: 'Delete the run "old-failed"?' }).waitFor({ state: 'visible', timeout: 15_000 });
    await dialog.locator('.monaco-button', { hasText: /^Delete$/ }).click();
    // code-server's remote file system has no trash (workspace.fs.delete with useTrash throws): the view says so and
    // asks again before deleting for good. (Desktop VS Code moves the folder to the trash after the first answer.)
    const again = dialog.filter({ hasText: 'old-failed could not be moved to the trash' });
    await again.waitFor({ state: 'visible', timeout: 15_000 });
    await again.locator('.monaco-button', { hasText: /^Delete Permanently$/ }).click();
    await until('runs/old-failed to be deleted', 30_000, () => !fs.existsSync(path.join(runsDir(), 'old-failed')));
    await runRow('old-failed').waitFor({ state: 'detached', timeout: 30_000 });
    assert.ok(fs.existsSync(path.join(runsDir(), 'train-failed')), 'only the chosen run is deleted');
  });

  step('light theme: the Runs view and the dashboard of each run', async () => {
    await runCommand(page(), 'Preferences: Color Theme', { opensQuickPick: true });
    await quickInput(page()).fill('Light Modern');
    await quickRows(page()).filter({ hasText: /^Light Modern/ }).first().click();
    await page().locator('.monaco-workbench.vs').waitFor({ state: 'attached', timeout: 30_000 });
    await runCommand(page(), 'View: Close All Editors');
    await runRow('demo-finished').locator('.label-name').click();
    await showing('demo-finished');
    await dash().locator('.histogram-svg .bar.kept').first().waitFor({ state: 'attached' });
    console.log(`# screenshot: ${await screenshot(page(), 'runs-view-light')}`);
    await runRow('train-failed').locator('.label-name').click();
    await showing('train-failed');
    await dash().locator('.banner.bad').waitFor({ state: 'visible' });
    console.log(`# screenshot: ${await screenshot(page(), 'runs-failed-light')}`);
    assert.deepEqual(wb.errors, [], 'uncaught errors in the workbench page');
  });
});
