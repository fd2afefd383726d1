// The comparison table of a multi-variant run, from its summary.json: one row per variant, with the
// sampled and greedy total reward, each reward component, distinct-1/2/3, response length and
// preference accuracy (for the decoding chosen in the select), filtered fraction, steps and training
// seconds. The best value of each reward and diversity column is marked; a reward nothing could score
// (rewards read from data fields cannot score generated text) is null in summary.json, shown as '–' and
// never marked best.

import { select, table, type SelectHandle } from './components.js';
import { h, replaceChildren, section } from './dom.js';
import { fixed, int, pct, DASH } from './format.js';
import { colourOf, type RunModel } from './model.js';
import { displayName } from './view.js';
import type { RunSummary } from '../../src/protocol/webview.js';

type Metrics = RunSummary['variants'][string]['heldout'];

export class ComparisonPanel {
  readonly root: HTMLElement;
  private readonly decoding: SelectHandle;
  private readonly holder = h('div', 'table-scroll');
  private ver = -1;
  private model: RunModel | null = null;

  constructor() {
    const sec = section('Comparison', 'comparison');
    this.root = sec.root;
    sec.note.textContent = ' held-out test prompts, from summary.json';
    this.decoding = select('metrics of greedy or sampled decoding', () => this.model && this.draw(this.model));
    this.decoding.setOptions([
      { value: 'greedy', label: 'greedy decoding' },
      { value: 'sampled', label: 'sampled decoding' },
    ]);
    sec.body.append(h('div', 'filters', h('label', '', 'components, diversity and length of ', this.decoding.el)), this.holder);
  }

  render(model: RunModel): void {
    this.model = model;
    if (model.ver.summary === this.ver) return;
    this.ver = model.ver.summary;
    this.draw(model);
  }

  private draw(model: RunModel): void {
    const summary = model.summary;
    this.root.classList.toggle('hidden', !summary);
    if (!summary) return;
    const entries = Object.entries(summary.variants);
    const pick = (v: RunSummary['variants'][string]): Metrics => (this.decoding.value() === 'sampled' ? v.heldoutSampled : v.heldout);
    const components: string[] = [];
    for (const [, v] of entries) {
      for (const k of Object.keys(v.heldout.reward)) if (k !== 'total' && !components.includes(k)) components.push(k);
    }
    const hasAccuracy = entries.some(([, v]) => v.heldout.preferenceAccuracy !== undefined && v.heldout.preferenceAccuracy !== null);

    type Variant = RunSummary['variants'][string];
    type Col = {
      head: string;
      value: (v: Variant) => number | null;
      fmt: (x: number | null) => string;
      best?: 'max' | 'min';
      tip?: string;
    };
    const cols: Col[] = [
      { head: 'reward (sampled)', value: (v) => v.heldoutSampled.reward.total ?? null, fmt: fixed, best: 'max' },
      { head: 'reward (greedy)', value: (v) => v.heldout.reward.total ?? null, fmt: fixed, best: 'max' },
      ...components.map((k): Col => ({
        head: k,
        value: (v) => pick(v).reward[k] ?? null,
        fmt: fixed,
        best: 'max',
        tip: `reward component ${k}`,
      })),
      { head: 'distinct-1', value: (v) => pick(v).distinct1, fmt: fixed, best: 'max' },
      { head: 'distinct-2', value: (v) => pick(v).distinct2, fmt: fixed, best: 'max' },
      { head: 'distinct-3', value: (v) => pick(v).distinct3, fmt: fixed, best: 'max' },
      { head: 'tokens', value: (v) => pick(v).length, fmt: (x) => fixed(x, 1), tip: 'mean response length in tokens' },
      ...(hasAccuracy
        ? [{ head: 'pref. accuracy', value: (v: Variant) => v.heldout.preferenceAccuracy ?? null, fmt: fixed, best: 'max' as const }]
        : []),
      {
        head: 'filtered',
        value: (v) => v.filteredFraction,
        fmt: (x) => pct(x),
        tip: 'share of training rows with A <= 0, left out of training',
      },
      { head: 'steps', value: (v) => v.steps, fmt: int },
      { head: 'train s', value: (v) => v.trainSeconds, fmt: (x) => (x === null ? DASH : x.toFixed(1)) },
    ];
    const t = table('comparison-table', ['variant', ...cols.map((c) => c.head)]);
    Array.from(t.head.cells).slice(1).forEach((th, i) => {
      th.className = 'n';
      if (cols[i].tip) th.title = cols[i].tip ?? '';
    });
    const bests = cols.map((c) => {
      if (!c.best || entries.length < 2) return null;
      const vals = entries.map(([, v]) => c.value(v)).filter((x): x is number => x !== null && Number.isFinite(x));
      return vals.length ? (c.best === 'max' ? Math.max(...vals) : Math.min(...vals)) : null;
    });
    for (const [name, v] of entries) {
      const nameCell = h('td', 'nowrap sticky-0', h('span', `dot-swatch ${colourOf(model, name)}`), displayName(name));
      const tr = h('tr', /(^|\/)reference$/.test(name) ? 'reference-row' : '', nameCell,
        ...cols.map((c, i) => {
          const x = c.value(v);
          return h('td', `n${bests[i] !== null && x === bests[i] ? ' best' : ''}`, c.fmt(x));
        }));
      tr.dataset.variant = name;
      if (v.evaluatedStep !== undefined && v.evaluatedStep !== null) {
        const how = v.selectedBy ? ` (${v.selectedBy === 'final' ? 'final' : `best ${v.selectedBy}`})` : '';
        nameCell.title = `evaluated: step ${v.evaluatedStep}${how}`;
      }
      t.body.append(tr);
    }
    const prompts = summary.prompts !== undefined ? ` on ${summary.prompts} test prompts` : '';
    const seed = summary.seed !== undefined ? `, seed ${summary.seed}` : '';
    const foot = h('p', 'muted small', `${entries.length} variants${prompts}${seed}; the best value per column is bold; – = n/a.`);
    replaceChildren(this.holder, t.el, foot);
  }
}
