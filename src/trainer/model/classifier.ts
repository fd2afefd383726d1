// A GPT-2 sequence classifier (Hugging Face's GPT2ForSequenceClassification: the transformer, then
// `score.weight` [labels, C] applied to the hidden state of each row's last real token), trainable
// with the engine and exportable as a reward-model folder: model.onnx (input_ids, attention_mask ->
// logits [B, labels]), tokenizer.json and config.json with id2label — the layout `onnx` rewards read.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Graph, type Value } from '../graph/ir.js';
import * as o from '../graph/ops.js';
import { type AdamWConfig, DEFAULT_ADAMW, type ParamSpec, addTrainStep } from '../graph/optim.js';
import { serialize } from '../graph/onnx.js';
import { writeFileAtomic } from '../util/atomic.js';
import { Rng } from '../util/rng.js';
import type { GptConfig } from './gpt-config.js';
import { gpt2ConfigJson } from './folder.js';
import { gptForward } from './gpt.js';
import { gptParamInfos } from './params.js';

export const SCORE_WEIGHT = 'score.weight';

/** Logits [B, L] from ids [B, T] and a right-padded attention mask [B, T] (int64). */
export function classifierLogits(cfg: GptConfig, p: Readonly<Record<string, Value>>, ids: Value, attentionMask: Value): Value {
  const g = ids.graph;
  const t = ids.shape[1];
  const positions = typeof t === 'number' ? undefined : o.arange(o.dimOf(ids, 1), t);
  const { hidden } = gptForward(cfg, p, ids, { positions, keyMask: o.cast(attentionMask, g.float) }); // [B, T, C]
  const last = o.sub(o.reduceSum(attentionMask, [1], true), g.constant(BigInt64Array.of(1n), [], 'one')); // [B, 1]
  const index = o.expandLike(o.unsqueeze(last, [2]), o.slice(hidden, [0], [1], [1])); // [B, 1, C]
  const pooled = o.squeeze(o.gatherElements(hidden, index, 1), [1]); // [B, C]
  return o.matmul(pooled, o.transposeLast2(p[SCORE_WEIGHT])); // [B, L]
}

function addParams(g: Graph, cfg: GptConfig, labels: number): { params: Record<string, Value>; specs: ParamSpec[] } {
  const params: Record<string, Value> = {};
  const specs: ParamSpec[] = [];
  for (const info of [...gptParamInfos(cfg), { name: SCORE_WEIGHT, shape: [labels, cfg.nEmbd], decay: true }]) {
    params[info.name] = g.floatInput(info.name, info.shape);
    specs.push({ value: params[info.name], decay: info.decay });
  }
  return { params, specs };
}

/** Training step: mean cross-entropy of logits against int64 `labels` [B], then AdamW. */
export function buildClassifierStepGraph(
  cfg: GptConfig,
  labels: number,
  batch: number,
  seqLen: number,
  adamw: AdamWConfig = DEFAULT_ADAMW,
): Graph {
  const g = new Graph({ name: 'classifier_step' });
  const { params, specs } = addParams(g, cfg, labels);
  const ids = g.input('input_ids', 'int64', [batch, seqLen]);
  const mask = g.input('attention_mask', 'int64', [batch, seqLen]);
  const target = g.input('labels', 'int64', [batch]);
  const logp = o.logSoftmax(classifierLogits(cfg, params, ids, mask), -1);
  const loss = o.neg(o.reduceMean(o.gatherElements(logp, o.unsqueeze(target, [1]), 1), [0, 1]));
  addTrainStep(loss, specs, 'update', adamw);
  return g;
}

export function initScoreWeight(cfg: GptConfig, labels: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: labels * cfg.nEmbd }, () => 0.02 * rng.normal());
}

/** Writes a reward-model folder (weights baked into model.onnx as initializers). */
export async function exportClassifierFolder(
  dir: string,
  cfg: GptConfig,
  params: ReadonlyMap<string, Float32Array>,
  id2label: readonly string[],
  tokenizerJson: unknown,
): Promise<void> {
  const g = new Graph({ name: 'gpt2_sequence_classifier' });
  const p: Record<string, Value> = {};
  for (const info of [...gptParamInfos(cfg), { name: SCORE_WEIGHT, shape: [id2label.length, cfg.nEmbd] }]) {
    const data = params.get(info.name);
    if (!data) throw new Error(`exportClassifierFolder: parameters lack ${info.name}`);
    p[info.name] = g.constant(data, info.shape, info.name);
  }
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', 'int64', ['batch_size', 'sequence_length']);
  g.output('logits', classifierLogits(cfg, p, ids, mask));
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, 'model.onnx'), serialize(g));
  await writeFileAtomic(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  const config = {
    ...gpt2ConfigJson(cfg),
    architectures: ['GPT2ForSequenceClassification'],
    id2label: Object.fromEntries(id2label.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(id2label.map((l, i) => [l, i])),
  };
  await writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
}
