// Reward Report in the real extension host: the report of a run config opens in the Markdown preview of a
// read-only document with, per component, its summary, its share of the weighted total, its correlation
// with response length (in words) and with the other components, and a length warning — numbers computed
// here from the rows. A dataset with one row whose reward is NaN: the report completes over the others and
// lists that row. Closing the report asks nothing (no unsaved Untitled buffer).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { before, describe, it } from 'mocha';
import { until } from './wait';

const RESPONSES = [' a', ' bb bb', ' ccc ccc ccc', ' dddd dddd dddd dddd'];
const LABELS = [0.9, 0.1, 0.5, 0.3];
const CHARS = RESPONSES.map((r) => r.length / 100); // the module: characters / 100
const WORDS = RESPONSES.map((r) => r.trim().split(/\s+/).length);

function pearson(a: number[], b: number[]): number {
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const ma = mean(a);
  const mb = mean(b);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  a.forEach((v, i) => {
    ab += (v - ma) * (b[i] - mb);
    aa += (v - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  });
  return ab / Math.sqrt(aa * bb);
}

describe('Reward Report', function () {
  this.timeout(60_000);
  let config: string;
  let badConfig: string;

  before(async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the suite needs a workspace folder');
    const root = path.join(folder.uri.fsPath, 'report');
    fs.mkdirSync(path.join(root, 'rewards'), { recursive: true });
    fs.writeFileSync(path.join(root, 'rewards', 'chars.ts'),
      'export default (b: { response: string }[]) => b.map((x) => x.response.length / 100);\n');
    fs.writeFileSync(path.join(root, 'data.jsonl'),
      `${RESPONSES.map((response, i) => JSON.stringify({ id: `r${i}`, prompt: 'Q', response, reward: LABELS[i] })).join('\n')}\n`);
    config = path.join(root, 'report.alol.json');
    fs.writeFileSync(config, JSON.stringify({
      data: { path: 'data.jsonl' },
      rewards: [
        { name: 'label', kind: 'field', field: 'reward', weight: 1 },
        { name: 'chars', kind: 'module', path: 'rewards/chars.ts', range: [0, 1], weight: 3 },
      ],
    }));
    // NaN on the row with 'ccc' (line 3, id r2).
    fs.writeFileSync(path.join(root, 'rewards', 'nan.ts'),
      'export default (b: { response: string }[]) => b.map((x) => (x.response.includes("ccc") ? NaN : x.response.length / 100));\n');
    badConfig = path.join(root, 'bad.alol.json');
    fs.writeFileSync(badConfig, JSON.stringify({
      data: { path: 'data.jsonl' },
      rewards: [
        { name: 'label', kind: 'field', field: 'reward', weight: 1 },
        { name: 'chars', kind: 'module', path: 'rewards/nan.ts', range: [0, 1], weight: 1 },
      ],
    }));
    await vscode.extensions.getExtension('alol-studio.alol-studio')?.activate();
  });

  it('shows each component\'s summary, share of the total, and correlations with length and with the other component', async () => {
    const doc = await vscode.commands.executeCommand<vscode.TextDocument | undefined>('alolStudio.rewardReport', config);
    assert.ok(doc, 'Reward Report opened no document (it failed)');
    assert.equal(doc.uri.scheme, 'alol-report', 'the report is a read-only virtual document, not an Untitled buffer');
    assert.equal(doc.isUntitled, false);
    const text = doc.getText();
    const sum = (x: number[], w: number) => x.reduce((s, v) => s + Math.abs(w * v), 0);
    const total = sum(LABELS, 1) + sum(CHARS, 3);
    const between = pearson(LABELS, CHARS).toFixed(2);
    const mean = (x: number[]) => (x.reduce((s, v) => s + v, 0) / x.length).toFixed(3);
    assert.match(text, /^reward report: 4 rows of data\\\.jsonl$/m);
    assert.ok(text.includes(`label (weight 1, range [0, 1]): mean ${mean(LABELS)}, min 0.100, max 0.900; `
      + `share of the total ${(100 * sum(LABELS, 1) / total).toFixed(1)}%`), text);
    assert.ok(text.includes(`  correlation with length ${pearson(LABELS, WORDS).toFixed(2)}; with chars ${between}`), text);
    assert.ok(text.includes(`chars (weight 3, range [0, 1]): mean ${mean(CHARS)}, min 0.020, max 0.200; `
      + `share of the total ${(100 * sum(CHARS, 3) / total).toFixed(1)}%`), text);
    assert.ok(text.includes(`  correlation with length ${pearson(CHARS, WORDS).toFixed(2)}; with label ${between}`), text);
    assert.match(text, /warning:\*\* chars correlates with response length \(r = 0\.9\d\): a policy can raise it by writing longer/);
    assert.doesNotMatch(text, /Rows not scored/);
  });

  it('over a file with one NaN row: completes over the others and lists it; in the preview, closed without a save prompt', async () => {
    const doc = await vscode.commands.executeCommand<vscode.TextDocument | undefined>('alolStudio.rewardReport', badConfig);
    assert.ok(doc, 'Reward Report opened no document: one bad row aborted it');
    const text = doc.getText();
    assert.match(text, /^reward report: 3 rows of data\\\.jsonl \(of 4; 1 could not be scored/m, text);
    const good = [0, 1, 3];
    const mean = (x: number[]) => (x.reduce((s, v) => s + v, 0) / x.length).toFixed(3);
    assert.ok(text.includes(`label (weight 1, range [0, 1]): mean ${mean(good.map((i) => LABELS[i]))}, min 0.100, max 0.900`), text);
    assert.ok(text.includes(`chars (weight 1, range [0, 1]): mean ${mean(good.map((i) => CHARS[i]))}, min 0.020, max 0.200`), text);
    assert.match(text, /^## Rows not scored$/m);
    const row = text.split('\n').find((l) => l.startsWith('| [3]('));
    assert.ok(row, `no line for row 3 in:\n${text}`);
    assert.match(row, /data\.jsonl#L3\) \| r2 \| .*returned NaN/);

    // Shown in VS Code's Markdown preview (a webview tab), nothing unsaved anywhere.
    const previewTab = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs)
      .find((t) => t.input instanceof vscode.TabInputWebview && t.label.includes('bad.alol.json reward report'));
    const tab = await until('the Markdown preview of the report', 20_000, previewTab,
      () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).map((t) => t.label).join(', '));
    assert.equal(doc.isDirty, false);
    assert.deepEqual(vscode.workspace.textDocuments.filter((d) => d.isUntitled).map((d) => d.uri.toString()), []);
    // A save prompt would hold this promise until the test times out.
    assert.equal(await vscode.window.tabGroups.close(tab), true);
    assert.equal(previewTab(), undefined, 'the preview is still open');
  });
});
