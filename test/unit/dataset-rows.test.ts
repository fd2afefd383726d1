// Dataset rows in the editor: line <-> row mapping on odd JSONL (unicode, very long lines, blank lines,
// CRLF, a BOM, HH records); annotation edits change one field and preserve every other byte; a
// malformed row is refused with the reason; annotating never changes a row's identity.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapRows, setField } from '../../src/extension/datasetRows.js';
import { rowId } from '../../src/trainer/data/rows.js';

const long = 'x'.repeat(300_000);
const lines = [
  '\uFEFF{"prompt": "Q: café? 日本", "response": " yes ☕", "reward": 0.5}',
  '',
  '   ',
  `{"id": "r2", "prompt": "p", "response": "${long}"}`,
  '{"prompt": "a", "response": "b" , "extra": {"nested": [1, 2]}}',
  '{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: hello", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: go away"}',
  '{"prompt": "broken", ',
  '{"prompt": 3, "response": "x"}',
];

describe('dataset rows in the editor', () => {
  for (const eol of ['\n', '\r\n']) {
    it(`maps lines to rows and offsets (${eol === '\n' ? 'LF' : 'CRLF'})`, () => {
      const text = lines.join(eol);
      const rows = mapRows(text, '/w/data.jsonl');
      assert.deepEqual(rows.map((r) => r.index), [0, 3, 4, 5, 6, 7]); // blank lines are not rows
      for (const r of rows) assert.equal(text.slice(r.start, r.end), lines[r.index]);
      assert.equal(rows[0].rows[0].id, rowId('Q: café? 日本', ' yes ☕'));
      assert.equal(rows[1].rows[0].id, 'r2');
      assert.equal(rows[1].rows[0].response.length, long.length);
      assert.deepEqual(rows[3].rows.map((r) => r.kind), ['chosen', 'rejected']);
      assert.match(rows[4].error ?? '', /not valid JSON/);
      assert.match(rows[5].error ?? '', /prompt/);
    });
  }

  it('a {prompt, responses} record is one line of several rows; an unknown record names every shape the trainer reads', () => {
    const text = ['{"prompt": "p", "responses": [{"response": " a", "reward": 1}, {"response": " b", "reward": 0}]}', '{"text": "x"}']
      .join('\n');
    const [multi, unknown] = mapRows(text, '/w/data.jsonl');
    assert.equal(multi.error, undefined);
    assert.deepEqual(multi.rows.map((r) => r.response), [' a', ' b']);
    assert.equal(unknown.rows.length, 0);
    const shapes = /^not a dataset row: expected \{prompt, response\}, \{prompt, responses: \[\{response, reward\?\}, \.\.\.\]\}, /;
    assert.match(unknown.error ?? '', shapes);
  });

  it('sets a field by appending it or replacing its value; nothing else in the line changes', () => {
    const line = lines[4];
    const added = setField(line, 'human_label', 1);
    assert.equal(added, '{"prompt": "a", "response": "b" , "extra": {"nested": [1, 2]}, "human_label": 1}');
    assert.equal(setField(added, 'human_label', 0), '{"prompt": "a", "response": "b" , "extra": {"nested": [1, 2]}, "human_label": 0}');
    assert.equal(setField('{ "a": 1 }', 'note', 'ok "quoted" ☕'), '{ "a": 1, "note": "ok \\"quoted\\" ☕" }');
    assert.equal(setField('{}', 'exclude', true), '{"exclude": true}');
    assert.equal(
      setField(lines[0], 'human_reward', 0.8),
      '\uFEFF{"prompt": "Q: café? 日本", "response": " yes ☕", "reward": 0.5, "human_reward": 0.8}',
    );
  });

  it('an edit of one line leaves every other byte of the file as it was', () => {
    const text = lines.join('\r\n');
    const rows = mapRows(text, '/w/data.jsonl');
    const target = rows[2];
    const edited = text.slice(0, target.start) + setField(text.slice(target.start, target.end), 'note', 'check') + text.slice(target.end);
    const before = text.slice(0, target.start);
    const after = text.slice(target.end);
    assert.ok(edited.startsWith(before) && edited.endsWith(after));
    assert.equal(mapRows(edited, '/w/data.jsonl').length, rows.length);
  });

  it('a malformed row is refused with the reason, not rewritten', () => {
    assert.throws(() => setField(lines[6], 'human_label', 1), /not a single JSON object/);
    assert.throws(() => setField('[1, 2]', 'human_label', 1), /not a single JSON object/);
    assert.throws(() => setField('{"a": 1,}', 'human_label', 1), /not/);
  });

  it("annotating a row never changes its identity", () => {
    for (const i of [0, 4, 5]) {
      const before = mapRows(lines[i], '/w/d.jsonl')[0].rows.map((r) => r.id);
      let t = lines[i];
      t = setField(t, 'human_label', 1);
      t = setField(t, 'human_reward', 0.25);
      t = setField(t, 'note', 'n');
      t = setField(t, 'exclude', true);
      assert.deepEqual(mapRows(t, '/w/d.jsonl')[0].rows.map((r) => r.id), before);
    }
  });
});
