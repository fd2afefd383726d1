// Reward debugging: the check reports every problem kind with its row (and keeps going), timing each
// call by the module's own time (a planted slow call far past the threshold is flagged; the worker's
// slow start-up is not); the report's correlations and shares on a constructed dataset equal values
// computed by hand.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RewardComponentSchema } from '../../src/protocol/config.js';
import type { Row } from '../../src/trainer/data/rows.js';
import { RewardSet } from '../../src/trainer/rewards/registry.js';
import { pearson, rewardReport } from '../../src/trainer/rewards/report.js';

let dir = '';
const responses = ['fine', 'nan please', 'text please', 'big please', 'throw please', 'slow please', 'hang please', 'ok'];
const rows: Row[] = responses.map((response, i) => ({
  id: `r${i}`,
  file: '/d/data.jsonl',
  line: i + 1,
  prompt: 'Q',
  response,
  split: 'train',
  group: `r${i}`,
  kind: 'row',
  raw: {},
}));

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-check-'));
  await writeFile(
    path.join(dir, 'planted.ts'),
    `// Loading takes 600 ms, far past the 'slow' threshold: the first row must not pay for it.
{ const t = Date.now(); while (Date.now() - t < 600) {} }
export default function score(batch: { response: string }[]): unknown[] {
  const out = batch.map((b) => {
    const w = b.response.split(' ')[0];
    if (w === 'nan') return NaN;
    if (w === 'text') return 'high';
    if (w === 'big') return 7;
    if (w === 'throw') throw new Error('cannot score this one');
    if (w === 'slow') { const t = Date.now(); while (Date.now() - t < 1000) {} }
    if (w === 'hang') { for (;;) {} }
    return 0.5;
  });
  return batch.length > 1 ? out.slice(1) : out; // a batch comes back one value short
}
`,
  );
});
after(() => rm(dir, { recursive: true, force: true }));

describe('check reward function', () => {
  // Thresholds far from every planted time: fast calls take microseconds, 'slow' 1000 ms, the load 600 ms.
  const planted = (timeoutMs: number) => {
    const component = RewardComponentSchema.parse({ name: 'planted', kind: 'module', path: 'planted.ts', range: [0, 1], timeoutMs });
    return RewardSet.create([component], { baseDir: dir, cacheDir: null });
  };
  const slowMs = 250;

  it('reports throws, NaN, non-numbers, out-of-range values, slow calls and wrong lengths, each with its row', async () => {
    const set = await planted(5000);
    try {
      const { findings, timing } = await set.check(rows.filter((r) => r.response !== 'hang please'), { slowMs });
      const by = (p: string) => findings.filter((f) => f.problem === p).map((f) => f.rowId);
      assert.deepEqual(by('nan'), ['r1']);
      assert.deepEqual(by('not a number'), ['r2']);
      assert.deepEqual(by('out of range'), ['r3']);
      assert.deepEqual(by('throw'), ['r4']);
      assert.deepEqual(by('slow'), ['r5']); // not r0, the first call, which started the worker
      assert.deepEqual(by('wrong length'), ['r0']); // the batch call; names the batch's first row
      assert.match(findings.find((f) => f.problem === 'throw')?.detail ?? '', /cannot score this one/);
      assert.match(findings.find((f) => f.problem === 'nan')?.row ?? '', /data\.jsonl:2 \(id r1\)/);
      assert.equal(timing.planted.calls, 7);
      assert.equal(findings.length, 6, JSON.stringify(findings));
    } finally {
      await set.dispose();
    }
  });

  it('reports a call that never returns as a time-out, with its row', async () => {
    const set = await planted(400);
    try {
      const hang = await set.check([rows[6]], { slowMs });
      assert.deepEqual(hang.findings.map((f) => [f.problem, f.rowId]), [['timeout', 'r6']]);
    } finally {
      await set.dispose();
    }
  });
});

describe('field rewards', () => {
  it("'label' is a pair's 1 / 0, and a plain row's own label field", async () => {
    const set = await RewardSet.create(
      [RewardComponentSchema.parse({ name: 'l', kind: 'field', field: 'label', default: 0.5 })],
      { baseDir: '/', cacheDir: null },
    );
    const base = { file: '/d/x.jsonl', prompt: 'Q', split: 'train', group: 'g' } as const;
    const r = await set.score([
      { ...base, id: 'a', line: 1, response: 'x', kind: 'row', raw: { label: 0.25 } },
      { ...base, id: 'b', line: 2, response: 'y', kind: 'row', raw: {} },
      { ...base, id: 'c:chosen', line: 3, response: 'z', kind: 'chosen', label: 1, raw: { label: 0.25 } },
      { ...base, id: 'c:rejected', line: 3, response: 'w', kind: 'rejected', label: 0, raw: { label: 0.25 } },
    ] as Row[]);
    assert.deepEqual([...(r.components.get('l') as Float64Array)], [0.25, 0.5, 1, 0]);
    await set.dispose();
  });
});

describe('reward report', () => {
  it('correlations, length correlation and shares equal values computed by hand', () => {
    const a = Float64Array.of(1, 2, 3, 4);
    const b = Float64Array.of(2, 4, 6, 8.5);
    const texts = ['one', 'one two', 'one two three', 'one two three four'];
    // By hand: mean a = 2.5, mean b = 5.125; deviations a: -1.5 -0.5 0.5 1.5; b: -3.125 -1.125 0.875 3.375
    // sum ab = 4.6875 + 0.5625 + 0.4375 + 5.0625 = 10.75; sum aa = 5; sum bb = 9.765625 + 1.265625 + 0.765625 + 11.390625 = 23.1875
    const rAB = 10.75 / Math.sqrt(5 * 23.1875);
    assert.ok(Math.abs((pearson(a, b) as number) - rAB) < 1e-12);
    const rep = rewardReport(
      [
        { name: 'a', weight: 1, range: [0, 10], values: a },
        { name: 'b', weight: 0.5, range: [0, 10], values: b },
      ],
      texts,
    );
    // Lengths 1..4 equal a, so a's length correlation is exactly 1.
    assert.ok(Math.abs((rep[0].lengthCorrelation as number) - 1) < 1e-12);
    assert.ok(Math.abs((rep[0].correlations.b as number) - rAB) < 1e-12);
    // Shares: sum |1 * a| = 10, sum |0.5 * b| = 10.25, of 20.25.
    assert.ok(Math.abs(rep[0].shareOfTotal - 10 / 20.25) < 1e-12);
    assert.ok(Math.abs(rep[1].shareOfTotal - 10.25 / 20.25) < 1e-12);
    assert.match(rep[0].warnings.join(' '), /correlates with response length \(r = 1\.00\)/);
    assert.equal(pearson(Float64Array.of(1, 1, 1), Float64Array.of(1, 2, 3)), null);
  });
});

describe('alol reward verbs (the editor runs these)', () => {
  const bin = path.resolve(__dirname, '../../../bin/alol.js');
  const alol = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8' });

  it('check-reward names the planted NaN with its file and line; debug-reward --prepare writes the copy the debug run loads', async () => {
    const ws = await mkdtemp(path.join(os.tmpdir(), 'alol-verbs-'));
    try {
      await writeFile(
        path.join(ws, 'nan.ts'),
        'export default (b: { response: string }[]) => b.map((x) => (x.response.includes("bad") ? NaN : x.response.length / 100));\n',
      );
      await writeFile(
        path.join(ws, 'data.jsonl'),
        ['hello', 'a bad one', 'fine'].map((r, i) => JSON.stringify({ id: `r${i}`, prompt: 'Q', response: r })).join('\n') + '\n',
      );
      await writeFile(
        path.join(ws, 'run.json'),
        JSON.stringify({ data: { path: 'data.jsonl' }, rewards: [{ name: 'len', kind: 'module', path: 'nan.ts', range: [0, 1] }] }),
      );
      const check = alol(ws, 'check-reward', '--config', 'run.json', '--json');
      assert.equal(check.status, 0, check.stderr);
      const report = JSON.parse(check.stdout) as { findings: { problem: string; row: string; line: number }[] };
      assert.deepEqual(report.findings.map((f) => [f.problem, f.line]), [['nan', 2]]);
      assert.match(report.findings[0].row, /data\.jsonl:2 \(id r1\)/);

      const prep = alol(ws, 'debug-reward', '--config', 'run.json', '--component', 'len', '--prepare', '--json');
      assert.equal(prep.status, 0, prep.stderr);
      const { files } = JSON.parse(prep.stdout) as { files: string[] };
      assert.deepEqual(files, [path.join(ws, 'nan.ts.alol-debug.js')]);
      assert.ok(existsSync(files[0]));
      const dbg = alol(ws, 'debug-reward', '--config', 'run.json', '--lines', '1,3', '--results', 'res.json');
      assert.equal(dbg.status, 0, dbg.stderr);
      assert.match(dbg.stdout, /^line 1 \(r0\): total 0\.0500 {2}len 0\.0500\nline 3 \(r2\): total 0\.0400 {2}len 0\.0400\n$/);
      assert.equal(existsSync(files[0]), false, 'the debug run left its copy behind');
      // The scores for the editor, which shows them on the rows when the session ends.
      assert.deepEqual(JSON.parse(readFileSync(path.join(ws, 'res.json'), 'utf8')), [
        { rowId: 'r0', line: 1, kind: 'row', total: 0.05, rewards: { len: 0.05 } },
        { rowId: 'r2', line: 3, kind: 'row', total: 0.04, rewards: { len: 0.04 } },
      ]);
      assert.deepEqual(readdirSync(ws).filter((f) => f.startsWith('res.json.tmp')), [], 'a temporary file was left');
    } finally {
      await rm(ws, { recursive: true, force: true });
    }
  });

  it('score-rows and reward-report score the good rows and name the bad one (NaN, a throw) with its line; neither aborts', async () => {
    const ws = await mkdtemp(path.join(os.tmpdir(), 'alol-verbs-'));
    try {
      // 70 rows: more than one batch of 64, so a throw in the second batch is retried row by row.
      const responses = Array.from({ length: 70 }, (_, i) => (i === 2 ? 'a bad one' : i === 66 ? 'throw here' : `row ${i} text`));
      await writeFile(
        path.join(ws, 'nan.ts'),
        'export default (b: { response: string }[]) => b.map((x) => { if (x.response.startsWith("throw")) throw new Error("planted"); '
          + 'return x.response.includes("bad") ? NaN : x.response.length / 100; });\n',
      );
      const data = responses.map((r, i) => JSON.stringify({ id: `r${i}`, prompt: 'Q', response: r })).join('\n') + '\n';
      await writeFile(path.join(ws, 'data.jsonl'), data);
      const rewards = [
        { name: 'len', kind: 'module', path: 'nan.ts', range: [0, 1] },
        { name: 'one', kind: 'field', field: 'x', default: 1 },
      ];
      await writeFile(path.join(ws, 'run.json'), JSON.stringify({ data: { path: 'data.jsonl' }, rewards }));

      const input = data.split('\n').slice(0, 4).join('\n');
      const rowsOut = spawnSync(process.execPath, [bin, 'score-rows', '--config', 'run.json', '--input', '-', '--input-name',
        path.join(ws, 'data.jsonl'), '--json'], { cwd: ws, input, encoding: 'utf8' });
      assert.equal(rowsOut.status, 0, rowsOut.stderr);
      const scored = JSON.parse(rowsOut.stdout) as { line: number; total: number | null; error?: string }[];
      const totals = scored.map((r) => [r.line, r.total === null ? null : Number(r.total.toFixed(4))]);
      assert.deepEqual(totals, [[1, 1.1], [2, 1.1], [3, null], [4, 1.1]]);
      assert.match(scored[2].error ?? '', /reward len \(module\): row data\.jsonl:3 \(id r2\): returned NaN/);

      const rep = alol(ws, 'reward-report', '--config', 'run.json', '--json');
      assert.equal(rep.status, 0, rep.stderr);
      const report = JSON.parse(rep.stdout) as {
        rows: number; of: number; skipped: { line: number; errors: { component: string; message: string }[] }[];
        components: { name: string; summary: { count: number; max: number } }[];
      };
      assert.deepEqual([report.rows, report.of], [68, 70]);
      assert.deepEqual(report.skipped.map((b) => [b.line, b.errors.map((e) => e.component)]), [[3, ['len']], [67, ['len']]]);
      assert.match(report.skipped[1].errors[0].message, /planted/);
      assert.deepEqual(report.components.map((c) => c.summary.count), [68, 68]);
      const text = alol(ws, 'reward-report', '--config', 'run.json');
      assert.equal(text.status, 0, text.stderr);
      assert.match(text.stdout, /^reward report: 68 rows of data\.jsonl \(of 70; 2 could not be scored, listed at the end\)$/m);
      assert.match(text.stdout, /^rows not scored \(2\):\n {2}line 3 \(id r2\): .*returned NaN\n {2}line 67 \(id r66\): .*planted/m);
    } finally {
      await rm(ws, { recursive: true, force: true });
    }
  });
});
