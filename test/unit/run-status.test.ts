// What the Runs view says about a run folder (src/extension/runStatus.ts): status from the events
// (finished, stopped, failed, interrupted, running only when live, a resume starting over), the key
// metric (best non-reference held-out sampled reward, computed here from summary.json independently;
// preference accuracy where rewards are n/a; an audit's kept/filtered counts), the failed run's error,
// and corrupt folders described, never thrown.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { describeRun, formatMetric, relativeTime } from '../../src/extension/runStatus.js';

const RUNS = path.resolve(__dirname, '../../../test/fixtures/runs');
const START = readFileSync(path.join(RUNS, 'demo-finished', 'events.jsonl'), 'utf8').split('\n')[0];
const tmp = mkdtempSync(path.join(tmpdir(), 'alol-run-status-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A run folder with run/didStart (verb `verb`, the demo's config) followed by `events` (one per line, t added). */
function runFolder(verb: string, events: object[], files: Record<string, string> = {}): string {
  const dir = path.join(tmp, `run-${++n}`);
  mkdirSync(dir);
  const start = { ...JSON.parse(START), verb, t: 1_000 };
  const lines = [start, ...events.map((e, i) => ({ ...e, t: 2_000 + i }))].map((e) => JSON.stringify(e));
  writeFileSync(path.join(dir, 'events.jsonl'), `${lines.join('\n')}\n`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}
const finish = (stopped?: boolean) => ({ type: 'run/didFinish', runDir: 'x', elapsedMs: 5, ...(stopped ? { stopped } : {}) });
const fail = { type: 'run/didFail', code: 'data', message: 'data/x.jsonl:3: field "prompt" is missing', hint: 'add it' };

describe('runStatus: recorded runs', () => {
  it('the finished demo: status, variants of summary.json, the best non-reference reward and which variant', () => {
    const dir = path.join(RUNS, 'demo-finished');
    const r = describeRun(dir);
    const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')) as {
      variants: Record<string, { heldoutSampled: { reward: { total: number } } }>;
    };
    const trained = Object.entries(summary.variants).filter(([k]) => k !== 'reference');
    const [bestName, best] = trained.reduce((a, b) => (b[1].heldoutSampled.reward.total > a[1].heldoutSampled.reward.total ? b : a));
    assert.equal(r.status, 'finished');
    assert.equal(r.verb, 'demo');
    assert.deepEqual(r.variants.map((v) => v.name), Object.keys(summary.variants));
    assert.deepEqual(r.metric, { kind: 'reward', value: best.heldoutSampled.reward.total, variant: bestName });
    assert.equal(r.variants.find((v) => v.name === 'nll')?.metric?.value, summary.variants.nll.heldoutSampled.reward.total);
    assert.equal(r.error, null);
    assert.equal(r.problem, null);
    assert.equal(r.startedAt, JSON.parse(START).t);
    assert.equal(formatMetric(r.metric!), `reward ${best.heldoutSampled.reward.total.toFixed(3)} (${bestName})`);
  });

  it('the failed run: its run/didFail code and message, no metric, not resumable without a checkpoint', () => {
    const dir = path.join(RUNS, 'train-failed');
    const text = readFileSync(path.join(dir, 'events.jsonl'), 'utf8');
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    const failed = lines.find((e) => e.type === 'run/didFail')!;
    const r = describeRun(dir);
    assert.equal(r.status, 'failed');
    assert.deepEqual(r.error, { code: failed.code, message: failed.message, hint: failed.hint });
    assert.equal(r.metric, null);
    assert.equal(r.resumable, false);
  });
});

describe('runStatus: status from the events', () => {
  it('stopped (resumable with a checkpoint, not without), interrupted, running only when live', () => {
    const stopped = runFolder('train', [finish(true)], { 'a_lol/checkpoints/step-000010/state.json': '{}' });
    assert.deepEqual([describeRun(stopped).status, describeRun(stopped).resumable], ['stopped', true]);
    const bare = runFolder('train', [finish(true)]);
    assert.deepEqual([describeRun(bare).status, describeRun(bare).resumable], ['stopped', false]);
    const cut = runFolder('train', [{ type: 'phase/didChange', phase: 'reference', status: 'started', message: 'm' }]);
    assert.equal(describeRun(cut).status, 'interrupted');
    assert.equal(describeRun(cut, true).status, 'running');
    assert.equal(describeRun(runFolder('train', [finish()])).status, 'finished');
  });

  it('a resumed run counts from its last run/didStart: failed, then resumed and finished, is finished', () => {
    const dir = runFolder('train', [fail, { ...JSON.parse(START), verb: 'train' }, finish()]);
    assert.deepEqual([describeRun(dir).status, describeRun(dir).error], ['finished', null]);
    const again = runFolder('train', [finish(true), { ...JSON.parse(START), verb: 'train' }, fail]);
    assert.equal(describeRun(again).status, 'failed');
    assert.equal(describeRun(again).error?.code, 'data');
  });

  it('variants from the training phases while there is no summary.json', () => {
    const phase = (variant: string) => ({
      type: 'phase/didChange', phase: 'training', variant, status: 'started', message: `training ${variant}`,
    });
    const dir = runFolder('train', [phase('a_lol'), phase('nll'), phase('a_lol')]);
    assert.deepEqual(describeRun(dir).variants, [{ name: 'a_lol', metric: null }, { name: 'nll', metric: null }]);
    assert.equal(describeRun(dir).metric, null);
  });
});

describe('runStatus: key metric', () => {
  const metrics = (total: number | null, acc?: number) => ({
    reward: { total }, distinct1: 0, distinct2: 0, distinct3: 0, length: 1, ...(acc !== undefined ? { preferenceAccuracy: acc } : {}),
  });
  const variant = (total: number | null, acc?: number) => ({
    heldout: metrics(total, acc), heldoutSampled: metrics(total, acc), filteredFraction: 0, trainSeconds: 1, steps: 1,
  });

  it('preference accuracy where rewards cannot score text (total null): the best trained variant', () => {
    const summary = { variants: { reference: variant(null, 0.9), a_lol: variant(null, 0.6), dpo: variant(null, 0.7) } };
    const r = describeRun(runFolder('train', [finish()], { 'summary.json': JSON.stringify(summary) }));
    assert.deepEqual(r.metric, { kind: 'preferenceAccuracy', value: 0.7, variant: 'dpo' });
    assert.equal(formatMetric(r.metric!), 'pref. acc. 0.700 (dpo)');
  });

  it('the reference only when it is the only variant', () => {
    const r = describeRun(runFolder('eval', [finish()], { 'summary.json': JSON.stringify({ variants: { reference: variant(0.4) } }) }));
    assert.deepEqual(r.metric, { kind: 'reward', value: 0.4, variant: 'reference' });
  });

  it("an audit: kept and filtered counts of its advantages/didCompute", () => {
    const audit = {
      type: 'advantages/didCompute',
      histogram: { edges: [-1, 0, 1], kept: [0, 7], filtered: [5, 0] },
      counts: { rows: 12, kept: 7, filtered: 5 },
      positiveFraction: 7 / 12,
      byKind: {},
      value: { fitOn: 'train', headMse: 0.1, meanMse: 0.2, betterThanMean: true },
      reward: { mean: 0.5, min: 0, max: 1, range: [0, 1] },
      budget: { variant: 'a_lol', sampler: 'default', steps: 10, evalEvery: 0, scaled: false },
      file: 'advantages.jsonl',
    };
    const r = describeRun(runFolder('audit', [audit, finish()]));
    assert.deepEqual(r.metric, { kind: 'audit', kept: 7, filtered: 5 });
    assert.equal(formatMetric(r.metric!), 'audit: 7 kept, 5 filtered');
  });
});

describe('runStatus: corrupt folders are described, never thrown', () => {
  it('no events.jsonl, garbage lines, no run/didStart, a summary.json that is not JSON', () => {
    const empty = path.join(tmp, 'empty');
    mkdirSync(empty);
    const none = describeRun(empty);
    assert.equal(none.status, 'corrupt');
    assert.match(none.problem ?? '', /has no events\.jsonl/);

    const garbage = path.join(tmp, 'garbage');
    mkdirSync(garbage);
    writeFileSync(path.join(garbage, 'events.jsonl'), 'not json\n{"type":"nope"}\n');
    const g = describeRun(garbage);
    assert.equal(g.status, 'corrupt');
    assert.match(g.problem ?? '', /no valid event; 2 invalid line\(s\): line 1: not JSON/);

    const headless = path.join(tmp, 'headless');
    mkdirSync(headless);
    writeFileSync(path.join(headless, 'events.jsonl'), `${JSON.stringify({ ...finish(), t: 5 })}\n`);
    assert.deepEqual([describeRun(headless).status, describeRun(headless).problem], ['corrupt', 'events.jsonl has no run/didStart event']);

    const badSummary = describeRun(runFolder('train', [finish()], { 'summary.json': '{"variants": ' }));
    assert.equal(badSummary.status, 'finished');
    assert.match(badSummary.problem ?? '', /^1 invalid line\(s\): summary\.json: not JSON/);
  });
});

describe('runStatus: relative time', () => {
  it('minutes, hours, days; a clock skew says so', () => {
    const now = 10 * 86_400_000;
    assert.equal(relativeTime(now - 5_000, now), 'just now');
    assert.equal(relativeTime(now - 3 * 60_000, now), '3 min ago');
    assert.equal(relativeTime(now - 5 * 3_600_000, now), '5 h ago');
    assert.equal(relativeTime(now - 3 * 86_400_000, now), '3 d ago');
    assert.equal(relativeTime(now + 3_600_000, now), 'in the future');
  });
});
