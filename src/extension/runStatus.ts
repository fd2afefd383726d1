// What the Runs view says about one run folder: its status, variants, start time, key metric and, for
// a failed run, its error. Pure reading (no `vscode` import), so it is unit-tested on recorded folders;
// a folder that cannot be read is described as `corrupt` with the reason, never thrown.
//
// Status: `running` only for the controller's live run; otherwise the run's last terminal event since
// its last run/didStart (a resume starts again): run/didFail -> failed, run/didFinish -> finished, or
// stopped when it says so; none -> interrupted (the process died without a word).

import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { RunSummary } from '../protocol/webview.js';
import { variantOfPhase } from '../protocol/trainer.js';
import { hasCheckpoint, readRun } from './runs.js';

export const RUN_STATUSES = ['running', 'finished', 'failed', 'stopped', 'interrupted', 'corrupt'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** A run's or a variant's headline number. */
export type KeyMetric =
  | { kind: 'reward'; value: number; variant: string }
  | { kind: 'preferenceAccuracy'; value: number; variant: string }
  | { kind: 'audit'; kept: number; filtered: number };

export interface VariantInfo {
  name: string;
  /** Null while it has no summary entry (not evaluated yet, or the run ended first). */
  metric: Extract<KeyMetric, { kind: 'reward' | 'preferenceAccuracy' }> | null;
}

export interface RunInfo {
  dir: string;
  name: string;
  status: RunStatus;
  verb: string | null;
  /** ms since the epoch: run/didStart's time stamp (the first event's when it has none). */
  startedAt: number | null;
  variants: VariantInfo[];
  /** The best non-reference variant's metric (the reference's when it is the only one), or an audit's counts. */
  metric: KeyMetric | null;
  error: { code: string; message: string; hint?: string } | null;
  /** Why a folder is corrupt, or what was wrong in a readable one (invalid lines). */
  problem: string | null;
  resumable: boolean;
}

type VariantSummary = RunSummary['variants'][string];

/** A variant's metric: held-out sampled reward, or preference accuracy where rewards could not score text. */
export function variantMetric(name: string, v: VariantSummary): VariantInfo['metric'] {
  const total = v.heldoutSampled.reward.total;
  if (typeof total === 'number') return { kind: 'reward', value: total, variant: name };
  const acc = v.heldoutSampled.preferenceAccuracy ?? v.heldout.preferenceAccuracy;
  return typeof acc === 'number' ? { kind: 'preferenceAccuracy', value: acc, variant: name } : null;
}

/** The best of the variants' metrics, preferring rewards to accuracies; the reference only when alone. */
export function bestMetric(variants: readonly VariantInfo[]): VariantInfo['metric'] {
  const scored = variants.map((v) => v.metric).filter((m) => m !== null);
  const trained = scored.filter((m) => m.variant !== 'reference');
  const pool = trained.length ? trained : scored;
  const kind = pool.some((m) => m.kind === 'reward') ? 'reward' : 'preferenceAccuracy';
  return pool.filter((m) => m.kind === kind).reduce<VariantInfo['metric']>((a, m) => (a && a.value >= m.value ? a : m), null);
}

/** Describes `dir`; `live` says it is the controller's running run. Never throws. */
export function describeRun(dir: string, live = false): RunInfo {
  const base: RunInfo = {
    dir,
    name: path.basename(dir),
    status: 'corrupt',
    verb: null,
    startedAt: null,
    variants: [],
    metric: null,
    error: null,
    problem: null,
    resumable: false,
  };
  let run: ReturnType<typeof readRun>;
  try {
    run = readRun(dir);
  } catch (e) {
    return { ...base, problem: e instanceof Error ? e.message : String(e), status: live ? 'running' : 'corrupt' };
  }
  const events = run.events;
  const problem = run.rejected.length ? `${run.rejected.length} invalid line(s): ${run.rejected[0]}` : null;
  const startIdx = lastIndex(events, (x) => x.event.type === 'run/didStart');
  if (startIdx < 0 && !live) {
    const why = events.length ? 'events.jsonl has no run/didStart event' : 'events.jsonl has no valid event';
    return { ...base, problem: problem ? `${why}; ${problem}` : why, verb: run.verb };
  }
  const since = events.slice(Math.max(0, startIdx));
  let status: RunStatus = live ? 'running' : 'interrupted';
  let error: RunInfo['error'] = null;
  if (!live) {
    for (const { event: e } of since) {
      if (e.type === 'run/didFail') [status, error] = ['failed', { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) }];
      else if (e.type === 'run/didFinish') [status, error] = [e.stopped ? 'stopped' : 'finished', null];
    }
  }
  const first = startIdx >= 0 ? events[startIdx] : events[0];
  const startedAt = first && first.t > 0 ? first.t : null;
  const variants = variantsOf(events, run.summary);
  const audit = events[lastIndex(events, (x) => x.event.type === 'advantages/didCompute')]?.event;
  const metric: KeyMetric | null =
    bestMetric(variants) ??
    (audit?.type === 'advantages/didCompute' && (run.verb === 'audit' || variants.length === 0)
      ? { kind: 'audit', kept: audit.counts.kept, filtered: audit.counts.filtered }
      : null);
  const resumable = ['stopped', 'failed', 'interrupted'].includes(status) && hasCheckpointSafe(dir);
  return { ...base, status, verb: run.verb, startedAt, variants, metric, error, problem, resumable };
}

/** Variants named by summary.json, else by the training and evaluation phases seen so far (in order of appearance). */
function variantsOf(events: ReturnType<typeof readRun>['events'], summary: RunSummary | null): VariantInfo[] {
  if (summary) return Object.entries(summary.variants).map(([name, v]) => ({ name, metric: variantMetric(name, v) }));
  const names: string[] = [];
  for (const { event: e } of events) {
    const v = e.type === 'phase/didChange' && (e.phase === 'training' || e.phase === 'evaluation') ? variantOfPhase(e) : null;
    if (v && !names.includes(v)) names.push(v);
  }
  return names.map((name) => ({ name, metric: null }));
}

function lastIndex<T>(xs: readonly T[], f: (x: T) => boolean): number {
  for (let i = xs.length - 1; i >= 0; i--) if (f(xs[i])) return i;
  return -1;
}

function hasCheckpointSafe(dir: string): boolean {
  try {
    return hasCheckpoint(dir);
  } catch {
    return false;
  }
}

/** Run folders are directories holding events.jsonl; a missing or odd entry is simply not a run. */
export function isRunFolder(dir: string): boolean {
  try {
    return statSync(dir).isDirectory() && existsSync(path.join(dir, 'events.jsonl'));
  } catch {
    return false;
  }
}

/** "3 min ago", "2 h ago", "5 d ago" (and "in the future" for a clock skew). */
export function relativeTime(thenMs: number, nowMs: number): string {
  const s = Math.round((nowMs - thenMs) / 1000);
  if (s < -60) return 'in the future';
  if (s < 60) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} d ago`;
}

/** One line for a metric: "reward 0.732 (a_lol_seq)", "pref. acc. 0.81 (a_lol)", "audit: 120 kept, 80 filtered". */
export function formatMetric(m: KeyMetric, withVariant = true): string {
  if (m.kind === 'audit') return `audit: ${m.kept} kept, ${m.filtered} filtered`;
  const what = m.kind === 'reward' ? `reward ${m.value.toFixed(3)}` : `pref. acc. ${m.value.toFixed(3)}`;
  return withVariant ? `${what} (${m.variant})` : what;
}
