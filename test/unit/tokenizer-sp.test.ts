// SentencePiece-style BPE with byte fallback (Llama 2, Mistral, TinyLlama): a small tokenizer.json
// written here in both shapes real files have — the legacy one (normalizer Prepend "▁" + Replace " ",
// no pre-tokenizer, Llama 2) and the Metaspace one (pre-tokenizer Metaspace prepend_scheme "first") —
// with <0x..> byte tokens, a few merges and the decoder chain Replace / ByteFallback / Fuse / Strip.
// Ids are checked by hand, text with unicode and bytes the vocabulary lacks round-trips, a response
// encodes as a continuation (no dummy prefix), and BOS comes from the folder's files exactly.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Row } from '../../src/trainer/data/rows.js';
import { tokenizeRows } from '../../src/trainer/data/tokenize.js';
import { NO_SETTINGS, type TokenizerSettings, loadTokenizer } from '../../src/trainer/model/tokenizer.js';

const SP = '\u2581'; // "▁", SentencePiece's space

/** Byte b is id 3 + b (after <unk>, <s>, </s>), as in Llama 2's vocabulary. */
const byteId = (b: number): number => 3 + b;
const utf8Ids = (s: string): number[] => [...Buffer.from(s, 'utf8')].map(byteId);

// Pieces after the 259 fixed ids. The merges build "▁the" and "▁cat" the way SentencePiece's BPE would.
const PIECES = [SP, 't', 'h', 'e', 'c', 'a', `${SP}t`, 'he', `${SP}the`, `${SP}c`, 'at', `${SP}cat`, 'o'];
const pid = (piece: string): number => 259 + PIECES.indexOf(piece);
const MERGES = [`${SP} t`, 'h e', `${SP}t he`, `${SP} c`, 'a t', `${SP}c at`];

function spJson(shape: 'legacy' | 'metaspace', postProcessor = true): Record<string, unknown> {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = byteId(b);
  PIECES.forEach((p, i) => (vocab[p] = 259 + i));
  const special = (id: number, content: string) =>
    ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const legacy = shape === 'legacy';
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: legacy
      ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: SP }, { type: 'Replace', pattern: { String: ' ' }, content: SP }] }
      : null,
    pre_tokenizer: legacy ? null : { type: 'Metaspace', replacement: SP, prepend_scheme: 'first', split: false },
    post_processor: postProcessor
      ? {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
        }
      : null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SP }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges: MERGES,
    },
  };
}

const TEXTS = [
  'the cat',
  'the café ☕ — naïve 日本 🙂',
  ' leading space, two  spaces\tand a tab\nnew line',
  'unknown bytes: \u0000\u0007\u007f and \u{10FFFF}',
  'that',
];

for (const shape of ['legacy', 'metaspace'] as const) {
  describe(`SentencePiece-style tokenizer.json (${shape})`, () => {
    const tok = loadTokenizer(spJson(shape), `${shape}/tokenizer.json`);

    it('gives the ids worked out by hand', () => {
      // "▁the▁cat": merges ▁+t, h+e, ▁t+he, ▁+c, a+t, ▁c+at.
      assert.deepEqual(tok.encode('the cat'), [pid(`${SP}the`), pid(`${SP}cat`)]);
      // é is no piece: its UTF-8 bytes C3 A9 as <0xC3> <0xA9>; "▁" alone before it.
      assert.deepEqual(tok.encode('the é'), [pid(`${SP}the`), pid(SP), byteId(0xc3), byteId(0xa9)]);
      // 🙂 is F0 9F 99 82; the newline is <0x0A>.
      assert.deepEqual(tok.encode('🙂\n'), [pid(SP), ...utf8Ids('🙂\n')]);
      assert.deepEqual(tok.encode('hot'), [pid(`${SP}`), pid('h'), pid('o'), pid('t')]);
      assert.equal(tok.vocabSize, 259 + PIECES.length);
    });

    it('encodes a continuation without the dummy prefix', () => {
      assert.deepEqual(tok.encodeContinuation(' the cat'), [pid(`${SP}the`), pid(`${SP}cat`)]);
      assert.deepEqual(tok.encodeContinuation('the'), [pid('t'), pid('he')]);
      assert.deepEqual(tok.encode('the'), [pid(`${SP}the`)]);
    });

    it('round-trips text with unicode and bytes the vocabulary lacks', () => {
      for (const text of TEXTS) {
        // A whole text that starts with a space: the Metaspace pre-tokenizer adds no dummy prefix before
        // an existing "▁", and decoding drops the first space, so Hugging Face loses it too.
        if (shape === 'legacy' || !text.startsWith(' ')) assert.equal(tok.decode(tok.encode(text)), text, JSON.stringify(text));
        assert.equal(tok.decodeContinuation(tok.encodeContinuation(text)), text, JSON.stringify(text));
        assert.equal(tok.decodeContinuation(tok.encodeContinuation(` ${text}`)), ` ${text}`, JSON.stringify(text));
      }
      // Every character of the unicode text that is no piece went through byte tokens (ids 3..258).
      const ids = tok.encode('☕ 日本 🙂');
      assert.ok(ids.filter((id) => id >= 3 && id <= 258).length >= 3 + 6 + 4, JSON.stringify(ids));
      assert.ok(!ids.includes(0), 'no <unk>');
    });

    it('decodes as Hugging Face does: the dummy-prefix space dropped, a stray byte as U+FFFD', () => {
      assert.equal(tok.decode([pid(`${SP}the`), pid(`${SP}cat`)]), 'the cat');
      assert.equal(tok.decodeContinuation([pid(`${SP}the`), pid(`${SP}cat`)]), ' the cat');
      assert.equal(tok.decodeContinuation([byteId(0xff)]), '\uFFFD');
      assert.equal(tok.decodeContinuation([byteId(0xe6), byteId(0x97), byteId(0xa5)]), '日');
      assert.equal(tok.decode([1, pid(`${SP}the`), 2]), '<s> the</s>');
    });

    it('takes BOS from the post-processor when the folder says nothing, and </s> as EOS', () => {
      assert.deepEqual(tok.bosPrefix, [1]);
      assert.equal(tok.bosTokenId, 1);
      assert.equal(tok.eosTokenId, 2);
      assert.deepEqual(tok.eosTokenIds, [2]);
      assert.deepEqual(tok.encode('the'), [pid(`${SP}the`)], 'encode never adds special tokens itself');
    });
  });
}

describe('BOS exactly when the folder says so', () => {
  const settings = (s: Partial<TokenizerSettings>): TokenizerSettings =>
    ({ ...NO_SETTINGS, tokenizerConfigFile: 'm/tokenizer_config.json', ...s });
  it('add_bos_token decides over the post-processor', () => {
    assert.deepEqual(loadTokenizer(spJson('legacy'), 't.json', settings({ addBos: false })).bosPrefix, []);
    assert.deepEqual(loadTokenizer(spJson('legacy', false), 't.json', settings({ addBos: true, bosToken: '<s>' })).bosPrefix, [1]);
    assert.deepEqual(loadTokenizer(spJson('legacy', false), 't.json').bosPrefix, [], 'no post-processor, no add_bos_token: none');
    const noBosNamed = loadTokenizer(spJson('legacy', false), 't.json', settings({ bosToken: '<s>' }));
    assert.deepEqual(noBosNamed.bosPrefix, []);
    assert.equal(noBosNamed.bosTokenId, 1);
  });
  it('a BOS the folder asks for but cannot name is an error naming tokenizer_config.json', () => {
    assert.throws(
      () => loadTokenizer(spJson('legacy', false), 't.json', settings({ addBos: true })),
      /m\/tokenizer_config\.json: add_bos_token is true but no bos_token is named/,
    );
    assert.throws(() => loadTokenizer(spJson('legacy'), 't.json', settings({ bosToken: '<bos>' })),
      /m\/tokenizer_config\.json: bos_token "<bos>" is not a token of t\.json/);
  });
  it('EOS: tokenizer_config.json\'s eos_token first, then every generation_config id', () => {
    const tok = loadTokenizer(spJson('legacy'), 't.json', settings({ eosToken: '</s>', generationEos: [pid('o'), 2] }));
    assert.equal(tok.eosTokenId, 2);
    assert.deepEqual(tok.eosTokenIds, [2, pid('o')]);
    const fromGeneration = loadTokenizer(spJson('legacy'), 't.json', settings({ generationEos: [pid('o')] }));
    assert.equal(fromGeneration.eosTokenId, pid('o'));
    assert.throws(
      () => loadTokenizer(spJson('legacy'), 't.json', settings({ generationEos: [9999], generationConfigFile: 'm/gen.json' })),
      /m\/gen\.json: eos_token_id 9999 is not in the vocabulary of t\.json/,
    );
  });
});

describe('training rows with a SentencePiece-style tokenizer', () => {
  const row = (prompt: string, response: string): Row =>
    ({ id: 'r', file: 'd.jsonl', line: 1, prompt, response, split: 'train', group: 'r', kind: 'row', raw: {} });
  const lengths = { maxPromptTokens: 64, maxResponseTokens: 16, nPositions: 128 };
  it('prompt: BOS then the text; response: a continuation (no dummy prefix) then EOS', () => {
    const tok = loadTokenizer(spJson('legacy'), 't.json');
    const { rows } = tokenizeRows([row('the cat', ' the cat')], tok, lengths);
    assert.deepEqual(rows[0].prompt, [1, pid(`${SP}the`), pid(`${SP}cat`)]);
    assert.deepEqual(rows[0].response, [pid(`${SP}the`), pid(`${SP}cat`), 2]);
    // Joined, they are what the whole text encodes to after <s>: nothing added between prompt and response.
    assert.deepEqual([...rows[0].prompt, ...rows[0].response.slice(0, -1)], [1, ...tok.encode('the cat the cat')]);
  });
  it('no BOS when the folder says add_bos_token false; left truncation keeps the BOS', () => {
    const off = loadTokenizer(spJson('legacy'), 't.json', { ...NO_SETTINGS, addBos: false });
    assert.deepEqual(tokenizeRows([row('the cat', 'x')], off, lengths).rows[0].prompt, [pid(`${SP}the`), pid(`${SP}cat`)]);
    const on = loadTokenizer(spJson('legacy'), 't.json');
    const cut = tokenizeRows([row('the cat the cat', 'x')], on, { ...lengths, maxPromptTokens: 3 });
    assert.deepEqual(cut.rows[0].prompt, [1, pid(`${SP}the`), pid(`${SP}cat`)]);
    assert.equal(cut.report.truncatedPrompts, 1);
  });
});

describe('malformed SentencePiece-style tokenizer.json', () => {
  const rejects = (json: unknown, pattern: RegExp) => assert.throws(() => loadTokenizer(json, '/m/tokenizer.json'), pattern);
  it('names what would silently lose text', () => {
    const j = spJson('legacy') as { model: { vocab: Record<string, number>; unk_token: unknown; byte_fallback: unknown } };
    delete j.model.vocab['<0x7F>'];
    rejects(j, /byte_fallback is true, but byte token <0x7F> is not in model\.vocab/);
    const k = spJson('legacy') as { model: { unk_token: unknown; byte_fallback: unknown } };
    k.model.byte_fallback = false;
    k.model.unk_token = null;
    rejects(k, /characters outside model\.vocab would be dropped/);
    const u = spJson('legacy') as { model: { unk_token: unknown } };
    u.model.unk_token = '<nope>';
    rejects(u, /model\.unk_token "<nope>" is not in model\.vocab/);
    const m = spJson('metaspace') as { pre_tokenizer: Record<string, unknown> };
    m.pre_tokenizer.split = true;
    rejects(m, /Metaspace pre-tokenizer with "split": true is not supported/);
  });
});
