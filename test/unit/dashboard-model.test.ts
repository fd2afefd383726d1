// Which variant each event belongs to, in the dashboard's run model (webview/src/model.ts, no DOM):
// the recorded version-1 demo run (test/fixtures/demo-quick-run: the variant only in phase messages)
// opens with the variants it always had; the same run as a version-2 stream (variant and phase fields)
// builds the same model when its messages name no variant at all, and when they name a wrong one.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { type TimedEvent, type TrainerEvent } from '../../src/protocol/trainer.js';
import { readRun } from '../../src/extension/runs.js';
import { applyEvent, emptyModel, etaMs, type RunModel } from '../../webview/src/model.js';

const FIXTURE = path.resolve(__dirname, '../../../test/fixtures/demo-quick-run');
const DEMO_VARIANTS = ['nll', 'wnll', 'a_lol', 'a_lol_seq', 'a_lol_ref_free'];

function modelOf(events: readonly TimedEvent[]): RunModel {
  const m = emptyModel();
  for (const e of events) applyEvent(m, e);
  return m;
}

/** What the dashboard shows per variant: curve points, evaluations and sample groups. */
function digest(m: RunModel) {
  return {
    names: m.names,
    series: m.series.map((s) => ({
      name: s.name,
      totalSteps: s.totalSteps,
      steps: s.steps.length,
      last: s.steps.at(-1),
      loss: s.m.loss.at(-1),
    })),
    evals: m.evals.map((e) => `${e.variant}@${e.step} ${e.split} ${e.sampled ? 'sampled' : 'greedy'} ${e.rewards.total}`),
    samples: m.sampleGroups.map((g) => `${g.variant}@${g.step} ${g.samples.length}`),
  };
}

/**
 * The fixture as a version-2 trainer writes it: the variant (tracked here independently of the reader
 * under test) and phase on every per-variant event, and each phase message replaced by `message(e)`.
 */
type PhaseChange = Extract<TrainerEvent, { type: 'phase/didChange' }>;

function asVersion2(events: readonly TimedEvent[], message: (e: PhaseChange, v: string | null) => string): TimedEvent[] {
  let training: string | null = null;
  let evaluating: string | null = null;
  return events.map(({ t, event: e }) => {
    if (e.type === 'phase/didChange') {
      const named = /^(?:training|evaluating) ([a-z_]+)/.exec(e.message)?.[1] ?? null;
      if (e.phase === 'training' && e.status === 'started') training = named;
      if (e.phase === 'evaluation') evaluating = e.status === 'started' ? named : evaluating;
      const v = e.phase === 'training' ? training : e.phase === 'evaluation' ? evaluating : null;
      const out = { ...e, message: message(e, v), ...(v ? { variant: v } : {}) };
      if (e.phase === 'evaluation' && e.status === 'finished') evaluating = null;
      return { t, event: out };
    }
    if (e.type === 'step/didComplete' || e.type === 'checkpoint/didSave') {
      return { t, event: { ...e, variant: training ?? '?', phase: 'training' as const } };
    }
    if (e.type === 'eval/didComplete') {
      const phase = evaluating ? ('evaluation' as const) : ('training' as const);
      return { t, event: { ...e, variant: evaluating ?? training ?? '?', phase } };
    }
    return { t, event: e };
  });
}

describe('dashboard model: variants by protocol version', () => {
  const run = readRun(FIXTURE);
  const v1 = modelOf(run.events);

  it('the version-1 demo run opens with its variants, each with its curve, evaluations and samples', () => {
    assert.deepEqual(run.rejected, []);
    assert.deepEqual(v1.names, ['reference', ...DEMO_VARIANTS]);
    assert.deepEqual(v1.series.map((s) => s.name), DEMO_VARIANTS);
    for (const s of v1.series) assert.equal(s.steps.at(-1), s.totalSteps, s.name);
    assert.deepEqual([...new Set(v1.evals.map((e) => e.variant))], ['reference', ...DEMO_VARIANTS]);
    assert.equal(v1.evals.length, 2 * (1 + DEMO_VARIANTS.length)); // greedy and sampled per variant
  });

  it('a version-2 stream whose messages say nothing of the variant builds the same model', () => {
    const v2 = modelOf(asVersion2(run.events, (e) => `${e.phase} ${e.status}`));
    assert.deepEqual(digest(v2), digest(v1));
    assert.deepEqual(v2.names, ['reference', ...DEMO_VARIANTS]);
  });

  it('a version-2 stream: the fields win over messages that name another variant', () => {
    const decoy = (e: PhaseChange) =>
      e.phase === 'training' ? 'training decoy from the reference' : 'evaluating decoy on the test prompts';
    const v2 = modelOf(asVersion2(run.events, decoy));
    assert.deepEqual(digest(v2), digest(v1));
    assert.ok(!v2.names.includes('decoy'));
  });

  it('the baselines of issue 25 show under their own names: curves, evaluations and samples', () => {
    const rename: Record<string, string> = { nll: 'filtered_bc', wnll: 'rwr', a_lol: 'kto', a_lol_seq: 'qrpo', a_lol_ref_free: 'pro' };
    const renamed = asVersion2(run.events, (e) => `${e.phase} ${e.status}`).map(({ t, event }) => {
      const to = 'variant' in event && event.variant ? rename[event.variant] : undefined;
      return to ? { t, event: { ...event, variant: to } } : { t, event };
    });
    const m = modelOf(renamed as TimedEvent[]);
    const baselines = DEMO_VARIANTS.map((v) => rename[v]);
    assert.deepEqual(m.names, ['reference', ...baselines]);
    assert.deepEqual(m.series.map((x) => x.name), baselines);
    assert.deepEqual(digest(m).series.map((x) => x.steps), digest(v1).series.map((x) => x.steps));
    assert.deepEqual([...new Set(m.evals.map((e) => e.variant))], ['reference', ...baselines]);
  });

  it('a version-2 step names its variant even with no phase event before it', () => {
    const steps = run.events.filter((e) => e.event.type === 'step/didComplete').slice(0, 5);
    const m = modelOf(steps.map(({ t, event }) => ({ t, event: { ...event, variant: 'a_lol_kl' } as TrainerEvent })));
    assert.deepEqual(m.series.map((s) => [s.name, s.steps.length]), [['a_lol_kl', 5]]);
  });
});

describe('dashboard model: the architecture', () => {
  it('model/didLoad sets the architecture the header shows; a run without it has none', () => {
    const run = readRun(FIXTURE);
    assert.equal(modelOf(run.events).architecture, null);
    const loaded: TrainerEvent = {
      type: 'model/didLoad', role: 'reference', modelType: 'qwen2', summary: 'qwen2, 2 layers, hidden 64, 4 heads / 2 kv heads (GQA)',
      parameters: 123456, layers: 2, hidden: 64, heads: 4, kvHeads: 2,
    };
    const m = modelOf([...run.events.slice(0, 2), { t: 1, event: loaded }]);
    assert.deepEqual(m.architecture, {
      role: 'reference', modelType: 'qwen2', summary: loaded.summary, parameters: 123456, layers: 2, hidden: 64, heads: 4, kvHeads: 2,
    });
  });
});

describe('dashboard model: variants trained at once', () => {
  const phase = (t: number, ph: 'training' | 'evaluation', status: 'started' | 'finished', variant: string): TimedEvent => ({
    t, event: { type: 'phase/didChange', phase: ph, status, variant, message: `${ph} ${variant}` },
  });
  const step = (t: number, variant: string, s: number, total = 10): TimedEvent => ({
    t,
    event: {
      type: 'step/didComplete', variant, phase: 'training', step: s, totalSteps: total, loss: 1 / s, lr: 1e-3, gradNorm: 1,
      tokensPerSec: 100, elapsedMs: 1000 * s * (variant === 'nll' ? 1 : 2),
    },
  });

  it('both series grow; the phase shows one variant until it is done, then the other; the ETA waits for the slower', () => {
    const m = emptyModel();
    const feed = (...es: TimedEvent[]) => es.forEach((e) => applyEvent(m, e));
    feed(phase(1, 'training', 'started', 'nll'), phase(2, 'training', 'started', 'wnll'));
    assert.deepEqual(m.training, ['nll', 'wnll']);
    feed(step(3, 'nll', 1), step(4, 'wnll', 1), step(5, 'nll', 2), step(6, 'nll', 3), step(7, 'wnll', 2));
    assert.deepEqual(m.series.map((s) => [s.name, s.steps]), [['nll', [1, 2, 3]], ['wnll', [1, 2]]]);
    // the phase's progress is the shown variant's (the last started), not a mix of both
    assert.equal(m.trainingVariant, 'wnll');
    assert.deepEqual([m.phase?.phase, m.phase?.status, m.phase?.done, m.phase?.total], ['training', 'started', 2, 10]);
    feed(step(8, 'nll', 4));
    assert.equal(m.phase?.done, 2, 'a step of the other variant does not move the shown progress');
    // nll: 6 steps left at 1 s each; wnll: 8 left at 2 s each: the phase lasts 16 s more
    assert.equal(etaMs(m), 16_000);
    // wnll finishes first: the phase is nll's training again, at its last step
    feed(step(9, 'wnll', 10), phase(10, 'training', 'finished', 'wnll'));
    assert.deepEqual(m.training, ['nll']);
    assert.deepEqual([m.trainingVariant, m.phase?.phase, m.phase?.status, m.phase?.done], ['nll', 'training', 'started', 4]);
    // wnll's evaluation, while nll trains: shown, then nll's training again
    feed(phase(11, 'evaluation', 'started', 'wnll'));
    assert.deepEqual([m.phase?.phase, m.phase?.status], ['evaluation', 'started']);
    feed(step(12, 'nll', 5), phase(13, 'evaluation', 'finished', 'wnll'));
    assert.deepEqual([m.phase?.phase, m.phase?.status, m.phase?.done, m.phase?.total], ['training', 'started', 5, 10]);
    feed(step(14, 'nll', 6));
    assert.equal(m.phase?.done, 6);
    feed(step(15, 'nll', 10), phase(16, 'training', 'finished', 'nll'));
    assert.deepEqual(m.training, []);
    assert.deepEqual([m.phase?.phase, m.phase?.status], ['training', 'finished']);
  });

  it('one variant at a time behaves as before: the phase ends with its variant', () => {
    const m = emptyModel();
    const es = [phase(1, 'training', 'started', 'nll'), step(2, 'nll', 1, 2), step(3, 'nll', 2, 2)];
    es.push(phase(4, 'training', 'finished', 'nll'));
    for (const e of es) applyEvent(m, e);
    assert.deepEqual([m.phase?.phase, m.phase?.status, m.trainingVariant, m.training], ['training', 'finished', 'nll', []]);
  });
});
