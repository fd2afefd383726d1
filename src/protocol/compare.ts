// Comparing two runs' audits: the rows one audit keeps (A > 0) and the other filters, matched by row
// id (src/protocol/rows.ts: the row's `id` field, else a hash of prompt and response). Pure: used by the
// extension (which reads both advantages.jsonl files) and by tests.

import type { AdvantageRow } from './advantages.js';
import type { KeptDiff } from './webview.js';

/** The kept-set difference of audits `a` and `b`; at most `limit` rows listed, largest |A_a - A_b| first. */
export function keptSetDiff(
  a: { label: string; rows: readonly AdvantageRow[] },
  b: { label: string; rows: readonly AdvantageRow[] },
  limit = 500,
): KeptDiff {
  const inB = new Map(b.rows.map((r) => [r.rowId, r]));
  const inA = new Set(a.rows.map((r) => r.rowId));
  let common = 0;
  let keptOnlyA = 0;
  let keptOnlyB = 0;
  const rows: KeptDiff['rows'] = [];
  for (const ra of a.rows) {
    const rb = inB.get(ra.rowId);
    if (!rb) continue;
    common++;
    if (ra.kept === rb.kept) continue;
    if (ra.kept) keptOnlyA++;
    else keptOnlyB++;
    const keptIn = ra.kept ? 'a' : 'b';
    rows.push({ rowId: ra.rowId, file: ra.file, line: ra.line, keptIn, advantageA: ra.advantage, advantageB: rb.advantage });
  }
  rows.sort((x, y) => Math.abs(y.advantageA - y.advantageB) - Math.abs(x.advantageA - x.advantageB) || x.line - y.line);
  return {
    a: a.label,
    b: b.label,
    common,
    onlyInA: a.rows.length - common,
    onlyInB: b.rows.filter((r) => !inA.has(r.rowId)).length,
    keptOnlyA,
    keptOnlyB,
    rows: rows.slice(0, limit),
    truncated: rows.length > limit,
  };
}
