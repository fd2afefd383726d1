// How a phase tells the user and the dashboard what it does: a line and a phase/didChange event when it
// starts and when it finishes (with its time, summed per phase in `seconds`, and the process's memory),
// progress as a bar and throttled phase/didProgress events, and a stop check between phases.

import type { Phase } from '../../protocol/trainer.js';
import { StopRequested } from '../run/control.js';
import type { ProgressBar, RunContext } from '../run/context.js';

export type OnProgress = (done: number, total: number) => void;

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** The process's memory now and at its peak so far: what each phase reports as it finishes. */
export function memoryNow(): string {
  return `RSS ${gib(process.memoryUsage.rss())}, peak ${gib(process.resourceUsage().maxRSS * 1024)}`;
}

export class PhaseClock {
  /** Seconds per phase (a phase that runs twice, like the reference, sums both). */
  readonly seconds: Record<string, number> = {};
  private startedAt = 0;

  constructor(private readonly ctx: Pick<RunContext, 'say' | 'log' | 'control' | 'progress'>) {}

  start(phase: Phase, message: string): void {
    this.startedAt = performance.now();
    this.ctx.say(`[${phase}] ${message}`);
    this.ctx.log.emit({ type: 'phase/didChange', phase, status: 'started', message });
  }

  finish(phase: Phase, message: string): void {
    if (this.ctx.control.stopRequested) throw new StopRequested(null);
    const ms = performance.now() - this.startedAt;
    this.seconds[phase] = (this.seconds[phase] ?? 0) + ms / 1e3;
    this.ctx.say(`[${phase}] ${message} (${(ms / 1e3).toFixed(1)} s; ${memoryNow()})`);
    this.ctx.log.emit({ type: 'phase/didChange', phase, status: 'finished', message, elapsedMs: ms });
  }

  /** A progress callback (done, total) for a phase: a bar on the terminal and phase/didProgress events. */
  progress(phase: Phase): OnProgress {
    let bar: ProgressBar | null = null;
    let lastEmit = 0;
    return (done, total) => {
      bar ??= this.ctx.progress(phase, total);
      bar.update(done);
      const now = performance.now();
      if (done >= total || now - lastEmit > 250) {
        lastEmit = now; // throttled: a fast phase must not flood the event log
        this.ctx.log.emit({ type: 'phase/didProgress', phase, done, total });
      }
      if (done >= total) bar.stop();
    };
  }
}

/** A progress bar alone (no events): training and evaluation report their own. */
export function progressBarOf(ctx: Pick<RunContext, 'progress'>, phase: Phase): OnProgress {
  let bar: ProgressBar | null = null;
  return (done, total) => {
    bar ??= ctx.progress(phase, total);
    bar.update(done);
    if (done >= total) bar.stop();
  };
}
