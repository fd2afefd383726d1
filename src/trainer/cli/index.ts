// The `alol` command line: the trainer's headless face (the extension drives the same code through a
// subprocess). Run `alol --help`. Every failure prints one line with what went wrong and a hint,
// never a stack trace (set ALOL_DEBUG=1 to see one). The one entry of the CLI: bin/alol.js calls
// main(); run directly (`node out/src/trainer/cli/index.js <verb> ...`) it runs the CLI in this process,
// as the extension's reward debugging and the debugger do. The verbs live beside it in cli/.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { registerExportVerbs } from './export-verbs.js';
import { registerModelVerbs } from './model-verbs.js';
import { registerScoreVerb } from './score-verb.js';
import { registerAuditVerb } from './audit-verb.js';
import { registerTrainVerbs } from './train-verbs.js';
import { registerDemoVerb } from './demo-verb.js';
import { registerRewardVerbs } from './reward-verbs.js';
import { registerDataVerbs } from './data-verbs.js';
import { registerDoctorVerb } from './doctor-verb.js';
import { DEVICE_REQUESTS, type DeviceRequest, resolveDevice } from '../runtime/device.js';
import { listBackends, runtimeVersion } from '../runtime/session.js';

// out/src/trainer/cli/index.js -> the package root.
const VERSION = String(
  (JSON.parse(readFileSync(path.join(__dirname, '../../../../package.json'), 'utf8')) as { version?: unknown }).version,
);

function parseDevice(value: string): DeviceRequest {
  if (!(DEVICE_REQUESTS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`use one of: ${DEVICE_REQUESTS.join(', ')}`);
  }
  return value as DeviceRequest;
}

async function devices(flags: { device?: DeviceRequest }): Promise<void> {
  console.log(`onnxruntime-node ${runtimeVersion()}`);
  for (const b of listBackends()) console.log(`  provider ${b.name.padEnd(9)} ${b.bundled ? 'bundled' : 'installed separately'}`);
  const requests = flags.device ? [flags.device] : DEVICE_REQUESTS;
  for (const r of requests) {
    const d = await resolveDevice(r);
    console.log(`--device ${r.padEnd(7)} -> ${d.provider}${d.fallback || d.reason ? `  (${d.fallback ?? d.reason})` : ''}`);
  }
}

export function buildProgram(): Command {
  const program = new Command('alol')
    .description('A-LoL Studio trainer: offline policy-gradient training of language models on ONNX Runtime')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program
    .command('devices')
    .description('list the execution providers of this onnxruntime-node and what each --device resolves to')
    .option('--device <name>', `only this request (${DEVICE_REQUESTS.join('|')})`, parseDevice)
    .action(devices);
  registerModelVerbs(program);
  registerExportVerbs(program);
  registerScoreVerb(program);
  registerAuditVerb(program);
  registerTrainVerbs(program);
  registerDemoVerb(program);
  registerRewardVerbs(program);
  registerDataVerbs(program);
  registerDoctorVerb(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  // `alol ... | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  try {
    await buildProgram().parseAsync(argv as string[]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander already printed its message
    const message = err instanceof Error ? err.message : String(err);
    console.error(`alol: error: ${message}`);
    if (process.env.ALOL_DEBUG && err instanceof Error) console.error(err.stack);
    return 1;
  }
}

if (require.main === module) void main(process.argv).then((code) => process.exit(code));
