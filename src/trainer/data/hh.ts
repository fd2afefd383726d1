// Anthropic HH-RLHF transcripts ("\n\nHuman: ...\n\nAssistant: ...") split into prompt and response
// (DESIGN.md "Pairs for DPO"): the prompt is the transcript up to and including the LAST
// "\n\nAssistant:", the response is the rest, leading space kept (it is part of what the model says).

import { DataError } from './jsonl.js';

export const ASSISTANT_TURN = '\n\nAssistant:';

export interface HhWhere {
  file: string;
  line: number;
  /** The record's field holding the transcript ('chosen' or 'rejected'). */
  field: string;
}

/** Splits one transcript at its last Assistant turn; a transcript without one is a DataError naming `where`. */
export function parseHhTranscript(text: string, where: HhWhere): { prompt: string; response: string } {
  const at = text.lastIndexOf(ASSISTANT_TURN);
  if (at < 0) {
    const why = `transcript has no ${JSON.stringify(ASSISTANT_TURN)} turn, so there is no response to split off`;
    throw new DataError(where.file, where.line, where.field, why);
  }
  const cut = at + ASSISTANT_TURN.length;
  return { prompt: text.slice(0, cut), response: text.slice(cut) };
}
