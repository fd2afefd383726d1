// Reading run folders (events.jsonl, summary.json, advantages.jsonl, checkpoints) for the dashboard,
// the dataset annotations and Resume. No `vscode` import. Bad lines are reported, not trusted.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { type AdvantageRow, parseAdvantageLines } from '../protocol/advantages.js';
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
      events.push({ t: r.t ?? 0, event: r.event });
    });
  let summary: RunSummary | null = null;
  const sFile = path.join(runDir, 'summary.json');
  if (existsSync(sFile)) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(sFile, 'utf8'));
    } catch (e) {
      json = undefined;
      rejected.push(`summary.json: not JSON: ${(e as Error).message}`);
    }
    const s = json === undefined ? null : SummarySchema.safeParse(json);
    if (s?.success) summary = s.data;
    else if (s) rejected.push(`summary.json: ${s.error.issues[0].path.join('.') || '(file)'}: ${s.error.issues[0].message}`);
  }
  const start = events.find((e) => e.event.type === 'run/didStart')?.event;
  return { events, rejected, summary, verb: start && start.type === 'run/didStart' ? start.verb : null };
}

/** The valid rows of a run's advantages.jsonl; `rejected` names each bad line as `FILE:LINE: why`. */
export function readAdvantages(file: string): { rows: AdvantageRow[]; rejected: string[] } {
  const r = parseAdvantageLines(readFileSync(file, 'utf8'));
  return { rows: r.rows, rejected: r.rejected.map((x) => `${file}:${x.line}: ${x.reason}`) };
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
