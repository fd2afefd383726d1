// Checks and rewrites of tokenizer.json objects for tokenizer.ts: what @huggingface/tokenizers would
// crash on obscurely or get silently wrong is an error naming the key, and the continuation variant of a
// tokenizer (no dummy prefix) is derived here. Pure functions over the parsed JSON.

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes are
// shifted to U+0100.. in byte order (so space 0x20 is 'Ġ' U+0120 and newline 0x0A is 'Ċ').
export const BYTE_SYMBOLS: readonly string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let shifted = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : 256 + shifted++));
})();

export interface CheckedTokenizer {
  json: Record<string, unknown>;
  vocabSize: number;
  addedTokens: { id: number; content: string; special: boolean }[];
}

export function cloneJson(json: unknown, fail: (what: string) => never): unknown {
  try {
    return structuredClone(json);
  } catch {
    return fail('not plain JSON data');
  }
}

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/** <0x00> .. <0xFF>: a SentencePiece-style vocabulary's byte tokens, for what it has no piece for. */
const BYTE_FALLBACK_TOKENS: readonly string[] = Array.from(
  { length: 256 },
  (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`,
);

/** Calls `f` on `c` and on each member of a Sequence in it (normalizers, pre-tokenizers, decoders, processors). */
function forEachComponent(c: unknown, f: (c: Record<string, unknown>) => void): void {
  if (!isRecord(c)) return;
  f(c);
  for (const key of ['normalizers', 'pretokenizers', 'decoders', 'processors']) {
    const parts = c[key];
    if (c.type === 'Sequence' && Array.isArray(parts)) parts.forEach((p) => forEachComponent(p, f));
  }
}

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
export function checkTokenizerJson(json: unknown, fail: (what: string) => never): CheckedTokenizer {
  if (!isRecord(json)) return fail(`expected a JSON object, got ${Array.isArray(json) ? 'an array' : typeof json}`);
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    if (json[key] !== undefined && json[key] !== null && !isRecord(json[key])) fail(`"${key}" must be an object or null`);
  }
  const model = json.model;
  if (!isRecord(model)) return fail('"model" must be an object');
  if (model.type !== 'BPE') {
    const supported = '"BPE" (byte-level BPE or SentencePiece-style BPE with byte fallback)';
    return fail(`model.type ${JSON.stringify(model.type)} is not supported: expected ${supported}`);
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

  const byteLevel = hasComponent(json.pre_tokenizer, 'ByteLevel');
  if (model.byte_fallback === true) {
    const missing = BYTE_FALLBACK_TOKENS.findIndex((t) => !isId(vocab[t]));
    if (missing >= 0) fail(`model.byte_fallback is true, but byte token ${BYTE_FALLBACK_TOKENS[missing]} is not in model.vocab`);
  }
  const unk = model.unk_token;
  if (unk !== undefined && unk !== null) {
    const known = typeof unk === 'string' && (isId(vocab[unk]) || addedTokens.some((t) => t.content === unk));
    if (!known) fail(`model.unk_token ${JSON.stringify(unk)} is not in model.vocab`);
  }
  forEachComponent(json.pre_tokenizer, (c) => {
    if (c.type !== 'Metaspace') return;
    if (c.split === true) fail('a Metaspace pre-tokenizer with "split": true is not supported (the JS tokenizer does not split at it)');
    // The library reads only prepend_scheme; older files say add_prefix_space (false = never).
    if (c.prepend_scheme === undefined && c.add_prefix_space === false) c.prepend_scheme = 'never';
  });
  if (byteLevel) {
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

/**
 * After the library has accepted the file (its own complaints come first): a BPE that would drop the
 * characters its vocabulary lacks — no ByteLevel pre-tokenizer, no byte fallback, no unk_token — is refused.
 */
export function checkNothingDropped(json: Record<string, unknown>, fail: (what: string) => never): void {
  const model = isRecord(json.model) ? json.model : {};
  if (hasComponent(json.pre_tokenizer, 'ByteLevel') || model.byte_fallback === true) return;
  if (model.unk_token !== undefined && model.unk_token !== null) return;
  const needs = 'expected a ByteLevel pre-tokenizer, model.byte_fallback true or a model.unk_token';
  fail(`characters outside model.vocab would be dropped: ${needs}`);
}

/**
 * tokenizer.json for continuations: the dummy prefix removed — a Prepend normalizer (Llama 2's legacy
 * "▁" before every text), a Metaspace pre-tokenizer's prepend_scheme, ByteLevel's add_prefix_space —
 * and the decoding steps that drop it again (Strip of a leading space, the Metaspace decoder's first-space cut).
 */
export function continuationJson(json: Record<string, unknown>): { json: Record<string, unknown>; changed: boolean } {
  const copy = structuredClone(json);
  let changed = false;
  const drop = (parts: unknown[], test: (p: Record<string, unknown>) => boolean): unknown[] => {
    const kept = parts.filter((p) => !(isRecord(p) && test(p)));
    if (kept.length !== parts.length) changed = true;
    return kept;
  };
  const isPrepend = (p: Record<string, unknown>) => p.type === 'Prepend';
  if (isRecord(copy.normalizer)) {
    if (isPrepend(copy.normalizer)) {
      copy.normalizer = null;
      changed = true;
    } else if (copy.normalizer.type === 'Sequence' && Array.isArray(copy.normalizer.normalizers)) {
      copy.normalizer.normalizers = drop(copy.normalizer.normalizers, isPrepend);
    }
  }
  forEachComponent(copy.pre_tokenizer, (c) => {
    if (c.type === 'Metaspace' && c.prepend_scheme !== 'never') {
      c.prepend_scheme = 'never';
      c.add_prefix_space = false;
      changed = true;
    }
    if (c.type === 'ByteLevel' && c.add_prefix_space === true) {
      c.add_prefix_space = false;
      changed = true;
    }
  });
  const isLeadingStrip = (p: Record<string, unknown>) => p.type === 'Strip' && typeof p.start === 'number' && p.start > 0;
  const metaspaceAsReplace = (p: unknown): unknown => {
    if (!isRecord(p) || p.type !== 'Metaspace') return p;
    changed = true;
    return { type: 'Replace', pattern: { String: typeof p.replacement === 'string' ? p.replacement : '▁' }, content: ' ' };
  };
  if (isRecord(copy.decoder) && copy.decoder.type === 'Sequence' && Array.isArray(copy.decoder.decoders)) {
    copy.decoder.decoders = drop(copy.decoder.decoders, isLeadingStrip).map(metaspaceAsReplace);
  } else {
    copy.decoder = metaspaceAsReplace(copy.decoder);
  }
  return { json: copy, changed };
}
