// Row identity in src/protocol/rows.ts: the plain-JS sha256 (what the webview and any process that
// installs nothing use) gives the same ids as node:crypto (what the trainer and the editor install) on
// many strings, non-ASCII, astral, lone surrogates and long ones included; a hash that is not sha256 is
// refused; a record parsed by the protocol gives the rows and the error words the trainer's reader gives.
// This file imports nothing that installs node:crypto's hash, so the plain-JS one is under test.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { describeIssue } from '../../src/protocol/issues.js';
import {
  DEFAULT_SPLIT,
  parseRecord,
  RECORD_SCHEMAS,
  type RecordKind,
  pairId,
  rowId,
  shortHash,
  useSha256Hex,
} from '../../src/protocol/rows.js';
import { schemaError } from '../../src/trainer/data/jsonl.js';

const nodeShortHash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** Deterministic strings: ASCII, Latin-1, CJK, emoji (astral), combining marks, lone surrogates, NUL, long. */
function strings(): string[] {
  const alphabet = ['a', 'Z', ' ', '"', '\\', '\n', '\u0000', 'é', 'ß', '日', '本', '☕'];
  alphabet.push('\u{1F916}', '\u{1F600}', 'e\u0301', '\uD800', '\uDFFF', '\u2028'); // astral, combining, lone surrogates
  const out = ['', 'A-LoL', 'Human: hi\n\nAssistant: hello', 'x'.repeat(300_000), '日本語'.repeat(10_000)];
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < 2000; i++) {
    const n = next() % 64;
    out.push(Array.from({ length: n }, () => alphabet[next() % alphabet.length]).join(''));
  }
  return out;
}

describe('row identity: plain-JS sha256 equals node:crypto', () => {
  it('shortHash is byte-identical on 2,005 strings', () => {
    const all = strings();
    const differ = all.filter((s) => shortHash(s) !== nodeShortHash(s));
    assert.deepEqual(differ.map((s) => JSON.stringify(s.slice(0, 40))), []);
  });

  it('rowId and pairId are the hashes of their JSON, or the id as a string', () => {
    assert.equal(rowId('Q: café? 日本', ' yes ☕'), nodeShortHash(JSON.stringify(['Q: café? 日本', ' yes ☕'])));
    assert.equal(pairId('p', 'c', 'r'), nodeShortHash(JSON.stringify(['p', 'c', 'r'])));
    assert.equal(rowId('p', 'r', 7), '7');
    assert.equal(pairId('p', 'c', 'r', 'x'), 'x');
  });

  it('a hash that is not sha256 as hex is refused, node:crypto is accepted', () => {
    assert.throws(() => useSha256Hex((t) => createHash('sha1').update(t).digest('hex')), /not sha256 as hex/);
    assert.throws(() => useSha256Hex((t) => createHash('sha256').update(t, 'latin1').digest('hex')), /not sha256 as hex/);
    const before = strings().slice(0, 200).map(shortHash);
    useSha256Hex((t) => createHash('sha256').update(t).digest('hex'));
    assert.deepEqual(strings().slice(0, 200).map(shortHash), before);
  });
});

describe('one record, as the protocol parses it', () => {
  it('gives a row, two halves with their pair, or unpaired HH halves', () => {
    const row = parseRecord('rows', { prompt: 'p', response: 'r', note: 'n' }, 'f.jsonl', 3, DEFAULT_SPLIT);
    assert.ok(row.ok);
    assert.deepEqual(row.record.rows.map((r) => [r.id, r.kind, r.line, r.raw]), [[rowId('p', 'r'), 'row', 3, { note: 'n' }]]);
    const pair = parseRecord('pairs', { id: 9, prompt: 'p', chosen: 'c', rejected: 'r' }, 'f.jsonl', 1, DEFAULT_SPLIT);
    assert.ok(pair.ok);
    assert.deepEqual(pair.record.rows.map((r) => r.id), ['9:chosen', '9:rejected']);
    assert.equal(pair.record.pair?.id, '9');
    const transcripts = { chosen: '\n\nHuman: a\n\nAssistant: b', rejected: '\n\nHuman: x\n\nAssistant: y' };
    const hh = parseRecord('hh', transcripts, 'f', 1, DEFAULT_SPLIT);
    assert.ok(hh.ok);
    assert.equal(hh.record.pair, undefined);
    assert.equal(hh.record.rows[0].split, hh.record.rows[1].split);
  });

  it('says which field is wrong in the words of the trainer\'s DataError', () => {
    const bad: [RecordKind, unknown][] = [
      ['rows', { response: 'x' }],
      ['rows', { prompt: 'a', response: 5 }],
      ['rows', { prompt: 'a', response: 'b', reward: 'high' }],
      ['rows', { prompt: 'a', response: 'b', rewards: { safe: null } }],
      ['rows', { prompt: 'a', response: 'b', split: 'dev' }],
      ['rows', { prompt: 'a', response: 'b', id: true }],
      ['rows', [1, 2]],
      ['pairs', { prompt: 'a', chosen: 'b' }],
      ['hh', { chosen: 3, rejected: 'x' }],
    ];
    for (const [kind, value] of bad) {
      const r = parseRecord(kind, value, 'f.jsonl', 2, DEFAULT_SPLIT);
      assert.ok(!r.ok, JSON.stringify(value));
      const parsed = RECORD_SCHEMAS[kind].safeParse(value);
      assert.ok(!parsed.success);
      const trainer = schemaError('f.jsonl', 2, parsed.error, value);
      const trainerWords = { field: trainer.field, reason: trainer.reason.replace(/^field [^:]+: /, '') };
      assert.deepEqual({ field: r.field, reason: r.reason }, trainerWords);
      assert.deepEqual(describeIssue(parsed.error, value), { field: r.field, reason: r.reason });
    }
    const noTurn = parseRecord('hh', { chosen: '\n\nHuman: a\n\nAssistant: b', rejected: '\n\nHuman: q only' }, 'f', 1, DEFAULT_SPLIT);
    assert.ok(!noTurn.ok && noTurn.field === 'rejected' && /no "\\n\\nAssistant:" turn/.test(noTurn.reason), JSON.stringify(noTurn));
  });
});
