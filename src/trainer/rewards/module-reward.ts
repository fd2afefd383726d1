// A user's reward module (.js or .ts, with its relative imports) bundled by esbuild and run in a
// worker thread. A call that exceeds `timeoutMs` terminates the thread (a fresh one starts on the next
// call); `timeoutMs: null` means no limit (used while debugging). A call's limit and its reported time
// cover the score function only: the thread is started and the module evaluated before the clock starts
// (start-up has its own limit), and the time is measured inside the worker. The module exports
//   export default function score(batch: { prompt: string; response: string; row: object }[]): number[] | Promise<number[]>
// and the values are checked by the reward registry (length, type, range) with the rows named.

import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
import { type ScoreFn } from './module-load.js';

export interface ModuleInput {
  prompt: string;
  response: string;
  row: Record<string, unknown>;
}

export type ModuleOutcome =
  /** elapsedMs: the score function's own time, measured where it ran (no start-up, no message passing). */
  | { ok: true; values: unknown; elapsedMs: number }
  /** hint: what to do, when the failure is the module's loading rather than its code (not part of `message`). */
  | { ok: false; kind: 'throw'; message: string; stack?: string; hint?: string }
  | { ok: false; kind: 'timeout'; ms: number };

/** Bundles the module and its relative imports to one CommonJS script (node_modules stay external). */
export async function bundleModule(file: string): Promise<string> {
  try {
    const r = await build({
      entryPoints: [file],
      bundle: true,
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      sourcemap: 'inline', // breakpoints and stack traces point into the user's own file
      // Sources relative to the module's folder: the debug copy of the bundle (runInProcess) is
      // written there, so a debugger resolves them to the user's own files.
      absWorkingDir: path.dirname(path.resolve(file)),
      write: false,
      logLevel: 'silent',
    });
    return r.outputFiles[0].text;
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors;
    const first = errors?.[0];
    const where = first?.location ? `${path.resolve(first.location.file)}:${first.location.line}` : file;
    throw new Error(`reward module ${where}: ${first?.text ?? (e as Error).message}`);
  }
}

// A fresh worker's start-up (the thread, then the module's top-level code) is not part of any call's
// time limit: on a loaded machine it alone can outlast a short one. It gets its own, generous limit, so
// a module whose top-level code hangs is still stopped.
const STARTUP_LIMIT_MS = 30_000;

export class ModuleReward {
  private worker: Worker | null = null;
  /** The current worker once it has evaluated the module, or why it could not. */
  private starting: Promise<Worker | ModuleOutcome> | null = null;
  /** Set for in-process runs (debugging): the module runs on this thread, so breakpoints bind. */
  private inProcess: ScoreFn | null = null;
  private nextId = 1;
  private code = '';
  /** Hash of the bundled code: changes when the module or anything it imports changes. */
  fingerprint = '';

  private constructor(
    readonly file: string,
    readonly timeoutMs: number | null,
    readonly exportName: string | null,
  ) {}

  /** `exportName`: the exported function to call (null: the default export, else `score`). */
  static async load(file: string, timeoutMs: number | null, exportName: string | null = null): Promise<ModuleReward> {
    const m = new ModuleReward(path.resolve(file), timeoutMs, exportName);
    await m.reload();
    return m;
  }

  /** Re-reads the module (after an edit); the next call runs the new code. */
  async reload(): Promise<void> {
    this.code = await bundleModule(this.file);
    this.fingerprint = createHash('sha256').update(this.code).update(String(this.exportName)).digest('hex').slice(0, 16);
    await this.stopWorker();
    if (this.inProcess) this.runInProcess();
  }

  /** The running worker; if there is none, a fresh one, once it has evaluated the module. */
  private readyWorker(): Promise<Worker | ModuleOutcome> {
    this.starting ??= this.startWorker();
    return this.starting;
  }

  private startWorker(): Promise<Worker | ModuleOutcome> {
    const workerData = { code: this.code, file: this.file, exportName: this.exportName };
    const w = new Worker(path.join(__dirname, 'module-worker.js'), { workerData });
    this.worker = w;
    const limitMs = this.timeoutMs === null ? null : Math.max(this.timeoutMs, STARTUP_LIMIT_MS);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const done = (r: Worker | ModuleOutcome): void => {
        if (timer) clearTimeout(timer);
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
        if (r !== w) void this.stopWorker(w);
        resolve(r);
      };
      const onMessage = (m: { ready?: boolean }): void => {
        if (m.ready) done(w);
      };
      const onError = (e: Error): void => done({ ok: false, kind: 'throw', message: e.message, stack: e.stack });
      const onExit = (code: number): void => {
        done({ ok: false, kind: 'throw', message: `the worker for ${this.file} stopped (exit code ${code}) while loading the module` });
      };
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      if (limitMs !== null) {
        const message = `loading ${this.file} took over ${limitMs} ms`;
        const hint = 'its top-level code runs as a worker loads it (a loop that never ends?)';
        timer = setTimeout(() => done({ ok: false, kind: 'throw', message, hint }), limitMs);
      }
    });
  }

  /** Terminates `w` (default: the current worker); the next call starts a fresh one. */
  private async stopWorker(w: Worker | null = this.worker): Promise<void> {
    if (!w) return;
    if (this.worker === w) {
      this.worker = null;
      this.starting = null;
    }
    await w.terminate();
  }

  private debugFile: string | null = null;

  /**
   * Runs the module on this thread from now on, with no time limit (for a debugger's breakpoints). The
   * bundle is written as a real .js file beside the module (removed on dispose) and required: debuggers
   * bind breakpoints in the user's .ts through its source map most reliably for files on disk.
   */
  runInProcess(): void {
    this.debugFile = this.writeDebugCopy();
    const mod = createRequire(this.debugFile)(this.debugFile) as Record<string, unknown>;
    const fn = this.exportName ? mod[this.exportName] : (mod.default ?? mod.score);
    if (typeof fn !== 'function') {
      throw new Error(`${this.file} exports no score function${this.exportName ? ` named '${this.exportName}'` : ''}`);
    }
    this.inProcess = fn as ScoreFn;
  }

  /** Where runInProcess writes the bundle: a hidden file beside the module (its source map's sources are relative to it). */
  get debugCopyPath(): string {
    return path.join(path.dirname(this.file), `${path.basename(this.file)}.alol-debug.js`);
  }

  /**
   * Writes the bundle to debugCopyPath. Written before a debugger starts (`alol debug-reward --prepare`),
   * the debugger finds the file through its launch config's outFiles and sets the user's breakpoints on it
   * before it loads; the in-process run then writes the same bytes again and requires it.
   */
  writeDebugCopy(): string {
    writeFileSync(this.debugCopyPath, this.code);
    return this.debugCopyPath;
  }

  async call(batch: readonly ModuleInput[]): Promise<ModuleOutcome> {
    if (this.inProcess) {
      try {
        const t0 = performance.now();
        const values = await this.inProcess([...batch]);
        const elapsedMs = performance.now() - t0;
        return { ok: true, values: Array.isArray(values) ? values : { notArray: typeof values }, elapsedMs };
      } catch (e) {
        const stack = e instanceof Error ? e.stack : undefined;
        return { ok: false, kind: 'throw', message: e instanceof Error ? e.message : String(e), stack };
      }
    }
    const ready = await this.readyWorker();
    if (!(ready instanceof Worker)) return ready;
    const w = ready;
    const id = this.nextId++;
    return new Promise<ModuleOutcome>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const done = (outcome: ModuleOutcome): void => {
        if (timer) clearTimeout(timer);
        w.off('message', onMessage);
        w.off('error', onError);
        resolve(outcome);
      };
      type Reply = { id: number; ok: boolean; values?: unknown; elapsedMs?: number; error?: string; stack?: string };
      const onMessage = (m: Reply): void => {
        if (m.id !== id) return;
        if (m.ok) done({ ok: true, values: m.values, elapsedMs: m.elapsedMs as number });
        else done({ ok: false, kind: 'throw', message: m.error ?? 'unknown error', stack: m.stack });
      };
      const onError = (e: Error): void => {
        void this.stopWorker(w); // the thread is gone (an uncaught error ends it); forget it
        done({ ok: false, kind: 'throw', message: e.message, stack: e.stack });
      };
      w.on('message', onMessage);
      w.on('error', onError);
      if (this.timeoutMs !== null) {
        timer = setTimeout(() => {
          void this.stopWorker(w);
          done({ ok: false, kind: 'timeout', ms: this.timeoutMs as number });
        }, this.timeoutMs);
      }
      w.postMessage({ id, batch });
    });
  }

  async dispose(): Promise<void> {
    await this.stopWorker();
    if (this.debugFile) rmSync(this.debugFile, { force: true });
  }
}
