// Sample generations from every evaluation (not only the latest): prompt, reference response, the
// policy's response and each reward component, filterable by variant and by step. All of it is
// dataset or model text, so it is inserted as text nodes only.

import { select, table, type SelectHandle } from './components.js';
import { h, replaceChildren, section } from './dom.js';
import { fixed } from './format.js';
import type { RunModel, SampleGroup } from './model.js';

const ALL = '*';

export class SamplesPanel {
  readonly root: HTMLElement;
  private readonly variant: SelectHandle;
  private readonly step: SelectHandle;
  private readonly count = h('span', 'muted small');
  private readonly holder = h('div', 'table-scroll');
  private ver = -1;
  private model: RunModel | null = null;

  constructor() {
    const sec = section('Sample generations', 'samples');
    this.root = sec.root;
    const rerender = () => this.model && this.draw(this.model);
    this.variant = select('filter samples by variant', rerender);
    this.step = select('filter samples by step', rerender);
    this.variant.el.dataset.filter = 'variant';
    this.step.el.dataset.filter = 'step';
    const filters = h('div', 'filters', h('label', '', 'variant ', this.variant.el), h('label', '', 'step ', this.step.el), this.count);
    sec.body.append(filters, this.holder);
  }

  render(model: RunModel): void {
    this.model = model;
    if (model.ver.samples === this.ver) return;
    this.ver = model.ver.samples;
    const variants = unique(model.sampleGroups.map((g) => g.variant));
    const steps = unique(model.sampleGroups.map((g) => g.step)).sort((a, b) => a - b);
    this.variant.setOptions([{ value: ALL, label: 'all' }, ...variants.map((v) => ({ value: v, label: v }))]);
    this.step.setOptions([{ value: ALL, label: 'all' }, ...steps.map((st) => ({ value: String(st), label: String(st) }))]);
    this.draw(model);
  }

  private draw(model: RunModel): void {
    const variant = this.variant.value();
    const step = this.step.value();
    const shown = (g: SampleGroup) => (variant === ALL || g.variant === variant) && (step === ALL || String(g.step) === step);
    const groups = model.sampleGroups.filter(shown);
    if (model.sampleGroups.length === 0) {
      replaceChildren(this.holder, h('p', 'muted', 'No samples yet: each evaluation adds its generations here.'));
      this.count.textContent = '';
      return;
    }
    const components: string[] = [];
    for (const g of groups) {
      for (const smp of g.samples) for (const k of Object.keys(smp.rewards)) if (!components.includes(k)) components.push(k);
    }
    components.sort((a, b) => (a === 'total' ? -1 : b === 'total' ? 1 : 0));
    const t = table('samples-table', ['variant', 'step', 'prompt', 'reference', 'response', ...components]);
    for (const c of Array.from(t.head.cells).slice(5)) c.className = 'n';
    let rows = 0;
    for (const g of groups) {
      for (const smp of g.samples) {
        rows++;
        const tr = h('tr', '',
          h('td', 'nowrap', g.variant),
          h('td', 'n', groupLabel(g)),
          h('td', 'text prompt', smp.prompt.trim()),
          h('td', 'text reference', smp.reference === null ? '—' : smp.reference.trim()),
          h('td', 'text response', smp.response.trim()),
          ...components.map((k) => h('td', 'n', fixed(smp.rewards[k] ?? null))));
        tr.dataset.step = String(g.step);
        tr.dataset.variant = g.variant;
        t.body.append(tr);
      }
    }
    const evals = `${groups.length} evaluation${groups.length === 1 ? '' : 's'}`;
    this.count.textContent = `${rows} sample${rows === 1 ? '' : 's'} from ${evals} (${model.sampleGroups.length} in all)`;
    replaceChildren(this.holder, t.el);
  }
}

function groupLabel(g: SampleGroup): string {
  return `${g.step}${g.split === 'validation' ? ' (val)' : ''}${g.sampled ? ' (sampled)' : ''}`;
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
