// The PyTorch worker as a child process: its command line (one process, or several under torchrun / accelerate
// launch), the JSON-lines protocol (alol_torch/worker.py: commands on its stdin, replies on its stdout, logs on its
// stderr), and a clear error when it cannot start or dies. Requests are answered in order; each carries an id.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { RunConfig } from '../../../protocol/config.js';
import { AlolError } from '../../errors.js';

/** The worker protocol version this client speaks (alol_torch/__init__.py PROTOCOL_VERSION). */
export const WORKER_PROTOCOL = 1;

/** The Python package's folder (pyproject.toml, alol_torch/): beside this file once built (scripts/copy-python.mjs). */
export function packageDir(): string {
  const here = __dirname; // out/src/trainer/compute/torch
  for (const dir of [here, path.resolve(here, '../../../../../src/trainer/compute/torch')]) {
    if (existsSync(path.join(dir, 'alol_torch', 'worker.py'))) return dir;
  }
  throw new AlolError('torch', `the PyTorch worker's package is missing from ${here}`, 'rebuild with `npm run build`');
}

/** The interpreter: the CLI's --python, the alolStudio.python setting, else `python3` on PATH. */
export const pythonOf = (python: string | null | undefined): string => python || process.env.ALOL_PYTHON || 'python3';

export interface WorkerLaunch {
  python: string;
  backend: RunConfig['backend'];
  /** Where the worker computes: the run config's device (webgpu is the built-in engine's alone). */
  device: 'auto' | 'cpu' | 'cuda';
  threads: number;
  /** `builtin` forces the worker's small GPT-2 / Llama modules even where transformers is installed. */
  engine?: 'auto' | 'transformers' | 'builtin';
  /** The launcher's rendezvous port on this machine (a free one, picked by start()). */
  port?: number;
}

/** A TCP port free on 127.0.0.1 now (the launcher binds it a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The program and arguments that start the worker (rank 0 and, under a launcher, the other ranks). */
export function workerCommand(l: WorkerLaunch): { command: string; args: string[] } {
  const worker = ['-m', 'alol_torch.worker', '--device', l.device, '--precision', l.backend.precision,
    '--quantization', l.backend.quantization, '--engine', l.engine ?? 'auto', '--threads', String(l.threads)];
  const n = String(l.backend.processes);
  switch (l.backend.launcher) {
    case 'none':
      return { command: l.python, args: worker };
    case 'torchrun':
      // torchrun as a module of the chosen interpreter (alol_torch.launch: torch.distributed.run with a fix for
      // torch < 2.0 on Python 3.11); one machine, rendezvous on a free port (torch 1.13's --standalone always takes
      // 29400, so two runs at once would collide)
      return {
        command: l.python,
        args: ['-m', 'alol_torch.launch', '--nnodes', '1', '--nproc_per_node', n, '--rdzv_backend', 'c10d',
          '--rdzv_endpoint', `127.0.0.1:${l.port ?? 29400}`, '--rdzv_id', `alol-${process.pid}-${l.port ?? 0}`, ...worker],
      };
    case 'accelerate': {
      const where = l.device === 'cpu' ? ['--cpu'] : l.backend.processes > 1 ? ['--multi_gpu'] : [];
      const port = l.port ? ['--main_process_port', String(l.port)] : [];
      return { command: l.python, args: ['-m', 'accelerate.commands.launch', '--num_processes', n, ...where, ...port, ...worker] };
    }
  }
}

export interface WorkerInfo {
  protocol: number;
  versions: Record<string, string | null>;
  device: string;
  world: number;
  /** Rank 0's process id. */
  pid: number;
}

type Reply = Record<string, unknown>;

interface Pending {
  cmd: string;
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
}

const STDERR_TAIL = 40;

export class WorkerProcess {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly stderrTail: string[] = [];
  private exited: AlolError | null = null;
  private closing = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly what: string,
  ) {}

  /**
   * Starts the worker and waits for its `ready` line. `log` receives the worker's stderr lines (transformers'
   * warnings, tracebacks); the last ones are also part of the error when the worker fails.
   */
  static async start(l: WorkerLaunch, log: (line: string) => void): Promise<{ worker: WorkerProcess; info: WorkerInfo }> {
    const { command, args } = workerCommand({ ...l, port: l.backend.launcher === 'none' ? undefined : await freePort() });
    const pkg = packageDir();
    const env = {
      ...process.env,
      PYTHONPATH: [pkg, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1',
      // one machine: gloo (CPU) talks over loopback unless the user chose an interface
      GLOO_SOCKET_IFNAME: process.env.GLOO_SOCKET_IFNAME ?? (l.device === 'cpu' ? 'lo' : undefined),
      OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? '1',
    };
    if (env.GLOO_SOCKET_IFNAME === undefined) delete env.GLOO_SOCKET_IFNAME;
    const what = `${command} ${args.join(' ')}`;
    let child: ChildProcess;
    try {
      child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      throw noInterpreter(l.python, (e as Error).message);
    }
    const w = new WorkerProcess(child, what);
    child.stdin?.on('error', () => undefined); // a dead worker's pipe (EPIPE): its exit event reports it
    const ready = new Promise<WorkerInfo>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      let first = true;
      lines.on('line', (line) => {
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          log(`torch worker: ignored a stdout line that is not JSON: ${line.slice(0, 200)}`);
          return;
        }
        if (first) {
          first = false;
          if (msg.ready === true) resolve(msg as unknown as WorkerInfo);
          else reject(w.failure(`it could not start: ${errorText(msg.error)}`));
          return;
        }
        w.onReply(msg);
      });
      child.once('exit', (code, signal) => {
        const why = signal ? `was killed (${signal})` : `exited with code ${String(code)}`;
        w.exited = w.failure(`${why}${w.closing ? ' while closing' : ''}`);
        if (first) reject(w.exited);
        for (const p of w.pending.values()) p.reject(new AlolError('torch', `${p.cmd}: ${w.exited.message}`, w.exited.hint));
        w.pending.clear();
      });
      child.once('error', (e) => {
        // the interpreter could not be started (ENOENT, EACCES): no exit event follows
        w.exited = noInterpreter(l.python, (e as NodeJS.ErrnoException).code ?? e.message);
        reject(w.exited);
      });
    });
    const errLines = createInterface({ input: child.stderr as NodeJS.ReadableStream });
    errLines.on('line', (line) => {
      w.stderrTail.push(line);
      if (w.stderrTail.length > STDERR_TAIL) w.stderrTail.shift();
      log(line);
    });
    const info = await ready;
    if (info.protocol !== WORKER_PROTOCOL) {
      await w.close();
      throw new AlolError('torch', `the PyTorch worker speaks protocol ${info.protocol}; this trainer speaks ${WORKER_PROTOCOL}`,
        'rebuild: the worker package and the trainer come from different versions');
    }
    return { worker: w, info };
  }

  private failure(what: string): AlolError {
    const tail = this.stderrTail.slice(-12).join('\n');
    const missingTorch = /No module named '?torch'?/.test(tail);
    const hint = missingTorch
      ? 'this interpreter has no torch: install it (see `alol doctor --backend torch`) or choose another with --python / alolStudio.python'
      : 'run `alol doctor --backend torch` to check the interpreter and its packages';
    return new AlolError('torch', `the PyTorch worker (${this.what}) ${what}${tail ? `\n${tail}` : ''}`, hint);
  }

  private onReply(msg: Record<string, unknown>): void {
    const id = typeof msg.id === 'number' ? msg.id : null;
    const p = id === null ? undefined : this.pending.get(id);
    if (!p || id === null) {
      // a reply to no request: the worker could not read a line we sent (a bug on one side)
      if (msg.ok === false) process.stderr.write(`alol: torch worker: ${errorText(msg.error)}\n`);
      return;
    }
    this.pending.delete(id);
    if (msg.ok === true) p.resolve(msg);
    else p.reject(new AlolError('torch', `torch worker: ${p.cmd}: ${errorText(msg.error)}`));
  }

  /** Sends a command and waits for its reply (rejected with the worker's error message). */
  request(cmd: string, args: Record<string, unknown> = {}): Promise<Reply> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { cmd, resolve, reject });
      this.child.stdin?.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    });
  }

  /** Asks the worker to shut down (every rank) and waits for it to exit. */
  async close(): Promise<void> {
    if (this.exited) return;
    this.closing = true;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    await this.request('shutdown').catch(() => undefined);
    this.child.stdin?.end();
    await gone;
  }
}

function errorText(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}

function noInterpreter(python: string, why: string): AlolError {
  return new AlolError('torch', `the Python interpreter "${python}" cannot be run (${why})`,
    'name one with `alol --python PATH` or the alolStudio.python setting; `alol doctor --backend torch` checks it');
}
