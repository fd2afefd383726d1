// A failed zod parse in words a user can act on: the field (a dotted path) and what is wrong with the
// value found there, never the whole value (a response can be megabytes). Shared by the trainer's
// dataset errors (file:line: field x: reason) and the editor's "not a row" CodeLens. Pure: imports only zod.

import type { z } from 'zod';

export interface IssueText {
  /** Dotted path of the offending field, e.g. `rewards.helpful`; null when the value as a whole is wrong. */
  field: string | null;
  /** What is wrong, e.g. `expected a finite number, received string` or `missing (expected string)`. */
  reason: string;
}

/** The first issue of a failed parse of `input`. */
export function describeIssue(error: z.ZodError, input: unknown): IssueText {
  const issue = error.issues[0];
  const path = issue.path.map(String);
  return { field: path.length ? path.join('.') : null, reason: issueMessage(issue, valueAt(input, path)) };
}

function valueAt(input: unknown, path: string[]): unknown {
  let v = input;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/** What a JSON value is, briefly. */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v); // JSON 1e999 parses to Infinity
  return typeof v;
}

function issueMessage(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'invalid_type': {
      if (value === undefined) return `missing (expected ${issue.expected})`;
      const expected = issue.expected === 'number' && typeof value === 'number' ? 'a finite number' : issue.expected;
      return `expected ${expected}, received ${kindOf(value)}`;
    }
    case 'invalid_value': {
      const shown = JSON.stringify(value) ?? String(value);
      const values = issue.values.map((v) => JSON.stringify(v)).join(', ');
      return `expected one of ${values}; received ${shown.length > 40 ? `${shown.slice(0, 40)}…` : shown}`;
    }
    case 'invalid_union': {
      const expected = [...new Set(issue.errors.flatMap((es) => es.map((e) => (e.code === 'invalid_type' ? e.expected : e.message))))];
      return `expected ${expected.join(' or ')}, received ${kindOf(value)}`;
    }
    default:
      return issue.message;
  }
}
