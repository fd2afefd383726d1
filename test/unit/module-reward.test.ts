// User reward modules: TypeScript bundled and run in a worker; a hanging call is cut at its time limit
// and the next call runs in a fresh worker; the thread's start-up counts toward no call's time limit;
// throws and non-arrays are reported; edits are picked up.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ModuleReward, type ModuleOutcome } from '../../src/trainer/rewards/module-reward.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-module-'));
  await writeFile(path.join(dir, 'words.ts'), 'export const POLITE: readonly string[] = ["please", "thanks"];\n');
  await writeFile(
    path.join(dir, 'polite.ts'),
    `import { POLITE } from './words';
interface Item { prompt: string; response: string; row: Record<string, unknown> }
export default function score(batch: Item[]): number[] {
  return batch.map((b): number => (POLITE.some((w) => b.response.includes(w)) ? 1 : 0));
}
`,
  );
  // Answers with the id of the thread it runs in, so a test can tell one worker from the next.
  await writeFile(
    path.join(dir, 'hang.js'),
    `const { threadId } = require("node:worker_threads");
exports.score = (batch) => { if (batch[0].response === "hang") { for (;;) {} } return batch.map(() => threadId); };
`,
  );
  // Its top level (run when a worker loads it) takes 1 s, far past the 300 ms limit the test gives its calls.
  const slowLoad = 'const t = Date.now(); while (Date.now() - t < 1000) {}\nexports.score = (batch) => batch.map(() => 0.5);\n';
  await writeFile(path.join(dir, 'slowload.js'), slowLoad);
  await writeFile(path.join(dir, 'throws.ts'), 'export function score(): number[] { throw new Error("boom"); }\n');
  await writeFile(path.join(dir, 'noscore.ts'), 'export const x = 1;\n');
  await writeFile(path.join(dir, 'syntax.ts'), 'export default function score( {\n');
});
after(() => rm(dir, { recursive: true, force: true }));

const item = (response: string) => ({ prompt: 'p', response, row: {} });
/** The values of a call that must have succeeded. */
const valuesOf = (r: ModuleOutcome): unknown => {
  assert.ok(r.ok, `the call failed: ${JSON.stringify(r)}`);
  return r.values;
};

describe('module rewards', () => {
  it('a TypeScript module with a relative import is transpiled and run', async () => {
    const m = await ModuleReward.load(path.join(dir, 'polite.ts'), 2000);
    assert.deepEqual(valuesOf(await m.call([item('thanks a lot'), item('no'), item('please do')])), [1, 0, 1]);
    await m.dispose();
  });

  it('a call that hangs is cut at its time limit; the next call runs in a fresh worker', async () => {
    const m = await ModuleReward.load(path.join(dir, 'hang.js'), 300);
    const [first] = valuesOf(await m.call([item('fine')])) as number[];
    // The outcome is the time-out's own (the module never answers), so the timer cut the call.
    assert.deepEqual(await m.call([item('hang')]), { ok: false, kind: 'timeout', ms: 300 });
    const [next] = valuesOf(await m.call([item('fine')])) as number[];
    assert.equal(typeof first, 'number');
    assert.notEqual(next, first, 'the call after the time-out ran in the same worker thread');
    await m.dispose();
  });

  it("a worker's start-up is outside a call's time limit", async () => {
    // Loading takes 1 s and the limit is 300 ms: the call succeeds only if its clock starts after the load.
    const m = await ModuleReward.load(path.join(dir, 'slowload.js'), 300);
    assert.deepEqual(valuesOf(await m.call([item('a')])), [0.5]);
    await m.dispose();
  });

  it('a throw is reported with its message; a module without score says how to export one', async () => {
    const t = await ModuleReward.load(path.join(dir, 'throws.ts'), 2000);
    const r = await t.call([item('x')]);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.kind === 'throw' ? r.message : '', /boom/);
    await t.dispose();
    const n = await ModuleReward.load(path.join(dir, 'noscore.ts'), 2000);
    const r2 = await n.call([item('x')]);
    assert.match(!r2.ok && r2.kind === 'throw' ? r2.message : '', /exports no score function: export default function score/);
    await n.dispose();
  });

  it('a syntax error is an error naming the file and line', async () => {
    await assert.rejects(ModuleReward.load(path.join(dir, 'syntax.ts'), 2000), /reward module .*syntax\.ts:\d+: Expected/);
  });

  it('reload picks up an edited file and changes the fingerprint', async () => {
    const file = path.join(dir, 'edit.ts');
    await writeFile(file, 'export default (b: unknown[]) => b.map(() => 1);\n');
    const m = await ModuleReward.load(file, 2000);
    const before = m.fingerprint;
    assert.deepEqual(valuesOf(await m.call([item('a')])), [1]);
    await writeFile(file, 'export default (b: unknown[]) => b.map(() => 2);\n');
    await m.reload();
    assert.deepEqual(valuesOf(await m.call([item('a')])), [2]);
    assert.notEqual(m.fingerprint, before);
    await m.dispose();
  });

  it('debugging: the copy written before the debugger starts is the one the in-process run loads, and it is removed after', async () => {
    const file = path.join(dir, 'polite.ts');
    // Written first (`alol debug-reward --prepare`): the debugger sets breakpoints on this file by its URL.
    const prepared = await ModuleReward.load(file, null);
    const copy = prepared.writeDebugCopy();
    const bytes = readFileSync(copy, 'utf8');
    await prepared.dispose();
    assert.ok(existsSync(copy), 'a module that never ran in process leaves the prepared copy in place');
    // Beside the module (its imports resolve from there), not dot-prefixed: debuggers' globs skip dot files.
    assert.equal(path.dirname(copy), dir);
    assert.ok(!path.basename(copy).startsWith('.'));
    assert.match(bytes, /\/\/# sourceMappingURL=data:application\/json;base64,/);
    const map = JSON.parse(Buffer.from(/base64,(\S+)\s*$/.exec(bytes)?.[1] ?? '', 'base64').toString()) as { sources: string[] };
    assert.deepEqual(map.sources.map((s) => path.resolve(dir, s)).sort(), [path.join(dir, 'polite.ts'), path.join(dir, 'words.ts')]);

    const m = await ModuleReward.load(file, null);
    m.runInProcess();
    assert.equal(readFileSync(copy, 'utf8'), bytes, 'the in-process run wrote other bytes than the prepared copy');
    assert.deepEqual(valuesOf(await m.call([item('thanks a lot'), item('no')])), [1, 0]);
    await m.dispose();
    assert.equal(existsSync(copy), false, 'the debug copy was left behind');
  });
});
