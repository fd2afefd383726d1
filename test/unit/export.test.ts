// The exported ONNX file (Hugging Face / transformers.js GPT-2 layout with past key/values) loads in a
// fresh session and gives the trainer's own logits within 1e-4, with and without a cache.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import { serialize } from '../../src/trainer/graph/onnx.js';
import { type OrtTensor, Session, tensor } from '../../src/trainer/runtime/session.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { exportOnnx } from '../../src/trainer/model/export.js';
import { buildGenerationGraph } from '../../src/trainer/model/gpt-graphs.js';
import { gptParamInfos, initGptParams } from '../../src/trainer/model/params.js';

const cfg = gptConfig({ vocabSize: 257, nPositions: 32, nEmbd: 32, nLayer: 2, nHead: 4 });
const params = initGptParams(cfg, 11);
for (const [k, v] of params) if (!k.includes('ln_')) v.forEach((x, i) => (v[i] = x * 5));
const hs = cfg.nEmbd / cfg.nHead;
const seq = [[72, 101, 108, 108, 111, 44, 32, 119], [0, 0, 0, 65, 66, 67, 68, 69]]; // row 1 left-padded by 3
const padLeft = [0, 3];
const [B, T] = [2, 8];

const i64 = (xs: number[], dims: number[]) => tensor('int64', BigInt64Array.from(xs.map(BigInt)), dims);

async function trainerLogits(): Promise<Float32Array> {
  const s = await Session.create(serialize(buildGenerationGraph(cfg, 'full', B, T)), 'full', { threads: 1 });
  const feeds: Record<string, OrtTensor> = {};
  for (const info of gptParamInfos(cfg)) feeds[info.name] = tensor('float32', params.get(info.name) as Float32Array, info.shape);
  const out = await s.run({
    ...feeds,
    ids: i64(seq.flat(), [B, T]),
    positions: i64(seq.flatMap((_, b) => [...Array(T).keys()].map((j) => Math.max(0, j - padLeft[b]))), [B, T]),
    key_mask: tensor('float32',
      Float32Array.from(seq.flatMap((_, b) => [...Array(T).keys()].map((j) => (j >= padLeft[b] ? 1 : 0)))), [B, T]),
  });
  await s.release();
  return out.logits.data as Float32Array;
}

describe('export-onnx', () => {
  it('uses the Hugging Face decoder-with-past input and output names', () => {
    const model = onnx.ModelProto.decode(exportOnnx(cfg, params));
    const inputs = model.graph?.input?.map((i) => i.name);
    assert.deepEqual(inputs, [
      'input_ids', 'attention_mask', 'position_ids',
      'past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value',
    ]);
    assert.deepEqual(model.graph?.output?.map((x) => x.name),
      ['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);
    assert.equal(model.graph?.initializer?.some((t) => t.name === 'transformer.wte.weight'), true);
  });

  it('logits equal the trainer graph\'s within 1e-4, in one pass and token by token with the cache', async () => {
    const expected = await trainerLogits();
    const s = await Session.create(exportOnnx(cfg, params), 'exported', { threads: 1 });
    const emptyPast: Record<string, OrtTensor> = {};
    for (let l = 0; l < cfg.nLayer; l++) {
      for (const k of ['key', 'value']) {
        emptyPast[`past_key_values.${l}.${k}`] = tensor('float32', new Float32Array(0), [B, cfg.nHead, 0, hs]);
      }
    }
    const maskRow = (b: number, upto: number) => [...Array(upto).keys()].map((j) => (j >= padLeft[b] ? 1 : 0));
    const posRow = (b: number, from: number, to: number) => [...Array(to - from).keys()].map((j) => Math.max(0, from + j - padLeft[b]));
    const worst = (got: Float32Array, at: (b: number, t: number, v: number) => number, tFrom: number, tTo: number): number => {
      let w = 0;
      for (let b = 0; b < B; b++) for (let t = tFrom; t < tTo; t++) for (let v = 0; v < cfg.vocabSize; v++) {
        w = Math.max(w, Math.abs(at(b, t, v) - expected[(b * T + t) * cfg.vocabSize + v]));
      }
      void got;
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
    assert.ok(worst(l1, (b, t, v) => l1[(b * T + t) * cfg.vocabSize + v], 0, T) < 1e-4);

    // 5 tokens, then the last 3 one at a time with the cache.
    const first = 5;
    let res = await s.run({
      input_ids: i64(seq.flatMap((r) => r.slice(0, first)), [B, first]),
      attention_mask: i64([0, 1].flatMap((b) => maskRow(b, first)), [B, first]),
      position_ids: i64([0, 1].flatMap((b) => posRow(b, 0, first)), [B, first]),
      ...emptyPast,
    });
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
      assert.ok(worst(l, (b, _t, v) => l[b * cfg.vocabSize + v], t, t + 1) < 1e-4, `step ${t}`);
    }
    await s.release();
  });
});
