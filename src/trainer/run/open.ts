// Opening a run: load the config (file + --set), make the run folder with the resolved config, start
// its event log, and wrap the work so the log ends with run/didFinish or run/didFail. Shared by the CLI
// verbs and the extension's subprocess (main.ts), whose events also go to stdout.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type LoadedConfig, loadRunConfig } from '../config.js';
import { resolveDevice } from '../runtime/device.js';
import { failureOf } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { RunLog, runName } from './events.js';
import { StopRequested } from './control.js';

export interface RunFlags {
  config?: string;
  set?: string[];
  out?: string;
  cacheDir?: string;
  cache: boolean;
}

/** Loads the config, makes the run folder (with the resolved config) and its event log. */
export async function openRun(verb: string, o: RunFlags, toStdout = false): Promise<{ loaded: LoadedConfig; runDir: string; cacheDir: string | null; log: RunLog }> {
  const loaded = await loadRunConfig(o.config ?? null, o.set ?? []);
  const runDir = path.resolve(o.out ?? path.join(loaded.baseDir, 'runs', runName(verb)));
  await mkdir(runDir, { recursive: true });
  await writeFileAtomic(path.join(runDir, 'config.json'), `${JSON.stringify(loaded.config, null, 2)}\n`);
  const cacheDir = o.cache ? path.resolve(o.cacheDir ?? path.join(loaded.baseDir, '.alol', 'cache')) : null;
  const log = new RunLog(runDir, toStdout);
  const device = await resolveDevice(loaded.config.device);
  if (device.fallback) process.stderr.write(`alol: ${device.fallback}\n`);
  log.emit({ type: 'run/didStart', runId: path.basename(runDir), runDir, verb, config: loaded.config, device: { requested: device.requested, provider: device.provider, ...(device.fallback ? { fallback: device.fallback } : {}) } });
  return { loaded, runDir, cacheDir, log };
}

/** Runs `body`, logging run/didFinish or run/didFail (with the message) before rethrowing. */
export async function inRun<T>(log: RunLog, runDir: string, body: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    const r = await body();
    log.emit({ type: 'run/didFinish', runDir, elapsedMs: performance.now() - t0 });
    return r;
  } catch (e) {
    if (e instanceof StopRequested) {
      log.emit({ type: 'run/didFinish', runDir, elapsedMs: performance.now() - t0, stopped: true });
      throw e;
    }
    log.emit({ type: 'run/didFail', ...failureOf(e) });
    throw e;
  }
}

