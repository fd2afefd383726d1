// The dashboard's run model: a compact, JSON-safe digest of the run events received so far (no DOM).
// `applyEvent` folds one trainer event into it; every applier is idempotent, so a host that re-sends
// a run's events after a reload (webview/ready) rebuilds the same model. The digest is what survives a
// reload (vscode.setState); per-variant series are thinned past MAX_POINTS so it stays small.
//
// Variants: a demo run trains several variants one after another and each restarts at step 1. Steps,
// evaluations and checkpoints name their variant (protocol 2); in a version-1 run they belong to the
// variant of the training or evaluation phase under way, which variantOfPhase reads from the phase event.

import {
  DEFAULT_SENTINELS, type HostToWebview, type KeptDiff, type RunSummary, type SentinelSettings, type TimedEvent, type TrainerState,
} from '../../src/protocol/webview.js';
import { type Phase, type TrainerEvent, variantOfPhase } from '../../src/protocol/trainer.js';

export const METRICS = ['loss', 'lr', 'gradNorm', 'meanImportanceWeight', 'clipFraction', 'heldoutLoss'] as const;
export type MetricKey = (typeof METRICS)[number];

type Ev<T extends TrainerEvent['type']> = Extract<TrainerEvent, { type: T }>;
export type RunStart = Omit<Ev<'run/didStart'>, 'type'>;
export type Architecture = Omit<Ev<'model/didLoad'>, 'type'>;
export type Advantages = Omit<Ev<'advantages/didCompute'>, 'type'>;
export type Sample = Ev<'eval/didComplete'>['samples'][number];
export type Split = Ev<'eval/didComplete'>['split'];

/** One variant's training curves, columnar: steps[i] goes with m[key][i] (null: not reported). */
export interface VariantSeries {
  name: string;
  totalSteps: number;
  steps: number[];
  m: Record<MetricKey, (number | null)[]>;
  /** Exponential moving average of tokens/s over steps. */
  tokensPerSec: number | null;
  /** Training time of this variant at its last step, and the time per step for the ETA. */
  elapsedMs: number;
  version: number;
}

export interface EvalRecord {
  variant: string;
  step: number;
  split: Split;
  sampled: boolean;
  rewards: Record<string, number>;
  distinct: [number, number, number];
  lengthTokens: number;
}

export interface SampleGroup {
  variant: string;
  step: number;
  split: Split;
  sampled: boolean;
  samples: Sample[];
}

export interface PhaseState {
  phase: Phase;
  status: 'started' | 'finished';
  message: string;
  startT: number;
  done: number;
  total: number;
}

/** Several runs shown together: each run's own model; the panels draw their merge (viewOf). */
export interface CompareState {
  runs: { label: string; runDir: string; title: string; model: RunModel }[];
  keptDiff: KeptDiff | null;
  keptDiffNote: string | null;
}

export interface RunModel {
  /** The digest's layout; a saved digest of another layout is dropped (the host re-sends the run). */
  v: 3;
  run: { title: string; runDir: string; live: boolean } | null;
  start: RunStart | null;
  /** The reference model's family and shape (model/didLoad). */
  architecture: Architecture | null;
  startT: number | null;
  lastT: number | null;
  phase: PhaseState | null;
  /** Phase messages (started and finished), oldest first, capped. */
  log: { t: number; phase: Phase; text: string }[];
  trainingVariant: string | null;
  /** Variants whose training has started and not finished (several when a run trains variants at once). */
  training: string[];
  evalLabel: string | null;
  /** Every variant name seen (training or evaluation), in order: its index picks its colour. */
  names: string[];
  series: VariantSeries[];
  /** Steps of phases before training (the reference's SFT: 'π_ref SFT'), one series each. */
  fits: VariantSeries[];
  evals: EvalRecord[];
  sampleGroups: SampleGroup[];
  advantages: Advantages | null;
  checkpoints: { step: number; dir: string }[];
  failure: { code: string; message: string; hint?: string } | null;
  finished: { elapsedMs: number; stopped: boolean } | null;
  trainer: { state: TrainerState; message?: string; canResume: boolean } | null;
  summary: RunSummary | null;
  rejected: { at: number; reason: string }[];
  compare: CompareState | null;
  sentinels: SentinelSettings;
  /** Bumped per panel on change; a renderer redraws only when its version moved. */
  ver: { header: number; advantages: number; curves: number; samples: number; summary: number; log: number };
}

const MAX_POINTS = 8000;
const MAX_LOG = 200;
const MAX_REJECTED = 20;

export function emptyModel(): RunModel {
  return {
    v: 3, run: null, start: null, architecture: null, startT: null, lastT: null, phase: null, log: [], trainingVariant: null,
    training: [], evalLabel: null,
    names: [], series: [], fits: [], evals: [], sampleGroups: [], advantages: null, checkpoints: [], failure: null, finished: null,
    trainer: null, summary: null, rejected: [], compare: null, sentinels: { ...DEFAULT_SENTINELS },
    ver: { header: 1, advantages: 1, curves: 1, samples: 1, summary: 1, log: 1 },
  };
}

/** A digest from vscode.getState() when it has the shape this version writes; otherwise null. */
export function restoreModel(state: unknown): RunModel | null {
  if (typeof state !== 'object' || state === null) return null;
  const m = (state as { model?: unknown }).model;
  if (typeof m !== 'object' || m === null || (m as { v?: unknown }).v !== 3) return null;
  const keys: (keyof RunModel)[] = ['names', 'series', 'fits', 'evals', 'sampleGroups', 'log', 'checkpoints', 'rejected'];
  if (!keys.every((k) => Array.isArray((m as Record<string, unknown>)[k]))) return null;
  const model = m as RunModel;
  model.architecture ??= null; // a digest saved before model/didLoad existed
  model.training ??= []; // one saved before variants trained at once
  for (const k of Object.keys(model.ver) as (keyof RunModel['ver'])[]) model.ver[k] += 1; // redraw all
  return model;
}

/** Applies one validated host message. */
export function applyHostMessage(model: RunModel, msg: HostToWebview): RunModel {
  switch (msg.type) {
    case 'run/didOpen': {
      const fresh = freshFrom(model);
      fresh.run = { title: msg.title, runDir: msg.runDir, live: msg.live };
      return fresh;
    }
    case 'compare/didOpen': {
      const fresh = freshFrom(model);
      fresh.run = { title: msg.title, runDir: '', live: false };
      const runs = msg.runs.map((r) => ({ ...r, model: emptyModel() }));
      fresh.compare = { runs, keptDiff: msg.keptDiff, keptDiffNote: msg.keptDiffNote ?? null };
      return fresh;
    }
    case 'events/didAppend': {
      const target = targetOf(model, msg.run);
      if (!target) return model;
      for (const e of msg.events) applyEvent(target, e);
      if (target !== model) bumpAll(model);
      return model;
    }
    case 'summary/didLoad': {
      const target = targetOf(model, msg.run);
      if (!target) return model;
      target.summary = msg.summary;
      target.ver.summary++;
      if (target !== model) bumpAll(model);
      return model;
    }
    case 'settings/didChange':
      model.sentinels = msg.sentinels;
      bumpAll(model);
      return model;
    case 'trainer/didChangeState':
      model.trainer = { state: msg.state, message: msg.message, canResume: msg.canResume };
      model.ver.header++;
      return model;
  }
}

/** An empty model for a new view, keeping what belongs to the page (rejections, settings); every panel redraws. */
function freshFrom(model: RunModel): RunModel {
  const fresh = emptyModel();
  fresh.rejected = model.rejected;
  fresh.sentinels = model.sentinels;
  for (const k of Object.keys(fresh.ver) as (keyof RunModel['ver'])[]) fresh.ver[k] = model.ver[k] + 1;
  return fresh;
}

function bumpAll(model: RunModel): void {
  for (const k of Object.keys(model.ver) as (keyof RunModel['ver'])[]) model.ver[k]++;
}

/** Where a message's events go: the run shown, or run `i` of a comparison (null: no such run, dropped). */
function targetOf(model: RunModel, i: number | undefined): RunModel | null {
  if (i === undefined) return model.compare ? null : model;
  return model.compare?.runs[i]?.model ?? null;
}

export function reject(model: RunModel, reason: string): void {
  model.rejected.push({ at: Date.now(), reason });
  if (model.rejected.length > MAX_REJECTED) model.rejected.splice(0, model.rejected.length - MAX_REJECTED);
  model.ver.log++;
}

/** The CSS colour class of a variant: the reference is neutral, the others take turns on the palette. */
export function colourOf(model: RunModel, name: string): string {
  if (name === 'reference' || name === 'π_ref SFT' || name === 'value head fit') return 'cref';
  const i = model.names.filter((n) => n !== 'reference').indexOf(name);
  return `c${Math.max(0, i) % 6}`;
}

function nameIndex(model: RunModel, name: string): void {
  if (!model.names.includes(name)) model.names.push(name);
}

function emptySeries(name: string): VariantSeries {
  const m = Object.fromEntries(METRICS.map((k) => [k, []])) as unknown as VariantSeries['m'];
  return { name, totalSteps: 0, steps: [], m, tokensPerSec: null, elapsedMs: 0, version: 0 };
}

function seriesOf(model: RunModel, name: string): VariantSeries {
  let s = model.series.find((x) => x.name === name);
  if (!s) {
    nameIndex(model, name);
    s = emptySeries(name);
    model.series.push(s);
  }
  return s;
}

/** The variant training is under way for (a run without training messages: the configured one). */
function currentTrainingVariant(model: RunModel): string {
  return model.trainingVariant ?? model.start?.config.train.variant ?? 'run';
}

export function applyEvent(model: RunModel, te: TimedEvent): void {
  const { t, event: e } = te;
  model.lastT = Math.max(model.lastT ?? t, t);
  model.ver.header++;
  switch (e.type) {
    case 'ready':
      return;
    case 'run/didStart':
      model.start = withoutType(e);
      model.startT = t;
      return;
    case 'model/didLoad':
      model.architecture = withoutType(e);
      return;
    case 'phase/didChange': {
      if (e.status === 'started' || model.phase?.phase !== e.phase) {
        model.phase = { phase: e.phase, status: e.status, message: e.message, startT: t, done: 0, total: 0 };
      } else {
        model.phase = { ...model.phase, status: 'finished', message: e.message };
      }
      const variant = e.phase === 'training' ? variantOfPhase(e) : null;
      if (variant) model.training = model.training.filter((v) => v !== variant);
      if (e.status === 'started' && variant) {
        model.training.push(variant);
        model.trainingVariant = variant;
        seriesOf(model, variant);
        model.ver.curves++;
      }
      // variants trained at once: while one of them still trains, the phase shown is its training
      const still = model.training.at(-1);
      if (e.status === 'finished' && still !== undefined) {
        const s = seriesOf(model, still);
        model.trainingVariant = still;
        model.phase = { phase: 'training', status: 'started', message: `training ${still}`, startT: t, done: s.steps.at(-1) ?? 0,
          total: s.totalSteps };
      }
      if (e.phase === 'evaluation') model.evalLabel = e.status === 'started' ? variantOfPhase(e) : null;
      if (!model.log.some((l) => l.t === t && l.text === e.message)) {
        model.log.push({ t, phase: e.phase, text: e.message });
        if (model.log.length > MAX_LOG) model.log.splice(0, model.log.length - MAX_LOG);
        model.ver.log++;
      }
      return;
    }
    case 'phase/didProgress':
      if (model.phase?.phase === e.phase) model.phase = { ...model.phase, done: e.done, total: e.total };
      else model.phase = { phase: e.phase, status: 'started', message: '', startT: t, done: e.done, total: e.total };
      return;
    case 'advantages/didCompute':
      model.advantages = withoutType(e);
      model.ver.advantages++;
      return;
    case 'step/didComplete':
      applyStep(model, e);
      // the phase's progress is the shown variant's (not that of another variant trained at once)
      if (model.phase?.phase === (e.phase ?? 'training') && (e.phase !== undefined && e.phase !== 'training' || ownStep(model, e))) {
        model.phase = { ...model.phase, done: e.step, total: e.totalSteps };
      }
      return;
    case 'eval/didComplete': {
      const variant = e.variant ?? model.evalLabel ?? currentTrainingVariant(model);
      nameIndex(model, variant);
      const { step, split, sampled } = e;
      const rec: EvalRecord = { variant, step, split, sampled, rewards: e.rewards, distinct: e.distinct, lengthTokens: e.lengthTokens };
      const same = (r: { variant: string; step: number; split: Split; sampled: boolean }) =>
        r.variant === variant && r.step === step && r.split === split && r.sampled === sampled;
      model.evals = model.evals.filter((r) => !same(r));
      model.evals.push(rec);
      model.ver.curves++;
      if (e.samples.length > 0) {
        model.sampleGroups = model.sampleGroups.filter((g) => !same(g));
        model.sampleGroups.push({ variant, step: e.step, split: e.split, sampled: e.sampled, samples: e.samples });
        model.ver.samples++;
      }
      return;
    }
    case 'checkpoint/didSave':
      if (!model.checkpoints.some((c) => c.dir === e.dir && c.step === e.step)) model.checkpoints.push({ step: e.step, dir: e.dir });
      return;
    case 'run/didFail':
      model.failure = { code: e.code, message: e.message, hint: e.hint };
      return;
    case 'run/didFinish':
      model.finished = { elapsedMs: e.elapsedMs, stopped: e.stopped ?? false };
      if (model.phase) model.phase = { ...model.phase, status: 'finished' };
      return;
  }
}

function withoutType<T extends { type: string }>(e: T): Omit<T, 'type'> {
  const copy: Partial<T> = { ...e };
  delete copy.type;
  return copy as Omit<T, 'type'>;
}

/** The series of a phase before training (steps with a phase other than 'training'). */
function fitOf(model: RunModel, phase: Phase): VariantSeries {
  const name = phase === 'reference' ? 'π_ref SFT' : phase === 'value' ? 'value head fit' : `${phase} fit`;
  let s = model.fits.find((x) => x.name === name);
  if (!s) {
    s = emptySeries(name);
    model.fits.push(s);
  }
  return s;
}

function applyStep(model: RunModel, e: Ev<'step/didComplete'>): void {
  const s = e.phase && e.phase !== 'training' ? fitOf(model, e.phase) : seriesOf(model, e.variant ?? currentTrainingVariant(model));
  // A resumed (or re-sent) variant rewinds: drop the points at or after this step.
  let n = s.steps.length;
  while (n > 0 && s.steps[n - 1] >= e.step) n--;
  if (n < s.steps.length) {
    s.steps.length = n;
    for (const k of METRICS) s.m[k].length = n;
  }
  s.steps.push(e.step);
  s.m.loss.push(e.loss);
  s.m.lr.push(e.lr);
  s.m.gradNorm.push(e.gradNorm);
  s.m.meanImportanceWeight.push(e.meanImportanceWeight ?? null);
  s.m.clipFraction.push(e.clipFraction ?? null);
  s.m.heldoutLoss.push(e.heldoutLoss ?? null);
  s.totalSteps = e.totalSteps;
  s.elapsedMs = e.elapsedMs;
  s.tokensPerSec = s.tokensPerSec === null || n === 0 ? e.tokensPerSec : 0.8 * s.tokensPerSec + 0.2 * e.tokensPerSec;
  if (s.steps.length > MAX_POINTS) thin(s);
  s.version++;
  model.ver.curves++;
}

/** Whether a training step is of the variant the phase shows. */
function ownStep(model: RunModel, e: Ev<'step/didComplete'>): boolean {
  return e.variant === undefined || model.trainingVariant === null || e.variant === model.trainingVariant;
}

/** Halves a long series' resolution (every other point, the last kept): the digest stays small. */
function thin(s: VariantSeries): void {
  const keep = (_: unknown, i: number, a: readonly unknown[]) => i % 2 === 0 || i === a.length - 1;
  s.steps = s.steps.filter(keep);
  for (const k of METRICS) s.m[k] = s.m[k].filter(keep);
}

/** Elapsed run time: the finished run's own figure, else wall time since start (live) or to the last event. */
export function elapsedMs(model: RunModel, now: number): number | null {
  if (model.finished) return model.finished.elapsedMs;
  if (model.startT === null) return null;
  const end = model.run?.live && model.trainer?.state === 'running' ? Math.max(now, model.lastT ?? now) : (model.lastT ?? model.startT);
  return end - model.startT;
}

/** Time left in the current phase, from its rate so far (training: the variant's time per step). */
export function etaMs(model: RunModel): number | null {
  const p = model.phase;
  if (!p || p.status !== 'started' || p.done <= 0 || p.total <= p.done) return null;
  if (p.phase === 'training') {
    // variants trained at once: the phase lasts until the last of them is done
    const names = model.training.length > 0 ? model.training : [model.trainingVariant];
    const left = names.map((n) => {
      const s = model.series.find((x) => x.name === n) ?? model.series.at(-1);
      const step = s?.steps.at(-1);
      return s && step ? ((s.totalSteps - step) * s.elapsedMs) / step : null;
    });
    if (left.every((x) => x !== null)) return Math.max(...left);
  }
  if (model.lastT === null) return null;
  return ((model.lastT - p.startT) / p.done) * (p.total - p.done);
}
