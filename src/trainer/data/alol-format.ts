// The A-LoL authors' published data format (github.com/abaheti95/LoL-RL, e.g. data/hh_test/*.json), converted
// to this project's {prompt, responses: [{response, reward}]} records. One JSON object per line with
// equal-length lists: `prefix` (per response, the conversation so far as turn strings, each starting with
// `<|prompter|>` or `<|assistant|>`; the last may be an empty assistant turn), `suffix` (the responses) and
// `reward` (raw reward-model scores; the paper trains on their sigmoid). Other fields (sft_index, meta)
// are kept on the record.
//
// Turns: "hh" renders them as Anthropic HH transcripts ("\n\nHuman: ..." / "\n\nAssistant: ...", the
// prompt ending in "\n\nAssistant:" and the response keeping HH's leading space), the layout this
// project's HH reader and examples use; "raw" keeps the turn strings joined as they are (what the
// authors' own code tokenizes before replacing the markers) and the response as given.
// Responses of a line with different prompts become one record per prompt, all in the first prompt's group.

import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { rename, rm } from 'node:fs/promises';
import { z } from 'zod';
import { promptGroup } from '../../protocol/rows.js';
import { DataError, readJsonLines, schemaError } from './jsonl.js';

export const PROMPTER = '<|prompter|>';
export const ASSISTANT = '<|assistant|>';

export interface AlolFormatOptions {
  turns: 'hh' | 'raw';
  reward: 'sigmoid' | 'raw';
}

const AlolLine = z.looseObject({
  prefix: z.array(z.array(z.string())).min(1),
  suffix: z.array(z.string()).min(1),
  reward: z.array(z.number()).min(1),
});

/** What one converted line becomes: one record per distinct prompt. */
export interface ConvertedRecord {
  id: string;
  prompt: string;
  responses: { response: string; reward: number }[];
  group?: string;
  [extra: string]: unknown;
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** The prompt of one prefix (its turns), or the field and reason it is malformed. */
function renderPrompt(turns: readonly string[], mode: AlolFormatOptions['turns']): { prompt: string } | { at: number; reason: string } {
  const parts: string[] = [];
  for (let j = 0; j < turns.length; j++) {
    const t = turns[j];
    const role = t.startsWith(PROMPTER) ? 'Human' : t.startsWith(ASSISTANT) ? 'Assistant' : null;
    if (!role) return { at: j, reason: `turn ${JSON.stringify(t.slice(0, 30))} starts with neither ${PROMPTER} nor ${ASSISTANT}` };
    const text = t.slice(role === 'Human' ? PROMPTER.length : ASSISTANT.length);
    if (role === 'Assistant' && text.trim() === '' && j !== turns.length - 1) return { at: j, reason: 'only the last turn may be empty' };
    parts.push(mode === 'raw' ? t : text.trim() === '' ? '\n\nAssistant:' : `\n\n${role}: ${text.trim()}`);
  }
  if (mode === 'hh' && !turns[turns.length - 1]?.startsWith(ASSISTANT)) parts.push('\n\nAssistant:');
  return { prompt: parts.join('') };
}

/** One line of the authors' format as records; a malformed line is a DataError naming its field. */
export function convertAlolLine(value: unknown, file: string, line: number, opts: AlolFormatOptions): ConvertedRecord[] {
  const parsed = AlolLine.safeParse(value);
  if (!parsed.success) throw schemaError(file, line, parsed.error, value);
  const { prefix, suffix, reward, ...extra } = parsed.data;
  if (prefix.length !== suffix.length || suffix.length !== reward.length) {
    const lengths = `prefix ${prefix.length}, suffix ${suffix.length}, reward ${reward.length}`;
    throw new DataError(file, line, null, `the lists prefix, suffix and reward must have one item per response (${lengths})`);
  }
  const byPrompt = new Map<string, ConvertedRecord>();
  prefix.forEach((turns, i) => {
    if (turns.length === 0) throw new DataError(file, line, `prefix.${i}`, 'no turns');
    const r = renderPrompt(turns, opts.turns);
    if ('reason' in r) throw new DataError(file, line, `prefix.${i}.${r.at}`, r.reason);
    const response = opts.turns === 'hh' && !/^\s/.test(suffix[i]) ? ` ${suffix[i]}` : suffix[i];
    const id = `line-${line}${byPrompt.size ? `-${byPrompt.size}` : ''}`;
    const rec: ConvertedRecord = byPrompt.get(r.prompt) ?? { id, prompt: r.prompt, responses: [] };
    rec.responses.push({ response, reward: opts.reward === 'sigmoid' ? sigmoid(reward[i]) : reward[i] });
    byPrompt.set(r.prompt, rec);
  });
  const kept = Object.fromEntries(Object.entries(extra).filter(([k]) => !['id', 'prompt', 'responses', 'group'].includes(k)));
  const out = [...byPrompt.values()].map((rec) => ({ ...rec, ...kept }) as ConvertedRecord);
  if (out.length > 1) for (const rec of out) rec.group = promptGroup(out[0].prompt); // one line's prompts stay in one split
  return out;
}

/** Converts a file (.jsonl, optionally .gz); writes `out` through a temporary file. Returns lines and records written. */
export async function convertAlolFile(
  file: string,
  out: string,
  opts: AlolFormatOptions,
): Promise<{ lines: number; records: number; responses: number }> {
  const tmp = `${out}.tmp-${process.pid}`;
  const ws = createWriteStream(tmp);
  let lines = 0;
  let records = 0;
  let responses = 0;
  try {
    for await (const l of readJsonLines(file)) {
      if (l.error) throw l.error;
      lines++;
      for (const rec of convertAlolLine(l.value, file, l.line, opts)) {
        records++;
        responses += rec.responses.length;
        if (!ws.write(`${JSON.stringify(rec)}\n`)) await once(ws, 'drain');
      }
    }
    ws.end();
    await once(ws, 'finish');
  } catch (e) {
    ws.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
  await rename(tmp, out);
  return { lines, records, responses };
}
