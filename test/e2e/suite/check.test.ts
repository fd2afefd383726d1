// Check Reward Function in the real extension host: a planted NaN becomes an error diagnostic on its
// dataset row (and nowhere else); fixing the module and saving it re-runs the check, and the
// diagnostic goes away (reload on save).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { before, describe, it } from 'mocha';

const PLANTED = `// NaN for one row, planted by the test
export default function score(batch: { response: string }[]): number[] {
  return batch.map((x) => (x.response.includes('planted') ? NaN : x.response.length / 100));
}
`;

const ROWS = ['a fine answer', 'the planted one', 'another fine answer', 'last'].map((response, i) => ({ id: `c${i}`, prompt: 'Human: q\n\nAssistant:', response: ` ${response}` }));

async function until<T>(what: string, ms: number, f: () => T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

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
    await vscode.commands.executeCommand('alolStudio.checkRewardFunction', path.join(root, 'check.alol.json'), 'planted');
    const diags = await until('diagnostics on data.jsonl', 30_000, () => {
      const d = vscode.languages.getDiagnostics(data);
      return d.length ? d : undefined;
    });
    assert.deepEqual(diags.map((d) => [d.range.start.line, d.severity]), [[1, vscode.DiagnosticSeverity.Error]]);
    assert.match(diags[0].message, /^planted: nan: /);

    // Edit the module in the editor and save it: the check runs again on the new code.
    const doc = await vscode.workspace.openTextDocument(module);
    const edit = new vscode.WorkspaceEdit();
    const text = doc.getText();
    const at = text.indexOf('? NaN') + 2;
    edit.replace(doc.uri, new vscode.Range(doc.positionAt(at), doc.positionAt(at + 3)), '0');
    assert.ok(await vscode.workspace.applyEdit(edit));
    assert.ok(await doc.save());
    await until('the diagnostic to clear after the save', 30_000, () => (vscode.languages.getDiagnostics(data).length === 0 ? true : undefined));
  });
});
