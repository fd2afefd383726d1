// Tokenizers from tokenizer.json: the fixture's byte-level tokenizer against UTF-8 bytes (an
// independent reference), the built-in byte-level tokenizer against the fixture's on real HH
// conversations, a small GPT-2 style BPE with merges and an added token, and malformed files.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { byteLevelTokenizer, byteLevelTokenizerJson, loadTokenizer } from '../../src/trainer/model/tokenizer.js';
import { sharedPath } from '../helpers/shared.js';

const fixturePath = sharedPath('fixtures', 'gpt2-tiny-independent', 'model', 'tokenizer.json');
const fixtureJson: unknown = JSON.parse(readFileSync(fixturePath, 'utf8'));
const fixture = loadTokenizer(fixtureJson, fixturePath);
const utf8 = (s: string) => [...Buffer.from(s, 'utf8')];

function hhConversations(n: number): string[] {
  const lines = gunzipSync(readFileSync(sharedPath('data', 'hh-harmless-base-test.jsonl.gz'))).toString('utf8').split('\n');
  return lines.filter((l) => l.trim()).slice(0, n).map((l) => (JSON.parse(l) as { chosen: string }).chosen);
}

describe('fixture tokenizer (byte-level, no merges)', () => {
  it('encodes ASCII to its bytes', () => {
    assert.deepEqual(fixture.encode('Hi!'), [72, 105, 33]);
  });
  it('encodes unicode to its UTF-8 bytes and decodes it back exactly', () => {
    const text = 'café ☕ 日本 — naïve “quotes” 🙂';
    assert.deepEqual(fixture.encode(text), utf8(text));
    assert.equal(fixture.decode(fixture.encode(text)), text);
  });
  it('keeps leading spaces, newlines and spacing around punctuation', () => {
    for (const text of ['\n\nHuman: x\n\nAssistant: y', ' Mix flour', '  two  spaces\t\ttab \r\n', "Hello , world . don 't"]) {
      assert.deepEqual(fixture.encode(text), utf8(text));
      assert.equal(fixture.decode(fixture.encode(text)), text);
    }
    assert.equal(fixture.decode(fixture.encode(' Mix flour')), ' Mix flour');
  });
  it('knows <|endoftext|> as 256, the EOS, in a vocabulary of 257', () => {
    assert.equal(fixture.tokenToId('<|endoftext|>'), 256);
    assert.equal(fixture.eosTokenId, 256);
    assert.equal(fixture.vocabSize, 257);
    assert.deepEqual(fixture.encode('a<|endoftext|>b'), [97, 256, 98]);
    assert.equal(fixture.decode([72, 105, 256]), 'Hi<|endoftext|>');
  });
  it('decodes [] to "" and rejects ids outside the vocabulary', () => {
    assert.equal(fixture.decode([]), '');
    assert.deepEqual(fixture.encode(''), []);
    assert.throws(() => fixture.decode([72, 257]), /token id 257 is not in the vocabulary .*tokenizer\.json/);
    assert.throws(() => fixture.decode([1.5]), /token id 1\.5/);
  });
});

describe('built-in byte-level tokenizer', () => {
  it('is the fixture tokenizer.json', () => {
    assert.deepEqual(byteLevelTokenizerJson(), fixtureJson);
  });
  it('gives the fixture ids (the UTF-8 bytes) on real HH conversations', () => {
    const tok = byteLevelTokenizer();
    assert.equal(tok.vocabSize, 257);
    assert.equal(tok.eosTokenId, 256);
    const texts = hhConversations(300);
    assert.equal(texts.length, 300);
    for (const [i, text] of texts.entries()) {
      const ids = tok.encode(text);
      assert.deepEqual(ids, fixture.encode(text), `conversation ${i}`);
      assert.deepEqual(ids, utf8(text), `conversation ${i}`);
      assert.equal(tok.decode(ids), text, `conversation ${i}`);
    }
  });
  it('saves a tokenizer.json that re-loads to the same behaviour', () => {
    const tok = byteLevelTokenizer();
    const reloaded = loadTokenizer(JSON.parse(JSON.stringify(tok.toJSON())), 'saved/tokenizer.json');
    assert.equal(reloaded.vocabSize, tok.vocabSize);
    assert.equal(reloaded.eosTokenId, tok.eosTokenId);
    for (const text of hhConversations(20)) assert.deepEqual(reloaded.encode(text), tok.encode(text));
  });
});

// A tiny GPT-2 style BPE: the 256 byte symbols (the fixture's), <|endoftext|> = 256, and three merges.
function bpeJson(merges: unknown[], extraAdded: object[] = []): object {
  const base = byteLevelTokenizerJson() as { model: { vocab: Record<string, number> } };
  return {
    ...base,
    added_tokens: [
      { id: 256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
      ...extraAdded,
    ],
    model: { ...base.model, vocab: { ...base.model.vocab, 'Ġt': 257, he: 258, 'Ġthe': 259 }, merges },
  };
}

describe('byte-level BPE with merges', () => {
  const tok = loadTokenizer(bpeJson(['Ġ t', 'h e', 'Ġt he']), 'bpe/tokenizer.json');
  it('merges " the" into one token and decodes back', () => {
    assert.deepEqual(tok.encode(' the'), [259]);
    assert.deepEqual(tok.encode('the'), [116, 258]);
    assert.deepEqual(tok.encode('then the'), [116, 258, 110, 259]);
    assert.equal(tok.tokenToId('Ġthe'), 259);
    assert.equal(tok.vocabSize, 260);
    for (const text of [' the', 'then the theme', 'Hello, the wörld\n the']) assert.equal(tok.decode(tok.encode(text)), text);
  });
  it('reads merges written as pairs the same way', () => {
    const pairs = loadTokenizer(bpeJson([['Ġ', 't'], ['h', 'e'], ['Ġt', 'he']]), 'pairs/tokenizer.json');
    assert.deepEqual(pairs.encode('then the'), tok.encode('then the'));
  });
  it('recognises an added special token in text as one id', () => {
    assert.deepEqual(tok.encode(' the<|endoftext|> the'), [259, 256, 259]);
    const withEos = loadTokenizer(bpeJson([], [{ id: 260, content: '</s>', special: true }]), 'eos/tokenizer.json');
    // <|endoftext|> wins when present; without it a conventional special EOS is used.
    assert.equal(withEos.eosTokenId, 256);
    assert.deepEqual(withEos.encode('a</s>'), [97, 260]);
    type Json = { added_tokens: unknown[]; model: { vocab: Record<string, number> } };
    const json = bpeJson([], [{ id: 260, content: '</s>', special: true }]) as Json;
    json.added_tokens.shift();
    delete json.model.vocab['<|endoftext|>'];
    assert.equal(loadTokenizer(json, 'eos/tokenizer.json').eosTokenId, 260);
    json.added_tokens.length = 0;
    assert.equal(loadTokenizer(json, 'eos/tokenizer.json').eosTokenId, null);
  });
});

// Llama 3 and Qwen2 split text with a regex before the byte-level step (Split + ByteLevel with
// use_regex false); Llama 3's pattern keeps at most 3 digits together, GPT-2's keeps a space with the digits.
const LLAMA3_SPLIT = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|` +
  String.raw` ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

describe('byte-level BPE with a Split pre-tokenizer (Llama 3, Qwen2)', () => {
  const merges = ['3 4', '1 2', '12 3', 'Ġ t', 'h e', 'Ġt he'];
  const base = bpeJson(merges) as { model: { vocab: Record<string, number> } };
  const json = {
    ...base,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: LLAMA3_SPLIT }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    model: { ...base.model, vocab: { ...base.model.vocab, 12: 260, 123: 261, 34: 262 } },
  };
  const llama3 = loadTokenizer(json, 'llama3/tokenizer.json');
  const gpt2Pre = (byteLevelTokenizerJson() as { pre_tokenizer: object }).pre_tokenizer;
  const gpt2 = loadTokenizer({ ...json, pre_tokenizer: gpt2Pre }, 'gpt2/tokenizer.json');
  it('splits as the pattern says, then merges within each piece', () => {
    // Pieces "the", " ", "123", "45": t+he, the lone space, 1+2 then 12+3, 4, 5 (3+4 never meet).
    assert.deepEqual(llama3.encode('the 12345'), [116, 258, 32, 261, 52, 53]);
    // GPT-2's pattern: "the", " 12345" (space and digits together): 3+4 first, then 1+2: Ġ, 12, 34, 5.
    assert.deepEqual(gpt2.encode('the 12345'), [116, 258, 32, 260, 262, 53]);
    assert.deepEqual(llama3.encode(' the'), [259], 'a leading space stays with its word');
    assert.deepEqual(llama3.encode("it's"), [105, 116, 39, 115]);
    for (const text of ['the 12345', 'Hello, wörld!\n\n  spaced  out\t123456789', "don't 42"]) {
      assert.equal(llama3.decode(llama3.encode(text)), text);
      assert.deepEqual(llama3.encodeContinuation(text), llama3.encode(text), 'no dummy prefix in byte-level BPE');
    }
  });
});

describe('malformed tokenizer.json', () => {
  const rejects = (json: unknown, pattern: RegExp) =>
    assert.throws(() => loadTokenizer(json, '/models/m/tokenizer.json'), (e: Error) => {
      assert.match(e.message, /^\/models\/m\/tokenizer\.json: /);
      assert.match(e.message, pattern);
      return true;
    });
  it('names the file and what is wrong', () => {
    rejects({ model: { type: 'Unknown' } }, /model\.type "Unknown" is not supported/);
    rejects([], /expected a JSON object, got an array/);
    rejects('tokenizer', /expected a JSON object, got string/);
    rejects(null, /expected a JSON object/);
    rejects({}, /"model" must be an object/);
    rejects({ model: { type: 'BPE', vocab: { a: -1 }, merges: [] } }, /model\.vocab\["a"\] must be a non-negative integer/);
    rejects({ model: { type: 'BPE', vocab: { a: 0 }, merges: 'a b' } }, /model\.merges must be an array/);
    rejects({ model: { type: 'BPE', vocab: { a: 0 }, merges: ['a b c'] } }, /model\.merges\[0\]/);
    rejects({ ...bpeJson([]), added_tokens: [{ id: 'x', content: '' }] }, /added_tokens\[0\]/);
  });
  it('rejects a byte-level tokenizer that would drop bytes or not decode them', () => {
    const json = byteLevelTokenizerJson() as { model: { vocab: Record<string, number> }; decoder: unknown };
    delete json.model.vocab['Ġ'];
    rejects(json, /byte 32 \(symbol "Ġ"\) is not in model\.vocab/);
    rejects({ ...byteLevelTokenizerJson(), decoder: null }, /needs a ByteLevel decoder/);
  });
  it('passes on the library\'s own complaints with the file name', () => {
    rejects({ ...byteLevelTokenizerJson(), pre_tokenizer: { type: 'Nonsense' } }, /Unknown PreTokenizer type: Nonsense/);
  });
  it('does not modify the caller\'s object', () => {
    // An unk_token: without one (and no byte-level pre-tokenizer or byte fallback) characters would be dropped, an error.
    const json = { model: { type: 'BPE', vocab: { a: 0 }, unk_token: 'a' } };
    loadTokenizer(json, 'x/tokenizer.json');
    assert.deepEqual(json, { model: { type: 'BPE', vocab: { a: 0 }, unk_token: 'a' } });
  });
});
