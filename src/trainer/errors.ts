// What a failed run reports: run/didFail's `code`, `message` and `hint`, from the error that ended it.
// Errors a user can act on are AlolErrors: each class sets its own `code`, and the hint travels as a
// field (nothing parses it out of the text). The message a user reads still shows the hint: after
// "; hint: ", or in parentheses for messages written that way. Any other error is code `error`, no hint.

export interface Failure {
  code: string;
  message: string;
  hint?: string;
}

export class AlolError extends Error {
  /** What to do about it, when there is something to do (also at the end of `message`). */
  readonly hint?: string;

  constructor(
    /** run/didFail's `code`: short and stable, e.g. `config`, `data`, `reward`, `watchdog`, `model-file`. */
    readonly code: string,
    message: string,
    hint?: string,
    /** How the message shows the hint: `message; hint: ...` (default) or `message (hint: ...)`. */
    shown: 'suffix' | 'parenthesized' = 'suffix',
  ) {
    super(!hint ? message : shown === 'suffix' ? `${message}; hint: ${hint}` : `${message} (hint: ${hint})`);
    if (hint) this.hint = hint;
    this.name = new.target.name;
  }
}

/** run/didFail's fields for `e`. */
export function failureOf(e: unknown): Failure {
  if (e instanceof AlolError) return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
  return { code: 'error', message: e instanceof Error ? e.message : String(e) };
}
