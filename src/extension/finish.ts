// When a run finishes: a notification with its time and headline result and an Open Dashboard button (the
// status bar alone was easy to miss), and the demo's measured duration remembered for the Run Demo picker.

import * as vscode from 'vscode';
import type { TrainerCommand } from '../protocol/trainer.js';
import type { RunSummary } from '../protocol/webview.js';
import { COMMANDS, STATE_KEYS } from './constants.js';
import { demoDescription, finishMessage } from './finishText.js';

type DemoDurations = { quick?: number; full?: number };
type StartCommand = Extract<TrainerCommand, { type: 'run/start' }>;

export class FinishNotices {
  constructor(private readonly state: vscode.Memento) {}

  /** The Run Demo picker's description of the quick or full demo. */
  demoDescription(quick: boolean): string {
    const d = this.state.get<DemoDurations>(STATE_KEYS.demoDurationMs) ?? {};
    return demoDescription(quick, quick ? d.quick : d.full);
  }

  /** A run of `cmd` finished (not stopped): remember a demo's time (not a resumed one's), then say so with the headline result. */
  async finished(cmd: StartCommand | undefined, elapsedMs: number, summary: RunSummary | null): Promise<void> {
    const demo = cmd?.verb === 'demo' ? (cmd.demo ?? { quick: false }) : undefined;
    if (demo && !cmd?.resume) {
      const d = this.state.get<DemoDurations>(STATE_KEYS.demoDurationMs) ?? {};
      await this.state.update(STATE_KEYS.demoDurationMs, { ...d, [demo.quick ? 'quick' : 'full']: elapsedMs });
    }
    const title = demo ? `A-LoL demo${demo.quick ? ' (quick)' : ''}` : `A-LoL ${cmd?.verb ?? 'run'}`;
    const open = 'Open Dashboard';
    const choice = await vscode.window.showInformationMessage(finishMessage(title, elapsedMs, summary), open);
    if (choice === open) await vscode.commands.executeCommand(COMMANDS.openDashboard);
  }
}
