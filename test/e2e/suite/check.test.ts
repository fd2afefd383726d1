// Check Reward Function in the real extension host: a planted NaN becomes an error diagnostic on its
// dataset row (and nowhere else); fixing the module and saving it re-runs the check, and the
// diagnostic goes away (reload on save).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { before, describe, it } from 'mocha';
import { outputChannel, outputChannelText, until } from './wait.js';

const PLANTED = `// NaN for one row, planted by the test
export default function score(batch: { response: string }[]): number[] {
  return batch.map((x) => (x.response.includes('planted') ? NaN : x.response.length / 100));
}
`;

const ROWS = ['a fine answer', 'the planted one', 'another fine answer', 'last']
  .map((response, i) => ({ id: `c${i}`, prompt: 'Human: q\n\nAssistant:', response: ` ${response}` }));

describe('Check Reward Function', function () {
  this.timeout(90_000);
  let root: string;
  let data: vscode.Uri;
  let module: string;

  before(async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the suite needs a workspace folder');
    root = path.join(folder.uri.fsPath, 'check');
    fs.mkdirSync(path.join(root, 'rewards'), { recursive: true });
    module = path.join(root, 'rewards', 'planted.ts');
    fs.writeFileSync(module, PLANTED);
    fs.writeFileSync(path.join(root, 'data.jsonl'), `${ROWS.map((r) => JSON.stringify(r)).join('\n')}\n`);
    data = vscode.Uri.file(path.join(root, 'data.jsonl'));
    fs.writeFileSync(path.join(root, 'check.alol.json'), JSON.stringify({
      data: { path: 'data.jsonl' },
      rewards: [{ name: 'planted', kind: 'module', path: 'rewards/planted.ts', range: [0, 1] }],
    }, null, 2));
    await vscode.extensions.getExtension('alol-studio.alol-studio')?.activate();
  });

  it('reports the planted NaN on its row only; a saved fix clears it', async () => {
    // The command resolves when its check has run and its diagnostics are set. A "slow" warning is
    // about the machine's speed at that moment, not about the NaN: the claim is on the errors.
    await vscode.commands.executeCommand('alolStudio.checkRewardFunction', path.join(root, 'check.alol.json'), 'planted');
    const errors = () => vscode.languages.getDiagnostics(data).filter((d) => d.severity === vscode.DiagnosticSeverity.Error);
    const shown = () => JSON.stringify(vscode.languages.getDiagnostics(data).map((d) => [d.range.start.line, d.severity, d.message]));
    const diags = await until('error diagnostics on data.jsonl', 30_000, () => (errors().length ? errors() : undefined), shown);
    assert.deepEqual(diags.map((d) => d.range.start.line), [1], `errors on other rows: ${shown()}`);
    assert.match(diags[0].message, /^planted: nan: /);

    // Edit the module in the editor and save it: the check runs again on the new code.
    const doc = await vscode.workspace.openTextDocument(module);
    const edit = new vscode.WorkspaceEdit();
    const text = doc.getText();
    const at = text.indexOf('? NaN') + 2;
    edit.replace(doc.uri, new vscode.Range(doc.positionAt(at), doc.positionAt(at + 3)), '0');
    assert.ok(await vscode.workspace.applyEdit(edit), 'the edit was not applied');
    assert.ok(doc.isDirty, `the edited document is not dirty (version ${doc.version})`);
    const checksBefore = outputChannelText('A-LoL Rewards').split('\ncheck of planted on ').length;
    const events: string[] = [];
    const t0 = Date.now();
    let savedByVsCode = false; // set by onDidSaveTextDocument: the event that means "on disk", whoever saved
    const subs = [
      vscode.workspace.onWillSaveTextDocument((e) => events.push(
        `willSave ${path.basename(e.document.fileName)} reason ${e.reason} +${Date.now() - t0}ms`)),
      vscode.workspace.onDidSaveTextDocument((d) => {
        events.push(`didSave ${path.basename(d.fileName)} +${Date.now() - t0}ms`);
        if (d.uri.toString() === doc.uri.toString()) savedByVsCode = true;
      }),
      vscode.workspace.onDidChangeTextDocument((e) => e.document === doc && events.push(
        `change v${e.document.version} dirty ${e.document.isDirty} +${Date.now() - t0}ms`)),
    ];
    // code-server is VS Code for the Web, where files.autoSave defaults to "afterDelay" (1 s): on a slow
    // machine the auto-save (willSave reason 2) has begun before this save() call, which then returns
    // false although the file is being saved. What counts is the save event and the file on disk.
    const saved = await doc.save();
    events.push(`save() -> ${saved} +${Date.now() - t0}ms`);
    const onDisk = () => fs.readFileSync(module, 'utf8').includes('? 0 :');
    const state = () =>
      `dirty ${doc.isDirty}, closed ${doc.isClosed}, version ${doc.version}, fix on disk ${onDisk()}; ${events.join('; ')}`;
    try {
      await until('the edited module to be saved (onDidSaveTextDocument, not dirty, the fix on disk)', 60_000,
        () => (savedByVsCode && !doc.isDirty && onDisk() ? true : undefined), state);
    } finally {
      for (const d of subs) d.dispose();
    }
    // The re-check on save writes "<file> saved: checking planted again", then its own "check of planted on …" line.
    await outputChannel('A-LoL Rewards', (t) => t.includes('planted.ts saved: checking planted again')
      && t.split('\ncheck of planted on ').length > checksBefore, 120_000);
    assert.deepEqual(JSON.parse(shown()).filter((d: [number, number]) => d[1] === vscode.DiagnosticSeverity.Error), [],
      'the re-check after the saved fix still reports errors');
  });
});
