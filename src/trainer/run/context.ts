// The run context: everything a run's phases share, resolved once when the run starts — the config
// (loaded once), the run folder and its event log, the device (resolveDevice runs here and nowhere
// else in a run), the cache folder, stop control, progress and `say`, and the compute backend every
// model computation of the run goes through (its sessions released together when the run ends).
// One function builds it
// (openRunContext); the CLI verbs, the extension's subprocess (main.ts) and the demo all call it, and
// every phase takes it. `inRun` wraps a run's work so the log ends with run/didFinish or run/didFail.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig } from '../../protocol/config.js';
import type { Phase } from '../../protocol/trainer.js';
import type { ComputeBackend } from '../compute/backend.js';
import { localBackend } from '../compute/local.js';
import { TorchBackend } from '../compute/torch/backend.js';
import { failureOf } from '../errors.js';
import { type ResolvedDevice, checkPrecision, resolveDevice } from '../runtime/device.js';
import { writeFileAtomic } from '../util/atomic.js';
import { type RunControl, StopRequested, newControl } from './control.js';
import { RunLog, runName } from './events.js';
import { type LoadedConfig, loadRunConfig } from './load-config.js';

/** A progress bar of a long phase (the CLI draws one on stderr; the subprocess draws none). */
export interface ProgressBar {
  update: (done: number) => void;
  stop: () => void;
}

export interface RunContext {
  /** The verb that started the run (audit, train, eval, demo). */
  readonly verb: string;
  readonly config: RunConfig;
  /** The config file, or null (defaults and --set only, or a config built in code like the demo's). */
  readonly configFile: string | null;
  /** Relative paths in the config are relative to this folder. */
  readonly baseDir: string;
  readonly runDir: string;
  /** Caches of rewards, log-probs, hidden states and value estimates; null: caches off. */
  readonly cacheDir: string | null;
  readonly log: RunLog;
  /** The execution provider every session of this run uses (resolved once). */
  readonly device: ResolvedDevice;
  /** Stop requests and checkpoint-now requests from the extension. */
  readonly control: RunControl;
  /** What computes with models: log-probs, hidden states, training steps, generation. */
  readonly compute: ComputeBackend;
  /** A human-readable line (the CLI prints it on stdout, the subprocess on stderr). */
  say(line: string): void;
  progress(phase: Phase, total: number): ProgressBar;
}

export interface RunSpec {
  verb: string;
  loaded: LoadedConfig;
  runDir: string;
  cacheDir: string | null;
  say: (line: string) => void;
  progress: (phase: Phase, total: number) => ProgressBar;
  control?: RunControl;
  /** The event log (default: a new one in runDir; `toStdout` for the subprocess). */
  log?: RunLog;
  toStdout?: boolean;
  /** Writes config.json (the resolved config) into the run folder (CLI verbs and the subprocess). */
  writeConfig?: boolean;
  /** Emits run/didStart (default true; tests that drive phases directly may leave it out). */
  announce?: boolean;
  /** The compute backend (default: config.backend: ONNX Runtime on the resolved device, or the PyTorch worker). */
  compute?: (device: ResolvedDevice) => ComputeBackend;
  /** The torch backend's interpreter (CLI --python, the alolStudio.python setting); never from the run config. */
  python?: string | null;
}

/** Builds a run's context: the run folder, its event log and the device, resolved once. */
export async function openRunContext(spec: RunSpec): Promise<RunContext> {
  const { config } = spec.loaded;
  const runDir = path.resolve(spec.runDir);
  await mkdir(runDir, { recursive: true });
  if (spec.writeConfig) await writeFileAtomic(path.join(runDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const log = spec.log ?? new RunLog(runDir, spec.toStdout ?? false);
  // the torch backend computes where its worker runs; ONNX Runtime keeps the value head and ONNX reward classifiers,
  // on the GPU when its provider loads (auto), quietly on the CPU when not
  const torch = config.backend.kind === 'torch';
  const device = await resolveDevice(torch && config.device !== 'cpu' ? 'auto' : config.device, undefined, { webgpu: !torch });
  if (device.fallback) process.stderr.write(`alol: ${device.fallback}\n`);
  // before the run starts: the error names backend.precision, the provider and what to do (the torch worker checks its own)
  if (!torch) checkPrecision(config.backend.precision, device.provider, 'backend.precision');
  if (spec.announce ?? true) {
    const fallback = device.fallback ? { fallback: device.fallback } : {};
    const reason = device.reason && !torch ? { reason: device.reason } : {};
    const resolved = torch
      ? { requested: config.device, provider: `torch ${config.device}` }
      : { requested: device.requested, provider: device.provider, ...fallback, ...reason };
    log.emit({ type: 'run/didStart', runId: path.basename(runDir), runDir, verb: spec.verb, config, device: resolved });
  }
  return {
    verb: spec.verb,
    config,
    configFile: spec.loaded.file,
    baseDir: spec.loaded.baseDir,
    runDir,
    cacheDir: spec.cacheDir,
    log,
    device,
    control: spec.control ?? newControl(),
    compute: spec.compute ? spec.compute(device) : backendOf(config, device, runDir, spec),
    say: spec.say,
    progress: spec.progress,
  };
}

/** The run's compute backend, as config.backend says. */
function backendOf(config: RunConfig, device: ResolvedDevice, runDir: string, spec: RunSpec): ComputeBackend {
  if (config.backend.kind === 'builtin') {
    return localBackend({ provider: device.provider, threads: config.threads, precision: config.backend.precision });
  }
  return new TorchBackend({
    python: spec.python ?? null,
    backend: config.backend,
    device: config.device,
    threads: config.threads,
    workDir: path.join(runDir, 'torch'),
    valueProvider: device.provider,
    log: (line) => process.stderr.write(`[torch] ${line}\n`),
  });
}

/** What the CLI and the subprocess say about a run: its config file and --set, folders, cache. */
export interface RunFlags {
  config?: string;
  set?: string[];
  out?: string;
  cacheDir?: string;
  cache: boolean;
  /** --backend: sets backend.kind. */
  backend?: 'builtin' | 'torch';
  /** --precision: sets backend.precision. */
  precision?: 'float32' | 'float16' | 'bfloat16';
  /** --python: the torch backend's interpreter. */
  python?: string | null;
}

/**
 * Loads the config (file + --set), chooses the run folder (default runs/<verb>-<time> beside the config)
 * and the cache folder, and opens the run's context with config.json written and run/didStart emitted.
 */
export async function openRunFromFlags(
  verb: string,
  flags: RunFlags,
  io: Pick<RunSpec, 'say' | 'progress' | 'control' | 'toStdout'>,
): Promise<RunContext> {
  const set = [
    ...(flags.backend ? [`backend.kind=${flags.backend}`] : []),
    ...(flags.precision ? [`backend.precision=${flags.precision}`] : []),
    ...(flags.set ?? []),
  ];
  const loaded = await loadRunConfig(flags.config ?? null, set);
  const runDir = path.resolve(flags.out ?? path.join(loaded.baseDir, 'runs', runName(verb)));
  const cacheDir = flags.cache ? path.resolve(flags.cacheDir ?? path.join(loaded.baseDir, '.alol', 'cache')) : null;
  return openRunContext({ verb, loaded, runDir, cacheDir, writeConfig: true, python: flags.python ?? null, ...io });
}

/**
 * Runs `body`, logging run/didFinish or run/didFail (with the message) before rethrowing; the run's
 * compute backend is released when it ends.
 */
export async function inRun<T>(
  ctx: Pick<RunContext, 'log' | 'runDir' | 'compute'> & Partial<Pick<RunContext, 'say'>>,
  body: () => Promise<T>,
): Promise<T> {
  const t0 = performance.now();
  let result: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    const ready = await ctx.compute.prepare?.();
    if (ready) ctx.say?.(ready);
    result = { ok: true, value: await body() };
  } catch (e) {
    result = { ok: false, error: e };
  }
  // released before the last event, so a finished run's folder is final (the torch worker's scratch folder gone)
  try {
    await ctx.compute.release();
  } catch (e) {
    if (result.ok) result = { ok: false, error: e };
  }
  if (result.ok) {
    ctx.log.emit({ type: 'run/didFinish', runDir: ctx.runDir, elapsedMs: performance.now() - t0 });
    return result.value;
  }
  const e = result.error;
  if (e instanceof StopRequested) {
    ctx.log.emit({ type: 'run/didFinish', runDir: ctx.runDir, elapsedMs: performance.now() - t0, stopped: true });
  } else {
    ctx.log.emit({ type: 'run/didFail', ...failureOf(e) });
  }
  throw e;
}
