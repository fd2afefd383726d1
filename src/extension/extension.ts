// The extension's entry point. `activate` only registers commands; the trainer runs in a separate
// process (src/trainer), never in the extension host. Commands, dashboard and annotations arrive in
// later issues (see DESIGN.md); for now the extension proves it loads and reports its version.

import * as vscode from 'vscode';

export const COMMANDS = {
  showVersion: 'alolStudio.showVersion',
} as const;

export function activate(context: vscode.ExtensionContext): void {
  const version = String((context.extension.packageJSON as { version?: unknown }).version ?? 'unknown');
  context.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.showVersion, () => vscode.window.showInformationMessage(`A-LoL Studio ${version}`)),
  );
}

export function deactivate(): void {
  // Nothing to dispose beyond context.subscriptions.
}
