// `alol doctor`: what this machine can run. The built-in engine: Node, onnxruntime-node and its providers. With
// `--backend torch`: the Python interpreter (--python, else python3 on PATH), torch, CUDA and its devices,
// torch.distributed, transformers, peft, accelerate and bitsandbytes — each with its version or what is missing
// and how to install it — then a start of the PyTorch worker itself. Exit code 1 when a required part is missing.

import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { TorchBackend } from '../compute/torch/backend.js';
import { packageDir, pythonOf } from '../compute/torch/worker-process.js';
import { listBackends, runtimeVersion } from '../runtime/session.js';
import { oneOf } from './options.js';

const run = promisify(execFile);

interface TorchReport {
  python: string;
  executable: string;
  torch: string | null;
  torchError?: string;
  cudaBuild?: string | null;
  cuda?: boolean;
  devices?: string[];
  distributed?: boolean;
  gloo?: boolean;
  nccl?: boolean;
  [pkg: string]: unknown;
}

/** What each optional package gives, and how to get it. */
const OPTIONAL: readonly [string, string][] = [
  ['transformers', 'any Hugging Face causal LM (AutoModelForCausalLM); without it the worker runs GPT-2 and Llama-family folders itself'],
  ['peft', 'LoRA through PEFT (without it, the worker\'s own LoRA layer)'],
  ['accelerate', 'backend.launcher "accelerate"'],
  ['bitsandbytes', '4-bit QLoRA on NVIDIA GPUs (not used by the worker yet)'],
];

const INSTALL =
  'python3 -m pip install torch transformers peft accelerate   (in a venv; pick the CUDA wheel from pytorch.org on a GPU box)';

async function torchReport(python: string): Promise<TorchReport> {
  const env = { ...process.env, PYTHONPATH: [packageDir(), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) };
  try {
    const { stdout } = await run(python, ['-m', 'alol_torch.doctor'], { env, timeout: 120_000 });
    return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as TorchReport;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    const why = err.code === 'ENOENT' ? 'not found' : (err.stderr?.trim().split('\n').pop() ?? err.message);
    throw new Error(`the Python interpreter "${python}" cannot be run (${why}); name one with --python PATH`);
  }
}

async function doctor(flags: { backend?: 'builtin' | 'torch'; python?: string }): Promise<void> {
  console.log(`node ${process.versions.node}`);
  console.log(`onnxruntime-node ${runtimeVersion()} (the built-in engine)`);
  for (const b of listBackends()) console.log(`  provider ${b.name.padEnd(9)} ${b.bundled ? 'bundled' : 'installed separately'}`);
  if (flags.backend !== 'torch') return;

  const python = pythonOf(flags.python);
  console.log(`\ntorch backend: interpreter ${python}`);
  const r = await torchReport(python);
  console.log(`  python        ${r.python} (${r.executable})`);
  const missing: string[] = [];
  if (!r.torch) {
    console.log(`  torch         MISSING (required)${r.torchError ? `: ${r.torchError}` : ''}`);
    missing.push('torch');
  } else {
    console.log(`  torch         ${r.torch}${r.cudaBuild ? ` (CUDA ${r.cudaBuild} build)` : ' (CPU build)'}`);
    const devices = r.devices ?? [];
    const cuda = r.cuda ? `${devices.length} device(s): ${devices.join(', ')}` : 'not available: the worker runs on the CPU';
    console.log(`  cuda          ${cuda}`);
    const backends = [r.gloo ? 'gloo' : null, r.nccl ? 'nccl' : null].filter(Boolean).join(', ') || 'none';
    console.log(`  distributed   ${r.distributed ? `available (${backends})` : 'NOT available: launcher torchrun/accelerate will fail'}`);
  }
  for (const [name, what] of OPTIONAL) {
    const v = r[name] as string | null;
    const broken = r[`${name}Error`] as string | undefined;
    console.log(`  ${name.padEnd(13)} ${v ?? (broken ? `broken: ${broken}` : 'missing')} — ${what}`);
  }
  if (missing.length) {
    process.exitCode = 1;
    console.log(`\nmissing: ${missing.join(', ')}. Install: ${INSTALL}`);
    return;
  }
  // the worker itself: starts, says hello, stops
  const backend = new TorchBackend({
    python,
    backend: { kind: 'torch', launcher: 'none', processes: 1, fsdp: false, precision: 'float32', quantization: 'none' },
    device: 'auto',
    threads: 1,
    workDir: null,
    log: () => undefined,
  });
  try {
    const info = await backend.start();
    console.log(`  worker        ok: protocol ${info.protocol}, device ${info.device}`);
  } catch (e) {
    process.exitCode = 1;
    console.log(`  worker        FAILED: ${(e as Error).message}`);
  } finally {
    await backend.release();
  }
  const absent = OPTIONAL.filter(([n]) => !r[n]).map(([n]) => n);
  if (absent.length) console.log(`\noptional, not installed: ${absent.join(', ')}. Install: ${INSTALL}`);
}

export function registerDoctorVerb(program: Command): void {
  program
    .command('doctor')
    .description('check what this machine can run: the built-in engine, and with --backend torch the PyTorch worker and its packages')
    .option('--backend <kind>', 'builtin (default) or torch', oneOf(['builtin', 'torch'] as const))
    .option('--python <path>', "the torch backend's Python interpreter (default: python3 on PATH)")
    .action(doctor);
}
