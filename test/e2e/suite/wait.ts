// Waiting on events inside the extension host, never on time alone: each helper resolves when the state
// it names is reached and rejects after a bound with the reason and what it saw (so a slow machine
// waits longer and a broken behaviour still fails with its evidence).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Polls `f` until it returns a value (not undefined); rejects after `ms` naming `what` and `seen()`. */
export async function until<T>(what: string, ms: number, f: () => T | undefined, seen?: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${seen ? `; seen: ${seen()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The text of output channel `name` as VS Code logs it under the user-data folder the harness names in ALOL_E2E_USER_DATA. */
export function outputChannelText(name: string): string {
  const root = process.env.ALOL_E2E_USER_DATA;
  assert.ok(root, 'ALOL_E2E_USER_DATA is not set (test/e2e/lib/harness.mjs sets it)');
  const find = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? find(p) : e.name.endsWith(`-${name}.log`) ? [p] : [];
  });
  return find(path.join(root, 'logs')).map((f) => fs.readFileSync(f, 'utf8')).join('');
}

/** Resolves with output channel `name`'s text once `test` accepts it; rejects after `ms` with the text. */
export function outputChannel(name: string, test: string | ((text: string) => boolean), ms: number): Promise<string> {
  const ok = typeof test === 'string' ? (t: string) => t.includes(test) : test;
  let text = '';
  return until(`output channel "${name}" to show ${typeof test === 'string' ? JSON.stringify(test) : 'the expected line'}`, ms, () => {
    text = outputChannelText(name);
    return ok(text) ? text : undefined;
  }, () => `\n${text}`);
}
