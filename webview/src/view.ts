// What the panels draw: the run model itself, or for a comparison the merge of its runs' models (viewOf),
// and how a variant's name is shown (displayName). Split from model.ts, which folds events into one run.

import { emptyModel, type RunModel } from './model.js';

/** A variant's name as the dashboard shows it: the reference policy is π_ref (the dataset's responses are "dataset response"). */
export function displayName(name: string): string {
  return name.replace(/(^|\/)reference$/, '$1π_ref');
}

let merged: { key: string; view: RunModel } | null = null;

/**
 * What the panels draw: the model itself, or for a comparison the merge of its runs' models, each variant
 * named `<run label>/<variant>` (curves overlaid, one comparison table, samples side by side). Cached
 * until a run's model changes.
 */
export function viewOf(model: RunModel): RunModel {
  const c = model.compare;
  if (!c) return model;
  const vers = (m: RunModel) => Object.values(m.ver).join('.');
  const key = `${vers(model)}|${c.runs.map((r) => vers(r.model)).join('|')}`;
  if (merged?.key === key) return merged.view;
  const view = emptyModel();
  const pre = (label: string, name: string) => `${label}/${name}`;
  for (const { label, model: m } of c.runs) {
    view.names.push(...m.names.map((n) => pre(label, n)));
    view.series.push(...m.series.map((s) => ({ ...s, name: pre(label, s.name) })));
    view.fits.push(...m.fits.map((s) => ({ ...s, name: pre(label, s.name) })));
    view.evals.push(...m.evals.map((e) => ({ ...e, variant: pre(label, e.variant) })));
    view.sampleGroups.push(...m.sampleGroups.map((g) => ({ ...g, variant: pre(label, g.variant) })));
    if (m.summary) {
      const variants = Object.fromEntries(Object.entries(m.summary.variants).map(([k, v]) => [pre(label, k), v]));
      view.summary = { variants: { ...(view.summary?.variants ?? {}), ...variants } };
    }
  }
  view.run = model.run;
  view.compare = c;
  view.sentinels = model.sentinels;
  view.rejected = model.rejected;
  view.log = model.log;
  const all = [model, ...c.runs.map((r) => r.model)];
  for (const k of Object.keys(view.ver) as (keyof RunModel['ver'])[]) view.ver[k] = all.reduce((a, m) => a + m.ver[k], 0);
  merged = { key, view };
  return view;
}
