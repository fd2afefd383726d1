// The extension's side of a run: launches the trainer subprocess with the user's settings, forwards
// its events to the dashboard (batched) and the status bar, its logs to the output channel, reports a
// crash with the last error and a Resume action, and stops or resumes runs. Never runs training work
// itself: the extension host only waits on a child process.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { type TrainerCommand, type TrainerEvent, variantOfPhase } from '../protocol/trainer.js';
import type { TrainerState, WebviewToHost } from '../protocol/webview.js';
import { COMMANDS, CONFIG_SECTION, type Settings } from './constants.js';
import { DashboardPanel } from './dashboard.js';
import { FinishNotices } from './finish.js';
import { resolveRuntime } from './nodeRuntime.js';
import { hasCheckpoint, readRun } from './runs.js';
import { TrainerProcess } from './trainerProcess.js';

type StartCommand = Extract<TrainerCommand, { type: 'run/start' }>;

export class TrainerController implements vscode.Disposable {
  private proc: TrainerProcess | null = null;
  private last: { cmd: StartCommand; runDir: string } | null = null;
  private shownRunDir: string | null = null;
  private readonly status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  readonly output = vscode.window.createOutputChannel('A-LoL Trainer');
  private variant = '';
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
      trainerCommand: c.get<string[]>('trainer.command', []),
    };
  }

  get running(): boolean {
    return this.proc !== null && ['starting', 'running', 'stopping'].includes(this.proc.state);
  }

  /** The folder runs go to: the setting, relative to the first workspace folder. */
  runsDir(): string {
    const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? this.context.globalStorageUri.fsPath;
    return path.resolve(ws, this.settings().runsFolder);
  }

  private setStatus(text: string, tooltip: string): void {
    this.status.text = text;
    this.status.tooltip = tooltip;
  }

  dashboard(): DashboardPanel {
    return DashboardPanel.createOrShow(this.context.extensionUri, (m) => void this.onWebview(m));
  }

  async onWebview(m: WebviewToHost): Promise<void> {
    if (m.type === 'run/stop') await this.stop();
    else if (m.type === 'run/resume') await this.resume();
    else if (m.type === 'histogram/openBin' && this.shownRunDir) {
      await vscode.commands.executeCommand(COMMANDS.openAdvantageBin, this.shownRunDir, m.lo, m.hi);
    }
    else if (m.type === 'webview/ready') this.postState(this.proc?.state ?? 'idle');
  }

  private postState(state: TrainerState, message?: string): void {
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
    const full: StartCommand = { ...cmd, outDir: runDir, set: [...cmd.set, `device=${s.device}`, `threads=${s.threads}`] };
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
    this.variant = '';
    this.last = { cmd: full, runDir };
    this.shownRunDir = runDir;
    const dash = this.dashboard();
    dash.openRun(runDir, title, true);
    proc.on('event', (e) => this.onEvent(e));
    proc.on('stderr', (l) => this.output.appendLine(l));
    proc.on('malformed', (line, err) => {
      this.output.appendLine(`[malformed trainer output, ignored] ${err}: ${line.slice(0, 300)}`);
      void vscode.window.showWarningMessage(`A-LoL: the trainer wrote a malformed line (ignored; see the trainer log): ${err}`);
    });
    proc.on('state', (st) => this.postState(st));
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
    DashboardPanel.current?.appendEvents([{ t: Date.now(), event: e }]);
    if (e.type === 'phase/didChange') {
      const variant = e.phase === 'training' && e.status === 'started' ? variantOfPhase(e) : null;
      if (variant) this.variant = variant;
      this.setStatus(`$(sync~spin) A-LoL: ${e.phase}`, e.message);
    } else if (e.type === 'step/didComplete') {
      const variant = e.variant ?? (this.variant || 'training');
      const tooltip = `loss ${e.loss.toFixed(4)}, ${e.tokensPerSec.toFixed(0)} tokens/s`;
      this.setStatus(`$(sync~spin) A-LoL: ${variant} ${e.step}/${e.totalSteps}`, tooltip);
    } else if (e.type === 'run/didFail') {
      this.output.appendLine(`run failed: ${e.message}`);
    } else if (e.type === 'run/didFinish' && !e.stopped) {
      const summary = readRun(e.runDir).summary;
      if (summary) DashboardPanel.current?.post({ type: 'summary/didLoad', summary });
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
    const run = readRun(runDir);
    const dash = this.dashboard();
    this.shownRunDir = runDir;
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
    this.status.dispose();
    this.output.dispose();
  }
}
