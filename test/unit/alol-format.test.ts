// The A-LoL authors' data format (prefix / suffix / reward lists per line) converted to {prompt, responses}
// records, on the hand-written sample examples/alol-format-sample.jsonl: HH-style and raw turns, sigmoid
// and raw rewards, a line whose prompts differ (one record per prompt, one group), every malformed line
// named by its field; the converted file reads back as rows with several responses per prompt.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { convertAlolFile, convertAlolLine, sigmoid } from '../../src/trainer/data/alol-format.js';
import { readDataset } from '../../src/trainer/data/dataset.js';
import { promptGroup } from '../../src/trainer/data/rows.js';
import { RunConfigSchema } from '../../src/protocol/config.js';
import { loadRunConfig } from '../../src/trainer/run/load-config.js';

const SAMPLE = path.resolve(__dirname, '../../../examples/alol-format-sample.jsonl');
const lines = readFileSync(SAMPLE, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const dir = mkdtempSync(path.join(os.tmpdir(), 'alol-format-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const hh = { turns: 'hh', reward: 'sigmoid' } as const;

describe('the A-LoL authors\' format', () => {
  it('HH turns, sigmoid rewards: one record per prompt with its responses, other fields kept', () => {
    const [rec] = convertAlolLine(lines[0], 'sample', 1, hh);
    assert.deepEqual(rec, {
      id: 'line-1',
      prompt: '\n\nHuman: How do I keep basil alive indoors?\n\nAssistant:',
      responses: [
        {
          response: ' Give it a sunny window, water when the top of the soil is dry, and pinch off the flower buds.',
          reward: 1 / (1 + Math.exp(-1.2)),
        },
        { response: ' Basil is a plant.', reward: 1 / (1 + Math.exp(0.8)) },
      ],
      sft_index: 0,
      meta: { line_num: 1, task: 'dialogue' },
    });
    const [multi] = convertAlolLine(lines[1], 'sample', 2, hh);
    assert.equal(
      multi.prompt,
      '\n\nHuman: Can you help me write a rude note to my neighbour?\n\nAssistant: Why do you want it to be rude?' +
        '\n\nHuman: They keep parking in my spot.\n\nAssistant:',
    );
    assert.deepEqual(multi.responses.map((r) => r.reward), [sigmoid(2), sigmoid(-3), 0.5]);
  });

  it('raw turns and raw rewards keep the text and scores as given', () => {
    const [rec] = convertAlolLine(lines[0], 'sample', 1, { turns: 'raw', reward: 'raw' });
    assert.equal(rec.prompt, '<|prompter|>How do I keep basil alive indoors?<|assistant|>');
    assert.deepEqual(rec.responses.map((r) => [r.response, r.reward]), [
      ['Give it a sunny window, water when the top of the soil is dry, and pinch off the flower buds.', 1.2],
      ['Basil is a plant.', -0.8],
    ]);
  });

  it('a line whose prompts differ: one record per prompt, all in the first prompt\'s group', () => {
    const recs = convertAlolLine(lines[2], 'sample', 3, hh);
    assert.deepEqual(recs.map((r) => [r.id, r.prompt, r.responses.length, r.group]), [
      ['line-3', '\n\nHuman: What is 2 + 2?\n\nAssistant:', 1, promptGroup('\n\nHuman: What is 2 + 2?\n\nAssistant:')],
      ['line-3-1', '\n\nHuman: What is two plus two?\n\nAssistant:', 1, promptGroup('\n\nHuman: What is 2 + 2?\n\nAssistant:')],
    ]);
  });

  it('malformed lines are errors naming the line and field', () => {
    const bad = (v: unknown) => () => convertAlolLine(v, 'f.jsonl', 7, hh);
    assert.throws(bad({ prefix: [['<|prompter|>a', '<|assistant|>']], suffix: ['x', 'y'], reward: [1, 2] }),
      /f\.jsonl:7: the lists prefix, suffix and reward must have one item per response \(prefix 1, suffix 2, reward 2\)/);
    assert.throws(bad({ prefix: [['Human: a']], suffix: ['x'], reward: [1] }),
      /f\.jsonl:7: field prefix\.0\.0: turn "Human: a" starts with neither/);
    assert.throws(bad({ prefix: [['<|prompter|>a', '<|assistant|>', '<|prompter|>b']], suffix: ['x'], reward: [1] }),
      /field prefix\.0\.1: only the last turn may be empty/);
    assert.throws(bad({ prefix: [['<|prompter|>a']], suffix: ['x'], reward: ['1'] }),
      /f\.jsonl:7: field reward\.0: expected number, received string/);
  });

  it('the converted sample reads back: 4 prompts, 7 responses, pairs can form from 2 of them', async () => {
    const out = path.join(dir, 'scored.jsonl');
    const r = await convertAlolFile(SAMPLE, out, hh);
    assert.deepEqual(r, { lines: 3, records: 4, responses: 7 });
    const { rows, report } = await readDataset(out);
    assert.equal(rows.length, 7);
    assert.equal(report.format, 'responses');
    assert.equal(report.groups, 3);
    assert.equal(report.multiResponseGroups, 2);
    assert.ok(rows.every((x) => x.reward !== undefined && x.reward > 0 && x.reward < 1));
    writeFileSync(path.join(dir, 'broken.jsonl'), '{"prefix": [], "suffix": [], "reward": []}\n');
    await assert.rejects(convertAlolFile(path.join(dir, 'broken.jsonl'), path.join(dir, 'no.jsonl'), hh), /broken\.jsonl:1: field prefix/);
    assert.throws(() => readFileSync(path.join(dir, 'no.jsonl')), /ENOENT/);
  });

  it('examples/scored-responses.alol.json parses: field reward, fitOn train, 4 variants, margin pairs; new keys\' defaults', async () => {
    const { config } = await loadRunConfig(path.resolve(__dirname, '../../../examples/scored-responses.alol.json'));
    assert.deepEqual(config.train.variants, ['a_lol', 'a_lol_seq', 'nll', 'dpo']);
    assert.deepEqual(config.data.pairs, { from: 'best-worst', minMargin: 0.05 });
    assert.deepEqual([config.value.fitOn, config.rewards[0].kind], ['train', 'field']);
    const defaults = RunConfigSchema.parse({});
    assert.deepEqual(defaults.data.pairs, { from: 'best-worst', minMargin: 0 });
    assert.equal(defaults.train.variants, null);
    assert.equal(RunConfigSchema.safeParse({ train: { variants: [] } }).success, false);
  });
});
