// Paths into ../shared (beside the clone in CI and for developers), with a clear error when missing.
import { existsSync } from 'node:fs';
import path from 'node:path';

export const SHARED = path.resolve(__dirname, '../../../../shared');

export function sharedPath(...parts: string[]): string {
  const p = path.join(SHARED, ...parts);
  if (!existsSync(p)) throw new Error(`${p} is missing: tests read real data from ../shared beside the clone`);
  return p;
}
