// Score Row / Selection in the real extension host: rows under the cursors (a pair line gives its
// chosen and rejected rows), selected text inside a row scored as a response with that row's prompt
// (JSON escapes decoded), a row whose reward is NaN (the others still scored; the error as a diagnostic
// on that row and in the output, gone once the row scores again), and a malformed row refused (its reason
// on its line). Values are checked against numbers computed here.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { before, describe, it } from 'mocha';
import { outputChannel } from './wait';

interface ScoredRow {
  line: number;
  selection: string | null;
  kind: string;
  total: number;
  rewards: Record<string, number>;
  error?: string;
}

// NaN on the row whose response is " bye now" (line 3), else 0.5.
const NAN_MODULE = `export default function score(batch: { response: string }[]): number[] {
  return batch.map((x) => (x.response === ' bye now' ? NaN : 0.5));
}
`;

// (prompt length + response length) / 1000: shows that the prompt reached the module too.
const MODULE = `export default function score(batch: { prompt: string; response: string }[]): number[] {
  return batch.map((x) => (x.prompt.length + x.response.length) / 1000);
}
`;

const LINES = [
  JSON.stringify({ id: 'r1', prompt: 'Human: hi\n\nAssistant:', response: ' caf\u00e9 and tea', label: 0.25 }).replace('é', '\\u00e9'),
  JSON.stringify({ id: 'r2', prompt: 'Human: more\n\nAssistant:', response: ' fine', label: 0.75 }),
  JSON.stringify({ id: 'r3', prompt: 'Human: last\n\nAssistant:', response: ' bye now' }),
];
const PAIR = JSON.stringify({ id: 'p1', prompt: 'Human: pick\n\nAssistant:', chosen: ' the good one', rejected: ' no' });

const mod = (prompt: string, response: string) => (prompt.length + response.length) / 1000;

describe('Score Row / Selection', function () {
  this.timeout(90_000);
  let root: string;
  let config: string;
  let pairsConfig: string;
  let nanConfig: string;
  let editor: vscode.TextEditor;

  before(async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the suite needs a workspace folder');
    root = path.join(folder.uri.fsPath, 'score');
    fs.mkdirSync(path.join(root, 'rewards'), { recursive: true });
    fs.writeFileSync(path.join(root, 'rewards', 'lengths.ts'), MODULE);
    fs.writeFileSync(path.join(root, 'data.jsonl'), `${LINES.join('\n')}\n`);
    fs.writeFileSync(path.join(root, 'pairs.jsonl'), `${PAIR}\n`);
    const rewards = [
      { name: 'label', kind: 'field', field: 'label', default: 0.5 },
      { name: 'lengths', kind: 'module', path: 'rewards/lengths.ts', range: [0, 1], weight: 2 },
    ];
    config = path.join(root, 'score.alol.json');
    fs.writeFileSync(config, JSON.stringify({ data: { path: 'data.jsonl' }, rewards }, null, 2));
    pairsConfig = path.join(root, 'pairs.alol.json');
    fs.writeFileSync(pairsConfig, JSON.stringify({ data: { path: 'pairs.jsonl' }, rewards }, null, 2));
    fs.writeFileSync(path.join(root, 'rewards', 'nan.ts'), NAN_MODULE);
    nanConfig = path.join(root, 'nan.alol.json');
    const nanRewards = [{ name: 'nan_here', kind: 'module', path: 'rewards/nan.ts', range: [0, 1] }];
    fs.writeFileSync(nanConfig, JSON.stringify({ data: { path: 'data.jsonl' }, rewards: nanRewards }, null, 2));
    await vscode.extensions.getExtension('alol-studio.alol-studio')?.activate();
    editor = await vscode.window.showTextDocument(vscode.Uri.file(path.join(root, 'data.jsonl')));
  });

  const score = (file = config) => vscode.commands.executeCommand<ScoredRow[] | undefined>('alolStudio.scoreRow', file);

  it('scores the row under each cursor: every component and the weighted total', async () => {
    editor.selections = [new vscode.Selection(0, 5, 0, 5), new vscode.Selection(2, 0, 2, 0)];
    const out = await score();
    assert.ok(out, 'Score Row returned nothing (it failed)');
    const expected = [
      { line: 1, label: 0.25, lengths: mod('Human: hi\n\nAssistant:', ' caf\u00e9 and tea') },
      { line: 3, label: 0.5, lengths: mod('Human: last\n\nAssistant:', ' bye now') }, // no label: the default
    ];
    assert.equal(out.length, expected.length, JSON.stringify(out));
    expected.forEach((e, i) => {
      const r = out[i];
      assert.deepEqual([r.line, r.kind, r.selection], [e.line, 'row', null]);
      assert.deepEqual(Object.keys(r.rewards), ['label', 'lengths']);
      assert.ok(Math.abs(r.rewards.label - e.label) < 1e-12, `row ${i}: label ${r.rewards.label}`);
      assert.ok(Math.abs(r.rewards.lengths - e.lengths) < 1e-12, `row ${i}: lengths ${r.rewards.lengths} != ${e.lengths}`);
      assert.ok(Math.abs(r.total - (e.label + 2 * e.lengths)) < 1e-9, `row ${i}: total ${r.total}`);
    });
  });

  it('scores both rows of a pair line (chosen and rejected)', async () => {
    const pairs = await vscode.window.showTextDocument(vscode.Uri.file(path.join(root, 'pairs.jsonl')));
    pairs.selection = new vscode.Selection(0, 0, 0, 0);
    const out = await score(pairsConfig);
    assert.ok(out, 'Score Row returned nothing (it failed)');
    assert.deepEqual(out.map((r) => [r.line, r.kind]), [[1, 'chosen'], [1, 'rejected']]);
    const p = 'Human: pick\n\nAssistant:';
    assert.ok(Math.abs(out[0].rewards.lengths - mod(p, ' the good one')) < 1e-12);
    assert.ok(Math.abs(out[1].rewards.lengths - mod(p, ' no')) < 1e-12);
    editor = await vscode.window.showTextDocument(editor.document);
  });

  it('scores selected text inside a row as that row\'s response: JSON escapes decoded, its prompt and fields kept', async () => {
    const text = editor.document.lineAt(0).text;
    const from = text.indexOf('caf\\u00e9');
    assert.ok(from > 0);
    editor.selection = new vscode.Selection(0, from, 0, from + 'caf\\u00e9 and'.length);
    const out = await score();
    assert.ok(out, 'Score Row returned nothing (it failed)');
    assert.equal(out.length, 1, JSON.stringify(out));
    assert.equal(out[0].selection, 'caf\u00e9 and');
    assert.equal(out[0].line, 1);
    assert.ok(Math.abs(out[0].rewards.lengths - mod('Human: hi\n\nAssistant:', 'caf\u00e9 and')) < 1e-12,
      `lengths ${out[0].rewards.lengths}`);
    assert.equal(out[0].rewards.label, 0.25, 'a selection keeps the fields of its row (label 0.25)');
  });

  it('a NaN row: the others scored, the error as a diagnostic on that row and in the output; cleared by a good score', async () => {
    const scoreDiagnostics = () => vscode.languages.getDiagnostics(editor.document.uri).filter((d) => d.source === 'A-LoL');
    editor.selections = [new vscode.Selection(0, 0, 0, 0), new vscode.Selection(2, 0, 2, 0)];
    const out = await score(nanConfig);
    assert.ok(out, 'Score Row returned nothing: one NaN row failed the whole command');
    assert.deepEqual(out.map((r) => [r.line, r.total]), [[1, 0.5], [3, null]]);
    assert.match(out[1].error ?? '', /nan_here.*data\.jsonl:3 \(id r3\): returned NaN/);
    // Set before the command returned: no waiting needed.
    const diags = scoreDiagnostics();
    assert.equal(diags.length, 1, JSON.stringify(diags.map((d) => [d.range.start.line, d.message])));
    assert.equal(diags[0].range.start.line, 2, 'the diagnostic is on the NaN row (line 3)');
    assert.equal(diags[0].severity, vscode.DiagnosticSeverity.Error);
    assert.match(diags[0].message, /returned NaN/);
    await outputChannel('A-LoL Rewards', (t) => /line 3: error: .*returned NaN/.test(t), 30_000);

    // Scoring row 3 with a config that scores it: the stale error is gone.
    editor.selections = [new vscode.Selection(2, 0, 2, 0)];
    const again = await score();
    assert.ok(again && again[0].total !== null, JSON.stringify(again));
    assert.deepEqual(scoreDiagnostics(), [], 'a stale Score Row diagnostic was left');
  });

  it('refuses a malformed row under the cursor (an unsaved edit) and scores nothing', async () => {
    const edit = new vscode.WorkspaceEdit();
    edit.replace(editor.document.uri, editor.document.lineAt(1).range, '{"id": "broken", "prompt": ');
    assert.ok(await vscode.workspace.applyEdit(edit));
    editor.selections = [new vscode.Selection(1, 3, 1, 3), new vscode.Selection(2, 0, 2, 0)];
    assert.equal(await score(), undefined);
    const diags = vscode.languages.getDiagnostics(editor.document.uri).filter((d) => d.source === 'A-LoL');
    assert.deepEqual(diags.map((d) => d.range.start.line), [1], 'the reason is on the malformed line');
    assert.match(diags[0].message, /not valid JSON/);
    await vscode.commands.executeCommand('workbench.action.files.revert');
  });
});
