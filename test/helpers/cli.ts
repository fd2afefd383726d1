// Runs the `alol` CLI (bin/alol.js of this build) as a user would, in a given folder.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export const ALOL_BIN = path.resolve(__dirname, '../../../bin/alol.js');

/** `alol ...args` in `cwd()` (read at each call); asserts exit status 0, showing stdout and stderr, and returns stdout. */
export function alolRunner(cwd: () => string): (...args: string[]) => string {
  return (...args) => {
    const r = spawnSync(process.execPath, [ALOL_BIN, ...args], { cwd: cwd(), encoding: 'utf8' });
    assert.equal(r.status, 0, `alol ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
}
