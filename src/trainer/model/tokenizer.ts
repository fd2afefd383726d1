// Text <-> token ids, loaded from Hugging Face tokenizer.json files (GPT-2 style byte-level BPE).
// The BPE itself is @huggingface/tokenizers (the pure-JS tokenizer behind transformers.js): a
// pretrained GPT-2 and a model trained here from scratch (256 byte tokens + <|endoftext|>, no
// merges, see byteLevelTokenizerJson) are both read from their tokenizer.json by the same code, so
// every model folder is self-describing. This file checks the JSON, loads it, and pins the
// library's options that would otherwise change text (no special tokens added, no space cleanup).

import { AlolError } from '../errors.js';

/** A tokenizer that maps text to ids exactly and back. */
export interface TextTokenizer {
  /** Ids of the exact text, no special tokens added (a special token written in the text is one id). */
  encode(text: string): number[];
  /** Text of the ids, special tokens included as their text; [] -> ''. Unknown ids throw. */
  decode(ids: readonly number[]): string;
  /** Embedding rows needed: largest id + 1, added tokens included. */
  readonly vocabSize: number;
  /** `<|endoftext|>`, else a conventional EOS spelling among the special added tokens; null if none. */
  readonly eosTokenId: number | null;
  /** Id of a vocabulary symbol (byte-level symbols spell a space as 'Ġ'), or null. */
  tokenToId(token: string): number | null;
  /** The tokenizer.json object, to save beside the model. */
  toJSON(): unknown;
}

/** The subset of the library's Tokenizer used here. */
interface HfTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
  decode(ids: number[], options: { skip_special_tokens: boolean; clean_up_tokenization_spaces: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
}
type HfTokenizerClass = new (tokenizerJson: object, tokenizerConfig: object) => HfTokenizer;

// The package is ESM-first with a CommonJS build under its "require" export, which is what this
// CommonJS project gets. `import` is refused by tsc under module Node16 (TS1479), and the package's
// .d.ts files use extensionless relative imports that Node16 resolution cannot follow (its types
// come out as `any`), so the module is required and the methods used are typed above.
function hfTokenizerClass(): HfTokenizerClass {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod: unknown = require('@huggingface/tokenizers');
  const cls = isRecord(mod) ? mod.Tokenizer : undefined;
  if (typeof cls !== 'function') {
    const e = new AlolError('install', '@huggingface/tokenizers has no Tokenizer class', 'reinstall dependencies (npm ci)');
    e.message = '@huggingface/tokenizers has no Tokenizer class: hint: reinstall dependencies (npm ci)'; // its text before the hint field
    throw e;
  }
  return cls as HfTokenizerClass;
}

export const END_OF_TEXT = '<|endoftext|>';
/** EOS spellings recognised among special added tokens when there is no `<|endoftext|>` (tokenizer.json
 * does not say which token is EOS; tokenizer_config.json does, and is not read here). */
const EOS_SPELLINGS = ['<|end_of_text|>', '</s>', '<eos>'];

export function loadTokenizer(json: unknown, source: string): TextTokenizer {
  const fail = (what: string): never => {
    throw new Error(`${source}: invalid or unsupported tokenizer.json: ${what}`);
  };
  const checked = checkTokenizerJson(cloneJson(json, fail), fail);
  let hf: HfTokenizer;
  try {
    // The second argument is tokenizer_config.json; the options it could set are pinned per call below.
    hf = new (hfTokenizerClass())(structuredClone(checked.json), {});
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
  const { vocabSize } = checked;
  const eosTokenId = hf.token_to_id(END_OF_TEXT) ?? eosAddedToken(checked.addedTokens);
  return {
    vocabSize,
    eosTokenId,
    encode: (text) => hf.encode(text, { add_special_tokens: false }).ids,
    decode(ids) {
      if (ids.length === 0) return ''; // the library throws on []
      for (const id of ids) {
        if (!Number.isInteger(id) || hf.id_to_token(id) === undefined) {
          throw new RangeError(`token id ${id} is not in the vocabulary of ${source} (size ${vocabSize})`);
        }
      }
      // clean_up_tokenization_spaces defaults to true in the library and would turn " ," into ",".
      return hf.decode([...ids], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    },
    tokenToId: (token) => hf.token_to_id(token) ?? null,
    toJSON: () => checked.json,
  };
}

/** tokenizer.json of a byte-level tokenizer: byte b is id b, `<|endoftext|>` is 256, no merges. */
export function byteLevelTokenizerJson(): object {
  const vocab: Record<string, number> = {};
  BYTE_SYMBOLS.forEach((symbol, b) => (vocab[symbol] = b));
  vocab[END_OF_TEXT] = 256;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: 256, content: END_OF_TEXT, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: [],
    },
  };
}

export function byteLevelTokenizer(): TextTokenizer {
  return loadTokenizer(byteLevelTokenizerJson(), '<built-in byte-level tokenizer>');
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes are
// shifted to U+0100.. in byte order (so space 0x20 is 'Ġ' U+0120 and newline 0x0A is 'Ċ').
const BYTE_SYMBOLS: readonly string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let shifted = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : 256 + shifted++));
})();

// --- checking tokenizer.json ------------------------------------------------------------------

interface CheckedTokenizer {
  json: Record<string, unknown>;
  vocabSize: number;
  addedTokens: { id: number; content: string; special: boolean }[];
}

function cloneJson(json: unknown, fail: (what: string) => never): unknown {
  try {
    return structuredClone(json);
  } catch {
    return fail('not plain JSON data');
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/** The component of `type` in `c` or in a Sequence of components, if any. */
function hasComponent(c: unknown, type: string): boolean {
  if (!isRecord(c)) return false;
  if (c.type === type) return true;
  const parts = c.pretokenizers ?? c.decoders;
  return c.type === 'Sequence' && Array.isArray(parts) && parts.some((p) => hasComponent(p, type));
}

// Checks what the library would otherwise crash on obscurely (missing keys, merges) or get
// silently wrong: with a ByteLevel pre-tokenizer, a byte missing from the vocabulary would be
// dropped from encodings (no unk_token in GPT-2), and without a ByteLevel decoder the symbols
// would come back as 'Ġ' instead of spaces.
function checkTokenizerJson(json: unknown, fail: (what: string) => never): CheckedTokenizer {
  if (!isRecord(json)) return fail(`expected a JSON object, got ${Array.isArray(json) ? 'an array' : typeof json}`);
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    if (json[key] !== undefined && json[key] !== null && !isRecord(json[key])) fail(`"${key}" must be an object or null`);
  }
  const model = json.model;
  if (!isRecord(model)) return fail('"model" must be an object');
  if (model.type !== 'BPE') {
    return fail(`model.type ${JSON.stringify(model.type)} is not supported: expected "BPE" (GPT-2 style byte-level BPE)`);
  }
  const vocab = model.vocab;
  if (!isRecord(vocab)) return fail('model.vocab must be an object of token -> id');
  let maxId = -1;
  for (const [token, id] of Object.entries(vocab)) {
    if (!isId(id)) return fail(`model.vocab[${JSON.stringify(token)}] must be a non-negative integer, got ${JSON.stringify(id)}`);
    maxId = Math.max(maxId, id);
  }
  const merges: unknown = model.merges ?? [];
  const isMerge = (m: unknown) =>
    typeof m === 'string' ? m.split(' ').length === 2 : Array.isArray(m) && m.length === 2 && m.every((s) => typeof s === 'string');
  if (!Array.isArray(merges)) return fail('model.merges must be an array');
  const badMerge = merges.findIndex((m) => !isMerge(m));
  if (badMerge >= 0) return fail(`model.merges[${badMerge}] must be "a b" or ["a", "b"], got ${JSON.stringify(merges[badMerge])}`);

  const added: unknown = json.added_tokens ?? [];
  if (!Array.isArray(added)) return fail('"added_tokens" must be an array');
  const addedTokens = added.map((t: unknown, i) => {
    if (!isRecord(t) || !isId(t.id) || typeof t.content !== 'string' || t.content === '') {
      return fail(`added_tokens[${i}] must have an integer "id" and a non-empty "content"`);
    }
    maxId = Math.max(maxId, t.id);
    return { id: t.id, content: t.content, special: t.special === true };
  });
  if (maxId < 0) fail('the vocabulary is empty');

  if (hasComponent(json.pre_tokenizer, 'ByteLevel')) {
    const missing = BYTE_SYMBOLS.findIndex((s) => !isId(vocab[s]));
    if (missing >= 0) {
      fail(`ByteLevel pre-tokenizer, but byte ${missing} (symbol ${JSON.stringify(BYTE_SYMBOLS[missing])}) is not in model.vocab`);
    }
    if (!hasComponent(json.decoder, 'ByteLevel')) fail('ByteLevel pre-tokenizer needs a ByteLevel decoder');
  }
  // The library requires these keys (a null component is the same as none); `json` is our copy.
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) json[key] ??= null;
  json.added_tokens = added;
  model.merges = merges;
  return { json, vocabSize: maxId + 1, addedTokens };
}

function eosAddedToken(addedTokens: CheckedTokenizer['addedTokens']): number | null {
  for (const spelling of EOS_SPELLINGS) {
    const t = addedTokens.find((a) => a.special && a.content === spelling);
    if (t) return t.id;
  }
  return null;
}
