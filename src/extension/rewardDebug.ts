// Reward debugging in the editor: New Reward Function (a typed template added to a run config),
// Score Row / Selection (rewardScore.ts: every component and the total, inline and in a panel), Check
// Reward Function (problems as diagnostics on their rows), Debug Reward Function (VS Code's Node debugger
// on the trainer's reward runner, in-process, no time limit) and the Reward Report (rewardReport.ts).
// The run config is the workspace's chosen one (runConfig.ts). Each runs the trainer's
// own CLI verb in a fresh child process — the same reward registry training uses — so a saved edit to a
// reward module is what the next command runs. Workspace Trust gates all that run workspace code (all
// but New Reward Function, which only writes a template and edits a config).

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { modify } from 'jsonc-parser';
import * as vscode from 'vscode';
import type { TrainerController } from './controller.js';
import { type ResolvedRuntime, cliEntry, resolveRuntime, runCliVerb } from './nodeRuntime.js';
import { type RowScore, describeScore, modulePathOf, readConfigAsWritten, rewardInsertion, rewardTemplate } from './rewardFiles.js';
import { RewardReportView } from './rewardReport.js';
import { ScoreDisplay, type ScoredRow, touchedLines } from './rewardScore.js';
import type { RunConfigChoice } from './runConfig.js';

export type { ScoredRow } from './rewardScore.js';

export class RewardDebugger implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel('A-LoL Rewards');
  private readonly diagnostics = vscode.languages.createDiagnosticCollection('alol-rewards');
  private readonly scores = new ScoreDisplay(this.output);
  private readonly reports = new RewardReportView();
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
    private readonly configs: RunConfigChoice,
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

  /** The workspace's run config (asked for once, then remembered; the status-bar item switches it). */
  private config(purpose: string): Promise<string | undefined> {
    return this.configs.get(purpose);
  }

  async newRewardFunction(): Promise<void> {
    const ws = vscode.workspace.workspaceFolders?.[0];
    if (!ws) return void vscode.window.showErrorMessage('A-LoL: open a folder first.');
    const name = await vscode.window.showInputBox({
      title: 'A-LoL: New Reward Function',
      prompt: 'Name of the reward component',
      value: 'my_reward',
      // Stays open when the focus moves (into the dashboard's webview, say, which takes the focus a moment after it is
      // shown): Escape cancels it. Without this a late focus change closed it under the user's typing (seen in CI).
      ignoreFocusOut: true,
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
      // One insertion in the rewards array's own layout; a config without one gets the key added by jsonc-parser.
      const insert = rewardInsertion(text, component);
      const edit = new vscode.WorkspaceEdit();
      if (insert) edit.insert(doc.uri, doc.positionAt(insert.offset), insert.text);
      else {
        const formattingOptions = { insertSpaces: true, tabSize: 2 };
        for (const e of modify(text, ['rewards'], [component], { formattingOptions })) {
          edit.replace(doc.uri, new vscode.Range(doc.positionAt(e.offset), doc.positionAt(e.offset + e.length)), e.content);
        }
      }
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
    this.scores.show(editor, config, perLine, new Map(), header);
  }

  /** Score Row / Selection on the active editor (rewardScore.ts); `configFile` skips the workspace's run config. */
  scoreRows(configFile?: string): Promise<ScoredRow[] | undefined> {
    const config = () => (configFile ? Promise.resolve(configFile) : this.config('Score Row'));
    return this.scores.score(vscode.window.activeTextEditor, config, (args, cwd, stdin) => this.run(args, cwd, stdin));
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

  /** Opens the report in the Markdown preview (a read-only document, returned for tests); `configFile` skips the run config. */
  async report(configFile?: string): Promise<vscode.TextDocument | undefined> {
    const config = configFile ?? (await this.config('Reward Report'));
    if (!config) return undefined;
    try {
      const progress = { location: vscode.ProgressLocation.Notification, title: `A-LoL: reward report of ${path.basename(config)}` };
      const args = ['reward-report', '--config', config, '--json'];
      const json = await vscode.window.withProgress(progress, () => this.run(args, path.dirname(config)));
      const doc = await this.reports.show(config, json);
      const { skipped } = JSON.parse(json) as { skipped: { line: number; rowId: string; errors: { message: string }[] }[] };
      if (skipped.length) {
        this.output.appendLine(`reward report of ${path.basename(config)}: ${skipped.length} row(s) not scored:`);
        for (const r of skipped) this.output.appendLine(`  line ${r.line} (id ${r.rowId}): ${r.errors.map((e) => e.message).join('; ')}`);
      }
      return doc;
    } catch (e) {
      void vscode.window.showErrorMessage(`A-LoL: reward report failed: ${(e as Error).message}`);
      return undefined;
    }
  }

  dispose(): void {
    this.onSave.dispose();
    this.scores.dispose();
    this.reports.dispose();
    this.output.dispose();
    this.diagnostics.dispose();
  }
}
