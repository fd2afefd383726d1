// Rows to token ids as training sees them (DESIGN.md "Tokens and lengths"): the prompt and the
// response are tokenized separately, the response right-truncated to maxResponseTokens and EOS
// appended (a response token in every loss), the prompt left-truncated to maxPromptTokens and, if
// needed, further so that prompt + response fits the model's n_positions. Truncations are counted.

import { AlolError } from '../errors.js';
import type { Row } from './rows.js';
import type { TextTokenizer } from '../model/tokenizer.js';

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

export interface Lengths {
  maxPromptTokens: number;
  maxResponseTokens: number;
  nPositions: number;
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
    let response = tok.encode(row.response);
    if (response.length > maxResponse) {
      response = response.slice(0, maxResponse);
      report.truncatedResponses++;
    }
    response.push(eos);
    let prompt = tok.encode(row.prompt);
    const budget = Math.min(lengths.maxPromptTokens, lengths.nPositions + 1 - response.length);
    if (prompt.length > budget) {
      prompt = prompt.slice(prompt.length - budget);
      report.truncatedPrompts++;
    }
    if (prompt.length === 0) prompt = [eos]; // GPT-2 has no BOS: an empty prompt is read after EOS
    return { row, prompt, response };
  });
  return { rows: out, report };
}
