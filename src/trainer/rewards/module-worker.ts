// Runs inside a worker thread: evaluates a user's reward module (already bundled to CommonJS by
// esbuild in the parent) and answers score requests. The parent terminates this thread when a call
// exceeds its time limit, so a hanging module never blocks the trainer.

import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';

interface Init {
  code: string;
  file: string;
  exportName: string | null;
}
interface Request {
  id: number;
  batch: unknown[];
}

const { code, file, exportName } = workerData as Init;
type ScoreFn = (batch: unknown[]) => unknown;

function load(): ScoreFn {
  const mod = { exports: {} as Record<string, unknown> };
  const wrapper = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${code}\n})`, { filename: file });
  const fn = wrapper.runInThisContext() as (...args: unknown[]) => void;
  fn(mod.exports, createRequire(file), mod, file, path.dirname(file));
  const candidate = exportName ? mod.exports[exportName] : (mod.exports.default ?? mod.exports.score);
  if (typeof candidate !== 'function') {
    throw new Error(
      exportName
        ? `${file} has no exported function '${exportName}' (exports: ${Object.keys(mod.exports).join(', ') || 'none'})`
        : `${file} exports no score function: export default function score(batch) { ... } or export function score(batch)`,
    );
  }
  return candidate as ScoreFn;
}

let score: ScoreFn | null = null;
let loadError: string | null = null;
try {
  score = load();
} catch (e) {
  loadError = e instanceof Error ? `${e.message}${e.stack ? `\n${e.stack}` : ''}` : String(e);
}

parentPort?.on('message', async (req: Request) => {
  if (!score) {
    parentPort?.postMessage({ id: req.id, ok: false, error: `loading ${file} failed: ${loadError}` });
    return;
  }
  try {
    const values = await score(req.batch);
    parentPort?.postMessage({ id: req.id, ok: true, values: Array.isArray(values) ? values : { notArray: typeof values } });
  } catch (e) {
    parentPort?.postMessage({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined });
  }
});
