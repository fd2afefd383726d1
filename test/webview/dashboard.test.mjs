// Browser test of the dashboard webview: headless Debian Chromium (playwright-core) loads the built
// webview/dist bundle in a page that mimics the VS Code webview host (same CSP with a nonce, theme
// variables, acquireVsCodeApi shim), feeds it the recorded demo run (test/fixtures/demo-quick-run) as
// host messages, and checks what it shows, what it posts back, that generated text stays text, that
// bad messages are rejected, that rendering is throttled, that a reload restores the dashboard, and
// that nothing violates the CSP. Screenshots (dark, light) go to test/webview/artifacts/.
// Run: npm run test:webview (builds the bundle first).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, chartData, hostMessages, launch, loadFixture, send, startServer, stepsByVariant } from './harness.mjs';

const XSS = '<img src=x onerror=alert(1)>';

describe('dashboard webview', () => {
  let server;
  let browser;
  let page;
  const consoleErrors = [];
  const warnings = [];
  const dialogs = [];
  const violations = []; // securitypolicyviolation events of pages that were reloaded or closed
  const fixture = loadFixture();
  const adv = fixture.events.find((e) => e.event.type === 'advantages/didCompute').event;
  const trained = fixture.events
    .filter((e) => e.event.type === 'phase/didChange' && e.event.phase === 'training' && e.event.status === 'started')
    .map((e) => /^training (\S+)/.exec(e.event.message)[1]);
  const evalWithSamples = fixture.events.filter((e) => e.event.type === 'eval/didComplete' && e.event.samples.length > 0);
  // A generated response that would run script if it were inserted as HTML.
  const poisoned = structuredClone(fixture);
  const target = poisoned.events.find((e) => e.event.type === 'eval/didComplete' && e.event.samples.length > 0);
  target.event.samples[0].response = `${XSS} and then some text`;

  const posted = () => page.evaluate(() => window.__posted);

  async function openPage(theme) {
    const pg = await browser.context.newPage();
    pg.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${theme}: ${m.text()}`);
      if (m.type() === 'warning') warnings.push(m.text());
    });
    pg.on('pageerror', (e) => consoleErrors.push(`${theme}: page error: ${e.message}`));
    pg.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await pg.goto(`${server.origin}/?theme=${theme}`);
    return pg;
  }

  async function feed(pg, fx) {
    await send(pg, hostMessages(fx));
    await pg.waitForFunction(
      () =>
        document.querySelectorAll('.comparison-table tbody tr').length > 0 &&
        document.querySelectorAll('.sample-card').length > 0,
    );
  }

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer();
    browser = await launch();
    page = await openPage('dark');
    await feed(page, poisoned);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('posts webview/ready on load', async () => {
    assert.deepEqual((await posted())[0], { type: 'webview/ready' });
  });

  it('draws the advantage histogram with kept and filtered bins and the zero line', async () => {
    const h = await page.evaluate(() => ({
      kept: document.querySelectorAll('.histogram-svg .bar.kept').length,
      filtered: document.querySelectorAll('.histogram-svg .bar.filtered').length,
      bins: document.querySelectorAll('.histogram-svg .bin-hit').length,
      zero: document.querySelectorAll('.histogram-svg .zero-line').length,
    }));
    assert.ok(h.kept > 0 && h.filtered > 0, `bars: ${JSON.stringify(h)}`);
    assert.equal(h.bins, adv.histogram.edges.length - 1);
    assert.equal(h.zero, 1);
  });

  it('shows the kept / filtered / total counts of advantages/didCompute', async () => {
    const counts = await page.evaluate(() =>
      Object.fromEntries(['kept', 'filtered', 'total'].map((k) => [k, document.querySelector(`.count.${k} .count-n`)?.textContent ?? ''])),
    );
    const n = (s) => Number(s.replace(/,/g, ''));
    assert.deepEqual(
      { kept: n(counts.kept), filtered: n(counts.filtered), total: n(counts.total) },
      { kept: adv.counts.kept, filtered: adv.counts.filtered, total: adv.counts.rows },
    );
    const byKind = await page.locator('.adv-stats table tbody tr').allTextContents();
    assert.equal(byKind.length, Object.keys(adv.byKind).length);
  });

  it('draws a loss curve per trained variant, and eval rewards per component', async () => {
    assert.ok(trained.length > 1);
    const stepsOf = stepsByVariant(fixture);
    const loss = await chartData(page, 'loss');
    assert.equal(loss.series, trained.length);
    assert.deepEqual(loss.points, trained.map((v) => stepsOf.get(v).length), 'every step of every variant is drawn');
    for (const [colour, ink] of Object.entries(loss.inkByColour)) assert.ok(ink > 50, `series colour ${colour} painted: ${ink} px`);
    const legend = await page.locator('.legend .legend-item').allTextContents();
    for (const v of trained) assert.ok(legend.includes(v), `legend lists ${v}`);
    for (const key of ['learning rate', 'gradient norm', 'mean importance weight', 'clip fraction']) {
      assert.equal((await chartData(page, key)).series, trained.length, key);
    }
    const components = Object.keys(evalWithSamples[0].event.rewards);
    const evals = fixture.events.filter((e) => e.event.type === 'eval/didComplete');
    for (const c of components) {
      const chart = await chartData(page, `reward: ${c}`);
      assert.equal(chart.points.reduce((a, b) => a + b, 0), evals.length, `reward: ${c} has a point per evaluation`);
    }
  });

  it('keeps every evaluation\'s samples and filters them by step', async () => {
    await page.selectOption('select[data-filter="mode"]', 'table');
    const steps = await page.locator('.samples-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.step));
    const expectedRows = evalWithSamples.reduce((n, e) => n + e.event.samples.length, 0);
    assert.equal(steps.length, expectedRows);
    assert.ok(new Set(steps).size > 1, `samples from several steps: ${[...new Set(steps)]}`);
    await page.selectOption('select[data-filter="step"]', '300');
    const filtered = await page.locator('.samples-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.step));
    const at300 = evalWithSamples.filter((e) => e.event.step === 300).reduce((n, e) => n + e.event.samples.length, 0);
    assert.equal(filtered.length, at300);
    assert.ok(filtered.every((s) => s === '300'));
    await page.selectOption('select[data-filter="variant"]', 'a_lol');
    const both = await page.locator('.samples-table tbody tr').count();
    assert.equal(both, 0, 'a_lol was evaluated at step 170, not 300');
    await page.selectOption('select[data-filter="step"]', '*');
    const alol = await page.locator('.samples-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.variant));
    assert.ok(alol.length > 0 && alol.every((v) => v === 'a_lol'));
    await page.selectOption('select[data-filter="variant"]', '*');
  });

  it('by prompt: one test prompt, every variant\'s response side by side with its rewards; next steps through prompts', async () => {
    await page.selectOption('select[data-filter="mode"]', 'prompt');
    await page.selectOption('select[data-filter="evaluation"]', 'test|greedy');
    // The oracle: each variant's last test evaluation with samples, from the events.
    const tests = new Map();
    let evaluating = null;
    for (const { event: e } of poisoned.events) { // what the page was fed
      if (e.type === 'phase/didChange' && e.phase === 'evaluation' && e.status === 'started') {
        evaluating = /^evaluating (\S+)/.exec(e.message)?.[1];
      }
      if (e.type === 'eval/didComplete' && e.split === 'test' && !e.sampled && e.samples.length) tests.set(evaluating, e);
    }
    assert.ok(tests.size > 1);
    const prompts = [...new Set([...tests.values()].flatMap((e) => e.samples.map((x) => x.prompt)))];
    for (const k of [0, 1]) {
      const shown = await page.locator('.samples .card-text.prompt').textContent();
      assert.equal(shown, prompts[k].trim());
      assert.equal(await page.locator('.prompt-position').textContent(), `prompt ${k + 1} of ${prompts.length}`);
      const cards = await page.locator('.sample-card[data-variant]').evaluateAll((cs) =>
        cs.map((c) => ({ variant: c.dataset.variant, text: c.querySelector('.card-text.response').textContent,
          total: c.querySelector('.chip.total .v')?.textContent })));
      const expected = [...tests].flatMap(([v, e]) => e.samples.filter((x) => x.prompt === prompts[k])
        .map((x) => ({ variant: v, text: x.response.trim(), total: x.rewards.total.toFixed(3) })));
      assert.deepEqual(cards, expected);
      const dataset = [...tests.values()][0].samples.find((x) => x.prompt === prompts[k]).reference;
      assert.equal(await page.locator('.dataset-card .card-text').textContent(), dataset.trim(), 'the dataset response, named as such');
      await page.locator('[data-nav="next"]').click();
    }
    assert.equal(await page.locator('.sample-card[data-variant="reference"] strong').textContent(), 'π_ref');
  });

  it('lists every variant of summary.json in the comparison table', async () => {
    const rows = await page.locator('.comparison-table tbody tr').evaluateAll((trs) => trs.map((r) => r.dataset.variant));
    assert.deepEqual(rows, Object.keys(fixture.summary.variants));
  });

  it('the header says what the policy trains: LoRA rank and trainable parameters from model/didLoad', async () => {
    const chip = () => page.locator('.chip', { hasText: 'trains' }).first();
    assert.equal(await page.locator('.chip', { hasText: 'trains' }).count(), 0, 'no model/didLoad in the fixture: no chip');
    const t = fixture.events.at(-1).t;
    const loaded = {
      type: 'model/didLoad', role: 'reference', modelType: 'qwen2', summary: 'qwen2, 24 layers, hidden 896', parameters: 400_000_000,
      trainable: 8_798_208, lora: { r: 16, alpha: 32, dropout: 0.05, modules: 168, targets: ['q_proj', 'k_proj'] },
      layers: 24, hidden: 896, heads: 14, kvHeads: 2,
    };
    await send(page, [{ type: 'events/didAppend', events: [{ t, event: loaded }] }]);
    assert.equal((await chip().locator('.v').innerText()).trim(), 'LoRA r16 · 8.8M (2.2%)');
    const title = /^LoRA: rank 16, alpha 32, dropout 0\.05 on 168 projections \(q_proj, k_proj\); 8798208 of 400000000/;
    assert.match(await chip().getAttribute('title'), title);
    await page.screenshot({ path: path.join(ARTIFACTS, 'header-lora.png'), clip: { x: 0, y: 0, width: 1280, height: 90 } });
  });

  it('a device fallback is a visible warning under the header chips, and the device chip is marked', async () => {
    assert.equal(await page.locator('.run-header .device-fallback').isVisible(), false, 'the recorded run ran where it asked');
    const fx = structuredClone(fixture);
    const fallback = 'device webgpu is not available (Failed to create the WebGPU adapter); using cpu instead. hint: a Vulkan GPU';
    fx.events.find((e) => e.event.type === 'run/didStart').event.device = { requested: 'webgpu', provider: 'cpu', fallback };
    const pg = await openPage('dark');
    await feed(pg, fx);
    const note = pg.locator('.run-header .device-fallback');
    assert.equal(await note.isVisible(), true);
    assert.equal((await note.innerText()).trim(), `Running on cpu: ${fallback}`);
    const chip = pg.locator('.chip.warn', { hasText: 'device' });
    assert.equal((await chip.locator('.v').innerText()).trim(), 'cpu (asked webgpu) ⚠ fallback');
    assert.equal(await chip.getAttribute('title'), fallback);
    await pg.screenshot({ path: path.join(ARTIFACTS, 'header-fallback.png'), clip: { x: 0, y: 0, width: 1280, height: 120 } });
    await pg.close();
  });

  it('shows generated text as text: no element, no script from it', async () => {
    await page.selectOption('select[data-filter="mode"]', 'table');
    const cell = page.locator('.samples-table td.response', { hasText: XSS });
    assert.equal(await cell.count(), 1);
    assert.ok((await cell.textContent()).includes(XSS));
    assert.equal(await page.locator('img').count(), 0);
    assert.deepEqual(dialogs, []);
    await page.selectOption('select[data-filter="mode"]', 'prompt');
  });

  it('clicking a histogram bin posts histogram/openBin with its edges', async () => {
    const i = adv.histogram.kept.indexOf(Math.max(...adv.histogram.kept));
    await page.locator('.histogram-svg .bin-hit').nth(i).click();
    assert.deepEqual((await posted()).at(-1), { type: 'histogram/openBin', lo: adv.histogram.edges[i], hi: adv.histogram.edges[i + 1] });
  });

  it('Stop posts run/stop; Resume follows canResume of trainer/didChangeState', async () => {
    const stop = page.locator('vscode-button', { hasText: 'Stop' });
    const resume = page.locator('vscode-button', { hasText: 'Resume' });
    assert.equal(await stop.getAttribute('disabled'), null, 'running: Stop enabled');
    assert.notEqual(await resume.getAttribute('disabled'), null, 'running: Resume disabled');
    await stop.click();
    assert.deepEqual((await posted()).at(-1), { type: 'run/stop' });
    await send(page, [{ type: 'trainer/didChangeState', state: 'stopped', canResume: true }]);
    assert.notEqual(await stop.getAttribute('disabled'), null, 'stopped: Stop disabled');
    assert.equal(await resume.getAttribute('disabled'), null, 'stopped: Resume enabled');
    await resume.click();
    assert.deepEqual((await posted()).at(-1), { type: 'run/resume' });
    await send(page, [{ type: 'trainer/didChangeState', state: 'running', canResume: false }]);
  });

  it('rejects malformed host messages, says so, and keeps working', async () => {
    const before = warnings.length;
    await send(page, [
      { type: 'events/didAppend', events: [{ t: 1, event: { type: 'step/didComplete', step: 'x' } }] },
      { type: 'trainer/didChangeState', state: 'exploded', canResume: false },
      { type: 'no/such' },
      'not an object',
    ]);
    const notice = await page.locator('.notices').textContent();
    assert.match(notice, /Ignored 4 host messages/);
    assert.ok(warnings.length - before >= 4, 'each rejected message is logged');
    assert.equal(await page.locator('.histogram-svg .bar').count() > 0, true, 'the dashboard is still drawn');
    await send(page, [{ type: 'trainer/didChangeState', state: 'crashed', message: 'killed', canResume: true }]);
    assert.equal(await page.locator('.run-header .badge').textContent(), 'crashed', 'valid messages still apply');
  });

  it('shows a run failure with its code and hint, as text', async () => {
    const fail = { type: 'run/didFail', code: 'E_NAN_LOSS', message: 'loss became NaN at step 12 <b>bold?</b>', hint: 'lower train.lr' };
    await send(page, [{ type: 'events/didAppend', events: [{ t: Date.now(), event: fail }] }]);
    const banner = page.locator('.run-header .banner.bad');
    assert.match(await banner.textContent(), /E_NAN_LOSS.*loss became NaN at step 12 <b>bold\?<\/b>.*hint: lower train\.lr/s);
    assert.equal(await banner.locator('b').count(), 0);
  });

  it('shows rewards nothing could score (null in summary.json) as "–", never bold; the preference accuracy beside them', async () => {
    const na = structuredClone(fixture.summary);
    const names = Object.keys(na.variants);
    names.forEach((name, i) => {
      for (const m of [na.variants[name].heldout, na.variants[name].heldoutSampled]) {
        m.reward = { total: null };
        m.preferenceAccuracy = i === 1 ? 0.75 : 0.5;
      }
    });
    await send(page, [{ type: 'summary/didLoad', summary: na }]);
    const table = page.locator('.comparison-table');
    const heads = (await table.locator('thead th').allTextContents()).map((t) => t.trim());
    const column = (head) => table.locator('tbody tr').evaluateAll(
      (trs, c) => trs.map((tr) => ({ text: tr.cells[c].textContent, best: tr.cells[c].classList.contains('best') })),
      heads.indexOf(head),
    );
    for (const head of ['reward (sampled)', 'reward (greedy)']) {
      assert.ok(heads.includes(head), heads.join(' | '));
      assert.deepEqual(await column(head), names.map(() => ({ text: '–', best: false })), head);
    }
    const acc = await column('pref. accuracy');
    assert.deepEqual(acc.map((c) => [c.text, c.best]), names.map((_, i) => (i === 1 ? ['0.750', true] : ['0.500', false])));
    await send(page, [{ type: 'summary/didLoad', summary: fixture.summary }]);
  });

  it('renders at most one frame per ~250 ms however many messages arrive', async () => {
    const steps = fixture.events.filter((e) => e.event.type === 'step/didComplete').slice(0, 200);
    const t0 = Date.now();
    // 200 messages of one event each, one every ~5 ms: unthrottled, that is a frame per message.
    const frames = await send(page, steps.map((e) => ({ type: 'events/didAppend', events: [e] })), { gapMs: 5 });
    // Frames are at least 250 ms apart (performance.now() in the page), so however slow the machine,
    // their count is bounded by the time the whole exchange took.
    const elapsed = Date.now() - t0;
    const budget = Math.ceil(elapsed / 250) + 1;
    assert.ok(frames >= 1 && frames <= budget, `${frames} renders for 200 messages in ${elapsed} ms (at most ${budget})`);
  });

  it('restores from vscode state on reload, posts webview/ready, and rebuilds from a re-send', async () => {
    // The digest is saved at most once a second: wait until it holds a phase message sent now.
    const marker = `persisted ${Date.now()}`;
    const event = { type: 'phase/didChange', phase: 'training', status: 'started', message: marker };
    await send(page, [{ type: 'events/didAppend', events: [{ t: Date.now(), event }] }]);
    await page.waitForFunction((m) => (sessionStorage.getItem('vscode-state') ?? '').includes(m), marker);
    violations.push(...(await page.evaluate(() => window.__violations)));
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll('.histogram-svg .bar').length > 0);
    assert.deepEqual(await posted(), [{ type: 'webview/ready' }]);
    const lastLog = await page.locator('.log-text').last().textContent();
    assert.match(lastLog, new RegExp(marker), 'the restored activity log ends with the last message');
    assert.equal((await chartData(page, 'loss')).series, trained.length);
    assert.ok((await page.locator('.sample-card').count()) > 0);
    assert.ok((await page.locator('.comparison-table tbody tr').count()) > 0);
    await feed(page, poisoned); // the host re-sends after webview/ready
    assert.equal(Number((await page.locator('.count.kept .count-n').textContent()).replace(/,/g, '')), adv.counts.kept);
    assert.equal((await chartData(page, 'loss')).series, trained.length);
  });

  it('saves dark and light screenshots', async () => {
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-dark.png'), fullPage: true });
    const light = await openPage('light');
    await feed(light, fixture);
    await light.screenshot({ path: path.join(ARTIFACTS, 'dashboard-light.png'), fullPage: true });
    await light.locator('section.advantages').screenshot({ path: path.join(ARTIFACTS, 'advantages-light.png') });
    await page.locator('section.curves').screenshot({ path: path.join(ARTIFACTS, 'curves-dark.png') });
    violations.push(...(await light.evaluate(() => window.__violations)));
    await light.close();
  });

  it('violates no CSP directive', async () => {
    violations.push(...(await page.evaluate(() => window.__violations)));
    assert.deepEqual(violations, []);
    const csp = consoleErrors.filter((e) => /Content Security Policy|Refused to/i.test(e));
    assert.deepEqual(csp, []);
    assert.deepEqual(consoleErrors, []);
  });
});
