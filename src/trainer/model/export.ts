// Export of a trained policy as a self-contained ONNX forward graph in the layout ONNX Runtime and
// transformers.js use for decoders with a cache ("decoder_model_merged"), for every family:
//   inputs   input_ids [batch_size, sequence_length] int64,
//            attention_mask [batch_size, past_sequence_length + sequence_length] int64,
//            position_ids [batch_size, sequence_length] int64,
//            past_key_values.{i}.key / .value [batch_size, kv_heads, past_sequence_length, head_size]
//   outputs  logits [batch_size, sequence_length, vocab_size], present.{i}.key / .value
// kv_heads is GPT-2's n_head, a Llama-family model's num_key_value_heads (the cache is not repeated
// per query head). The first call passes past tensors with past_sequence_length 0. Weights are
// initializers.

import { Graph, type Value } from '../graph/ir.js';
import * as o from '../graph/ops.js';
import { serialize } from '../graph/onnx.js';
import { type ModelConfig, headSize, kvHeads, modelTypeOf } from './config.js';
import { lmForward, paramInfos } from './family.js';
import { presentName } from './gpt-graphs.js';

export function buildExportGraph(cfg: ModelConfig, params: ReadonlyMap<string, Float32Array>): Graph {
  const g = new Graph({ name: `${modelTypeOf(cfg)}_decoder_with_past` });
  const p: Record<string, Value> = {};
  for (const info of paramInfos(cfg)) {
    const data = params.get(info.name);
    if (!data) throw new Error(`export: parameters lack ${info.name}`);
    p[info.name] = g.constant(data, info.shape, info.name);
  }
  const [B, S, P] = ['batch_size', 'sequence_length', 'past_sequence_length'];
  const [hs, nkv] = [headSize(cfg), kvHeads(cfg)];
  const ids = g.input('input_ids', 'int64', [B, S]);
  const attentionMask = g.input('attention_mask', 'int64', [B, `${P}+${S}`]);
  const positions = g.input('position_ids', 'int64', [B, S]);
  const past = [...Array(cfg.nLayer).keys()].map((i) => ({
    key: g.floatInput(`past_key_values.${i}.key`, [B, nkv, P, hs]),
    value: g.floatInput(`past_key_values.${i}.value`, [B, nkv, P, hs]),
  }));
  const { logits, present } = lmForward(cfg, p, ids, { positions, past, keyMask: o.cast(attentionMask, 'float32'), portable: true });
  g.output('logits', logits);
  present.forEach((kv, i) => {
    g.output(presentName(i, 'key'), kv.key);
    g.output(presentName(i, 'value'), kv.value);
  });
  return g;
}

export function exportOnnx(cfg: ModelConfig, params: ReadonlyMap<string, Float32Array>, opset = 18): Uint8Array {
  const metadata: Record<string, string> = {
    producer: 'alol-studio',
    model_type: modelTypeOf(cfg),
    num_layers: String(cfg.nLayer),
    num_heads: String(cfg.nHead),
    num_key_value_heads: String(kvHeads(cfg)),
    head_dim: String(headSize(cfg)),
  };
  return serialize(buildExportGraph(cfg, params), { opset, metadata });
}
