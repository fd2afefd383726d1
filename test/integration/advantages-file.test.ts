// The protocol's advantages.jsonl schema against the real writer: `alol audit` on HH pairs (40 records
// of ../shared's HH file) and on {prompt, response} rows writes a file whose every line passes
// AdvantageRowSchema, and whose row ids are the ids src/protocol/rows.ts computes for the same records
// with its plain-JS sha256 (the editor's CodeLens finds its rows by them).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { parseAdvantageLines } from '../../src/protocol/advantages.js';
import { classifyRecord, parseRecord, type Row } from '../../src/protocol/rows.js';
import { sharedPath } from '../helpers/shared.js';

const bin = path.resolve(__dirname, '../../../bin/alol.js');
let dir = '';
const SPLIT = { validation: 0.1, test: 0.1, seed: 0 };

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'alol-advfile-'));
  const hh = gunzipSync(readFileSync(sharedPath('data', 'hh-harmless-base-test.jsonl.gz'))).toString('utf8').split('\n').slice(0, 40);
  writeFileSync(path.join(dir, 'hh.jsonl'), `${hh.join('\n')}\n`);
  const rows = Array.from({ length: 30 }, (_, i) =>
    JSON.stringify({ prompt: `Human: q ${i} é\n\nAssistant:`, response: ` a ${i % 7} ☕`, reward: (i % 5) / 4 }),
  );
  writeFileSync(path.join(dir, 'rows.jsonl'), `${rows.join('\n')}\n`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function audit(data: string, rewards: unknown[]): string {
  const config = {
    data: { path: data, maxPromptTokens: 32, maxResponseTokens: 16, split: SPLIT },
    model: { init: { layers: 1, embd: 16, heads: 2, positions: 64 } },
    reference: { sft: null },
    rewards,
    value: { fitOn: 'train', folds: 2, epochs: 1 },
  };
  const name = path.basename(data, '.jsonl');
  writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(config));
  const r = spawnSync(process.execPath, [bin, 'audit', '--config', `${name}.json`, '--out', `run-${name}`], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  return path.join(dir, `run-${name}`, 'advantages.jsonl');
}

/** The training rows of a dataset file, by the protocol's parsing. */
function trainRows(file: string): Row[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).flatMap((l, i) => {
    const json: unknown = JSON.parse(l);
    const kind = classifyRecord(json);
    assert.ok(kind);
    const r = parseRecord(kind, json, file, i + 1, SPLIT);
    assert.ok(r.ok, JSON.stringify(r));
    return r.record.rows;
  }).filter((r) => r.split === 'train');
}

describe('advantages.jsonl: the protocol schema reads what the trainer writes', () => {
  for (const [data, rewards, kinds] of [
    [
      'hh.jsonl',
      [
        { name: 'label', kind: 'field', field: 'label' },
        { name: 'brevity', kind: 'builtin', scorer: 'length' },
      ],
      ['chosen', 'rejected'],
    ],
    ['rows.jsonl', [{ name: 'label', kind: 'field', field: 'reward' }], ['row']],
  ] as const) {
    it(`${data}: every line valid, ids as the protocol computes them`, () => {
      const file = audit(data, [...rewards]);
      const { rows, rejected } = parseAdvantageLines(readFileSync(file, 'utf8'));
      assert.deepEqual(rejected, []);
      assert.ok(rows.length > 10, `${rows.length} rows`);
      assert.deepEqual([...new Set(rows.map((r) => r.kind))].sort(), [...kinds].sort());
      assert.deepEqual(Object.keys(rows[0].reward), ['total', ...rewards.map((c) => c.name)]);
      const ours = trainRows(path.join(dir, data));
      assert.deepEqual(rows.map((r) => [r.rowId, r.line, r.kind]), ours.map((r) => [r.id, r.line, r.kind]));
    });
  }
});
