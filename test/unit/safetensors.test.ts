// safetensors reader/writer: byte-identical with the reference writer (the independent fixture and
// the format's published examples), float conversions, and one named error per kind of damage.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { float32Tensor, readSafetensors, toFloat32, writeSafetensors, type SafeTensor } from '../../src/trainer/model/safetensors.js';
import { sharedPath } from '../helpers/shared.js';

const FIXTURE = path.join(sharedPath('fixtures', 'gpt2-tiny-independent', 'model'), 'model.safetensors');
const fixtureBytes = (): Uint8Array => new Uint8Array(readFileSync(FIXTURE));

const u16 = (...xs: number[]): Uint8Array => new Uint8Array(new Uint16Array(xs).buffer);
const headerOf = (file: Uint8Array): string => {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  return new TextDecoder().decode(file.subarray(8, 8 + n));
};
/** A file from a hand-written header (padded to 8 bytes) and data, to build damaged files. */
function craft(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(header);
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + data.length).fill(0x20, 8, 8 + n);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.set(data, 8 + n);
  return out;
}
const throwsCode = (fn: () => unknown, code: string, message: RegExp) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error && 'code' in e, `not a ModelFileError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });

describe('safetensors format', () => {
  it('reads the independent fixture and writes it back byte-identical', () => {
    const bytes = fixtureBytes();
    const f = readSafetensors(bytes, 'model.safetensors');
    assert.equal(f.metadata, null);
    assert.equal(f.tensors.length, 28);
    assert.deepEqual(f.tensors.slice(0, 3).map((t) => [t.name, t.dtype, t.shape]), [
      ['transformer.wte.weight', 'F32', [257, 64]],
      ['transformer.wpe.weight', 'F32', [64, 64]],
      ['transformer.ln_f.weight', 'F32', [64]],
    ]);
    assert.deepEqual(Buffer.from(writeSafetensors(f.tensors)), Buffer.from(bytes));
  });

  it('matches the format published examples (compact JSON, space padding, metadata first)', () => {
    const t = float32Tensor('attn.0', [1, 2, 3], new Float32Array([0, 1, 2, 3, 4, 5]));
    const a = writeSafetensors([t]);
    assert.equal(headerOf(a), '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}');
    assert.equal(a.length, 8 + 64 + 24);
    const b = writeSafetensors([{ ...t, name: 'attn0', shape: [1, 1, 2, 3] }]);
    assert.equal(headerOf(b), `{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}${' '.repeat(7)}`);
    assert.equal(headerOf(writeSafetensors([])), `{}${' '.repeat(6)}`);
    const m = writeSafetensors([], { framework: 'pt' });
    assert.deepEqual([...m.subarray(0, 8)], [40, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(headerOf(m), `{"__metadata__":{"framework":"pt"}}${' '.repeat(5)}`);
  });

  it('write -> read -> write is byte-identical, with metadata, mixed dtypes and odd names', () => {
    const tensors: SafeTensor[] = [
      float32Tensor('10', [2], new Float32Array([1.5, -2])),
      { name: 'half "quoted"', dtype: 'F16', shape: [3], bytes: u16(0x3c00, 0xc000, 0x7bff) },
      { name: 'empty', dtype: 'F32', shape: [0, 4], bytes: new Uint8Array(0) },
      { name: 'ids', dtype: 'I64', shape: [1], bytes: new Uint8Array(8).fill(1) },
      { name: 'flag', dtype: 'U8', shape: [3], bytes: new Uint8Array([1, 2, 3]) },
      { name: 'ünï', dtype: 'BF16', shape: [1], bytes: u16(0x3f80) },
    ];
    const meta = { format: 'pt', '2': 'integer-like key keeps its place' };
    const once = writeSafetensors(tensors, meta);
    const read = readSafetensors(once, 'x.safetensors');
    assert.deepEqual(read.metadata, meta);
    assert.deepEqual(read.tensors.map((t) => t.name), tensors.map((t) => t.name));
    assert.equal(new DataView(once.buffer).getBigUint64(0, true) % 8n, 0n); // data starts 8-byte aligned
    assert.deepEqual(Buffer.from(writeSafetensors(read.tensors, read.metadata ?? undefined)), Buffer.from(once));
  });

  it('converts F16 (subnormals, inf, nan), BF16, F64 and unaligned F32 to float32', () => {
    const f16: SafeTensor = {
      name: 'h',
      dtype: 'F16',
      shape: [10],
      bytes: u16(0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0x3555),
    };
    const h = toFloat32(f16, 'f');
    assert.deepEqual([...h.subarray(0, 7)], [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, Infinity, -Infinity]);
    assert.ok(Number.isNaN(h[7]));
    assert.ok(Object.is(h[8], -0));
    assert.equal(h[9], Math.fround(0.333251953125));
    const bf = toFloat32({ name: 'b', dtype: 'BF16', shape: [5], bytes: u16(0x3f80, 0xc040, 0x3eab, 0x7f80, 0x0001) }, 'f');
    assert.deepEqual([...bf], [1, -3, 0.333984375, Infinity, 2 ** -133]);
    const f64 = toFloat32({ name: 'd', dtype: 'F64', shape: [2], bytes: new Uint8Array(new Float64Array([0.1, -1e300]).buffer) }, 'f');
    assert.deepEqual([...f64], [Math.fround(0.1), -Infinity]);
    // An F16 tensor first leaves the F32 one at data offset 2: not 4-byte aligned.
    const file = writeSafetensors(
      [{ name: 'a', dtype: 'F16', shape: [1], bytes: u16(0x3c00) }, float32Tensor('b', [2], new Float32Array([0.25, 7]))],
    );
    assert.deepEqual([...toFloat32(readSafetensors(file, 'f').tensors[1], 'f')], [0.25, 7]);
    throwsCode(
      () => toFloat32({ name: 'ids', dtype: 'I64', shape: [1], bytes: new Uint8Array(8) }, 'x.safetensors'),
      'bad_dtype',
      /x\.safetensors: tensor ids has dtype I64, but a float tensor/,
    );
  });
});

describe('safetensors errors name the file, the tensor and the problem', () => {
  const f = 'model.safetensors';
  const t8 = new Uint8Array(8);
  it('truncated: under 8 bytes, header past the end, data shorter than the last offset', () => {
    throwsCode(() => readSafetensors(new Uint8Array(5), f), 'truncated', /^model\.safetensors: file is 5 bytes, shorter than the 8-byte/);
    const bytes = fixtureBytes();
    throwsCode(() => readSafetensors(bytes.subarray(0, 1000), f), 'truncated', /header length 2600 is beyond the 992 bytes/);
    throwsCode(
      () => readSafetensors(bytes.subarray(0, bytes.length - 10), f),
      'truncated',
      /tensor transformer\.h\.1\.mlp\.c_proj\.bias: data_offsets \[482304, 482560\] go past the end/,
    );
  });
  it('corrupted header: not UTF-8, not JSON, not an object, incomplete entry, unknown dtype, bad metadata', () => {
    const bad = craft('{"a":{"dtype":"F32"', t8);
    throwsCode(() => readSafetensors(bad, f), 'corrupt_header', /^model\.safetensors: header is not valid JSON/);
    const notUtf8 = craft('{}');
    notUtf8[9] = 0xff;
    throwsCode(() => readSafetensors(notUtf8, f), 'corrupt_header', /not valid UTF-8/);
    throwsCode(() => readSafetensors(craft('[1,2]'), f), 'corrupt_header', /header must be a JSON object of tensors, got an array/);
    throwsCode(
      () => readSafetensors(craft('{"w":{"dtype":"F32","data_offsets":[0,8]}}', t8), f),
      'corrupt_header',
      /tensor w: header entry has no "shape"/,
    );
    throwsCode(
      () => readSafetensors(craft('{"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}', t8), f),
      'bad_dtype',
      /tensor w: unknown dtype "F33"/,
    );
    throwsCode(
      () => readSafetensors(craft('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', t8), f),
      'corrupt_header',
      /tensor w: shape \[-2\]/,
    );
    throwsCode(() => readSafetensors(craft('{"__metadata__":{"n":1}}'), f), 'corrupt_header', /"__metadata__" must map strings to strings/);
  });
  it('offsets: size against shape x dtype, out of range, overlapping, gaps, trailing data', () => {
    throwsCode(
      () => readSafetensors(
        craft('{"transformer.h.0.attn.c_attn.weight":{"dtype":"F32","shape":[64,192],"data_offsets":[0,100]}}', new Uint8Array(100)),
        f,
      ),
      'bad_offsets',
      new RegExp(
        String.raw`^model\.safetensors: tensor transformer\.h\.0\.attn\.c_attn\.weight: ` +
          String.raw`data_offsets \[0, 100\] hold 100 bytes but shape \[64,192\] F32 needs 49152$`,
      ),
    );
    throwsCode(
      () => readSafetensors(craft('{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', t8), f),
      'truncated',
      /tensor w: data_offsets \[8, 16\] go past the end of the 8-byte data buffer/,
    );
    const two = (b: number) =>
      `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[${b},${b + 4}]}}`;
    throwsCode(
      () => readSafetensors(craft(two(4), new Uint8Array(8)), f),
      'bad_offsets',
      /tensor b: data_offsets \[4, 8\] overlap tensor a \[0, 8\]/,
    );
    throwsCode(
      () => readSafetensors(craft(two(12), new Uint8Array(16)), f),
      'bad_offsets',
      /tensor b: data_offsets \[12, 16\] leave a gap of 4 bytes after tensor a/,
    );
    throwsCode(() => readSafetensors(craft(two(8), new Uint8Array(20)), f), 'bad_offsets', /8 bytes after the last tensor's data/);
  });
  it('writer refuses inconsistent input', () => {
    assert.throws(
      () => writeSafetensors([{ name: 'w', dtype: 'F32', shape: [3], bytes: new Uint8Array(8) }]),
      /tensor w: 8 bytes given but shape \[3\] F32 needs 12/,
    );
    const w = float32Tensor('w', [1], new Float32Array(1));
    assert.throws(() => writeSafetensors([w, w]), /repeated/);
  });
});
