// What a failed run reports: run/didFail's `code`, `message` and `hint`, from the error that ended it.
// Errors a user can act on are AlolErrors: each class sets its own `code`, and the hint travels as a
// field. The message a user reads is unchanged: it still ends with "; hint: ..." when there is one.
//
// Issue 16 (in progress): the classes (ConfigError, DataError, RewardError, WatchdogError,
// ModelFileError) and every `throw new Error('...hint: ...')` become AlolErrors; then failureOf drops
// the fallback that cuts the hint out of a plain Error's text.

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
  ) {
    super(hint ? `${message}; hint: ${hint}` : message);
    if (hint) this.hint = hint;
    this.name = new.target.name;
  }
}

/** run/didFail's fields for `e`. */
export function failureOf(e: unknown): Failure {
  if (e instanceof AlolError) return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
  const message = e instanceof Error ? e.message : String(e);
  const hint = /hint: (.*)$/.exec(message)?.[1]; // fallback, to go (see the header)
  return { code: e instanceof Error && e.name !== 'Error' ? e.name : 'error', message, ...(hint ? { hint } : {}) };
}
