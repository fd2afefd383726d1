// Config IntelliSense in the real extension host: a run config named *.alol.json gets the extension's JSON
// Schema from VS Code's JSON language service — a misspelt key is a Problem on its line before anything runs,
// a wrong enum value too, and hovering a key shows the field's description from the zod schema.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { before, describe, it } from 'mocha';
import { until } from './wait';

const TYPO = `{
  // a run config with a typo
  "data": { "path": "data.jsonl" },
  "train": { "varient": "a_lol", "steps": 10 },
  "eval": { "maxPrompts": 5 }
}
`;

describe('Run config IntelliSense (JSON Schema)', function () {
  this.timeout(90_000);
  let root: string;

  before(async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the suite needs a workspace folder');
    root = path.join(folder.uri.fsPath, 'config');
    fs.mkdirSync(root, { recursive: true });
    await vscode.extensions.getExtension('alol-studio.alol-studio')?.activate();
  });

  /** The JSON language service's diagnostics on `uri` once there are some (it validates after the file opens). */
  const problems = (uri: vscode.Uri) => until(`JSON diagnostics on ${path.basename(uri.fsPath)}`, 60_000, () => {
    const d = vscode.languages.getDiagnostics(uri);
    return d.length ? d : undefined;
  });

  it('a misspelt key is a Problem on its line before any run', async () => {
    const file = path.join(root, 'typo.alol.jsonc');
    fs.writeFileSync(file, TYPO);
    const doc = await vscode.workspace.openTextDocument(file);
    await vscode.window.showTextDocument(doc);
    const found = await problems(doc.uri);
    const typo = found.find((d) => /varient/.test(d.message) || doc.getText(d.range).includes('varient'));
    assert.ok(typo, `no problem names "varient": ${JSON.stringify(found.map((d) => [d.range.start.line, d.message]))}`);
    assert.equal(typo.range.start.line, 3, 'on the line of "varient"');
    assert.equal(found.length, 1, `only the typo: ${JSON.stringify(found.map((d) => d.message))}`);
  });

  it('a wrong value is a Problem, and a key\'s hover shows its description', async () => {
    const file = path.join(root, 'value.alol.json');
    fs.writeFileSync(file, '{\n  "train": { "variant": "a_lol_sq" }\n}\n');
    const doc = await vscode.workspace.openTextDocument(file);
    await vscode.window.showTextDocument(doc);
    const found = await problems(doc.uri);
    assert.ok(found.some((d) => d.range.start.line === 1), JSON.stringify(found.map((d) => [d.range.start.line, d.message])));
    const at = doc.positionAt(doc.getText().indexOf('"variant"') + 2);
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, at);
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
    assert.match(text, /loss/i, `the hover of "variant" shows its description: ${JSON.stringify(text)}`);
  });
});
