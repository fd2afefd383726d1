// Which program runs the trainer: the `alolStudio.trainer.command` setting (any program speaking the
// protocol), else a Node.js >= 20 (the `alolStudio.nodePath` setting, or `node` on PATH), else the
// editor's own runtime with ELECTRON_RUN_AS_NODE=1 (with a warning: the trainer's native runtime may
// not load there). No `vscode` import.

import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';

export interface ResolvedRuntime {
  command: string[];
  env: NodeJS.ProcessEnv;
  /** Set when a fallback was used: one line for the user. */
  warning?: string;
  description: string;
}

/** Found versions, by executable: probing spawns a process (synchronously), once per executable. */
const majors = new Map<string, number>();

export function nodeMajor(executable: string): number | null {
  const known = majors.get(executable);
  if (known !== undefined) return known;
  const r = spawnSync(executable, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const m = /^v(\d+)\./.exec(r.stdout ?? '');
  if (r.status !== 0 || !m) return null; // not remembered: installing Node later is seen
  majors.set(executable, Number(m[1]));
  return Number(m[1]);
}

/** The trainer entry point inside the installed extension. */
export const trainerEntry = (extensionPath: string): string => path.join(extensionPath, 'out', 'src', 'trainer', 'main.js');

/** The `alol` CLI's entry point inside the installed extension (the reward commands run its verbs). */
export const cliEntry = (extensionPath: string): string => path.join(extensionPath, 'out', 'src', 'trainer', 'cli', 'index.js');

/**
 * Runs an `alol` verb with the runtime's Node in a fresh process; resolves with its stdout (also on exit
 * code 1 with output: a report of problems), rejects with the last line of its stderr.
 */
export function runCliVerb(runtime: ResolvedRuntime, extensionPath: string, args: string[], cwd: string, stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(runtime.command[0], [cliEntry(extensionPath), ...args], { cwd, env: runtime.env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(e));
    child.on('close', (code) => {
      if (code === 0 || (code === 1 && out.trim())) resolve(out);
      else reject(new Error(err.trim().split('\n').pop() || `exit ${code}`));
    });
    child.stdin.end(stdin ?? '');
  });
}

export function resolveRuntime(o: {
  extensionPath: string;
  nodePath: string;
  trainerCommand: readonly string[];
  editorExecutable: string;
}): ResolvedRuntime {
  if (o.trainerCommand.length > 0) {
    return { command: [...o.trainerCommand], env: { ...process.env }, description: `custom trainer: ${o.trainerCommand.join(' ')}` };
  }
  const entry = trainerEntry(o.extensionPath);
  for (const candidate of [o.nodePath, 'node'].filter(Boolean)) {
    const major = nodeMajor(candidate);
    if (major !== null && major >= 20) {
      return { command: [candidate, entry], env: { ...process.env }, description: `${candidate} (Node ${major})` };
    }
  }
  return {
    command: [o.editorExecutable, entry],
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    description: "the editor's runtime",
    warning:
      `no Node.js 20+ found${o.nodePath ? ` at ${o.nodePath} or` : ''} on PATH; running the trainer with the editor's own runtime ` +
      '(ELECTRON_RUN_AS_NODE). hint: install Node 20+ or set alolStudio.nodePath',
  };
}
