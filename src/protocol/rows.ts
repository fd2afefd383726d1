// Dataset rows as every side sees them (DESIGN.md "Rows and caches"): the row types the trainer's later
// stages read, row identity, the seeded split, and one record (a line of a dataset file) parsed into its
// rows. The trainer reads whole files with it (src/trainer/data), the editor maps the lines of an open
// dataset with it (src/extension/datasetRows.ts), so a row's id in advantages.jsonl is the id the editor
// computes. Pure: imports only zod and @noble/hashes (sha256 in plain JS, so a browser bundle can use it).
//
// Identity: a row is its `id` field, else a hash of (prompt, response); annotation and reward fields are
// not part of it, so annotating a row never changes which row it is.
// Groups: a row's group is its `group` field, else its prompt (normalised text); both halves of a pair or
// HH record share one group. Splits (and the value head's folds, and the samplers' epochs) keep a group
// whole, so no prompt is trained on and tested at once.

import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils';
import { z } from 'zod';
import { describeIssue } from './issues.js';

export type Split = 'train' | 'validation' | 'test';
export const SPLITS: readonly Split[] = ['train', 'validation', 'test'];

/** 'row': a {prompt, response} record; 'chosen'/'rejected': one half of a pair or HH record. */
export const ROW_KINDS = ['row', 'chosen', 'rejected'] as const;
export type RowKind = (typeof ROW_KINDS)[number];

/**
 * What a file holds: {prompt, response} rows, {prompt, responses: [...]} (several responses to one prompt),
 * {prompt, chosen, rejected} pairs, or HH {chosen, rejected} transcripts.
 */
export type RecordKind = 'rows' | 'responses' | 'pairs' | 'hh';

export interface Row {
  /** The record's `id` (as a string; `${id}:chosen` / `${id}:rejected` for pair halves), else rowId's hash. */
  id: string;
  file: string;
  /** 1-based line of the record in the file. */
  line: number;
  prompt: string;
  response: string;
  reward?: number;
  rewards?: Record<string, number>;
  /** Resolved: the record's `split` field, else the seeded hash of `group`. */
  split: Split;
  /** True when the record's `split` field set the split (the fractions of data.split did not apply). */
  fixedSplit?: boolean;
  /**
   * Group key: the record's `group` field (as a string), else promptGroup(prompt); both halves of a pair
   * or HH record share the group. Rows of a group share a split (unless `split` fields say otherwise).
   */
  group: string;
  kind: RowKind;
  /** Set when the row is half of a usable pair (same prompt on both sides). */
  pairId?: string;
  /** Pair and HH halves: chosen = 1, rejected = 0 (read by `field` rewards). */
  label?: 0 | 1;
  /** The record's other fields (annotations such as human_label, note, exclude), as read. Pair halves share one object. */
  raw: Record<string, unknown>;
}

/** A preference pair for DPO: two rows with the same prompt. */
export interface Pair {
  id: string;
  file: string;
  line: number;
  prompt: string;
  chosen: Row;
  rejected: Row;
  split: Split;
}

// -- hashing ---------------------------------------------------------------------------------------

type Sha256Hex = (text: string) => string;
const pureSha256Hex: Sha256Hex = (text) => bytesToHex(sha256(utf8ToBytes(text)));
let sha256Hex = pureSha256Hex;

/**
 * Hashes with `impl` (sha256 of the UTF-8 text, as hex) instead of the plain-JS one: Node processes pass
 * node:crypto's, about 20x faster on long texts (the trainer hashes every row of a dataset as it reads it,
 * the editor every row of an open file on each edit). The ids stay the same bytes: `impl` is checked
 * against the plain-JS hash here, and test/unit/rows-identity.test.ts compares the two on many strings.
 */
export function useSha256Hex(impl: Sha256Hex): void {
  for (const probe of ['', 'A-LoL', 'café ☕ 日本 \u{1F916} \uD800']) {
    if (impl(probe) !== pureSha256Hex(probe)) {
      throw new Error(`useSha256Hex: the given hash of ${JSON.stringify(probe)} is not sha256 as hex`);
    }
  }
  sha256Hex = impl;
}

/** First 16 hex chars of sha256(text). */
export function shortHash(text: string): string {
  return sha256Hex(text).slice(0, 16);
}

/** A row's identity: its `id` field as a string if present, else a hash of (prompt, response) only. */
export function rowId(prompt: string, response: string, id?: string | number): string {
  // JSON of the pair is unambiguous: ("a\"", "b") and ("a", "\"b") encode differently.
  return id !== undefined ? String(id) : shortHash(JSON.stringify([prompt, response]));
}

/** A prompt's text as groups compare it: Unicode NFC, whitespace runs as one space, trimmed. */
export function normalizePrompt(prompt: string): string {
  return prompt.normalize('NFC').replace(/\s+/g, ' ').trim();
}

/** The group of rows without a `group` field: their normalised prompt, hashed. */
export function promptGroup(prompt: string): string {
  return `prompt:${shortHash(normalizePrompt(prompt))}`;
}

/** A pair's identity: its `id` field, else a hash of (prompt, chosen, rejected). HH and JSONL pairs of the same text agree. */
export function pairId(prompt: string, chosen: string, rejected: string, id?: string | number): string {
  return id !== undefined ? String(id) : shortHash(JSON.stringify([prompt, chosen, rejected]));
}

// -- record schemas --------------------------------------------------------------------------------
// Loose: unknown fields pass through and end up in Row.raw.
const Id = z.union([z.string().min(1), z.number()]);
const SplitField = z.enum(['train', 'validation', 'test']);
const Common = { id: Id.optional(), split: SplitField.optional(), group: Id.optional() };

export const RowRecord = z.looseObject({
  prompt: z.string(),
  response: z.string(),
  reward: z.number().optional(), // zod 4's number() rejects NaN and ±Infinity (JSON 1e999)
  rewards: z.record(z.string(), z.number()).optional(),
  ...Common,
});
/** One response of a {prompt, responses} record; its other fields are read like a row's (Row.raw). */
export const ResponseItem = z.looseObject({
  response: z.string(),
  reward: z.number().optional(),
  rewards: z.record(z.string(), z.number()).optional(),
  id: Id.optional(),
});
export const ResponsesRecord = z.looseObject({ prompt: z.string(), responses: z.array(ResponseItem).min(1), ...Common });
export const PairRecord = z.looseObject({ prompt: z.string(), chosen: z.string(), rejected: z.string(), ...Common });
export const HhRecord = z.looseObject({ chosen: z.string(), rejected: z.string(), ...Common });

export type RowRecord = z.infer<typeof RowRecord>;
export type ResponsesRecord = z.infer<typeof ResponsesRecord>;
export type PairRecord = z.infer<typeof PairRecord>;
export type HhRecord = z.infer<typeof HhRecord>;

export const RECORD_SCHEMAS = { rows: RowRecord, responses: ResponsesRecord, pairs: PairRecord, hh: HhRecord } as const;
const KNOWN: Record<RecordKind, readonly string[]> = {
  rows: ['prompt', 'response', 'reward', 'rewards', 'id', 'split', 'group'],
  responses: ['prompt', 'responses', 'id', 'split', 'group'],
  pairs: ['prompt', 'chosen', 'rejected', 'id', 'split', 'group'],
  hh: ['chosen', 'rejected', 'id', 'split', 'group'],
};
const KNOWN_ITEM = ['response', 'reward', 'rewards', 'id'];

/** The record's fields that are not part of its kind's schema (annotations), for Row.raw. */
export function extraFields(kind: RecordKind, record: Record<string, unknown>): Record<string, unknown> {
  const known = KNOWN[kind];
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(record)) if (!known.includes(k)) out[k] = record[k];
  return out;
}

/** Which kind a parsed JSON record looks like, by which fields are present; null if none. */
export function classifyRecord(value: unknown): RecordKind | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const has = (k: string) => k in value;
  if (has('prompt') && has('response')) return 'rows';
  if (has('prompt') && has('responses')) return 'responses';
  if (has('prompt') && has('chosen') && has('rejected')) return 'pairs';
  if (has('chosen') && has('rejected')) return 'hh';
  return null;
}

export const KIND_SHAPES: Record<RecordKind, string> = {
  rows: '{prompt, response}',
  responses: '{prompt, responses: [{response, reward?}, ...]}',
  pairs: '{prompt, chosen, rejected}',
  hh: 'HH {chosen, rejected}',
};

// -- splits ----------------------------------------------------------------------------------------

/** Seeded split fractions for rows without a `split` field; train gets the rest. */
export interface SplitFractions {
  validation: number;
  test: number;
  seed: number;
}
export const DEFAULT_SPLIT: SplitFractions = { validation: 0.05, test: 0.05, seed: 0 };

/**
 * The split of the row group `key`: a hash of `${seed}:${key}` as a uniform u in [0, 1);
 * u < validation -> validation, u < validation + test -> test, else train. Depends on nothing else,
 * so adding or editing other rows never moves this one.
 */
export function assignSplit(key: string, f: SplitFractions): Split {
  const u = parseInt(shortHash(`${f.seed}:${key}`).slice(0, 13), 16) / 2 ** 52; // 52 bits: exact in a double
  if (u < f.validation) return 'validation';
  if (u < f.validation + f.test) return 'test';
  return 'train';
}

// -- one record ------------------------------------------------------------------------------------

export const ASSISTANT_TURN = '\n\nAssistant:';

/**
 * An Anthropic HH-RLHF transcript split at its LAST "\n\nAssistant:": the prompt is the text up to and
 * including it, the response the rest, leading space kept (it is part of what the model says). Null when
 * the transcript has no Assistant turn.
 */
export function splitHhTranscript(text: string): { prompt: string; response: string } | null {
  const at = text.lastIndexOf(ASSISTANT_TURN);
  if (at < 0) return null;
  const cut = at + ASSISTANT_TURN.length;
  return { prompt: text.slice(0, cut), response: text.slice(cut) };
}

/** Why an HH transcript could not be split (the reason of the error naming its field). */
export const NO_ASSISTANT_TURN = `transcript has no ${JSON.stringify(ASSISTANT_TURN)} turn, so there is no response to split off`;

/** What one line of the file became: one row, or two halves plus the pair when their prompts agree. */
export interface DatasetRecord {
  line: number;
  rows: Row[];
  pair?: Pair;
}

/** A record, or why it is not one: the field (null: the record as a whole) and the reason in words. */
export type RecordResult = { ok: true; record: DatasetRecord } | { ok: false; field: string | null; reason: string };

/** Parses one JSON value of a file holding `kind` records into its rows (line is 1-based). */
export function parseRecord(kind: RecordKind, value: unknown, file: string, line: number, f: SplitFractions): RecordResult {
  const parsed = RECORD_SCHEMAS[kind].safeParse(value);
  if (!parsed.success) return { ok: false, ...describeIssue(parsed.error, value) };
  if (kind === 'rows') return { ok: true, record: { line, rows: [rowOf(parsed.data as RowRecord, file, line, f)] } };
  if (kind === 'responses') return { ok: true, record: { line, rows: responseRows(parsed.data as ResponsesRecord, file, line, f) } };
  if (kind === 'pairs') {
    const rec = parsed.data as PairRecord;
    const chosen = { prompt: rec.prompt, response: rec.chosen };
    const rejected = { prompt: rec.prompt, response: rec.rejected };
    return { ok: true, record: twoRows(rec, extraFields('pairs', rec), file, line, f, chosen, rejected) };
  }
  const rec = parsed.data as HhRecord;
  const chosen = splitHhTranscript(rec.chosen);
  if (!chosen) return { ok: false, field: 'chosen', reason: NO_ASSISTANT_TURN };
  const rejected = splitHhTranscript(rec.rejected);
  if (!rejected) return { ok: false, field: 'rejected', reason: NO_ASSISTANT_TURN };
  return { ok: true, record: twoRows(rec, extraFields('hh', rec), file, line, f, chosen, rejected, [rec.chosen, rec.rejected]) };
}

/** The group of a record: its `group` field as a string, else the group of `prompt`. */
const groupOf = (rec: { group?: string | number }, prompt: string): string =>
  rec.group !== undefined ? String(rec.group) : promptGroup(prompt);

function rowOf(rec: RowRecord, file: string, line: number, f: SplitFractions): Row {
  const id = rowId(rec.prompt, rec.response, rec.id);
  const group = groupOf(rec, rec.prompt);
  const split = rec.split ?? assignSplit(group, f);
  const raw = extraFields('rows', rec);
  const row: Row = { id, file, line, prompt: rec.prompt, response: rec.response, split, group, kind: 'row', raw };
  if (rec.split !== undefined) row.fixedSplit = true;
  if (rec.reward !== undefined) row.reward = rec.reward;
  if (rec.rewards !== undefined) row.rewards = rec.rewards;
  return row;
}

/**
 * The rows of a {prompt, responses} record, one per response, all in the record's group and split. A
 * response's id: its own `id`, else `${record id}:${k}` (k from 0) when the record has one, else the
 * hash of (prompt, response), so such a row is the same row as the equal {prompt, response} record.
 */
function responseRows(rec: ResponsesRecord, file: string, line: number, f: SplitFractions): Row[] {
  const group = groupOf(rec, rec.prompt);
  const split = rec.split ?? assignSplit(group, f);
  const shared = extraFields('responses', rec);
  return rec.responses.map((item, k) => {
    const own: Record<string, unknown> = {};
    for (const key of Object.keys(item)) if (!KNOWN_ITEM.includes(key)) own[key] = item[key];
    const id = item.id !== undefined ? String(item.id) : rec.id !== undefined ? `${rec.id}:${k}` : rowId(rec.prompt, item.response);
    const raw = { ...shared, ...own };
    const row: Row = { id, file, line, prompt: rec.prompt, response: item.response, split, group, kind: 'row', raw };
    if (rec.split !== undefined) row.fixedSplit = true;
    if (item.reward !== undefined) row.reward = item.reward;
    if (item.rewards !== undefined) row.rewards = item.rewards;
    return row;
  });
}

type Text = { prompt: string; response: string };

/**
 * Both halves of a pair or HH record. Same prompt: a Pair, and both rows carry its id. Prompts differ
 * (HH only): two unpaired rows. Either way both halves share one group (the record's `group`, else the
 * chosen half's prompt) and so one split: a conversation never sits in train and test at once.
 */
function twoRows(
  rec: { id?: string | number; split?: Split; group?: string | number },
  raw: Record<string, unknown>,
  file: string,
  line: number,
  f: SplitFractions,
  chosen: Text,
  rejected: Text,
  transcripts?: [string, string],
): DatasetRecord {
  const paired = chosen.prompt === rejected.prompt;
  const pid = paired
    ? pairId(chosen.prompt, chosen.response, rejected.response, rec.id)
    : rec.id !== undefined
      ? String(rec.id)
      : shortHash(JSON.stringify(transcripts ?? [chosen, rejected]));
  const group = groupOf(rec, chosen.prompt);
  const split = rec.split ?? assignSplit(group, f);
  const half = (t: Text, kind: 'chosen' | 'rejected'): Row => {
    const id = rec.id !== undefined ? `${rec.id}:${kind}` : rowId(t.prompt, t.response);
    const row: Row = { id, file, line, prompt: t.prompt, response: t.response, split, group, kind, label: kind === 'chosen' ? 1 : 0, raw };
    if (paired) row.pairId = pid;
    if (rec.split !== undefined) row.fixedSplit = true;
    return row;
  };
  const rows = [half(chosen, 'chosen'), half(rejected, 'rejected')];
  if (!paired) return { line, rows };
  return { line, rows, pair: { id: pid, file, line, prompt: chosen.prompt, chosen: rows[0], rejected: rows[1], split } };
}
