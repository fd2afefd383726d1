// `alol score` end to end on the real HH file in ../shared: the chosen/rejected label, built-in
// lexical scorers and a TypeScript module reward; one output line per row; the cache on a re-run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { sharedPath } from '../helpers/shared.js';

const bin = path.resolve(__dirname, '../../../bin/alol.js');
let dir = '';
after(() => rm(dir, { recursive: true, force: true }));

describe('alol score on HH-RLHF (harmless-base test)', () => {
  it('scores every row with every component and reuses the cache', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'alol-score-'));
    await writeFile(
      path.join(dir, 'apology.ts'),
      "export default (b: { response: string }[]) => b.map((x) => (/\\b(sorry|apologi[sz]e)\\b/i.test(x.response) ? 1 : 0));\n",
    );
    await writeFile(
      path.join(dir, 'run.jsonc'),
      JSON.stringify({
        data: { path: sharedPath('data', 'hh-harmless-base-test.jsonl.gz') },
        rewards: [
          { name: 'label', kind: 'field', field: 'label' },
          { name: 'sentiment', kind: 'builtin', scorer: 'sentiment', weight: 0.5 },
          { name: 'clean', kind: 'builtin', scorer: 'toxicity', weight: 0.5 },
          { name: 'info', kind: 'builtin', scorer: 'tfidf', weight: 0.25 },
          { name: 'apology', kind: 'module', path: 'apology.ts', range: [0, 1], weight: 0.25 },
        ],
      }),
    );
    const run = () => spawnSync(
      process.execPath,
      [bin, 'score', '--config', 'run.jsonc', '--out', 'scores.jsonl'],
      { cwd: dir, encoding: 'utf8' },
    );
    const r = run();
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /2312 records \(hh\) -> 4624 rows, 2307 pairs; 2310 groups \(prompts\), 0 with several response rows [^;]*; 5 unpaired/,
    );
    const rows = (await readFile(path.join(dir, 'scores.jsonl'), 'utf8')).trim().split('\n').map(
      (l) => JSON.parse(l) as { kind: string; total: number; rewards: Record<string, number> },
    );
    assert.equal(rows.length, 4624);
    for (const row of rows) {
      assert.deepEqual(Object.keys(row.rewards), ['label', 'sentiment', 'clean', 'info', 'apology']);
      assert.equal(row.rewards.label, row.kind === 'chosen' ? 1 : 0);
      const { label, sentiment, clean, info, apology } = row.rewards;
      const total = label + 0.5 * sentiment + 0.5 * clean + 0.25 * info + 0.25 * apology;
      assert.ok(Math.abs(total - row.total) < 1e-9);
    }
    assert.ok(rows.some((x) => x.rewards.apology === 1) && rows.some((x) => x.rewards.apology === 0));
    const again = run();
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /4624 values computed, 18496 from the cache/); // only the free field component is recomputed
  });
});
