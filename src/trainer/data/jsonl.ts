// Streaming JSONL reading with errors that name the file, line and field. Blank lines are skipped
// (they are not rows); a UTF-8 BOM and CRLF line ends are accepted; .gz files are read directly.
// Memory: one line at a time (readline), whatever the file's size.

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { z } from 'zod';
import { AlolError } from '../errors.js';
import { describeIssue } from '../../protocol/issues.js';

export interface Located<T> {
  /** 1-based line number in the file. */
  line: number;
  value: T;
}

/** A bad record in a data file, named by file, line and field (run/didFail's code `data`). */
export class DataError extends AlolError {
  /** The message without its `file:line: ` prefix, e.g. `field reward: expected number, received string` (hint included). */
  readonly reason: string;

  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string | null,
    message: string,
    hint?: string,
  ) {
    super('data', `${file}:${line}${field ? `: field ${field}` : ''}: ${message}`, hint);
    this.reason = `${field ? `field ${field}: ` : ''}${message}${hint ? `; hint: ${hint}` : ''}`;
  }
}

/** One non-blank line: its parsed JSON, or why it is not JSON. */
export type JsonLine = { line: number; value: unknown; error?: undefined } | { line: number; error: DataError };

/** Yields each non-blank line parsed as JSON; a line that is not JSON is yielded as an error, not thrown. */
export async function* readJsonLines(file: string): AsyncGenerator<JsonLine> {
  const raw = createReadStream(file);
  const gz = file.endsWith('.gz') ? createGunzip() : null;
  if (gz) raw.on('error', (e) => gz.destroy(e));
  const input = gz ? raw.pipe(gz) : raw;
  await new Promise<void>((resolve, reject) => {
    raw.once('open', () => resolve());
    raw.once('error', (e) => reject(new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
  });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const text of lines) {
      n++;
      const line = n === 1 ? text.replace(/^\uFEFF/, '') : text;
      if (line.trim() === '') continue;
      let parsed: JsonLine;
      try {
        parsed = { line: n, value: JSON.parse(line) as unknown };
      } catch (e) {
        parsed = { line: n, error: new DataError(file, n, null, `not valid JSON (${(e as Error).message})`) };
      }
      yield parsed;
    }
  } catch (e) {
    if (gz && (e as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      const stream = `not a valid gzip stream (${(e as Error).message})`;
      throw new AlolError('data', `${file}: after line ${n}: ${stream}`, 'is the .gz file truncated or not gzip at all?');
    }
    throw e;
  } finally {
    lines.close();
    raw.destroy();
  }
}

/** A DataError for the first issue of a failed zod parse of `input`, in words a user can act on. */
export function schemaError(file: string, line: number, error: z.ZodError, input: unknown): DataError {
  const { field, reason } = describeIssue(error, input);
  return new DataError(file, line, field, reason);
}

/** Yields each non-blank line parsed by `schema`; throws a DataError on the first bad row. */
export async function* readJsonl<S extends z.ZodType>(file: string, schema: S): AsyncGenerator<Located<z.infer<S>>> {
  for await (const l of readJsonLines(file)) {
    if (l.error) throw l.error;
    const r = schema.safeParse(l.value);
    if (!r.success) throw schemaError(file, l.line, r.error, l.value);
    yield { line: l.line, value: r.data };
  }
}
