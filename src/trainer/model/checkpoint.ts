// Training checkpoints: a complete model folder (loadable by anything that reads Hugging Face folders) plus
// our training state beside it — `training_state.json` (format version, step, RNG state, the resolved
// config) and `optimizer.safetensors` (AdamW moments) — written together, atomically. A LoRA run's
// checkpoint is the adapter folder (model/adapter.ts) with the same two files beside it.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelConfig } from './config.js';
import { type ModelFolder, loadModelFolder, saveModelFolder } from './folder.js';
import type { TokenizerFiles } from './hf-files.js';
import { float32Tensor, readSafetensors, toFloat32, writeSafetensors } from './safetensors.js';
import { AlolError } from '../errors.js';
import { type AdapterFolder, loadAdapterFolder, saveAdapterFolder } from './adapter.js';
import type { LoraSpec } from './lora.js';

export const TRAINING_STATE_FILE = 'training_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const CHECKPOINT_FORMAT = 'alol-training-state';
export const CHECKPOINT_VERSION = 1;

export interface TrainingState {
  step: number;
  /** The batch RNG's state (the data position follows from it). */
  rngState: number;
  /** What was trained, resolved (CLI flags or the run config); saved for the record and for resume. */
  config: Record<string, unknown>;
  /** Further state of the trainer that wrote it (e.g. the A-LoL sampler), restored on resume. */
  extra?: Record<string, unknown>;
}

export interface Checkpoint {
  model: ModelFolder;
  state: TrainingState;
  optimizer: Map<string, Float32Array>;
}

export async function saveCheckpoint(
  dir: string,
  m: {
    config: ModelConfig;
    params: ReadonlyMap<string, Float32Array>;
    tokenizerJson: unknown;
    /** config.json keys of the model's source folder (token ids, ...), kept. */
    extraConfig?: Record<string, unknown>;
    tokenizerFiles?: TokenizerFiles;
    optimizer: ReadonlyMap<string, Float32Array>;
    state: TrainingState;
  },
): Promise<void> {
  const { tokenizerJson, tokenizerFiles, extraConfig } = m;
  const model = { config: m.config, params: new Map(m.params), tokenizerJson, tokenizerFiles, extraConfig };
  await saveModelFolder(dir, model, stateFiles(m.state, m.optimizer));
}

/** A LoRA run's checkpoint: the adapter folder (PEFT layout, model/adapter.ts) and the training state beside it. */
export interface AdapterCheckpoint {
  adapter: AdapterFolder;
  state: TrainingState;
  optimizer: Map<string, Float32Array>;
}

function stateFiles(state: TrainingState, optimizer: ReadonlyMap<string, Float32Array>): Record<string, string | Uint8Array> {
  const tensors = [...optimizer].map(([name, data]) => float32Tensor(name, [data.length], data));
  const full = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, savedAt: new Date().toISOString(), ...state };
  return { [TRAINING_STATE_FILE]: `${JSON.stringify(full, null, 2)}\n`, [OPTIMIZER_FILE]: writeSafetensors(tensors) };
}

/** Writes a LoRA checkpoint: the adapter folder plus training state and the adapters' AdamW moments, atomically. */
export async function saveAdapterCheckpoint(
  dir: string,
  a: {
    config: ModelConfig;
    spec: LoraSpec;
    params: ReadonlyMap<string, Float32Array>;
    basePath: string | null;
    optimizer: ReadonlyMap<string, Float32Array>;
    state: TrainingState;
  },
): Promise<void> {
  await saveAdapterFolder(dir, a, stateFiles(a.state, a.optimizer));
}

/** Reads a LoRA checkpoint onto its base (checked as loadAdapterFolder does). */
export async function loadAdapterCheckpoint(dir: string, base: ModelConfig): Promise<AdapterCheckpoint> {
  const adapter = await loadAdapterFolder(dir, base);
  return { adapter, ...(await readTrainingState(dir)) };
}

export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  const model = await loadModelFolder(dir);
  return { model, ...(await readTrainingState(dir)) };
}

async function readTrainingState(dir: string): Promise<{ state: TrainingState; optimizer: Map<string, Float32Array> }> {
  const stateFile = path.join(dir, TRAINING_STATE_FILE);
  const raw = await readFile(stateFile, 'utf8').catch(() => {
    const what = `${stateFile} is missing: ${dir} is a model folder but not a training checkpoint`;
    throw new AlolError('checkpoint', what, 'start a new run from it with --model instead of resuming');
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new Error(`${stateFile}: not valid JSON (${(e as Error).message})`);
  }
  const s = parsed as Partial<TrainingState> & { format?: unknown; version?: unknown };
  if (s.format !== CHECKPOINT_FORMAT) throw new Error(
    `${stateFile}: format is ${JSON.stringify(s.format)}, expected "${CHECKPOINT_FORMAT}"`,
  );
  if (s.version !== CHECKPOINT_VERSION) throw new Error(
    `${stateFile}: version ${JSON.stringify(s.version)} is not supported (this alol reads version ${CHECKPOINT_VERSION})`,
  );
  if (!Number.isInteger(s.step) || (s.step as number) < 0) throw new Error(`${stateFile}: field step must be a non-negative integer`);
  if (!Number.isInteger(s.rngState)) throw new Error(`${stateFile}: field rngState must be an integer`);
  const optFile = path.join(dir, OPTIMIZER_FILE);
  const bytes = await readFile(optFile).catch(() => {
    throw new Error(`${optFile} is missing: the checkpoint is incomplete`);
  });
  const optimizer = new Map<string, Float32Array>();
  for (const t of readSafetensors(bytes, optFile).tensors) optimizer.set(t.name, toFloat32(t, optFile));
  const extra = typeof s.extra === 'object' && s.extra !== null ? (s.extra as Record<string, unknown>) : undefined;
  return {
    state: {
      step: s.step as number,
      rngState: s.rngState as number,
      config: (s.config ?? {}) as Record<string, unknown>,
      ...(extra ? { extra } : {})
    },
    optimizer,
  };
}
