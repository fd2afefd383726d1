// advantages.jsonl as the editor reads it: lines as the trainer's advantages phase writes them (see
// src/trainer's audit; test/integration/advantages-file.test.ts parses a real one) pass the protocol
// schema; a line that is not JSON, misses a field, has a null where JSON wrote a NaN, an unknown kind or
// an extra field is skipped and named by file, line and field, never trusted.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAdvantageLines } from '../../src/protocol/advantages.js';
import { readAdvantages } from '../../src/extension/runs.js';

/** One line in the writer's shape: every field, in its order. */
const line = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    rowId: 'e4607cb5da803b15',
    file: '/w/data.jsonl',
    line: 1,
    kind: 'chosen',
    reward: { total: 0.75, label: 1, brevity: 0.5 },
    value: 0.5,
    advantage: 0.25,
    kept: true,
    refLogprob: -93.9,
    refTokens: 17,
    timesSampled: 0,
    ...over,
  });

describe('advantages.jsonl rows', () => {
  it('accepts what the trainer writes, for each row kind', () => {
    const text = `${[line(), line({ kind: 'rejected', kept: false, advantage: -0.5 }), line({ kind: 'row', rowId: 'r7' })].join('\n')}\n`;
    const r = parseAdvantageLines(text);
    assert.deepEqual(r.rejected, []);
    assert.deepEqual(
      r.rows.map((x) => [x.rowId, x.kind, x.kept]),
      [
        ['e4607cb5da803b15', 'chosen', true],
        ['e4607cb5da803b15', 'rejected', false],
        ['r7', 'row', true],
      ],
    );
    assert.deepEqual(r.rows[0].reward, { total: 0.75, label: 1, brevity: 0.5 });
  });

  it('skips and names every bad line; the good ones still count', () => {
    const lines = [
      line(),
      '{"rowId": "x", ',
      '',
      line({ advantage: null }), // JSON.stringify(NaN)
      line({ reward: { total: 1, label: null } }),
      line({ reward: { label: 1 } }),
      line({ kind: 'prompt' }),
      line({ extra: 1 }),
      line({ line: 0 }),
      JSON.stringify({ rowId: 'only' }),
      line({ rowId: 'last' }),
    ];
    const r = parseAdvantageLines(lines.join('\n'));
    assert.deepEqual(r.rows.map((x) => x.rowId), ['e4607cb5da803b15', 'last']);
    assert.deepEqual(
      r.rejected.map((x) => `${x.line}: ${x.reason.replace(/ \(.*\)$/, '')}`),
      [
        '2: not valid JSON',
        '4: field advantage: expected number, received null',
        '5: field reward.label: expected number, received null',
        '6: field reward.total: missing',
        '7: field kind: expected one of "row", "chosen", "rejected"; received "prompt"',
        '8: Unrecognized key: "extra"',
        '9: field line: Too small: expected number to be >=1',
        '10: field file: missing',
      ],
    );
  });

  it('readAdvantages names the file and line of each bad line', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'alol-adv-'));
    try {
      const file = path.join(dir, 'advantages.jsonl');
      writeFileSync(file, `${line()}\n${line({ value: 'high' })}\n`);
      const r = readAdvantages(file);
      assert.equal(r.rows.length, 1);
      assert.deepEqual(r.rejected, [`${file}:2: field value: expected number, received string`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
