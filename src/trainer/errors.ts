// What a failed run reports: run/didFail's `code`, `message` and `hint`, from the error that ended it.
// (Issue 16: the error classes are to set `code` and `hint` themselves; until then this keeps the
// behaviour of run/open.ts: the class name when it is not plain Error, and the hint cut from the text.)

export interface Failure {
  code: string;
  message: string;
  hint?: string;
}

/** run/didFail's fields for `e`. */
export function failureOf(e: unknown): Failure {
  const message = e instanceof Error ? e.message : String(e);
  const hint = /hint: (.*)$/.exec(message)?.[1];
  return { code: e instanceof Error && e.name !== 'Error' ? e.name : 'error', message, ...(hint ? { hint } : {}) };
}
