// The main job: `alol demo --quick --seed 1` (seed fixed in advance). On this one run, a_lol's held-out
// sampled reward is above nll's and the reference's: a regression check on the demo, not evidence of a
// gap between the methods (one seed, no margin; `npm run bench:noise` measures the gap over seeds, about a
// minute of demo per seed, too slow for this suite). Every phase explains itself; stripping the generator's
// quality labels from the data changes no number.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

const bin = path.resolve(__dirname, '../../../bin/alol.js');
let dir = '';
let stdout = '';
type Summary = { variants: Record<string, { heldoutSampled: { reward: { total: number } }; trainSeconds?: number }> };
const summary = (run: string) => JSON.parse(readFileSync(path.join(dir, run, 'summary.json'), 'utf8')) as Summary;
const demo = (...args: string[]) => {
  const r = spawnSync(process.execPath, [bin, 'demo', '--quick', '--seed', '1', ...args], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  return r.stdout;
};

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-demo-'));
  stdout = demo('--out', 'labelled');
});
after(() => rm(dir, { recursive: true, force: true }));

describe('alol demo --quick --seed 1', () => {
  it("on seed 1, a_lol's held-out sampled total reward is above nll's and the reference's (one run: a regression check)", (t) => {
    const v = summary('labelled').variants;
    const r = (name: string) => v[name].heldoutSampled.reward.total;
    t.diagnostic(Object.keys(v).map((n) => `${n} ${r(n).toFixed(3)}`).join(', '));
    assert.ok(r('a_lol') > r('nll'), `a_lol ${r('a_lol')} vs nll ${r('nll')}`);
    assert.ok(r('a_lol') > r('reference'), `a_lol ${r('a_lol')} vs reference ${r('reference')}`);
    for (const name of ['reference', 'nll', 'wnll', 'a_lol', 'a_lol_seq', 'a_lol_ref_free']) assert.ok(v[name], name);
  });

  it('explains each phase in a line', () => {
    for (const phase of [
      /\[demo\] \d+ responses to \d+ assistant prompts/, /\[reference\] fine-tuning the starting model by NLL/,
      /\[value\] value head fitted/, /\[advantages\] \d+ of \d+ rows kept/, /\[training\] a_lol: \d+ steps/,
      /\[evaluation\] a_lol: sampled reward/, /held-out results/,
    ]) {
      assert.match(stdout, phase);
    }
  });

  it("stripping the generator's quality labels changes nothing in the results", () => {
    demo('--out', 'stripped', '--strip-labels');
    assert.doesNotMatch(readFileSync(path.join(dir, 'stripped', 'data', 'demo.jsonl'), 'utf8'), /"quality"/);
    assert.match(readFileSync(path.join(dir, 'labelled', 'data', 'demo.jsonl'), 'utf8'), /"quality":"rude"/);
    const timesOff = { trainSeconds: 0, validationSeconds: 0, evalSeconds: 0 }; // wall times differ run to run
    const without = (s: Summary) => Object.fromEntries(Object.entries(s.variants).map(([k, v]) => [k, { ...v, ...timesOff }]));
    assert.deepEqual(without(summary('stripped')), without(summary('labelled')));
    // Per-row rewards, values and advantages too (the data file's path differs between the two runs).
    const rows = (run: string) => readFileSync(path.join(dir, run, 'advantages.jsonl'), 'utf8').trim().split('\n')
      .map((l) => ({ ...(JSON.parse(l) as object), file: '' }));
    assert.deepEqual(rows('stripped'), rows('labelled'));
  });
});
