// Rows to token ids as training sees them (DESIGN.md "Tokens and lengths"): the prompt and the
// response are tokenized separately, the response right-truncated to maxResponseTokens and EOS
// appended (a response token in every loss), the prompt left-truncated to maxPromptTokens and, if
// needed, further so that prompt + response fits the model's n_positions. Truncations are counted.
//
// A prompt starts with the tokenizer's bosPrefix ([BOS] exactly when the model folder says so:
// tokenizer_config.json's add_bos_token, else tokenizer.json's post-processor; GPT-2: none), which
// left truncation keeps. The response is encoded as a continuation of the prompt (no SentencePiece
// dummy prefix). With `chatTemplate` (run config data.chatTemplate) the prompt is rendered with the
// model's chat template (model/chat-template.ts) and the result encoded as it is — the template writes
// the BOS itself, as in transformers' apply_chat_template — and the response's leading whitespace is
// dropped (the template's assistant header ends its own line). Every place that turns a row's prompt
// into ids (training, reference log-probs, value head, evaluation) goes through promptIds.

import { AlolError } from '../errors.js';
import { promptMessages, renderChat } from '../model/chat-template.js';
import type { TextTokenizer } from '../model/tokenizer.js';
import { DataError } from './jsonl.js';
import type { Row } from './rows.js';

export interface TokenizedRow {
  row: Row;
  prompt: number[];
  /** Response tokens followed by EOS. */
  response: number[];
}

export interface TokenizeReport {
  truncatedPrompts: number;
  truncatedResponses: number;
}

/** How a prompt is written for the model: as it is, or through the model's chat template (data.chatTemplate). */
export interface PromptFormat {
  chatTemplate?: boolean;
}

export interface Lengths extends PromptFormat {
  maxPromptTokens: number;
  maxResponseTokens: number;
  nPositions: number;
}

/** Where a prompt comes from, for errors (a dataset row's file and line). */
export interface PromptSource {
  file: string;
  line: number;
}

/** A prompt's ids split into the prefix left truncation keeps (BOS) and the body it cuts from. */
function promptParts(tok: TextTokenizer, text: string, format: PromptFormat, from?: PromptSource): { prefix: number[]; body: number[] } {
  if (!format.chatTemplate) return { prefix: [...tok.bosPrefix], body: tok.encode(text) };
  const template = tok.chatTemplate;
  if (!template) {
    const why = `data.chatTemplate is true, but the model's tokenizer (${tok.source}) has no chat template`;
    throw new AlolError('config', why, 'use a model folder with chat_template.jinja or a chat_template in tokenizer_config.json');
  }
  const messages = promptMessages(text);
  const at = from ? `${from.file}:${from.line}` : null;
  if (messages[messages.length - 1].role === 'assistant') {
    const why = 'the prompt ends inside an Assistant turn; a chat-formatted prompt must end with a Human turn or an empty "Assistant:"';
    if (from) throw new DataError(from.file, from.line, 'prompt', why);
    throw new AlolError('data', why);
  }
  const name = (id: number | null) => (id === null ? null : tok.idToToken(id));
  const rendered = renderChat(template, messages, {
    bosToken: name(tok.bosTokenId),
    eosToken: name(tok.eosTokenId),
    addGenerationPrompt: true,
    context: at ? `the prompt of ${at}` : undefined,
  });
  const ids = tok.encode(rendered);
  const hasBos = tok.bosTokenId !== null && ids[0] === tok.bosTokenId;
  return { prefix: hasBos ? ids.slice(0, 1) : [], body: hasBos ? ids.slice(1) : ids };
}

/**
 * A prompt's ids as the model reads it (BOS or chat template as above), left-truncated to `maxTokens`
 * keeping the BOS; `dropped` counts the tokens cut.
 */
export function promptIds(
  tok: TextTokenizer,
  text: string,
  format: PromptFormat,
  maxTokens: number,
  from?: PromptSource,
): { ids: number[]; dropped: number } {
  const { prefix, body } = promptParts(tok, text, format, from);
  const room = Math.max(0, maxTokens - prefix.length);
  if (body.length <= room) return { ids: [...prefix, ...body], dropped: 0 };
  return { ids: [...prefix, ...body.slice(body.length - room)], dropped: body.length - room };
}

/** A response's ids (no EOS): a continuation of its prompt. */
export function responseIds(tok: TextTokenizer, text: string, format: PromptFormat): number[] {
  return tok.encodeContinuation(format.chatTemplate ? text.trimStart() : text);
}

export function tokenizeRows(rows: readonly Row[], tok: TextTokenizer, lengths: Lengths): { rows: TokenizedRow[]; report: TokenizeReport } {
  const eos = tok.eosTokenId;
  if (eos === null) {
    const why = 'the tokenizer has no end-of-text token; training responses end with EOS';
    throw new AlolError('model', why, 'add <|endoftext|> to tokenizer.json', 'parenthesized');
  }
  const report: TokenizeReport = { truncatedPrompts: 0, truncatedResponses: 0 };
  // ids = sequence[:-1] must fit n_positions: at least one prompt token, then the response with EOS.
  const maxResponse = Math.min(lengths.maxResponseTokens, lengths.nPositions - 1);
  const out = rows.map((row) => {
    let response = responseIds(tok, row.response, lengths);
    if (response.length > maxResponse) {
      response = response.slice(0, maxResponse);
      report.truncatedResponses++;
    }
    response.push(eos);
    const budget = Math.min(lengths.maxPromptTokens, lengths.nPositions + 1 - response.length);
    const { ids, dropped } = promptIds(tok, row.prompt, lengths, budget, row);
    if (dropped > 0) report.truncatedPrompts++;
    // A model without BOS (GPT-2) reads an empty prompt after EOS.
    const prompt = ids.length === 0 ? [eos] : ids;
    return { row, prompt, response };
  });
  return { rows: out, report };
}
