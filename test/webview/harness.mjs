// Test harness for the dashboard webview: a local HTTP server on 127.0.0.1 that serves a page like
// the VS Code webview host's (the same CSP with a nonce, the built webview/dist/dashboard.js + .css,
// VS Code's theme variables, and an acquireVsCodeApi shim that records posted messages and keeps
// setState in sessionStorage so a reload restores it), headless Debian Chromium through
// playwright-core, and the recorded demo run as host messages. Used by dashboard.test.mjs.

import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DIST = path.join(ROOT, 'webview/dist');
export const FIXTURE = path.join(ROOT, 'test/fixtures/demo-quick-run');
export const ARTIFACTS = path.join(ROOT, 'test/webview/artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** VS Code's Dark Modern / Light Modern values of the variables the dashboard (and toolkit) read. */
const THEMES = {
  dark: {
    'font-family': '-apple-system, BlinkMacSystemFont, "Segoe WPC", "Segoe UI", "Ubuntu", "Droid Sans", sans-serif',
    'font-size': '13px', 'editor-font-family': '"Droid Sans Mono", "monospace", monospace',
    'editor-background': '#1f1f1f', 'editor-foreground': '#cccccc', descriptionForeground: '#9d9d9d',
    'panel-border': '#2b2b2b', 'widget-border': '#313131', 'editorWidget-background': '#202020',
    'charts-foreground': '#cccccc', 'charts-lines': 'rgba(204, 204, 204, 0.5)', 'charts-red': '#f14c4c', 'charts-blue': '#3794ff',
    'charts-yellow': '#cca700', 'charts-orange': '#d18616', 'charts-green': '#89d185', 'charts-purple': '#b180d7',
    'button-background': '#0078d4', 'button-foreground': '#ffffff', 'button-hoverBackground': '#026ec1',
    'button-secondaryBackground': '#313131', 'button-secondaryForeground': '#cccccc', 'button-secondaryHoverBackground': '#3c3c3c',
    'badge-background': '#616161', 'badge-foreground': '#f8f8f8', 'progressBar-background': '#0078d4', 'focusBorder': '#0078d4',
    'dropdown-background': '#313131', 'dropdown-foreground': '#cccccc', 'dropdown-border': '#3c3c3c', 'list-hoverBackground': '#2a2d2e',
    'editorWarning-foreground': '#cca700', 'inputValidation-warningBackground': '#352a05',
  },
  light: {
    'font-family': '-apple-system, BlinkMacSystemFont, "Segoe WPC", "Segoe UI", "Ubuntu", "Droid Sans", sans-serif',
    'font-size': '13px', 'editor-font-family': '"Droid Sans Mono", "monospace", monospace',
    'editor-background': '#ffffff', 'editor-foreground': '#3b3b3b', descriptionForeground: '#717171',
    'panel-border': '#e5e5e5', 'widget-border': '#e5e5e5', 'editorWidget-background': '#f8f8f8',
    'charts-foreground': '#616161', 'charts-lines': 'rgba(97, 97, 97, 0.5)', 'charts-red': '#e51400', 'charts-blue': '#1a85ff',
    'charts-yellow': '#bf8803', 'charts-orange': '#d18616', 'charts-green': '#388a34', 'charts-purple': '#652d90',
    'button-background': '#005fb8', 'button-foreground': '#ffffff', 'button-hoverBackground': '#0258a8',
    'button-secondaryBackground': '#e5e5e5', 'button-secondaryForeground': '#3b3b3b', 'button-secondaryHoverBackground': '#cccccc',
    'badge-background': '#cccccc', 'badge-foreground': '#3b3b3b', 'progressBar-background': '#005fb8', 'focusBorder': '#005fb8',
    'dropdown-background': '#ffffff', 'dropdown-foreground': '#3b3b3b', 'dropdown-border': '#cecece', 'list-hoverBackground': '#f2f2f2',
    'editorWarning-foreground': '#bf8803', 'inputValidation-warningBackground': '#f6f5d2',
  },
};

const themeCss = (theme) => `html {\n${Object.entries(THEMES[theme]).map(([k, v]) => `  --vscode-${k}: ${v};`).join('\n')}\n}\n`;

// The shim runs before the bundle, as VS Code's preload does: acquireVsCodeApi, message log, CSP log.
const SHIM = `
window.__posted = [];
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push({
    directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample, file: e.sourceFile, line: e.lineNumber, col: e.columnNumber,
  });
});
window.acquireVsCodeApi = () => ({
  postMessage: (m) => { window.__posted.push(JSON.parse(JSON.stringify(m))); },
  getState: () => { const s = sessionStorage.getItem('vscode-state'); return s === null ? undefined : JSON.parse(s); },
  setState: (s) => { sessionStorage.setItem('vscode-state', JSON.stringify(s)); return s; },
});`;

function page(origin, theme) {
  const nonce = randomBytes(16).toString('base64');
  const csp = `default-src 'none'; style-src ${origin}; font-src ${origin}; img-src ${origin} data:; script-src 'nonce-${nonce}';`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${origin}/theme-${theme}.css">
<link rel="stylesheet" href="${origin}/dist/dashboard.css">
<title>A-LoL dashboard test</title>
</head>
<body class="vscode-${theme}" data-vscode-theme-kind="vscode-${theme}">
<div id="app"></div>
<script nonce="${nonce}">${SHIM}</script>
<script nonce="${nonce}" src="${origin}/dist/dashboard.js"></script>
</body>
</html>`;
}

/** Serves the test page (?theme=dark|light), the built bundle and the theme CSS; nothing else. */
export async function startServer() {
  for (const f of ['dashboard.js', 'dashboard.css']) {
    if (!existsSync(path.join(DIST, f))) {
      throw new Error(`webview/dist/${f} is missing (hint: npm run build:webview, or run npm run test:webview)`);
    }
  }
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const origin = `http://127.0.0.1:${server.address().port}`;
    const send = (type, body) => res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    const pageTheme = url.searchParams.get('theme') === 'light' ? 'light' : 'dark';
    if (url.pathname === '/') return send('text/html; charset=utf-8', page(origin, pageTheme));
    if (url.pathname === '/dist/dashboard.js') return send('text/javascript', readFileSync(path.join(DIST, 'dashboard.js')));
    if (url.pathname === '/dist/dashboard.css') return send('text/css', readFileSync(path.join(DIST, 'dashboard.css')));
    const theme = /^\/theme-(dark|light)\.css$/.exec(url.pathname);
    if (theme) return send('text/css', themeCss(theme[1]));
    if (url.pathname === '/favicon.ico') return res.writeHead(204).end();
    res.writeHead(404).end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

/** Headless Chromium with a fresh user-data dir; `close` removes it. */
export async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (hint: apt-get install -y chromium, or set CHROMIUM_PATH)`);
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'alol-webview-test-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** A recorded run (default: the quick demo): events.jsonl lines ({...event, t}) as TimedEvents ({t, event}), and summary.json. */
export function loadFixture(dir = FIXTURE) {
  const events = readFileSync(path.join(dir, 'events.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const { t, ...event } = JSON.parse(l);
      return { t, event };
    });
  const file = path.join(dir, 'summary.json');
  const summary = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
  return { events, summary };
}

/** Host messages for a run as the extension sends them: open, state, events in batches, summary. */
export function hostMessages({ events, summary }, { batch = 100, state = 'running' } = {}) {
  const msgs = [
    { type: 'run/didOpen', runDir: '/runs/demo-quick-run', title: 'demo-quick-run', live: true },
    { type: 'trainer/didChangeState', state, canResume: false },
  ];
  for (let i = 0; i < events.length; i += batch) msgs.push({ type: 'events/didAppend', events: events.slice(i, i + batch) });
  if (summary) msgs.push({ type: 'summary/didLoad', summary });
  return msgs;
}

/**
 * Posts messages to the page the way the host's webview.postMessage arrives (as window messages, `gapMs`
 * apart), then waits for the dashboard to have drawn them: every message delivered (a listener added after
 * the dashboard's sees each one after it), then a frame rendered after the last (body[data-renders] grows).
 * Returns the number of frames rendered since the first message was posted.
 */
export async function send(pg, msgs, { gapMs = 0 } = {}) {
  const { before, delivered } = await pg.evaluate(async ({ list, gap }) => {
    const renders = () => Number(document.body.dataset.renders ?? 0);
    const first = renders();
    let left = list.length;
    const all = new Promise((resolve) => {
      const seen = () => {
        if (--left > 0) return;
        window.removeEventListener('message', seen);
        resolve(renders());
      };
      window.addEventListener('message', seen);
    });
    for (const m of list) {
      window.postMessage(m, '*');
      if (gap) await new Promise((r) => setTimeout(r, gap));
    }
    return { before: first, delivered: await all };
  }, { list: msgs, gap: gapMs });
  await pg.waitForFunction((n) => Number(document.body.dataset.renders ?? 0) > n, delivered);
  return (await pg.evaluate(() => Number(document.body.dataset.renders ?? 0))) - before;
}

/** Training step events of a recorded run by variant (`variant`, or in protocol 1 the training phase under way). */
export function stepsByVariant({ events }) {
  const out = new Map();
  let current = null;
  for (const { event: e } of events) {
    if (e.type === 'phase/didChange' && e.phase === 'training' && e.status === 'started') {
      current = e.variant ?? /^training (\S+)/.exec(e.message)?.[1] ?? null;
    }
    if (e.type !== 'step/didComplete' || (e.phase ?? 'training') !== 'training') continue;
    const v = e.variant ?? current;
    if (!out.has(v)) out.set(v, []);
    out.get(v).push(e);
  }
  return out;
}

/**
 * What a chart (figure[data-chart=title]) draws: its series count, the values per series it was given,
 * whether its y axis is logarithmic, and how many canvas pixels carry each series' theme colour (within
 * a small tolerance): the proof that a line was painted, not only that data arrived.
 */
export async function chartData(pg, title) {
  return pg.evaluate((t) => {
    const fig = document.querySelector(`figure.chart[data-chart="${t}"]`);
    if (!fig) throw new Error(`no chart ${t}`);
    const points = (fig.dataset.points ?? '').split(',').filter(Boolean).map(Number);
    const canvas = fig.querySelector('canvas');
    const colours = (fig.dataset.colours ?? '').split(',').filter(Boolean);
    const rgb = (cls) => {
      const probe = document.createElement('span');
      probe.style.color = getComputedStyle(fig).getPropertyValue(`--${cls}`).trim();
      document.body.append(probe);
      const m = /rgba?\((\d+), (\d+), (\d+)/.exec(getComputedStyle(probe).color);
      probe.remove();
      return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
    };
    const inkByColour = {};
    let inked = 0;
    if (canvas) {
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      const targets = colours.map((c) => [c, rgb(c)]);
      for (const [c] of targets) inkByColour[c] = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] < 200) continue;
        for (const [c, v] of targets) {
          if (v && Math.abs(data[i] - v[0]) < 24 && Math.abs(data[i + 1] - v[1]) < 24 && Math.abs(data[i + 2] - v[2]) < 24) {
            inkByColour[c]++;
            inked++;
            break;
          }
        }
      }
    }
    return { series: Number(fig.dataset.series ?? 0), points, log: fig.dataset.log === 'true', colours, inkByColour, inked };
  }, title);
}

/**
 * Hovers a chart at a fraction of its plot width and returns the crosshair's readout: the step and each
 * series' value ({key, value}). Moves the mouse off the chart first, so the readout read is this hover's.
 */
export async function hover(pg, title, fraction) {
  const over = pg.locator(`figure.chart[data-chart="${title}"] .u-over`);
  await over.scrollIntoViewIfNeeded();
  const box = await over.boundingBox();
  await pg.mouse.move(1, 1); // off every chart (charts share the crosshair in groups, so not just off this one)
  await pg.waitForFunction((t) => document.querySelector(`figure.chart[data-chart="${t}"] .plot-tip`)?.classList.contains('hidden'), title);
  await pg.mouse.move(box.x + box.width * fraction, box.y + box.height / 2);
  const tipShown = (t) => !document.querySelector(`figure.chart[data-chart="${t}"] .plot-tip`)?.classList.contains('hidden');
  await pg.waitForFunction(tipShown, title);
  return pg.evaluate((t) => {
    const tip = document.querySelector(`figure.chart[data-chart="${t}"] .plot-tip`);
    const rows = [...tip.querySelectorAll('.tip-row')].map((r) => ({ key: r.dataset.key, value: Number(r.dataset.value) }));
    return { x: Number(tip.querySelector('.tip-head').dataset.x), rows };
  }, title);
}
