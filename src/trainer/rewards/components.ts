// The reward components, one kind each (builtin, module, field, onnx): what a component reads of a row,
// what identifies its values for the cache, and how it scores a batch (module and onnx components
// name the row a failure came from). The registry (registry.ts) combines them into the weighted total.

import path from 'node:path';
import type { RewardComponentConfig } from '../../protocol/config.js';
import type { Row } from '../data/rows.js';
import { AlolError } from '../errors.js';
import { sha } from '../util/hash.js';
import { type BuiltinScorer, createBuiltin } from './builtins.js';
import type { ModuleInput, ModuleReward } from './module-reward.js';
import type { OnnxReward } from './onnx-reward.js';

/** A reward component failed or gave a bad value (run/didFail's code `reward`); the message names it and the row. */
export class RewardError extends AlolError {
  constructor(message: string, hint?: string) {
    super('reward', message, hint);
  }
}

export function describeRow(r: Row): string {
  return `${path.relative(process.cwd(), r.file) || r.file}:${r.line} (id ${r.id})`;
}

export interface Component {
  readonly config: RewardComponentConfig;
  readonly range: readonly [number, number];
  /** Identifies what the component computes, for the cache; null = not cached (fields are free). */
  fingerprint(): string | null;
  /** What of a row the component reads (its cache key besides the row id). */
  reads(r: Row): unknown[];
  fit?(train: readonly Row[]): void;
  score(rows: readonly Row[]): Promise<unknown[]>;
  /** score() with the time the scorer itself took, where the component can tell it apart (modules: inside the worker). */
  timedScore?(rows: readonly Row[]): Promise<{ values: unknown[]; elapsedMs: number }>;
  dispose?(): Promise<void>;
}

/** A component's values and the time it took: its own measure where it has one, else the wall time of the call. */
export async function timedScore(p: Component, rows: readonly Row[]): Promise<{ values: unknown[]; elapsedMs: number }> {
  if (p.timedScore) return p.timedScore(rows);
  const t0 = performance.now();
  const values = await p.score(rows);
  return { values, elapsedMs: performance.now() - t0 };
}

export const label = (c: RewardComponentConfig): string => `reward ${c.name} (${c.kind}${c.kind === 'builtin' ? ` ${c.scorer}` : ''})`;

export function fieldValue(r: Row, field: string): unknown {
  if (field === 'reward') return r.reward;
  if (field === 'label' && r.label !== undefined) return r.label; // a pair's 1 (chosen) / 0 (rejected); a plain row's own field otherwise
  if (field.startsWith('rewards.')) return r.rewards?.[field.slice('rewards.'.length)];
  let v: unknown = r.raw;
  for (const k of field.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

export function builtinComponent(config: Extract<RewardComponentConfig, { kind: 'builtin' }>): Component {
  const scorer: BuiltinScorer = createBuiltin(config.scorer, config.options);
  let corpus = '';
  return {
    config,
    range: scorer.range,
    fingerprint: () => sha(['builtin', config.scorer, config.options, corpus]),
    reads: (r) => [r.response],
    fit: scorer.needsFit
      ? (train) => {
          scorer.fit?.(train.map((r) => r.response));
          corpus = sha(train.map((r) => r.id));
        }
      : undefined,
    score: async (rows) => scorer.score(rows.map((r) => ({ prompt: r.prompt, response: r.response }))),
  };
}

export function moduleComponent(config: Extract<RewardComponentConfig, { kind: 'module' }>, m: ModuleReward): Component {
  const call = async (rows: readonly Row[]): Promise<{ values: unknown[]; elapsedMs: number }> => {
    const batch: ModuleInput[] = rows.map((r) => ({
      prompt: r.prompt,
      response: r.response,
      row: { id: r.id, file: r.file, line: r.line, split: r.split, ...r.raw },
    }));
    const out = await m.call(batch);
    if (out.ok) {
      if (!Array.isArray(out.values)) {
        const values = JSON.stringify(out.values);
        throw new RewardError(`${label(config)}: returned ${values} instead of an array of numbers (rows ${describeRow(rows[0])} ..)`);
      }
      return { values: out.values, elapsedMs: out.elapsedMs };
    }
    return Promise.reject(out);
  };
  /** What a call rejected with: a ModuleOutcome that is not ok (or, unexpectedly, anything else). */
  type Failed = { kind?: string; message?: string; hint?: string; ms?: number };
  const timed = async (rows: readonly Row[]): Promise<{ values: unknown[]; elapsedMs: number }> => {
    try {
      return await call(rows);
    } catch (failure) {
      if (failure instanceof RewardError) throw failure;
      // Find the row: run the batch one row at a time (stops at the first failing row).
      for (const r of rows) {
        try {
          await call([r]);
        } catch (f) {
          const one = f as Failed;
          if (one.kind === 'timeout') {
            throw new RewardError(`${label(config)}: exceeded its time limit of ${one.ms} ms on row ${describeRow(r)}`);
          }
          throw new RewardError(`${label(config)}: threw on row ${describeRow(r)}: ${one.message ?? String(f)}`, one.hint);
        }
      }
      const all = failure as Failed;
      const batch = `a batch of ${rows.length} rows (${describeRow(rows[0])} ..)`;
      if (all.kind === 'timeout') {
        throw new RewardError(
          `${label(config)}: ${batch} exceeded ${all.ms} ms although each row alone finishes`,
          'raise timeoutMs or make the module faster',
        );
      }
      throw new RewardError(`${label(config)}: failed on ${batch} but on no row alone: ${all.message}`, all.hint);
    }
  };
  return {
    config,
    range: config.range,
    fingerprint: () => sha(['module', m.fingerprint]),
    reads: (r) => [r.prompt, r.response, r.raw],
    score: async (rows) => (await timed(rows)).values,
    timedScore: timed,
    dispose: () => m.dispose(),
  };
}

export function onnxComponent(config: Extract<RewardComponentConfig, { kind: 'onnx' }>, m: OnnxReward): Component {
  return {
    config,
    range: [0, 1],
    fingerprint: () => sha(['onnx', m.fingerprint, config.input]),
    reads: (r) => (config.input === 'response' ? [r.response] : [r.prompt, r.response]),
    score: async (rows) => {
      const out: number[] = [];
      for (let i = 0; i < rows.length; i += config.batchSize) {
        const chunk = rows.slice(i, i + config.batchSize);
        out.push(...(await m.score(chunk.map((r) => (config.input === 'response' ? r.response : r.prompt + r.response)))));
      }
      return out;
    },
    dispose: () => m.dispose(),
  };
}

export function fieldComponent(config: Extract<RewardComponentConfig, { kind: 'field' }>): Component {
  return {
    config,
    range: config.range,
    fingerprint: () => null,
    reads: () => [],
    score: async (rows) =>
      rows.map((r) => {
        const v = fieldValue(r, config.field) ?? config.default ?? undefined;
        if (v === undefined) {
          throw new RewardError(
            `${label(config)}: row ${describeRow(r)} has no field '${config.field}'`,
            'give the component a "default" for rows without it',
          );
        }
        return typeof v === 'boolean' ? Number(v) : v;
      }),
  };
}
