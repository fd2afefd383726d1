// Dataset rows: the types every later stage reads (rewards, caches, sampler, DPO), row identity, and
// the zod schemas of the three record kinds a dataset file may hold (DESIGN.md "Rows and caches").
// Identity: a row is its `id` field, else a hash of (prompt, response); annotation and reward fields
// are not part of it, so annotating a row never changes which row it is.

import { createHash } from 'node:crypto';
import { z } from 'zod';

export type Split = 'train' | 'validation' | 'test';
export const SPLITS: readonly Split[] = ['train', 'validation', 'test'];

/** 'row': a {prompt, response} record; 'chosen'/'rejected': one half of a pair or HH record. */
export type RowKind = 'row' | 'chosen' | 'rejected';

/** What a file holds: {prompt, response} rows, {prompt, chosen, rejected} pairs, or HH {chosen, rejected} transcripts. */
export type RecordKind = 'rows' | 'pairs' | 'hh';

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
  /** Split group key: rows with the same group always share a split (both halves of a record). */
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

/** First 16 hex chars of sha256(text). */
export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** A row's identity: its `id` field as a string if present, else a hash of (prompt, response) only. */
export function rowId(prompt: string, response: string, id?: string | number): string {
  // JSON of the pair is unambiguous: ("a\"", "b") and ("a", "\"b") encode differently.
  return id !== undefined ? String(id) : shortHash(JSON.stringify([prompt, response]));
}

/** A pair's identity: its `id` field, else a hash of (prompt, chosen, rejected). HH and JSONL pairs of the same text agree. */
export function pairId(prompt: string, chosen: string, rejected: string, id?: string | number): string {
  return id !== undefined ? String(id) : shortHash(JSON.stringify([prompt, chosen, rejected]));
}

// Record schemas. Loose: unknown fields pass through and end up in Row.raw.
const Id = z.union([z.string().min(1), z.number()]);
const SplitField = z.enum(['train', 'validation', 'test']);
const Common = { id: Id.optional(), split: SplitField.optional() };

export const RowRecord = z.looseObject({
  prompt: z.string(),
  response: z.string(),
  reward: z.number().optional(), // zod 4's number() rejects NaN and ±Infinity (JSON 1e999)
  rewards: z.record(z.string(), z.number()).optional(),
  ...Common,
});
export const PairRecord = z.looseObject({ prompt: z.string(), chosen: z.string(), rejected: z.string(), ...Common });
export const HhRecord = z.looseObject({ chosen: z.string(), rejected: z.string(), ...Common });

export type RowRecord = z.infer<typeof RowRecord>;
export type PairRecord = z.infer<typeof PairRecord>;
export type HhRecord = z.infer<typeof HhRecord>;

export const RECORD_SCHEMAS = { rows: RowRecord, pairs: PairRecord, hh: HhRecord } as const;
const KNOWN: Record<RecordKind, readonly string[]> = {
  rows: ['prompt', 'response', 'reward', 'rewards', 'id', 'split'],
  pairs: ['prompt', 'chosen', 'rejected', 'id', 'split'],
  hh: ['chosen', 'rejected', 'id', 'split'],
};

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
  if (has('prompt') && has('chosen') && has('rejected')) return 'pairs';
  if (has('chosen') && has('rejected')) return 'hh';
  return null;
}

export const KIND_SHAPES: Record<RecordKind, string> = {
  rows: '{prompt, response}',
  pairs: '{prompt, chosen, rejected}',
  hh: 'HH {chosen, rejected}',
};
