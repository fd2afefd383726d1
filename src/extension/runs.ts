// Reading run folders (events.jsonl, summary.json, checkpoints) for the dashboard and Resume. No
// `vscode` import. Bad lines are reported, not trusted.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseEventLine } from '../protocol/trainer.js';
import { type RunSummary, SummarySchema, type TimedEvent } from '../protocol/webview.js';

export interface RunFolder {
  events: TimedEvent[];
  /** `line N: why` for each line of events.jsonl that failed validation. */
  rejected: string[];
  summary: RunSummary | null;
  verb: string | null;
}

export function readRun(runDir: string): RunFolder {
  const file = path.join(runDir, 'events.jsonl');
  if (!existsSync(file)) throw new Error(`${runDir} has no events.jsonl: not a run folder of alol (audit, train, eval or demo)`);
  const events: TimedEvent[] = [];
  const rejected: string[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      const r = parseEventLine(line);
      if (!r.ok) return void rejected.push(`line ${i + 1}: ${r.error}`);
      const t = (JSON.parse(line) as { t?: unknown }).t;
      events.push({ t: typeof t === 'number' ? t : 0, event: r.event });
    });
  let summary: RunSummary | null = null;
  const sFile = path.join(runDir, 'summary.json');
  if (existsSync(sFile)) {
    const s = SummarySchema.safeParse(JSON.parse(readFileSync(sFile, 'utf8')));
    if (s.success) summary = s.data;
    else rejected.push(`summary.json: ${s.error.issues[0].message}`);
  }
  const start = events.find((e) => e.event.type === 'run/didStart')?.event;
  return { events, rejected, summary, verb: start && start.type === 'run/didStart' ? start.verb : null };
}

/** Whether a run folder holds something to resume from (a checkpoint of a variant, or a demo/train in progress). */
export function hasCheckpoint(runDir: string): boolean {
  if (!existsSync(runDir)) return false;
  return readdirSync(runDir).some((v) => {
    const dir = path.join(runDir, v, 'checkpoints');
    return existsSync(dir) && statSync(dir).isDirectory() && readdirSync(dir).length > 0;
  });
}

/** Run folders under `runsDir`, newest first. */
export function listRuns(runsDir: string): string[] {
  if (!existsSync(runsDir)) return [];
  return readdirSync(runsDir)
    .map((n) => path.join(runsDir, n))
    .filter((d) => existsSync(path.join(d, 'events.jsonl')))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
}
