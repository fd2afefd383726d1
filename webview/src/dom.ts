// Tiny DOM helpers for the dashboard. Every string that can come from a dataset, a model or the host
// goes in through textContent / createTextNode: there is no innerHTML anywhere in the webview. Styling
// is by class only (the CSP's style-src blocks style attributes); SVG geometry and paint are
// presentation attributes (x, height, fill), which are not styles.

const SVG_NS = 'http://www.w3.org/2000/svg';

type Child = Node | string | null | undefined | false;

/** An HTML element with classes and children; strings become text nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  append(e, children);
  return e;
}

/** An SVG element with attributes (geometry, paint, class: never `style`). */
export function s<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  setAttrs(e, attrs);
  append(e, children);
  return e;
}

export function setAttrs(e: Element, attrs: Record<string, string | number>): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'style') throw new Error('style attributes are blocked by the webview CSP: use a class');
    e.setAttribute(k, String(v));
  }
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  }
}

/** Replaces an element's children (text stays text). */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** Sets text only when it changed, so a 250 ms render does not churn unchanged nodes. */
export function setText(e: Element, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}

/** A titled dashboard section; `body` is where the section renders. */
export function section(title: string, cls: string): { root: HTMLElement; body: HTMLElement; note: HTMLElement } {
  const note = h('span', 'section-note');
  const body = h('div', 'section-body');
  const root = h('section', `panel ${cls}`, h('h2', 'panel-title', title, note), body);
  return { root, body, note };
}
