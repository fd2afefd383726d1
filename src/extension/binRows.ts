// The rows of one advantage-histogram bin as the dashboard's click lists them (without `vscode`): sorted by
// advantage, highest first, each with A, R, kept/filtered, file:line, its id and an excerpt of its prompt and
// response read from the dataset (by row identity, so an edited file still finds the row's text).

import type { AdvantageRow } from '../protocol/advantages.js';
import type { LineRows } from './datasetRows.js';

export interface BinItem {
  label: string;
  description: string;
  detail: string;
  row: AdvantageRow;
}

/** At most `max` characters of `s` on one line: whitespace runs as one space, an ellipsis when cut. */
export function excerpt(s: string, max: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length <= max ? one : `${one.slice(0, max - 1).trimEnd()}…`;
}

/**
 * The rows with lo <= A < hi (the last bin includes hi when `closed`), sorted by advantage (highest first).
 * `rowsOf(file)` gives a dataset's rows (null when it cannot be read, e.g. compressed): the excerpt then says so.
 */
export function binItems(
  rows: readonly AdvantageRow[],
  lo: number,
  hi: number,
  rowsOf: (file: string) => LineRows[] | null,
  basename: (file: string) => string,
  closed = false,
): BinItem[] {
  const inBin = rows.filter((r) => r.advantage >= lo && (r.advantage < hi || (closed && r.advantage === hi)));
  const texts = new Map<string, Map<string, { prompt: string; response: string }> | null>();
  const textOf = (r: AdvantageRow) => {
    if (!texts.has(r.file)) {
      const lines = rowsOf(r.file);
      const byId = (ls: LineRows[]) => new Map(ls.flatMap((l) => l.rows.map((x) => [x.id, { prompt: x.prompt, response: x.response }])));
      texts.set(r.file, lines ? byId(lines) : null);
    }
    return texts.get(r.file);
  };
  return [...inBin]
    .sort((a, b) => b.advantage - a.advantage || a.file.localeCompare(b.file) || a.line - b.line)
    .map((r) => {
      const file = textOf(r);
      const t = file?.get(r.rowId);
      const detail = t
        ? `${excerpt(t.prompt, 60)} ⟶ ${excerpt(t.response, 90)}`
        : file === null ? `${r.rowId} (text not shown: the file cannot be read here)` : `${r.rowId} (not in the file now)`;
      return {
        label: `A ${r.advantage >= 0 ? '+' : ''}${r.advantage.toFixed(3)}  R ${r.reward.total.toFixed(3)}  ${r.kept ? 'kept' : 'filtered'}`,
        description: `${basename(r.file)}:${r.line} · ${r.rowId}`,
        detail,
        row: r,
      };
    });
}
