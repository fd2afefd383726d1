// UI test of the reward-debugging commands: the packaged .vsix in code-server, the workbench in
// headless Chromium, commands from the palette as a user runs them.
//  - New Reward Function: the typed template rewards/<name>.ts, opened in the editor, and the component
//    added to the chosen run config on disk (one inserted line; comments and layout kept); that config is the
//    workspace's now (status bar), so Score Row asks nothing and shows the new component. The run config is
//    switched with Choose Run Config and with a click on the status-bar item.
//  - Score Row / Selection: every component (field, builtin, module) and the weighted total after the
//    row and in the "A-LoL Rewards" output, against values computed here from the rows.
//  - Check Reward Function: a module that returns NaN on one row gets a Problem on that row only (and
//    a squiggle there); after fixing the module a new check clears it.
//  - An untrusted workspace (Workspace Trust on, Restricted Mode): Score Row and Check Reward Function
//    refuse with a warning saying why and offering "Manage Workspace Trust"; the module never runs.
// Needs `npm run package` and scripts/e2e-setup.sh.
import { after, before, describe } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import {
  ROOT, activeTab, cursorStatus, goToLine, notification, openFile, openWorkbench, quickInput, quickRows, runCommand, screenshot,
  sleep, startCodeServer, vsixPath,
  closeUiSuite, screenshotStep, stopwatch,
} from './lib/harness.mjs';

const KEEP = process.env.ALOL_E2E_KEEP === '1';
const ALOL = path.join(ROOT, 'bin', 'alol.js');

// ---- the workspace -------------------------------------------------------------------------------

// Row rN is on line N + 1. Responses chosen so the components differ row to row.
const ROWS = [
  { id: 'r0', prompt: 'Human: hi\n\nAssistant:', response: ' Hello there, how can I help you today?', reward: 0.25 },
  { id: 'r1', prompt: 'Human: are you there?\n\nAssistant:', response: ' No', reward: 0.5 },
  { id: 'r2', prompt: 'Human: should I paint the fence?\n\nAssistant:', response: ' I think it is a fine idea, go ahead', reward: 0.75 },
  { id: 'r3', prompt: 'Human: can you help?\n\nAssistant:', response: ' Sure.', reward: 1 },
  {
    id: 'r4', prompt: 'Human: thanks\n\nAssistant:',
    response: ' Happy to help. Anything else you would like to know about fences or paint?', reward: 0,
  },
  { id: 'r5', prompt: 'Human: bye\n\nAssistant:', response: ' Goodbye and good luck with the fence!', reward: 0.125 },
];
/** One JSONL line in the `{"k": v, "k": v}` style. */
const line = (fields) => `{${Object.entries(fields).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')}}`;
const DATA = `${ROWS.map(line).join('\n')}\n`;
const lineOf = (id) => ROWS.findIndex((r) => r.id === id) + 1;

// Score Row's config: a field, a builtin and a module component (weight 0.5).
const SCORE_CONFIG = {
  data: { path: 'data.jsonl' },
  rewards: [
    { name: 'label', kind: 'field', field: 'reward' },
    { name: 'brevity', kind: 'builtin', scorer: 'length', options: { target: 10 } },
    { name: 'chars', kind: 'module', path: 'rewards/chars.ts', range: [0, 1], weight: 0.5 },
  ],
};
const CHARS_TS = `// Response length in characters / 100.
export default function score(batch: { response: string }[]): number[] {
  return batch.map((x) => x.response.length / 100);
}
`;
// Check Reward Function's config: one module component, NaN on row r3 only.
const CHECK_CONFIG = {
  data: { path: 'data.jsonl' },
  rewards: [
    { name: 'label', kind: 'field', field: 'reward' },
    { name: 'nan_reward', kind: 'module', path: 'rewards/nan_reward.ts', range: [0, 1] },
  ],
};
const NAN_TS = (bad) => `export default function score(batch: { response: string; row: Record<string, unknown> }[]): number[] {
  return batch.map((x) => (x.row.id === ${JSON.stringify(bad)} ? NaN : 0.5));
}
`;
// New Reward Function's target: JSON with comments, one field component.
const NEW_CONFIG = `{
  // the config New Reward Function adds to (this comment stays)
  "data": { "path": "data.jsonl" },
  "rewards": [
    { "name": "label", "kind": "field", "field": "reward" }
  ]
}
`;

// ---- expected values, computed from the rows -----------------------------------------------------

const words = (s) => s.split(/\s+/).filter((w) => w !== '').length;
/** Per component of SCORE_CONFIG: builtin length with target 10 = max(0, 1 - |words - 10| / 10). */
const SCORERS = {
  label: (r) => r.reward,
  brevity: (r) => Math.max(0, 1 - Math.abs(words(r.response) - 10) / 10),
  chars: (r) => r.response.length / 100,
  // The New Reward Function template: 0.5 for a response ending in . ! or ?, 0.5 for 5..60 words.
  len_reward: (r) => (/[.!?]\s*$/.test(r.response) ? 0.5 : 0) + (words(r.response.trim()) >= 5 && words(r.response.trim()) <= 60 ? 0.5 : 0),
};
function expectedScores(row, components) {
  const values = Object.fromEntries(components.map((c) => [c.name, SCORERS[c.name](row)]));
  const total = components.reduce((s, c) => s + (c.weight ?? 1) * values[c.name], 0);
  return { total, values };
}

/** "total 1.830 · label 0.750 · chars 0.360" -> { total, values: {label: 0.75, ...}, names: [...] }. */
function parseScores(text) {
  const m = /total (-?\d+(?:\.\d+)?)((?: · [\w.-]+ -?\d+(?:\.\d+)?)*)/.exec(text);
  if (!m) return null;
  const pairs = [...m[2].matchAll(/ · ([\w.-]+) (-?\d+(?:\.\d+)?)/g)].map((p) => [p[1], Number(p[2])]);
  return { total: Number(m[1]), values: Object.fromEntries(pairs), names: pairs.map((p) => p[0]) };
}

/** Problems with what the user sees: shown scores vs expected ones (3 decimals as displayed). */
function compareScores(where, shown, want, names) {
  if (!shown) return [`${where}: no "total … · name value …" text`];
  const out = [];
  if (JSON.stringify(shown.names) !== JSON.stringify(names)) {
    out.push(`${where}: components ${JSON.stringify(shown.names)}, want ${JSON.stringify(names)}`);
  }
  const close = (a, b) => Math.abs(a - b) <= 0.0006;
  if (!close(shown.total, want.total)) out.push(`${where}: total ${shown.total}, want ${want.total.toFixed(3)}`);
  for (const n of names) {
    if (!(n in shown.values) || !close(shown.values[n], want.values[n])) {
      out.push(`${where}: ${n} ${shown.values[n]}, want ${want.values[n].toFixed(3)}`);
    }
  }
  return out;
}

// ---- reading the workbench -----------------------------------------------------------------------

const unquote = (css) => (css && css !== 'none' && css !== 'normal' ? css.replace(/^"|"$/g, '').replace(/\\(.)/g, '$1') : '');

/**
 * The text the editor renders after the row `id` (an `after` decoration: a ::after pseudo-element
 * of an empty span at the end of the line), or '' when there is none (or the row is not rendered).
 */
async function afterText(page, id) {
  return page.evaluate(({ prefix }) => {
    const ed = document.querySelector('.editor-group-container.active .monaco-editor');
    const line = [...(ed?.querySelectorAll('.view-lines .view-line') ?? [])]
      .find((el) => el.textContent.replace(/\u00a0/g, ' ').startsWith(prefix));
    if (!line) return null;
    return [...line.querySelectorAll('span')].map((s) => getComputedStyle(s, '::after').content)
      .filter((c) => c && c !== 'none' && c !== 'normal');
  }, { prefix: `{"id": "${id}"` }).then((contents) => (contents ? contents.map(unquote).join('') : ''));
}

/** Polls `f()` until `pred(value)`; returns the last value (after `ms` at most). */
async function poll(f, pred, ms = 30_000, every = 250) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (pred(v) || Date.now() > deadline) return v;
    await sleep(every);
  }
}

/** The lines of the Output panel's editor, top to bottom. */
async function outputLines(page) {
  return page.evaluate(() => {
    const lines = [...document.querySelectorAll('.part.panel .output-view .monaco-editor .view-lines .view-line')];
    return lines.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
      .map((l) => l.textContent.replace(/\u00a0/g, ' '));
  });
}

/** The channel the Output panel shows (its drop-down), or null when the Output panel is not visible. */
async function outputChannel(page) {
  const select = page.locator('.part.panel select.monaco-select-box').first();
  if (!(await page.locator('.part.panel .output-view').first().isVisible().catch(() => false))) return null;
  return select.evaluate((s) => s.options[s.selectedIndex]?.text ?? null).catch(() => null);
}

/**
 * The Problems view's markers: [{ file, line, text, severity }] (file from its group's header row).
 * The view must be open.
 */
async function problems(page) {
  const rows = await page.locator('.part.panel .markers-panel .monaco-list-row')
    .evaluateAll((els) => els.map((e) => ({ aria: e.getAttribute('aria-label') ?? '', text: e.innerText })));
  const out = [];
  let file = null;
  for (const r of rows) {
    const header = /problems? in file (.+?) of folder/.exec(r.aria);
    if (header) {
      file = header[1];
      continue;
    }
    const m = /^(Error|Warning|Info)\w*: (.*) at line (\d+) and character \d+/.exec(r.aria);
    if (m) out.push({ file, line: Number(m[3]), severity: m[1], text: m[2] });
  }
  return out;
}

/** Row ids of the visible lines of the active editor that carry an error squiggle. */
async function squiggledRows(page) {
  return page.evaluate(() => {
    const ed = document.querySelector('.editor-group-container.active .monaco-editor');
    if (!ed) return [];
    const squiggles = [...ed.querySelectorAll('.view-overlays .squiggly-error')].map((e) => e.getBoundingClientRect());
    const out = [];
    for (const el of ed.querySelectorAll('.view-lines .view-line')) {
      const r = el.getBoundingClientRect();
      const id = /^\{"id": "(r\d+)"/.exec(el.textContent.replace(/\u00a0/g, ' '))?.[1];
      if (id && squiggles.some((s) => s.height > 0 && s.top >= r.top - 1 && s.bottom <= r.bottom + 1)) out.push(id);
    }
    return out.sort();
  });
}

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The quick-pick row whose label is exactly `label`. */
const quickRow = (page, label) => quickRows(page)
  .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${esc(label)}\\s*$`) }) }).first();

/** Picks the run config `label` in the run config picker (open, or about to open). */
async function chooseConfig(page, label, { timeoutMs = 30_000 } = {}) {
  const want = quickRow(page, label);
  await want.waitFor({ state: 'visible', timeout: timeoutMs });
  await want.click();
  await quickInput(page).waitFor({ state: 'hidden', timeout: 10_000 });
}

/** The status-bar item that shows the workspace's run config (and switches it). */
const configStatus = (page) => page.locator('.part.statusbar .statusbar-item', { has: page.locator('.codicon-settings') });

/** Makes `label` the workspace's run config, as a user does: the palette's Choose Run Config, or a click on the status bar. */
async function useConfig(page, label, { via = 'palette' } = {}) {
  if (via === 'statusbar') await configStatus(page).first().click();
  else await runCommand(page, 'A-LoL: Choose Run Config', { opensQuickPick: true });
  await chooseConfig(page, label);
  await configStatus(page).filter({ hasText: label }).first().waitFor({ state: 'visible', timeout: 10_000 });
}

/**
 * Types `text` into the input box titled `title` and presses Enter (another question may follow);
 * Enter again if a busy workbench dropped it (the box still shows with the text).
 */
async function typeAnswer(page, title, text) {
  const input = page.locator(`.quick-input-widget .quick-input-box input[aria-label*="${title}"]`);
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill(text);
  for (let attempt = 1; ; attempt++) {
    await input.press('Enter');
    try {
      await input.waitFor({ state: 'hidden', timeout: 5_000 });
      return;
    } catch (e) {
      if (attempt >= 3 || (await input.inputValue().catch(() => '')) !== text) throw e;
      console.log(`# retry: Enter in "${title}" did not arrive (the box still holds the text); pressing it again`);
    }
  }
}

/** Closes whatever quick input or toast an earlier failure may have left. */
async function tidy(page) {
  for (let i = 0; i < 2 && (await quickInput(page).isVisible()); i++) await page.keyboard.press('Escape');
  await runCommand(page, 'Notifications: Clear All Notifications');
}

/** The file on disk once `pred(text)` holds (polled), else its last text. */
const fileWhen = (file, pred, ms = 15_000) =>
  poll(() => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null), (t) => t !== null && pred(t), ms, 100);

// ---- the tests -----------------------------------------------------------------------------------

describe('Reward debugging commands in VS Code (code-server + Chromium)', { timeout: 600_000 }, () => {
  let ws;
  let server;
  let wb;
  const step = screenshotStep('rewards', () => wb?.page);
  const { timings, timed } = stopwatch();

  before(async () => {
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'alol-e2e-rewards-'));
    fs.writeFileSync(path.join(ws, 'data.jsonl'), DATA);
    fs.mkdirSync(path.join(ws, 'rewards'));
    fs.writeFileSync(path.join(ws, 'rewards', 'chars.ts'), CHARS_TS);
    fs.writeFileSync(path.join(ws, 'rewards', 'nan_reward.ts'), NAN_TS('r3'));
    fs.writeFileSync(path.join(ws, 'score.json'), `${JSON.stringify(SCORE_CONFIG, null, 2)}\n`);
    fs.writeFileSync(path.join(ws, 'check.json'), `${JSON.stringify(CHECK_CONFIG, null, 2)}\n`);
    fs.writeFileSync(path.join(ws, 'new.jsonc'), NEW_CONFIG);
    server = await timed('code-server start', () => startCodeServer({
      workspace: ws, extensions: [vsixPath()],
      settings: { 'files.autoSave': 'off', 'workbench.editor.enablePreview': false, 'editor.wordWrap': 'off' },
    }));
    wb = await timed('workbench open', () => openWorkbench(server));
  });

  after(() => closeUiSuite({ wb, server, ws, timings }));

  step('New Reward Function writes the typed template, opens it and adds the component to the chosen run config', async () => {
    const page = wb.page;
    const file = path.join(ws, 'rewards', 'len_reward.ts');
    const configFile = path.join(ws, 'new.jsonc');
    await timed('new reward function', async () => {
      await runCommand(page, 'A-LoL: New Reward Function', { opensQuickPick: true });
      await typeAnswer(page, 'New Reward Function', 'len_reward');
      await chooseConfig(page, 'new.jsonc');
      await activeTab(page, 'len_reward.ts').waitFor({ state: 'visible', timeout: 30_000 });
    });
    await notification(page, 'rewards/len_reward.ts').waitFor({ state: 'visible', timeout: 15_000 });
    console.log(`# toast: ${JSON.stringify(await notification(page, 'rewards/len_reward.ts').innerText())}`);
    console.log(`# screenshot: ${await screenshot(page, 'rewards-new-function')}`);

    // The file: the typed template.
    assert.ok(fs.existsSync(file), 'rewards/len_reward.ts exists');
    const source = fs.readFileSync(file, 'utf8');
    assert.match(source, /export interface RewardInput \{[^}]*prompt: string;[^}]*response: string;/s,
      'the template declares RewardInput { prompt, response, … }');
    assert.match(source, /export default function score\(batch: RewardInput\[\]\): number\[\]/,
      'the template exports score(batch: RewardInput[]): number[]');
    assert.match(source, /"len_reward"/, 'the template names its component');
    // ... and it is what the editor shows.
    const shown = (await page.locator('.editor-group-container.active .monaco-editor .view-lines').innerText()).replace(/\u00a0/g, ' ');
    assert.match(shown, /export default function score\(batch: RewardInput\[\]\): number\[\]/, 'the editor shows the template');

    // The run config on disk: the new component appended, the other one and the comment kept.
    const text = await fileWhen(configFile, (t) => t.includes('len_reward'));
    const errors = [];
    const config = parseJsonc(text, errors, { allowTrailingComma: true });
    assert.deepEqual(errors, [], `new.jsonc still parses:\n${text}`);
    assert.ok(text.includes('// the config New Reward Function adds to (this comment stays)'),
      `the comment in new.jsonc is kept:\n${text}`);
    assert.equal(config.rewards.length, 2, `new.jsonc has two reward components:\n${text}`);
    assert.deepEqual(config.rewards[0], { name: 'label', kind: 'field', field: 'reward' }, 'the existing component is unchanged');
    const c = config.rewards[1];
    assert.deepEqual({ name: c.name, kind: c.kind, path: c.path, range: c.range },
      { name: 'len_reward', kind: 'module', path: 'rewards/len_reward.ts', range: [0, 1] }, `the new component: ${JSON.stringify(c)}`);
    assert.equal(c.weight ?? 1, 1, 'weight 1 (or the default)');
    // A minimal edit: the new component on a line of its own after the last one, every other byte as it was.
    const label = '    { "name": "label", "kind": "field", "field": "reward" }';
    const added = text.split('\n').find((l) => l.includes('"len_reward"'));
    assert.equal(text, NEW_CONFIG.replace(label, `${label},\n${added}`), `only one line was added to new.jsonc:\n${text}`);
    assert.match(added, /^ {4}\{ "name": "len_reward", /, 'the new line is indented like the one before it');
    // The trainer accepts the edited config and the template (a typo in either fails here).
    const cli = spawnSync(process.execPath, [ALOL, 'score-rows', '--config', 'new.jsonc', '--input', '-', '--json'],
      { cwd: ws, input: DATA.split('\n')[0], encoding: 'utf8', timeout: 60_000 });
    assert.equal(cli.status, 0, `alol score-rows on the edited config:\n${cli.stdout}\n${cli.stderr}`);

    // Score Row on r0 with that config now shows the new component too.
    await openFile(page, 'data.jsonl');
    await goToLine(page, lineOf('r0'));
    // The config chosen for New Reward Function is the workspace's now: Score Row asks nothing.
    await configStatus(page).filter({ hasText: 'new.jsonc' }).first().waitFor({ state: 'visible', timeout: 10_000 });
    await timed('score row (new component)', async () => {
      await runCommand(page, 'A-LoL: Score Row / Selection');
    });
    const inline = await poll(() => afterText(page, 'r0'), (t) => t.includes('total'));
    console.log(`# after r0: ${JSON.stringify(inline)}`);
    const comps = [{ name: 'label' }, { name: 'len_reward' }];
    assert.deepEqual(
      compareScores('inline score of r0 (new.jsonc)', parseScores(inline), expectedScores(ROWS[0], comps), comps.map((x) => x.name)), []);
  });

  step('Score Row / Selection shows every component and the weighted total after the row and in the "A-LoL Rewards" output', async () => {
    const page = wb.page;
    await tidy(page);
    const names = SCORE_CONFIG.rewards.map((c) => c.name);
    const problemsFound = [];
    await openFile(page, 'data.jsonl');
    const id = 'r2';
    await useConfig(page, 'score.json');
    await goToLine(page, lineOf(id));
    await timed('score row', async () => {
      await runCommand(page, 'A-LoL: Score Row / Selection');
    });
    const want = expectedScores(ROWS[lineOf(id) - 1], SCORE_CONFIG.rewards);
    const inline = await poll(() => afterText(page, id), (t) => t.includes('total') && t.includes('brevity'));
    console.log(`# after ${id}: ${JSON.stringify(inline)} (want total ${want.total.toFixed(3)}: ${JSON.stringify(want.values)})`);
    problemsFound.push(...compareScores(`inline score of ${id}`, parseScores(inline), want, names));
    for (const other of ['r1', 'r3']) {
      const t = await afterText(page, other);
      if (t.includes('total')) problemsFound.push(`row ${other} (not under the cursor) shows a score: ${JSON.stringify(t)}`);
    }

    // The output channel: shown, with this row's line.
    const out = await poll(() => outputLines(page), (ls) => ls.some((l) => l.includes(`line ${lineOf(id)}: total`)), 15_000);
    const channel = await outputChannel(page);
    if (channel !== 'A-LoL Rewards') problemsFound.push(`the Output panel shows ${JSON.stringify(channel)}, not "A-LoL Rewards"`);
    const outLine = out.filter((l) => l.includes(`line ${lineOf(id)}: total`)).pop();
    console.log(`# output: ${JSON.stringify(out)}`);
    problemsFound.push(...compareScores(`output line for ${id}`, outLine ? parseScores(outLine) : null, want, names));
    // The decoration after the (long) row in view, for the record.
    await page.keyboard.press('End');
    const editorBox = await page.locator('.editor-group-container.active .monaco-editor .view-lines').boundingBox();
    await page.mouse.move(editorBox.x + editorBox.width / 2, editorBox.y + 40);
    await page.mouse.wheel(5000, 0);
    await sleep(300);
    console.log(`# screenshot: ${await screenshot(page, 'rewards-score-row')}`);

    // A selection over two whole rows: each gets its own scores.
    await goToLine(page, lineOf('r4'));
    await page.keyboard.press('Shift+ArrowDown');
    await page.keyboard.press('Shift+End');
    await cursorStatus(page).filter({ hasText: /selected/ }).waitFor({ state: 'visible', timeout: 10_000 });
    await timed('score selection', async () => {
      await runCommand(page, 'A-LoL: Score Row / Selection');
    });
    for (const sid of ['r4', 'r5']) {
      const t = await poll(() => afterText(page, sid), (x) => x.includes('total'));
      console.log(`# after ${sid}: ${JSON.stringify(t)}`);
      problemsFound.push(...compareScores(
        `inline score of ${sid} (selection)`, parseScores(t), expectedScores(ROWS[lineOf(sid) - 1], SCORE_CONFIG.rewards), names));
    }
    assert.deepEqual(problemsFound, [], 'mismatches with the rows\' scores');
    assert.deepEqual(wb.errors, [], 'uncaught errors in the workbench page');
  });

  step('Check Reward Function reports the planted NaN as a problem on its row only; after the fix a new check clears it', async () => {
    const page = wb.page;
    await tidy(page);
    const bad = 'r3';
    await openFile(page, 'data.jsonl');
    await goToLine(page, 1);
    await useConfig(page, 'check.json', { via: 'statusbar' });
    await timed('check reward', async () => {
      await runCommand(page, 'A-LoL: Check Reward Function');
      // One module component in check.json: no component question expected; answer it if asked.
      if (await quickRow(page, 'nan_reward').isVisible().catch(() => false)) await quickRow(page, 'nan_reward').click();
      await notification(page, 'nan_reward').waitFor({ state: 'visible', timeout: 60_000 });
    });
    const toast = await notification(page, 'nan_reward').innerText();
    console.log(`# toast: ${JSON.stringify(toast)}`);
    assert.match(toast, /1 problem/, 'the toast counts one problem');

    await runCommand(page, 'View: Focus Problems (Errors, Warnings, Infos)');
    const found = await poll(() => problems(page), (p) => p.some((x) => /NaN/.test(x.text)), 15_000);
    console.log(`# problems: ${JSON.stringify(found)}`);
    const onData = found.filter((p) => p.file === 'data.jsonl');
    assert.equal(onData.length, 1, `one problem on data.jsonl: ${JSON.stringify(found)}`);
    assert.equal(onData[0].line, lineOf(bad), `the problem is on line ${lineOf(bad)} (row ${bad})`);
    assert.match(onData[0].text, /NaN/, 'it names NaN');
    assert.match(onData[0].text, /nan_reward/, 'it names the component');
    assert.equal(onData[0].severity, 'Error');
    const squiggled = await poll(() => squiggledRows(page), (s) => s.length > 0, 10_000);
    assert.deepEqual(squiggled, [bad], `an error squiggle on row ${bad} only`);
    console.log(`# screenshot: ${await screenshot(page, 'rewards-check-nan')}`);
    // The Problems view took the panel from the Output view; show the output again to read it.
    await page.locator('.part.panel .composite-bar .action-item', { hasText: /^Output$/ }).first().click();
    const lines = await poll(() => outputLines(page), (ls) => ls.some((l) => l.includes('check of nan_reward')), 10_000);
    const checkLine = lines.find((l) => l.includes('check of nan_reward'));
    const nanLine = lines.find((l) => l.includes(`nan on data.jsonl:${lineOf(bad)} (id ${bad})`));
    console.log(`# output: ${JSON.stringify(lines)}`);
    assert.ok(checkLine && /on 6 rows: 1 findings?/.test(checkLine), `the output sums up the check: ${JSON.stringify(checkLine)}`);
    assert.ok(nanLine && /NaN/.test(nanLine),
      `the output names the NaN on data.jsonl:${lineOf(bad)} (id ${bad}): ${JSON.stringify(lines)}`);

    // The user fixes the module (saved on disk) and checks again: no problems left.
    fs.writeFileSync(path.join(ws, 'rewards', 'nan_reward.ts'), NAN_TS('none'));
    await runCommand(page, 'Notifications: Clear All Notifications');
    await timed('check reward (fixed)', async () => {
      await runCommand(page, 'A-LoL: Check Reward Function');
      if (await quickRow(page, 'nan_reward').isVisible().catch(() => false)) await quickRow(page, 'nan_reward').click();
      await notification(page, 'no problems on 6 rows').waitFor({ state: 'visible', timeout: 60_000 });
    });
    await runCommand(page, 'View: Focus Problems (Errors, Warnings, Infos)');
    const left = await poll(() => problems(page), (p) => !p.some((x) => x.file === 'data.jsonl'), 10_000);
    assert.deepEqual(left.filter((p) => p.file === 'data.jsonl'), [], 'no problems on data.jsonl after the fix');
    assert.deepEqual(await poll(() => squiggledRows(page), (s) => s.length === 0, 10_000), [], 'no squiggles after the fix');
    assert.deepEqual(wb.errors, [], 'uncaught errors in the workbench page');
  });
});

describe('Reward commands in an untrusted workspace (Restricted Mode)', { timeout: 300_000 }, () => {
  let ws;
  let server;
  let wb;
  const step = screenshotStep('rewards-untrusted', () => wb?.page);
  const marker = () => path.join(ws, 'MODULE_RAN');

  before(async () => {
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'alol-e2e-rewards-untrusted-'));
    fs.writeFileSync(path.join(ws, 'data.jsonl'), DATA);
    fs.mkdirSync(path.join(ws, 'rewards'));
    // Loading the module leaves a file: the proof it ran.
    fs.writeFileSync(path.join(ws, 'rewards', 'chars.ts'), `import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
writeFileSync(join(__dirname, '..', 'MODULE_RAN'), 'loaded');
${CHARS_TS}`);
    fs.writeFileSync(path.join(ws, 'score.json'), `${JSON.stringify(SCORE_CONFIG, null, 2)}\n`);
    server = await startCodeServer({
      workspace: ws, extensions: [vsixPath()], workspaceTrust: true, settings: { 'workbench.editor.enablePreview': false },
    });
    wb = await openWorkbench(server);
  });

  after(() => closeUiSuite({ wb, server, ws }));

  /** Runs a command that must refuse: fails clearly if it goes on to ask for a run config instead. */
  async function runRefused(page, title) {
    try {
      await runCommand(page, title);
    } catch (e) {
      const asked = (await quickInput(page).isVisible()) ? await quickInput(page).getAttribute('aria-label') : null;
      if (asked && !/command/i.test(asked)) assert.fail(`"${title}" went on in Restricted Mode and asked: ${JSON.stringify(asked)}`);
      throw e;
    }
  }

  step('Score Row and Check Reward Function refuse, say why and offer "Manage Workspace Trust"; the module does not run', async () => {
    const page = wb.page;
    // Do not trust: answer a trust prompt with "No" if one comes; the workbench is in Restricted Mode.
    const restricted = page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first();
    const prompt = page.locator('.monaco-dialog-box').filter({ hasText: /trust/i });
    await restricted.or(prompt).first().waitFor({ state: 'visible', timeout: 60_000 });
    if (await prompt.isVisible()) {
      await prompt.getByRole('button', { name: /No|Don't Trust/i }).first().click();
    }
    await restricted.waitFor({ state: 'visible', timeout: 30_000 });

    await openFile(page, 'data.jsonl');
    await goToLine(page, lineOf('r2'));
    const why = /reward modules/i;
    const toasts = page.locator('.notifications-toasts .notification-toast.notification-fade-in-done', { hasText: why });

    await runRefused(page, 'A-LoL: Score Row / Selection');
    await toasts.first().waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await quickInput(page).isVisible(), false, 'Score Row asked no question (no run config picker)');
    const text = (await toasts.first().innerText()).replace(/\s+/g, ' ');
    console.log(`# Score Row in Restricted Mode: ${JSON.stringify(text)}`);
    assert.match(text, /Score Row runs reward modules from this workspace \(code\).*not trusted/i,
      'it says why: reward modules are the workspace\'s code');
    assert.match(text, /trust the workspace/i, 'it says what to do: trust the workspace');
    const manage = toasts.first().getByRole('button', { name: 'Manage Workspace Trust' });
    assert.equal(await manage.count(), 1, 'a "Manage Workspace Trust" button');
    assert.ok(await toasts.first().locator('.codicon-warning, .codicon-notifications-warning, [class*="warning"]').count() > 0,
      'a warning');
    console.log(`# screenshot: ${await screenshot(page, 'rewards-untrusted-score-row')}`);
    assert.equal(fs.existsSync(marker()), false, 'Score Row did not load the reward module');
    assert.equal(await afterText(page, 'r2'), '', 'no score shown after the row');

    await runCommand(page, 'Notifications: Clear All Notifications');
    await toasts.first().waitFor({ state: 'hidden', timeout: 10_000 });
    await runRefused(page, 'A-LoL: Check Reward Function');
    await toasts.first().waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await quickInput(page).isVisible(), false, 'Check Reward Function asked no question');
    assert.match((await toasts.first().innerText()).replace(/\s+/g, ' '),
      /Check Reward Function runs reward modules from this workspace \(code\).*trust the workspace/i);
    assert.equal(fs.existsSync(marker()), false, 'Check Reward Function did not load the reward module');

    // The button opens the Workspace Trust editor (still untrusted: we close it).
    await toasts.first().getByRole('button', { name: 'Manage Workspace Trust' }).click();
    // (It renders in parts: wait for its header.)
    await page.locator('.workspace-trust-editor', { hasText: /You are in Restricted Mode/ }).first()
      .waitFor({ state: 'visible', timeout: 15_000 });
    await page.locator('.workspace-trust-editor').getByRole('button', { name: /^Trust$/ }).first()
      .waitFor({ state: 'visible', timeout: 10_000 });
    console.log(`# screenshot: ${await screenshot(page, 'rewards-untrusted-manage-trust')}`);
    await page.keyboard.press('Escape');
    assert.equal(fs.existsSync(marker()), false, 'the reward module never ran');
    assert.deepEqual(wb.errors, [], 'uncaught errors in the workbench page');

    // Control: the module does leave the marker when it runs (the trainer's CLI, as a trusted user would).
    const cli = spawnSync(process.execPath, [ALOL, 'score-rows', '--config', 'score.json', '--input', '-', '--json'],
      { cwd: ws, input: DATA.split('\n')[2], encoding: 'utf8', timeout: 60_000 });
    assert.equal(cli.status, 0, `alol score-rows:\n${cli.stdout}\n${cli.stderr}`);
    assert.ok(fs.existsSync(marker()), 'running the module writes the marker (so its absence above means it did not run)');
  });
});
