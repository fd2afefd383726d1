// Rows of a dataset document and edits to them, without `vscode`: which line holds which rows (the
// record parsing and row identity the trainer uses too, src/protocol/rows.ts, so identities match the
// runs' advantages.jsonl), and annotation edits that change one field of one row's JSON text and
// nothing else — every other byte of the line, and every other line, stays as it was.

import { createHash } from 'node:crypto';
import { type Node, type ParseError, parseTree } from 'jsonc-parser';
import { classifyRecord, DEFAULT_SPLIT, KIND_SHAPES, parseRecord, type Row, useSha256Hex } from '../protocol/rows.js';

// Every row of an open dataset is hashed on each edit: node:crypto's sha256 (the same ids, faster).
useSha256Hex((text) => createHash('sha256').update(text).digest('hex'));

export interface LineRows {
  /** 0-based line index in the document. */
  index: number;
  /** Offsets of the line's text (without its line break) in the document. */
  start: number;
  end: number;
  rows: Row[];
  /** Why the line is not a row (invalid JSON, a bad field); absent for good rows. */
  error?: string;
}

/** Splits a document into lines (LF or CRLF; a leading BOM is not part of line 1's JSON). */
function lines(text: string): { index: number; start: number; end: number }[] {
  const out: { index: number; start: number; end: number }[] = [];
  let start = 0;
  for (let i = 0; ; i++) {
    let nl = text.indexOf('\n', start);
    if (nl < 0) nl = text.length;
    const end = nl > start && text[nl - 1] === '\r' ? nl - 1 : nl;
    out.push({ index: i, start, end });
    if (nl >= text.length) break;
    start = nl + 1;
  }
  return out;
}

/** Every non-blank line with the rows it holds (two for an HH or pair record). */
export function mapRows(text: string, file: string): LineRows[] {
  const out: LineRows[] = [];
  for (const l of lines(text)) {
    let body = text.slice(l.start, l.end);
    if (l.index === 0) body = body.replace(/^\uFEFF/, '');
    if (!body.trim()) continue;
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch (e) {
      out.push({ ...l, rows: [], error: `not valid JSON (${(e as Error).message})` });
      continue;
    }
    const kind = classifyRecord(json);
    if (!kind) {
      const error = `not a dataset row: expected ${Object.values(KIND_SHAPES).join(', ')}`;
      out.push({ ...l, rows: [], error });
      continue;
    }
    const r = parseRecord(kind, json, file, l.index + 1, DEFAULT_SPLIT);
    if (r.ok) out.push({ ...l, rows: r.record.rows });
    else out.push({ ...l, rows: [], error: `${r.field ? `field ${r.field}: ` : ''}${r.reason}` });
  }
  return out;
}

export const ANNOTATION_FIELDS = ['human_label', 'human_reward', 'note', 'exclude'] as const;
export type AnnotationField = (typeof ANNOTATION_FIELDS)[number];

/**
 * The line's text with `field` set to `value`: the value replaced in place when the field exists, else
 * `, "field": value` inserted after the object's last property. Throws (with the reason) when the line
 * is not a single JSON object, so a malformed row is refused rather than rewritten.
 */
export function setField(lineText: string, field: AnnotationField, value: string | number | boolean): string {
  const bom = lineText.startsWith('\uFEFF') ? '\uFEFF' : '';
  const body = lineText.slice(bom.length);
  const errors: ParseError[] = [];
  const tree: Node | undefined = parseTree(body, errors, { allowTrailingComma: false, disallowComments: true });
  if (!tree || errors.length || tree.type !== 'object') throw new Error('the row is not a single JSON object; fix it by hand first');
  try {
    JSON.parse(body); // parseTree is lenient about some things JSON.parse is not
  } catch (e) {
    throw new Error(`the row is not valid JSON (${(e as Error).message})`);
  }
  const encoded = JSON.stringify(value);
  const prop = tree.children?.find((p) => p.children?.[0]?.value === field);
  if (prop?.children?.[1]) {
    const v = prop.children[1];
    return bom + body.slice(0, v.offset) + encoded + body.slice(v.offset + v.length);
  }
  // Insert right after the last property (so `{ "a": 1 }` becomes `{ "a": 1, "f": v }`), or inside `{}`.
  const last = tree.children?.at(-1);
  const at = last ? last.offset + last.length : tree.offset + 1;
  return bom + body.slice(0, at) + `${last ? ', ' : ''}"${field}": ${encoded}` + body.slice(at);
}

/** Whether a row carries any annotation field. */
export const isAnnotated = (r: Row): boolean => ANNOTATION_FIELDS.some((f) => r.raw[f] !== undefined);

/** A row's annotations as the marker's tooltip says them: `human_label 1, note "check the tone"`. */
export const annotationText = (r: Row): string =>
  ANNOTATION_FIELDS.filter((f) => r.raw[f] !== undefined).map((f) => `${f} ${JSON.stringify(r.raw[f])}`).join(', ');
