// The Reward Report in the editor: `alol reward-report --json` rendered as Markdown (reportMarkdown.ts) in a
// read-only virtual document (scheme alol-report), shown in VS Code's Markdown preview. Nothing to save:
// closing it never asks, and running the report again refreshes the same view.

import path from 'node:path';
import * as vscode from 'vscode';
import { type ReportJson, reportMarkdown } from './reportMarkdown.js';

export const REPORT_SCHEME = 'alol-report';

export class RewardReportView implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly registration = vscode.workspace.registerTextDocumentContentProvider(REPORT_SCHEME, this);

  provideTextDocumentContent(uri: vscode.Uri): string {
    const gone = 'This report is gone (the window was reloaded): run A-LoL: Reward Report again.';
    return this.texts.get(uri.toString()) ?? `# Reward report\n\n${gone}\n`;
  }

  /** Shows the report of `config` (from `json`) in the Markdown preview; returns its read-only document. */
  async show(config: string, json: string): Promise<vscode.TextDocument> {
    const report = JSON.parse(json) as ReportJson;
    const uri = vscode.Uri.from({ scheme: REPORT_SCHEME, path: `/${path.basename(config)} reward report.md`, query: config });
    const line = (n: number) => vscode.Uri.file(report.file).with({ fragment: `L${n}` }).toString();
    this.texts.set(uri.toString(), reportMarkdown(report, vscode.workspace.asRelativePath(config), line));
    this.changed.fire(uri);
    const doc = await vscode.workspace.openTextDocument(uri);
    // The Markdown preview renders the tables and histograms; without the built-in Markdown extension, the
    // read-only source.
    const preview = await vscode.commands.executeCommand('markdown.showPreview', uri).then(() => true, () => false);
    if (!preview) await vscode.window.showTextDocument(doc, { preview: true });
    return doc;
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
  }
}
