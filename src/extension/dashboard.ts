// The dashboard panel (one at a time): createOrShow reveals it if open; a serializer brings it back
// after a reload; the page runs under a strict CSP (default-src 'none', scripts by a crypto nonce,
// resources only from webview/dist and media); events are batched so a fast run cannot flood it; every
// message from the page is validated before the host acts on it.

import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { type HostToWebview, type TimedEvent, type WebviewToHost, WebviewToHostSchema } from '../protocol/webview.js';
import { VIEW_DASHBOARD } from './constants.js';

const FLUSH_MS = 200;

export class DashboardPanel {
  static current: DashboardPanel | null = null;
  private readonly disposables: vscode.Disposable[] = [];
  private pending: TimedEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Everything sent for the current run, re-sent when the page (re)loads. */
  private replay: HostToWebview[] = [];
  private ready = false;

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private readonly onMessage: (m: WebviewToHost) => void,
  ) {
    panel.webview.options = DashboardPanel.webviewOptions(extensionUri);
    panel.webview.html = this.html();
    panel.onDidDispose(() => this.dispose(), null, this.disposables);
    panel.webview.onDidReceiveMessage((raw: unknown) => this.receive(raw), null, this.disposables);
  }

  static webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
    const localResourceRoots = [vscode.Uri.joinPath(extensionUri, 'webview', 'dist'), vscode.Uri.joinPath(extensionUri, 'media')];
    return { enableScripts: true, localResourceRoots };
  }

  static createOrShow(extensionUri: vscode.Uri, onMessage: (m: WebviewToHost) => void): DashboardPanel {
    if (DashboardPanel.current) {
      DashboardPanel.current.panel.reveal(vscode.ViewColumn.Beside, true);
      return DashboardPanel.current;
    }
    const show = { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true };
    const panel = vscode.window.createWebviewPanel(VIEW_DASHBOARD, 'A-LoL Dashboard', show, { retainContextWhenHidden: true });
    DashboardPanel.current = new DashboardPanel(panel, extensionUri, onMessage);
    return DashboardPanel.current;
  }

  /** After a window reload: VS Code hands back the panel, the page asks for its run again. */
  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, onMessage: (m: WebviewToHost) => void): DashboardPanel {
    DashboardPanel.current = new DashboardPanel(panel, extensionUri, onMessage);
    return DashboardPanel.current;
  }

  private receive(raw: unknown): void {
    const r = WebviewToHostSchema.safeParse(raw);
    if (!r.success) {
      void vscode.window.showWarningMessage(`A-LoL dashboard sent an invalid message (ignored): ${r.error.issues[0].message}`);
      return;
    }
    if (r.data.type === 'webview/ready') {
      this.ready = true;
      for (const m of this.replay) void this.panel.webview.postMessage(m);
    }
    this.onMessage(r.data);
  }

  /** Starts showing a run: clears the page, then everything after belongs to it. */
  openRun(runDir: string, title: string, live: boolean): void {
    this.pending = [];
    this.replay = [];
    this.post({ type: 'run/didOpen', runDir, title, live });
  }

  /** The editor column the panel is in (undefined while it is not shown). */
  get viewColumn(): vscode.ViewColumn | undefined {
    return this.panel.viewColumn;
  }

  appendEvents(events: readonly TimedEvent[]): void {
    this.pending.push(...events);
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  private flush(): void {
    this.timer = null;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.post({ type: 'events/didAppend', events: batch });
  }

  post(m: HostToWebview): void {
    if (m.type === 'compare/didOpen') {
      // a new view: nothing of the previous one is re-sent after a reload
      this.pending = [];
      this.replay = [];
    }
    if (m.type !== 'events/didAppend' || m.run !== undefined) this.flush();
    this.replay.push(m);
    if (this.ready) void this.panel.webview.postMessage(m);
  }

  private html(): string {
    const webview = this.panel.webview;
    const nonce = randomBytes(16).toString('base64');
    const asset = (name: string) => webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'webview', 'dist', name));
    const src = webview.cspSource;
    const csp = `default-src 'none'; style-src ${src}; font-src ${src}; img-src ${src} data:; script-src 'nonce-${nonce}';`;
    return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('dashboard.css').toString()}">
<title>A-LoL Dashboard</title></head>
<body><div id="app"></div><script nonce="${nonce}" src="${asset('dashboard.js').toString()}"></script></body></html>`;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    DashboardPanel.current = null;
    this.panel.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
