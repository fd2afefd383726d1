// The advantage panel, drawn as soon as advantages/didCompute arrives: the histogram of A = R - V(x)
// with kept (A > 0) and filtered (A <= 0) rows stacked per bin and the zero line marked, and beside it
// the counts (total and per row kind), the positive fraction, the value head's MSE against the mean
// predictor with its verdict, and the training budget. Clicking a bin (or Enter on it) asks the host
// to list that bin's rows (histogram/openBin {lo, hi}).

import { h, replaceChildren, s, section } from './dom.js';
import { int, niceTicks, num, pct } from './format.js';
import type { Advantages, RunModel } from './model.js';

const W = 560;
const H = 230;
const M = { left: 44, right: 12, top: 20, bottom: 28 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

export class AdvantagesPanel {
  readonly root: HTMLElement;
  private readonly chart: HTMLElement;
  private readonly stats: HTMLElement;
  private ver = -1;

  constructor(private readonly onOpenBin: (lo: number, hi: number) => void) {
    const sec = section('Advantages', 'advantages');
    this.root = sec.root;
    sec.note.textContent = ' A = R − V(x); rows with A ≤ 0 are filtered out of A-LoL training';
    this.chart = h('div', 'histogram');
    this.stats = h('div', 'adv-stats');
    sec.body.append(h('div', 'adv-layout', this.chart, this.stats));
  }

  render(model: RunModel): void {
    if (model.ver.advantages === this.ver) return;
    this.ver = model.ver.advantages;
    const adv = model.advantages;
    if (!adv) {
      replaceChildren(this.chart, h('p', 'muted', 'Waiting for the advantages phase (after the reference, rewards and value head).'));
      this.stats.replaceChildren();
      return;
    }
    replaceChildren(this.chart, this.drawHistogram(adv), h('p', 'muted small', 'Click a bin to list its rows.'));
    replaceChildren(this.stats, ...statsOf(adv));
  }

  private drawHistogram(adv: Advantages): SVGSVGElement {
    const { edges, kept, filtered } = adv.histogram;
    const n = Math.min(edges.length - 1, kept.length, filtered.length);
    const lo = edges[0];
    const hi = edges[n];
    const X = (v: number) => M.left + ((v - lo) / (hi - lo || 1)) * PW;
    const maxCount = Math.max(1, ...Array.from({ length: n }, (_, i) => kept[i] + filtered[i]));
    const yTicks = niceTicks(0, maxCount, 4);
    const yMax = Math.max(maxCount, yTicks.at(-1) ?? maxCount);
    const Y = (c: number) => M.top + PH - (c / yMax) * PH;
    const r1 = (v: number) => Math.round(v * 10) / 10;
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'histogram-svg', role: 'img', 'aria-label': 'advantage histogram' });
    for (const t of yTicks) {
      svg.append(s('line', { x1: M.left, x2: M.left + PW, y1: r1(Y(t)), y2: r1(Y(t)), class: 'grid' }));
      svg.append(s('text', { x: M.left - 5, y: r1(Y(t)) + 3.5, class: 'tick', 'text-anchor': 'end' }, int(t)));
    }
    const every = Math.max(1, Math.ceil((n + 1) / 8));
    let lastLabelX = -Infinity;
    edges.slice(0, n + 1).forEach((e, i) => {
      if ((i % every !== 0 && i !== n && e !== 0) || X(e) - lastLabelX < 30) return;
      lastLabelX = X(e);
      svg.append(s('line', { x1: r1(X(e)), x2: r1(X(e)), y1: M.top + PH, y2: M.top + PH + 4, class: 'axis' }));
      svg.append(s('text', { x: r1(X(e)), y: H - 9, class: 'tick', 'text-anchor': 'middle' }, num(e, 2)));
    });
    for (let i = 0; i < n; i++) {
      const x0 = X(edges[i]) + 0.75;
      const w = Math.max(0.5, X(edges[i + 1]) - X(edges[i]) - 1.5);
      const g = s('g', { class: 'bin' });
      if (kept[i] > 0) {
        g.append(s('rect', { x: r1(x0), width: r1(w), y: r1(Y(kept[i])), height: r1(Y(0) - Y(kept[i])), class: 'bar kept' }));
      }
      if (filtered[i] > 0) {
        const top = Y(kept[i] + filtered[i]);
        g.append(s('rect', { x: r1(x0), width: r1(w), y: r1(top), height: r1(Y(kept[i]) - top), class: 'bar filtered' }));
      }
      const label = `A in [${num(edges[i], 3)}, ${num(edges[i + 1], 3)}): ${kept[i]} kept, ${filtered[i]} filtered`;
      const box = { x: r1(x0), width: r1(w), y: M.top, height: PH };
      const bin = { 'aria-label': label, 'data-lo': edges[i], 'data-hi': edges[i + 1] };
      const attrs = { ...box, class: 'bin-hit', tabindex: 0, role: 'button', ...bin };
      const hit = s('rect', attrs, s('title', {}, `${label} — click to list these rows`));
      const open = () => this.onOpenBin(edges[i], edges[i + 1]);
      hit.addEventListener('click', open);
      hit.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          open();
        }
      });
      g.append(hit);
      svg.append(g);
    }
    svg.append(s('line', { x1: M.left, x2: M.left + PW, y1: M.top + PH, y2: M.top + PH, class: 'axis' }));
    if (lo <= 0 && hi >= 0) {
      const x0 = r1(X(0));
      svg.append(s('line', { x1: x0, x2: x0, y1: M.top - 6, y2: M.top + PH, class: 'zero-line' }));
      svg.append(s('text', { x: x0 + 4, y: M.top - 8, class: 'tick zero-label' }, 'A = 0'));
    }
    svg.append(s('text', { x: M.left, y: M.top - 8, class: 'tick' }, 'rows'));
    return svg;
  }
}

function statsOf(adv: Advantages): Element[] {
  const { rows, kept, filtered } = adv.counts;
  const keptShare = rows > 0 ? kept / rows : 0;
  const kv = (k: string, v: string, cls = '') => h('div', `kv ${cls}`, h('span', 'k', k), h('span', 'v', v));
  const share = s('svg', { viewBox: '0 0 200 10', class: 'share', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
    s('rect', { x: 0, y: 0, width: Math.round(keptShare * 2000) / 10, height: 10, class: 'bar kept' }),
    s('rect', {
      x: Math.round(keptShare * 2000) / 10,
      y: 0,
      width: Math.round((1 - keptShare) * 2000) / 10,
      height: 10,
      class: 'bar filtered',
    }));
  const counts = h('div', 'counts',
    h('div', 'count kept', h('span', 'count-n', int(kept)), h('span', 'count-l', 'kept (A > 0)')),
    h('div', 'count filtered', h('span', 'count-n', int(filtered)), h('span', 'count-l', 'filtered (A ≤ 0)')),
    h('div', 'count total', h('span', 'count-n', int(rows)), h('span', 'count-l', 'rows')));
  const kinds = Object.entries(adv.byKind);
  const kindTable = h('table', 'table compact',
    h('thead', '', h('tr', '', h('th', '', 'kind'), h('th', 'n', 'kept'), h('th', 'n', 'filtered'), h('th', 'n', 'kept %'))),
    h('tbody', '', ...kinds.map(([kind, c]) => {
      const keptPct = pct(c.kept + c.filtered > 0 ? c.kept / (c.kept + c.filtered) : null);
      return h('tr', '', h('td', '', kind), h('td', 'n', int(c.kept)), h('td', 'n', int(c.filtered)), h('td', 'n', keptPct));
    })));
  const v = adv.value;
  const r = adv.reward;
  const b = adv.budget;
  const verdict = v.betterThanMean
    ? `beats the mean predictor: V(x) uses what the prompt says about the reward`
    : `no better than predicting the mean reward: A is about R − mean(R)`;
  return [
    counts,
    share,
    kv('positive fraction', pct(adv.positiveFraction)),
    h('div', `verdict ${v.betterThanMean ? 'good' : 'warn'}`,
      h('span', 'k', `value head (fit on ${v.fitOn})`),
      h('span', 'v', `MSE ${num(v.headMse, 4)} vs ${num(v.meanMse, 4)} for the mean`),
      h('span', 'verdict-text', verdict)),
    kv('reward', `mean ${num(r.mean)} · min ${num(r.min)} · max ${num(r.max)} (range ${num(r.range[0])}…${num(r.range[1])})`),
    kv('budget', `${b.variant}, ${b.sampler} sampler: ${int(b.steps)} steps${b.scaled ? ' (scaled by the positive fraction)' : ''}`),
    h('h3', 'sub-title', 'Per row kind'),
    kindTable,
    h('p', 'muted small', `Per-row advantages: ${adv.file} in the run folder (not sent to the dashboard).`),
  ];
}
