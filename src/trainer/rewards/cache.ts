// Per-component reward cache: one append-only JSONL file per component fingerprint (what the
// component is: its settings, its code or model bytes, its fitted corpus), keyed per row by the row's
// identity plus a hash of the text the component reads — so an edited row is recomputed even when it
// keeps its `id`, and changing one component's weight recomputes nothing.

import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export function rowKey(id: string, parts: readonly unknown[]): string {
  return `${id}|${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16)}`;
}

export class RewardCache {
  constructor(readonly dir: string) {}

  private file(fingerprint: string): string {
    return path.join(this.dir, `rewards-${fingerprint}.jsonl`);
  }

  /** Cached values of one component; lines that do not parse (a write cut short) are recomputed. */
  async load(fingerprint: string): Promise<Map<string, number>> {
    const values = new Map<string, number>();
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
        if (typeof e.k === 'string' && typeof e.v === 'number') values.set(e.k, e.v);
      } catch {
        // a partial last line from an interrupted run: recomputed
      }
    }
    return values;
  }

  async append(fingerprint: string, entries: readonly [string, number][]): Promise<void> {
    if (entries.length === 0) return;
    await mkdir(this.dir, { recursive: true });
    await appendFile(this.file(fingerprint), entries.map(([k, v]) => `${JSON.stringify({ k, v })}\n`).join(''));
  }
}
