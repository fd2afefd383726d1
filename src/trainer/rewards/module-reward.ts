// A user's reward module (.js or .ts, with its relative imports) bundled by esbuild and run in a
// worker thread. A call that exceeds `timeoutMs` terminates the thread (a fresh one starts on the next
// call); `timeoutMs: null` means no limit (used while debugging). The module exports
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
  | { ok: true; values: unknown }
  | { ok: false; kind: 'throw'; message: string; stack?: string }
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

export class ModuleReward {
  private worker: Worker | null = null;
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

  private startWorker(): Worker {
    const w = new Worker(path.join(__dirname, 'module-worker.js'), { workerData: { code: this.code, file: this.file, exportName: this.exportName } });
    this.worker = w;
    return w;
  }

  private async stopWorker(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
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
    if (typeof fn !== 'function') throw new Error(`${this.file} exports no score function${this.exportName ? ` named '${this.exportName}'` : ''}`);
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
        const values = await this.inProcess([...batch]);
        return { ok: true, values: Array.isArray(values) ? values : { notArray: typeof values } };
      } catch (e) {
        return { ok: false, kind: 'throw', message: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined };
      }
    }
    const w = this.worker ?? this.startWorker();
    const id = this.nextId++;
    return new Promise<ModuleOutcome>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const done = (o: ModuleOutcome): void => {
        if (timer) clearTimeout(timer);
        w.off('message', onMessage);
        w.off('error', onError);
        resolve(o);
      };
      const onMessage = (m: { id: number; ok: boolean; values?: unknown; error?: string; stack?: string }): void => {
        if (m.id !== id) return;
        done(m.ok ? { ok: true, values: m.values } : { ok: false, kind: 'throw', message: m.error ?? 'unknown error', stack: m.stack });
      };
      const onError = (e: Error): void => {
        this.worker = null;
        done({ ok: false, kind: 'throw', message: e.message, stack: e.stack });
      };
      w.on('message', onMessage);
      w.on('error', onError);
      if (this.timeoutMs !== null) {
        timer = setTimeout(() => {
          void this.stopWorker();
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
