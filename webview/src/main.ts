// The A-LoL Studio dashboard webview (entry point, bundled by scripts/build-webview.mjs into
// webview/dist/dashboard.js + dashboard.css). It validates every host message with
// HostToWebviewSchema and folds it into a run model (model.ts); rendering is throttled to at most one
// frame per 250 ms however many messages arrive; the model is saved with vscode.setState so a reload
// redraws at once, then `webview/ready` asks the host to re-send. Outside VS Code (tests, a plain
// browser) the page may define window.acquireVsCodeApi before this script loads.

import './zod-jitless.js';
import { HostToWebviewSchema, TimedEventSchema, WebviewToHostSchema, type WebviewToHost } from '../../src/protocol/webview.js';
import { ComparisonPanel } from './comparison.js';
import { registerComponents } from './components.js';
import { CurvesPanel } from './curves.js';
import { h, replaceChildren, section } from './dom.js';
import { duration } from './format.js';
import { RunHeader } from './header.js';
import { AdvantagesPanel } from './advantages.js';
import { applyEvent, applyHostMessage, emptyModel, reject, restoreModel, type RunModel } from './model.js';
import { viewOf } from './view.js';
import { ComparePanel } from './compare.js';
import { SentinelStrip } from './sentinels.js';
import { SamplesPanel } from './samples.js';
import './dashboard.css';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare global {
  interface Window {
    acquireVsCodeApi?: () => VsCodeApi;
  }
}

const FRAME_MS = 250;
const PERSIST_MS = 1000;

/** VS Code's API, or a stand-in that keeps state in memory and logs what it would post. */
function acquireApi(): VsCodeApi {
  if (typeof window.acquireVsCodeApi === 'function') return window.acquireVsCodeApi();
  let state: unknown = undefined;
  return {
    postMessage: (m) => console.info('[dashboard] would post to host:', m),
    getState: () => state,
    setState: (s) => void (state = s),
  };
}

const vscode = acquireApi();
let model: RunModel = restoreModel(vscode.getState()) ?? emptyModel();

function post(message: WebviewToHost): void {
  vscode.postMessage(WebviewToHostSchema.parse(message));
}

registerComponents();
const header = new RunHeader({ stop: () => post({ type: 'run/stop' }), resume: () => post({ type: 'run/resume' }) });
const notices = h('div', 'notices hidden');
notices.setAttribute('role', 'status');
const sentinels = new SentinelStrip((anchor) => post({ type: 'docs/open', anchor }));
const compare = new ComparePanel((file, line) => post({ type: 'row/open', file, line }));
const advantages = new AdvantagesPanel((lo, hi) => post({ type: 'histogram/openBin', lo, hi }));
const curves = new CurvesPanel();
const samples = new SamplesPanel();
const comparison = new ComparisonPanel();
const activity = section('Activity', 'activity');
const root = h('main', 'dashboard', header.root, notices, sentinels.root, compare.root, advantages.root, curves.root, comparison.root,
  samples.root, activity.root);
(document.getElementById('app') ?? document.body).append(root); // the host's page has <div id="app">

// --- render loop: at most one frame per FRAME_MS, on an animation frame ---------------------------
let scheduled = false;
let lastRenderAt = -Infinity;
let renders = 0;
let logVer = -1;

function invalidate(): void {
  if (scheduled) return;
  scheduled = true;
  const wait = Math.max(0, lastRenderAt + FRAME_MS - performance.now());
  setTimeout(() => requestAnimationFrame(render), wait);
}

function render(): void {
  scheduled = false;
  lastRenderAt = performance.now();
  renders++;
  document.body.dataset.renders = String(renders);
  const view = viewOf(model);
  header.render(view, Date.now());
  sentinels.render(view);
  compare.render(view);
  advantages.root.classList.toggle('hidden', view.compare !== null);
  if (!view.compare) advantages.render(view);
  curves.render(view);
  samples.render(view);
  comparison.render(view);
  renderActivity();
  persistSoon();
}

function renderActivity(): void {
  if (model.ver.log === logVer) return;
  logVer = model.ver.log;
  const r = model.rejected;
  notices.classList.toggle('hidden', r.length === 0);
  if (r.length > 0) {
    const last = r[r.length - 1];
    const ignored = `Ignored ${r.length} host message${r.length === 1 ? '' : 's'} that did not match the protocol. `;
    replaceChildren(notices, h('strong', '', ignored), h('span', 'rejected-reason', `Last: ${last.reason}`));
  }
  const start = model.startT ?? model.log[0]?.t ?? 0;
  activity.note.textContent = ` ${model.log.length} phase message${model.log.length === 1 ? '' : 's'}`;
  const items = model.log.map((l) =>
    h('li', '', h('span', 'log-t', duration(l.t - start)), h('span', 'log-phase', l.phase), h('span', 'log-text', l.text)),
  );
  replaceChildren(activity.body, items.length ? h('ol', 'log', ...items) : h('p', 'muted', 'Phase messages appear here as the run goes.'));
}

// --- state that survives a reload ------------------------------------------------------------------
let persistTimer: ReturnType<typeof setTimeout> | null = null;

function persistSoon(): void {
  if (persistTimer !== null) return;
  persistTimer = setTimeout(() => {
    persistTimer = null;
    vscode.setState({ model });
  }, PERSIST_MS);
}

// --- host messages ------------------------------------------------------------------------------------
function rejectMessage(data: unknown, reason: string): void {
  const named = typeof data === 'object' && data !== null && typeof (data as { type?: unknown }).type === 'string';
  const type = named ? (data as { type: string }).type : typeof data;
  const text = `${type.slice(0, 60)}: ${reason}`;
  console.warn('[dashboard] rejected host message:', text);
  reject(model, text);
}

function issueText(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  const i = error.issues[0];
  return i ? `${i.path.map(String).join('.') || '(message)'}: ${i.message}` : 'invalid';
}

window.addEventListener('message', (ev: MessageEvent<unknown>) => {
  const parsed = HostToWebviewSchema.safeParse(ev.data);
  if (parsed.success) {
    model = applyHostMessage(model, parsed.data);
  } else {
    const data = ev.data as { type?: unknown; events?: unknown };
    if (data && data.type === 'events/didAppend' && Array.isArray(data.events)) {
      // One bad event must not hide a batch of good ones: check each, apply the valid ones in order.
      data.events.forEach((raw: unknown, i: number) => {
        const r = TimedEventSchema.safeParse(raw);
        if (r.success) applyEvent(model, r.data);
        else rejectMessage(ev.data, `events.${i}.${issueText(r.error)}`);
      });
    } else rejectMessage(ev.data, issueText(parsed.error));
  }
  invalidate();
});

// A live run's elapsed time moves between events.
setInterval(() => {
  if (model.run?.live && model.trainer?.state === 'running') invalidate();
}, 1000);

render();
post({ type: 'webview/ready' });
