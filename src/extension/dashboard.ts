// The dashboard panel (one at a time): createOrShow reveals it if open; a serializer brings it back
// after a reload; the page runs under a strict CSP (default-src 'none', scripts by a crypto nonce,
// resources only from webview/dist and media); events are batched so a fast run cannot flood it; every
// message from the page is validated before the host acts on it.

import { randomBytes } from 'node:crypto';
import path from 'node:path';
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
  private shown: string | null = null;
  /** The text tabs of the dashboard's group at the last look (keepGroup). */
  private seen: { column: vscode.ViewColumn | undefined; uris: Set<string> } = { column: undefined, uris: new Set() };

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private readonly onMessage: (m: WebviewToHost) => void,
  ) {
    panel.webview.options = DashboardPanel.webviewOptions(extensionUri);
    panel.webview.html = this.html();
    panel.onDidDispose(() => this.dispose(), null, this.disposables);
    panel.webview.onDidReceiveMessage((raw: unknown) => this.receive(raw), null, this.disposables);
    vscode.window.tabGroups.onDidChangeTabs(() => this.keepGroup(), null, this.disposables);
  }

  /**
   * The "vanishing dashboard": a command run while the dashboard's group is the active one (a histogram bin's row,
   * New Reward Function's template, a report) opens its document with showTextDocument's default column, the active
   * group, so the document's tab (a preview tab, often) covers the dashboard. A webview cannot refuse tabs, so when a
   * text tab appears in front of the dashboard in its group (opened, or a preview tab replaced), the dashboard moves
   * to an empty group, or a new one beside when its group is the only one: the document keeps its place, focus and
   * selection, the dashboard stays in view. (Moving the document instead lost its focus to the dashboard's webview,
   * which takes back the focus it had when it comes to the front of its group again.) Tabs already in a group when the
   * dashboard arrives there stay. Not handled: other groups, all holding editors (the dashboard stays covered).
   */
  private keepGroup(): void {
    const group = vscode.window.tabGroups.all.find((g) => g.tabs.some(isDashboardTab));
    const key = (t: vscode.Tab | undefined) => (t?.input instanceof vscode.TabInputText ? t.input.uri.toString() : '');
    const texts = new Set(group ? group.tabs.map(key).filter((k) => k !== '') : []);
    if (!group || group.viewColumn !== this.seen.column) {
      this.seen = { column: group?.viewColumn, uris: texts };
      return;
    }
    // A tab closed and opened again counts as new.
    this.seen.uris = new Set([...this.seen.uris].filter((k) => texts.has(k)));
    const front = key(group.activeTab);
    if (front === '' || this.seen.uris.has(front)) return;
    // To an empty group, or a new one beside when the dashboard's is the only group. Not into a group holding editors:
    // in code-server, revealing the panel there (or Beside) while another group existed lost it from every group.
    const others = vscode.window.tabGroups.all.filter((g) => g.viewColumn !== group.viewColumn);
    const empty = others.find((g) => g.tabs.length === 0);
    if (empty) this.panel.reveal(empty.viewColumn, true);
    else if (others.length === 0) this.panel.reveal(vscode.ViewColumn.Beside, true);
  }

  static webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
    const localResourceRoots = [vscode.Uri.joinPath(extensionUri, 'webview', 'dist'), vscode.Uri.joinPath(extensionUri, 'media')];
    return { enableScripts: true, localResourceRoots };
  }

  /**
   * The open panel, revealed where it is (its own column: a new run or a reopen never moves it to yet another
   * column), or a new one beside the active editor.
   */
  static createOrShow(extensionUri: vscode.Uri, onMessage: (m: WebviewToHost) => void): DashboardPanel {
    if (DashboardPanel.current) {
      const { panel } = DashboardPanel.current;
      panel.reveal(panel.viewColumn, true);
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

  /** The run folder shown (null until one is: a panel revived after a reload, or no run anywhere yet). */
  get runDir(): string | null {
    return this.shown;
  }

  /** Starts showing a run: clears the page, then everything after belongs to it (nothing of the previous run is queued or replayed). */
  openRun(runDir: string, title: string, live: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = [];
    this.replay = [];
    this.shown = runDir;
    this.panel.title = `A-LoL Dashboard — ${path.basename(runDir)}`;
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

  /** Starts showing several runs (compare): clears the page like openRun; `run` of the messages after it indexes m.runs. */
  openCompare(m: Extract<HostToWebview, { type: 'compare/didOpen' }>): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = [];
    this.replay = [];
    this.shown = m.runs[0].runDir;
    this.panel.title = `A-LoL Dashboard — compare ${m.runs.map((r) => path.basename(r.runDir)).join(', ')}`;
    this.post(m);
  }

  post(m: HostToWebview): void {
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

function isDashboardTab(t: vscode.Tab): boolean {
  return t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith(VIEW_DASHBOARD);
}

