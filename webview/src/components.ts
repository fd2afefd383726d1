// The one module that knows which component library the dashboard uses. Today that is
// @vscode/webview-ui-toolkit 1.4 (archived January 2025, FAST-based): button and progress ring, which
// style themselves through constructable style sheets (adoptedStyleSheets) and so work under the
// webview's strict `style-src` (FAST's load-time :focus-visible probe, a <style> element the CSP
// blocks, is pinned by scripts/build-webview.mjs). Everything else here is a plain element on purpose:
// - badge: the toolkit badge's template binds a `style` attribute, which the CSP blocks;
// - tables: the toolkit's data grid writes `style` attributes (grid-template-columns), blocked too;
// - determinate progress: the toolkit has only an indeterminate ring, so a native <progress>;
// - select: a native <select> (the toolkit dropdown positions its listbox with inline styles).
// Moving to @vscode-elements/elements means rewriting only this file.

import { provideVSCodeDesignSystem, vsCodeButton, vsCodeProgressRing } from '@vscode/webview-ui-toolkit';
import { h } from './dom.js';

let registered = false;

/** Registers the custom elements once (idempotent). */
export function registerComponents(): void {
  if (registered) return;
  provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeProgressRing());
  registered = true;
}

export interface ButtonHandle {
  el: HTMLElement;
  setEnabled(enabled: boolean): void;
}

export function button(label: string, appearance: 'primary' | 'secondary', onClick: () => void): ButtonHandle {
  const el = document.createElement('vscode-button');
  el.setAttribute('appearance', appearance);
  el.textContent = label;
  el.addEventListener('click', () => {
    if (!el.hasAttribute('disabled')) onClick();
  });
  return {
    el,
    setEnabled(enabled) {
      if (enabled) el.removeAttribute('disabled');
      else el.setAttribute('disabled', '');
    },
  };
}

export interface BadgeHandle {
  el: HTMLElement;
  set(text: string, tone: 'neutral' | 'good' | 'warn' | 'bad'): void;
}

/** A plain <span> (see the header). */
export function badge(): BadgeHandle {
  const el = h('span', 'badge tone-neutral');
  return {
    el,
    set(text, tone) {
      if (el.textContent !== text) el.textContent = text;
      el.className = `badge tone-${tone}`;
    },
  };
}

/** An indeterminate spinner, shown while something runs without a known total. */
export function progressRing(): HTMLElement {
  const el = document.createElement('vscode-progress-ring');
  el.className = 'ring';
  return el;
}

export interface ProgressHandle {
  el: HTMLProgressElement;
  set(done: number, total: number): void;
}

export function progressBar(): ProgressHandle {
  const el = h('progress', 'bar');
  return {
    el,
    set(done, total) {
      if (total > 0) {
        el.max = total;
        el.value = Math.min(done, total);
      } else el.removeAttribute('value'); // indeterminate
    },
  };
}

export interface SelectHandle {
  el: HTMLSelectElement;
  /** Replaces the options, keeping the current choice when it still exists. */
  setOptions(options: { value: string; label: string }[]): void;
  value(): string;
}

export function select(ariaLabel: string, onChange: (value: string) => void): SelectHandle {
  const el = h('select', 'select');
  el.setAttribute('aria-label', ariaLabel);
  el.addEventListener('change', () => onChange(el.value));
  return {
    el,
    setOptions(options) {
      const keep = el.value;
      const same =
        options.length === el.options.length && options.every((o, i) => el.options[i].value === o.value && el.options[i].text === o.label);
      if (same) return;
      el.replaceChildren(...options.map((o) => new Option(o.label, o.value)));
      el.value = options.some((o) => o.value === keep) ? keep : (options[0]?.value ?? '');
    },
    value: () => el.value,
  };
}

/** A plain table (see the header for why not the toolkit's data grid). */
export function table(cls: string, headers: string[]): { el: HTMLTableElement; body: HTMLTableSectionElement; head: HTMLTableRowElement } {
  const head = h('tr', '', ...headers.map((t) => h('th', '', t)));
  const body = h('tbody');
  const el = h('table', `table ${cls}`, h('thead', '', head), body);
  return { el, body, head };
}
