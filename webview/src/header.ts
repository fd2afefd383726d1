// The run header: title, trainer state, Stop / Resume, a one-line config summary (variants, model,
// data, device), the current phase with its message and progress, and step / total of the current
// variant, tokens/s, elapsed and ETA. Stop and Resume follow the last trainer/didChangeState.

import { badge, button, progressBar, progressRing, type BadgeHandle, type ButtonHandle, type ProgressHandle } from './components.js';
import { h, replaceChildren, setText } from './dom.js';
import { basename, duration, int, num, DASH } from './format.js';
import type { TrainerState } from '../../src/protocol/webview.js';
import { elapsedMs, etaMs, type Architecture, type PhaseState, type RunModel, type RunStart } from './model.js';
import { displayName } from './view.js';

export class RunHeader {
  readonly root: HTMLElement;
  private readonly title = h('h1', 'run-title');
  private readonly state: BadgeHandle = badge();
  private readonly stop: ButtonHandle;
  private readonly resume: ButtonHandle;
  private readonly config = h('div', 'config-line');
  private readonly phaseName = h('span', 'phase-name');
  private readonly phaseMsg = h('span', 'phase-msg');
  private readonly progress: ProgressHandle = progressBar();
  private readonly ring = progressRing();
  private readonly progressText = h('span', 'progress-text');
  private readonly stats = h('div', 'stats');
  private readonly banner = h('div', 'banner hidden');
  /** A device fallback (asked for a GPU, running on the CPU): a warning under the config line, not only a chip. */
  private readonly deviceNote = h('div', 'device-fallback hidden');
  private readonly phaseRow: HTMLElement;
  private configSig = '';
  private readonly eta = new EtaSmoother();

  constructor(actions: { stop: () => void; resume: () => void }) {
    this.stop = button('Stop', 'secondary', actions.stop);
    this.resume = button('Resume', 'primary', actions.resume);
    this.stop.setEnabled(false);
    this.resume.setEnabled(false);
    this.stop.el.title = 'Stop the trainer after writing a checkpoint (run/stop)';
    this.resume.el.title = 'Resume the run from its last checkpoint (run/resume)';
    this.root = h('header', 'run-header',
      h('div', 'title-row', this.title, this.state.el, h('span', 'spacer'), this.stop.el, this.resume.el),
      this.config,
      this.deviceNote,
      (this.phaseRow = h('div', 'phase-row', this.phaseName, this.ring, this.progress.el, this.progressText, this.phaseMsg)),
      this.stats,
      this.banner);
  }

  render(model: RunModel, now: number): void {
    setText(this.title, model.run?.title || (model.start ? `Run ${model.start.runId}` : 'A-LoL run'));
    this.title.title = model.run?.runDir ?? model.start?.runDir ?? '';
    const t = model.trainer;
    const busy = t?.state === 'starting' || t?.state === 'running';
    this.stop.setEnabled(busy);
    this.resume.setEnabled(!!t?.canResume && !busy && t.state !== 'stopping');
    const tones: Partial<Record<TrainerState, 'good' | 'bad' | 'warn'>> = {
      running: 'good',
      finished: 'good',
      crashed: 'bad',
      stopped: 'warn',
      stopping: 'warn',
    };
    const tone = (t && tones[t.state]) ?? 'neutral';
    this.state.set(t ? t.state : model.run?.live === false ? 'recorded' : 'waiting', tone);
    this.state.el.title = t?.message ?? '';

    const compare = model.compare;
    this.phaseRow.classList.toggle('hidden', compare !== null);
    this.stats.classList.toggle('hidden', compare !== null);
    this.stop.el.classList.toggle('hidden', compare !== null);
    this.resume.el.classList.toggle('hidden', compare !== null);
    if (compare) {
      this.banner.classList.add('hidden');
      this.deviceNote.classList.add('hidden');
      const sig = JSON.stringify(compare.runs.map((r) => [r.label, r.title]));
      if (sig !== this.configSig) {
        this.configSig = sig;
        replaceChildren(this.config, h('span', 'muted', `comparing ${compare.runs.length} runs:`),
          ...compare.runs.map((r) => {
            const c = h('span', 'chip', h('span', 'k', r.label), h('span', 'v', r.title));
            c.title = r.runDir;
            return c;
          }));
      }
      return;
    }
    const summarized = model.summary ? Object.keys(model.summary.variants) : null;
    const sig = JSON.stringify([model.start?.runId, model.series.map((x) => x.name), summarized, model.architecture?.summary]);
    if (sig !== this.configSig) {
      this.configSig = sig;
      this.renderConfig(model);
    }

    const p = model.phase;
    const ended = model.failure ? ' (failed)' : model.finished?.stopped ? ' (stopped)' : null;
    const mark = ended ?? (p?.status === 'finished' ? ' ✓' : '');
    setText(this.phaseName, p ? `${p.phase === 'reference' ? 'reference (π_ref)' : p.phase}${mark}` : 'no phase yet');
    setText(this.phaseMsg, p?.message ?? '');
    this.phaseMsg.title = p?.message ?? '';
    const running = !!p && p.status === 'started' && !model.finished && !model.failure;
    this.ring.classList.toggle('hidden', !(running && p.total === 0));
    this.progress.el.classList.toggle('hidden', !(p && p.total > 0));
    if (p && p.total > 0) this.progress.set(p.status === 'finished' ? p.total : p.done, p.total);
    setText(this.progressText, p && p.total > 0 ? `${int(p.done)} / ${int(p.total)}` : '');

    const fitName = p?.phase === 'reference' ? 'π_ref SFT' : p?.phase === 'value' ? 'value head fit' : null;
    const fit = fitName ? model.fits.find((x) => x.name === fitName) : undefined;
    const s = fit ?? model.series.find((x) => x.name === model.trainingVariant) ?? model.series.at(-1);
    const step = s?.steps.at(-1);
    const stat = (k: string, v: string) => h('span', 'stat', h('span', 'k', k), h('span', 'v', v));
    replaceChildren(this.stats,
      stat('variant', s ? displayName(s.name) : DASH),
      stat('step', step !== undefined && s ? `${int(step)} / ${int(s.totalSteps)}` : DASH),
      stat('tokens/s', num(s?.tokensPerSec ?? null, 3)),
      stat('elapsed', duration(elapsedMs(model, now))),
      stat('ETA (phase)', running ? this.eta.text(p, etaMs(model), now) : DASH),
      stat('checkpoints', String(model.checkpoints.length)));

    const f = model.failure;
    this.banner.classList.toggle('hidden', !f && !model.finished && t?.state !== 'crashed');
    if (f) {
      this.banner.className = 'banner bad';
      const hint = f.hint ? h('div', 'hint', `hint: ${f.hint}`) : null;
      replaceChildren(this.banner, h('strong', '', `Run failed (${f.code}): `), f.message, hint);
    } else if (t?.state === 'crashed') {
      this.banner.className = 'banner bad';
      const resume = t.canResume ? ' Resume continues from the last checkpoint.' : '';
      replaceChildren(this.banner, h('strong', '', 'The trainer process crashed. '), t.message ?? '', resume);
    } else if (model.finished) {
      this.banner.className = `banner ${model.finished.stopped ? 'warn' : 'good'}`;
      replaceChildren(this.banner, model.finished.stopped
        ? `Stopped after ${duration(model.finished.elapsedMs)}; a checkpoint was written, so the run can resume.`
        : `Finished in ${duration(model.finished.elapsedMs)}.`);
    }
  }

  private renderConfig(model: RunModel): void {
    const start = model.start;
    const fallback = start?.device.fallback;
    this.deviceNote.classList.toggle('hidden', !fallback);
    replaceChildren(this.deviceNote, ...(fallback ? [h('strong', '', `Running on ${start.device.provider}: `), fallback] : []));
    if (!start) {
      replaceChildren(this.config, h('span', 'muted', 'Waiting for the run to start…'));
      return;
    }
    const trained = model.series.map((x) => x.name);
    for (const v of Object.keys(model.summary?.variants ?? {})) if (v !== 'reference' && !trained.includes(v)) trained.push(v);
    const variants = trained.length ? trained : [start.config.train.variant];
    const chip = (k: string, v: string, full?: string) => {
      const c = h('span', 'chip', h('span', 'k', k), h('span', 'v', v));
      if (full) c.title = full;
      return c;
    };
    replaceChildren(this.config,
      chip(variants.length > 1 ? 'variants' : 'variant', variants.join(', ')),
      chip('model', modelText(start), model.architecture?.summary),
      ...(model.architecture ? [chip('architecture', architectureText(model.architecture), model.architecture.summary)] : []),
      ...(model.architecture?.trainable !== undefined ? [chip('trains', ...trainingText(model.architecture))] : []),
      chip('data', basename(start.config.data.path), start.config.data.path),
      deviceChip(chip('device', deviceText(start), start.device.fallback ?? start.device.reason), start),
      chip('verb', start.verb));
  }
}

function modelText(start: RunStart): string {
  const m = start.config.model;
  if ('path' in m) return basename(m.path);
  const { layers, embd, heads } = m.init;
  return `new GPT: ${layers} layers, ${embd} embd, ${heads} heads`;
}

/** "llama · 2L · 64d · 4/2 heads · 0.1M": the family and shape at a glance (the chip's title has the whole line). */
function architectureText(a: Architecture): string {
  const heads = a.kvHeads === a.heads ? `${a.heads} heads` : `${a.heads}/${a.kvHeads} heads`;
  return `${a.modelType} · ${a.layers}L · ${a.hidden}d · ${heads} · ${(a.parameters / 1e6).toFixed(1)}M`;
}

/** "LoRA r16 · 1.2M (3.1%)" or "all 0.1M": what the policy trains, and its title the whole story. */
function trainingText(a: Architecture): [string, string] {
  const count = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n));
  const trainable = a.trainable ?? a.parameters;
  if (!a.lora) return [`all ${count(trainable)}`, `full fine-tuning: every one of the ${trainable} parameters is trained`];
  const share = `${((100 * trainable) / a.parameters).toFixed(1)}%`;
  const { r, alpha, dropout, modules, targets } = a.lora;
  const title = `LoRA: rank ${r}, alpha ${alpha}, dropout ${dropout} on ${modules} projections (${targets.join(', ')}); ` +
    `${trainable} of ${a.parameters} parameters trained; pi_ref is the base with the adapters off`;
  return [`LoRA r${r} · ${count(trainable)} (${share})`, title];
}

/** The device chip is marked when the run fell back from the device asked for (the warning under the chips says why). */
function deviceChip(c: HTMLElement, start: RunStart): HTMLElement {
  if (start.device.fallback) c.classList.add('warn');
  return c;
}

function deviceText(start: RunStart): string {
  const d = start.device;
  if (d.provider.startsWith('torch')) return `${d.provider} (PyTorch backend)`;
  return `${d.provider}${d.requested !== d.provider ? ` (asked ${d.requested})` : ''}${d.fallback ? ' ⚠ fallback' : ''}`;
}

/**
 * The ETA as shown: "estimating…" until the phase has run 5 s and 3 units of work; then, at each new raw
 * estimate (a progress event), an exponential average of it and the shown value moved on by the time
 * since; between events the shown value counts down with the clock. So it neither jumps with every
 * batch nor stands still.
 */
export class EtaSmoother {
  private key = '';
  private value: number | null = null;
  private raw: number | null = null;
  private at = 0;

  smooth(phase: PhaseState, raw: number | null, now: number): number | null {
    const key = `${phase.phase}|${phase.startT}|${phase.total}`;
    if (key !== this.key) {
      this.key = key;
      this.value = null;
      this.raw = null;
    }
    if (raw === null || phase.done < 3 || now - phase.startT < 5000) return null;
    if (this.value !== null && raw === this.raw) return Math.max(0, this.value - (now - this.at));
    const carried = this.value === null ? raw : Math.max(0, this.value - (now - this.at));
    this.value = this.value === null ? raw : 0.8 * carried + 0.2 * raw;
    this.raw = raw;
    this.at = now;
    return this.value;
  }

  text(phase: PhaseState | null, raw: number | null, now: number): string {
    if (!phase) return DASH;
    const v = this.smooth(phase, raw, now);
    return v === null ? (raw === null ? DASH : 'estimating…') : duration(v);
  }
}
