// Command, view and setting ids of the extension: one place, namespaced. Every command the extension
// registers or runs is here (test/unit/manifest.test.ts checks package.json and the sources against it).

export const COMMANDS = {
  runDemo: 'alolStudio.runDemo',
  startTraining: 'alolStudio.startTraining',
  auditAdvantages: 'alolStudio.auditAdvantages',
  stop: 'alolStudio.stop',
  resume: 'alolStudio.resume',
  openDashboard: 'alolStudio.openDashboard',
  openRun: 'alolStudio.openRun',
  compareRuns: 'alolStudio.compareRuns',
  showTrainerLog: 'alolStudio.showTrainerLog',
  showVersion: 'alolStudio.showVersion',
  thumbsUp: 'alolStudio.annotate.thumbsUp',
  thumbsDown: 'alolStudio.annotate.thumbsDown',
  setHumanReward: 'alolStudio.annotate.setHumanReward',
  addNote: 'alolStudio.annotate.addNote',
  exclude: 'alolStudio.annotate.exclude',
  newRewardFunction: 'alolStudio.newRewardFunction',
  scoreRow: 'alolStudio.scoreRow',
  checkReward: 'alolStudio.checkRewardFunction',
  debugReward: 'alolStudio.debugRewardFunction',
  rewardReport: 'alolStudio.rewardReport',
  chooseRunConfig: 'alolStudio.chooseRunConfig',
  /** Internal (not in the palette): the dashboard's histogram bin -> a quick pick of its rows. */
  openAdvantageBin: 'alolStudio.openAdvantageBin',
  // The Runs view's item actions (hidden from the palette: they act on the run they are invoked on).
  runsOpen: 'alolStudio.runs.openDashboard',
  runsResume: 'alolStudio.runs.resume',
  runsStop: 'alolStudio.runs.stop',
  runsReveal: 'alolStudio.runs.revealFolder',
  runsDelete: 'alolStudio.runs.delete',
  runsRefresh: 'alolStudio.runs.refresh',
} as const;

export const VIEW_DASHBOARD = 'alolStudio.dashboard';
/** The Runs tree view in the "A-LoL" activity-bar container. */
export const VIEW_RUNS = 'alolStudio.runs';
/** workspaceState key: the run folder the dashboard showed last (reopened by Open Dashboard). */
export const STATE_LAST_RUN = 'alolStudio.lastRun';
/** Theme colours the extension contributes (package.json "colors"): the dataset rows' overview-ruler marks. */
export const COLORS = { filteredRow: 'alolStudio.filteredRow', annotatedRow: 'alolStudio.annotatedRow' } as const;
/** Keys of what the extension remembers: the workspace's run config (workspaceState), the demo's measured time (globalState). */
export const STATE_KEYS = { runConfig: 'alolStudio.runConfig', demoDurationMs: 'alolStudio.demoDurationMs' } as const;
export const CONFIG_SECTION = 'alolStudio';

export interface Settings {
  device: 'auto' | 'cpu' | 'cuda' | 'webgpu';
  threads: number;
  runsFolder: string;
  nodePath: string;
  /** The torch backend's Python interpreter ('' : python3 on PATH). */
  python: string;
  trainerCommand: string[];
}
