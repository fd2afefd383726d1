// Browser test of the dashboard with several recorded runs (headless Debian Chromium, the built bundle,
// the VS Code-like page of harness.mjs): the chart interactions (crosshair readout against the events,
// smoothing, legend toggles, zoom and reset, log switch), the reference fine-tuning's curves, a second
// run replacing every panel of the first, compare mode (curves overlaid, the kept-set difference equal to
// one computed here from the two advantages.jsonl, the config difference), and the warnings (saturation
// on a run whose clip fraction passes 0.9, none on a run without). Recorded runs: test/fixtures/demo-quick-run
// (protocol 1, five variants) and test/fixtures/recorded/ (demo-seq: protocol 2 with the reference's SFT
// steps and its audit; audit-folds: the same data audited with value.folds 5 and value.epochs 3 (its config.json)).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ARTIFACTS, ROOT, chartData, hostMessages, hover, launch, loadFixture, send, startServer, stepsByVariant } from './harness.mjs';

const RECORDED = path.join(ROOT, 'test', 'fixtures', 'recorded');
const load = (name) => loadFixture(path.join(RECORDED, name));
const advantagesOf = (name) =>
  readFileSync(path.join(RECORDED, name, 'advantages.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));

/** The kept-set difference computed here, independently of the product: rowIds kept by exactly one audit. */
function keptDifference(a, b) {
  const kb = new Map(b.map((r) => [r.rowId, r.kept]));
  return a.filter((r) => kb.has(r.rowId) && kb.get(r.rowId) !== r.kept).map((r) => ({ rowId: r.rowId, keptIn: r.kept ? 'a' : 'b' }));
}

describe('dashboard webview: recorded runs, compare, warnings, chart interactions', () => {
  let server;
  let browser;
  let page;
  const consoleErrors = [];
  const demo = loadFixture();
  const seq = load('demo-seq');
  const audit = load('audit-folds');

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer();
    browser = await launch();
    page = await browser.context.newPage();
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
    await page.goto(`${server.origin}/?theme=dark`);
    await send(page, hostMessages(demo, { state: 'finished' }));
    await page.waitForFunction(() => document.querySelectorAll('.comparison-table tbody tr').length > 0);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('the crosshair shows, at the hovered step, every variant\'s logged loss there', async () => {
    const steps = stepsByVariant(demo);
    for (const fraction of [0.2, 0.5]) {
      const r = await hover(page, 'loss', fraction);
      const expected = [...steps].flatMap(([v, list]) => list.filter((e) => e.step === r.x).map((e) => ({ key: v, value: e.loss })));
      assert.ok(expected.length > 0, `some variant has a step ${r.x}`);
      assert.deepEqual(r.rows, expected, `readout at step ${r.x}`);
    }
  });

  it('smoothing draws the debiased EMA of the logged values (the readout shows it)', async () => {
    await page.locator('input.smoothing').fill('0.9');
    const r = await hover(page, 'loss', 0.3);
    const [variant, list] = [...stepsByVariant(demo)][0];
    let ema = 0;
    let n = 0;
    let atX = null;
    for (const e of list) {
      ema = 0.9 * ema + 0.1 * e.loss;
      n++;
      if (e.step === r.x) atX = ema / (1 - 0.9 ** n);
    }
    const row = r.rows.find((x) => x.key === variant);
    assert.ok(row && atX !== null, `${variant} at ${r.x}`);
    assert.ok(Math.abs(row.value - atX) <= 1e-9 * Math.abs(atX), `${row.value} vs ${atX}`);
    await page.locator('input.smoothing').fill('0');
  });

  it('the legend hides a variant everywhere and shows it again', async () => {
    const variant = [...stepsByVariant(demo).keys()][0];
    const toggle = page.locator(`.legend-toggle[data-variant="${variant}"]`);
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    const r = await hover(page, 'clip fraction', 0.1);
    assert.ok(!r.rows.some((x) => x.key === variant), `${variant} hidden: ${JSON.stringify(r.rows)}`);
    await toggle.click();
    const again = await hover(page, 'clip fraction', 0.1);
    assert.ok(again.rows.some((x) => x.key === variant));
  });

  it('dragging zooms the x axis; reset zoom restores it; the log switch changes the scale', async () => {
    const fig = page.locator('figure.chart[data-chart="learning rate"]');
    const over = fig.locator('.u-over');
    const wide = await hover(page, 'learning rate', 0.9); // scrolls the chart into view
    const box = await over.boundingBox();
    await page.mouse.move(box.x + box.width * 0.1, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await fig.locator('.link-button', { hasText: 'reset zoom' }).waitFor({ state: 'visible' });
    const zoomed = await hover(page, 'learning rate', 0.9);
    assert.ok(zoomed.x < wide.x, `zoomed in: the right edge is step ${zoomed.x}, was ${wide.x}`);
    await fig.locator('.link-button', { hasText: 'reset zoom' }).click();
    assert.equal((await hover(page, 'learning rate', 0.9)).x, wide.x);
    assert.equal((await chartData(page, 'learning rate')).log, false);
    await fig.locator('input.log-switch').check();
    assert.equal((await chartData(page, 'learning rate')).log, true);
    await fig.locator('input.log-switch').uncheck();
  });

  it('warns that importance weights saturate on a run whose clip fraction passes 0.9', async () => {
    const clip = [...stepsByVariant(demo).values()].flat().map((e) => e.clipFraction ?? 0);
    assert.ok(Math.max(...clip) > 0.9, 'the recorded demo has clip fractions above 0.9');
    const s = page.locator('.sentinel[data-sentinel="saturation"]');
    assert.equal(await s.count(), 1);
    assert.match(await s.textContent(), /a_lol \(\d+ steps from step \d+\).*lower lr, or use a_lol_seq/);
    await s.locator('.link-button').click();
    assert.deepEqual((await page.evaluate(() => window.__posted)).at(-1), { type: 'docs/open', anchor: 'importance-weights-saturate' });
  });

  it('a second run replaces every panel of the first; its reference fine-tuning has its own curves; no saturation warning', async () => {
    const clip = [...stepsByVariant(seq).values()].flat().map((e) => e.clipFraction ?? 0);
    assert.ok(Math.max(...clip) <= 0.9, `demo-seq's clip fraction stays at or below 0.9 (max ${Math.max(...clip)})`);
    const msgs = hostMessages(seq, { state: 'finished' });
    msgs[0] = { type: 'run/didOpen', runDir: '/runs/demo-seq', title: 'demo-seq', live: false };
    await send(page, msgs);
    const variants = [...stepsByVariant(seq).keys()];
    const legend = await page.locator('.legend .legend-toggle').evaluateAll((b) => b.map((x) => x.dataset.variant));
    assert.deepEqual(legend.filter((v) => v !== 'reference').sort(), [...variants].sort(), 'only the second run\'s variants');
    assert.equal((await chartData(page, 'loss')).series, variants.length);
    const rows = await page.locator('.comparison-table tbody tr').evaluateAll((trs) => trs.map((r) => r.dataset.variant));
    assert.deepEqual(rows, Object.keys(seq.summary.variants));
    const adv = seq.events.find((e) => e.event.type === 'advantages/didCompute').event;
    assert.equal(Number((await page.locator('.count.kept .count-n').textContent()).replace(/,/g, '')), adv.counts.kept);
    const components = Object.keys(seq.events.find((e) => e.event.type === 'eval/didComplete').event.rewards);
    const charts = await page.locator('figure.chart[data-chart^="reward: "]').evaluateAll((fs) => fs.map((f) => f.dataset.chart));
    assert.deepEqual(charts.sort(), components.map((c) => `reward: ${c}`).sort());
    const sft = seq.events.filter((e) => e.event.type === 'step/didComplete' && e.event.phase === 'reference');
    assert.ok(sft.length > 0, 'the recorded run has the reference\'s SFT steps');
    const sftLoss = await chartData(page, 'π_ref SFT loss');
    assert.deepEqual(sftLoss.points, [sft.length]);
    assert.ok(Object.values(sftLoss.inkByColour)[0] > 50, 'the SFT loss is painted');
    assert.equal(await page.locator('.sentinel[data-sentinel="saturation"]').count(), 0);
    const title = await page.locator('.run-title').textContent();
    assert.equal(title, 'demo-seq');
    await page.locator('section.curves').screenshot({ path: path.join(ARTIFACTS, 'curves-sft-dark.png') });

    // and an audit (no training, no evaluation) after it: nothing of demo-seq is left
    const third = hostMessages(audit, { state: 'finished' });
    third[0] = { type: 'run/didOpen', runDir: '/runs/audit-folds', title: 'audit-folds', live: false };
    await send(page, third);
    assert.equal(await page.locator('figure.chart[data-chart^="reward: "]').count(), 0, 'no evaluation charts');
    assert.equal(await page.locator('.sample-card').count(), 0);
    assert.equal(await page.locator('.samples .prompt-position').isVisible(), false, 'no prompt stepper without samples');
    assert.equal(await page.locator('section.comparison').isHidden(), true, 'no summary.json: no comparison table');
    assert.equal((await chartData(page, 'loss')).series, 0);
    assert.equal((await chartData(page, 'value head MSE')).points.length, 2, 'the audit\'s own value fit');
  });

  it('compare: two runs overlaid, the kept-set difference equals the one computed from both advantages.jsonl', async () => {
    const compiled = path.join(ROOT, 'out', 'src', 'protocol', 'compare.js');
    assert.ok(existsSync(compiled), 'out/src/protocol/compare.js is missing: run `npm run build` first');
    const { keptSetDiff } = await import(pathToFileURL(compiled).href);
    const a = advantagesOf('demo-seq');
    const b = advantagesOf('audit-folds');
    const expected = keptDifference(a, b);
    assert.ok(expected.length > 0 && expected.length < 500, `the two audits differ on ${expected.length} rows`);
    const keptDiff = keptSetDiff({ label: 'A', rows: a }, { label: 'B', rows: b });
    const batches = (fx, run) => {
      const out = [];
      for (let i = 0; i < fx.events.length; i += 200) out.push({ type: 'events/didAppend', events: fx.events.slice(i, i + 200), run });
      return out;
    };
    await send(page, [
      {
        type: 'compare/didOpen', title: 'Compare: A demo-seq · B audit-folds', keptDiff,
        runs: [{ label: 'A', runDir: '/runs/demo-seq', title: 'demo — demo-seq' },
          { label: 'B', runDir: '/runs/audit-folds', title: 'audit — audit-folds' }],
      },
      ...batches(seq, 0), { type: 'summary/didLoad', summary: seq.summary, run: 0 },
      ...batches(audit, 1),
    ]);
    const shown = await page.locator('.kept-diff tbody tr')
      .evaluateAll((trs) => trs.map((r) => ({ rowId: r.dataset.rowId, keptIn: r.dataset.keptIn })));
    const byId = (x, y) => (x.rowId < y.rowId ? -1 : 1);
    assert.deepEqual([...shown].sort(byId), [...expected].sort(byId));
    const summary = await page.locator('.kept-summary').textContent();
    const onlyA = expected.filter((r) => r.keptIn === 'a').length;
    const onlyB = expected.length - onlyA;
    assert.match(summary, new RegExp(`${a.length} rows in both audits: ${onlyA} kept by A only, ${onlyB} kept by B only`));
    const legend = await page.locator('.legend .legend-toggle').evaluateAll((bs) => bs.map((x) => x.dataset.variant));
    assert.ok(legend.every((v) => /^[AB]\//.test(v)) && legend.some((v) => v.startsWith('A/')), legend.join(', '));
    assert.equal((await chartData(page, 'π_ref SFT loss')).series, 2, 'both runs\' reference fine-tuning, overlaid');
    // B's value head fit, epoch by epoch: training and held-out MSE, as logged
    const fit = audit.events.filter((e) => e.event.type === 'step/didComplete' && e.event.phase === 'value').map((e) => e.event);
    assert.ok(fit.length > 1);
    const mse = await chartData(page, 'value head MSE');
    assert.deepEqual(mse.points, [fit.length, fit.length]);
    const r = await hover(page, 'value head MSE', 0.5);
    const at = fit.find((e) => e.step === r.x);
    const readout = [{ key: 'B/value head fit|train', value: at.loss }, { key: 'B/value head fit|heldout', value: at.heldoutLoss }];
    assert.deepEqual(r.rows, readout);
    const diff = await page.locator('.config-diff tbody tr td.path').allTextContents();
    assert.ok(diff.includes('value.folds'), `config difference lists value.folds: ${diff.join(', ')}`);
    assert.equal(await page.locator('section.advantages').isHidden(), true);
    const first = page.locator('.kept-diff tbody tr .link-button').first();
    const row = keptDiff.rows[0];
    await first.click();
    assert.deepEqual((await page.evaluate(() => window.__posted)).at(-1), { type: 'row/open', file: row.file, line: row.line });
    await page.screenshot({ path: path.join(ARTIFACTS, 'compare-dark.png'), fullPage: true });
  });

  it('the ETA says "estimating…" at first, then moves smoothly from one estimate towards the next', async () => {
    const pg = await browser.context.newPage();
    pg.on('pageerror', (e) => consoleErrors.push(`eta: page error: ${e.message}`));
    // The page's clock stands still (the ETA counts down with it between estimates): the figures are exact.
    const now = Date.now();
    await pg.addInitScript((t) => void (Date.now = () => t), now);
    await pg.goto(`${server.origin}/?theme=dark`);
    const at = (t, event) => ({ t, event });
    const progress = (done) => ({ type: 'phase/didProgress', phase: 'rewards', done, total: 100 });
    const eta = async () => (await pg.locator('.stat', { hasText: 'ETA (phase)' }).locator('.v').textContent()).trim();
    const seconds = (text) => {
      const m = /^(\d+)m (\d+)s$/.exec(text);
      assert.ok(m, `an ETA in minutes: ${text}`);
      return Number(m[1]) * 60 + Number(m[2]);
    };
    await send(pg, [
      { type: 'run/didOpen', runDir: '/runs/live', title: 'live', live: true },
      { type: 'trainer/didChangeState', state: 'running', canResume: false },
      { type: 'events/didAppend', events: [at(now - 60_000, { type: 'phase/didChange', phase: 'rewards', status: 'started', message: 'x' }),
        at(now - 59_000, progress(1))] },
    ]);
    assert.equal(await eta(), 'estimating…', 'one unit of work done: no estimate yet');
    // 10 of 100 after 30 s: 270 s left
    await send(pg, [{ type: 'events/didAppend', events: [at(now - 30_000, progress(10))] }]);
    assert.equal(seconds(await eta()), 270, 'the first estimate as it is');
    // 20 of 100 after 60 s: the raw estimate drops to 240 s; the shown one moves a fifth of the way: 0.8 * 270 + 0.2 * 240
    await send(pg, [{ type: 'events/didAppend', events: [at(now, progress(20))] }]);
    assert.equal(seconds(await eta()), 264);
    await pg.close();
  });

  it('compare in the light theme (screenshot), and no CSP violation or console error anywhere', async () => {
    const light = await browser.context.newPage();
    light.on('pageerror', (e) => consoleErrors.push(`light: page error: ${e.message}`));
    await light.goto(`${server.origin}/?theme=light`);
    const { keptSetDiff } = await import(pathToFileURL(path.join(ROOT, 'out', 'src', 'protocol', 'compare.js')).href);
    const keptDiff = keptSetDiff({ label: 'A', rows: advantagesOf('demo-seq') }, { label: 'B', rows: advantagesOf('audit-folds') });
    await send(light, [
      {
        type: 'compare/didOpen', title: 'Compare: A demo-seq · B audit-folds', keptDiff,
        runs: [{ label: 'A', runDir: '/runs/demo-seq', title: 'demo — demo-seq' },
          { label: 'B', runDir: '/runs/audit-folds', title: 'audit — audit-folds' }],
      },
      { type: 'events/didAppend', events: seq.events, run: 0 }, { type: 'summary/didLoad', summary: seq.summary, run: 0 },
      { type: 'events/didAppend', events: audit.events, run: 1 },
    ]);
    await light.screenshot({ path: path.join(ARTIFACTS, 'compare-light.png'), fullPage: true });
    const violations = [...(await page.evaluate(() => window.__violations)), ...(await light.evaluate(() => window.__violations))];
    await light.close();
    assert.deepEqual(violations, []);
    assert.deepEqual(consoleErrors, []);
  });
});
