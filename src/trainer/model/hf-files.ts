// The tokenizer side of a Hugging Face folder beyond tokenizer.json: tokenizer_config.json (bos/eos/pad
// tokens, add_bos_token, chat_template, model_max_length, tokenizer_class), generation_config.json
// (eos_token_id: one id or a list; bos_token_id) and chat_template.jinja. Read when a folder loads and
// turned into TokenizerSettings (which token a prompt starts with, which ids end a generation, the chat
// template); written beside every folder this project saves, so the folder is complete for transformers
// and transformers.js: the source folder's files carried over as they were, with the keys they lacked
// filled in from the tokenizer, or built from the tokenizer when the source had none (a model made here).

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelFileError } from './safetensors.js';
import { type ChatTemplateSource, type TextTokenizer, type TokenizerSettings, loadTokenizer } from './tokenizer.js';

export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
export const GENERATION_CONFIG_FILE = 'generation_config.json';
export const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

/** The files as read (null where the folder has none); `dir` is null for a tokenizer made here. */
export interface TokenizerFiles {
  dir: string | null;
  tokenizerConfig: Record<string, unknown> | null;
  generationConfig: Record<string, unknown> | null;
  chatTemplateJinja: string | null;
  /** config.json's eos_token_id: what ends a generation when there is no generation_config.json (as in transformers). */
  modelEos: unknown;
}

export const NO_TOKENIZER_FILES: TokenizerFiles = {
  dir: null,
  tokenizerConfig: null,
  generationConfig: null,
  chatTemplateJinja: null,
  modelEos: undefined,
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

async function readOptional(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function readJsonObject(file: string): Promise<Record<string, unknown> | null> {
  const text = await readOptional(file);
  if (text === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelFileError('bad_config', `${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!isRecord(json)) throw new ModelFileError('bad_config', `${file}: expected a JSON object, got ${show(json)}`);
  return json;
}

/** The folder's tokenizer files (each optional); `modelConfig` is its config.json. */
export async function readTokenizerFiles(dir: string, modelConfig: Record<string, unknown>): Promise<TokenizerFiles> {
  return {
    dir,
    tokenizerConfig: await readJsonObject(path.join(dir, TOKENIZER_CONFIG_FILE)),
    generationConfig: await readJsonObject(path.join(dir, GENERATION_CONFIG_FILE)),
    chatTemplateJinja: await readOptional(path.join(dir, CHAT_TEMPLATE_FILE)),
    modelEos: modelConfig.eos_token_id,
  };
}

const fileIn = (files: TokenizerFiles, name: string): string => (files.dir === null ? name : path.join(files.dir, name));

/** A special token as tokenizer_config.json writes it: its text, or an AddedToken object with `content`; null when absent. */
function tokenText(c: Record<string, unknown>, key: string, file: string): string | null {
  const v = c[key];
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v.content === 'string') return v.content;
  throw new ModelFileError('bad_config', `${file}: ${key} must be a token's text or an object with "content", got ${show(v)}`);
}

/** eos_token_id as a list: a number, a list of numbers, or absent ([]). */
function idList(v: unknown, file: string, key: string): number[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const id of list) {
    if (!Number.isSafeInteger(id) || (id as number) < 0) {
      throw new ModelFileError('bad_config', `${file}: ${key} must be a token id or a list of token ids, got ${show(v)}`);
    }
  }
  return list as number[];
}

/** The chat template: chat_template.jinja, else tokenizer_config.json's chat_template (a text, or named templates: "default"). */
function chatTemplateOf(files: TokenizerFiles, configFile: string): ChatTemplateSource | null {
  if (files.chatTemplateJinja !== null) return { text: files.chatTemplateJinja, file: fileIn(files, CHAT_TEMPLATE_FILE) };
  const t = files.tokenizerConfig?.chat_template;
  if (t === undefined || t === null) return null;
  const file = `${configFile} (chat_template)`;
  if (typeof t === 'string') return { text: t, file };
  if (Array.isArray(t)) {
    const named = t.find((x: unknown) => isRecord(x) && x.name === 'default');
    if (isRecord(named) && typeof named.template === 'string') {
      return { text: named.template, file: `${configFile} (chat_template "default")` };
    }
  }
  const expected = 'a template\'s text or a list of {name, template} with one named "default"';
  throw new ModelFileError('bad_config', `${configFile}: chat_template must be ${expected}, got ${show(t).slice(0, 80)}`);
}

/** What the files say about BOS, EOS and the chat template (TokenizerSettings); malformed keys are errors naming file and key. */
export function tokenizerSettings(files: TokenizerFiles): TokenizerSettings {
  const configFile = fileIn(files, TOKENIZER_CONFIG_FILE);
  const generationFile = fileIn(files, GENERATION_CONFIG_FILE);
  const c = files.tokenizerConfig ?? {};
  const addBos = c.add_bos_token ?? null;
  if (addBos !== null && typeof addBos !== 'boolean') {
    throw new ModelFileError('bad_config', `${configFile}: add_bos_token must be true or false, got ${show(addBos)}`);
  }
  // transformers builds the generation config from config.json when generation_config.json is absent.
  const generationEos = files.generationConfig
    ? idList(files.generationConfig.eos_token_id, generationFile, 'eos_token_id')
    : idList(files.modelEos, files.dir === null ? 'config.json' : path.join(files.dir, 'config.json'), 'eos_token_id');
  return {
    addBos,
    bosToken: tokenText(c, 'bos_token', configFile),
    eosToken: tokenText(c, 'eos_token', configFile),
    generationEos,
    chatTemplate: chatTemplateOf(files, configFile),
    tokenizerConfigFile: configFile,
    generationConfigFile: files.generationConfig ? generationFile : path.join(files.dir ?? '', 'config.json'),
  };
}

/** The tokenizer of a folder as loaded: tokenizer.json read with what its other files say. */
export function folderTokenizer(m: { dir: string; tokenizerJson: unknown; tokenizerFiles: TokenizerFiles }): TextTokenizer {
  return loadTokenizer(m.tokenizerJson, path.join(m.dir, 'tokenizer.json'), tokenizerSettings(m.tokenizerFiles));
}

/** tokenizer.json's model type, for tokenizer_class when the source folder names none. */
function isSentencePieceStyle(json: unknown): boolean {
  const model = isRecord(json) && isRecord(json.model) ? json.model : {};
  return model.byte_fallback === true;
}

/**
 * The files to write beside a saved model: tokenizer_config.json and generation_config.json (the
 * source's keys kept, missing ones filled in from the tokenizer), and chat_template.jinja when the
 * source had one. `modelConfig` is the config.json being written (model_type, positions, bos/eos ids).
 */
export function tokenizerFolderFiles(
  tokenizerJson: unknown,
  files: TokenizerFiles,
  modelConfig: Record<string, unknown>,
  where: string,
): Record<string, string> {
  const tok = loadTokenizer(tokenizerJson, where, tokenizerSettings(files));
  const text = (id: number | null | undefined): string | null => (typeof id === 'number' ? tok.idToToken(id) : null);
  const configBos = typeof modelConfig.bos_token_id === 'number' ? modelConfig.bos_token_id : null;
  const eos = text(tok.eosTokenId);
  const bos = text(tok.bosTokenId ?? configBos);
  const positions = modelConfig.n_positions ?? modelConfig.max_position_embeddings;
  const unk = isRecord(tokenizerJson) && isRecord(tokenizerJson.model) ? tokenizerJson.model.unk_token : undefined;
  const built: Record<string, unknown> = {
    tokenizer_class: modelConfig.model_type === 'gpt2' ? 'GPT2Tokenizer'
      : isSentencePieceStyle(tokenizerJson) ? 'LlamaTokenizer' : 'PreTrainedTokenizerFast',
    bos_token: bos,
    eos_token: eos,
    unk_token: typeof unk === 'string' ? unk : modelConfig.model_type === 'gpt2' ? eos : null,
    pad_token: eos,
    add_bos_token: tok.bosPrefix.length > 0,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    ...(typeof positions === 'number' ? { model_max_length: positions } : {}),
  };
  const tokenizerConfig = { ...built, ...(files.tokenizerConfig ?? {}) };
  // Written explicitly: this project reads add_bos_token before the post-processor, and so will the next reader.
  tokenizerConfig.add_bos_token = tok.bosPrefix.length > 0;
  const eosIds = tok.eosTokenIds;
  const bosId = tok.bosTokenId ?? configBos;
  const generationConfig = files.generationConfig ?? {
    ...(bosId !== null ? { bos_token_id: bosId } : {}),
    ...(eosIds.length > 0 ? { eos_token_id: eosIds.length === 1 ? eosIds[0] : [...eosIds] } : {}),
  };
  const out: Record<string, string> = {
    [TOKENIZER_CONFIG_FILE]: `${JSON.stringify(tokenizerConfig, null, 2)}\n`,
    [GENERATION_CONFIG_FILE]: `${JSON.stringify(generationConfig, null, 2)}\n`,
  };
  if (files.chatTemplateJinja !== null) out[CHAT_TEMPLATE_FILE] = files.chatTemplateJinja;
  return out;
}
