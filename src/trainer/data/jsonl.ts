// Streaming JSONL reading with errors that name the file, line and field. Blank lines are skipped
// (they are not rows); a UTF-8 BOM and CRLF line ends are accepted; .gz files are read directly.

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { z } from 'zod';

export interface Located<T> {
  /** 1-based line number in the file. */
  line: number;
  value: T;
}

export class DataError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string | null,
    message: string,
  ) {
    super(`${file}:${line}${field ? `: field ${field}` : ''}: ${message}`);
  }
}

/** Yields each non-blank line parsed by `schema`; throws a DataError on the first bad row. */
export async function* readJsonl<S extends z.ZodType>(file: string, schema: S): AsyncGenerator<Located<z.infer<S>>> {
  const raw = createReadStream(file);
  const input = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const opened = new Promise<void>((resolve, reject) => {
    raw.once('open', () => resolve());
    raw.once('error', (e) => reject(new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
  });
  await opened;
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const text of lines) {
    n++;
    const line = n === 1 ? text.replace(/^\uFEFF/, '') : text;
    if (line.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (e) {
      throw new DataError(file, n, null, `not valid JSON (${(e as Error).message})`);
    }
    const r = schema.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new DataError(file, n, issue.path.length ? issue.path.join('.') : null, issue.message);
    }
    yield { line: n, value: r.data };
  }
}
