// Which run config the commands use. Start Training and Audit Advantages ask each time; the reward commands
// (Score Row, Check, Debug, Reward Report, New Reward Function) use the one chosen last in this workspace,
// remembered in workspaceState and shown by a status-bar item that switches it. A new run config comes
// from the template with a dataset the user picks (one that exists), so it validates and runs as written.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { COMMANDS, STATE_KEYS } from './constants.js';
import { runConfigName, runConfigTemplate } from './runConfigTemplate.js';

const EXCLUDE = '{**/node_modules/**,**/runs/**,**/.alol/**}';

/** A dataset for a new run config: a .jsonl(.gz) of the workspace, or one chosen from disk. */
async function pickDataset(ws: vscode.WorkspaceFolder): Promise<string | undefined> {
  const found = await vscode.workspace.findFiles('**/*.{jsonl,jsonl.gz}', EXCLUDE, 200);
  const data = found.filter((f) => !/(^|[\\/])(events|advantages)\.jsonl$/.test(f.fsPath));
  const browse = async () => (await vscode.window.showOpenDialog({
    title: 'A-LoL: the dataset of the new run config',
    defaultUri: ws.uri,
    canSelectMany: false,
    filters: { 'Datasets (JSONL, HH)': ['jsonl', 'gz', 'json'] },
  }))?.[0]?.fsPath;
  if (!data.length) return browse();
  const items: (vscode.QuickPickItem & { file?: string })[] = data.map((f) => ({
    label: vscode.workspace.asRelativePath(f),
    file: f.fsPath,
  }));
  items.push({ label: '$(folder-opened) Choose a file…' });
  const choice = await vscode.window.showQuickPick(items, { title: 'A-LoL: the dataset of the new run config', placeHolder: 'JSONL rows' });
  if (!choice) return undefined;
  return choice.file ?? browse();
}

/** Writes a new run config from the template (with a dataset the user picks) and opens it; its path, or undefined. */
async function newRunConfig(): Promise<string | undefined> {
  const ws = vscode.workspace.workspaceFolders?.[0];
  if (!ws) return void vscode.window.showErrorMessage('A-LoL: open a folder first: a run config lives in the workspace.');
  const data = await pickDataset(ws);
  if (!data) return undefined;
  let file = path.join(ws.uri.fsPath, runConfigName(1));
  for (let i = 2; existsSync(file); i++) file = path.join(ws.uri.fsPath, runConfigName(i));
  writeFileSync(file, runConfigTemplate(path.relative(path.dirname(file), data).split(path.sep).join('/')));
  await vscode.window.showTextDocument(vscode.Uri.file(file));
  const next = 'check the rewards (hover a key for its meaning), then run the command again.';
  void vscode.window.showInformationMessage(`A-LoL: wrote ${path.basename(file)} for ${path.basename(data)}; ${next}`);
  return file;
}

/**
 * Workspace JSON files that look like run configs (named *.alol.json(c), or with a `rewards` or `train`
 * key), and "New run config from a template…". Resolves with the chosen file; a new config is written and
 * opened for review (`created`), and `file` stays undefined: the command that asked runs again once it is right.
 */
async function pick(purpose: string): Promise<{ file?: string; created?: string }> {
  const files = await vscode.workspace.findFiles('**/*.{json,jsonc}', EXCLUDE, 500);
  const named = (f: vscode.Uri) => /\.alol\.jsonc?$/.test(f.fsPath);
  const isConfig = (f: vscode.Uri) => named(f) || /"(rewards|train)"\s*:/.test(readFileSync(f.fsPath, 'utf8').slice(0, 20000));
  const items: (vscode.QuickPickItem & { file?: string })[] = files.filter(isConfig).map((f) => ({
    label: vscode.workspace.asRelativePath(f),
    file: f.fsPath,
  }));
  items.push({ label: '$(new-file) New run config from a template…' });
  const choice = await vscode.window.showQuickPick(items, { title: `A-LoL: ${purpose}`, placeHolder: 'Choose a run config' });
  if (!choice) return {};
  if (choice.file) return { file: choice.file };
  return { created: await newRunConfig() };
}

/** A run config of the workspace chosen by the user (see pick); undefined when none was chosen or one was created. */
export const pickConfig = async (purpose: string): Promise<string | undefined> => (await pick(purpose)).file;

/** The workspace's chosen run config (remembered), with its status-bar item. */
export class RunConfigChoice implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 49);

  constructor(private readonly state: vscode.Memento) {
    this.item.command = COMMANDS.chooseRunConfig;
    this.update();
  }

  /** The remembered run config, if it still exists. */
  get current(): string | undefined {
    const file = this.state.get<string>(STATE_KEYS.runConfig);
    return file && existsSync(file) ? file : undefined;
  }

  /** The remembered run config, else the user's choice (then remembered). */
  async get(purpose: string): Promise<string | undefined> {
    return this.current ?? this.choose(purpose);
  }

  /** Asks for a run config and remembers it. */
  async choose(purpose = 'Choose the run config'): Promise<string | undefined> {
    const { file, created } = await pick(purpose);
    if (file ?? created) await this.remember((file ?? created) as string);
    return file;
  }

  async remember(file: string): Promise<void> {
    await this.state.update(STATE_KEYS.runConfig, file);
    this.update();
  }

  private update(): void {
    if (!vscode.workspace.workspaceFolders?.length) return void this.item.hide();
    const file = this.current;
    this.item.text = `$(settings) ${file ? path.basename(file) : 'A-LoL: no run config'}`;
    this.item.tooltip = file
      ? `A-LoL run config of the reward commands: ${vscode.workspace.asRelativePath(file)} (click to choose another)`
      : 'A-LoL: choose the run config the reward commands use';
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
