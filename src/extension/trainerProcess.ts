// The trainer process manager: spawns the trainer (or any program that speaks the protocol), waits
// for its `ready` handshake with a protocol version this side reads, sends commands, and turns its stdout into
// validated events. A malformed line is reported and skipped, never trusted; stderr lines are kept (the
// last ones explain a crash). Stop asks the trainer to checkpoint and exit, then kills it after a
// timeout. No `vscode` import: the extension wires it to the UI, tests drive it with the real trainer.

import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, type TrainerCommand, type TrainerEvent, parseEventLine } from '../protocol/trainer.js';
import type { TrainerState } from '../protocol/webview.js';

export interface TrainerLaunch {
  /** Program and arguments, e.g. [node, out/src/trainer/main.js] or the user's trainer.command. */
  command: readonly string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
}

export interface TrainerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  state: TrainerState;
  /** The last error the trainer reported (run/didFail or an `error:` log line). */
  lastError: string | null;
  stderrTail: string[];
}

export interface TrainerProcessEvents {
  /** A validated event; the listener stamps it (live events take the host's clock, which the dashboard's timer runs on). */
  event: [TrainerEvent];
  malformed: [line: string, error: string];
  stderr: [line: string];
  state: [state: TrainerState];
  exit: [TrainerExit];
}

const STDERR_TAIL = 40;

export class TrainerProcess extends EventEmitter<TrainerProcessEvents> {
  private child: ChildProcess | null = null;
  private readyWaiters: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private _state: TrainerState = 'idle';
  private lastError: string | null = null;
  private stopped = false;
  private finished = false;
  readonly stderrTail: string[] = [];
  runDir: string | null = null;

  get state(): TrainerState {
    return this._state;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private setState(s: TrainerState): void {
    this._state = s;
    this.emit('state', s);
  }

  /** Spawns the trainer and resolves once it said `ready` with a protocol version this side reads. */
  async launch(l: TrainerLaunch, readyTimeoutMs = 30_000): Promise<void> {
    if (this.child) throw new Error('the trainer is already running');
    const [program, ...args] = l.command;
    if (!program) throw new Error('no trainer command to run');
    this.setState('starting');
    const child = spawn(program, args, { cwd: l.cwd, env: l.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    const ready = new Promise<void>((resolve, reject) => (this.readyWaiters = { resolve, reject }));
    const notReady = () => this.readyWaiters?.reject(new Error(`the trainer did not say ready within ${readyTimeoutMs / 1000} s`));
    const timer = setTimeout(notReady, readyTimeoutMs);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => this.onLine(line));
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_TAIL) this.stderrTail.shift();
      if (/\berror\b/i.test(line)) this.lastError = line;
      this.emit('stderr', line);
    });
    child.on('error', (e) => this.readyWaiters?.reject(new Error(`could not start the trainer (${program}): ${e.message}`)));
    child.on('exit', (code, signal) => this.onExit(code, signal));
    try {
      await ready;
    } finally {
      clearTimeout(timer);
      this.readyWaiters = null;
    }
    this.setState('running');
  }

  private onLine(line: string): void {
    if (!line.trim()) return;
    const r = parseEventLine(line);
    if (!r.ok) {
      this.emit('malformed', line, r.error);
      return;
    }
    const e = r.event;
    if (e.type === 'ready') {
      if (e.protocolVersion < MIN_PROTOCOL_VERSION || e.protocolVersion > PROTOCOL_VERSION) {
        const ours = `${MIN_PROTOCOL_VERSION} to ${PROTOCOL_VERSION}`;
        const hint = 'update the extension or the trainer command';
        const why = `the trainer speaks protocol version ${e.protocolVersion}, this extension ${ours}; hint: ${hint}`;
        this.readyWaiters?.reject(new Error(why));
      } else this.readyWaiters?.resolve();
    }
    if (e.type === 'run/didStart') this.runDir = e.runDir;
    if (e.type === 'run/didFail') this.lastError = `${e.message}${e.hint ? ` (hint: ${e.hint})` : ''}`;
    if (e.type === 'run/didFinish') {
      this.finished = true;
      this.stopped = Boolean(e.stopped);
    }
    this.emit('event', e);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.child = null;
    const tail = this.stderrTail.slice(-3).join(' | ');
    this.readyWaiters?.reject(new Error(`the trainer exited (code ${code}, signal ${signal}) before saying ready: ${tail}`));
    const clean = code === 0 && this.finished;
    const askedToStop = this._state === 'stopping' && code !== null;
    const state: TrainerState = this.stopped ? 'stopped' : clean ? 'finished' : askedToStop ? 'stopped' : 'crashed';
    this.setState(state);
    this.emit('exit', { code, signal, state, lastError: this.lastError, stderrTail: [...this.stderrTail] });
  }

  send(cmd: TrainerCommand): void {
    if (!this.child?.stdin?.writable) throw new Error('the trainer is not running');
    this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
  }

  /** Asks the trainer to checkpoint and exit; kills it if it has not exited after `timeoutMs`. */
  async stop(timeoutMs = 30_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.setState('stopping');
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      this.send({ type: 'run/stop', checkpoint: true });
    } catch {
      // stdin already closed: fall through to the kill
    }
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    const hard = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5_000);
    await exited;
    clearTimeout(timer);
    clearTimeout(hard);
  }

  /** Kills the trainer at once (used on dispose; a run killed this way is reported as crashed). */
  kill(): void {
    this.child?.kill('SIGKILL');
  }
}
