// Training and evaluation curves, one line per variant (step on x): the reference's fine-tuning (π_ref
// SFT: loss, learning rate, gradient norm), then training (loss, learning rate, gradient norm, mean
// importance weight, clip fraction) and the evaluation reward per component. One shared legend names the
// variants and shows or hides one everywhere (click); a smoothing slider applies an EMA to every line;
// each chart has a crosshair readout, drag-to-zoom with reset, and a log/linear switch (plot.ts). The
// colour of a variant is its order of appearance in the run.

import { h, s, replaceChildren, section } from './dom.js';
import { colourOf, type MetricKey, type RunModel, type VariantSeries } from './model.js';
import { displayName } from './view.js';
import { onThemeChange, Plot, type PlotSeries, type PlotView } from './plot.js';

interface ChartSpec {
  key: MetricKey;
  title: string;
  yLabel: string;
  logY?: boolean;
  hint: string;
}

const TRAIN_CHARTS: ChartSpec[] = [
  {
    key: 'loss', title: 'loss', yLabel: 'loss', logY: true,
    hint: 'training loss per step (variants use different losses: compare shapes, not levels)',
  },
  { key: 'lr', title: 'learning rate', yLabel: 'lr', hint: 'learning rate per step (schedule and warmup)' },
  { key: 'gradNorm', title: 'gradient norm', yLabel: '‖g‖ before clipping', logY: true, hint: 'global gradient norm before clipping' },
  {
    key: 'meanImportanceWeight', title: 'mean importance weight', yLabel: 'π_θ / π_ref',
    hint: 'mean of the importance weight π_θ(y|x) / π_ref(y|x) over the batch (A-LoL variants): exactly 1 at step 0, ' +
      'it grows as the policy moves away from the reference',
  },
  {
    key: 'clipFraction', title: 'clip fraction', yLabel: 'share clipped',
    hint: 'share of importance weights at a clip bound 1 ± ε. Near 1, almost every weight is clipped: the gradient no longer ' +
      'follows the ratio π_θ / π_ref, the policy has moved far from π_ref (lower the learning rate, or use a_lol_seq)',
  },
];

const SFT_CHARTS: ChartSpec[] = [
  { key: 'loss', title: 'π_ref SFT loss', yLabel: 'NLL per token', logY: true, hint: 'the reference fine-tuning\'s NLL per step' },
  { key: 'lr', title: 'π_ref SFT learning rate', yLabel: 'lr', hint: 'cosine schedule with warmup' },
  { key: 'gradNorm', title: 'π_ref SFT gradient norm', yLabel: '‖g‖ before clipping', logY: true, hint: 'before clipping' },
];

export class CurvesPanel {
  readonly root: HTMLElement;
  private readonly legend: HTMLElement;
  private readonly slider: HTMLInputElement;
  private readonly sliderValue = h('span', 'slider-value', '0');
  private readonly sftBlock: HTMLElement;
  private readonly valueBlock: HTMLElement;
  private readonly valuePlot = new Plot('value head MSE', {
    yLabel: 'MSE', xLabel: 'epoch', logY: true, syncKey: 'value',
    hint: 'the value head\'s fit, epoch by epoch (fold after fold when fitted out-of-fold): training MSE (solid, with dropout) and ' +
      'held-out MSE (dashed); the epoch with the lowest held-out MSE is kept',
  });
  private readonly trainGrid: HTMLElement;
  private readonly trainEmpty = h('p', 'muted', 'No training steps yet: the curves start with the first training step.');
  private readonly evalGrid: HTMLElement;
  private readonly sft = new Map<MetricKey, Plot>();
  private readonly train = new Map<MetricKey, Plot>();
  private readonly evalCharts = new Map<string, Plot>();
  private readonly hidden = new Set<string>();
  private ver = -1;
  private legendSig = '';
  private model: RunModel | null = null;

  constructor() {
    const sec = section('Curves', 'curves');
    this.root = sec.root;
    this.legend = h('div', 'legend');
    this.slider = h('input', 'smoothing');
    this.slider.type = 'range';
    this.slider.min = '0';
    this.slider.max = '0.99';
    this.slider.step = '0.01';
    this.slider.value = '0';
    this.slider.setAttribute('aria-label', 'smoothing');
    this.slider.addEventListener('input', () => {
      this.sliderValue.textContent = Number(this.slider.value).toFixed(2);
      this.redraw();
    });
    const controls = h('div', 'filters curve-controls',
      h('label', 'nowrap', 'smoothing (EMA) ', this.slider, this.sliderValue),
      h('span', 'muted small', 'hover: values at a step · drag: zoom · double-click: reset · legend: show/hide'));
    this.trainGrid = h('div', 'chart-grid');
    this.evalGrid = h('div', 'chart-grid');
    const sftGrid = h('div', 'chart-grid');
    const title = (text: string) => h('h3', 'sub-title', text);
    for (const c of SFT_CHARTS) {
      const p = new Plot(c.title, { yLabel: c.yLabel, logY: c.logY, hint: c.hint, syncKey: 'sft' });
      this.sft.set(c.key, p);
      sftGrid.append(p.root);
    }
    this.sftBlock = h('div', 'sft-block hidden', title('Reference fine-tuning (π_ref SFT)'), sftGrid);
    this.valueBlock = h('div', 'value-block hidden', title('Value head fit'), h('div', 'chart-grid', this.valuePlot.root));
    for (const c of TRAIN_CHARTS) {
      const p = new Plot(c.title, { yLabel: c.yLabel, logY: c.logY, hint: c.hint, syncKey: 'train' });
      this.train.set(c.key, p);
      this.trainGrid.append(p.root);
    }
    sec.body.append(this.legend, controls, this.sftBlock, this.valueBlock, title('Training'), this.trainEmpty, this.trainGrid,
      title('Evaluation reward'), this.evalGrid);
    onThemeChange(() => {
      for (const p of [...this.sft.values(), this.valuePlot, ...this.train.values(), ...this.evalCharts.values()]) p.retheme();
    });
  }

  private plotView(): PlotView {
    return { smoothing: Number(this.slider.value), hidden: this.hidden };
  }

  private redraw(): void {
    if (this.model) this.draw(this.model);
  }

  render(model: RunModel): void {
    this.model = model;
    if (model.ver.curves === this.ver) return;
    this.ver = model.ver.curves;
    this.draw(model);
  }

  private draw(model: RunModel): void {
    const view = this.plotView();
    const colour = (name: string) => colourOf(model, name);
    this.renderLegend(model, model.evals.length > 0);
    const lines = (list: VariantSeries[], key: MetricKey, col: (name: string, i: number) => string): PlotSeries[] =>
      list.map((v, i) => ({
        key: v.name, label: displayName(v.name), group: v.name, colour: col(v.name, i), xs: v.steps, ys: v.m[key],
      }));
    const sfts = model.fits.filter((f) => f.name.endsWith('π_ref SFT') && f.steps.length > 0);
    this.sftBlock.classList.toggle('hidden', sfts.length === 0);
    const fitColour = (_: string, i: number) => (model.compare ? `c${i % 6}` : 'cref');
    for (const c of SFT_CHARTS) this.sft.get(c.key)?.update(lines(sfts, c.key, fitColour), `${model.ver.curves}`, view);
    const values = model.fits.filter((f) => f.name.endsWith('value head fit') && f.steps.length > 0);
    this.valueBlock.classList.toggle('hidden', values.length === 0);
    const mse = values.flatMap((v, i): PlotSeries[] => {
      const colour = fitColour(v.name, i);
      const run = v.name.includes('/') ? `${v.name.split('/')[0]}/` : '';
      return [
        { key: `${v.name}|train`, label: `${run}training MSE`, group: v.name, colour, xs: v.steps, ys: v.m.loss },
        { key: `${v.name}|heldout`, label: `${run}held-out MSE`, group: v.name, colour, xs: v.steps, ys: v.m.heldoutLoss, dashed: true },
      ];
    });
    this.valuePlot.update(mse, `${model.ver.curves}`, view);
    const hasSteps = model.series.some((v) => v.steps.length > 0);
    this.trainGrid.classList.toggle('hidden', !hasSteps);
    this.trainEmpty.classList.toggle('hidden', hasSteps);
    for (const c of TRAIN_CHARTS) this.train.get(c.key)?.update(lines(model.series, c.key, colour), `${model.ver.curves}`, view);
    this.renderEval(model, colour, view);
  }

  private renderEval(model: RunModel, colour: (name: string) => string, view: PlotView): void {
    const components: string[] = [];
    for (const e of model.evals) for (const k of Object.keys(e.rewards)) if (!components.includes(k)) components.push(k);
    components.sort((a, b) => (a === 'total' ? -1 : b === 'total' ? 1 : 0));
    if (components.length === 0) {
      this.evalCharts.clear();
      const text = model.evals.length
        ? `${model.evals.length} evaluations, no rewards: no reward component can score generated text (rewards from data fields), so ` +
          'generation rewards are n/a; the comparison table has the preference accuracy.'
        : 'No evaluation yet: each evaluation adds its reward per component here.';
      replaceChildren(this.evalGrid, h('p', 'muted', text));
      return;
    }
    // A chart per component of this run only: a component of an earlier run is not kept.
    for (const k of [...this.evalCharts.keys()]) {
      if (!components.includes(k)) {
        this.evalCharts.get(k)?.root.remove();
        this.evalCharts.delete(k);
      }
    }
    if (this.evalGrid.querySelector('p')) this.evalGrid.replaceChildren();
    for (const comp of components) {
      let chart = this.evalCharts.get(comp);
      if (!chart) {
        const hint = 'filled points, solid: greedy decoding; hollow points, dashed: sampled';
        chart = new Plot(comp === 'total' ? 'reward: total' : `reward: ${comp}`, { yLabel: 'mean reward', hint, syncKey: 'eval' });
        this.evalCharts.set(comp, chart);
      }
      this.evalGrid.append(chart.root); // (re)appended in component order
      const groups = new Map<string, PlotSeries & { xs: number[]; ys: number[] }>();
      for (const e of model.evals) {
        const key = `${e.variant}|${e.split}|${e.sampled ? 'sampled' : 'greedy'}`;
        let g = groups.get(key);
        if (!g) {
          const label = `${displayName(e.variant)} (${e.split === 'validation' ? 'val' : 'test'}, ${e.sampled ? 'sampled' : 'greedy'})`;
          g = {
            key, label, group: e.variant, colour: colour(e.variant), xs: [], ys: [], dashed: e.sampled,
            markers: e.sampled ? 'hollow' : 'filled',
          };
          groups.set(key, g);
        }
        g.xs.push(e.step);
        g.ys.push(e.rewards[comp] ?? NaN);
      }
      for (const g of groups.values()) {
        const order = g.xs.map((_, i) => i).sort((a, b) => g.xs[a] - g.xs[b]);
        g.xs = order.map((i) => g.xs[i]);
        g.ys = order.map((i) => g.ys[i]);
      }
      chart.update([...groups.values()], `${model.ver.curves}`, view);
    }
  }

  private renderLegend(model: RunModel, hasEval: boolean): void {
    const sig = `${model.names.join(',')}|${hasEval}|${[...this.hidden].join(',')}`;
    if (sig === this.legendSig) return;
    this.legendSig = sig;
    const items: HTMLElement[] = model.names.map((name) => {
      const off = this.hidden.has(name);
      const b = h('button', `legend-item legend-toggle${off ? ' off' : ''}`, swatch(`line ${colourOf(model, name)}`), displayName(name));
      b.type = 'button';
      b.dataset.variant = name;
      b.setAttribute('aria-pressed', String(!off));
      b.title = off ? `show ${displayName(name)}` : `hide ${displayName(name)}`;
      b.addEventListener('click', () => {
        if (this.hidden.has(name)) this.hidden.delete(name);
        else this.hidden.add(name);
        this.legendSig = '';
        this.redraw();
      });
      return b;
    });
    if (hasEval) {
      items.push(h('span', 'legend-item muted', dot('filled'), 'greedy'));
      items.push(h('span', 'legend-item muted', dot('hollow'), 'sampled'));
    }
    replaceChildren(this.legend, ...(items.length ? items : [h('span', 'muted', 'Variants appear here as they start training.')]));
  }
}

function swatch(cls: string): SVGSVGElement {
  return s('svg', { viewBox: '0 0 18 8', class: 'swatch', 'aria-hidden': 'true' }, s('line', { x1: 1, x2: 17, y1: 4, y2: 4, class: cls }));
}

function dot(kind: 'filled' | 'hollow'): SVGSVGElement {
  const dot = s('circle', { cx: 5, cy: 5, r: 3, class: `mark c-fg ${kind}` });
  return s('svg', { viewBox: '0 0 10 10', class: 'swatch dot', 'aria-hidden': 'true' }, dot);
}
