// A small SVG line chart: one <path> per series, reused between renders (only its `d` changes), axes
// redrawn only when the domain moves. Colours come from CSS classes (.c0 … .c5 map to VS Code's
// --vscode-charts-* variables), so light, dark and high-contrast themes apply without a redraw.
// Long series are thinned to the min and max of each pixel column, so a 20k-step run costs about as
// much to draw as a 600-step one. Coordinates live in a fixed viewBox; CSS scales the <svg>.

import { h, s, setAttrs, setText } from './dom.js';
import { num } from './format.js';

export interface Series {
  /** Stable id: its <path> is reused across renders. */
  key: string;
  label: string;
  /** CSS colour class (c0 … c5, cref). */
  colour: string;
  xs: readonly number[];
  ys: readonly (number | null)[];
  dashed?: boolean;
  markers?: 'filled' | 'hollow';
  /** Horizontal nudge in px, so markers of series at the same x (evaluations) do not hide each other. */
  dx?: number;
  /** The data version: a path whose version and domain did not move is left alone. */
  ver?: number;
}

const W = 360;
const H = 190;
const M = { left: 46, right: 10, top: 8, bottom: 24 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

interface Domain {
  lo: number;
  hi: number;
  ticks: number[];
}

function linearDomain(lo: number, hi: number, count: number): Domain {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) ?? 10 * mag;
  const dlo = Math.floor(lo / step + 1e-9) * step;
  const dhi = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = dlo; v <= dhi + step * 1e-6; v += step) ticks.push(Math.abs(v) < step * 1e-6 ? 0 : v);
  return { lo: dlo, hi: dhi, ticks };
}

/** Log10 domain: decades, plus 2x and 5x ticks when the data spans less than two of them. */
function logDomain(lo: number, hi: number): Domain {
  const a = Math.floor(Math.log10(lo));
  const b = Math.max(a + 1, Math.ceil(Math.log10(hi)));
  const ticks: number[] = [];
  for (let k = a; k <= b; k++) {
    for (const m of b - a <= 2 ? [1, 2, 5] : [1]) {
      const v = m * 10 ** k;
      if (v <= 10 ** b) ticks.push(v);
    }
  }
  return { lo: a, hi: b, ticks };
}

export class LineChart {
  readonly root: HTMLElement;
  private readonly svg: SVGSVGElement;
  private readonly axes: SVGGElement;
  private readonly plot: SVGGElement;
  private readonly empty: SVGTextElement;
  private readonly paths = new Map<string, { path: SVGPathElement; title: SVGTitleElement; marks: SVGGElement; sig: string }>();
  private sig = '';
  private domainSig = '';

  constructor(
    title: string,
    private readonly opts: { logY?: boolean; yFormat?: (v: number) => string; hint?: string } = {},
  ) {
    this.svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-label': title });
    this.axes = s('g', { class: 'axes' });
    this.plot = s('g', { class: 'plot' });
    this.empty = s('text', { x: M.left + PW / 2, y: M.top + PH / 2, class: 'chart-empty', 'text-anchor': 'middle' }, 'no data yet');
    this.svg.append(this.axes, this.plot, this.empty);
    const head = h('figcaption', 'chart-title', title, opts.logY ? h('span', 'chart-hint', ' (log scale)') : null);
    if (opts.hint) head.title = opts.hint;
    this.root = h('figure', 'chart', head, this.svg);
  }

  /** Redraws when `sig` (the data versions) changed since the last call. */
  update(series: Series[], sig: string): void {
    if (sig === this.sig) return;
    this.sig = sig;
    const log = this.opts.logY === true;
    const ok = (y: number | null): y is number => y !== null && Number.isFinite(y) && (!log || y > 0);
    let xMax = 1;
    let yLo = Infinity;
    let yHi = -Infinity;
    for (const se of series) {
      for (let i = 0; i < se.xs.length; i++) {
        const y = se.ys[i];
        if (!ok(y)) continue;
        xMax = Math.max(xMax, se.xs[i]);
        yLo = Math.min(yLo, y);
        yHi = Math.max(yHi, y);
      }
    }
    const hasData = yLo <= yHi;
    this.empty.classList.toggle('hidden', hasData);
    if (!hasData) {
      this.axes.replaceChildren();
      for (const p of this.paths.values()) {
        p.path.remove();
        p.marks.remove();
      }
      this.paths.clear();
      this.domainSig = '';
      return;
    }
    const xd = linearDomain(0, xMax, 4);
    const yd = log ? logDomain(yLo, yHi) : linearDomain(yLo, yHi, 4);
    const X = (x: number) => M.left + ((x - xd.lo) / (xd.hi - xd.lo)) * PW;
    const Y = (y: number) => M.top + PH - (((log ? Math.log10(y) : y) - yd.lo) / (yd.hi - yd.lo)) * PH;
    const dsig = `${xd.lo},${xd.hi},${yd.lo},${yd.hi},${yd.ticks.length}`;
    if (dsig !== this.domainSig) {
      this.domainSig = dsig;
      this.drawAxes(xd, yd, X, Y);
    }
    const seen = new Set<string>();
    for (const se of series) {
      seen.add(se.key);
      let entry = this.paths.get(se.key);
      if (!entry) {
        const title = s('title');
        const path = s('path', { fill: 'none' }, title);
        const marks = s('g');
        this.plot.append(path, marks);
        entry = { path, title, marks, sig: '' };
        this.paths.set(se.key, entry);
      }
      const dx = se.dx ?? 0;
      const Xs = dx === 0 ? X : (x: number) => Math.min(M.left + PW, Math.max(M.left + 3, X(x) + dx));
      const psig = `${dsig}|${se.ver ?? NaN}|${se.colour}|${se.xs.length}|${dx}`;
      if (se.ver !== undefined && psig === entry.sig) continue;
      entry.sig = psig;
      setAttrs(entry.path, { d: pathOf(se, Xs, Y, ok), class: `line ${se.colour}${se.dashed ? ' dashed' : ''}` });
      setText(entry.title, se.label);
      entry.marks.replaceChildren();
      if (se.markers) {
        for (let i = 0; i < se.xs.length; i++) {
          const y = se.ys[i];
          if (!ok(y)) continue;
          const c = s('circle', { cx: r1(Xs(se.xs[i])), cy: r1(Y(y)), r: 3, class: `mark ${se.colour} ${se.markers}` });
          c.append(s('title', {}, `${se.label} · step ${se.xs[i]}: ${num(y)}`));
          entry.marks.append(c);
        }
      }
    }
    for (const [key, entry] of this.paths) {
      if (seen.has(key)) continue;
      entry.path.remove();
      entry.marks.remove();
      this.paths.delete(key);
    }
  }

  private drawAxes(xd: Domain, yd: Domain, X: (x: number) => number, Y: (y: number) => number): void {
    const fmt = this.opts.yFormat ?? ((v: number) => num(v, 3));
    const g: SVGElement[] = [];
    for (const v of yd.ticks) {
      const y = r1(Y(v));
      g.push(s('line', { x1: M.left, x2: M.left + PW, y1: y, y2: y, class: 'grid' }));
      g.push(s('text', { x: M.left - 5, y: y + 3.5, class: 'tick', 'text-anchor': 'end' }, fmt(v)));
    }
    for (const v of xd.ticks) {
      const x = r1(X(v));
      g.push(s('line', { x1: x, x2: x, y1: M.top + PH, y2: M.top + PH + 4, class: 'axis' }));
      g.push(s('text', { x, y: H - 8, class: 'tick', 'text-anchor': 'middle' }, num(v, 3)));
    }
    g.push(s('line', { x1: M.left, x2: M.left + PW, y1: M.top + PH, y2: M.top + PH, class: 'axis' }));
    this.axes.replaceChildren(...g);
  }
}

const r1 = (v: number) => Math.round(v * 10) / 10;

/** SVG path data; gaps (null) break the line; past 2 points per pixel column, min and max per column. */
function pathOf(se: Series, X: (x: number) => number, Y: (y: number) => number, ok: (y: number | null) => y is number): string {
  const parts: string[] = [];
  let pen = false;
  const thin = se.xs.length > 2 * PW;
  let col = NaN;
  let lo: [number, number] | null = null;
  let hi: [number, number] | null = null;
  const emit = (x: number, y: number) => {
    parts.push(`${pen ? 'L' : 'M'}${r1(x)} ${r1(y)}`);
    pen = true;
  };
  const flush = () => {
    if (!lo || !hi) return;
    const [a, b] = lo[0] <= hi[0] ? [lo, hi] : [hi, lo];
    emit(...a);
    if (b !== a) emit(...b);
    lo = hi = null;
  };
  for (let i = 0; i < se.xs.length; i++) {
    const y = se.ys[i];
    if (!ok(y)) {
      flush();
      pen = false;
      continue;
    }
    const px = X(se.xs[i]);
    const py = Y(y);
    if (!thin) {
      emit(px, py);
      continue;
    }
    const c = Math.floor(px);
    if (c !== col) {
      flush();
      col = c;
    }
    const p: [number, number] = [px, py];
    if (!lo || py > lo[1]) lo = p; // larger SVG y = lower value
    if (!hi || py < hi[1]) hi = p;
  }
  flush();
  return parts.join('');
}
