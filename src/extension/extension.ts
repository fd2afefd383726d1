// The extension's entry point. `activate` only registers: commands, the dataset annotations (CodeLens,
// hover), the reward debugger, the Runs view, the dashboard's serializer (so it survives a reload), the status bar and
// the trainer log. Training runs in a separate process (the trainer's main.js), never in the extension host.

import * as vscode from 'vscode';
import { DatasetAnnotations } from './annotations.js';
import { registerCommands } from './commands.js';
import { RewardDebugger } from './rewardDebug.js';
import { CONFIG_SECTION, VIEW_DASHBOARD } from './constants.js';
import { RunConfigChoice } from './runConfig.js';
import { TrainerController } from './controller.js';
import { DashboardPanel } from './dashboard.js';
import { RunsView } from './runsView.js';

export { COMMANDS } from './constants.js';

let controller: TrainerController | null = null;

export function activate(context: vscode.ExtensionContext): void {
  const version = String((context.extension.packageJSON as { version?: unknown }).version ?? 'unknown');
  const c = new TrainerController(context);
  controller = c;
  const annotations = new DatasetAnnotations(() => c.runsDir(), context.extensionUri, (line) => c.output.appendLine(line));
  const configs = new RunConfigChoice(context.workspaceState);
  const rewards = new RewardDebugger(c, context.extensionPath, configs);
  const runs = new RunsView(c);
  const datasets: vscode.DocumentSelector = { scheme: 'file', pattern: '**/*.jsonl' };
  context.subscriptions.push(
    c,
    annotations,
    rewards,
    runs,
    configs,
    vscode.languages.registerCodeLensProvider(datasets, annotations),
    vscode.languages.registerHoverProvider(datasets, annotations),
    ...registerCommands(c, version, annotations, rewards, runs, configs),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(`${CONFIG_SECTION}.sentinels`)) c.postSentinels();
    }),
  );
  context.subscriptions.push(
    vscode.window.registerWebviewPanelSerializer(VIEW_DASHBOARD, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel): Promise<void> {
        panel.webview.options = DashboardPanel.webviewOptions(context.extensionUri);
        DashboardPanel.revive(panel, context.extensionUri, (m) => void c.onWebview(m));
      },
    }),
  );
}

export function deactivate(): void {
  controller?.dispose();
  controller = null;
}
