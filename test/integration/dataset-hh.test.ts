// The real HH-RLHF harmless-base test file in ../shared (2,312 {chosen, rejected} records, gzipped)
// read as a dataset: every record becomes two rows, pairs where both prompts agree, and the report
// says so. The split of each transcript is checked against a plain string search, independently.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { describeReport, readDataset } from '../../src/trainer/data/dataset.js';
import { sharedPath } from '../helpers/shared.js';

const FILE = sharedPath('data', 'hh-harmless-base-test.jsonl.gz');

describe('HH harmless-base test file', () => {
  it('parses 2,312 records into rows and pairs with a report', async (t) => {
    const { rows, pairs, report } = await readDataset(FILE);
    t.diagnostic(describeReport(report));
    assert.equal(report.format, 'hh');
    assert.equal(report.records, 2312);
    assert.equal(report.rows, 2 * 2312);
    assert.equal(rows.length, report.rows);
    assert.equal(report.pairs + report.unpaired, 2312);
    assert.equal(pairs.length, report.pairs);
    assert.ok(report.pairs > 2250, `${report.pairs} pairs`);
    assert.equal(report.skipped, 0);
    assert.equal(report.splits.train + report.splits.validation + report.splits.test, report.rows);
    assert.ok(report.splits.validation > 0 && report.splits.test > 0);

    // independent check: prompt + response is the transcript, cut right after its last Assistant turn
    const records = gunzipSync(readFileSync(FILE)).toString('utf8').split('\n').filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { chosen: string; rejected: string });
    for (const r of rows) {
      const text = records[r.line - 1][r.kind === 'rejected' ? 'rejected' : 'chosen'];
      assert.equal(r.prompt + r.response, text);
      assert.ok(r.prompt.endsWith('\n\nAssistant:') && !r.response.includes('\n\nAssistant:'), `line ${r.line}`);
    }
    for (const p of pairs) {
      assert.equal(p.chosen.prompt, p.rejected.prompt);
      assert.equal(p.chosen.split, p.rejected.split);
      assert.deepEqual([p.chosen.label, p.rejected.label], [1, 0]);
    }
    const unpairedLines = [...new Set(rows.filter((r) => r.pairId === undefined).map((r) => r.line))];
    t.diagnostic(`unpaired records (prompts differ) at lines ${unpairedLines.join(', ')}`);
    assert.equal(unpairedLines.length, report.unpaired);
  });
});
