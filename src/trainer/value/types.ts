// The value head's data and results: examples (prompt hidden states and a target), fit options,
// per-epoch records, a fitted head, out-of-fold fits. Shared by fit.ts and runner.ts.

import type { ComputeOptions } from '../compute/local.js';

export interface ValueExample {
  /** Last-layer hidden states of the prompt tokens, [T_i, C] row-major. */
  hidden: Float32Array;
  /** T_i >= 1. */
  length: number;
  /** The reward to regress on (ignored by predict). */
  target: number;
  /** Examples sharing a group (e.g. both halves of a preference pair) are never split apart. */
  group?: string;
}

export interface ValueEpoch {
  /** 1-based. */
  epoch: number;
  /** Mean of the epoch's batch losses (with dropout, before each update). */
  trainMse: number;
  heldoutMse: number;
}

export interface ValueFitOptions {
  heads: number;
  epochs: number;
  lr: number;
  batchSize: number;
  seed: number;
  range: readonly [number, number];
  /** Dropout on the attention output while fitting (default 0.1). */
  dropout?: number;
  /** Share of the fitting examples held out to choose the epoch (default 0.1). */
  heldoutFraction?: number;
  /** Padded lengths are rounded up to a multiple of this (default 16), so sessions are reused. */
  lengthMultiple?: number;
  /** The backend that runs the head (a run's); else a private ONNX Runtime one on threads / provider. */
  compute?: ComputeOptions['compute'];
  threads?: ComputeOptions['threads'];
  provider?: ComputeOptions['provider'];
  /** After each epoch; also its mean gradient norm, the prompt tokens it trained on and its wall time (for the dashboard). */
  onProgress?: (e: ValueEpoch & { fold?: number; gradNorm: number; tokens: number; elapsedMs: number }) => void;
}

export interface ValuePredictor {
  /** V per example, in [r_min, r_max], in the order given. */
  predict(examples: readonly ValueExample[]): Promise<Float64Array>;
  dispose(): Promise<void>;
}

export interface ValueFitSummary {
  /** The parameters of the chosen epoch, named as value-head.ts VALUE_PARAM. */
  params: Map<string, Float32Array>;
  epochChosen: number;
  /** MSE of the chosen epoch's head on the held-out examples (the data that chose it). */
  heldoutMse: number;
  /** MSE on the same held-out examples of predicting meanTarget. */
  meanMse: number;
  /** Mean target of the examples trained on. */
  meanTarget: number;
  history: ValueEpoch[];
  /** Indices (into the examples given) trained on, and held out for the epoch choice. */
  trainIndices: Int32Array;
  heldoutIndices: Int32Array;
}

export type FittedValueHead = ValueFitSummary & ValuePredictor;

export interface ValueFold extends Omit<ValueFitSummary, 'params' | 'meanTarget'> {
  fold: number;
  /** Examples this fold's head predicted (its fold). */
  predicted: Int32Array;
  /** Every example this fold's head saw while fitting: the other folds (trainIndices + heldoutIndices). */
  fittedOn: Int32Array;
  oofMse: number;
  oofMeanMse: number;
}

export interface OutOfFoldFit {
  /** V per example, each from the head of its own fold, which was not fit on it. */
  predictions: Float64Array;
  /** The mean target of the other folds, per example. */
  meanPredictions: Float64Array;
  foldOf: Int32Array;
  oofMse: number;
  meanMse: number;
  folds: ValueFold[];
}
