// The exported ONNX file (Hugging Face / transformers.js decoder-with-past layout) loads in a fresh
// session and gives the trainer's own logits within 1e-4, with and without a cache — for GPT-2 and for
// a Llama-layout model with grouped-query attention (its cache holds the key/value heads only).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { type OrtTensor, Session, tensor } from '../../src/trainer/runtime/session.js';
import { type ModelConfig, headSize, kvHeads } from '../../src/trainer/model/config.js';
import { initParams, paramFeeds } from '../../src/trainer/model/family.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { llamaConfig } from '../../src/trainer/model/llama-config.js';
import { exportOnnx } from '../../src/trainer/model/export.js';
import { buildGenerationGraph } from '../../src/trainer/model/gpt-graphs.js';

const seq = [[72, 101, 108, 108, 111, 44, 32, 119], [0, 0, 0, 65, 66, 67, 68, 69]]; // row 1 left-padded by 3
const padLeft = [0, 3];
const [B, T] = [2, 8];

const i64 = (xs: number[], dims: number[]) => tensor('int64', BigInt64Array.from(xs.map(BigInt)), dims);

function model(cfg: ModelConfig): Map<string, Float32Array> {
  const params = initParams(cfg, 11);
  for (const [k, v] of params) if (!/ln_|norm/.test(k)) v.forEach((x, i) => (v[i] = x * 5));
  return params;
}

async function trainerLogits(cfg: ModelConfig, params: Map<string, Float32Array>): Promise<Float32Array> {
  const s = await Session.create(serialize(buildGenerationGraph(cfg, 'full', B, T)), 'full', { threads: 1 });
  const out = await s.run({
    ...paramFeeds(cfg, params, 'test'),
    ids: i64(seq.flat(), [B, T]),
    positions: i64(seq.flatMap((_, b) => [...Array(T).keys()].map((j) => Math.max(0, j - padLeft[b]))), [B, T]),
    key_mask: tensor('float32',
      Float32Array.from(seq.flatMap((_, b) => [...Array(T).keys()].map((j) => (j >= padLeft[b] ? 1 : 0)))), [B, T]),
  });
  await s.release();
  return out.logits.data as Float32Array;
}

async function checkAgainstTrainer(cfg: ModelConfig): Promise<void> {
  const params = model(cfg);
  const expected = await trainerLogits(cfg, params);
  const s = await Session.create(exportOnnx(cfg, params), 'exported', { threads: 1 });
  const emptyPast: Record<string, OrtTensor> = {};
  for (let l = 0; l < cfg.nLayer; l++) {
    for (const k of ['key', 'value']) {
      emptyPast[`past_key_values.${l}.${k}`] = tensor('float32', new Float32Array(0), [B, kvHeads(cfg), 0, headSize(cfg)]);
    }
  }
  const maskRow = (b: number, upto: number) => [...Array(upto).keys()].map((j) => (j >= padLeft[b] ? 1 : 0));
  const posRow = (b: number, from: number, to: number) => [...Array(to - from).keys()].map((j) => Math.max(0, from + j - padLeft[b]));
  const worst = (at: (b: number, t: number, v: number) => number, tFrom: number, tTo: number): number => {
    let w = 0;
    for (let b = 0; b < B; b++) for (let t = tFrom; t < tTo; t++) for (let v = 0; v < cfg.vocabSize; v++) {
      w = Math.max(w, Math.abs(at(b, t, v) - expected[(b * T + t) * cfg.vocabSize + v]));
    }
    return w;
  };

  // One pass over all T tokens.
  const one = await s.run({
    input_ids: i64(seq.flat(), [B, T]),
    attention_mask: i64([0, 1].flatMap((b) => maskRow(b, T)), [B, T]),
    position_ids: i64([0, 1].flatMap((b) => posRow(b, 0, T)), [B, T]),
    ...emptyPast,
  });
  const l1 = one.logits.data as Float32Array;
  assert.ok(worst((b, t, v) => l1[(b * T + t) * cfg.vocabSize + v], 0, T) < 1e-4);

  // 5 tokens, then the last 3 one at a time with the cache.
  const first = 5;
  let res = await s.run({
    input_ids: i64(seq.flatMap((r) => r.slice(0, first)), [B, first]),
    attention_mask: i64([0, 1].flatMap((b) => maskRow(b, first)), [B, first]),
    position_ids: i64([0, 1].flatMap((b) => posRow(b, 0, first)), [B, first]),
    ...emptyPast,
  });
  assert.deepEqual(res['present.0.key'].dims, [B, kvHeads(cfg), first, headSize(cfg)]);
  for (let t = first; t < T; t++) {
    const past: Record<string, OrtTensor> = {};
    for (let l = 0; l < cfg.nLayer; l++) for (const k of ['key', 'value']) past[`past_key_values.${l}.${k}`] = res[`present.${l}.${k}`];
    res = await s.run({
      input_ids: i64(seq.map((r) => r[t]), [B, 1]),
      attention_mask: i64([0, 1].flatMap((b) => maskRow(b, t + 1)), [B, t + 1]),
      position_ids: i64([0, 1].flatMap((b) => posRow(b, t, t + 1)), [B, 1]),
      ...past,
    });
    const l = res.logits.data as Float32Array;
    assert.ok(worst((b, _t, v) => l[b * cfg.vocabSize + v], t, t + 1) < 1e-4, `step ${t}`);
  }
  await s.release();
}

const gpt = gptConfig({ vocabSize: 257, nPositions: 32, nEmbd: 32, nLayer: 2, nHead: 4 });
// GQA (4 query heads, 2 key/value heads), q/k/v and o biases, untied head.
const llama = llamaConfig({
  vocabSize: 257, nPositions: 32, nEmbd: 32, nLayer: 2, nHead: 4, nKvHead: 2, nInner: 48, qkvBias: true, oBias: true,
});

describe('export-onnx', () => {
  it('uses the Hugging Face decoder-with-past input and output names', () => {
    for (const [cfg, weight] of [[gpt, 'transformer.wte.weight'], [llama, 'model.embed_tokens.weight']] as const) {
      const m = onnx.ModelProto.decode(exportOnnx(cfg, model(cfg)));
      const inputs = m.graph?.input?.map((i) => i.name);
      assert.deepEqual(inputs, [
        'input_ids', 'attention_mask', 'position_ids',
        'past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value',
      ]);
      assert.deepEqual(m.graph?.output?.map((x) => x.name),
        ['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);
      assert.equal(m.graph?.initializer?.some((t) => t.name === weight), true);
      const kvDims = m.graph?.input?.[3].type?.tensorType?.shape?.dim?.map((d) => d.dimParam || String(d.dimValue));
      assert.deepEqual(kvDims, ['batch_size', String(kvHeads(cfg)), 'past_sequence_length', String(headSize(cfg))]);
    }
  });

  it('GPT-2: logits equal the trainer graph\'s within 1e-4, in one pass and token by token with the cache', () => checkAgainstTrainer(gpt));
  it('Llama (GQA): logits equal the trainer graph\'s within 1e-4, in one pass and token by token with the cache', () =>
    checkAgainstTrainer(llama));
});
