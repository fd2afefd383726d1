// Runs inside a worker thread: evaluates a user's reward module (already bundled to CommonJS by
// esbuild in the parent), says it is ready, and answers score requests with the values and the time
// the score function itself took (so a slow call is told apart from the thread's start-up and the
// message passing). The parent terminates this thread when a call exceeds its time limit, so a
// hanging module never blocks the trainer.

import { parentPort, workerData } from 'node:worker_threads';
import { type ScoreFn, loadScoreFunction } from './module-load.js';

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
let score: ScoreFn | null = null;
let loadError: string | null = null;
try {
  score = loadScoreFunction(code, file, exportName);
} catch (e) {
  loadError = e instanceof Error ? `${e.message}${e.stack ? `\n${e.stack}` : ''}` : String(e);
}

parentPort?.on('message', async (req: Request) => {
  if (!score) {
    parentPort?.postMessage({ id: req.id, ok: false, error: `loading ${file} failed: ${loadError}` });
    return;
  }
  try {
    const t0 = performance.now();
    const values = await score(req.batch);
    const elapsedMs = performance.now() - t0;
    parentPort?.postMessage({ id: req.id, ok: true, values: Array.isArray(values) ? values : { notArray: typeof values }, elapsedMs });
  } catch (e) {
    const stack = e instanceof Error ? e.stack : undefined;
    parentPort?.postMessage({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e), stack });
  }
});

parentPort?.postMessage({ ready: true });
