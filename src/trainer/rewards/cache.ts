// Per-component reward cache: values per component fingerprint (what it computes: its settings, its
// code or model bytes, its fitted corpus), keyed per row by the row's identity plus a hash of the text
// the component reads — so an edited row is recomputed even when it keeps its `id`, and changing one
// component's weight recomputes nothing.

import { createHash } from 'node:crypto';
import { DiskMemo as KvCache } from '../util/disk-memo.js';

export function rowKey(id: string, parts: readonly unknown[]): string {
  return `${id}|${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16)}`;
}

export class RewardCache extends KvCache<number> {
  constructor(dir: string) {
    super(dir, 'rewards', (v): v is number => typeof v === 'number');
  }
}
