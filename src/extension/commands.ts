// The palette commands (category "A-LoL"). Each is a thin step from a user choice to the controller, the
// dataset annotations or the reward debugger.

import { existsSync } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import type { TrainerCommand } from '../protocol/trainer.js';
import { binItems } from './binRows.js';
import { COMMANDS } from './constants.js';
import type { DatasetAnnotations } from './annotations.js';
import type { RewardDebugger } from './rewardDebug.js';
import type { TrainerController } from './controller.js';
import type { RunsNode, RunsView } from './runsView.js';
import { hasCheckpoint, listRuns } from './runs.js';
import type { RunConfigChoice } from './runConfig.js';

/**
 * Reward modules are the workspace's code: `action` (e.g. "Score Row") runs only in a trusted workspace.
 * Otherwise a warning says why and how to trust it, with a button that opens the Workspace Trust editor.
 */
export function trusted(action: string): boolean {
  if (vscode.workspace.isTrusted) return true;
  const message =
    `A-LoL: ${action} runs reward modules from this workspace (code), and this workspace is not trusted (Restricted Mode), ` +
    'so nothing was run. To run them, trust the workspace: Manage Workspace Trust, then "Trust".';
  void vscode.window.showWarningMessage(message, 'Manage Workspace Trust').then((a) => {
    if (a) void vscode.commands.executeCommand('workbench.trust.manage');
  });
  return false;
}

/** A run/start command in a new run folder (no resume). */
type StartCommand = Extract<TrainerCommand, { type: 'run/start' }>;
const startCommand = (verb: StartCommand['verb'], configFile: string | null, demo?: StartCommand['demo']): StartCommand => ({
  type: 'run/start',
  verb,
  configFile,
  set: [],
  outDir: null,
  resume: null,
  ...(demo ? { demo } : {}),
});

async function pickRun(c: TrainerController, title: string, needCheckpoint: boolean): Promise<string | undefined> {
  const runs = listRuns(c.runsDir()).filter((r) => !needCheckpoint || hasCheckpoint(r));
  const items: (vscode.QuickPickItem & { dir?: string })[] = runs.map((r) => ({ label: path.basename(r), description: r, dir: r }));
  items.push({ label: '$(folder-opened) Choose a folder…' });
  const choice = await vscode.window.showQuickPick(items, { title });
  if (!choice) return undefined;
  if (choice.dir) return choice.dir;
  const defaultUri = vscode.Uri.file(c.runsDir());
  const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title, defaultUri });
  return picked?.[0]?.fsPath;
}

/** Run folders from a command's argument: a path, an array of paths, or nodes of the Runs view (`{ run: { dir } }`). */
function runDirsOf(v: unknown): string[] {
  const one = (x: unknown): string[] => {
    if (typeof x === 'string') return [x];
    const dir = (x as { run?: { dir?: unknown } } | null)?.run?.dir;
    return typeof dir === 'string' ? [dir] : [];
  };
  return [...new Set(Array.isArray(v) ? v.flatMap(one) : one(v))];
}

async function pickRuns(c: TrainerController): Promise<string[] | undefined> {
  const runs = listRuns(c.runsDir());
  if (runs.length < 2) {
    void vscode.window.showInformationMessage(`A-LoL: comparing needs two runs; ${c.runsDir()} has ${runs.length}.`);
    return undefined;
  }
  const items = runs.map((r) => ({ label: path.basename(r), description: r, dir: r }));
  const picked = await vscode.window.showQuickPick(items, { title: 'A-LoL: Compare Runs (pick two or more)', canPickMany: true });
  if (!picked) return undefined;
  if (picked.length < 2) {
    void vscode.window.showInformationMessage('A-LoL: pick at least two runs to compare.');
    return undefined;
  }
  return picked.map((p) => p.dir);
}

export function registerCommands(
  c: TrainerController,
  version: string,
  annotations: DatasetAnnotations,
  rewards: RewardDebugger,
  runs: RunsView,
  configs: RunConfigChoice,
): vscode.Disposable[] {
  const cmd = (id: string, f: (...a: never[]) => unknown) => vscode.commands.registerCommand(id, f);
  // Arguments given by other code (keybindings, tests); menus pass a Uri, which means "ask".
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return [
    cmd(COMMANDS.runDemo, async () => {
      const choices = [
        { label: 'Quick demo', description: c.notices.demoDescription(true), quick: true },
        { label: 'Full demo', description: c.notices.demoDescription(false), quick: false },
      ];
      const pick = await vscode.window.showQuickPick(choices, { title: 'A-LoL: Run Demo' });
      if (!pick) return;
      const demo = { quick: pick.quick, seed: 1, noise: 0.5 };
      await c.start(startCommand('demo', null, demo), pick.quick ? 'A-LoL demo (quick)' : 'A-LoL demo');
    }),
    cmd(COMMANDS.startTraining, async () => {
      if (!trusted('Start Training')) return;
      const file = await configs.choose('Start Training');
      if (file) await c.start(startCommand('train', file), `train — ${path.basename(file)}`);
    }),
    cmd(COMMANDS.auditAdvantages, async () => {
      if (!trusted('Audit Advantages')) return;
      const file = await configs.choose('Audit Advantages');
      if (file) await c.start(startCommand('audit', file), `audit — ${path.basename(file)}`);
    }),
    cmd(COMMANDS.stop, () => c.stop()),
    cmd(COMMANDS.resume, async () => {
      if (!trusted('Resume')) return;
      const dir = await pickRun(c, 'A-LoL: Resume a run from its last checkpoint', true);
      if (dir) await c.resume(dir);
    }),
    cmd(COMMANDS.openDashboard, () => c.showDashboard()),
    cmd(COMMANDS.openRun, async () => {
      const dir = await pickRun(c, 'A-LoL: Open Run', false);
      if (dir) c.openRun(dir);
    }),
    // From the Runs view (the clicked item and the selection), from code (run folders), or from the palette (pick).
    cmd(COMMANDS.compareRuns, async (first?: unknown, selection?: unknown) => {
      const given = runDirsOf(selection).length ? runDirsOf(selection) : runDirsOf(first);
      const dirs = given.length >= 2 ? given : await pickRuns(c);
      if (!dirs) return;
      try {
        c.compareRuns(dirs);
      } catch (e) {
        void vscode.window.showErrorMessage(`A-LoL: cannot compare: ${e instanceof Error ? e.message : String(e)}`);
      }
    }),
    cmd(COMMANDS.showTrainerLog, () => c.output.show()),
    // Returns the text it shows (the message's promise settles only when it is dismissed).
    cmd(COMMANDS.showVersion, () => {
      const text = `A-LoL Studio ${version}`;
      void vscode.window.showInformationMessage(text);
      return text;
    }),
    // Writes a template and edits a config (runs nothing): allowed in Restricted Mode.
    cmd(COMMANDS.newRewardFunction, () => rewards.newRewardFunction()),
    cmd(COMMANDS.scoreRow, (config?: unknown) => trusted('Score Row') && rewards.scoreRows(str(config))),
    cmd(COMMANDS.checkReward, (config?: unknown, component?: unknown) => {
      return trusted('Check Reward Function') && rewards.check(str(config), str(component));
    }),
    cmd(COMMANDS.debugReward, (config?: unknown, component?: unknown) => {
      return trusted('Debug Reward Function') && rewards.debug(str(config), str(component));
    }),
    cmd(COMMANDS.rewardReport, (config?: unknown) => trusted('Reward Report') && rewards.report(str(config))),
    // A file argument (tests, keybindings) is remembered as is; none asks.
    cmd(COMMANDS.chooseRunConfig, async (config?: unknown) => {
      const file = str(config);
      if (file) await configs.remember(file);
      return file ?? configs.choose();
    }),
    cmd(COMMANDS.thumbsUp, () => annotations.annotate('human_label', 1)),
    cmd(COMMANDS.thumbsDown, () => annotations.annotate('human_label', 0)),
    cmd(COMMANDS.exclude, () => annotations.annotate('exclude', true)),
    cmd(COMMANDS.setHumanReward, async () => {
      const v = await vscode.window.showInputBox({
        title: 'A-LoL: Set Human Reward',
        prompt: 'A number for "human_reward" (use it with a field reward: {"kind": "field", "field": "human_reward"})',
        validateInput: (t) => (t.trim() !== '' && Number.isFinite(Number(t)) ? null : 'a finite number, e.g. 0.8'),
      });
      if (v !== undefined) await annotations.annotate('human_reward', Number(v));
    }),
    cmd(COMMANDS.addNote, async () => {
      const v = await vscode.window.showInputBox({
        title: 'A-LoL: Add Note',
        prompt: 'A note stored in the row as "note" (not read by training)',
      });
      if (v !== undefined) await annotations.annotate('note', v);
    }),
    // The Runs view's item actions: (clicked node, selected nodes).
    cmd(COMMANDS.runsOpen, (n?: RunsNode) => runs.open(n)),
    cmd(COMMANDS.runsResume, (n?: RunsNode) => trusted('Resume') && runs.resume(n)),
    cmd(COMMANDS.runsStop, (n?: RunsNode) => runs.stop(n)),
    cmd(COMMANDS.runsReveal, (n?: RunsNode) => runs.reveal(n)),
    cmd(COMMANDS.runsDelete, (n?: RunsNode, selected?: RunsNode[]) => runs.delete(n, selected)),
    cmd(COMMANDS.runsRefresh, () => runs.refresh()),
    // The dashboard's histogram: list the rows of one bin [lo, hi) and open the chosen one in its dataset.
    cmd(COMMANDS.openAdvantageBin, async (runDir: string, lo: number, hi: number) => {
      const file = path.join(runDir, 'advantages.jsonl');
      if (!existsSync(file)) return void vscode.window.showWarningMessage(`A-LoL: ${file} is missing`);
      const items = binItems(annotations.advantagesOf(file).rows, lo, hi, (f) => annotations.rowsOfFile(f), (f) => path.basename(f));
      const title = `${items.length} rows with advantage in [${lo.toFixed(3)}, ${hi.toFixed(3)}), highest first`;
      const pick = await vscode.window.showQuickPick(items, { title, matchOnDescription: true, matchOnDetail: true });
      if (!pick) return;
      const { file: dataFile, rowId, line } = pick.row;
      if (dataFile.endsWith('.gz')) {
        const where = `row ${rowId} is at line ${line}`;
        return void vscode.window.showInformationMessage(`A-LoL: ${path.basename(dataFile)} is compressed; ${where}.`);
      }
      await annotations.reveal(dataFile, rowId, line);
    }),
  ];
}
