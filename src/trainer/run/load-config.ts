// Loading the run config: a JSON-with-comments file (or nothing: every field has a default), then
// `--set a.b=value` overrides, then validation by the shared zod schema. Errors name the file and the
// key path ("run.json: train.variant: Invalid option: expected one of ..."), all of them at once.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type ParseError, parse as parseJsonc, printParseErrorCode } from 'jsonc-parser';
import type { z } from 'zod';
import { type RunConfig, RunConfigSchema } from '../../protocol/config.js';
import { AlolError } from '../errors.js';

export interface LoadedConfig {
  config: RunConfig;
  /** The config file, or null when only defaults and --set were used. */
  file: string | null;
  /** Relative paths in the config are relative to this folder (the config file's, else the cwd). */
  baseDir: string;
}

/** A config that cannot be read or is invalid: run/didFail's code is 'config'. */
export class ConfigError extends AlolError {
  constructor(message: string, hint?: string) {
    super('config', message, hint);
  }
}

function describeIssues(where: string, issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => {
      const at = i.path.length ? i.path.join('.') : '(top level)';
      const unknown = (keys: string[]) => `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`;
      const interpreter = i.code === 'unrecognized_keys' && at === 'backend' && i.keys.includes('python');
      // a repository must not pick the program the trainer runs: the interpreter is the user's to name
      const why = ' (the interpreter is never named in a run config: pass `--python PATH` or set alolStudio.python)';
      const msg = i.code === 'unrecognized_keys' ? unknown(i.keys) + (interpreter ? why : '') : i.message;
      return `${where}: ${at}: ${msg}`;
    })
    .join('; ');
}

/** Parses a `--set` value: JSON when it parses (numbers, true, null, [..], {..}), else a string. */
function parseSetValue(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** Applies `a.b.c=value` to a plain object (creating objects on the way; numeric keys index arrays). */
export function applySet(target: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new ConfigError(`--set ${assignment}: expected key.path=value`);
  const keys = assignment.slice(0, eq).split('.');
  if (keys.some((k) => k === '')) throw new ConfigError(`--set ${assignment}: empty key in the path`);
  let node: Record<string, unknown> = target;
  for (const k of keys.slice(0, -1)) {
    const next = node[k];
    if (next === undefined || next === null) node[k] = {};
    else if (typeof next !== 'object') throw new ConfigError(`--set ${assignment}: ${k} is not an object`);
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = parseSetValue(assignment.slice(eq + 1));
}

export function parseConfigText(text: string, where: string): Record<string, unknown> {
  const errors: ParseError[] = [];
  const value: unknown = parseJsonc(text, errors, { allowTrailingComma: true });
  if (errors.length) {
    const e = errors[0];
    const line = text.slice(0, e.offset).split('\n').length;
    throw new ConfigError(`${where}:${line}: ${printParseErrorCode(e.error)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(
    `${where}: the config must be a JSON object`,
  );
  return value as Record<string, unknown>;
}

export function validateConfig(raw: Record<string, unknown>, where: string): RunConfig {
  const r = RunConfigSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(describeIssues(where, r.error.issues));
  return r.data;
}

export async function loadRunConfig(file: string | null, sets: readonly string[] = []): Promise<LoadedConfig> {
  let raw: Record<string, unknown> = {};
  if (file) {
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new ConfigError(`cannot read config ${file}: ${e.code ?? e.message}`);
    });
    raw = parseConfigText(text, file);
  }
  for (const s of sets) applySet(raw, s);
  const where = file ?? (sets.length ? '--set' : 'defaults');
  return { config: validateConfig(raw, where), file, baseDir: file ? path.dirname(path.resolve(file)) : process.cwd() };
}

/** A path from the config, resolved against the config's folder. */
export function resolveFromConfig(loaded: Pick<LoadedConfig, 'baseDir'>, p: string): string {
  return path.resolve(loaded.baseDir, p);
}
