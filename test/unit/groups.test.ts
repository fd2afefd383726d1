// Groups (issue 17): a row's group is its prompt (normalised) unless it names a `group`; pair and HH
// records keep both halves in one group. On a generated file with 3 responses per prompt and no split
// fields, no prompt lands in two splits, out-of-fold value fitting never splits a prompt's rows across
// folds, and epoch samplers keep a group's units together. {prompt, responses} records give one row per
// response; the report counts groups, groups with several responses, and groups that split fields spread.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { RowSampler, unitGroups } from '../../src/trainer/alol/sampler.js';
import { describeReport, readDataset } from '../../src/trainer/data/dataset.js';
import { normalizePrompt, promptGroup, type Row, rowId } from '../../src/trainer/data/rows.js';
import { fitOutOfFold } from '../../src/trainer/value/fit.js';
import { Rng } from '../../src/trainer/util/rng.js';
import { FakeCompute } from '../helpers/fake-compute.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'alol-groups-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function write(records: unknown[]): string {
  const p = path.join(dir, `${n++}.jsonl`);
  writeFileSync(p, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
  return p;
}

/** 400 prompts x 3 responses, rows in a shuffled order (siblings are not adjacent), no split fields. */
function generated(): string {
  const rng = new Rng(3);
  const rows = [];
  for (let p = 0; p < 400; p++) {
    for (let r = 0; r < 3; r++) rows.push({ prompt: `Q${p}: tell me about topic ${p}?`, response: ` answer ${r}`, reward: r / 2 });
  }
  return write(rng.shuffle(rows));
}

describe('groups', () => {
  it('3 responses per prompt, no split fields: no prompt appears in two splits, and every split has prompts', async () => {
    const { rows, report } = await readDataset(generated(), { split: { validation: 0.1, test: 0.1, seed: 0 } });
    assert.equal(rows.length, 1200);
    const splitsOf = new Map<string, Set<string>>();
    for (const r of rows) splitsOf.set(r.prompt, (splitsOf.get(r.prompt) ?? new Set()).add(r.split));
    const leaking = [...splitsOf].filter(([, s]) => s.size > 1).map(([p]) => p);
    assert.deepEqual(leaking, [], 'prompts in two splits');
    const promptsIn = (s: string) => [...splitsOf.values()].filter((x) => x.has(s)).length;
    const [test, validation] = [promptsIn('test'), promptsIn('validation')];
    assert.ok(test > 20 && validation > 20, `${test} test, ${validation} validation prompts`);
    assert.equal(report.groups, 400);
    assert.equal(report.multiResponseGroups, 400);
    assert.equal(report.mixedSplitGroups, 0);
    assert.equal(report.groupSplits.train + report.groupSplits.validation + report.groupSplits.test, 400);
    assert.match(describeReport(report), /400 groups \(prompts\), 400 with several response rows/);
  });

  it('out-of-fold fitting (on the rows\' groups, as the value phase passes them) never splits a prompt\'s rows across folds', async () => {
    const { rows } = await readDataset(generated());
    const train = rows.filter((r) => r.split === 'train');
    const c = 4;
    const examples = train.map((r) => ({
      hidden: Float32Array.from({ length: c }, (_, i) => (r.prompt.length + i) / 10),
      length: 1,
      target: r.reward ?? 0,
      group: r.group,
    }));
    const fit = await fitOutOfFold(examples, c, 5, {
      heads: 2, epochs: 1, lr: 1e-3, batchSize: 16, seed: 0, range: [0, 1], compute: new FakeCompute(),
    });
    const foldsOf = new Map<string, Set<number>>();
    train.forEach((r, i) => foldsOf.set(r.prompt, (foldsOf.get(r.prompt) ?? new Set()).add(fit.foldOf[i])));
    assert.deepEqual([...foldsOf.values()].filter((s) => s.size > 1), [], 'prompts whose rows sit in two folds');
    assert.equal(new Set(fit.foldOf).size, 5);
    // and no fold's head was fitted on a row of a prompt it predicts
    for (const f of fit.folds) {
      const fitted = new Set([...f.fittedOn].map((i) => train[i].prompt));
      assert.ok([...f.predicted].every((i) => !fitted.has(train[i].prompt)), `fold ${f.fold}`);
    }
  });

  it('a prompt\'s group ignores whitespace; a `group` field overrides it; pair and HH records keep their halves together', async () => {
    assert.equal(normalizePrompt('  Hello\n\n  world\t'), 'Hello world');
    assert.equal(promptGroup('Hello world'), promptGroup(' Hello \n world '));
    assert.notEqual(promptGroup('Hello world'), promptGroup('hello world'));
    const { rows } = await readDataset(write([
      { prompt: 'Say hi', response: ' hi' },
      { prompt: 'Say  hi ', response: ' hello' },
      { prompt: 'Say hi', response: ' yo', group: 'g1' },
      { prompt: 'Other', response: ' x', group: 'g1' },
    ]));
    assert.equal(rows[0].group, rows[1].group);
    assert.equal(rows[0].group, promptGroup('Say hi'));
    assert.deepEqual([rows[2].group, rows[3].group], ['g1', 'g1']);
    assert.equal(rows[2].split, rows[3].split);
    const hh = (p: string, r: string) => `\n\nHuman: ${p}\n\nAssistant: ${r}`;
    const pairs = await readDataset(write([
      { chosen: hh('a', 'yes'), rejected: hh('a', 'no') },
      { chosen: hh('b', 'yes'), rejected: `\n\nHuman: c\n\nAssistant: no` }, // prompts differ: unpaired, one group
    ]));
    const [c1, r1, c2, r2] = pairs.rows;
    assert.equal(c1.group, r1.group);
    assert.equal(c1.group, promptGroup(c1.prompt));
    assert.ok(c1.pairId && c1.pairId === r1.pairId);
    assert.equal(c2.group, r2.group);
    assert.equal(c2.group, promptGroup(c2.prompt));
    assert.equal(r2.pairId, undefined);
  });

  it('{prompt, responses} records: one row per response, ids, fields and rewards per response, one group and split', async () => {
    const { rows, report } = await readDataset(write([
      {
        prompt: 'P', responses: [{ response: ' a', reward: 0.9, note: 'x' }, { response: ' b', rewards: { rm: 0.1 }, id: 'own' }],
        src: 'hh', id: 'r1',
      },
      { prompt: 'Q', responses: [{ response: ' c', reward: 0.5 }], split: 'test' },
    ]));
    assert.equal(report.format, 'responses');
    assert.deepEqual(rows.map((r) => r.id), ['r1:0', 'own', rowId('Q', ' c')]);
    assert.deepEqual(rows.map((r) => r.kind), ['row', 'row', 'row']);
    assert.equal(rows[0].reward, 0.9);
    assert.deepEqual(rows[1].rewards, { rm: 0.1 });
    assert.deepEqual(rows[0].raw, { src: 'hh', note: 'x' });
    assert.deepEqual(rows[1].raw, { src: 'hh' });
    assert.equal(rows[0].group, rows[1].group);
    assert.equal(rows[0].split, rows[1].split);
    assert.deepEqual([rows[2].split, rows[2].fixedSplit], ['test', true]);
    assert.equal(rows[0].fixedSplit, undefined);
    assert.equal(report.multiResponseGroups, 1);
  });

  it('{prompt, response} rows and {prompt, responses} records may share a file; a bad response names its field', async () => {
    const { rows } = await readDataset(write([{ prompt: 'P', response: ' a' }, { prompt: 'P', responses: [{ response: ' b' }] }]));
    assert.equal(rows.length, 2);
    await assert.rejects(
      readDataset(write([{ prompt: 'P', responses: [{ response: ' a' }, { response: 3 }] }])),
      /:1: field responses\.1\.response: expected string, received number/,
    );
    await assert.rejects(readDataset(write([{ prompt: 'P', responses: [] }])), /:1: field responses/);
  });

  it('split fields that spread a group over two splits are counted and warned about', async () => {
    const { report } = await readDataset(write([
      { prompt: 'P', response: ' a', split: 'train' },
      { prompt: 'P', response: ' b', split: 'test' },
      { prompt: 'P', response: ' c', split: 'validation' },
      { prompt: 'Q', response: ' d', split: 'test' },
    ]));
    assert.equal(report.mixedSplitGroups, 1);
    assert.deepEqual(report.groupSplits, { train: 1, validation: 1, test: 2 });
    assert.match(describeReport(report), /WARNING: 1 groups have rows in several splits/);
  });
});

describe('epoch samplers and groups', () => {
  const groups = ['a', 'b', 'a', 'c', 'b', 'a', 'c', 'd'];
  it('all: every unit once per epoch, each group\'s units side by side, epochs differ; seeded', () => {
    const s = new RowSampler('all', new Float64Array(groups.length).fill(1), 5, groups);
    const epochs = [s.next(groups.length), s.next(groups.length), s.next(groups.length)];
    for (const e of epochs) {
      assert.deepEqual([...e].sort(), [...groups.keys()].sort());
      const seq = e.map((i) => groups[i]);
      const runs = seq.filter((g, i) => i === 0 || seq[i - 1] !== g);
      assert.equal(runs.length, new Set(groups).size, `groups contiguous: ${seq.join('')}`);
    }
    assert.ok(epochs.some((e) => e.join() !== epochs[0].join()), 'epochs are reshuffled');
    const again = new RowSampler('all', new Float64Array(groups.length).fill(1), 5, groups);
    assert.deepEqual(again.next(groups.length), epochs[0]);
  });

  it('unitGroups: a unit\'s group is its first row\'s; priority sampling ignores groups', () => {
    const rows = [{ group: 'x' }, { group: 'y' }, { group: 'x' }] as Pick<Row, 'group'>[];
    assert.deepEqual(unitGroups([[0, 1], [2, 0], [1]], rows), ['x', 'x', 'y']);
    const w = Float64Array.of(1, 0, 3);
    const a = new RowSampler('priority', w, 9, ['x', 'y', 'x']).next(50);
    const b = new RowSampler('priority', w, 9).next(50);
    assert.deepEqual(a, b);
  });
});
