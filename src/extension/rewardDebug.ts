// Reward debugging in the editor: New Reward Function (a typed template added to a run config),
// Score Row / Selection (every component and the total, inline and in a panel), Check Reward Function
// (problems as diagnostics on their rows), Debug Reward Function (VS Code's Node debugger on the
// trainer's reward runner, in-process, no time limit) and the Reward Report. Each runs the trainer's
// own CLI verb in a fresh child process — the same reward registry training uses — so a saved edit to a
// reward module is what the next command runs. Workspace Trust gates all that run workspace code (all
// but New Reward Function, which only writes a template and edits a config).

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyEdits, modify } from 'jsonc-parser';
import * as vscode from 'vscode';
import type { TrainerController } from './controller.js';
import { type ResolvedRuntime, cliEntry, resolveRuntime, runCliVerb } from './nodeRuntime.js';
import { type RowScore, describeScore, fieldsOf, modulePathOf, readConfigAsWritten, rewardTemplate, unescapeJson } from './rewardFiles.js';

/** The 0-based lines a selection touches; one that ends at the start of a line (Shift+Down) does not take that line. */
function touchedLines(s: vscode.Selection): number[] {
  const last = s.end.line > s.start.line && s.end.character === 0 ? s.end.line - 1 : s.end.line;
  return Array.from({ length: last - s.start.line + 1 }, (_, k) => s.start.line + k);
}

/** What Score Row returns (to keybindings and tests): a row of the file, or a selection scored as a response. */
export interface ScoredRow {
  /** 1-based line of the row, or of the selection's end. */
  line: number;
  /** The selected text scored as a response; null for a dataset row. */
  selection: string | null;
  kind: string;
  total: number;
  rewards: Record<string, number>;
}

export class RewardDebugger implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel('A-LoL Rewards');
  private readonly diagnostics = vscode.languages.createDiagnosticCollection('alol-rewards');
  private readonly inline = vscode.window.createTextEditorDecorationType({
    after: { margin: '0 0 0 2em', color: new vscode.ThemeColor('editorCodeLens.foreground') },
  });
  private lastConfig: string | null = null;
  /** The last Check Reward Function: re-run when its module (or a file beside it) is saved. */
  private lastCheck: { config: string; name: string; moduleDir: string } | null = null;
  private checking = false;
  private checkAgain = false;
  private readonly onSave = vscode.workspace.onDidSaveTextDocument((doc) => {
    const c = this.lastCheck;
    if (!c || !/\.(m|c)?[jt]s$/.test(doc.fileName) || !doc.fileName.startsWith(c.moduleDir + path.sep)) return;
    this.output.appendLine(`${vscode.workspace.asRelativePath(doc.fileName)} saved: checking ${c.name} again`);
    void this.recheck();
  });

  /** One check at a time; a save during a check runs one more after it (on the newest code). */
  private async recheck(): Promise<void> {
    if (this.checking) return void (this.checkAgain = true);
    this.checking = true;
    try {
      do {
        this.checkAgain = false;
        const c = this.lastCheck;
        if (c) await this.runCheck(c.config, c.name, { quiet: true });
      } while (this.checkAgain);
    } finally {
      this.checking = false;
    }
  }

  constructor(
    private readonly controller: TrainerController,
    private readonly extensionPath: string,
    private readonly pickConfig: (purpose: string) => Promise<string | undefined>,
  ) {}

  /** Runs an `alol` verb in a fresh process; resolves with its output (rejects with its one-line error). */
  private run(args: string[], cwd: string, stdin?: string): Promise<string> {
    return runCliVerb(this.runtime(), this.extensionPath, args, cwd, stdin);
  }

  private runtime(): ResolvedRuntime {
    return resolveRuntime({
      extensionPath: this.extensionPath,
      nodePath: this.controller.settings().nodePath,
      trainerCommand: [],
      editorExecutable: process.execPath,
    });
  }

  private async config(purpose: string): Promise<string | undefined> {
    if (this.lastConfig && existsSync(this.lastConfig)) {
      const items = [
        { label: vscode.workspace.asRelativePath(this.lastConfig), file: this.lastConfig },
        { label: 'Another run config…', file: '' },
      ];
      const use = await vscode.window.showQuickPick(items, { title: `A-LoL: ${purpose}` });
      if (!use) return undefined;
      if (use.file) return use.file;
    }
    const file = await this.pickConfig(purpose);
    if (file) this.lastConfig = file;
    return file;
  }

  async newRewardFunction(): Promise<void> {
    const ws = vscode.workspace.workspaceFolders?.[0];
    if (!ws) return void vscode.window.showErrorMessage('A-LoL: open a folder first.');
    const name = await vscode.window.showInputBox({
      title: 'A-LoL: New Reward Function',
      prompt: 'Name of the reward component',
      value: 'my_reward',
      validateInput: (t) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(t) ? null : 'letters, digits and _, not starting with a digit'),
    });
    if (!name) return;
    const file = path.join(ws.uri.fsPath, 'rewards', `${name}.ts`);
    if (existsSync(file)) return void vscode.window.showErrorMessage(`A-LoL: ${vscode.workspace.asRelativePath(file)} exists already.`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, rewardTemplate(name));
    const config = await this.config('add the new reward to a run config');
    if (config) {
      const doc = await vscode.workspace.openTextDocument(config);
      const text = doc.getText();
      const modulePath = path.relative(path.dirname(config), file).split(path.sep).join('/');
      const component = { name, kind: 'module', path: modulePath, range: [0, 1], weight: 1, timeoutMs: 2000 };
      const formattingOptions = { insertSpaces: true, tabSize: 2 };
      const edits = modify(text, ['rewards', -1], component, { isArrayInsertion: true, formattingOptions });
      const edit = new vscode.WorkspaceEdit();
      edit.replace(doc.uri, new vscode.Range(doc.positionAt(0), doc.positionAt(text.length)), applyEdits(text, edits));
      // A refused save (a conflict with the file on disk, a failing save participant) leaves the edit unsaved in
      // the editor: say so, since the trainer reads the file, not the buffer.
      if (!(await vscode.workspace.applyEdit(edit))) {
        void vscode.window.showWarningMessage(
          `A-LoL: VS Code refused the edit of ${path.basename(config)}; add "${name}" to its rewards by hand.`);
      } else if (!(await doc.save()) && doc.isDirty) {
        // save() is also false when an auto-save of the file was already under way (VS Code for the Web's
        // default files.autoSave is afterDelay); only a buffer still unsaved afterwards is worth a warning.
        void vscode.window.showWarningMessage(
          `A-LoL: "${name}" was added to ${path.basename(config)} in the editor, but VS Code did not save it; `
          + 'save the file before running the reward.');
      }
    }
    await vscode.window.showTextDocument(vscode.Uri.file(file));
    const added = config ? ` and added "${name}" to ${path.basename(config)}` : '';
    void vscode.window.showInformationMessage(`A-LoL: wrote ${vscode.workspace.asRelativePath(file)}${added}.`);
  }

  /** Scores after their lines (and as their hovers: text after a long line can scroll out of reach) and in the output. */
  private showScores(
    editor: vscode.TextEditor | undefined,
    config: string,
    perLine: Map<number, string[]>,
    label: Map<number, string>,
    header: string,
  ): void {
    const hover = (t: string[]) => {
      const items = t.map((x) => `- ${x.replace(/[\\`*_[\]<>]/g, '\\$&')}`).join('\n');
      const md = new vscode.MarkdownString(`**A-LoL scores** (${path.basename(config)})\n\n${items}`);
      md.isTrusted = false;
      return md;
    };
    if (editor) {
      const after = (t: string[]) => ({ after: { contentText: `  ⟶ ${t.join('  |  ')}` } });
      const shown = [...perLine].filter(([i]) => i < editor.document.lineCount);
      const range = (i: number) => editor.document.lineAt(i).range;
      editor.setDecorations(this.inline, shown.map(([i, t]) => ({ range: range(i), hoverMessage: hover(t), renderOptions: after(t) })));
    }
    this.output.appendLine(header);
    for (const [i, t] of [...perLine].sort((a, b) => a[0] - b[0])) {
      this.output.appendLine(`  ${label.get(i) ?? `line ${i + 1}`}: ${t.join('  |  ')}`);
    }
    this.output.show(true);
  }

  /** After a debug run: its scores (written by `debug-reward --results`) on the dataset's rows and in the output. */
  private showDebugResults(resultsFile: string, config: string, name: string): void {
    let out: RowScore[];
    try {
      out = JSON.parse(readFileSync(resultsFile, 'utf8')) as RowScore[];
    } catch {
      this.output.appendLine(`debug of ${name} ended before it had scored its rows (no results)`);
      return;
    }
    const perLine = new Map<number, string[]>();
    for (const r of out) {
      const pair = out.filter((x) => x.line === r.line).length > 1;
      perLine.set(r.line - 1, [...(perLine.get(r.line - 1) ?? []), describeScore(r, pair)]);
    }
    const data = readConfigAsWritten(config).dataPath;
    const editor = vscode.window.visibleTextEditors.find((e) => data && path.resolve(e.document.fileName) === data && !e.document.isDirty);
    const header = `debug of ${name} on ${out.length} row(s) of ${data ?? 'the dataset'} with ${path.basename(config)}:`;
    this.showScores(editor, config, perLine, new Map(), header);
  }

  /**
   * Scores the rows under the cursors / selected lines of a .jsonl dataset, and any other selected text
   * as a response (with the prompt of the row it was taken from, if any): every component and the total
   * after each row and in the "A-LoL Rewards" output.
   */
  async scoreRows(configFile?: string): Promise<ScoredRow[] | undefined> {
    const editor = vscode.window.activeTextEditor;
    const doc = editor?.document;
    const jsonl = !!doc && /\.jsonl$/i.test(doc.fileName);
    const rowLines = new Set<number>();
    const texts: { text: string; fields: Record<string, unknown>; at: number }[] = [];
    for (const s of editor?.selections ?? []) {
      const selected = doc ? doc.getText(s) : '';
      // Rows: the cursor's row, or every line a selection touches; text: a part of one line (or any file's text).
      const wholeLines = jsonl && doc && (s.isEmpty || !s.isSingleLine || selected.trim() === doc.lineAt(s.start.line).text.trim());
      if (wholeLines && doc) {
        for (const i of touchedLines(s)) if (!doc.lineAt(i).isEmptyOrWhitespace) rowLines.add(i);
      } else if (selected.trim() && doc) {
        const fields = jsonl ? fieldsOf(doc.lineAt(s.start.line).text) : {};
        texts.push({ text: jsonl ? unescapeJson(selected) : selected, fields, at: s.end.line });
      }
    }
    if (!doc || (!rowLines.size && !texts.length)) {
      const how = 'put the cursor on a row of a .jsonl dataset, select rows, or select text to score as a response.';
      return void vscode.window.showWarningMessage(`A-LoL: ${how}`);
    }
    const config = configFile ?? (await this.config('Score Row'));
    if (!config) return;
    // The document's own line numbers reach the trainer (unselected lines blank), so an error names the
    // file's line; selected text follows as rows of its own after the last line.
    const lineCount = doc.lineCount;
    const input = [
      ...Array.from({ length: lineCount }, (_, i) => (rowLines.has(i) ? doc.lineAt(i).text : '')),
      ...texts.map((t, k) => {
        const prompt = typeof t.fields.prompt === 'string' ? t.fields.prompt : '';
        return JSON.stringify({ ...t.fields, id: `selection ${k + 1}`, prompt, response: t.text });
      }),
    ].join('\n');
    try {
      const json = await this.run(['score-rows', '--config', config, '--input', '-', '--json'], path.dirname(config), input);
      const out = JSON.parse(json) as RowScore[];
      const perLine = new Map<number, string[]>();
      const label = new Map<number, string>();
      for (const i of rowLines) {
        const here = out.filter((r) => r.line === i + 1);
        perLine.set(i, here.map((r) => describeScore(r, here.length > 1)));
        label.set(i, `line ${i + 1}`);
      }
      texts.forEach((t, k) => {
        const r = out.find((x) => x.line === lineCount + k + 1);
        if (!r) return;
        perLine.set(t.at, [...(rowLines.has(t.at) ? perLine.get(t.at) ?? [] : []), `selection: ${describeScore(r, false)}`]);
        label.set(t.at, label.get(t.at) ?? `selection ${k + 1} (line ${t.at + 1})`);
      });
      const selections = texts.length ? ` and ${texts.length} selection(s)` : '';
      const header = `score of ${rowLines.size} row line(s)${selections} of ${doc.fileName} with ${path.basename(config)}:`;
      this.showScores(editor, config, perLine, label, header);
      return out.map((r) => {
        const scores = { kind: r.kind, total: r.total, rewards: r.rewards };
        if (r.line <= lineCount) return { line: r.line, selection: null, ...scores };
        const t = texts[r.line - lineCount - 1];
        return { line: t.at + 1, selection: t.text, ...scores };
      });
    } catch (e) {
      void vscode.window.showErrorMessage(`A-LoL: scoring failed: ${path.basename(doc.fileName)}: ${(e as Error).message}`);
      return undefined;
    }
  }

  private async component(config: string, purpose: string): Promise<string | undefined> {
    const names = readConfigAsWritten(config).rewards.filter((c) => c.kind === 'module').map((c) => c.name);
    if (names.length === 0) {
      const hint = 'use "A-LoL: New Reward Function"';
      return void vscode.window.showWarningMessage(`A-LoL: ${path.basename(config)} has no module reward (${hint}).`);
    }
    return names.length === 1 ? names[0] : vscode.window.showQuickPick(names, { title: `A-LoL: ${purpose}` });
  }

  /** `configFile`/`component` skip the pickers (for keybindings and tests). */
  async check(configFile?: string, component?: string): Promise<void> {
    const config = configFile ?? (await this.config('Check Reward Function'));
    if (!config) return;
    const name = component ?? (await this.component(config, 'Check Reward Function'));
    if (!name) return;
    await this.runCheck(config, name, { quiet: false });
  }

  /** Dry-runs `name` on 50 rows; problems become diagnostics on their rows. `quiet`: no pop-up (re-check on save). */
  private async runCheck(config: string, name: string, { quiet }: { quiet: boolean }): Promise<void> {
    const written = readConfigAsWritten(config);
    const modulePath = modulePathOf(written, name);
    this.lastCheck = modulePath ? { config, name, moduleDir: path.dirname(modulePath) } : null;
    try {
      const args = ['check-reward', '--config', config, '--component', name, '--rows', '50', '--json'];
      const json = await this.run(args, path.dirname(config));
      const report = JSON.parse(json) as {
        findings: { row: string; line: number; problem: string; detail: string }[];
        timing: Record<string, { calls: number; meanMs: number; maxMs: number }>;
      };
      // check-reward ran on the config's dataset: its findings' lines are that file's.
      const dataFile = written.dataPath;
      this.diagnostics.clear();
      if (dataFile) {
        const uri = vscode.Uri.file(dataFile);
        const severity = (problem: string) => (problem === 'slow' ? vscode.DiagnosticSeverity.Warning : vscode.DiagnosticSeverity.Error);
        const range = (line: number) => new vscode.Range(line - 1, 0, line - 1, 1000);
        const diagnostic = (f: (typeof report.findings)[number]) =>
          new vscode.Diagnostic(range(f.line), `${name}: ${f.problem}: ${f.detail}`, severity(f.problem));
        this.diagnostics.set(uri, report.findings.map(diagnostic));
      }
      const t = report.timing[name];
      const timing = `mean ${t?.meanMs.toFixed(1)} ms, max ${t?.maxMs.toFixed(1)} ms per row`;
      this.output.appendLine(`check of ${name} on ${t?.calls ?? 0} rows: ${report.findings.length} findings; ${timing}`);
      for (const f of report.findings) this.output.appendLine(`  ${f.problem} on ${f.row}: ${f.detail}`);
      this.output.show(true);
      if (!quiet) {
        const found = report.findings.length;
        const what = found ? `${found} problems (see Problems and the A-LoL Rewards output)` : `no problems on ${t?.calls ?? 0} rows`;
        void vscode.window.showInformationMessage(`A-LoL: ${name}: ${what}.`);
      }
    } catch (e) {
      this.output.appendLine(`check of ${name} failed: ${(e as Error).message}`);
      void vscode.window.showErrorMessage(`A-LoL: check failed: ${(e as Error).message}`);
    }
  }

  /** `configFile`/`component` skip the pickers (for keybindings and tests). */
  async debug(configFile?: string, component?: string): Promise<boolean> {
    const config = configFile ?? (await this.config('Debug Reward Function'));
    if (!config) return false;
    const name = component ?? (await this.component(config, 'Debug Reward Function'));
    if (!name) return false;
    // The rows under the cursor or selection, when the editor shows the config's own dataset.
    const editor = vscode.window.activeTextEditor;
    const dataPath = readConfigAsWritten(config).dataPath;
    const onData = editor && dataPath && path.resolve(editor.document.fileName) === dataPath;
    const touched = onData ? [...new Set(editor.selections.flatMap(touchedLines))].sort((a, b) => a - b) : null;
    const lines = touched?.map((i) => i + 1).join(',');
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(config));
    const configDir = path.dirname(config);
    const common = ['--config', config, '--component', name];
    // The run bundles each module to <name>.ts.alol-debug.js beside it and requires that. Written here
    // first (same bytes), the debugger finds it through outFiles and sets the user's breakpoints on it
    // before it loads; a script appearing mid-run would be bound too late. Source maps are read only there.
    let files: string[];
    try {
      files = (JSON.parse(await this.run(['debug-reward', ...common, '--prepare', '--json'], configDir)) as { files: string[] }).files;
    } catch (e) {
      void vscode.window.showErrorMessage(`A-LoL: cannot debug ${name}: ${(e as Error).message}`);
      return false;
    }
    const resultsDir = mkdtempSync(path.join(os.tmpdir(), 'alol-debug-'));
    const resultsFile = path.join(resultsDir, 'results.json');
    const rt = this.runtime();
    const launchName = `A-LoL: Debug Reward Function (${name})`;
    const started = await vscode.debug.startDebugging(folder, {
      type: 'node',
      request: 'launch',
      name: launchName,
      runtimeExecutable: rt.command[0],
      program: cliEntry(this.extensionPath),
      args: ['debug-reward', ...common, '--rows', '5', '--results', resultsFile, ...(lines ? ['--lines', lines] : [])],
      cwd: configDir,
      env: rt.env.ELECTRON_RUN_AS_NODE ? { ELECTRON_RUN_AS_NODE: '1' } : {},
      console: 'internalConsole',
      outputCapture: 'std',
      sourceMaps: true,
      outFiles: files,
      resolveSourceMapLocations: files,
      skipFiles: ['<node_internals>/**'],
    });
    // The run removes its copies when it ends; a run stopped from the debug toolbar is killed first.
    const remove = () => {
      for (const f of files) rmSync(f, { force: true });
      rmSync(resultsDir, { recursive: true, force: true });
    };
    if (!started) remove();
    else {
      const done = vscode.debug.onDidTerminateDebugSession((s) => {
        if (s.configuration.name !== launchName) return;
        done.dispose();
        this.showDebugResults(resultsFile, config, name);
        remove();
      });
    }
    return started;
  }

  /** Opens the report as a read-only text document (returned, for tests); `configFile` skips the picker. */
  async report(configFile?: string): Promise<vscode.TextDocument | undefined> {
    const config = configFile ?? (await this.config('Reward Report'));
    if (!config) return undefined;
    try {
      const progress = { location: vscode.ProgressLocation.Notification, title: `A-LoL: reward report of ${path.basename(config)}` };
      const text = await vscode.window.withProgress(progress, () => this.run(['reward-report', '--config', config], path.dirname(config)));
      const doc = await vscode.workspace.openTextDocument({ content: text, language: 'plaintext' });
      await vscode.window.showTextDocument(doc, { preview: true });
      return doc;
    } catch (e) {
      void vscode.window.showErrorMessage(`A-LoL: reward report failed: ${(e as Error).message}`);
      return undefined;
    }
  }

  dispose(): void {
    this.onSave.dispose();
    this.output.dispose();
    this.diagnostics.dispose();
    this.inline.dispose();
  }
}
