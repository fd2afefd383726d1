// What the reward commands write and show, without VS Code: New Reward Function's edit of a run config is
// one insertion in the rewards array's own layout (every other byte kept, the result still valid JSONC
// with the new component last), and the Reward Report's Markdown lists the bad rows and escapes data.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'jsonc-parser';
import { rewardInsertion } from '../../src/extension/rewardFiles.js';
import { type ReportJson, reportMarkdown } from '../../src/extension/reportMarkdown.js';

const component = { name: 'mine', kind: 'module', path: 'rewards/mine.ts', range: [0, 1], weight: 1 };
const apply = (text: string) => {
  const e = rewardInsertion(text, component);
  assert.ok(e, 'no insertion');
  return { out: text.slice(0, e.offset) + e.text + text.slice(e.offset), e };
};
const lastReward = (text: string) => (parse(text) as { rewards: unknown[] }).rewards.at(-1);

describe('New Reward Function: the config edit', () => {
  it('a multi-line array: one new line after the last component, same indentation, comments and spacing kept', () => {
    const text = `{
  // keep me
  "data": { "path": "data.jsonl" },
  "rewards": [
    { "name": "label",  "kind": "field",   "field": "reward" },   // aligned by hand
    { "name": "sent",   "kind": "builtin", "scorer": "sentiment" }
  ]
}
`;
    const { out, e } = apply(text);
    assert.equal(e.text, ',\n    { "name": "mine", "kind": "module", "path": "rewards/mine.ts", "range": [0, 1], "weight": 1 }');
    // Only inserted: the old text is the new one minus the insertion.
    assert.equal(out.slice(0, e.offset) + out.slice(e.offset + e.text.length), text);
    assert.deepEqual(lastReward(out), component);
    assert.ok(out.includes('{ "name": "label",  "kind": "field",   "field": "reward" },   // aligned by hand'));
  });

  it('a one-line array stays on one line; an empty one gets the component inside; a trailing comma is kept', () => {
    const one = '{ "rewards": [{"name":"a","kind":"field","field":"r"}], "train": {} }';
    assert.equal(apply(one).out, '{ "rewards": [{"name":"a","kind":"field","field":"r"}, '
      + '{ "name": "mine", "kind": "module", "path": "rewards/mine.ts", "range": [0, 1], "weight": 1 }], "train": {} }');
    assert.deepEqual(lastReward(apply('{ "rewards": [] }').out), component);
    const trailing = '{\n  "rewards": [\n    { "name": "a", "kind": "field", "field": "r" },\n  ]\n}';
    const { out } = apply(trailing);
    assert.equal(out, '{\n  "rewards": [\n    { "name": "a", "kind": "field", "field": "r" },\n'
      + '    { "name": "mine", "kind": "module", "path": "rewards/mine.ts", "range": [0, 1], "weight": 1 }\n  ]\n}');
    assert.deepEqual(lastReward(out), component);
    const emptyMulti = '{\n  "rewards": [\n  ]\n}';
    assert.deepEqual(lastReward(apply(emptyMulti).out), component);
  });

  it('no rewards array: null (the caller adds the key)', () => {
    assert.equal(rewardInsertion('{ "data": {} }', component), null);
    assert.equal(rewardInsertion('[1]', component), null);
  });
});

describe('Reward Report: Markdown', () => {
  const report: ReportJson = {
    rows: 3,
    of: 4,
    file: '/ws/data.jsonl',
    dataPath: 'data.jsonl',
    skipped: [{
      line: 2, rowId: 'x<b>|y', kind: 'row',
      errors: [{ component: 'nan', message: 'reward nan (module): row data.jsonl:2: returned NaN' }],
    }],
    components: [{
      name: 'nan',
      weight: 1,
      range: [0, 1],
      summary: { count: 3, mean: 0.5, min: 0.25, max: 0.75, histogram: { edges: [0, 0.5, 1], counts: [1, 2] } },
      lengthCorrelation: null,
      correlations: {},
      shareOfTotal: 1,
      warnings: ['is constant on this data: it cannot tell rows apart'],
    }],
  };
  const md = reportMarkdown(report, 'run.alol.json', (n) => `file:///ws/data.jsonl#L${n}`);

  it('states how many rows it covers and lists each bad row with a link to its line, its reason escaped', () => {
    const head = 'reward report: 3 rows of data\\.jsonl (of 4; 1 could not be scored, [listed below](#rows-not-scored))';
    assert.ok(md.split('\n').includes(head), md);
    assert.match(md, /^## Rows not scored$/m);
    const row = '| [2](file:///ws/data.jsonl#L2) | x\\<b\\>\\|y | reward nan \\(module\\): row data\\.jsonl:2: returned NaN |';
    assert.ok(md.includes(row), md);
  });

  it('each component: its line of numbers, a warning, a histogram table (bins as code, so no bracket is a link)', () => {
    assert.ok(md.includes('nan (weight 1, range [0, 1]): mean 0.500, min 0.250, max 0.750; share of the total 100.0%'));
    assert.ok(md.includes('  correlation with length -'));
    assert.ok(md.includes('> **warning:** nan is constant on this data'));
    assert.ok(md.includes('| `[0, 0.50)` | 1 |'));
    assert.ok(md.includes('| `[0.50, 1]` | 2 |'));
  });
});
