// The extension's side of a run: launches the trainer subprocess with the user's settings, forwards
// its events to the dashboard (batched) and the status bar, its logs to the output channel, reports a
// crash with the last error and a Resume action, and stops or resumes runs. Never runs training work
// itself: the extension host only waits on a child process.

import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { type TrainerCommand, type TrainerEvent } from '../protocol/trainer.js';
import { keptSetDiff } from '../protocol/compare.js';
import {
  type KeptDiff, type SentinelSettings, SentinelSettingsSchema, type TimedEvent, type TrainerState, type WebviewToHost,
} from '../protocol/webview.js';
import { COMMANDS, CONFIG_SECTION, STATE_LAST_RUN, type Settings } from './constants.js';
import { DashboardPanel } from './dashboard.js';
import { FinishNotices } from './finish.js';
import { resolveRuntime } from './nodeRuntime.js';
import { hasCheckpoint, listRuns, readAdvantages, readRun } from './runs.js';
import { isRunFolder } from './runStatus.js';
import { TrainerProcess } from './trainerProcess.js';
import { TrainingSteps } from './trainingSteps.js';

type StartCommand = Extract<TrainerCommand, { type: 'run/start' }>;

export class TrainerController implements vscode.Disposable {
  private proc: TrainerProcess | null = null;
  private last: { cmd: StartCommand; runDir: string } | null = null;
  private shownRunDir: string | null = null;
  /** The live run's events so far, and its dashboard title: a dashboard closed and reopened mid-run shows it all again. */
  private liveEvents: TimedEvent[] = [];
  private liveTitle = '';
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when the live run starts, changes state or ends (the Runs view refreshes on it). */
  readonly onDidChange = this.changed.event;
  private readonly status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  readonly output = vscode.window.createOutputChannel('A-LoL Trainer');
  /** The status bar's phase or step text (each variant's step when the run trains several at once). */
  private readonly inTraining = new TrainingSteps();
  /** The provider the live run computes on (run/didStart), shown on the status bar. */
  private device = '';
  /** The finish notification and the demo's measured time (finish.ts). */
  readonly notices: FinishNotices;

  constructor(private readonly context: vscode.ExtensionContext) {
    this.notices = new FinishNotices(context.globalState);
    this.status.command = COMMANDS.openDashboard;
    this.setStatus('$(beaker) A-LoL', 'A-LoL Studio: no run yet');
    this.status.show();
  }

  settings(): Settings {
    const c = vscode.workspace.getConfiguration(CONFIG_SECTION);
    return {
      device: c.get<Settings['device']>('device', 'auto'),
      threads: c.get<number>('threads', 2),
      runsFolder: c.get<string>('runsFolder', 'runs'),
      nodePath: c.get<string>('nodePath', ''),
      python: c.get<string>('python', ''),
      trainerCommand: c.get<string[]>('trainer.command', []),
    };
  }

  get running(): boolean {
    return this.proc !== null && ['starting', 'running', 'stopping'].includes(this.proc.state);
  }

  /** The run folder of the run in progress, if any. */
  get liveRunDir(): string | null {
    return this.running ? (this.last?.runDir ?? null) : null;
  }

  /** The folder runs go to: the setting, relative to the first workspace folder. */
  runsDir(): string {
    const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? this.context.globalStorageUri.fsPath;
    return path.resolve(ws, this.settings().runsFolder);
  }

  /** " · webgpu": the provider of the live run (from run/didStart), for the status bar. */
  private onDevice(): string {
    return this.device ? ` · ${this.device}` : '';
  }

  private setStatus(text: string, tooltip: string): void {
    this.status.text = text;
    this.status.tooltip = tooltip;
  }

  dashboard(): DashboardPanel {
    return DashboardPanel.createOrShow(this.context.extensionUri, (m) => void this.onWebview(m));
  }

  /**
   * "Open Dashboard": the dashboard is a view of a run folder, always. An open one is revealed as it is; else it
   * shows the live run (all its events so far), else the run it showed last in this workspace, else the newest run
   * in the runs folder, rebuilt from its events.jsonl; an empty dashboard only when there is no run at all.
   */
  showDashboard(): void {
    const open = DashboardPanel.current;
    if (open?.runDir) {
      this.dashboard();
      return;
    }
    this.restore();
  }

  /** Fills the dashboard (opened if needed) with the run it should show; see showDashboard. */
  private restore(): void {
    const live = this.liveRunDir;
    if (live) {
      this.shownRunDir = live;
      const dash = this.dashboard();
      dash.openRun(live, this.liveTitle, true);
      dash.appendEvents(this.liveEvents);
      this.postState(this.proc?.state ?? 'idle');
      return;
    }
    const remembered = this.context.workspaceState.get<string>(STATE_LAST_RUN);
    const dir = remembered && isRunFolder(remembered) ? remembered : this.newestRun();
    if (dir) this.openRun(dir);
    else this.dashboard();
  }

  private newestRun(): string | null {
    try {
      return listRuns(this.runsDir())[0] ?? null;
    } catch {
      return null; // a folder vanished while listing: no run to fall back on
    }
  }

  private remember(runDir: string): void {
    this.shownRunDir = runDir;
    void this.context.workspaceState.update(STATE_LAST_RUN, runDir);
  }

  async onWebview(m: WebviewToHost): Promise<void> {
    if (m.type === 'run/stop') await this.stop();
    else if (m.type === 'run/resume') await this.resume(this.shownRunDir ?? undefined);
    else if (m.type === 'histogram/openBin' && this.shownRunDir) {
      await vscode.commands.executeCommand(COMMANDS.openAdvantageBin, this.shownRunDir, m.lo, m.hi);
    } else if (m.type === 'row/open') await this.openRow(m.file, m.line);
    else if (m.type === 'docs/open') {
      const readme = vscode.Uri.joinPath(this.context.extensionUri, 'README.md').with({ fragment: m.anchor });
      await vscode.commands.executeCommand('markdown.showPreview', readme);
    } else if (m.type === 'webview/ready') {
      this.postSentinels();
      // A panel VS Code revived after a reload has no run yet: give it the one it showed.
      if (DashboardPanel.current && !DashboardPanel.current.runDir) this.restore();
      else this.postState(this.proc?.state ?? 'idle');
    }
  }

  /** The warning thresholds (settings alolStudio.sentinels.*), sent to the dashboard on load and on change. */
  sentinelSettings(): SentinelSettings {
    const c = vscode.workspace.getConfiguration(`${CONFIG_SECTION}.sentinels`);
    const raw = {
      clipFraction: c.get<number>('clipFraction'),
      clipSteps: c.get<number>('clipSteps'),
      valueMseRatio: c.get<number>('valueMseRatio'),
      lengthCorrelation: c.get<number>('lengthCorrelation'),
    };
    const r = SentinelSettingsSchema.safeParse(raw);
    if (r.success) return r.data;
    const i = r.error.issues[0];
    const key = `${CONFIG_SECTION}.sentinels.${i.path.join('.')}`;
    void vscode.window.showWarningMessage(`A-LoL: setting ${key}: ${i.message}; using the defaults`);
    return SentinelSettingsSchema.parse({});
  }

  postSentinels(): void {
    DashboardPanel.current?.post({ type: 'settings/didChange', sentinels: this.sentinelSettings() });
  }

  /** Opens a dataset row in a text editor (never in the dashboard's own editor group). */
  private async openRow(file: string, line: number): Promise<void> {
    try {
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
      const pos = new vscode.Position(Math.max(0, Math.min(line - 1, doc.lineCount - 1)), 0);
      const dashColumn = DashboardPanel.current?.viewColumn;
      const viewColumn = dashColumn === vscode.ViewColumn.One ? vscode.ViewColumn.Two : vscode.ViewColumn.One;
      await vscode.window.showTextDocument(doc, { viewColumn, selection: new vscode.Range(pos, pos), preview: false });
    } catch (e) {
      void vscode.window.showErrorMessage(`A-LoL: could not open ${file}:${line}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /**
   * Shows several run folders in one dashboard: curves overlaid, one comparison table, the config
   * difference, and the kept-set difference of the first two audits (rows kept by one, filtered by the other).
   */
  compareRuns(runDirs: readonly string[]): void {
    const labels = runDirs.map((_, i) => `${String.fromCharCode(65 + (i % 26))}${i >= 26 ? Math.floor(i / 26) : ''}`);
    const runs = runDirs.map((d, i) => ({ dir: d, label: labels[i], run: readRun(d) }));
    let keptDiff: KeptDiff | null = null;
    let note: string | undefined;
    const audits = runs.filter((r) => existsSync(path.join(r.dir, 'advantages.jsonl')));
    if (audits.length >= 2) {
      const [a, b] = audits;
      const ra = readAdvantages(path.join(a.dir, 'advantages.jsonl'));
      const rb = readAdvantages(path.join(b.dir, 'advantages.jsonl'));
      keptDiff = keptSetDiff({ label: a.label, rows: ra.rows }, { label: b.label, rows: rb.rows });
      const bad = [...ra.rejected, ...rb.rejected];
      if (bad.length) {
        this.output.appendLine(`compare: ${bad.length} invalid advantages.jsonl lines skipped: ${bad.slice(0, 5).join('; ')}`);
        note = `${bad.length} invalid advantages.jsonl lines were skipped (see the trainer log).`;
      }
    } else {
      note = `The kept-set difference needs two runs with an audit (advantages.jsonl); ${audits.length} of these have one.`;
    }
    const dash = this.dashboard();
    this.shownRunDir = null;
    const title = `Compare: ${runs.map((r) => `${r.label} ${path.basename(r.dir)}`).join(' · ')}`;
    dash.openCompare({
      type: 'compare/didOpen',
      title,
      runs: runs.map((r) => ({ label: r.label, runDir: r.dir, title: `${r.run.verb ?? 'run'} — ${path.basename(r.dir)}` })),
      keptDiff,
      ...(note ? { keptDiffNote: note } : {}),
    });
    runs.forEach((r, i) => {
      dash.post({ type: 'events/didAppend', events: r.run.events, run: i });
      if (r.run.summary) dash.post({ type: 'summary/didLoad', summary: r.run.summary, run: i });
    });
    this.postSentinels();
    const rejected = runs.reduce((a, r) => a + r.run.rejected.length, 0);
    if (rejected) void vscode.window.showWarningMessage(`A-LoL: ${rejected} invalid lines of the compared runs were skipped.`);
  }

  /** The trainer's state, for the dashboard: only when it shows the trainer's run (another run's page keeps its own state). */
  private postState(state: TrainerState, message?: string): void {
    if (!this.last || this.shownRunDir !== this.last.runDir) return;
    const ended = state === 'crashed' || state === 'stopped';
    const fromCheckpoint = !this.running && this.last !== null && ended && hasCheckpoint(this.last.runDir);
    const canResume = fromCheckpoint || (state === 'crashed' && this.last !== null);
    DashboardPanel.current?.post({ type: 'trainer/didChangeState', state, canResume, ...(message ? { message } : {}) });
  }

  /** Launches the trainer and starts a run; its events fill the dashboard as they come. */
  async start(cmd: StartCommand, title: string): Promise<void> {
    if (this.running) {
      const choice = await vscode.window.showWarningMessage('An A-LoL run is in progress.', 'Stop it', 'Keep it');
      if (choice !== 'Stop it') return;
      await this.stop();
    }
    const s = this.settings();
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    const runDir = cmd.outDir ?? path.join(this.runsDir(), `${cmd.verb}-${stamp}`);
    mkdirSync(path.dirname(runDir), { recursive: true });
    const set = [...cmd.set, `device=${s.device}`, `threads=${s.threads}`];
    const full: StartCommand = { ...cmd, outDir: runDir, set, python: s.python || null };
    const runtime = resolveRuntime({
      extensionPath: this.context.extensionPath,
      nodePath: s.nodePath,
      trainerCommand: s.trainerCommand,
      editorExecutable: process.execPath,
    });
    if (runtime.warning) void vscode.window.showWarningMessage(`A-LoL: ${runtime.warning}`);
    this.output.appendLine(`[${new Date().toLocaleTimeString()}] starting ${cmd.verb} with ${runtime.description} in ${runDir}`);
    const proc = new TrainerProcess();
    this.proc = proc;
    this.inTraining.clear();
    this.device = '';
    this.last = { cmd: full, runDir };
    this.liveEvents = [];
    this.liveTitle = title;
    this.remember(runDir);
    const dash = this.dashboard();
    dash.openRun(runDir, title, true);
    proc.on('event', (e) => this.onEvent(e));
    proc.on('stderr', (l) => this.output.appendLine(l));
    proc.on('malformed', (line, err) => {
      this.output.appendLine(`[malformed trainer output, ignored] ${err}: ${line.slice(0, 300)}`);
      void vscode.window.showWarningMessage(`A-LoL: the trainer wrote a malformed line (ignored; see the trainer log): ${err}`);
    });
    proc.on('state', (st) => {
      this.postState(st);
      this.changed.fire();
    });
    proc.on('exit', (x) => {
      this.output.appendLine(`[trainer exited: ${x.state}, code ${x.code}${x.signal ? `, signal ${x.signal}` : ''}]`);
      if (x.state === 'crashed') {
        this.setStatus('$(error) A-LoL: crashed', x.lastError ?? 'the trainer crashed');
        const why = x.lastError ?? x.stderrTail.slice(-1)[0] ?? `exit code ${x.code}${x.signal ? `, ${x.signal}` : ''}`;
        void vscode.window.showErrorMessage(`A-LoL trainer stopped unexpectedly: ${why}`, 'Resume', 'Show Log').then((a) => {
          if (a === 'Resume') void this.resume();
          if (a === 'Show Log') this.output.show();
        });
      } else {
        this.setStatus(x.state === 'stopped' ? '$(debug-pause) A-LoL: stopped' : '$(check) A-LoL: finished', `run folder ${runDir}`);
      }
      this.postState(x.state, x.lastError ?? undefined);
      this.changed.fire();
    });
    this.setStatus('$(sync~spin) A-LoL: starting', runDir);
    try {
      await proc.launch({ command: runtime.command, cwd: path.dirname(runDir), env: runtime.env });
      proc.send(full);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.output.appendLine(`could not start the trainer: ${message}`);
      void vscode.window
        .showErrorMessage(`A-LoL: could not start the trainer: ${message}`, 'Show Log')
        .then((a) => a && this.output.show());
      proc.kill();
    }
  }

  private onEvent(e: TrainerEvent): void {
    const status = this.inTraining.onEvent(e);
    if (status) this.setStatus(`$(sync~spin) A-LoL: ${status.text}${this.onDevice()}`, status.tooltip);
    const timed = { t: Date.now(), event: e };
    this.liveEvents.push(timed);
    if (DashboardPanel.current && DashboardPanel.current.runDir === this.last?.runDir) DashboardPanel.current.appendEvents([timed]);
    if (e.type === 'run/didStart') {
      // the provider actually used, on the status bar for the whole run; a fallback from the device asked for is a warning
      this.device = e.device.provider;
      if (e.device.fallback) {
        void vscode.window.showWarningMessage(`A-LoL: ${e.device.fallback}`, 'Show Log').then((a) => a && this.output.show());
      }
    } else if (e.type === 'run/didFail') {
      this.output.appendLine(`run failed: ${e.message}`);
    } else if (e.type === 'run/didFinish' && !e.stopped) {
      const summary = readRun(e.runDir).summary;
      const dash = DashboardPanel.current;
      if (summary && dash && dash.runDir === this.last?.runDir) dash.post({ type: 'summary/didLoad', summary });
      void this.notices.finished(this.last?.cmd, e.elapsedMs, summary ?? null);
    }
  }

  async stop(): Promise<void> {
    if (!this.proc || !this.running) {
      void vscode.window.showInformationMessage('A-LoL: no run in progress.');
      return;
    }
    this.setStatus('$(debug-pause) A-LoL: stopping', 'writing a checkpoint, then exiting');
    await this.proc.stop(60_000);
  }

  /** Continues the last run (or `runDir`) from its latest checkpoint. */
  async resume(runDir?: string): Promise<void> {
    const target = runDir ?? this.last?.runDir;
    if (!target) {
      void vscode.window.showInformationMessage('A-LoL: nothing to resume; use "A-LoL: Resume" with a run folder.');
      return;
    }
    const previous = this.last && this.last.runDir === target ? this.last.cmd : null;
    const started = readRun(target).events.find((x) => x.event.type === 'run/didStart')?.event;
    const verb = (previous?.verb ?? (started?.type === 'run/didStart' ? started.verb : 'train')) as StartCommand['verb'];
    const cmd: StartCommand = previous
      ? { ...previous, resume: target, set: previous.set.filter((x) => !/^(device|threads)=/.test(x)) }
      : {
          type: 'run/start',
          verb,
          configFile: verb === 'demo' ? null : path.join(target, 'config.json'),
          set: [],
          outDir: target,
          resume: target,
          ...(verb === 'demo' ? { demo: { quick: true, seed: 1, noise: 0.5 } } : {}),
        };
    await this.start(cmd, `${verb} (resumed) — ${path.basename(target)}`);
  }

  /** Shows a finished or CLI-made run from its folder. */
  openRun(runDir: string): void {
    if (runDir === this.liveRunDir) {
      this.restore();
      return;
    }
    let run: ReturnType<typeof readRun>;
    try {
      run = readRun(runDir);
    } catch (e) {
      void vscode.window.showErrorMessage(`A-LoL: cannot open the run ${runDir}: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const dash = this.dashboard();
    this.remember(runDir);
    dash.openRun(runDir, `${run.verb ?? 'run'} — ${path.basename(runDir)}`, false);
    dash.appendEvents(run.events);
    if (run.summary) dash.post({ type: 'summary/didLoad', summary: run.summary });
    if (run.rejected.length) {
      this.output.appendLine(`${runDir}: ${run.rejected.length} invalid lines skipped: ${run.rejected.slice(0, 5).join('; ')}`);
      const n = run.rejected.length;
      void vscode.window.showWarningMessage(`A-LoL: ${n} lines of ${runDir}/events.jsonl were invalid and skipped (see the trainer log).`);
    }
  }

  dispose(): void {
    this.proc?.kill();
    this.changed.dispose();
    this.status.dispose();
    this.output.dispose();
  }
}
