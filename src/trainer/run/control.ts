// Cooperative control of a running job by the extension: stop (after a checkpoint) and checkpoint now.
// The training loops poll it between steps; ORT calls block the thread, so that is where commands land.

export interface RunControl {
  stopRequested: boolean;
  checkpointRequested: boolean;
}

export const newControl = (): RunControl => ({ stopRequested: false, checkpointRequested: false });

/** Thrown to unwind a run after a requested stop; `checkpoint` is where it can resume from (if any). */
export class StopRequested extends Error {
  constructor(readonly checkpoint: string | null) {
    super(checkpoint ? `stopped; resume from ${checkpoint}` : 'stopped');
    this.name = 'StopRequested';
  }
}
