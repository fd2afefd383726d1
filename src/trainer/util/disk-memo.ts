// A disk memo: a small persistent key -> value store of computed results, one append-only JSONL file
// per fingerprint (what was computed and how), loaded into a Map. Used for rewards, reference
// log-probs and greedy generations (not an attention key/value cache: that is model/generate.ts's).
// A line cut short by an interrupted run fails to parse and is simply computed again.

import { appendFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export class DiskMemo<V> {
  constructor(
    readonly dir: string,
    private readonly prefix: string,
    private readonly isValue: (v: unknown) => v is V,
  ) {}

  private file(fingerprint: string): string {
    return path.join(this.dir, `${this.prefix}-${fingerprint}.jsonl`);
  }

  async load(fingerprint: string): Promise<Map<string, V>> {
    const values = new Map<string, V>();
    let text = '';
    try {
      text = await readFile(this.file(fingerprint), 'utf8');
    } catch {
      return values;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const e = JSON.parse(line) as { k?: unknown; v?: unknown };
        if (typeof e.k === 'string' && this.isValue(e.v)) values.set(e.k, e.v);
      } catch {
        // a partial last line from an interrupted run: computed again
      }
    }
    return values;
  }

  async append(fingerprint: string, entries: readonly (readonly [string, V])[]): Promise<void> {
    if (entries.length === 0) return;
    await mkdir(this.dir, { recursive: true });
    await appendFile(this.file(fingerprint), entries.map(([k, v]) => `${JSON.stringify({ k, v })}\n`).join(''));
  }
}
