// Text <-> token ids, loaded from Hugging Face tokenizer.json files: byte-level BPE (GPT-2, Llama 3,
// Qwen2) and SentencePiece-style BPE with byte fallback (Llama 2, Mistral, TinyLlama: a "▁" for
// each space, a dummy prefix "▁" before the text, <0x..> byte tokens for what the vocabulary lacks).
// The BPE itself is @huggingface/tokenizers (the pure-JS tokenizer behind transformers.js): a
// pretrained model and a model trained here from scratch (256 byte tokens + <|endoftext|>, no merges,
// see byteLevelTokenizerJson) are read from their tokenizer.json by the same code, so every model
// folder is self-describing. This file checks the JSON, loads it, and pins the library's options that
// would otherwise change text: it never adds special tokens itself (no BOS, no post-processor, no
// space cleanup); what a prompt starts with is `bosPrefix`, decided from the folder's files
// (TokenizerSettings, read by hf-files.ts) and added by data/tokenize.ts.
//
// Prompt and response are tokenized separately (DESIGN.md "Tokens and lengths"), so a response is
// encoded as a continuation: without the dummy prefix a SentencePiece-style tokenizer puts before a
// whole text, and decoded without dropping its leading space (encodeContinuation, decodeContinuation).

import { AlolError } from '../errors.js';
import { ModelFileError } from './safetensors.js';
import {
  BYTE_SYMBOLS,
  type CheckedTokenizer,
  checkNothingDropped,
  checkTokenizerJson,
  cloneJson,
  continuationJson,
  isId,
  isRecord,
} from './tokenizer-json.js';

/** A tokenizer that maps text to ids exactly and back. */
export interface TextTokenizer {
  /** Ids of the text as a whole text, no special tokens added (a special token written in the text is one id). */
  encode(text: string): number[];
  /**
   * Ids of text that continues earlier text (a response after its prompt): as encode, but without the
   * dummy prefix a SentencePiece-style tokenizer adds before a whole text. Byte-level BPE: encode.
   */
  encodeContinuation(text: string): number[];
  /** Text of the ids as a whole text (a SentencePiece dummy-prefix space dropped), special tokens as their text; [] -> ''. */
  decode(ids: readonly number[]): string;
  /** Text the ids add after earlier text (leading space kept): decodeContinuation(encodeContinuation(t)) === t. */
  decodeContinuation(ids: readonly number[]): string;
  /** Embedding rows needed: largest id + 1, added tokens included. */
  readonly vocabSize: number;
  /**
   * The EOS appended to training responses: tokenizer_config.json's eos_token, else generation_config's
   * (first) eos_token_id, else `<|endoftext|>` or a conventional EOS spelling among the special added tokens; null if none.
   */
  readonly eosTokenId: number | null;
  /** Every id that ends a generation: eosTokenId first, then generation_config.json's eos_token_id (one or a list). */
  readonly eosTokenIds: readonly number[];
  /** The BOS token the folder names (tokenizer_config.json's bos_token, else the post-processor's), or null. */
  readonly bosTokenId: number | null;
  /**
   * Ids every prompt starts with: [BOS] when the folder says so (tokenizer_config.json's add_bos_token; when
   * that is absent, the special tokens tokenizer.json's TemplateProcessing post-processor puts before the text), else [].
   */
  readonly bosPrefix: readonly number[];
  /** The model's chat template (chat_template.jinja, or tokenizer_config.json's chat_template), or null. */
  readonly chatTemplate: ChatTemplateSource | null;
  /** Id of a vocabulary symbol (byte-level symbols spell a space as 'Ġ'), or null. */
  tokenToId(token: string): number | null;
  /** The symbol of an id, or null. */
  idToToken(id: number): string | null;
  /** The tokenizer.json object, to save beside the model. */
  toJSON(): unknown;
  /** Where it was read from (errors name it). */
  readonly source: string;
}

/** A chat template's Jinja text and the file it came from (errors name it). */
export interface ChatTemplateSource {
  text: string;
  file: string;
}

/**
 * What the files beside tokenizer.json say about special tokens (hf-files.ts reads them). Absent
 * files leave every field at its "unsaid" value, and the tokenizer then behaves as tokenizer.json alone.
 */
export interface TokenizerSettings {
  /** tokenizer_config.json's add_bos_token; null when it does not say (the post-processor decides). */
  addBos: boolean | null;
  /** tokenizer_config.json's bos_token / eos_token (their text), or null. */
  bosToken: string | null;
  eosToken: string | null;
  /** generation_config.json's eos_token_id as a list (config.json's when there is no generation_config.json). */
  generationEos: readonly number[];
  chatTemplate: ChatTemplateSource | null;
  /** Where each setting was read, for errors: the tokenizer_config.json and generation_config.json paths. */
  tokenizerConfigFile: string;
  generationConfigFile: string;
}

export const NO_SETTINGS: TokenizerSettings = {
  addBos: null,
  bosToken: null,
  eosToken: null,
  generationEos: [],
  chatTemplate: null,
  tokenizerConfigFile: 'tokenizer_config.json',
  generationConfigFile: 'generation_config.json',
};

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
/** EOS spellings recognised among special added tokens when there is no `<|endoftext|>` and the folder names
 * none (tokenizer.json does not say which token is EOS; tokenizer_config.json does, when there is one). */
const EOS_SPELLINGS = ['<|end_of_text|>', '</s>', '<eos>'];

/**
 * The tokenizer of a tokenizer.json object; `settings` (from the folder's other files, hf-files.ts)
 * decide BOS, EOS and the chat template. Every problem is an error naming `source` or the settings' file.
 */
export function loadTokenizer(json: unknown, source: string, settings: TokenizerSettings = NO_SETTINGS): TextTokenizer {
  const fail = (what: string): never => {
    throw new Error(`${source}: invalid or unsupported tokenizer.json: ${what}`);
  };
  const checked = checkTokenizerJson(cloneJson(json, fail), fail);
  const make = (j: Record<string, unknown>): HfTokenizer => {
    try {
      // The second argument is tokenizer_config.json; the options it could set are pinned per call below.
      // No post-processor: the special tokens a prompt starts with are bosPrefix, added by the caller.
      return new (hfTokenizerClass())({ ...structuredClone(j), post_processor: null }, {});
    } catch (e) {
      return fail(e instanceof Error ? e.message : String(e));
    }
  };
  const hf = make(checked.json);
  checkNothingDropped(checked.json, fail);
  // The same tokenizer without its dummy prefix, for continuations (the same object when it has none).
  const cont = continuationJson(checked.json);
  const hfCont = cont.changed ? make(cont.json) : hf;
  const { vocabSize } = checked;
  const special = resolveSpecialTokens(hf, checked, settings, source);
  const checkIds = (ids: readonly number[]): void => {
    for (const id of ids) {
      if (!Number.isInteger(id) || hf.id_to_token(id) === undefined) {
        throw new RangeError(`token id ${id} is not in the vocabulary of ${source} (size ${vocabSize})`);
      }
    }
  };
  // clean_up_tokenization_spaces defaults to true in the library and would turn " ," into ",".
  const options = { skip_special_tokens: false, clean_up_tokenization_spaces: false };
  return {
    source,
    vocabSize,
    ...special,
    chatTemplate: settings.chatTemplate,
    encode: (text) => hf.encode(text, { add_special_tokens: false }).ids,
    encodeContinuation: (text) => hfCont.encode(text, { add_special_tokens: false }).ids,
    decode(ids) {
      if (ids.length === 0) return ''; // the library throws on []
      checkIds(ids);
      return hf.decode([...ids], options);
    },
    decodeContinuation(ids) {
      if (ids.length === 0) return '';
      checkIds(ids);
      return hfCont.decode([...ids], options);
    },
    tokenToId: (token) => hf.token_to_id(token) ?? null,
    idToToken: (id) => hf.id_to_token(id) ?? null,
    toJSON: () => checked.json,
  };
}

type SpecialIds = Pick<TextTokenizer, 'eosTokenId' | 'eosTokenIds' | 'bosTokenId' | 'bosPrefix'>;

/** BOS and EOS as the settings and tokenizer.json say (TextTokenizer's fields say which wins). */
function resolveSpecialTokens(hf: HfTokenizer, checked: CheckedTokenizer, settings: TokenizerSettings, source: string): SpecialIds {
  const idOf = (token: string, key: string): number => {
    const id = hf.token_to_id(token);
    if (id === undefined) {
      const why = `${key} ${JSON.stringify(token)} is not a token of ${source}`;
      throw new ModelFileError('bad_config', `${settings.tokenizerConfigFile}: ${why}`);
    }
    return id;
  };
  for (const id of settings.generationEos) {
    if (hf.id_to_token(id) === undefined) {
      const file = settings.generationConfigFile;
      const why = `eos_token_id ${id} is not in the vocabulary of ${source} (size ${checked.vocabSize})`;
      throw new ModelFileError('bad_config', `${file}: ${why}`);
    }
  }
  const template = templatePrefix(checked.json.post_processor, hf, source);
  const bosTokenId = settings.bosToken !== null ? idOf(settings.bosToken, 'bos_token') : template.length === 1 ? template[0] : null;
  let bosPrefix: number[];
  if (settings.addBos === true) {
    if (bosTokenId === null) {
      throw new ModelFileError('bad_config', `${settings.tokenizerConfigFile}: add_bos_token is true but no bos_token is named`);
    }
    bosPrefix = [bosTokenId];
  } else {
    bosPrefix = settings.addBos === false ? [] : template;
  }
  const eosTokenId = settings.eosToken !== null
    ? idOf(settings.eosToken, 'eos_token')
    : settings.generationEos[0] ?? hf.token_to_id(END_OF_TEXT) ?? eosAddedToken(checked.addedTokens);
  const eosTokenIds = [...new Set([...(eosTokenId === null ? [] : [eosTokenId]), ...settings.generationEos])];
  return { eosTokenId, eosTokenIds, bosTokenId, bosPrefix };
}

/**
 * The ids a TemplateProcessing post-processor (alone or in a Sequence) puts before a single text
 * (`$A`): Llama 2's and Llama 3's BOS. Special tokens after the text are not read (a prompt never ends with them).
 */
function templatePrefix(post: unknown, hf: HfTokenizer, source: string): number[] {
  if (!isRecord(post)) return [];
  if (post.type === 'Sequence' && Array.isArray(post.processors)) {
    const found = post.processors.map((p) => templatePrefix(p, hf, source)).filter((p) => p.length > 0);
    return found[0] ?? [];
  }
  if (post.type !== 'TemplateProcessing' || !Array.isArray(post.single)) return [];
  const prefix: number[] = [];
  for (const item of post.single as unknown[]) {
    if (!isRecord(item) || !isRecord(item.SpecialToken)) break;
    const name = item.SpecialToken.id;
    const table = isRecord(post.special_tokens) ? post.special_tokens : {};
    const entry = typeof name === 'string' ? table[name] : undefined;
    const byName = typeof name === 'string' ? hf.token_to_id(name) : undefined;
    const ids: unknown[] = isRecord(entry) && Array.isArray(entry.ids) ? entry.ids : [byName];
    const known = ids.filter(isId);
    if (known.length === 0 || known.length !== ids.length) {
      throw new Error(`${source}: post_processor names special token ${JSON.stringify(name)}, which has no id in the vocabulary`);
    }
    prefix.push(...known);
  }
  return prefix;
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

function eosAddedToken(addedTokens: CheckedTokenizer['addedTokens']): number | null {
  for (const spelling of EOS_SPELLINGS) {
    const t = addedTokens.find((a) => a.special && a.content === spelling);
    if (t) return t.id;
  }
  return null;
}
