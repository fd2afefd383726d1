// Dataset files -> rows and pairs, streamed, with a report of what was read (DESIGN.md "Rows and
// caches", "Pairs for DPO", "Splits and evaluation"; run config key `data`).
//   iterateDataset(file, opts): one DatasetRecord per non-blank line, the report as its return value;
//                               holds one line at a time plus one id per row (duplicate counting).
//   readDataset(file, opts):    all rows and pairs in memory, plus the report.
// A file holds one kind of record: {prompt, response} rows, {prompt, chosen, rejected} pairs, or HH
// {chosen, rejected} transcripts; `format: "auto"` takes the kind of the first good record.

import { AlolError } from '../errors.js';
import { DataError, readJsonLines } from './jsonl.js';
import { classifyRecord, KIND_SHAPES, type Pair, type RecordKind, type Row, type Split } from './rows.js';
import { type DatasetRecord, DEFAULT_SPLIT, parseRecord, type SplitFractions } from '../../protocol/rows.js';

// Splits and one record's parsing are shared with the editor (src/protocol/rows.ts); re-exported here.
export { assignSplit, type DatasetRecord, DEFAULT_SPLIT, type SplitFractions } from '../../protocol/rows.js';

export type DatasetFormat = 'auto' | 'jsonl' | 'hh';

export interface DatasetOptions {
  /** 'jsonl': rows or pairs; 'hh': HH transcripts; 'auto' (default): from the first good record. */
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
      } else if (seen !== null && seen !== kind) {
        const why = kindLine ? `line ${kindLine} made this file ${KIND_SHAPES[kind]}` : `format is "${format}"`;
        throw new DataError(file, l.line, null, `record is ${KIND_SHAPES[seen]}, but ${why}; one file holds one kind of record`);
      }
      rec = buildRecord(kind, l.value, file, l.line, fractions);
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

/** One line per fact, for logs and test diagnostics. */
export function describeReport(r: DatasetReport): string {
  const s = r.splits;
  return [
    `${r.file}: ${r.records} records (${r.format ?? 'none'}) -> ${r.rows} rows, ${r.pairs} pairs`,
    `${r.unpaired} unpaired (prompts differ), ${r.emptyResponses} empty responses, ${r.duplicateIds} duplicate ids, ${r.skipped} skipped`,
    `splits: train ${s.train}, validation ${s.validation}, test ${s.test}`,
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

class ReportBuilder {
  readonly r: DatasetReport;
  private readonly firstLine = new Map<string, number>(); // one entry per distinct row id

  constructor(file: string) {
    this.r = {
      file,
      format: null,
      records: 0,
      rows: 0,
      pairs: 0,
      unpaired: 0,
      splits: { train: 0, validation: 0, test: 0 },
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
      if (row.response === '') r.emptyResponses++;
      const first = this.firstLine.get(row.id);
      if (first === undefined) this.firstLine.set(row.id, row.line);
      else {
        r.duplicateIds++;
        if (r.duplicates.length < MAX_LISTED) r.duplicates.push({ id: row.id, line: row.line, firstLine: first });
      }
    }
  }

  skip(e: DataError): void {
    this.r.skipped++;
    if (this.r.skippedLines.length < MAX_LISTED) this.r.skippedLines.push({ line: e.line, reason: e.reason });
  }
}
