// The Runs view (activity bar "A-LoL"): the workspace's run folders, newest first, each with its status,
// key metric and start time; children are its variants (with their metric) and, for a failed or corrupt
// run, the error. Context actions per status (contextValue `alolRun.<status>[.resumable]`): open the
// dashboard, resume, stop, reveal the folder, delete. Refreshed by file watchers on the runs folder
// (debounced) and on the controller's state changes. What a folder says is computed by runStatus.ts.

import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { CONFIG_SECTION, COMMANDS, VIEW_RUNS } from './constants.js';
import type { TrainerController } from './controller.js';
import { type RunInfo, type RunStatus, describeRun, formatMetric, isRunFolder, relativeTime } from './runStatus.js';

const REFRESH_MS = 500;

export type RunsNode =
  | { kind: 'run'; run: RunInfo }
  | { kind: 'variant'; run: RunInfo; name: string; text: string }
  | { kind: 'detail'; run: RunInfo; label: string; tooltip: string; icon: 'error' | 'warning' };

const ICONS: Record<RunStatus, [string, string]> = {
  running: ['sync~spin', 'charts.blue'],
  finished: ['pass', 'charts.green'],
  failed: ['error', 'charts.red'],
  stopped: ['debug-pause', 'charts.yellow'],
  interrupted: ['warning', 'charts.orange'],
  corrupt: ['circle-slash', 'charts.red'],
};

export class RunsView implements vscode.TreeDataProvider<RunsNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunsNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<RunsNode>;
  /** describeRun reads every event of a run: done again only when its files changed. */
  private readonly cache = new Map<string, { key: string; run: RunInfo }>();
  private watchers: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly c: TrainerController) {
    this.view = vscode.window.createTreeView(VIEW_RUNS, { treeDataProvider: this, canSelectMany: true, showCollapseAll: true });
    this.disposables.push(
      this.view,
      this.changed,
      c.onDidChange(() => this.refreshSoon()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(`${CONFIG_SECTION}.runsFolder`)) this.watch();
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.watch()),
    );
    this.watch();
  }

  /**
   * Watches run folders appearing or going (`<runs>/*`) and their events.jsonl and summary.json. Relative to the workspace
   * folder when the runs folder is inside it, so a runs folder made later (by the first run) is still watched.
   */
  private watch(): void {
    for (const w of this.watchers.splice(0)) w.dispose();
    const runsDir = this.c.runsDir();
    const ws = vscode.workspace.workspaceFolders?.find((f) => !path.relative(f.uri.fsPath, runsDir).startsWith('..'));
    const rel = ws ? path.relative(ws.uri.fsPath, runsDir).split(path.sep).join('/') : '';
    const base = ws ?? vscode.Uri.file(runsDir);
    const prefix = rel ? `${rel}/` : '';
    for (const glob of [`${prefix}*`, `${prefix}*/{events.jsonl,summary.json}`]) {
      const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(base, glob));
      w.onDidCreate(() => this.refreshSoon(), null, this.watchers);
      w.onDidChange(() => this.refreshSoon(), null, this.watchers);
      w.onDidDelete(() => this.refreshSoon(), null, this.watchers);
      this.watchers.push(w);
    }
    this.refresh();
  }

  /** Coalesces a burst of file events (a live run appends many lines a second) into one refresh. */
  private refreshSoon(): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.refresh();
    }, REFRESH_MS);
  }

  refresh(): void {
    this.changed.fire(undefined);
  }

  /** The runs, newest start first (folders without a start time by modification time). */
  runs(): RunInfo[] {
    const runsDir = this.c.runsDir();
    let names: string[];
    try {
      names = readdirSync(runsDir);
    } catch {
      return []; // no runs folder yet
    }
    const live = this.c.liveRunDir;
    const found: { run: RunInfo; sortMs: number }[] = [];
    const seen = new Set<string>();
    for (const n of names) {
      const dir = path.join(runsDir, n);
      if (!isRunFolder(dir)) continue;
      seen.add(dir);
      const key = `${stamp(path.join(dir, 'events.jsonl'))}|${stamp(path.join(dir, 'summary.json'))}|${dir === live}`;
      const hit = this.cache.get(dir);
      const run = hit && hit.key === key ? hit.run : describeRun(dir, dir === live);
      this.cache.set(dir, { key, run });
      found.push({ run, sortMs: run.startedAt ?? mtimeMs(dir) });
    }
    for (const dir of this.cache.keys()) if (!seen.has(dir)) this.cache.delete(dir);
    return found.sort((a, b) => b.sortMs - a.sortMs).map((x) => x.run);
  }

  getChildren(node?: RunsNode): RunsNode[] {
    if (!node) return this.runs().map((run) => ({ kind: 'run', run }));
    if (node.kind !== 'run') return [];
    const { run } = node;
    const out: RunsNode[] = [];
    if (run.error) {
      const hint = run.error.hint ? `\n\nhint: ${run.error.hint}` : '';
      const label = `${run.error.code}: ${run.error.message}`;
      out.push({ kind: 'detail', run, icon: 'error', label, tooltip: `${run.error.message}${hint}` });
    }
    if (run.problem) out.push({ kind: 'detail', run, icon: 'warning', label: run.problem, tooltip: run.problem });
    for (const v of run.variants) {
      const text = v.metric ? formatMetric(v.metric, false) : 'not evaluated';
      out.push({ kind: 'variant', run, name: v.name, text });
    }
    return out;
  }

  getTreeItem(node: RunsNode): vscode.TreeItem {
    if (node.kind === 'variant') {
      const item = new vscode.TreeItem(node.name, vscode.TreeItemCollapsibleState.None);
      item.id = `${node.run.dir}\u0000variant:${node.name}`;
      item.description = node.text;
      item.iconPath = new vscode.ThemeIcon(node.name === 'reference' ? 'symbol-constant' : 'beaker');
      item.contextValue = 'alolRunVariant';
      item.tooltip = `${node.name} of ${node.run.name}: ${node.text} (held-out, sampled responses)`;
      return item;
    }
    if (node.kind === 'detail') {
      const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
      item.id = `${node.run.dir}\u0000${node.icon}`;
      item.iconPath = new vscode.ThemeIcon(node.icon, new vscode.ThemeColor(node.icon === 'error' ? 'charts.red' : 'charts.orange'));
      item.tooltip = node.tooltip;
      item.contextValue = `alolRunDetail.${node.icon}`;
      return item;
    }
    const { run } = node;
    const hasChildren = run.variants.length > 0 || run.error !== null || run.problem !== null;
    const { Collapsed, None } = vscode.TreeItemCollapsibleState;
    const item = new vscode.TreeItem(run.name, hasChildren ? Collapsed : None);
    item.id = run.dir;
    const when = run.startedAt ? relativeTime(run.startedAt, Date.now()) : 'start unknown';
    const metric = run.metric ? formatMetric(run.metric) : run.status === 'running' ? 'in progress' : 'no metric';
    item.description = `${run.status} · ${metric} · ${when}`;
    const [icon, color] = ICONS[run.status];
    item.iconPath = new vscode.ThemeIcon(icon, new vscode.ThemeColor(color));
    item.contextValue = `alolRun.${run.status}${run.resumable ? '.resumable' : ''}`;
    item.tooltip = tooltip(run);
    item.resourceUri = vscode.Uri.file(run.dir);
    if (run.status !== 'corrupt') item.command = { command: COMMANDS.runsOpen, title: 'Open Dashboard', arguments: [node] };
    return item;
  }

  // ---- actions (registered in commands.ts; menus pass the clicked node and the selection) -----------

  /** The run folders an action applies to: the selection when the clicked node is part of it, else the clicked node. */
  private targets(node?: RunsNode, selected?: readonly RunsNode[]): RunInfo[] {
    const picked = selected?.length && (!node || selected.includes(node)) ? selected : node ? [node] : this.view.selection;
    const dirs = new Set<string>();
    return picked.map((n) => n.run).filter((r) => !dirs.has(r.dir) && dirs.add(r.dir));
  }

  open(node?: RunsNode): void {
    const run = this.targets(node)[0];
    if (run) this.c.openRun(run.dir);
  }

  /** (commands.ts checks Workspace Trust first: resuming runs the workspace's reward modules.) */
  async resume(node?: RunsNode): Promise<void> {
    const run = this.targets(node)[0];
    if (run) await this.c.resume(run.dir);
  }

  async stop(node?: RunsNode): Promise<void> {
    const run = this.targets(node)[0];
    if (!run) return;
    if (run.dir !== this.c.liveRunDir) return void vscode.window.showInformationMessage(`A-LoL: ${run.name} is not running.`);
    await this.c.stop();
  }

  async reveal(node?: RunsNode): Promise<void> {
    const run = this.targets(node)[0];
    if (!run) return;
    const uri = vscode.Uri.file(run.dir);
    // The Explorer shows folders of the workspace; the OS file manager everything else (not in a browser-based editor).
    const inWorkspace = vscode.workspace.getWorkspaceFolder(uri) !== undefined;
    await vscode.commands.executeCommand(inWorkspace ? 'revealInExplorer' : 'revealFileInOS', uri);
  }

  /** Deletes the runs (to the trash where the file system has one) after a modal confirmation; never the live run. */
  async delete(node?: RunsNode, selected?: readonly RunsNode[]): Promise<void> {
    const runs = this.targets(node, selected);
    if (!runs.length) return;
    const live = runs.find((r) => r.dir === this.c.liveRunDir);
    if (live) return void vscode.window.showErrorMessage(`A-LoL: ${live.name} is running; stop it before deleting it.`);
    const what = runs.length === 1 ? `the run "${runs[0].name}"` : `${runs.length} runs (${runs.map((r) => r.name).join(', ')})`;
    const detail = `Its folder${runs.length > 1 ? 's' : ''} (events, checkpoints, samples) will be moved to the trash.`;
    const ok = await vscode.window.showWarningMessage(`Delete ${what}?`, { modal: true, detail }, 'Delete');
    if (ok !== 'Delete') return;
    for (const run of runs) {
      const uri = vscode.Uri.file(run.dir);
      try {
        await vscode.workspace.fs.delete(uri, { recursive: true, useTrash: true });
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        const again = await vscode.window.showWarningMessage(
          `A-LoL: ${run.name} could not be moved to the trash (${why}). Delete it permanently?`,
          { modal: true },
          'Delete Permanently',
        );
        if (again === 'Delete Permanently') await vscode.workspace.fs.delete(uri, { recursive: true, useTrash: false });
      }
    }
    this.refresh();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const d of [...this.watchers.splice(0), ...this.disposables.splice(0)]) d.dispose();
  }
}

function tooltip(run: RunInfo): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${esc(run.name)}** — ${run.status}${run.verb ? ` (${esc(run.verb)})` : ''}\n\n`);
  if (run.startedAt) {
    md.appendMarkdown(`started ${new Date(run.startedAt).toLocaleString()} (${relativeTime(run.startedAt, Date.now())})\n\n`);
  }
  if (run.metric?.kind === 'audit') md.appendMarkdown(`advantages: ${run.metric.kept} rows kept, ${run.metric.filtered} filtered\n\n`);
  else if (run.metric) {
    const what = run.metric.kind === 'reward' ? 'held-out sampled reward' : 'preference accuracy (rewards cannot score generated text)';
    md.appendMarkdown(`${what}: ${run.metric.value.toFixed(4)}, best variant ${esc(run.metric.variant)}\n\n`);
  }
  if (run.variants.length) md.appendMarkdown(`variants: ${run.variants.map((v) => esc(v.name)).join(', ')}\n\n`);
  if (run.error) md.appendMarkdown(`error ${esc(run.error.code)}: ${esc(run.error.message)}\n\n`);
  if (run.problem) md.appendMarkdown(`problem: ${esc(run.problem)}\n\n`);
  if (run.resumable) md.appendMarkdown('has a checkpoint: Resume continues from it\n\n');
  md.appendMarkdown(`folder: ${esc(run.dir)}`);
  return md;
}

/** Markdown-escapes text from a run folder (it is data, never markup). */
function esc(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>&~]/g, '\\$&');
}

function stamp(file: string): string {
  try {
    const s = statSync(file);
    return `${s.mtimeMs}:${s.size}`;
  } catch {
    return '-';
  }
}

function mtimeMs(dir: string): number {
  try {
    return statSync(dir).mtimeMs;
  } catch {
    return 0;
  }
}
