// Cooperative control of a running job by the extension: stop (after a checkpoint) and checkpoint now.
// The training loops poll it between steps. ORT calls block the thread that makes them: a trainer on the main
// thread takes commands between its steps; trainers in worker threads (train.parallelVariants) leave it free.

export interface RunControl {
  stopRequested: boolean;
  /**
   * Checkpoint-now requests so far: a training loop checkpoints when this has grown since it last answered (variants
   * trained at once each answer every request; one made between trainings is answered at the next one's first step).
   */
  checkpointRequests: number;
  /** checkpointRequests when a loop last checkpointed for them: a loop that starts later begins from it. */
  answeredRequests: number;
}

export const newControl = (): RunControl => ({ stopRequested: false, checkpointRequests: 0, answeredRequests: 0 });

/** Thrown to unwind a run after a requested stop; `checkpoint` is where it can resume from (if any). */
export class StopRequested extends Error {
  constructor(readonly checkpoint: string | null) {
    super(checkpoint ? `stopped; resume from ${checkpoint}` : 'stopped');
    this.name = 'StopRequested';
  }
}
