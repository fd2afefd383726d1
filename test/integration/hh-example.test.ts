// The documented HH example config (examples/hh-harmless.json) audits a few hundred real HH rows:
// chosen/rejected label + sentiment, value fitted out-of-fold, filtered fractions per kind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { sharedPath } from '../helpers/shared.js';

const root = path.resolve(__dirname, '../../..');
let dir = '';
after(() => rm(dir, { recursive: true, force: true }));

describe('examples/hh-harmless.json', () => {
  it('audits a few hundred HH rows and reports filtered fractions for chosen and rejected', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'alol-hh-example-'));
    const records = gunzipSync(readFileSync(sharedPath('data', 'hh-harmless-base-test.jsonl.gz'))).toString('utf8').split('\n').slice(0, 200);
    await writeFile(path.join(dir, 'hh.jsonl'), `${records.join('\n')}\n`);
    const r = spawnSync(
      process.execPath,
      [path.join(root, 'bin/alol.js'), 'audit', '--config', path.join(root, 'examples/hh-harmless.json'), '--set', `data.path=${path.join(dir, 'hh.jsonl')}`,
        // a smaller budget than the example's for CI; the example's own settings are the documented run
        '--set', 'reference.sft.steps=40', '--set', 'model.init.embd=64', '--set', 'value.epochs=3', '--out', path.join(dir, 'run'), '--no-cache'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /200 records \(hh\) -> 400 rows/);
    assert.match(r.stdout, /chosen: \d+ of \d+ filtered/);
    assert.match(r.stdout, /rejected: \d+ of \d+ filtered/);
    assert.match(r.stdout, /value head \(train\): held-out MSE/);
  });
});
