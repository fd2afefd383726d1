// The trainer as the extension's subprocess: commands arrive as JSON lines on stdin, events leave as
// JSON lines on stdout (and in the run folder's events.jsonl), human-readable logs go to stderr.
// Every command is validated; a bad line is reported on stderr and ignored, never trusted.
//
//   node out/src/trainer/main.js      (the extension spawns it; try: echo '{"type":"run/start","verb":"demo"}' | node ...)

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { PROTOCOL_VERSION, type TrainerCommand, TrainerCommandSchema } from '../protocol/trainer.js';
import { runAudit } from './pipeline/audit.js';
import { runExperiment } from './pipeline/experiment.js';
import { configVariants } from './pipeline/validate.js';
import { openDemoContext, runDemo } from './demo/demo.js';
import { type RunControl, StopRequested, newControl } from './run/control.js';
import { inRun, openRunFromFlags } from './run/context.js';
import { runName } from './run/events.js';

const VERSION = String((JSON.parse(readFileSync(path.join(__dirname, '../../../package.json'), 'utf8')) as { version?: unknown }).version);
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const quiet = () => ({ update: () => undefined, stop: () => undefined });

let running: Promise<void> | null = null;
let control: RunControl = newControl();

async function start(cmd: Extract<TrainerCommand, { type: 'run/start' }>): Promise<void> {
  const io = { say: log, progress: quiet, control, toStdout: true };
  if (cmd.verb === 'demo') {
    const d = cmd.demo ?? { quick: true, seed: 1, noise: 0.5 };
    const runDir = path.resolve(cmd.outDir ?? path.join('runs', runName(d.quick ? 'demo-quick' : 'demo')));
    const continuing = cmd.outDir !== null && cmd.resume !== null;
    const setting = (k: string) => cmd.set.find((x) => x.startsWith(`${k}=`))?.slice(k.length + 1);
    const requested = (setting('device') ?? 'auto') as 'auto' | 'cpu' | 'cuda' | 'webgpu';
    const threads = Number(setting('threads') ?? 2) || 2;
    const opts = { out: runDir, seed: d.seed, quick: d.quick, noise: d.noise, continue: continuing, device: requested, threads };
    const ctx = await openDemoContext(opts, io);
    await inRun(ctx, () => runDemo(ctx, opts));
    return;
  }
  const flags = { config: cmd.configFile ?? undefined, set: cmd.set, out: cmd.outDir ?? undefined, cache: true, python: cmd.python };
  const ctx = await openRunFromFlags(cmd.verb, flags, io);
  if (cmd.verb === 'audit') {
    await inRun(ctx, () => runAudit(ctx));
  } else {
    const resume = cmd.resume && cmd.resume !== ctx.runDir ? cmd.resume : undefined; // a checkpoint, or "this run folder"
    await inRun(ctx, () => runExperiment(ctx, configVariants(ctx.config), { resume, continue: cmd.resume === ctx.runDir }));
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
    const issues = r.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ');
    log(`alol trainer: ignored an invalid command (${issues})`);
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
    control.checkpointRequests++;
  }
}

process.stdout.write(
  `${JSON.stringify({ type: 'ready', protocolVersion: PROTOCOL_VERSION, trainer: `alol-studio ${VERSION}`, pid: process.pid })}\n`,
);
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', handle);
rl.on('close', () => {
  if (running) control.stopRequested = true; // the extension went away: stop cleanly
  else process.exit(0);
});
