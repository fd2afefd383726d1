// Anthropic HH-RLHF transcripts ("\n\nHuman: ...\n\nAssistant: ...") split into prompt and response
// (DESIGN.md "Pairs for DPO"): the prompt is the transcript up to and including the LAST
// "\n\nAssistant:", the response is the rest, leading space kept (it is part of what the model says).

import { NO_ASSISTANT_TURN, splitHhTranscript } from '../../protocol/rows.js';
import { DataError } from './jsonl.js';

export interface HhWhere {
  file: string;
  line: number;
  /** The record's field holding the transcript ('chosen' or 'rejected'). */
  field: string;
}

/** Splits one transcript at its last Assistant turn; a transcript without one is a DataError naming `where`. */
export function parseHhTranscript(text: string, where: HhWhere): { prompt: string; response: string } {
  const split = splitHhTranscript(text);
  if (!split) throw new DataError(where.file, where.line, where.field, NO_ASSISTANT_TURN);
  return split;
}
