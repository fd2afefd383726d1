// Warnings a practitioner should not miss, computed from the run's events (thresholds: the settings
// alolStudio.sentinels.*, sent by the host): importance weights saturating at the clip bound, a value
// head no better than the mean, a reward that follows response length, and evaluation rewards that do
// not exist. Each is one line with its evidence and a link to the README section that explains it.

import { h, replaceChildren } from './dom.js';
import { num } from './format.js';
import { type RunModel } from './model.js';
import { displayName } from './view.js';

export interface Sentinel {
  id: 'saturation' | 'value-head' | 'length' | 'eval-na';
  title: string;
  text: string;
  /** README section (its GitHub-style anchor). */
  anchor: string;
}

/** The longest run of consecutive steps with the clip fraction above `above`, and the step it starts at. */
export function longestClipRun(
  steps: readonly number[],
  clip: readonly (number | null)[],
  above: number,
): { length: number; from: number } {
  let best = { length: 0, from: 0 };
  let length = 0;
  let from = 0;
  clip.forEach((c, i) => {
    if (c !== null && c > above) {
      if (length === 0) from = steps[i];
      length++;
      if (length > best.length) best = { length, from };
    } else length = 0;
  });
  return best;
}

export function sentinelsOf(model: RunModel): Sentinel[] {
  const t = model.sentinels;
  const out: Sentinel[] = [];
  const saturated = model.series.flatMap((s) => {
    const r = longestClipRun(s.steps, s.m.clipFraction, t.clipFraction);
    return r.length >= t.clipSteps ? [`${displayName(s.name)} (${r.length} steps from step ${r.from})`] : [];
  });
  if (saturated.length) {
    out.push({
      id: 'saturation',
      title: 'Importance weights saturate',
      text: `clip fraction above ${t.clipFraction} for ${t.clipSteps}+ consecutive steps: ${saturated.join(', ')}. ` +
        'The policy has moved far from π_ref; lower lr, or use a_lol_seq.',
      anchor: 'importance-weights-saturate',
    });
  }
  const runs = model.compare ? model.compare.runs.map((r) => ({ label: `${r.label}: `, m: r.model })) : [{ label: '', m: model }];
  const weak = runs.flatMap(({ label, m }) => {
    const v = m.advantages?.value;
    return v && v.headMse >= t.valueMseRatio * v.meanMse ? [`${label}held-out MSE ${num(v.headMse, 4)} vs ${num(v.meanMse, 4)}`] : [];
  });
  if (weak.length) {
    out.push({
      id: 'value-head',
      title: 'Value head no better than the mean',
      text: `${weak.join('; ')} for the mean predictor (≥ ${t.valueMseRatio}×): A is about R − mean(R), so filtering keeps ` +
        'the responses above the average reward, not above what the prompt leads one to expect.',
      anchor: 'value-head-no-better-than-the-mean',
    });
  }
  const lengthy = runs.flatMap(({ label, m }) => {
    const r = m.advantages?.reward.lengthCorrelation;
    return r !== undefined && r !== null && Math.abs(r) > t.lengthCorrelation ? [`${label}r = ${num(r, 2)}`] : [];
  });
  if (lengthy.length) {
    out.push({
      id: 'length',
      title: 'Reward correlates with response length',
      text: `${lengthy.join('; ')} (|r| > ${t.lengthCorrelation}) between the total reward and the response length: ` +
        'training may learn to write longer (or shorter) responses rather than better ones.',
      anchor: 'reward-correlates-with-response-length',
    });
  }
  const noEvalReward = runs.some(({ m }) => {
    const summaryNa = m.summary && Object.values(m.summary.variants).some((v) => v.heldout.reward.total === null);
    const evalsNa = m.evals.length > 0 && m.evals.every((e) => Object.keys(e.rewards).length === 0);
    return summaryNa || evalsNa;
  });
  if (noEvalReward) {
    out.push({
      id: 'eval-na',
      title: 'Evaluation reward not available',
      text: 'the rewards are read from data fields, which cannot score generated text: compare the variants by preference ' +
        'accuracy (comparison table), or add a reward that scores text.',
      anchor: 'evaluation-reward-not-available',
    });
  }
  return out;
}

export class SentinelStrip {
  readonly root = h('div', 'sentinels hidden');
  private sig = '';

  constructor(private readonly openDocs: (anchor: string) => void) {
    this.root.setAttribute('role', 'status');
  }

  render(model: RunModel): void {
    const list = sentinelsOf(model);
    const sig = JSON.stringify(list);
    if (sig === this.sig) return;
    this.sig = sig;
    this.root.classList.toggle('hidden', list.length === 0);
    replaceChildren(this.root, ...list.map((w) => {
      const link = h('button', 'link-button', 'why?');
      link.type = 'button';
      link.title = 'Open the README section that explains this warning';
      link.addEventListener('click', () => this.openDocs(w.anchor));
      const el = h('div', 'sentinel', h('span', 'sentinel-icon', '⚠'), h('strong', '', `${w.title}: `), w.text, ' ', link);
      el.dataset.sentinel = w.id;
      return el;
    }));
  }
}
