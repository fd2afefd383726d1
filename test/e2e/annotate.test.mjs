// UI test of inline dataset annotation (issue 10): a workspace with a JSONL dataset audited by the
// CLI, the packaged .vsix in code-server, the dataset open in the editor. Checks the per-row CodeLens
// (R / components / V / A / kept|filtered from the latest run), the gutter icon of filtered rows, the
// hover, the status-bar item, the row commands (Thumbs Up/Down, Set Human Reward…, Add Note…,
// Exclude Row: one WorkspaceEdit on that row's JSON only, undoable, on unsaved buffers, malformed rows
// refused), a re-audit after an annotation (caches: nothing recomputed but the value head; equal to a
// cold audit), and the dashboard's histogram bin -> row -> editor at that line.
// Needs `npm run package` and scripts/e2e-setup.sh.
import { after, before, describe } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ROOT, activeTab, answerInput, cursorStatus, extHostLog, goToLine, openFile, openWorkbench, runCommand, screenshot,
  sleep, startCodeServer, until, vsixPath, webviewFrame,
  closeUiSuite, screenshotStep, stopwatch,
} from './lib/harness.mjs';

const KEEP = process.env.ALOL_E2E_KEEP === '1';
const ALOL = path.join(ROOT, 'bin', 'alol.js');

// ---- the workspace -------------------------------------------------------------------------------

/** One JSONL line in the `{"k": v, "k": v}` style; `raw` values are written as they are (e.g. "0.700"). */
const line = (fields) => `{${Object.entries(fields).map(([k, v]) => `${JSON.stringify(k)}: ${v?.raw ?? JSON.stringify(v)}`).join(', ')}}`;

const GOOD = ['I love this, thank you so much!', 'Great idea, that sounds wonderful and fun.',
  'Happy to help: here is a clear, friendly answer.', 'What a lovely question, I am glad you asked.', 'Sure! That works well and is easy.'];
const BAD = ['This is terrible and awful.', 'I hate it, go away.', 'No. Bad question, stupid.', 'Ugh, boring and useless.'];
const UNICODE_ROW = 7;
const LONG_ROW = 12;

function makeDataset() {
  const lines = [];
  for (let i = 0; i < 40; i++) {
    const good = i % 3 !== 0;
    let prompt = `Human: question number ${i}: what do you think about topic ${(i * 7) % 11}?\n\nAssistant:`;
    let response = ` ${good ? GOOD[i % GOOD.length] : BAD[i % BAD.length]}`;
    if (i === LONG_ROW) response = ` ${'This is a very long and happy answer that goes on and on. '.repeat(60).trim()}`;
    // Rewards with trailing zeros as written ("0.700"): a re-serialized row would change them.
    const reward = { raw: (good ? 0.55 + ((i * 37) % 45) / 100 : ((i * 13) % 30) / 100).toFixed(3) };
    if (i === UNICODE_ROW) {
      // Raw non-ASCII and a \u escape that JSON.stringify would not write back the same way.
      lines.push(`{"id": "r${i}", "prompt": "Human: Wie geht es dir? 😊 caf\\u00e9 — naïve “quotes” 日本語\\n\\nAssistant:", `
        + `"response": " Sehr gut, danke! ✨ Ça va très bien.", "reward": ${reward.raw}}`);
      continue;
    }
    lines.push(line({ id: `r${i}`, prompt, response, reward }));
  }
  return `${lines.join('\n')}\n`;
}

const RUN_CONFIG = {
  data: { path: 'data.jsonl' },
  model: { init: { layers: 1, embd: 32, heads: 4, positions: 96 } },
  reference: { sft: { steps: 10, lr: 0.003 } },
  rewards: [
    { name: 'label', kind: 'field', field: 'reward' },
    { name: 'sent', kind: 'builtin', scorer: 'sentiment' },
    { name: 'human', kind: 'field', field: 'human_reward', range: [0, 1], default: 0.5 },
  ],
  value: { fitOn: 'train', folds: 2, epochs: 2 },
  threads: 1,
};

/** `alol audit` in the workspace; returns stdout (throws with both streams on failure). */
function audit(workspace, ...args) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [ALOL, 'audit', '--config', 'run.json', ...args], {
    cwd: workspace, encoding: 'utf8', timeout: 300_000,
  });
  if (r.status !== 0) throw new Error(`alol audit ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  console.log(`# alol audit ${args.join(' ')}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return r.stdout;
}

const readAdvantages = (file) => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));

// ---- reading the editor --------------------------------------------------------------------------

/**
 * The rows visible in the active editor: for each rendered line that starts with `{"id": "rN"`, its
 * id, the CodeLens text above it (or null), whether a glyph-margin decoration (gutter icon) is on
 * it and which of ours it is ('filtered', 'annotated', 'filtered-annotated', or null), and its rectangle (for hovering).
 */
async function visibleRows(page) {
  return page.evaluate(() => {
    const ed = document.querySelector('.editor-group-container.active .monaco-editor');
    if (!ed) return [];
    const text = (el) => el.textContent.replace(/\u00a0/g, ' ');
    const lenses = [...ed.querySelectorAll('.contentWidgets .codelens-decoration')]
      .map((el) => ({ text: text(el).trim(), r: el.getBoundingClientRect() }));
    const glyphs = [...ed.querySelectorAll('.margin .cgmr')].map((el) => Object.assign(el.getBoundingClientRect().toJSON(), {
      icon: /(filtered-annotated|filtered|annotated)\.svg/.exec(getComputedStyle(el).backgroundImage)?.[1] ?? null,
    }));
    const out = [];
    for (const el of ed.querySelectorAll('.view-lines .view-line')) {
      const r = el.getBoundingClientRect();
      const id = /^\{"id": "(r\d+)"/.exec(text(el))?.[1];
      if (!id) continue;
      // The lens sits in a view zone right above its line.
      const lens = lenses.filter((l) => l.r.bottom <= r.top + 2 && l.r.bottom > r.top - r.height)
        .sort((a, b) => b.r.bottom - a.r.bottom)[0];
      out.push({
        id, text: text(el), lens: lens?.text ?? null, gutter: glyphs.some((g) => Math.abs(g.top - r.top) < 3 && g.height > 0),
        gutterIcon: glyphs.find((g) => Math.abs(g.top - r.top) < 3 && g.height > 0)?.icon ?? null,
        rect: { x: r.x, y: r.y, width: r.width, height: r.height },
      });
    }
    return out;
  });
}

/** Polls visibleRows until `pred(rows)` holds; returns the rows (or the last ones after `ms`). */
async function waitRows(page, pred, ms = 60_000) {
  const deadline = Date.now() + ms;
  let rows = [];
  while (Date.now() < deadline) {
    rows = await visibleRows(page);
    if (pred(rows)) return rows;
    await sleep(250);
  }
  return rows;
}

const f3 = (x) => x.toFixed(3);
/** The spec's CodeLens text for a row of advantages.jsonl. */
function expectedLens(a, components) {
  const parts = components.map((c) => `${c} ${f3(a.reward[c])}`).join(' · ');
  const adv = `${a.advantage >= 0 ? '+' : '-'}${f3(Math.abs(a.advantage))}`;
  return `R ${f3(a.reward.total)} (${parts}) · V ${f3(a.value)} · A ${adv} · ${a.kept ? 'kept' : 'filtered'}`;
}

/**
 * Waits until the editor shows row `id` with `field` in it: an annotate command's edit comes from the
 * extension host after the command palette has closed, so a Ctrl+S right away can save the buffer
 * without it (found by ci-soak under load: the edit landed after the save, and the tab stayed dirty).
 * Bounded; on timeout it says so and returns, and the caller's assertion on the saved file shows the rest.
 */
async function edited(page, id, field, ms = 15_000) {
  const has = (rows) => rows.some((r) => r.id === id && r.text.includes(field));
  if (!has(await waitRows(page, has, ms))) console.log(`# the edit of ${id} (${field}) was not in the editor after ${ms / 1000} s`);
}
const idOn = (line) => /"id": "(r\d+)"/.exec(line)[1];

/**
 * Ctrl+S, then the file on disk once the save has landed: it differs from `previous` and the tab is clean.
 * VS Code marks the tab clean only after its write is done; a read before that can see a half-written
 * (even empty) file. Returns what is on disk after `ms` regardless, for the caller's assertion to show.
 */
async function save(page, file, previous, ms = 15_000) {
  await page.keyboard.press('Control+S');
  const dirty = page.locator('.editor-group-container.active .tab.active.dirty');
  const deadline = Date.now() + ms;
  for (;;) {
    const clean = (await dirty.count()) === 0;
    const now = fs.readFileSync(file, 'utf8');
    if ((clean && now !== previous) || Date.now() > deadline) return now;
    await sleep(100);
  }
}

/** Lines (1-based numbers) where two texts differ, as [line, before, after]. */
function lineDiff(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  const out = [];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if (x[i] !== y[i]) out.push([i + 1, x[i], y[i]]);
  return out;
}

const withField = (orig, field) => orig.replace(/\}$/, `, ${field}}`);

// ---- the test ------------------------------------------------------------------------------------

describe('Inline dataset annotation in VS Code (code-server + Chromium)', { timeout: 900_000 }, () => {
  const step = screenshotStep('annotate', () => wb?.page);
  let ws;
  let server;
  let wb;
  let dataFile;
  let original; // data.jsonl as written
  let origLines;
  let adv1; // runs/audit-1/advantages.jsonl
  let byId; // rowId -> advantages row (training rows only)
  const lineOf = (id) => origLines.findIndex((l) => l.startsWith(`{"id": "${id}"`)) + 1;
  const { timings, timed } = stopwatch();
  let humanRow; // the row given a human reward of 0.9

  before(async () => {
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'alol-e2e-annotate-'));
    dataFile = path.join(ws, 'data.jsonl');
    original = makeDataset();
    origLines = original.split('\n');
    fs.writeFileSync(dataFile, original);
    fs.writeFileSync(path.join(ws, 'run.json'), `${JSON.stringify(RUN_CONFIG, null, 2)}\n`);
    // Not a dataset of any run: line 2 is not JSON (for the refusal).
    fs.writeFileSync(path.join(ws, 'scratch.jsonl'),
      '{"id": "x1", "prompt": "a", "response": "b"}\n{"id": "x2", "prompt": "a", "respo\n{"id": "x3", "prompt": "a", "response": "c"}\n');
    await timed('audit-1', () => audit(ws, '--out', 'runs/audit-1'));
    adv1 = readAdvantages(path.join(ws, 'runs', 'audit-1', 'advantages.jsonl'));
    byId = new Map(adv1.map((a) => [a.rowId, a]));
    server = await timed('code-server start', () => startCodeServer({
      workspace: ws, extensions: [vsixPath()],
      settings: { 'files.autoSave': 'off', 'editor.codeLens': true, 'editor.glyphMargin': true, 'workbench.editor.enablePreview': false },
    }));
    wb = await timed('workbench open', () => openWorkbench(server));
  });

  after(() => closeUiSuite({ wb, server, ws, timings }));

  step('shows per-row CodeLens from the latest run, a gutter icon on filtered rows, a hover and the status-bar item', async () => {
    const page = wb.page;
    const problems = [];
    await timed('open data.jsonl', () => openFile(page, 'data.jsonl'));
    const hasLens = (r) => r.some((x) => x.lens && /^R -?\d/.test(x.lens));
    // Activation is an event in the extension host's log, with its cause: wait for that line (on a busy machine it came
    // after more than 45 s), then check that the dataset, not a command, activated the extension.
    const activatedBy = await timed('activation', () => until('the extension host\'s log line that activates alol-studio', 180_000,
      () => /_doActivateExtension alol-studio\.alol-studio, startup: \w+, activationEvent: '([^']+)'/.exec(extHostLog(server, 1e6))?.[1]));
    if (!/^(onLanguage:jsonl|workspaceContains:)/.test(activatedBy)) {
      problems.push(`the extension was activated by ${activatedBy}, not by the workspace's dataset (activationEvents)`);
    }
    const rows = await timed('first CodeLens', () => waitRows(page, hasLens, 60_000));
    if (!hasLens(rows)) problems.push(`no CodeLens within 60 s of the extension's activation (by ${activatedBy})`);
    assert.ok(rows.some((x) => x.lens && /^R -?\d/.test(x.lens)),
      `no CodeLens "R …" above any row; visible rows: ${JSON.stringify(rows.map((r) => [r.id, r.lens]))}`);
    assert.ok(rows.some((x) => x.lens?.endsWith('· kept')) || rows.some((x) => x.lens?.endsWith('· filtered')),
      'a lens ends with "· kept" or "· filtered"');
    // Lenses render row by row: wait (bounded) until every visible row has one, then check that snapshot (a missing
    // lens is then reported). Not a second read: the extension refreshes its lenses on editor and file events, and
    // while VS Code re-renders them their widgets are briefly not laid out above their lines (seen in a soak run:
    // every lens present, then every one null in the next read).
    const complete = await waitRows(page, (rs) => rs.length > 0 && rs.every((x) => x.lens !== null), 30_000);
    const components = RUN_CONFIG.rewards.map((r) => r.name);
    const seen = { train: 0, other: 0 };
    for (const r of complete) {
      const a = byId.get(r.id);
      if (a) {
        seen.train++;
        const want = expectedLens(a, components);
        if (r.lens !== want) {
          problems.push(`CodeLens of ${r.id} (line ${lineOf(r.id)}): got ${JSON.stringify(r.lens)}, spec ${JSON.stringify(want)}`);
        }
        if (r.gutter !== !a.kept) {
          problems.push(`gutter icon of ${r.id} (${a.kept ? 'kept' : 'filtered'}): ${r.gutter ? 'present' : 'absent'}`);
        }
        // The filtered mark is our grey funnel (not a red dot that reads as a breakpoint or an error).
        if (r.gutter && r.gutterIcon !== 'filtered') problems.push(`gutter icon of filtered row ${r.id}: ${r.gutterIcon}, want filtered`);
      } else {
        seen.other++;
        const want = 'not in the training split of audit-1';
        if (r.lens !== want) {
          problems.push(`CodeLens of the non-training row ${r.id}: got ${JSON.stringify(r.lens)}, spec ${JSON.stringify(want)}`);
        }
        if (r.gutter) problems.push(`gutter icon on the non-training row ${r.id}`);
      }
    }
    console.log(`# visible rows checked: ${seen.train} training, ${seen.other} other`);
    assert.ok(seen.train > 3, 'several training rows were visible');
    // ...and they stay: a refresh re-renders them, it does not remove them (bounded wait, then checked).
    const later = await waitRows(page, (rs) => rs.length > 0 && rs.every((x) => x.lens !== null), 30_000);
    if (!later.every((x) => x.lens !== null)) {
      problems.push(`lenses gone after the check: ${JSON.stringify(later.map((r) => [r.id, r.lens]))}`);
    }
    console.log(`# screenshot: ${await screenshot(page, 'annotate-codelens')}`);

    // Hover on a filtered training row: reference log-prob, value, times sampled.
    const visible = await visibleRows(page);
    const target = visible.find((r) => byId.get(r.id) && !byId.get(r.id).kept) ?? visible.find((r) => byId.get(r.id));
    await page.mouse.move(target.rect.x + 60, target.rect.y + target.rect.height / 2);
    const hover = page.locator('.monaco-hover', { hasText: /log-?prob/i }).first();
    try {
      await hover.waitFor({ state: 'visible', timeout: 10_000 });
      const text = (await hover.innerText()).replace(/\u00a0/g, ' ');
      console.log(`# hover of ${target.id}: ${JSON.stringify(text)}`);
      for (const [what, re] of [['reference log-prob', /reference log-?prob/i], ['value', /value/i], ['times sampled', /sampled/i]]) {
        if (!re.test(text)) problems.push(`hover of ${target.id} lacks "${what}": ${JSON.stringify(text)}`);
      }
      const a = byId.get(target.id);
      if (!text.includes(`${Math.trunc(a.refLogprob)}.`)) {
        problems.push(`hover of ${target.id} does not show its reference log-prob ${a.refLogprob}: ${JSON.stringify(text)}`);
      }
    } catch {
      const any = await page.locator('.monaco-hover').allInnerTexts().catch(() => []);
      problems.push(`no hover with a reference log-prob over ${target.id} (hovers: ${JSON.stringify(any)})`);
    }
    await page.mouse.move(5, 5);
    await page.keyboard.press('Escape');

    // Status bar: n rows · a annotated · k kept / f filtered · mean R x.
    const item = page.locator('.statusbar-item', { hasText: /A-LoL: \d+ rows/ }).first();
    await item.waitFor({ state: 'visible', timeout: 30_000 }).catch(() => {});
    const status = (await item.count()) ? (await item.innerText()).trim().replace(/\s+/g, ' ') : null;
    const kept = adv1.filter((a) => a.kept).length;
    const meanR = adv1.reduce((s, a) => s + a.reward.total, 0) / adv1.length;
    const m = status && /^A-LoL: (\d+) rows · (\d+) annotated · (\d+) kept \/ (\d+) filtered · mean R (-?\d+(?:\.\d+)?)$/.exec(status);
    if (!m) {
      problems.push(`status-bar item: got ${JSON.stringify(status)}, `
        + `spec "A-LoL: 40 rows · 0 annotated · ${kept} kept / ${adv1.length - kept} filtered · mean R ${f3(meanR)}"`);
    }
    else {
      const [, n, annotated, k, f, x] = m;
      if (+n !== 40 || +annotated !== 0 || +k !== kept || +f !== adv1.length - kept) {
        problems.push(`status-bar counts: ${status} (want 40 rows, 0 annotated, ${kept} kept / ${adv1.length - kept} filtered)`);
      }
      if (Math.abs(+x - meanR) > 0.0051) problems.push(`status-bar mean R ${x} vs the run's mean training reward ${meanR}`);
    }
    console.log(`# status bar: ${JSON.stringify(status)}`);
    assert.deepEqual(problems, [], 'mismatches with the spec');
  });

  step('Thumbs Up/Down, Add Note… and Exclude Row edit only their rows (unsaved buffer, byte for byte); '
    + 'undo restores the file', async () => {
    const page = wb.page;
    const problems = [];
    const U = `r${UNICODE_ROW}`;
    const L = `r${LONG_ROW}`;
    const uLine = lineOf(U);
    const lLine = lineOf(L);

    // Thumbs Up on the unicode row, save, compare with the original.
    await goToLine(page, uLine);
    await timed('thumbs up', () => runCommand(page, 'A-LoL: Thumbs Up Row'));
    await edited(page, U, '"human_label": 1');
    let disk = await save(page, dataFile, original);
    const upLine = withField(origLines[uLine - 1], '"human_label": 1');
    assert.deepEqual(lineDiff(original, disk), [[uLine, origLines[uLine - 1], upLine]],
      'Thumbs Up changes only its row, appending , "human_label": 1');
    // The annotated row gets its own marker (with the funnel too when it is also filtered); waited for, bounded, then checked.
    const wantIcon = byId.get(U) && !byId.get(U).kept ? 'filtered-annotated' : 'annotated';
    const marked = await waitRows(page, (rs) => rs.some((x) => x.id === U && x.gutterIcon === wantIcon), 15_000);
    const mark = marked.find((x) => x.id === U)?.gutterIcon ?? '(row not visible)';
    if (mark !== wantIcon) problems.push(`gutter icon of the annotated row ${U}: ${mark}, want ${wantIcon}`);
    // The status bar counts the annotation (it updates after the save; waited for, bounded, then reported).
    await page.locator('.statusbar-item', { hasText: /1 annotated/ }).first()
      .waitFor({ state: 'visible', timeout: 15_000 }).catch(() => {});
    const status = await page.locator('.statusbar-item', { hasText: /A-LoL: \d+ rows/ }).first().innerText().catch(() => '');
    if (!/· 1 annotated ·/.test(status.replace(/\s+/g, ' '))) {
      problems.push(`after one Thumbs Up the status bar says ${JSON.stringify(status)} (want "1 annotated")`);
    }
    await page.keyboard.press('End'); // scroll to the end of the row: the new field in view
    await sleep(500);
    console.log(`# screenshot: ${await screenshot(page, 'annotate-edit')}`);
    await page.keyboard.press('Home');

    // Unsaved buffer: a note on the long row, then Thumbs Down replacing the label; one save.
    const note = 'needs "review" — ✓ ok';
    await goToLine(page, lLine);
    await runCommand(page, 'A-LoL: Add Note…', { opensQuickPick: true });
    await answerInput(page, note);
    await edited(page, L, '"note": ');
    await goToLine(page, uLine);
    await runCommand(page, 'A-LoL: Thumbs Down Row');
    await edited(page, U, '"human_label": 0');
    let prev = disk;
    disk = await save(page, dataFile, prev);
    assert.deepEqual(lineDiff(original, disk), [
      [uLine, origLines[uLine - 1], withField(origLines[uLine - 1], '"human_label": 0')],
      [lLine, origLines[lLine - 1], withField(origLines[lLine - 1], `"note": ${JSON.stringify(note)}`)],
    ].sort((a, b) => a[0] - b[0]), 'Thumbs Down replaces the label in place; Add Note… appends the note (JSON-escaped)');

    // Exclude Row on a selection spanning two rows.
    const s1 = 3;
    await goToLine(page, s1);
    await page.keyboard.press('Shift+ArrowDown');
    await page.keyboard.press('Shift+End');
    await runCommand(page, 'A-LoL: Exclude Row');
    for (const n of [s1, s1 + 1]) await edited(page, idOn(origLines[n - 1]), '"exclude": true');
    prev = disk;
    disk = await save(page, dataFile, prev);
    const afterExclude = lineDiff(prev, disk);
    assert.deepEqual(afterExclude, [s1, s1 + 1].map((n) => [n, origLines[n - 1], withField(origLines[n - 1], '"exclude": true')]),
      'Exclude Row on a two-row selection marks both rows');

    // One undo per command (three edits since the first save, plus that one): four Ctrl+Z, then save.
    for (let i = 0; i < 4; i++) await page.keyboard.press('Control+Z');
    prev = disk;
    disk = await save(page, dataFile, prev);
    if (disk !== original) {
      problems.push(`after four undos the file differs from the original: ${JSON.stringify(lineDiff(original, disk))}`);
      // Undo further (grouping differs from one undo per command?) so the next steps start clean.
      for (let i = 0; i < 6 && disk !== original; i++) {
        await page.keyboard.press('Control+Z');
        disk = await save(page, dataFile, disk);
      }
    }
    assert.equal(disk, original, 'undo restores data.jsonl byte for byte');
    assert.deepEqual(problems, [], 'mismatches with the spec');
  });

  step('refuses to annotate a malformed row, with a warning naming its line', async () => {
    const page = wb.page;
    const scratch = path.join(ws, 'scratch.jsonl');
    const before = fs.readFileSync(scratch, 'utf8');
    await openFile(page, 'scratch.jsonl');
    await goToLine(page, 2);
    await runCommand(page, 'A-LoL: Thumbs Up Row');
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: /line 2\b|:2\b/ }).first();
    await toast.waitFor({ state: 'visible', timeout: 15_000 });
    const text = await toast.innerText();
    console.log(`# warning: ${JSON.stringify(text)}`);
    const severity = await toast.locator('.codicon-warning, .codicon-notifications-warning, [class*="warning"]').count();
    assert.ok(severity > 0, `the refusal is a warning (toast: ${JSON.stringify(text)})`);
    // The refusal toast came after the command's edit would have: the buffer must still be clean and show the file's
    // lines, and the file be as it was. (No Ctrl+S here: on a clean buffer the tab is clean before the save starts, and
    // a read during VS Code's write saw the file empty — ci-soak under load.)
    const shown = await page.evaluate(() => [...(document.querySelector('.editor-group-container.active .monaco-editor')
      ?.querySelectorAll('.view-lines .view-line') ?? [])]
      .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
      .map((el) => el.textContent.replace(/\u00a0/g, ' ')));
    assert.deepEqual(shown, before.split('\n'), 'the editor shows scratch.jsonl as it was: the malformed row was not edited');
    assert.equal(await page.locator('.editor-group-container.active .tab.active.dirty').count(), 0, 'scratch.jsonl is unmodified');
    assert.equal(fs.readFileSync(scratch, 'utf8'), before, 'the malformed row was not edited on disk');
    await runCommand(page, 'Notifications: Clear All Notifications');
    await runCommand(page, 'View: Close All Editors');
  });

  step('Set Human Reward… then a CLI re-audit: rewards reused, only the value head refitted; equal to a cold audit', async () => {
    const page = wb.page;
    // A training row away from the rows edited above.
    humanRow = adv1.map((a) => a.rowId).find((id) => ![`r${UNICODE_ROW}`, `r${LONG_ROW}`, 'r2', 'r3'].includes(id) && lineOf(id) > 20);
    const n = lineOf(humanRow);
    await openFile(page, 'data.jsonl');
    await goToLine(page, n);
    await runCommand(page, 'A-LoL: Set Human Reward…', { opensQuickPick: true });
    await answerInput(page, '0.9');
    await edited(page, humanRow, '"human_reward": 0.9');
    const disk = await save(page, dataFile, original);
    assert.deepEqual(lineDiff(original, disk), [[n, origLines[n - 1], withField(origLines[n - 1], '"human_reward": 0.9')]],
      'Set Human Reward… appends , "human_reward": 0.9 to its row only');

    const train = adv1.length;
    const out2 = await timed('audit-2', () => audit(ws, '--out', 'runs/audit-2'));
    const lines = out2.split('\n');
    console.log(`# audit-2:\n${lines.filter((l) => l.startsWith('[')).map((l) => `#   ${l}`).join('\n')}`);
    const problems = [];
    const rewardsLine = lines.find((l) => l.startsWith('[rewards] rewards ready:')) ?? '(none)';
    if (!rewardsLine.startsWith(`[rewards] rewards ready: 0 values computed, ${train} reused from the cache (fields read from the data)`)) {
      problems.push(`rewards line: ${JSON.stringify(rewardsLine)} `
        + `(want "0 values computed, ${train} reused from the cache (fields read from the data)")`);
    }
    const logprobLine = lines.find((l) => l.startsWith('[reference] reference log-probs:')) ?? '(none)';
    if (!logprobLine.startsWith(`[reference] reference log-probs: 0 rows computed, ${train} reused`)) {
      problems.push(`log-probs line: ${JSON.stringify(logprobLine)}`);
    }
    if (!lines.some((l) => l.startsWith('[reference] reused the fine-tuned reference from the cache'))) {
      problems.push('the reference was not reused from the cache');
    }
    if (!lines.some((l) => l.startsWith('[value] value head fitted on'))) {
      problems.push(`the value head was not refitted: ${JSON.stringify(lines.filter((l) => l.startsWith('[value]')))}`);
    }

    const adv2 = readAdvantages(path.join(ws, 'runs', 'audit-2', 'advantages.jsonl'));
    for (const a of adv2) {
      const want = a.rowId === humanRow ? 0.9 : 0.5;
      if (a.reward.human !== want) {
        const why = a.rowId === humanRow ? 'the annotation' : 'the default';
        problems.push(`audit-2 ${a.rowId}: reward.human ${a.reward.human}, want ${want} (${why})`);
      }
    }
    await timed('audit-cold', () => audit(ws, '--no-cache', '--out', 'runs/audit-cold'));
    const cold = readAdvantages(path.join(ws, 'runs', 'audit-cold', 'advantages.jsonl'));
    const strip = (rows) => rows.map(({ file, ...rest }) => rest);
    assert.deepEqual(strip(adv2), strip(cold), 'runs/audit-2/advantages.jsonl equals a cold audit (--no-cache)');
    const advBytes = (run) => fs.readFileSync(path.join(ws, 'runs', run, 'advantages.jsonl'), 'utf8');
    console.log(`# audit-2 vs audit-cold advantages.jsonl byte-identical: ${advBytes('audit-2') === advBytes('audit-cold')}`);
    assert.deepEqual(problems, [], 'mismatches with the spec');
  });

  step('Open Run… -> audit-2 in the dashboard; a histogram bin lists its rows; choosing one opens data.jsonl at that row', async () => {
    const page = wb.page;
    await runCommand(page, 'View: Close All Editors');
    await runCommand(page, 'A-LoL: Open Run…', { opensQuickPick: true });
    const runRow = page.locator('.quick-input-widget .quick-input-list .monaco-list-row')
      .filter({ has: page.locator('.label-name', { hasText: /^audit-2$/ }) }).first();
    await runRow.waitFor({ state: 'visible', timeout: 15_000 });
    const listed = await page.locator('.quick-input-widget .quick-input-list .monaco-list-row .label-name').allInnerTexts();
    console.log(`# Open Run… lists: ${JSON.stringify(listed)}`);
    await runRow.click();
    const dash = webviewFrame(page);
    const bins = dash.locator('.histogram-svg .bin-hit');
    await timed('dashboard histogram', () => bins.first().waitFor({ state: 'attached', timeout: 60_000 }));
    const adv2 = readAdvantages(path.join(ws, 'runs', 'audit-2', 'advantages.jsonl'));
    const binInfo = await bins.evaluateAll((els) => els.map((e) => ({
      label: e.getAttribute('aria-label'), lo: Number(e.getAttribute('data-lo')), hi: Number(e.getAttribute('data-hi')),
    })));
    const labels = binInfo.map((b) => b.label);
    // A bin whose first row (file order) is well below line 1, so the cursor check means something.
    const firstLine = (b) => adv2.filter((a) => a.advantage >= b.lo && a.advantage < b.hi).sort((x, y) => x.line - y.line)[0]?.line ?? 0;
    let idx = binInfo.findIndex((b) => firstLine(b) > 5);
    if (idx < 0) idx = binInfo.findIndex((b) => firstLine(b) > 0);
    assert.ok(idx >= 0, `a bin with rows: ${JSON.stringify(labels)}`);
    console.log(`# clicking bin ${labels[idx]} (first row at line ${firstLine(binInfo[idx])})`);
    await bins.nth(idx).click();
    const rowsInPick = page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
    await rowsInPick.first().waitFor({ state: 'visible', timeout: 15_000 });
    // A row: label and description, then the detail (an excerpt of the row's prompt and response) in a second label.
    const label = (await rowsInPick.first().locator('.label-name').first().innerText()).replace(/\u00a0/g, ' ').trim();
    const description = (await rowsInPick.first().locator('.label-description').first().innerText()).trim();
    // The whole row: label, description and detail.
    const detail = (await rowsInPick.first().innerText()).replace(/\u00a0/g, ' ').replace(/\s+/g, ' ').trim();
    console.log(`# first row of the bin: ${JSON.stringify(label)} ${JSON.stringify(description)} ${JSON.stringify(detail)}`);
    // Highest advantage first (the rows the quick pick shows, in its order).
    // (each row has two .label-name: the label, and the detail's)
    const labelTexts = (await rowsInPick.locator('.label-name').allInnerTexts()).map((t) => t.replace(/\u00a0/g, ' ').trim());
    const shownA = labelTexts.filter((t) => /^A [-+]\d/.test(t)).map((t) => Number(/^A ([-+]?\d+\.\d+)/.exec(t)?.[1]));
    assert.ok(shownA.length > 0 && shownA.every((x, i) => Number.isFinite(x) && (i === 0 || shownA[i - 1] >= x)),
      `the bin's rows are sorted by advantage, highest first: ${JSON.stringify(shownA)}`);
    await sleep(500); // the quick input's fade-in
    console.log(`# screenshot: ${await screenshot(page, 'annotate-bin-pick')}`);
    assert.match(label, /^A [-+]\d+\.\d{3}\s+R -?\d+\.\d{3}\s+(kept|filtered)$/, 'quick-pick label: A … R … kept|filtered');
    const dm = /^data\.jsonl:(\d+) · (\S+)$/.exec(description);
    assert.ok(dm, `quick-pick description <file>:<line> · <id>: ${JSON.stringify(description)}`);
    const lineNo = Number(dm[1]);
    // The detail: the row's prompt, an arrow, its response (from data.jsonl's text).
    const rowJson = JSON.parse(fs.readFileSync(path.join(ws, 'data.jsonl'), 'utf8').split('\n')[lineNo - 1]);
    const firstWords = (t) => t.replace(/\s+/g, ' ').trim().slice(0, 20);
    assert.ok(detail.includes(firstWords(rowJson.prompt)) && detail.includes(' ⟶ ') && detail.includes(firstWords(rowJson.response)),
      `the detail shows the row's prompt and response: ${JSON.stringify(detail)}`);
    await rowsInPick.first().click();
    await activeTab(page, 'data.jsonl').waitFor({ state: 'visible', timeout: 15_000 });
    await cursorStatus(page).filter({ hasText: new RegExp(`^\\s*Ln ${lineNo},`) }).waitFor({ state: 'visible', timeout: 15_000 });
    // The row on that line is the one the bin listed (by its advantage in audit-2).
    const bin = binInfo[idx];
    assert.ok(adv2.some((a) => a.line === lineNo && a.advantage >= bin.lo && a.advantage < bin.hi),
      `line ${lineNo} holds a row of the bin [${bin.lo}, ${bin.hi})`);
    const a = adv2.find((r) => r.line === lineNo);
    assert.ok(a && label.replace(/^A \+/, 'A ').startsWith(`A ${a.advantage.toFixed(3)}`),
      `line ${lineNo} is the listed row (${JSON.stringify(a)})`);
    await sleep(1_500);
    console.log(`# screenshot: ${await screenshot(page, 'annotate-bin')}`);

    // Informational: the lens of the annotated row now comes from the newest run (audit-cold / audit-2).
    await goToLine(page, lineOf(humanRow));
    const rows = await waitRows(page, (r) => r.some((x) => x.id === humanRow && x.lens), 15_000);
    console.log(`# lens of ${humanRow} after the re-audit: ${JSON.stringify(rows.find((x) => x.id === humanRow)?.lens ?? null)}`);
    assert.deepEqual(wb.errors, [], 'uncaught errors in the workbench page');
  });
});
