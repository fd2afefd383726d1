// The trainer as the extension's subprocess: commands arrive as JSON lines on stdin, events leave as
// JSON lines on stdout (and in the run folder's events.jsonl), human-readable logs go to stderr.
// Every command is validated; a bad line is reported on stderr and ignored, never trusted.
//
//   node out/src/trainer/main.js      (the extension spawns it; try: echo '{"type":"run/start","verb":"demo"}' | node ...)

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { PROTOCOL_VERSION, type TrainerCommand, TrainerCommandSchema } from '../protocol/trainer.js';
import { runAudit } from './alol/audit.js';
import { runExperiment } from './alol/experiment.js';
import { runDemo } from './demo/demo.js';
import { RunConfigSchema } from '../protocol/config.js';
import { demoConfig } from './demo/demo.js';
import { resolveDevice } from './runtime/device.js';
import { type RunControl, StopRequested, newControl } from './run/control.js';
import { RunLog, runName } from './run/events.js';
import { inRun, openRun } from './run/open.js';

const VERSION = String((JSON.parse(readFileSync(path.join(__dirname, '../../../package.json'), 'utf8')) as { version?: unknown }).version);
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const quiet = () => ({ update: () => undefined, stop: () => undefined });

let running: Promise<void> | null = null;
let control: RunControl = newControl();

async function start(cmd: Extract<TrainerCommand, { type: 'run/start' }>): Promise<void> {
  const hooks = (l: RunLog) => ({ log: l, say: log, progress: quiet, control });
  if (cmd.verb === 'demo') {
    const d = cmd.demo ?? { quick: true, seed: 1, noise: 0.5 };
    const runDir = path.resolve(cmd.outDir ?? path.join('runs', runName(d.quick ? 'demo-quick' : 'demo')));
    const continuing = cmd.outDir !== null && cmd.resume !== null;
    const l = new RunLog(runDir, true);
    const setting = (k: string) => cmd.set.find((x) => x.startsWith(`${k}=`))?.slice(k.length + 1);
    const requested = (setting('device') ?? 'auto') as 'auto' | 'cpu' | 'cuda' | 'webgpu';
    const device = await resolveDevice(requested);
    const threads = Number(setting('threads') ?? 2) || 2;
    const opts = { out: runDir, seed: d.seed, quick: d.quick, noise: d.noise, continue: continuing, device: requested, threads };
    l.emit({ type: 'run/didStart', runId: path.basename(runDir), runDir, verb: 'demo', config: RunConfigSchema.parse(demoConfig(opts, path.join(runDir, 'data', 'demo.jsonl'))), device: { requested: device.requested, provider: device.provider, ...(device.fallback ? { fallback: device.fallback } : {}) } });
    await inRun(l, runDir, () => runDemo(opts, hooks(l), runDir));
    return;
  }
  const { loaded, runDir, cacheDir, log: l } = await openRun(cmd.verb, { config: cmd.configFile ?? undefined, set: cmd.set, out: cmd.outDir ?? undefined, cache: true }, true);
  if (cmd.verb === 'audit') {
    await inRun(l, runDir, () => runAudit(loaded, runDir, cacheDir, hooks(l)));
  } else {
    const resume = cmd.resume && cmd.resume !== runDir ? cmd.resume : undefined; // a checkpoint, or "this run folder"
    await inRun(l, runDir, () => runExperiment(loaded, runDir, cacheDir, hooks(l), [loaded.config.train.variant], { resume, continue: cmd.resume === runDir }));
  }
}

function handle(line: string): void {
  if (!line.trim()) return;
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    log(`alol trainer: ignored a line that is not JSON: ${line.slice(0, 200)}`);
    return;
  }
  const r = TrainerCommandSchema.safeParse(json);
  if (!r.success) {
    log(`alol trainer: ignored an invalid command (${r.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ')})`);
    return;
  }
  const cmd = r.data;
  if (cmd.type === 'run/start') {
    if (running) return log('alol trainer: a run is already in progress; stop it first');
    control = newControl();
    running = start(cmd)
      .catch((e: unknown) => {
        if (e instanceof StopRequested) log(`alol trainer: ${e.message}`);
        else log(`alol trainer: error: ${e instanceof Error ? e.message : String(e)}`);
        process.exitCode = e instanceof StopRequested ? 0 : 1;
      })
      .finally(() => {
        running = null;
        process.exit(); // one run per process: the extension starts a new one for the next
      });
  } else if (cmd.type === 'run/stop') {
    if (!running) process.exit(0);
    control.stopRequested = true;
    log('alol trainer: stopping after a checkpoint at the next step');
  } else {
    control.checkpointRequested = true;
  }
}

process.stdout.write(`${JSON.stringify({ type: 'ready', protocolVersion: PROTOCOL_VERSION, trainer: `alol-studio ${VERSION}`, pid: process.pid })}\n`);
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', handle);
rl.on('close', () => {
  if (running) control.stopRequested = true; // the extension went away: stop cleanly
  else process.exit(0);
});
