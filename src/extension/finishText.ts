// Honest time and the finish headline (without `vscode`): the demo picker's duration — measured on this
// machine by the last finished demo of that size, else a cautious estimate that says it is one — and the
// one-line result a finished run's notification shows.

import type { RunSummary } from '../protocol/webview.js';

/** 95 s -> "1 min 35 s"; 42 s -> "42 s"; 3725 s -> "1 h 2 min". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min${s % 60 ? ` ${s % 60} s` : ''}`;
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

/**
 * Before a first run, cautious: the quick demo measured 1-1.5 min on an idle 2-core machine and several
 * times that on a busy one (another process on the cores); the full demo aims at 10 min idle (bench:demo).
 */
export const DEMO_ESTIMATE = {
  quick: 'up to 5 min on 2 cores (an estimate until it has run here)',
  full: '8-30 min on 2 cores (an estimate until it has run here)',
};

/** The picker's description of a demo: the last measured time here, else the estimate. */
export function demoDescription(quick: boolean, measuredMs: number | undefined): string {
  if (measuredMs === undefined || !Number.isFinite(measuredMs)) return quick ? DEMO_ESTIMATE.quick : DEMO_ESTIMATE.full;
  return `took ${formatDuration(measuredMs)} on this machine last time`;
}

const num = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(3) : null);

/**
 * "a_lol: held-out reward 0.947 (reference 0.787, nll 0.818)": the best trained variant by held-out sampled
 * total reward (else greedy, else preference accuracy) against the reference and the rest; '' without a summary.
 */
export function summaryHeadline(summary: RunSummary | null): string {
  if (!summary) return '';
  const score = (m: RunSummary['variants'][string]) => {
    const sampled = num(m.heldoutSampled.reward.total);
    if (sampled) return { value: Number(sampled), what: 'held-out reward' };
    const greedy = num(m.heldout.reward.total);
    if (greedy) return { value: Number(greedy), what: 'held-out reward (greedy)' };
    const acc = num(m.heldout.preferenceAccuracy);
    return acc ? { value: Number(acc), what: 'held-out preference accuracy' } : null;
  };
  const scored = Object.entries(summary.variants).map(([name, m]) => ({ name, s: score(m) })).filter((x) => x.s !== null);
  const trained = scored.filter((x) => x.name !== 'reference').sort((a, b) => (b.s?.value ?? 0) - (a.s?.value ?? 0));
  const best = trained[0];
  if (!best?.s) return '';
  const others = scored.filter((x) => x !== best && x.s?.what === best.s?.what).map((x) => `${x.name} ${x.s?.value.toFixed(3)}`);
  return `${best.name}: ${best.s.what} ${best.s.value.toFixed(3)}${others.length ? ` (${others.join(', ')})` : ''}`;
}

/** The notification of a finished run: "A-LoL demo (quick) finished in 3 min 12 s. a_lol: held-out reward …". */
export function finishMessage(title: string, elapsedMs: number, summary: RunSummary | null): string {
  const headline = summaryHeadline(summary);
  return `${title} finished in ${formatDuration(elapsedMs)}.${headline ? ` ${headline}` : ''}`;
}
