// The reward registry: weighted totals and ranges; every bad value is an error naming the component
// and the row; field rewards; the cache recomputes exactly the edited rows and nothing for a weight
// change.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RewardComponentConfig, RewardComponentSchema } from '../../src/protocol/config.js';
import type { Row } from '../../src/trainer/data/rows.js';
import { RewardSet } from '../../src/trainer/rewards/registry.js';

let dir = '';
const rows: Row[] = ['good answer', 'bad', 'a fine reply here', 'ok'].map((response, i) => ({
  id: `r${i}`,
  file: '/data/train.jsonl',
  line: i + 1,
  prompt: 'Q?',
  response,
  reward: i / 4,
  split: 'train',
  group: `r${i}`,
  kind: 'row',
  raw: { human_reward: i === 1 ? 0.2 : 0.9 },
}));
const cfg = (c: Record<string, unknown>): RewardComponentConfig => RewardComponentSchema.parse(c);

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-rewards-'));
  const mod = (name: string, body: string) => writeFile(
    path.join(dir, name),
    `export default function score(batch: { response: string; row: Record<string, unknown> }[]): unknown[] {\n${body}\n}\n`,
  );
  await mod('len.ts', '  return batch.map((b) => b.response.length / 20);');
  await mod('nan.ts', "  return batch.map((b) => (b.response === 'bad' ? NaN : 0.5));");
  await mod('str.ts', "  return batch.map((b) => (b.response === 'ok' ? 'high' : 0.5));");
  await mod('short.ts', '  return batch.slice(1).map(() => 0.5);');
  await mod('big.ts', "  return batch.map((b) => (b.response === 'a fine reply here' ? 3 : 0.5));");
  await mod('throw.ts', "  return batch.map((b) => { if (b.response === 'bad') throw new Error('cannot score'); return 0.5; });");
  await mod('hang.ts', "  if (batch.some((b) => b.response === 'ok')) { for (;;) { /* hang */ } }\n  return batch.map(() => 0.5);");
});
after(() => rm(dir, { recursive: true, force: true }));

async function scoreWith(configs: RewardComponentConfig[], cacheDir: string | null = null) {
  const set = await RewardSet.create(configs, { baseDir: dir, cacheDir });
  try {
    set.fit(rows);
    return { set, result: await set.score(rows, { batchSize: 8 }) };
  } finally {
    await set.dispose();
  }
}

describe('reward registry', () => {
  it('total = weighted sum; every component kept; the range follows the weights', async () => {
    const { set, result } = await scoreWith([
      cfg({ name: 'len', kind: 'module', path: 'len.ts', range: [0, 1], weight: 2 }),
      cfg({ name: 'label', kind: 'field', field: 'reward', weight: -1 }),
      cfg({ name: 'human', kind: 'field', field: 'human_reward', range: [0, 1], weight: 0.5 }),
    ]);
    assert.deepEqual(set.range(), [-1, 2.5]);
    rows.forEach((r, i) => {
      const expected = 2 * (r.response.length / 20) - (r.reward as number) + 0.5 * (r.raw.human_reward as number);
      assert.ok(Math.abs(result.total[i] - expected) < 1e-12);
    });
    assert.deepEqual(Array.from(result.components.get('human') as Float64Array), [0.9, 0.2, 0.9, 0.9]);
  });

  const failures: [string, RegExp][] = [
    ['nan.ts', /reward m \(module\): row .*train\.jsonl:2 \(id r1\): returned NaN/],
    ['str.ts', /row .*train\.jsonl:4 \(id r3\): returned the string "high" instead of a number/],
    ['short.ts', /returned 3 values for a batch of 4 rows \(.*train\.jsonl:1 \(id r0\) \.\. .*train\.jsonl:4 \(id r3\)\)/],
    ['big.ts', /row .*train\.jsonl:3 \(id r2\): returned 3, outside its declared range \[0, 1\]/],
    ['throw.ts', /threw on row .*train\.jsonl:2 \(id r1\): cannot score/],
    ['hang.ts', /exceeded its time limit of 300 ms on row .*train\.jsonl:4 \(id r3\)/],
  ];
  for (const [file, message] of failures) {
    it(`${file.replace('.ts', '')}: a clear error naming the component and the row`, async () => {
      await assert.rejects(scoreWith([cfg({ name: 'm', kind: 'module', path: file, range: [0, 1], timeoutMs: 300 })]), message);
    });
  }

  it('a row without the field of a field reward is named', async () => {
    await assert.rejects(
      scoreWith([cfg({ name: 'h', kind: 'field', field: 'note' })]),
      /reward h \(field\): row .*train\.jsonl:1 \(id r0\) has no field 'note'/,
    );
  });

  it('the cache: a second pass computes nothing; an edited row is recomputed alone; a weight change recomputes nothing', async () => {
    const cacheDir = path.join(dir, 'cache');
    const configs = [
      cfg({ name: 'len', kind: 'module', path: 'len.ts', range: [0, 1] }),
      cfg({ name: 'sent', kind: 'builtin', scorer: 'sentiment' }),
    ];
    const first = await scoreWith(configs, cacheDir);
    assert.deepEqual([...first.result.computed.values()], [4, 4]);
    const second = await scoreWith(configs, cacheDir);
    assert.deepEqual([...second.result.computed.values()], [0, 0]);
    assert.deepEqual(second.result.total, first.result.total);
    const saved = rows[2].response;
    rows[2].response = 'an edited reply'; // same id, new text
    try {
      const third = await scoreWith(configs, cacheDir);
      assert.deepEqual([...third.result.computed.values()], [1, 1]);
    } finally {
      rows[2].response = saved;
    }
    const reweighted = await scoreWith([{ ...configs[0], weight: 3 }, configs[1]], cacheDir);
    assert.deepEqual([...reweighted.result.computed.values()], [0, 0]);
  });
});
