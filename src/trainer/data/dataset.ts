// Dataset files -> rows and pairs, streamed, with a report of what was read (DESIGN.md "Rows and
// caches", "Pairs for DPO", "Splits and evaluation"; run config key `data`).
//   iterateDataset(file, opts): one DatasetRecord per non-blank line, the report as its return value;
//                               holds one line at a time plus one id per row (duplicate counting) and
//                               one number per group (its splits and row count, for the group counts).
//   readDataset(file, opts):    all rows and pairs in memory, plus the report.
// A file holds one kind of record: {prompt, response} rows (and/or {prompt, responses: [...]} records,
// several responses to one prompt), {prompt, chosen, rejected} pairs, or HH {chosen, rejected}
// transcripts; `format: "auto"` takes the kind of the first good record. The report counts groups
// (a prompt's rows, see src/protocol/rows.ts) per split and the groups that several splits share.

import { AlolError } from '../errors.js';
import { DataError, readJsonLines } from './jsonl.js';
import { classifyRecord, KIND_SHAPES, type Pair, promptGroup, type RecordKind, type Row, shortHash, type Split } from './rows.js';
import { type DatasetRecord, DEFAULT_SPLIT, parseRecord, type SplitFractions } from '../../protocol/rows.js';

// Splits and one record's parsing are shared with the editor (src/protocol/rows.ts); re-exported here.
export { assignSplit, type DatasetRecord, DEFAULT_SPLIT, type SplitFractions } from '../../protocol/rows.js';

export type DatasetFormat = 'auto' | 'jsonl' | 'hh';

export interface DatasetOptions {
  /** 'jsonl': rows, responses or pairs; 'hh': HH transcripts; 'auto' (default): from the first good record. */
  format?: DatasetFormat;
  /** Skip bad records instead of throwing on the first; each skip is listed in the report. Default false. */
  skipBadRows?: boolean;
  split?: SplitFractions;
}

export interface DatasetReport {
  file: string;
  /** The kind of record the file holds; null when it holds no good record. */
  format: RecordKind | null;
  /** Non-blank lines read, bad ones included. */
  records: number;
  rows: number;
  pairs: number;
  /** Two-row records whose chosen and rejected prompts differ: kept as two rows, not a pair. */
  unpaired: number;
  /** Rows per split. */
  splits: Record<Split, number>;
  /** Distinct groups (a prompt's rows, or a `group` field's), and per split. */
  groups: number;
  groupSplits: Record<Split, number>;
  /** Groups whose rows sit in more than one split (only `split` fields can do that): their prompts leak. */
  mixedSplitGroups: number;
  /** Groups with two or more {prompt, response} rows of one prompt: pairs can be formed from their rewards. */
  multiResponseGroups: number;
  emptyResponses: number;
  /**
   * Rows whose id an earlier row already had. Both are kept (not an error); per-row caches (rewards,
   * reference log-probs) are keyed by id, so they will share entries — right for repeated text,
   * wrong if an explicit `id` was reused for different text.
   */
  duplicateIds: number;
  /** The first MAX_LISTED duplicates: the id, its line and the line that had it first. */
  duplicates: { id: string; line: number; firstLine: number }[];
  /** Bad records skipped under skipBadRows. */
  skipped: number;
  /** The first MAX_LISTED skipped lines with the reason (the DataError's message without file:line). */
  skippedLines: { line: number; reason: string }[];
}

export const MAX_LISTED = 1000;

/** Checks fractions are usable: each in [0, 1), validation + test < 1, a finite seed. Returns them. */
export function checkSplitFractions(f: SplitFractions): SplitFractions {
  const ok = (x: number) => Number.isFinite(x) && x >= 0 && x < 1;
  if (!ok(f.validation) || !ok(f.test) || !(f.validation + f.test < 1) || !Number.isFinite(f.seed)) {
    throw new AlolError(
      'config',
      `data.split: validation ${f.validation} and test ${f.test} must each be in [0, 1) with validation + test < 1, ` +
        `and seed ${f.seed} a finite number`,
      'e.g. { "validation": 0.05, "test": 0.05, "seed": 0 }',
    );
  }
  return f;
}

/** Streams the file's records; returns the report when done. Throws a DataError on a bad record unless skipBadRows. */
export async function* iterateDataset(file: string, opts: DatasetOptions = {}): AsyncGenerator<DatasetRecord, DatasetReport, undefined> {
  const fractions = checkSplitFractions(opts.split ?? DEFAULT_SPLIT);
  const format = opts.format ?? 'auto';
  const report = new ReportBuilder(file);
  let kind: RecordKind | null = format === 'hh' ? 'hh' : null;
  let kindLine = 0; // the line that decided `kind`; 0 when the format option did
  report.r.format = kind;

  for await (const l of readJsonLines(file)) {
    report.r.records++;
    let rec: DatasetRecord;
    try {
      if (l.error) throw l.error;
      const seen = classifyRecord(l.value);
      if (kind === null) {
        kind = decideKind(file, l.line, l.value, seen, format);
        kindLine = l.line;
        report.r.format = kind;
      } else if (seen !== null && !sameFamily(seen, kind)) {
        const why = kindLine ? `line ${kindLine} made this file ${KIND_SHAPES[kind]}` : `format is "${format}"`;
        throw new DataError(file, l.line, null, `record is ${KIND_SHAPES[seen]}, but ${why}; one file holds one kind of record`);
      }
      rec = buildRecord(seen ?? kind, l.value, file, l.line, fractions); // rows and responses records may share a file
    } catch (e) {
      if (!(e instanceof DataError) || !opts.skipBadRows) throw e;
      report.skip(e);
      continue;
    }
    report.add(rec);
    yield rec;
  }
  return report.r;
}

/** Reads the whole file: every row, every pair (whose halves are among the rows), and the report. */
export async function readDataset(file: string, opts: DatasetOptions = {}): Promise<{ rows: Row[]; pairs: Pair[]; report: DatasetReport }> {
  const rows: Row[] = [];
  const pairs: Pair[] = [];
  const it = iterateDataset(file, opts);
  for (;;) {
    const n = await it.next();
    if (n.done) return { rows, pairs, report: n.value };
    for (const row of n.value.rows) rows.push(row);
    if (n.value.pair) pairs.push(n.value.pair);
  }
}

/** {prompt, response} rows and {prompt, responses} records may share a file: both are rows. */
const sameFamily = (a: RecordKind, b: RecordKind): boolean => a === b || (a !== 'pairs' && a !== 'hh' && b !== 'pairs' && b !== 'hh');

/** One line per fact, for logs and test diagnostics. */
export function describeReport(r: DatasetReport): string {
  const s = r.splits;
  const g = r.groupSplits;
  const mixed = r.mixedSplitGroups ? `; WARNING: ${r.mixedSplitGroups} groups have rows in several splits (their split fields differ)` : '';
  return [
    `${r.file}: ${r.records} records (${r.format ?? 'none'}) -> ${r.rows} rows, ${r.pairs} pairs`,
    `${r.groups} groups (prompts), ${r.multiResponseGroups} with several response rows (pairs form from their rewards)`,
    `${r.unpaired} unpaired (prompts differ), ${r.emptyResponses} empty responses, ${r.duplicateIds} duplicate ids, ${r.skipped} skipped`,
    `splits: train ${s.train}, validation ${s.validation}, test ${s.test} rows; ` +
      `train ${g.train}, validation ${g.validation}, test ${g.test} groups${mixed}`,
  ].join('; ');
}

function decideKind(file: string, line: number, value: unknown, seen: RecordKind | null, format: DatasetFormat): RecordKind {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const received = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
    throw new DataError(file, line, null, `expected a JSON object, received ${received}`);
  }
  if (seen === null) {
    const fields = Object.keys(value).slice(0, 8).join(', ');
    const shapes = Object.values(KIND_SHAPES).join(', ');
    throw new DataError(file, line, null, `cannot tell the record kind from fields {${fields}}: expected ${shapes}`);
  }
  if (format === 'jsonl' && seen === 'hh') {
    throw new DataError(file, line, null, `record is ${KIND_SHAPES.hh}, but format is "jsonl"`, 'use format "hh" or "auto"');
  }
  return seen;
}

/** One record's rows; a bad record is a DataError naming the file, line and field. */
export function buildRecord(kind: RecordKind, value: unknown, file: string, line: number, f: SplitFractions): DatasetRecord {
  const r = parseRecord(kind, value, file, line, f);
  if (!r.ok) throw new DataError(file, line, r.field, r.reason);
  return r.record;
}

const countBits = (x: number): number => (x & 1) + ((x >> 1) & 1) + ((x >> 2) & 1);
const SPLIT_BIT: Record<Split, number> = { train: 1, validation: 2, test: 4 };

class ReportBuilder {
  readonly r: DatasetReport;
  private readonly firstLine = new Map<string, number>(); // one entry per distinct row id
  /** Per group one number (a dataset of 1M prompts holds 1M): bits 0-2 its splits, bits 3-4 its {prompt, response} rows (0, 1, 2+). */
  private readonly groups = new Map<string, number>();
  /** Groups other than a row's own prompt's (`group` fields, usually few): their {prompt, response} rows per prompt. */
  private readonly named = new Map<string, Map<string, number>>();

  constructor(file: string) {
    this.r = {
      file,
      format: null,
      records: 0,
      rows: 0,
      pairs: 0,
      unpaired: 0,
      splits: { train: 0, validation: 0, test: 0 },
      groups: 0,
      groupSplits: { train: 0, validation: 0, test: 0 },
      mixedSplitGroups: 0,
      multiResponseGroups: 0,
      emptyResponses: 0,
      duplicateIds: 0,
      duplicates: [],
      skipped: 0,
      skippedLines: [],
    };
  }

  add(rec: DatasetRecord): void {
    const r = this.r;
    if (rec.pair) r.pairs++;
    else if (rec.rows.length === 2) r.unpaired++;
    for (const row of rec.rows) {
      r.rows++;
      r.splits[row.split]++;
      this.addToGroup(row);
      if (row.response === '') r.emptyResponses++;
      const first = this.firstLine.get(row.id);
      if (first === undefined) this.firstLine.set(row.id, row.line);
      else {
        r.duplicateIds++;
        if (r.duplicates.length < MAX_LISTED) r.duplicates.push({ id: row.id, line: row.line, firstLine: first });
      }
    }
  }

  private addToGroup(row: Row): void {
    let g = this.groups.get(row.group);
    if (g === undefined) {
      g = 0;
      this.r.groups++;
    }
    let splits = g & 7;
    let responses = g >> 3;
    const bit = SPLIT_BIT[row.split];
    if (!(splits & bit)) {
      this.r.groupSplits[row.split]++;
      if (splits !== 0 && countBits(splits) === 1) this.r.mixedSplitGroups++; // counted once, on its second split
      splits |= bit;
    }
    if (row.kind === 'row' && responses < 2) {
      // a group made from the row's own prompt holds that prompt alone; a named one may join several
      responses = row.group === promptGroup(row.prompt) ? responses + 1 : this.namedGroupResponses(row);
      if (responses === 2) this.r.multiResponseGroups++;
    }
    this.groups.set(row.group, splits | (responses << 3));
  }

  /** A named group may join several prompts: its rows per prompt (by hash), the most of any prompt (at most 2). */
  private namedGroupResponses(row: Row): number {
    let perPrompt = this.named.get(row.group);
    if (!perPrompt) this.named.set(row.group, (perPrompt = new Map()));
    const key = shortHash(row.prompt);
    const n = Math.min(2, (perPrompt.get(key) ?? 0) + 1);
    perPrompt.set(key, n);
    return Math.max(...perPrompt.values());
  }

  skip(e: DataError): void {
    this.r.skipped++;
    if (this.r.skippedLines.length < MAX_LISTED) this.r.skippedLines.push({ line: e.line, reason: e.reason });
  }
}
