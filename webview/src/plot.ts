// A line chart on uPlot (canvas; MIT, ~50 KB): axis labels, a crosshair whose readout lists every
// visible series' value at the hovered step, drag-to-zoom on x with a Reset button (and double-click),
// a log/linear switch, EMA smoothing (debiased, as TensorBoard's) and series shown or hidden from the
// outside (the panel's shared legend). uPlot works under the webview's strict CSP: it sets styles through
// the CSSOM (element.style), never style attributes or <style> elements, writes text with textContent,
// and needs no eval. Canvas paint cannot read CSS variables, so the theme's colours are resolved from the
// computed style of the chart (the classes .c0 … .c5, .cref) and re-resolved when VS Code switches theme.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom.js';
import { num } from './format.js';

export interface PlotSeries {
  /** Stable id: a series keeps its place (and shown/hidden state) across updates. */
  key: string;
  label: string;
  /** The name the shared legend hides or shows it by (the variant). */
  group: string;
  /** CSS colour class (c0 … c5, cref). */
  colour: string;
  xs: readonly number[];
  ys: readonly (number | null)[];
  dashed?: boolean;
  /** Points drawn at every value (evaluations: filled for greedy decoding, hollow for sampled). */
  markers?: 'filled' | 'hollow';
}

export interface PlotView {
  /** EMA weight of the previous smoothed value, 0 (raw) … 0.99; marker series are never smoothed. */
  smoothing: number;
  /** Groups (variants) the legend switched off. */
  hidden: ReadonlySet<string>;
}

export interface PlotOptions {
  yLabel: string;
  xLabel?: string;
  /** Start on a log y axis (the switch changes it). */
  logY?: boolean;
  hint?: string;
  /** Charts with the same key share the crosshair. */
  syncKey?: string;
  yFormat?: (v: number) => string;
}

const HEIGHT = 190;

/** The theme's colours, read from CSS (custom properties resolve to concrete colours). */
function palette(el: Element): (cls: string) => string {
  const cs = getComputedStyle(el);
  const cache = new Map<string, string>();
  return (cls: string) => {
    let c = cache.get(cls);
    if (c === undefined) {
      c = cs.getPropertyValue(`--${cls}`).trim() || cs.color;
      cache.set(cls, c);
    }
    return c;
  };
}

/** Debiased EMA over the finite values of one series (nulls stay gaps and do not reset it). */
export function smooth(ys: readonly (number | null)[], weight: number): (number | null)[] {
  if (!(weight > 0)) return ys.slice();
  let last = 0;
  let n = 0;
  return ys.map((y) => {
    if (y === null || !Number.isFinite(y)) return null;
    last = last * weight + (1 - weight) * y;
    n++;
    return last / (1 - weight ** n);
  });
}

export class Plot {
  readonly root: HTMLElement;
  private readonly holder = h('div', 'plot-holder');
  private readonly empty = h('div', 'chart-empty', 'no data yet');
  private readonly tip = h('div', 'plot-tip hidden');
  private readonly logBox: HTMLInputElement;
  private readonly reset: HTMLButtonElement;
  private u: uPlot | null = null;
  private shape = '';
  private sig = '';
  private series: PlotSeries[] = [];
  private view: PlotView = { smoothing: 0, hidden: new Set() };
  private zoomed = false;
  private colour: (cls: string) => string;

  constructor(
    title: string,
    private readonly opts: PlotOptions,
  ) {
    this.logBox = h('input', 'log-switch');
    this.logBox.type = 'checkbox';
    this.logBox.checked = opts.logY === true;
    this.logBox.setAttribute('aria-label', `${title}: log scale`);
    this.logBox.addEventListener('change', () => this.rebuild());
    this.reset = h('button', 'link-button hidden', 'reset zoom');
    this.reset.type = 'button';
    this.reset.addEventListener('click', () => this.resetZoom());
    const head = h('figcaption', 'chart-title', h('span', 'chart-name', title), h('span', 'spacer'), this.reset,
      h('label', 'log-label', this.logBox, 'log'));
    if (opts.hint) head.title = opts.hint;
    this.root = h('figure', 'chart', head, this.holder, this.empty);
    this.root.dataset.chart = title;
    this.colour = palette(this.root);
    new ResizeObserver(() => this.fit()).observe(this.holder);
  }

  /** Whether the y axis is logarithmic now. */
  get log(): boolean {
    return this.logBox.checked;
  }

  /** The theme changed: colours are read again and the chart redrawn. */
  retheme(): void {
    this.colour = palette(this.root);
    this.rebuild();
  }

  /** Draws `series` when `sig` (their data versions) or the view changed since the last call. */
  update(series: PlotSeries[], sig: string, view: PlotView): void {
    const vsig = `${sig}|${view.smoothing}|${[...view.hidden].sort().join(',')}`;
    if (vsig === this.sig) return;
    this.sig = vsig;
    this.series = series;
    this.view = view;
    // What is drawn, for tests and the curious: per series, the number of values it has.
    this.root.dataset.colours = series.map((s) => s.colour).join(',');
    this.root.dataset.points = series.map((s) => s.ys.filter((y) => y !== null && Number.isFinite(y)).length).join(',');
    const shape = JSON.stringify(series.map((s) => [s.key, s.colour, s.dashed, s.markers]));
    if (shape !== this.shape || !this.u) {
      this.shape = shape;
      this.rebuild();
      return;
    }
    this.u.setData(this.data(), !this.zoomed);
    this.applyHidden();
  }

  /** x: the sorted union of every series' steps; each series' y aligned on it (null where it has none). */
  private data(): uPlot.AlignedData {
    const xs = [...new Set(this.series.flatMap((s) => s.xs))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const log = this.log;
    const ys = this.series.map((s) => {
      const y: (number | null)[] = new Array<number | null>(xs.length).fill(null);
      const vals = s.markers ? s.ys : smooth(s.ys, this.view.smoothing);
      s.xs.forEach((x, i) => {
        const v = vals[i];
        y[at.get(x) as number] = v === null || !Number.isFinite(v) || (log && v <= 0) ? null : v;
      });
      return y;
    });
    return [xs, ...ys];
  }

  private hasData(): boolean {
    return this.series.some((s) => s.ys.some((y) => y !== null && Number.isFinite(y) && (!this.log || y > 0)));
  }

  private rebuild(): void {
    this.u?.destroy();
    this.u = null;
    this.zoomed = false;
    this.reset.classList.add('hidden');
    this.tip.classList.add('hidden');
    const has = this.hasData();
    this.empty.classList.toggle('hidden', has);
    this.holder.classList.toggle('hidden', !has);
    this.root.dataset.series = String(this.series.length);
    this.root.dataset.log = String(this.log);
    if (!has) return;
    const c = this.colour;
    const fg = c('chart-fg');
    const grid = { stroke: c('chart-grid'), width: 1 };
    const font = `11px ${getComputedStyle(document.body).fontFamily}`;
    const fmt = this.opts.yFormat ?? ((v: number) => num(v, 3));
    const opts: uPlot.Options = {
      width: this.width(),
      height: HEIGHT,
      legend: { show: false },
      scales: { x: { time: false }, y: this.log ? { distr: 3 } : {} },
      cursor: {
        drag: { x: true, y: false, setScale: true },
        sync: this.opts.syncKey ? { key: this.opts.syncKey } : undefined,
        points: { size: 6 },
      },
      axes: [
        { label: this.opts.xLabel ?? 'step', stroke: fg, grid, ticks: grid, font, labelFont: font, labelSize: 16, size: 36 },
        {
          label: this.opts.yLabel, stroke: fg, grid, ticks: grid, font, labelFont: font, labelSize: 16, size: 52,
          values: (_u, vals) => vals.map((v) => (v === null ? '' : fmt(v))),
        },
      ],
      series: [
        { label: this.opts.xLabel ?? 'step' },
        ...this.series.map((s): uPlot.Series => ({
          label: s.label,
          stroke: c(s.colour),
          width: s.markers ? 1.25 : 1.5,
          dash: s.dashed ? [5, 4] : undefined,
          spanGaps: true,
          points: s.markers
            ? { show: true, size: 6, width: 1.5, stroke: c(s.colour), fill: s.markers === 'hollow' ? c('bg') : c(s.colour) }
            : { show: false },
        })),
      ],
      hooks: {
        setCursor: [(u) => this.readout(u)],
        setSelect: [(u) => {
          if (u.select.width > 0) {
            this.zoomed = true;
            this.reset.classList.remove('hidden');
          }
        }],
      },
    };
    this.u = new uPlot(opts, this.data(), this.holder);
    this.u.over.append(this.tip);
    this.u.over.addEventListener('dblclick', () => this.resetZoom());
    this.applyHidden();
  }

  private applyHidden(): void {
    const u = this.u;
    if (!u) return;
    this.series.forEach((s, i) => {
      const show = !this.view.hidden.has(s.group);
      if (u.series[i + 1].show !== show) u.setSeries(i + 1, { show });
    });
  }

  private resetZoom(): void {
    this.zoomed = false;
    this.reset.classList.add('hidden');
    if (this.u) this.u.setData(this.data(), true);
  }

  /** The crosshair's readout: the step and every visible series' value there, beside the cursor. */
  private readout(u: uPlot): void {
    const idx = u.cursor.idx;
    if (idx === null || idx === undefined || u.cursor.left === undefined || u.cursor.left < 0) {
      this.tip.classList.add('hidden');
      return;
    }
    const x = u.data[0][idx];
    const rows = this.series.flatMap((s, i) => {
      const v = u.data[i + 1][idx];
      if (!u.series[i + 1].show || v === null || v === undefined) return [];
      const row = h('div', 'tip-row', h('span', `dot-swatch ${s.colour}`), h('span', 'tip-label', s.label),
        h('span', 'tip-value', num(v, 4)));
      row.dataset.key = s.key;
      row.dataset.value = String(v);
      return [row];
    });
    const head = h('div', 'tip-head', `${this.opts.xLabel ?? 'step'} ${x}`);
    head.dataset.x = String(x);
    this.tip.replaceChildren(head, ...rows);
    this.tip.classList.toggle('hidden', rows.length === 0);
    const left = u.cursor.left;
    const flip = left > u.over.clientWidth / 2;
    this.tip.style.left = flip ? '' : `${left + 12}px`;
    this.tip.style.right = flip ? `${u.over.clientWidth - left + 12}px` : '';
    this.tip.style.top = '4px';
  }

  private width(): number {
    return Math.max(200, Math.floor(this.holder.clientWidth || this.root.clientWidth - 16 || 340));
  }

  private fit(): void {
    if (!this.u) return;
    const w = this.width();
    if (Math.abs(w - this.u.width) >= 2) this.u.setSize({ width: w, height: HEIGHT });
  }
}

/** Calls `f` when VS Code switches theme (it rewrites the body's classes and the root's style variables). */
export function onThemeChange(f: () => void): void {
  let pending = false;
  const fire = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      f();
    });
  };
  const mo = new MutationObserver(fire);
  mo.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  mo.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
}

