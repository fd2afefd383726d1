// A run's event log: every event is validated against the protocol schema (our own events included,
// so a bug cannot write a message the dashboard would reject), appended to <run dir>/events.jsonl with
// its time, and — when the trainer runs as the extension's subprocess — written to stdout.

import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type TrainerEvent, TrainerEventSchema } from '../../protocol/trainer.js';

export class RunLog {
  readonly file: string;

  constructor(
    readonly runDir: string,
    private readonly toStdout = false,
  ) {
    mkdirSync(runDir, { recursive: true });
    this.file = path.join(runDir, 'events.jsonl');
  }

  emit(event: TrainerEvent): void {
    const r = TrainerEventSchema.safeParse(event);
    if (!r.success) throw new Error(
      `internal: invalid ${event.type} event: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
    const line = JSON.stringify({ ...r.data, t: Date.now() });
    appendFileSync(this.file, `${line}\n`);
    if (this.toStdout) process.stdout.write(`${line}\n`);
  }
}

/** A fresh run folder name: <verb>-YYYYMMDD-HHMMSS. */
export function runName(verb: string, now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const day = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}`;
  return `${verb}-${day}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
}
