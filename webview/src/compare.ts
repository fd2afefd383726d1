// The comparison of several runs (compare/didOpen): which runs, how their configs differ (every key
// whose value is not the same in all of them), and the kept-set difference of the first two audits —
// the rows one keeps (A > 0) and the other filters, each openable in the editor. Curves, the comparison
// table and the samples of the runs are drawn by the other panels from the merged view (model.viewOf).

import { h, replaceChildren, section } from './dom.js';
import { fixed, int } from './format.js';
import type { RunModel } from './model.js';
import { table } from './components.js';

/** Leaf values of a JSON object by dotted path (arrays as one JSON value). */
export function flatten(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out.set(prefix, JSON.stringify(value) ?? 'undefined');
  return out;
}

/** The config keys whose values differ between the runs (a key a run lacks reads "—"). */
export function configDiff(configs: readonly unknown[]): { path: string; values: string[] }[] {
  const flat = configs.map((c) => flatten(c));
  const paths = [...new Set(flat.flatMap((f) => [...f.keys()]))].sort();
  return paths.flatMap((p) => {
    const values = flat.map((f) => f.get(p) ?? '—');
    return values.every((v) => v === values[0]) ? [] : [{ path: p, values }];
  });
}

export class ComparePanel {
  readonly root: HTMLElement;
  private ver = -1;

  constructor(private readonly openRow: (file: string, line: number) => void) {
    const sec = section('Compare runs', 'compare');
    this.root = sec.root;
    this.body = sec.body;
    this.root.classList.add('hidden');
  }

  private readonly body: HTMLElement;

  render(model: RunModel): void {
    const c = model.compare;
    this.root.classList.toggle('hidden', !c);
    if (!c) return;
    const ver = c.runs.reduce((a, r) => a + r.model.ver.header, model.ver.header);
    if (ver === this.ver) return;
    this.ver = ver;
    const runs = table('compare-runs', ['run', 'title', 'folder', 'variants']);
    for (const r of c.runs) {
      const names = r.model.names.length ? r.model.names.join(', ') : '—';
      const label = h('td', 'nowrap', h('strong', '', r.label));
      runs.body.append(h('tr', '', label, h('td', '', r.title), h('td', 'path', r.runDir), h('td', '', names)));
    }
    const configs = c.runs.map((r) => r.model.start?.config ?? null);
    const missing = c.runs.filter((_, i) => configs[i] === null).map((r) => r.label);
    const diff = configDiff(configs.filter((x) => x !== null));
    const cfg = table('config-diff', ['key', ...c.runs.filter((_, i) => configs[i] !== null).map((r) => r.label)]);
    for (const d of diff) cfg.body.append(h('tr', '', h('td', 'path', d.path), ...d.values.map((v) => h('td', 'value', v))));
    const cfgNote = diff.length === 0 ? 'The configs are identical.' : `${diff.length} key${diff.length === 1 ? '' : 's'} differ.`;
    replaceChildren(this.body,
      runs.el,
      h('h3', 'sub-title', 'Config difference'),
      h('p', 'muted small', cfgNote, missing.length ? ` No recorded config (the run has no start event) in ${missing.join(', ')}.` : ''),
      diff.length ? h('div', 'table-scroll', cfg.el) : null,
      h('h3', 'sub-title', 'Kept-set difference'),
      this.keptDiff(model));
  }

  private keptDiff(model: RunModel): HTMLElement {
    const c = model.compare;
    const d = c?.keptDiff;
    if (!c || !d) return h('p', 'muted', c?.keptDiffNote ?? 'No kept-set difference: the runs have no advantages.jsonl to compare.');
    const summary = h('p', 'kept-summary',
      `${int(d.common)} rows in both audits: ${int(d.keptOnlyA)} kept by ${d.a} only, ${int(d.keptOnlyB)} kept by ${d.b} only`,
      d.onlyInA || d.onlyInB ? ` (${int(d.onlyInA)} rows only in ${d.a}, ${int(d.onlyInB)} only in ${d.b}: not compared)` : '',
      '.');
    if (d.rows.length === 0) return h('div', '', summary);
    const t = table('kept-diff', ['row', 'id', `A (${d.a})`, `A (${d.b})`, 'kept by']);
    for (const r of d.rows) {
      const link = h('button', 'link-button', `${basename(r.file)}:${r.line}`);
      link.type = 'button';
      link.title = `open ${r.file} at line ${r.line}`;
      link.addEventListener('click', () => this.openRow(r.file, r.line));
      const tr = h('tr', '', h('td', 'nowrap', link), h('td', 'path', r.rowId),
        h('td', 'n', fixed(r.advantageA)), h('td', 'n', fixed(r.advantageB)),
        h('td', 'nowrap', r.keptIn === 'a' ? d.a : d.b));
      tr.dataset.rowId = r.rowId;
      tr.dataset.keptIn = r.keptIn;
      t.body.append(tr);
    }
    const more = d.truncated ? h('p', 'muted small', `Showing the ${d.rows.length} rows whose advantage changed most.`) : null;
    return h('div', '', summary, h('div', 'table-scroll kept-diff-scroll', t.el), more);
  }
}

function basename(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}
