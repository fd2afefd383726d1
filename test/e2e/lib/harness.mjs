// End-to-end harness: the packaged .vsix in a real VS Code (code-server, VS Code 1.139 served to a
// browser) driven by headless Debian Chromium through playwright-core. Offline; prerequisites come
// from scripts/e2e-setup.sh (cached under ~/.cache/alol-e2e) and `npm run package` (the .vsix).
//
//   const server = await startCodeServer({ workspace, extensions: [vsixPath()] });
//   const wb = await openWorkbench(server);
//   await runCommand(wb.page, 'A-LoL: Show Version');
//   await notification(wb.page, 'A-LoL Studio').waitFor();
//   await webviewFrame(wb.page).locator('h1').textContent();   // a webview's DOM
//   await screenshot(wb.page, 'name');                          // test/e2e/artifacts/name.png
//   await wb.close(); await server.stop();
//
// Every process started here runs in its own process group (detached) and is killed as a group in
// stop()/close(), and on exit or SIGINT/SIGTERM of the test process as a last resort.
// Environment: ALOL_E2E_CACHE, ALOL_E2E_CODE_SERVER, ALOL_E2E_CHROMIUM, ALOL_E2E_VSIX override locations;
// ALOL_E2E_KEEP=1 keeps the temporary folders (logs, user data) and prints where they are.
import { spawn, spawnSync } from 'node:child_process';
import { it } from 'node:test';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const ARTIFACTS = path.join(ROOT, 'test', 'e2e', 'artifacts');
export const CACHE = process.env.ALOL_E2E_CACHE ?? path.join(os.homedir(), '.cache', 'alol-e2e');
export const CODE_SERVER = process.env.ALOL_E2E_CODE_SERVER ?? path.join(CACHE, 'bin', 'code-server');
export const CHROMIUM = process.env.ALOL_E2E_CHROMIUM ?? '/usr/bin/chromium';
// Without the background-networking flags Chromium floods the closed network.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const KEEP = process.env.ALOL_E2E_KEEP === '1';

export const MANIFEST = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
export const EXTENSION_ID = `${MANIFEST.publisher}.${MANIFEST.name}`;

/** The .vsix `npm run package` writes (ALOL_E2E_VSIX overrides it); fails clearly when it is missing. */
export function vsixPath() {
  const file = process.env.ALOL_E2E_VSIX
    ? path.resolve(process.env.ALOL_E2E_VSIX) : path.join(ROOT, `${MANIFEST.name}-linux-x64-${MANIFEST.version}.vsix`);
  if (!fs.existsSync(file)) throw new Error(`${path.relative(ROOT, file)} is missing: run \`npm run package\``);
  return file;
}

// ---- process bookkeeping -------------------------------------------------------------------------

const groups = new Set(); // pids of detached process groups still alive
const tmpDirs = new Set(); // temporary folders to remove on exit
function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: gone
  }
}
process.on('exit', () => {
  for (const pid of groups) killGroup(pid, 'SIGKILL');
  if (!KEEP) for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.once(signal, () => process.exit(code)); // runs the 'exit' handler above
}

/** Resolves when `pid`'s process group has no members left, or false after `ms`. */
async function groupGone(pid, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!killGroup(pid, 0)) return true;
    await sleep(100);
  }
  return !killGroup(pid, 0);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves with f()'s first truthy value (f may be async), polling every 250 ms; rejects after `ms` naming `what`. */
export async function until(what, ms, f) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

/** `promise`, or a rejection naming `what` after `ms`. */
export async function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---- code-server ---------------------------------------------------------------------------------

function requireCodeServer() {
  if (!fs.existsSync(CODE_SERVER)) throw new Error(`${CODE_SERVER} is missing: run scripts/e2e-setup.sh`);
}

/**
 * Installs a .vsix into `extensionsDir` with code-server's own installer and returns the installed
 * extension's folder (what VS Code loads).
 */
export function installVsix(vsix, extensionsDir) {
  requireCodeServer();
  fs.mkdirSync(extensionsDir, { recursive: true });
  const before = new Set(fs.readdirSync(extensionsDir));
  const r = spawnSync(CODE_SERVER, ['--install-extension', vsix, '--extensions-dir', extensionsDir, '--force'],
    { encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) {
    throw new Error(`code-server --install-extension ${vsix} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  }
  const id = path.basename(vsix).startsWith(MANIFEST.name) ? EXTENSION_ID.toLowerCase() : '';
  const added = fs.readdirSync(extensionsDir).filter((d) => !before.has(d) && fs.statSync(path.join(extensionsDir, d)).isDirectory());
  const folder = added.find((d) => d.toLowerCase().startsWith(id)) ?? added[0]
    ?? fs.readdirSync(extensionsDir).find((d) => id && d.toLowerCase().startsWith(id));
  if (!folder) throw new Error(`installed ${vsix} but found no new folder in ${extensionsDir}`);
  return path.join(extensionsDir, folder);
}

const DEFAULT_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'chat.disableAIFeatures': true,
  'git.enabled': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
};

/**
 * Starts code-server on a free port with fresh user-data and extensions folders.
 * @param {object} [o]
 * @param {string} [o.workspace] folder to open (default: a new empty one)
 * @param {string[]} [o.extensions] .vsix files to install first
 * @param {boolean} [o.smokeTestDriver] --vscode-option enable-smoke-test-driver (needed for the
 *   extension-test payload; hides notification toasts)
 * @param {boolean} [o.workspaceTrust] keep Workspace Trust on (default off: --disable-workspace-trust)
 * @param {object} [o.settings] user settings merged over DEFAULT_SETTINGS
 * @param {object} [o.env] extra environment (the extension host inherits it)
 * @param {number} [o.timeoutMs] how long /healthz may take (default 60 s)
 */
export async function startCodeServer(o = {}) {
  requireCodeServer();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'alol-e2e-'));
  tmpDirs.add(tmp);
  const userDataDir = path.join(tmp, 'user-data');
  const extensionsDir = path.join(tmp, 'extensions');
  const workspace = o.workspace ?? path.join(tmp, 'workspace');
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  fs.mkdirSync(extensionsDir, { recursive: true });
  fs.mkdirSync(workspace, { recursive: true });
  fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'),
    JSON.stringify({ ...DEFAULT_SETTINGS, ...o.settings }, null, 2));
  const installed = (o.extensions ?? []).map((vsix) => installVsix(vsix, extensionsDir));

  const port = await freePort();
  const log = path.join(tmp, 'code-server.log');
  const fd = fs.openSync(log, 'a');
  const args = ['--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check',
    ...(o.workspaceTrust ? [] : ['--disable-workspace-trust']),
    '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--config', path.join(tmp, 'config.yaml'),
    ...(o.smokeTestDriver ? ['--vscode-option', 'enable-smoke-test-driver'] : []),
    workspace];
  // ALOL_E2E_USER_DATA: extension-host tests read output channels from the logs under it.
  const child = spawn(CODE_SERVER, args, {
    detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ALOL_E2E_USER_DATA: userDataDir, ...o.env },
  });
  fs.closeSync(fd);
  groups.add(child.pid);
  let exited = null;
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exited = { code, signal }))));
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (groups.has(child.pid)) {
      killGroup(child.pid, 'SIGTERM');
      if (!(await groupGone(child.pid, 10_000))) {
        killGroup(child.pid, 'SIGKILL');
        await groupGone(child.pid, 5_000);
      }
      groups.delete(child.pid);
    }
    if (KEEP) console.log(`# kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
    tmpDirs.delete(tmp);
  };
  const server = { url, port, pid: child.pid, workspace, userDataDir, extensionsDir, installed, tmp, log, exit, stop,
    logTail: (n) => tail(log, n) };

  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`code-server exited (${exited.code ?? exited.signal}) before answering:\n${tail(log)}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return server;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      const text = tail(log);
      await stop();
      throw new Error(`code-server did not answer ${url}/healthz within ${(o.timeoutMs ?? 60_000) / 1000} s:\n${text}`);
    }
    await sleep(250);
  }
}

// ---- UI suites -----------------------------------------------------------------------------------

/** `it` that saves a screenshot (`<prefix>-failed-N`) of `getPage()` when its body throws. */
export function screenshotStep(prefix, getPage) {
  let failures = 0;
  return (name, body) => it(name, async () => {
    try {
      await body();
    } catch (e) {
      const page = getPage();
      if (page) console.log(`# failure screenshot: ${await screenshot(page, `${prefix}-failed-${++failures}`).catch((x) => x.message)}`);
      throw e;
    }
  });
}

/** Seconds each named piece of a suite took: `timed(name, f)` runs f and records it in `timings`. */
export function stopwatch() {
  const timings = {};
  const timed = async (name, f) => {
    const t0 = Date.now();
    try {
      return await f();
    } finally {
      timings[name] = (Date.now() - t0) / 1000;
    }
  };
  return { timings, timed };
}

/** A UI suite's `after`: prints the timings, closes the browser and the server, removes the workspace (kept with ALOL_E2E_KEEP=1). */
export async function closeUiSuite({ wb, server, ws, timings }) {
  if (timings) console.log(`# timings (s): ${JSON.stringify(timings)}`);
  await wb?.close();
  await server?.stop();
  if (ws && !KEEP) fs.rmSync(ws, { recursive: true, force: true });
  else if (ws) console.log(`# kept workspace ${ws}`);
}

// ---- browser -------------------------------------------------------------------------------------

/**
 * Opens the workbench of `server` in headless Chromium.
 * @param {object} server from startCodeServer
 * @param {object} [o]
 * @param {string} [o.folder] folder to open (default server.workspace)
 * @param {Array<[string,string]>} [o.payload] VS Code payload entries (needs smokeTestDriver)
 * @param {(code: number) => void} [o.onExit] exposed as window.codeAutomationExit before loading
 * @param {{width:number,height:number}} [o.viewport]
 * @param {number} [o.timeoutMs] for the browser start and the workbench to appear (default 60 s)
 * @param {string} [o.consoleLog] append the page's console messages (the workbench's log) to this file
 * @returns {Promise<{browser, context, page, errors: string[], close: () => Promise<void>}>}
 */
export async function openWorkbench(server, o = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/e2e-setup.sh`);
  const timeout = o.timeoutMs ?? 60_000;
  // Playwright starts Chromium detached (its own process group) and kills the group on close().
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout });
  const close = async () => {
    await withTimeout(browser.close(), 15_000, 'closing Chromium').catch(() => {});
  };
  try {
    const context = await browser.newContext({ viewport: o.viewport ?? { width: 1400, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // The workbench's own log (the renderer's; with the smoke-test driver it is mirrored to the console).
    if (o.consoleLog) {
      page.on('console', (m) => {
        try {
          fs.appendFileSync(o.consoleLog, `${m.type()}: ${m.text()}\n`);
        } catch {
          // the server's folder is gone: the run is over
        }
      });
    }
    if (o.onExit) await page.exposeFunction('codeAutomationExit', (code) => o.onExit(code));
    let url = `${server.url}/?folder=${encodeURIComponent(o.folder ?? server.workspace)}`;
    if (o.payload) url += `&payload=${encodeURIComponent(JSON.stringify(o.payload))}`;
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout });
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout });
    return { browser, context, page, errors, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * Runs a command by its palette title ('A-LoL: Show Version'): F1, type, wait for the row, Enter.
 * On a cold start the palette's command list can be stale, so it closes and reopens the palette
 * until the row appears or `timeoutMs` passes. Returns the number of attempts. `opensQuickPick`: the
 * command asks a question in the quick input, so do not wait for it to close.
 */
export async function runCommand(page, title, { timeoutMs = 60_000, opensQuickPick = false } = {}) {
  const deadline = Date.now() + timeoutMs;
  const input = page.locator('.quick-input-widget .quick-input-box input');
  const rows = page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: title });
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('F1');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(`>${title}`);
    try {
      await rows.first().waitFor({ state: 'visible', timeout: 3_000 });
    } catch {
      await page.keyboard.press('Escape');
      if (Date.now() > deadline) {
        throw new Error(`command palette never listed "${title}" within ${timeoutMs / 1000} s (${attempt} attempts)`);
      }
      console.log(`# retry: the command palette did not list "${title}" (attempt ${attempt}); reopening it`);
      await sleep(1_000);
      continue;
    }
    // Enter runs the focused row; click ours instead if another one has the focus.
    if (await rows.and(page.locator('.focused')).count()) await input.press('Enter');
    else await rows.first().click();
    // A command that asks something opens the quick input again (with its own placeholder). Its first run activates
    // the extension, which on a busy machine took longer than 10 s: wait for the product, bounded, saying so.
    const question = page.locator('.quick-input-widget .quick-input-box input:not([aria-label*="command"])');
    const answer = opensQuickPick
      ? question.waitFor({ state: 'visible', timeout: 60_000 })
      : input.waitFor({ state: 'hidden', timeout: 60_000 });
    await answer.catch((e) => {
      const what = opensQuickPick ? 'did not ask its question' : 'did not close the palette';
      throw new Error(`ran "${title}", but it ${what} within 60 s (extension activation or the command itself is slow): ${e.message}`);
    });
    return attempt;
  }
}

/**
 * Runs the item `label` of `target`'s context menu: a right-click opens the menu, then the keyboard picks the item. Not a
 * click on the item: VS Code's menu items start listening for the mouse only 100 ms after the menu renders (a timer, so
 * later on a busy machine; it keeps the right-click's own release from choosing an item), and a click before that is
 * dropped with the menu left open (seen in CI and reproduced under load: "Delete Run..." highlighted, nothing run).
 * ArrowDown moves the menu's focus item by item (each move waited for in the DOM); Enter runs the focused item.
 */
export async function runContextMenuItem(page, target, label) {
  await target.click({ button: 'right' });
  const menu = page.locator('.context-view .monaco-menu');
  await menu.waitFor({ state: 'visible', timeout: 15_000 });
  await page.waitForFunction(() => Boolean(document.activeElement?.closest('.context-view')), null, { timeout: 15_000 });
  const labels = (await menu.locator('.action-item:not(.disabled) .action-label').allInnerTexts()).map((t) => t.trim());
  if (!labels.some((t) => t.startsWith(label))) throw new Error(`the context menu has no item "${label}" (it has: ${labels.join(', ')})`);
  const focused = menu.locator('.action-item.focused .action-label');
  let before = null;
  for (let i = 0; i <= labels.length; i++) {
    await page.keyboard.press('ArrowDown');
    const now = await until(`the context menu's focus to move past "${before}"`, 15_000, async () => {
      const t = (await focused.count()) === 1 ? (await focused.innerText()).trim() : null;
      return t !== null && t !== before ? t : null;
    });
    if (now.startsWith(label)) {
      await page.keyboard.press('Enter');
      await menu.waitFor({ state: 'hidden', timeout: 15_000 });
      return;
    }
    before = now;
  }
  throw new Error(`ArrowDown never focused "${label}" in the context menu (${labels.join(', ')})`);
}

/**
 * A notification toast containing `text`, once its fade-in has finished (so a screenshot shows it
 * fully). Toasts are hidden in smoke-test-driver mode.
 */
export function notification(page, text) {
  return page.locator('.notifications-toasts .notification-toast.notification-fade-in-done', { hasText: text });
}

/**
 * A webview's document: its DOM is two iframes deep. `index` picks among several open webviews
 * (order of the outer iframes in the page).
 */
export function webviewFrame(page, { index = 0 } = {}) {
  return page.frameLocator('iframe.webview.ready').nth(index).frameLocator('#active-frame');
}

/** Saves a PNG of the page to test/e2e/artifacts/<name>.png and returns its path. */
export async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name.replace(/[^\w.-]+/g, '_')}.png`);
  await page.screenshot({ path: file });
  return file;
}

// ---- extension-host tests ------------------------------------------------------------------------

/**
 * `done`, followed by what VS Code writes to `logFile` (the extension host's output, mocha's progress among it) rather
 * than by the clock: on a busy machine the whole suite took longer than 120 s while every test was progressing. Rejects,
 * saying which, when the log has not grown for `stallMs` (the suite hangs) or after `maxMs` in all.
 */
async function whileLogGrows(done, logFile, what, { stallMs, maxMs }) {
  const start = Date.now();
  const sizeNow = () => {
    try {
      return fs.statSync(logFile).size;
    } catch {
      return 0;
    }
  };
  let size = -1;
  let grew = start;
  let timer;
  const watch = new Promise((_, reject) => {
    timer = setInterval(() => {
      const now = sizeNow();
      if (now !== size) [size, grew] = [now, Date.now()];
      if (Date.now() - grew > stallMs) reject(new Error(`timed out: ${what}: no output from VS Code for ${stallMs / 1000} s`));
      else if (Date.now() - start > maxMs) reject(new Error(`timed out: ${what}: still running after ${maxMs / 1000} s`));
    }, 1_000);
  });
  try {
    return await Promise.race([done, watch]);
  } finally {
    clearInterval(timer);
  }
}

/**
 * Runs a mocha suite inside the real extension host (what @vscode/test-electron does), with
 * `extensionPath` as the development extension. The suite module (`testsPath`, without .js) exports
 * run(); it reports to the JSON file named by ALOL_E2E_RESULTS (the host's stdout is not visible).
 * @returns {Promise<{exitCode: number, results: any, server, logs: string}>}
 */
export async function runExtensionTests({ extensionPath, testsPath, workspace, timeoutMs = 120_000, env = {} }) {
  const resultsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alol-e2e-results-')), 'results.json');
  const server = await startCodeServer({ workspace, smokeTestDriver: true, env: { ...env, ALOL_E2E_RESULTS: resultsFile } });
  let wb;
  try {
    let onExit;
    const exited = new Promise((resolve) => (onExit = resolve));
    const remote = (p) => `vscode-remote://127.0.0.1:${server.port}${p}`;
    wb = await openWorkbench(server, {
      onExit,
      consoleLog: path.join(server.tmp, 'workbench-console.log'),
      payload: [['extensionDevelopmentPath', remote(extensionPath)], ['extensionTestsPath', remote(testsPath)]],
    });
    const what = `extension tests ${path.relative(ROOT, testsPath)} (no codeAutomationExit call)`;
    const exitCode = await whileLogGrows(exited, server.log, what, { stallMs: timeoutMs, maxMs: 900_000 })
      .catch((e) => {
        throw new Error(`${e.message}\n--- code-server log ---\n${server.logTail(40)}\n--- extension host log ---\n${extHostLog(server)}`);
      });
    let results;
    try {
      results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
    } catch (e) {
      throw new Error(`the suite exited with ${exitCode} but wrote no results to ${resultsFile} (${e.message})\n`
        + `--- extension host log ---\n${extHostLog(server)}`);
    }
    return { exitCode, results, logs: `${extHostLog(server)}\n--- workbench log (warnings, errors, saves) ---\n${workbenchLog(server)}` };
  } finally {
    await wb?.close();
    await server.stop();
    fs.rmSync(path.dirname(resultsFile), { recursive: true, force: true });
  }
}

/** The workbench's console lines that tell why something failed: warnings, errors and anything about saving. */
function workbenchLog(server, lines = 80) {
  try {
    const text = fs.readFileSync(path.join(server.tmp, 'workbench-console.log'), 'utf8');
    return text.split('\n').filter((l) => /^(warning|error)|save/i.test(l)).slice(-lines).join('\n') || '(nothing)';
  } catch {
    return '(no workbench console log)';
  }
}

/** The tail of the remote extension host's log(s) under the server's user-data folder. */
export function extHostLog(server, lines = 60) {
  const found = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/exthost\.log$/i.test(e.name)) found.push(p);
    }
  };
  try {
    walk(path.join(server.userDataDir, 'logs'));
  } catch {
    // no logs yet
  }
  return found.map((f) => `== ${path.relative(server.userDataDir, f)}\n${tail(f, lines)}`).join('\n') || '(no extension host log)';
}

// ---- editor helpers ------------------------------------------------------------------------------

/** The quick input's text box (palette, quick open, go to line, input boxes). */
export const quickInput = (page) => page.locator('.quick-input-widget .quick-input-box input');

/**
 * Opens a file at the workspace's root and waits for its tab to be the active one. The Explorer lists the root straight
 * from disk, so the file is clicked there (Ctrl+Shift+E shows the Explorer); quick open (Ctrl+P) needs VS Code's file
 * search, which on a busy machine listed the file only after tens of seconds, so it is the way for a file the Explorer
 * does not show. Quick open's list re-renders when file-search results arrive after the recently-opened ones, so it
 * waits for it to settle and retries if another file opened.
 */
export async function openFile(page, name, { timeoutMs = 30_000 } = {}) {
  const exact = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  const named = page.locator('.label-name', { hasText: exact });
  await page.keyboard.press('Control+Shift+E');
  const inExplorer = page.locator('div[id="workbench.view.explorer"] .monaco-list-row').filter({ has: named }).first();
  if (await inExplorer.waitFor({ state: 'visible', timeout: 15_000 }).then(() => true, () => false)) {
    await inExplorer.click();
    await activeTab(page, name).waitFor({ state: 'visible', timeout: timeoutMs })
      .catch((e) => { throw new Error(`clicked ${name} in the Explorer, but its editor did not become active: ${e.message}`); });
    return 1;
  }
  console.log(`# the Explorer does not list ${name}: opening it by quick open`);
  const input = quickInput(page);
  const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ has: named });
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('Control+P');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(name);
    try {
      await row.first().waitFor({ state: 'visible', timeout: 5_000 });
      await sleep(750); // let the file-search results land
      await row.first().click({ timeout: 5_000 });
      await input.waitFor({ state: 'hidden', timeout: 10_000 });
      await activeTab(page, name).waitFor({ state: 'visible', timeout: 5_000 });
      return attempt;
    } catch (e) {
      if (await input.isVisible()) await page.keyboard.press('Escape');
      if (Date.now() > deadline) {
        throw new Error(`could not open ${name} by quick open within ${timeoutMs / 1000} s (${attempt} attempts): ${e.message}`);
      }
      console.log(`# retry: quick open of ${name} (attempt ${attempt}): ${e.message.split('\n')[0]}`);
      await sleep(500);
    }
  }
}

/** The active tab of the active editor group, if its label contains `name`. */
export function activeTab(page, name) {
  return page.locator('.editor-group-container.active .tab.active', { hasText: name });
}

/** The status-bar item with the cursor position ("Ln 12, Col 1"). */
export function cursorStatus(page) {
  return page.locator('[id="status.editor.selection"]');
}

/** The rows of the quick input's list (palette entries, quick-pick items, Go to Line's offer). */
export const quickRows = (page) => page.locator('.quick-input-widget .quick-input-list .monaco-list-row');

/**
 * Moves the cursor of the active editor to the start of `line` (Ctrl+G) and waits for the status bar to
 * say so. Enter is pressed only once the picker offers that line, and the whole move is tried again
 * (up to 3 times) if a busy workbench dropped a key.
 */
export async function goToLine(page, line) {
  const input = quickInput(page);
  const offer = quickRows(page).filter({ hasText: new RegExp(`go to line ${line}\\b`) }).first();
  const there = cursorStatus(page).filter({ hasText: new RegExp(`^\\s*Ln ${line}, Col 1\\b`) });
  for (let attempt = 1; ; attempt++) {
    try {
      await page.keyboard.press('Control+G');
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill(`:${line}`);
      await offer.waitFor({ state: 'visible', timeout: 10_000 });
      await input.press('Enter');
      await input.waitFor({ state: 'hidden', timeout: 5_000 });
      await there.waitFor({ state: 'visible', timeout: 10_000 });
      return;
    } catch (e) {
      if (await input.isVisible()) await page.keyboard.press('Escape');
      if (attempt >= 3) throw e;
      console.log(`# retry: Go to Line ${line} (attempt ${attempt}): ${e.message.split('\n')[0]}`);
    }
  }
}

/**
 * Answers an input box a command opened (showInputBox): waits for the quick input to show without
 * the palette's '>' prefix, types `text`, Enter.
 */
export async function answerInput(page, text, { timeoutMs = 10_000 } = {}) {
  const input = quickInput(page);
  await input.waitFor({ state: 'visible', timeout: timeoutMs });
  const deadline = Date.now() + timeoutMs;
  while ((await input.inputValue()).startsWith('>')) {
    if (Date.now() > deadline) throw new Error('the quick input still shows the command palette');
    await sleep(100);
  }
  await input.fill(text);
  await input.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: timeoutMs });
}
