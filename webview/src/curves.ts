// Training and evaluation curves, one line per variant (step on x): loss, learning rate, gradient
// norm, mean importance weight, clip fraction, and the evaluation reward per component. One shared
// legend names the variants; the colour of a variant is its order of appearance in the run.

import { LineChart, type Series } from './charts.js';
import { h, s, replaceChildren, section } from './dom.js';
import { colourOf, type MetricKey, type RunModel } from './model.js';

const TRAIN_CHARTS: { key: MetricKey; title: string; logY?: boolean; hint: string }[] = [
  { key: 'loss', title: 'loss', logY: true, hint: 'training loss per step (variants use different losses: compare shapes, not levels)' },
  { key: 'lr', title: 'learning rate', hint: 'learning rate per step (schedule and warmup)' },
  { key: 'gradNorm', title: 'gradient norm', logY: true, hint: 'global gradient norm before clipping' },
  {
    key: 'meanImportanceWeight',
    title: 'mean importance weight',
    hint: 'mean of pi_theta / pi_ref over the batch (A-LoL variants); 1 at the start',
  },
  { key: 'clipFraction', title: 'clip fraction', hint: 'share of importance weights clipped to [1 - eps, 1 + eps]' },
];

export class CurvesPanel {
  readonly root: HTMLElement;
  private readonly legend: HTMLElement;
  private readonly trainGrid: HTMLElement;
  private readonly trainEmpty = h('p', 'muted', 'No training steps yet: step/didComplete events draw these curves.');
  private readonly evalGrid: HTMLElement;
  private readonly train = new Map<MetricKey, LineChart>();
  private readonly evalCharts = new Map<string, LineChart>();
  private ver = -1;
  private legendSig = '';

  constructor() {
    const sec = section('Curves', 'curves');
    this.root = sec.root;
    this.legend = h('div', 'legend');
    this.trainGrid = h('div', 'chart-grid');
    this.evalGrid = h('div', 'chart-grid');
    for (const c of TRAIN_CHARTS) {
      const chart = new LineChart(c.title, { logY: c.logY, hint: c.hint });
      this.train.set(c.key, chart);
      this.trainGrid.append(chart.root);
    }
    const title = (text: string) => h('h3', 'sub-title', text);
    sec.body.append(this.legend, title('Training'), this.trainEmpty, this.trainGrid, title('Evaluation reward'), this.evalGrid);
  }

  render(model: RunModel): void {
    if (model.ver.curves === this.ver) return;
    this.ver = model.ver.curves;
    const colour = (name: string) => colourOf(model, name);
    this.renderLegend(model, model.evals.length > 0);
    const hasSteps = model.series.some((v) => v.steps.length > 0);
    this.trainGrid.classList.toggle('hidden', !hasSteps);
    this.trainEmpty.classList.toggle('hidden', hasSteps);
    for (const c of TRAIN_CHARTS) {
      const series: Series[] = model.series.map((v) => ({
        key: v.name,
        label: v.name,
        colour: colour(v.name),
        xs: v.steps,
        ys: v.m[c.key],
        ver: v.version,
      }));
      this.train.get(c.key)?.update(series, `${model.ver.curves}`);
    }
    this.renderEval(model, colour);
  }

  private renderEval(model: RunModel, colour: (name: string) => string): void {
    const components: string[] = [];
    for (const e of model.evals) for (const k of Object.keys(e.rewards)) if (!components.includes(k)) components.push(k);
    components.sort((a, b) => (a === 'total' ? -1 : b === 'total' ? 1 : 0));
    if (components.length === 0 && this.evalCharts.size === 0) {
      const text = model.evals.length
        ? `${model.evals.length} evaluations, no rewards: no reward component can score generated text (rewards from data fields), so ` +
          'generation rewards are n/a; summary.json has the preference accuracy.'
        : 'No evaluation yet: eval/didComplete events add the reward per component here.';
      replaceChildren(this.evalGrid, h('p', 'muted', text));
      return;
    }
    for (const comp of components) {
      let chart = this.evalCharts.get(comp);
      if (!chart) {
        const hint = 'filled: greedy decoding, hollow and dashed: sampled';
        chart = new LineChart(comp === 'total' ? 'reward: total' : `reward: ${comp}`, { hint });
        this.evalCharts.set(comp, chart);
        if (this.evalCharts.size === 1) this.evalGrid.replaceChildren();
        this.evalGrid.append(chart.root);
      }
      const groups = new Map<string, Series & { xs: number[]; ys: number[] }>();
      for (const e of model.evals) {
        const key = `${e.variant}|${e.split}|${e.sampled ? 'sampled' : 'greedy'}`;
        let g = groups.get(key);
        if (!g) {
          const label = `${e.variant} (${e.split}, ${e.sampled ? 'sampled' : 'greedy'})`;
          g = { key, label, colour: colour(e.variant), xs: [], ys: [], dashed: e.sampled, markers: e.sampled ? 'hollow' : 'filled' };
          groups.set(key, g);
        }
        g.xs.push(e.step);
        g.ys.push(e.rewards[comp] ?? NaN);
      }
      const evaluated = [...new Set(model.evals.map((e) => e.variant))];
      for (const g of groups.values()) {
        g.dx = (evaluated.indexOf(g.key.split('|')[0]) - (evaluated.length - 1) / 2) * 3;
        const order = g.xs.map((_, i) => i).sort((a, b) => g.xs[a] - g.xs[b]);
        g.xs = order.map((i) => g.xs[i]);
        g.ys = order.map((i) => g.ys[i]);
      }
      chart.update([...groups.values()], `${model.ver.curves}`);
    }
  }

  private renderLegend(model: RunModel, hasEval: boolean): void {
    const sig = `${model.names.join(',')}|${hasEval}`;
    if (sig === this.legendSig) return;
    this.legendSig = sig;
    const items = model.names.map((name) => h('span', 'legend-item', swatch(`line ${colourOf(model, name)}`), name));
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
