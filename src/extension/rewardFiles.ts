// The files and text the reward commands read and write, without `vscode`: the New Reward Function
// template, a run config as written (comments allowed, read loosely: the trainer validates it), dataset
// lines and selections turned into rows to score, and one line of scores.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Node, parse, parseTree } from 'jsonc-parser';

/** What the editor needs of a run config: its dataset and reward components, paths resolved. */
export interface ConfigAsWritten {
  dataPath?: string;
  rewards: { name: string; kind?: string; path?: string }[];
}

/** Reads `config` as written; an unreadable file or field reads as absent (the trainer reports it when it runs). */
export function readConfigAsWritten(config: string): ConfigAsWritten {
  let parsed: { data?: { path?: unknown }; rewards?: unknown } | undefined;
  try {
    parsed = parse(readFileSync(config, 'utf8')) as typeof parsed;
  } catch {
    return { rewards: [] };
  }
  const dir = path.dirname(config);
  const list = Array.isArray(parsed?.rewards) ? (parsed.rewards as Record<string, unknown>[]) : [];
  return {
    dataPath: typeof parsed?.data?.path === 'string' ? path.resolve(dir, parsed.data.path) : undefined,
    rewards: list
      .filter((c) => typeof c?.name === 'string')
      .map((c) => ({
        name: c.name as string,
        kind: typeof c.kind === 'string' ? c.kind : undefined,
        path: typeof c.path === 'string' ? path.resolve(dir, c.path) : undefined,
      })),
  };
}

/** `{ "a": 1, "b": [0, 1] }`: one component on one line, in the style of the project's configs. */
export const inlineJson = (v: Record<string, unknown>): string => {
  const value = (x: unknown) => (Array.isArray(x) ? `[${x.map((y) => JSON.stringify(y)).join(', ')}]` : JSON.stringify(x));
  return `{ ${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${value(x)}`).join(', ')} }`;
};

/**
 * The one insertion that appends `component` to the config's top-level `rewards` array, in the array's own
 * layout: after the last element on a new line with its indentation (a multi-line array), or `, {…}` on the
 * same line (a one-line array), or inside `[]`. Every other byte of the file stays as it was. null when the
 * config has no `rewards` array (or is not an object).
 */
export function rewardInsertion(text: string, component: Record<string, unknown>): { offset: number; text: string } | null {
  const tree: Node | undefined = parseTree(text, [], { allowTrailingComma: true });
  const prop = tree?.type === 'object' ? tree.children?.find((p) => p.children?.[0]?.value === 'rewards') : undefined;
  const array = prop?.children?.[1];
  if (!array || array.type !== 'array') return null;
  const item = inlineJson(component);
  const indentAt = (offset: number) => /^[ \t]*/.exec(text.slice(text.lastIndexOf('\n', offset - 1) + 1))?.[0] ?? '';
  const last = array.children?.at(-1);
  if (!last) {
    const inner = text.slice(array.offset + 1, array.offset + array.length - 1);
    if (!inner.includes('\n')) return { offset: array.offset + 1, text: item };
    return { offset: array.offset + 1, text: `\n${indentAt(array.offset)}  ${item}` };
  }
  const end = last.offset + last.length;
  if (!text.slice(array.offset, last.offset).includes('\n')) return { offset: end, text: `, ${item}` };
  const indent = indentAt(last.offset);
  // A trailing comma already after the last element: the new one goes after it.
  const comma = /^\s*,/.exec(text.slice(end));
  return comma ? { offset: end + comma[0].length, text: `\n${indent}${item}` } : { offset: end, text: `,\n${indent}${item}` };
}

/** The module file of the `module` component `name`, if there is one. */
export const modulePathOf = (c: ConfigAsWritten, name: string): string | undefined =>
  c.rewards.find((r) => r.name === name && r.kind === 'module')?.path;

/** The typed template New Reward Function writes: the batch signature and declared range the trainer uses. */
export const rewardTemplate = (
  name: string,
): string => `// A reward function for A-LoL Studio (a \`module\` reward component). The trainer calls it with batches
// of rows and needs one number per row, inside the range declared for it in the run config.

export interface RewardInput {
  prompt: string;
  response: string;
  /** The dataset row's other fields (id, file, line, split, annotations, ...). */
  row: Record<string, unknown>;
}

/** Keep in sync with "range" of the "${name}" component in the run config. */
export const RANGE: readonly [number, number] = [0, 1];

export default function score(batch: RewardInput[]): number[] {
  return batch.map((x) => {
    const words = x.response.trim().split(/\\s+/).filter(Boolean).length;
    const complete = /[.!?]\\s*$/.test(x.response) ? 0.5 : 0;
    return complete + (words >= 5 && words <= 60 ? 0.5 : 0);
  });
}
`;

/**
 * The fields of the dataset row a selection was taken from, for scoring the selection as that row's
 * response (its prompt, labels, annotations); a pair's two responses are left out. {} for a malformed line.
 */
export function fieldsOf(line: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(line);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
    return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'chosen' && k !== 'rejected' && k !== 'response'));
  } catch {
    return {};
  }
}

/** One scored row as `alol score-rows --json` and `debug-reward --results` write it; total null: not scored (`error`). */
export interface RowScore {
  rowId: string;
  line: number;
  kind: string;
  total: number | null;
  rewards: Record<string, number>;
  error?: string;
}

export const describeScore = (r: RowScore, pair: boolean) => {
  const components = Object.entries(r.rewards).map(([n, v]) => `${n} ${v.toFixed(3)}`);
  const total = r.total === null ? `not scored: ${r.error ?? '?'}` : `total ${r.total.toFixed(3)}`;
  return `${pair ? `${r.kind}: ` : ''}${total}${components.length ? ` · ${components.join(' · ')}` : ''}`;
};

/** Text selected inside a JSON string (`\n`, `\"`, `\u00e9`) as the string it encodes; other text as it is. */
export function unescapeJson(text: string): string {
  try {
    const v: unknown = JSON.parse(`"${text}"`);
    return typeof v === 'string' ? v : text;
  } catch {
    return text;
  }
}
