// Dataset reading: JSONL rows and pairs, HH transcripts, gzip, every kind of bad record and its named
// error, skipBadRows' report, row identity under annotation, seeded splits, and streaming memory.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { assignSplit, DEFAULT_SPLIT, iterateDataset, readDataset, type SplitFractions } from '../../src/trainer/data/dataset.js';
import { parseHhTranscript } from '../../src/trainer/data/hh.js';
import { DataError } from '../../src/trainer/data/jsonl.js';
import { pairId, promptGroup, type Row, rowId } from '../../src/trainer/data/rows.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'alol-dataset-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;

/** Writes `text` to a fresh temp file (gzipped when the name ends in .gz) and returns its path. */
function tmp(text: string, name = 'data.jsonl'): string {
  const p = path.join(dir, `${fileNo++}-${name}`);
  writeFileSync(p, name.endsWith('.gz') ? gzipSync(Buffer.from(text, 'utf8')) : text);
  return p;
}
const jsonl = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
const hh = (prompt: string, response: string) => `${prompt}\n\nAssistant:${response}`;

describe('JSONL rows', () => {
  it('reads unicode exactly, with a BOM, CRLF line ends and blank lines; numbers lines from 1', async () => {
    const text = '\uFEFF{"prompt":"café ☕ 日本","response":" naïve “quotes” 🙂","reward":0.5}\r\n\r\n   \r\n'
      + '{"prompt":"","response":"","id":7,"split":"test","human_label":"good"}\r\n';
    const { rows, pairs, report } = await readDataset(tmp(text));
    assert.equal(rows.length, 2);
    assert.equal(pairs.length, 0);
    assert.deepEqual(rows.map((r) => r.line), [1, 4]);
    assert.equal(rows[0].prompt, 'café ☕ 日本');
    assert.equal(rows[0].response, ' naïve “quotes” 🙂');
    assert.equal(rows[0].reward, 0.5);
    assert.equal(rows[0].kind, 'row');
    assert.equal(rows[0].label, undefined);
    assert.deepEqual(rows[1], {
      id: '7', file: rows[1].file, line: 4, prompt: '', response: '', split: 'test', fixedSplit: true, group: promptGroup(''), kind: 'row',
      raw: { human_label: 'good' },
    });
    assert.equal(report.format, 'rows');
    assert.equal(report.records, 2);
    assert.equal(report.emptyResponses, 1);
  });

  it('reads a 5 MB response on one line', async () => {
    const response = ' ' + 'long é '.repeat(750_000);
    const { rows } = await readDataset(tmp(jsonl([{ prompt: 'p', response }, { prompt: 'q', response: 'short' }])));
    assert.equal(rows[0].response.length, response.length);
    assert.equal(rows[0].response, response);
    assert.equal(rows[1].response, 'short');
  });

  it('keeps per-component rewards and unknown fields', async () => {
    const { rows } = await readDataset(tmp(jsonl([
      { prompt: 'p', response: 'r', rewards: { helpful: 1, safe: -0.5 }, human_reward: 3, note: 'x', exclude: true },
    ])));
    assert.deepEqual(rows[0].rewards, { helpful: 1, safe: -0.5 });
    assert.deepEqual(rows[0].raw, { human_reward: 3, note: 'x', exclude: true });
  });

  it('reads .gz directly, giving the same rows as the plain file', async () => {
    const text = jsonl([{ prompt: 'a', response: 'b' }, { prompt: 'ü', response: ' 日本', id: 'x' }]);
    const plain = await readDataset(tmp(text));
    const gz = await readDataset(tmp(text, 'data.jsonl.gz'));
    assert.deepEqual(gz.rows.map((r) => ({ ...r, file: '' })), plain.rows.map((r) => ({ ...r, file: '' })));
  });

  it('names the file for a missing file and a truncated .gz', async () => {
    await assert.rejects(readDataset(path.join(dir, 'nope.jsonl')), /cannot read .*nope\.jsonl: ENOENT/);
    const full = gzipSync(Buffer.from(jsonl(Array.from({ length: 200 }, (_, i) => ({ prompt: `p${i}`, response: 'r' })))));
    const cut = path.join(dir, 'cut.jsonl.gz');
    writeFileSync(cut, full.subarray(0, full.length - 20));
    await assert.rejects(readDataset(cut), /cut\.jsonl\.gz: after line \d+: not a valid gzip stream/);
  });
});

describe('pairs', () => {
  it('a {prompt, chosen, rejected} row gives a chosen and a rejected row and a Pair; `id` names all three', async () => {
    const { rows, pairs, report } = await readDataset(tmp(jsonl([{ prompt: 'Q:', chosen: ' yes', rejected: ' no', id: 'p1', note: 'n' }])));
    assert.equal(report.format, 'pairs');
    assert.deepEqual(rows.map((r) => [r.id, r.kind, r.label, r.pairId, r.response]), [
      ['p1:chosen', 'chosen', 1, 'p1', ' yes'],
      ['p1:rejected', 'rejected', 0, 'p1', ' no'],
    ]);
    assert.deepEqual(rows[0].raw, { note: 'n' });
    assert.equal(pairs.length, 1);
    assert.equal(pairs[0].chosen, rows[0]);
    assert.equal(pairs[0].rejected, rows[1]);
    assert.equal(pairs[0].prompt, 'Q:');
  });

  it('without `id`, rows are hashed like plain rows and the pair by its three texts', async () => {
    const { rows, pairs } = await readDataset(tmp(jsonl([{ prompt: 'Q:', chosen: ' yes', rejected: ' no' }])));
    assert.equal(rows[0].id, rowId('Q:', ' yes'));
    assert.equal(rows[1].id, rowId('Q:', ' no'));
    assert.equal(pairs[0].id, pairId('Q:', ' yes', ' no'));
    assert.equal(rows[0].split, rows[1].split);
  });
});

describe('HH transcripts', () => {
  const convo = '\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: How do I bake bread?';

  it('splits at the last Assistant turn, keeping the response\'s leading space', () => {
    const t = parseHhTranscript(hh(convo, ' Mix flour and water.'), { file: 'f', line: 1, field: 'chosen' });
    assert.equal(t.prompt, `${convo}\n\nAssistant:`);
    assert.equal(t.response, ' Mix flour and water.');
    assert.deepEqual(parseHhTranscript(hh(convo, ''), { file: 'f', line: 1, field: 'chosen' }),
      { prompt: `${convo}\n\nAssistant:`, response: '' });
  });

  it('pairs records with equal prompts; keeps records whose prompts differ as two unpaired rows, counted', async () => {
    const records = [
      { chosen: hh(convo, ' Mix flour.'), rejected: hh(convo, ' No.') },
      { chosen: hh('\n\nHuman: A?', ' a'), rejected: hh('\n\nHuman: B?', ' b'), id: 9 },
      { chosen: hh(convo, ''), rejected: hh(convo, ' Bake it.'), human_label: 'tie' },
    ];
    const { rows, pairs, report } = await readDataset(tmp(jsonl(records), 'hh.jsonl.gz'));
    assert.equal(report.format, 'hh');
    assert.deepEqual([report.records, report.rows, report.pairs, report.unpaired, report.emptyResponses], [3, 6, 2, 1, 1]);
    assert.deepEqual(pairs.map((p) => p.line), [1, 3]);
    const unpaired = rows.filter((r) => r.line === 2);
    assert.deepEqual(unpaired.map((r) => [r.id, r.kind, r.label, r.pairId, r.prompt, r.response]), [
      ['9:chosen', 'chosen', 1, undefined, '\n\nHuman: A?\n\nAssistant:', ' a'],
      ['9:rejected', 'rejected', 0, undefined, '\n\nHuman: B?\n\nAssistant:', ' b'],
    ]);
    assert.equal(unpaired[0].split, unpaired[1].split, 'the two halves of a record share a split even unpaired');
    assert.deepEqual(rows[4].raw, { human_label: 'tie' });
  });

  it('an HH record and the same pair written as JSONL get the same row and pair ids', async () => {
    const a = await readDataset(tmp(jsonl([{ chosen: hh(convo, ' Mix.'), rejected: hh(convo, ' No.') }])), { format: 'hh' });
    const b = await readDataset(tmp(jsonl([{ prompt: `${convo}\n\nAssistant:`, chosen: ' Mix.', rejected: ' No.' }])), { format: 'jsonl' });
    assert.deepEqual(a.rows.map((r) => [r.id, r.pairId, r.split]), b.rows.map((r) => [r.id, r.pairId, r.split]));
  });
});

describe('bad records: each a DataError naming file, line and field', () => {
  const row = { prompt: 'p', response: 'r' };
  const hhRec = { chosen: hh('\n\nHuman: q', ' a'), rejected: hh('\n\nHuman: q', ' b') };
  const cases: { name: string; first?: unknown; bad: string; field: string | null; message: RegExp; format?: 'jsonl' }[] = [
    { name: 'invalid JSON', bad: '{"prompt": "a", ', field: null, message: /:2: not valid JSON \(/ },
    { name: 'missing prompt', bad: '{"response": "x"}', field: 'prompt', message: /:2: field prompt: missing \(expected string\)$/ },
    {
      name: 'non-string response', bad: '{"prompt": "a", "response": 5}', field: 'response',
      message: /:2: field response: expected string, received number$/,
    },
    {
      name: 'non-number reward', bad: '{"prompt": "a", "response": "b", "reward": "high"}', field: 'reward',
      message: /:2: field reward: expected number, received string$/,
    },
    {
      name: 'infinite reward (1e999)', bad: '{"prompt": "a", "response": "b", "reward": -1e999}', field: 'reward',
      message: /:2: field reward: expected a finite number, received -Infinity$/,
    },
    {
      name: 'non-number reward component', bad: '{"prompt": "a", "response": "b", "rewards": {"safe": null}}', field: 'rewards.safe',
      message: /:2: field rewards\.safe: expected number, received null$/,
    },
    {
      name: 'bad split value', bad: '{"prompt": "a", "response": "b", "split": "dev"}', field: 'split',
      message: /:2: field split: expected one of "train", "validation", "test"; received "dev"$/,
    },
    {
      name: 'bad id type', bad: '{"prompt": "a", "response": "b", "id": true}', field: 'id',
      message: /:2: field id: expected string or number, received boolean$/,
    },
    { name: 'a record that is not an object', bad: '[1, 2]', field: null, message: /:2: expected object, received array$/ },
    {
      name: 'mixed formats under auto', bad: JSON.stringify(hhRec), field: null,
      message: /:2: record is HH \{chosen, rejected\}, but line 1 made this file \{prompt, response\}; one file holds one kind of record$/,
    },
    {
      name: 'a pair after rows under auto', bad: JSON.stringify({ prompt: 'a', chosen: 'b', rejected: 'c' }), field: null,
      message: /:2: record is \{prompt, chosen, rejected\}, but line 1 made this file \{prompt, response\}/,
    },
    {
      name: 'HH transcript without an Assistant turn', first: hhRec,
      bad: JSON.stringify({ chosen: hhRec.chosen, rejected: '\n\nHuman: q only' }), field: 'rejected',
      message: /:2: field rejected: transcript has no "\\n\\nAssistant:" turn/,
    },
    {
      name: 'HH records under format jsonl', first: hhRec, bad: '{}', field: null, format: 'jsonl',
      message: /:1: record is HH \{chosen, rejected\}, but format is "jsonl"; hint: use format "hh" or "auto"$/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const file = tmp(`${JSON.stringify(c.first ?? row)}\n${c.bad}\n`, 'bad.jsonl');
      await assert.rejects(readDataset(file, c.format ? { format: c.format } : {}), (e: unknown) => {
        assert.ok(e instanceof DataError, String(e));
        assert.match(e.message, c.message);
        assert.ok(e.message.startsWith(`${file}:`), e.message);
        assert.equal(e.field, c.field);
        return true;
      });
    });
  }

  it('a first record of no known kind says which kinds it could be', async () => {
    const unknownKind = new RegExp(String.raw`:1: cannot tell the record kind from fields \{text, label\}: `
      + String.raw`expected \{prompt, response\}, \{prompt, responses: \[\{response, reward\?\}, \.\.\.\]\}, `
      + String.raw`\{prompt, chosen, rejected\}, HH \{chosen, rejected\}$`);
    await assert.rejects(readDataset(tmp('{"text": "a", "label": 1}\n')), unknownKind);
  });

  it('skipBadRows skips bad records and lists each line with its reason', async () => {
    const lines = [
      JSON.stringify(row),
      '{oops',
      JSON.stringify({ prompt: 'b', response: 'c' }),
      '{"prompt": "a"}',
      JSON.stringify(hhRec),
      '',
      JSON.stringify({ prompt: 'd', response: 'e', reward: 'x' }),
      JSON.stringify({ prompt: 'f', response: 'g' }),
    ];
    const { rows, report } = await readDataset(tmp(lines.join('\n')), { skipBadRows: true });
    assert.deepEqual(rows.map((r) => r.line), [1, 3, 8]);
    assert.equal(report.records, 7);
    assert.equal(report.rows, 3);
    assert.equal(report.skipped, 4);
    assert.deepEqual(report.skippedLines.map((s) => s.line), [2, 4, 5, 7]);
    assert.match(report.skippedLines[0].reason, /^not valid JSON/);
    assert.equal(report.skippedLines[1].reason, 'field response: missing (expected string)');
    assert.match(report.skippedLines[2].reason, /^record is HH \{chosen, rejected\}/);
    assert.equal(report.skippedLines[3].reason, 'field reward: expected number, received string');
  });

  it('under skipBadRows a bad first line does not decide the format', async () => {
    const { report } = await readDataset(tmp(`{bad\n${JSON.stringify(hhRec)}\n`), { skipBadRows: true });
    assert.equal(report.format, 'hh');
    assert.equal(report.pairs, 1);
  });
});

describe('row identity', () => {
  it('is the `id` field as a string, else 16 hex chars of a hash of (prompt, response) that cannot be confused', () => {
    assert.equal(rowId('p', 'r', 12), '12');
    assert.equal(rowId('p', 'r', 'abc'), 'abc');
    assert.match(rowId('p', 'r'), /^[0-9a-f]{16}$/);
    assert.notEqual(rowId('ab', 'c'), rowId('a', 'bc'));
    assert.notEqual(rowId('a"', 'b'), rowId('a', '"b'));
  });

  it('does not change when a row is annotated or given rewards', async () => {
    const before = await readDataset(tmp(jsonl([{ prompt: 'Hi', response: ' there' }])));
    const annotated = {
      prompt: 'Hi', response: ' there', reward: 0.7, rewards: { safe: 1 }, human_label: 'good', human_reward: 4, note: 'fine',
      exclude: false,
    };
    const after = await readDataset(tmp(jsonl([annotated])));
    assert.equal(after.rows[0].id, before.rows[0].id);
    assert.equal(after.rows[0].split, before.rows[0].split);
    const pairBefore = await readDataset(tmp(jsonl([{ prompt: 'Q', chosen: ' a', rejected: ' b' }])));
    const pairAfter = await readDataset(tmp(jsonl([{ prompt: 'Q', chosen: ' a', rejected: ' b', human_label: 'chosen is better' }])));
    assert.deepEqual(pairAfter.rows.map((r) => [r.id, r.pairId, r.split]), pairBefore.rows.map((r) => [r.id, r.pairId, r.split]));
  });

  it('counts duplicate ids and keeps both rows', async () => {
    const { rows, report } = await readDataset(tmp(jsonl([
      { prompt: 'a', response: 'b' }, { prompt: 'c', response: 'd', id: 'x' }, { prompt: 'a', response: 'b', note: 'again' },
      { prompt: 'e', response: 'f', id: 'x' },
    ])));
    assert.equal(rows.length, 4);
    assert.equal(report.duplicateIds, 2);
    assert.deepEqual(report.duplicates, [
      { id: rowId('a', 'b'), line: 3, firstLine: 1 },
      { id: 'x', line: 4, firstLine: 2 },
    ]);
  });
});

describe('splits', () => {
  const synth = (n: number, from = 0) =>
    Array.from({ length: n }, (_, i) => ({ prompt: `prompt ${from + i}`, response: ` response ${from + i}` }));

  it('is a deterministic function of seed and key', () => {
    const f = { validation: 0.3, test: 0.3, seed: 1 };
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
    assert.deepEqual(keys.map((k) => assignSplit(k, f)), keys.map((k) => assignSplit(k, { ...f })));
    const reseeded = keys.map((k) => assignSplit(k, { ...f, seed: 2 }));
    assert.ok(reseeded.some((s, i) => s !== assignSplit(keys[i], f)), 'another seed gives another split');
    assert.ok(keys.every((k) => assignSplit(k, { validation: 0, test: 0, seed: 1 }) === 'train'));
  });

  it('respects the fractions on 10k rows', async () => {
    const f: SplitFractions = { validation: 0.1, test: 0.2, seed: 0 };
    const { report } = await readDataset(tmp(jsonl(synth(10_000))), { split: f });
    // binomial sd: sqrt(10k * 0.1 * 0.9) = 30, sqrt(10k * 0.2 * 0.8) = 40; allow 5 sd
    assert.ok(Math.abs(report.splits.validation - 1000) < 150, `validation ${report.splits.validation}`);
    assert.ok(Math.abs(report.splits.test - 2000) < 200, `test ${report.splits.test}`);
    assert.equal(report.splits.train + report.splits.validation + report.splits.test, 10_000);
  });

  it('no row moves when other rows are added, removed or edited', async () => {
    const base = synth(2000);
    const f: SplitFractions = { validation: 0.2, test: 0.2, seed: 7 };
    const a = await readDataset(tmp(jsonl(base)), { split: f });
    const changed = [
      ...synth(500, 5000), ...base.slice(100).map((r, i) => (i % 10 === 0 ? { ...r, response: `${r.response} edited` } : r)),
    ];
    const b = await readDataset(tmp(jsonl(changed)), { split: f });
    const before = new Map(a.rows.map((r) => [r.id, r.split]));
    let same = 0;
    for (const r of b.rows) {
      const s = before.get(r.id);
      if (s === undefined) continue;
      assert.equal(r.split, s, `row ${r.id} moved`);
      same++;
    }
    assert.equal(same, 1900 - 190);
  });

  it('keeps both halves of a pair in one split', async () => {
    const pairsIn = Array.from({ length: 2000 }, (_, i) => ({ prompt: `q${i}`, chosen: ` good ${i}`, rejected: ` bad ${i}` }));
    const { rows, pairs, report } = await readDataset(tmp(jsonl(pairsIn)), { split: { validation: 0.3, test: 0.3, seed: 3 } });
    for (const p of pairs) assert.ok(p.chosen.split === p.split && p.rejected.split === p.split);
    assert.ok(report.splits.validation > 0 && report.splits.test > 0 && report.splits.train > 0);
    assert.equal(rows.filter((r) => r.split === 'test').length % 2, 0);
  });

  it('a `split` field wins over the fractions', async () => {
    const { rows } = await readDataset(tmp(jsonl(synth(50).map((r) => ({ ...r, split: 'validation' })))),
      { split: { validation: 0, test: 0, seed: 0 } });
    assert.ok(rows.every((r) => r.split === 'validation'));
  });

  it('rejects fractions outside [0, 1) or summing to 1 or more', async () => {
    const file = tmp(jsonl(synth(1)));
    for (const bad of [
      { validation: 1, test: 0 }, { validation: -0.1, test: 0 }, { validation: 0.5, test: 0.5 }, { validation: Number.NaN, test: 0 },
    ]) {
      await assert.rejects(readDataset(file, { split: { ...bad, seed: 0 } }),
        /data\.split: validation .* must each be in \[0, 1\) with validation \+ test < 1/);
    }
    assert.deepEqual(DEFAULT_SPLIT, { validation: 0.05, test: 0.05, seed: 0 });
  });
});

describe('streaming', () => {
  it('iterates a ~200 MB file with small RSS growth', async (t) => {
    const file = path.join(dir, 'big.jsonl');
    const response = ` ${'lorem ipsum dolor sit amet '.repeat(74)}`; // ~2 KB
    const fd = openSync(file, 'w');
    const nRows = 100_000;
    for (let i = 0; i < nRows; i += 1000) {
      let chunk = '';
      for (let j = i; j < i + 1000; j++) {
        chunk += `{"prompt":"prompt ${j}","response":${JSON.stringify(response + j)},"reward":${(j % 7) / 7}}\n`;
      }
      writeSync(fd, chunk);
    }
    closeSync(fd);
    const sizeMb = (nRows * (response.length + 60)) / 1e6;
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    let n = 0;
    const t0 = performance.now();
    const it = iterateDataset(file);
    let last: IteratorResult<{ rows: Row[] }, unknown>;
    while (!(last = await it.next()).done) {
      n += last.value.rows.length;
      if (n % 5000 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    }
    const growthMb = (peak - rss0) / 2 ** 20;
    t.diagnostic(`${n} rows, ~${sizeMb.toFixed(0)} MB in ${((performance.now() - t0) / 1e3).toFixed(1)} s; `
      + `RSS growth ${growthMb.toFixed(0)} MB`);
    assert.equal(n, nRows);
    assert.ok(growthMb < 150, `RSS grew ${growthMb.toFixed(0)} MB`);
    rmSync(file);
  });

  it('stops cleanly when the consumer breaks early', async () => {
    const file = tmp(jsonl(Array.from({ length: 100 }, (_, i) => ({ prompt: `p${i}`, response: `r${i}` }))));
    let seen = 0;
    for await (const rec of iterateDataset(file)) {
      seen += rec.rows.length;
      if (seen === 3) break;
    }
    assert.equal(seen, 3);
    rmSync(file); // the stream was closed: removing the file is safe everywhere
  });
});
