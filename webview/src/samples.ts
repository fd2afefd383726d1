// Sample generations from every evaluation (not only the latest), two ways:
// - by prompt: one prompt at a time, every variant's response side by side with its reward components,
//   and the dataset's own response for it; previous / next step through the prompts of the chosen
//   evaluation (the test prompts: each variant's last test evaluation; or a validation step);
// - table: every sample, filterable by variant and step; the variant, step and reward columns stay in
//   view (sticky) while the text columns scroll.
// All of it is dataset or model text, so it is inserted as text nodes only.

import { select, table, type SelectHandle } from './components.js';
import { h, replaceChildren, section } from './dom.js';
import { fixed } from './format.js';
import { colourOf, type RunModel, type Sample, type SampleGroup } from './model.js';
import { displayName } from './view.js';

const ALL = '*';

/** The evaluations the by-prompt view offers: `test|greedy` (each variant's latest), or `validation|<step>|<decoding>`. */
function evaluationKey(g: SampleGroup): string {
  const decoding = g.sampled ? 'sampled' : 'greedy';
  return g.split === 'test' ? `test|${decoding}` : `validation|${g.step}|${decoding}`;
}

function evaluationLabel(key: string): string {
  const [split, a, b] = key.split('|');
  return split === 'test' ? `test prompts (${a})` : `validation, step ${a} (${b})`;
}

/** The groups of one evaluation key: per variant its latest group with that key. */
function groupsAt(model: RunModel, key: string): SampleGroup[] {
  const latest = new Map<string, SampleGroup>();
  for (const g of model.sampleGroups) {
    if (evaluationKey(g) !== key) continue;
    const seen = latest.get(g.variant);
    if (!seen || g.step >= seen.step) latest.set(g.variant, g);
  }
  return [...latest.values()];
}

function components(samples: readonly Sample[]): string[] {
  const out: string[] = [];
  for (const smp of samples) for (const k of Object.keys(smp.rewards)) if (!out.includes(k)) out.push(k);
  return out.sort((a, b) => (a === 'total' ? -1 : b === 'total' ? 1 : 0));
}

export class SamplesPanel {
  readonly root: HTMLElement;
  private readonly mode: SelectHandle;
  private readonly evaluation: SelectHandle;
  private readonly variant: SelectHandle;
  private readonly step: SelectHandle;
  private readonly prev: HTMLButtonElement;
  private readonly next: HTMLButtonElement;
  private readonly position = h('span', 'muted small prompt-position');
  private readonly count = h('span', 'muted small');
  private readonly byPromptControls: HTMLElement;
  private readonly tableControls: HTMLElement;
  private readonly holder = h('div', 'samples-holder');
  private promptIndex = 0;
  private ver = -1;
  private model: RunModel | null = null;

  constructor() {
    const sec = section('Sample generations', 'samples');
    this.root = sec.root;
    const rerender = () => this.model && this.draw(this.model);
    this.mode = select('how samples are shown', rerender);
    this.mode.setOptions([
      { value: 'prompt', label: 'by prompt' },
      { value: 'table', label: 'table' },
    ]);
    this.mode.el.dataset.filter = 'mode';
    this.evaluation = select('evaluation to step through', () => {
      this.promptIndex = 0;
      rerender();
    });
    this.evaluation.el.dataset.filter = 'evaluation';
    const nav = (label: string, delta: number) => {
      const b = h('button', 'nav-button', label);
      b.type = 'button';
      b.addEventListener('click', () => {
        this.promptIndex += delta;
        rerender();
      });
      return b;
    };
    this.prev = nav('‹ previous', -1);
    this.next = nav('next ›', 1);
    this.prev.dataset.nav = 'prev';
    this.next.dataset.nav = 'next';
    this.variant = select('filter samples by variant', rerender);
    this.step = select('filter samples by step', rerender);
    this.variant.el.dataset.filter = 'variant';
    this.step.el.dataset.filter = 'step';
    const evaluation = h('label', '', 'evaluation ', this.evaluation.el);
    this.byPromptControls = h('span', 'filters-group', evaluation, this.prev, this.position, this.next);
    const byVariant = h('label', '', 'variant ', this.variant.el);
    this.tableControls = h('span', 'filters-group hidden', byVariant, h('label', '', 'step ', this.step.el));
    const filters = h('div', 'filters', h('label', '', 'show ', this.mode.el), this.byPromptControls, this.tableControls, this.count);
    sec.body.append(filters, this.holder);
  }

  render(model: RunModel): void {
    this.model = model;
    if (model.ver.samples === this.ver) return;
    this.ver = model.ver.samples;
    const variants = unique(model.sampleGroups.map((g) => g.variant));
    const steps = unique(model.sampleGroups.map((g) => g.step)).sort((a, b) => a - b);
    this.variant.setOptions([{ value: ALL, label: 'all' }, ...variants.map((v) => ({ value: v, label: displayName(v) }))]);
    this.step.setOptions([{ value: ALL, label: 'all' }, ...steps.map((st) => ({ value: String(st), label: String(st) }))]);
    const keys = unique(model.sampleGroups.map(evaluationKey)).sort((a, b) => (a.startsWith('test') ? -1 : b.startsWith('test') ? 1 : 0));
    this.evaluation.setOptions(keys.map((k) => ({ value: k, label: evaluationLabel(k) })));
    this.draw(model);
  }

  private draw(model: RunModel): void {
    const byPrompt = this.mode.value() !== 'table';
    this.byPromptControls.classList.toggle('hidden', !byPrompt);
    this.tableControls.classList.toggle('hidden', byPrompt);
    if (model.sampleGroups.length === 0) {
      replaceChildren(this.holder, h('p', 'muted', 'No samples yet: each evaluation adds its generations here.'));
      this.count.textContent = '';
      this.byPromptControls.classList.add('hidden'); // nothing to step through (and nothing stale from another run)
      this.tableControls.classList.add('hidden');
      return;
    }
    if (byPrompt) this.drawByPrompt(model);
    else this.drawTable(model);
  }

  private drawByPrompt(model: RunModel): void {
    const groups = groupsAt(model, this.evaluation.value());
    const prompts = unique(groups.flatMap((g) => g.samples.map((smp) => smp.prompt)));
    const n = prompts.length;
    this.promptIndex = n === 0 ? 0 : ((this.promptIndex % n) + n) % n;
    this.prev.disabled = n < 2;
    this.next.disabled = n < 2;
    this.position.textContent = n ? `prompt ${this.promptIndex + 1} of ${n}` : 'no prompts';
    this.count.textContent = `${groups.length} variant${groups.length === 1 ? '' : 's'}`;
    if (n === 0) {
      replaceChildren(this.holder, h('p', 'muted', 'This evaluation kept no samples.'));
      return;
    }
    const prompt = prompts[this.promptIndex];
    const rows = groups.flatMap((g) => g.samples.filter((smp) => smp.prompt === prompt).map((smp) => ({ g, smp })));
    const dataset = rows.find((r) => r.smp.reference !== null)?.smp.reference ?? null;
    const cards = rows.map(({ g, smp }) => {
      const comps = components([smp]);
      const rewards = h('div', 'card-rewards', ...comps.map((k) => h('span', `chip${k === 'total' ? ' total' : ''}`,
        h('span', 'k', k), h('span', 'v', fixed(smp.rewards[k] ?? null)))));
      const card = h('div', 'sample-card',
        h('div', 'card-head', h('span', `dot-swatch ${colourOf(model, g.variant)}`), h('strong', '', displayName(g.variant)),
          h('span', 'muted small', ` step ${g.step}`)),
        rewards,
        h('div', 'card-text response', smp.response.trim()));
      card.dataset.variant = g.variant;
      return card;
    });
    const datasetCard = dataset === null ? null : h('div', 'sample-card dataset-card',
      h('div', 'card-head', h('strong', '', 'dataset response'), h('span', 'muted small', ' (from the data, for reference)')),
      h('div', 'card-text', dataset.trim()));
    replaceChildren(this.holder,
      h('div', 'prompt-box', h('div', 'muted small', 'prompt'), h('div', 'card-text prompt', prompt.trim())),
      h('div', 'sample-cards', datasetCard, ...cards));
  }

  private drawTable(model: RunModel): void {
    const variant = this.variant.value();
    const step = this.step.value();
    const shown = (g: SampleGroup) => (variant === ALL || g.variant === variant) && (step === ALL || String(g.step) === step);
    const groups = model.sampleGroups.filter(shown);
    const comps = components(groups.flatMap((g) => g.samples));
    const t = table('samples-table', ['variant', 'step', ...comps, 'prompt', 'dataset response', 'response']);
    const cells = Array.from(t.head.cells);
    cells[0].className = 'sticky-0';
    cells[1].className = 'sticky-1';
    for (const c of cells.slice(2, 2 + comps.length)) c.className = 'n';
    let rows = 0;
    for (const g of groups) {
      for (const smp of g.samples) {
        rows++;
        const tr = h('tr', '',
          h('td', 'nowrap sticky-0', displayName(g.variant)),
          h('td', 'n sticky-1', groupLabel(g)),
          ...comps.map((k) => h('td', 'n', fixed(smp.rewards[k] ?? null))),
          h('td', 'text prompt', smp.prompt.trim()),
          h('td', 'text reference', smp.reference === null ? '—' : smp.reference.trim()),
          h('td', 'text response', smp.response.trim()));
        tr.dataset.step = String(g.step);
        tr.dataset.variant = g.variant;
        t.body.append(tr);
      }
    }
    const evals = `${groups.length} evaluation${groups.length === 1 ? '' : 's'}`;
    this.count.textContent = `${rows} sample${rows === 1 ? '' : 's'} from ${evals} (${model.sampleGroups.length} in all)`;
    replaceChildren(this.holder, h('div', 'table-scroll', t.el));
  }
}

function groupLabel(g: SampleGroup): string {
  return `${g.step}${g.split === 'validation' ? ' (val)' : ''}${g.sampled ? ' (sampled)' : ''}`;
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
