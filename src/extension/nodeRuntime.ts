// Which program runs the trainer: the `alolStudio.trainer.command` setting (any program speaking the
// protocol), else a Node.js >= 20 (the `alolStudio.nodePath` setting, or `node` on PATH), else the
// editor's own runtime with ELECTRON_RUN_AS_NODE=1 (with a warning: the trainer's native runtime may
// not load there). No `vscode` import.

import { spawnSync } from 'node:child_process';
import path from 'node:path';

export interface ResolvedRuntime {
  command: string[];
  env: NodeJS.ProcessEnv;
  /** Set when a fallback was used: one line for the user. */
  warning?: string;
  description: string;
}

export function nodeMajor(executable: string): number | null {
  const r = spawnSync(executable, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const m = /^v(\d+)\./.exec(r.stdout ?? '');
  return r.status === 0 && m ? Number(m[1]) : null;
}

/** The trainer entry point inside the installed extension. */
export const trainerEntry = (extensionPath: string): string => path.join(extensionPath, 'out', 'src', 'trainer', 'main.js');

export function resolveRuntime(o: { extensionPath: string; nodePath: string; trainerCommand: readonly string[]; editorExecutable: string }): ResolvedRuntime {
  if (o.trainerCommand.length > 0) return { command: [...o.trainerCommand], env: { ...process.env }, description: `custom trainer: ${o.trainerCommand.join(' ')}` };
  const entry = trainerEntry(o.extensionPath);
  for (const candidate of [o.nodePath, 'node'].filter(Boolean)) {
    const major = nodeMajor(candidate);
    if (major !== null && major >= 20) return { command: [candidate, entry], env: { ...process.env }, description: `${candidate} (Node ${major})` };
  }
  return {
    command: [o.editorExecutable, entry],
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    description: "the editor's runtime",
    warning: `no Node.js 20+ found${o.nodePath ? ` at ${o.nodePath} or` : ''} on PATH; running the trainer with the editor's own runtime (ELECTRON_RUN_AS_NODE). hint: install Node 20+ or set alolStudio.nodePath`,
  };
}
