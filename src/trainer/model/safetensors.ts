// The safetensors format, read and written exactly as published (huggingface/safetensors):
// u64 little-endian header length N, N bytes of UTF-8 JSON
// `{"__metadata__"?: {str: str}, name: {dtype, shape, data_offsets: [begin, end]}, ...}` padded with
// spaces so the data starts 8-byte aligned, then the data buffer (offsets relative to its start).
// Tensors are little-endian, C order. Checks follow the reference reader: offsets contiguous from 0
// to the end of the file, each span exactly shape * dtype size.

import { AlolError } from '../errors.js';

export const DTYPE_BYTES = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
} as const;

export type Dtype = keyof typeof DTYPE_BYTES;

export const FLOAT_DTYPES: readonly Dtype[] = ['F32', 'F16', 'BF16', 'F64'];

export interface SafeTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Raw little-endian bytes (a view into the file when read; not necessarily aligned). */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  /** In data-offset order, which is header order for every standard writer. */
  tensors: SafeTensor[];
  /** `__metadata__`, or null when the header has none. */
  metadata: Record<string, string> | null;
}

export type ModelFileErrorCode =
  | 'missing_file'
  | 'truncated'
  | 'corrupt_header'
  | 'bad_offsets'
  | 'bad_dtype'
  | 'missing_tensor'
  | 'wrong_shape'
  | 'unexpected_tensor'
  | 'bad_config'
  | 'unsupported_config';

/**
 * A model file that cannot be used; `message` names the file (and tensor or key) and says why.
 * Its `code` is the detailed one above, and it is also run/didFail's code: each is stable and says
 * more than one `model-file` code would (the union is what tests and callers switch on).
 */
export class ModelFileError extends AlolError {
  constructor(
    override readonly code: ModelFileErrorCode,
    message: string,
    hint?: string,
  ) {
    super(code, message, hint);
  }
}

const META_KEY = '__metadata__';
// The reference reader refuses larger headers; a length this large means "not a safetensors file".
const MAX_HEADER_BYTES = 100_000_000;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isDtype = (v: unknown): v is Dtype => typeof v === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

export const numel = (shape: readonly number[]): number => shape.reduce((a, x) => a * x, 1);

/** Bytes a tensor of this shape and dtype occupies. */
export const byteSize = (shape: readonly number[], dtype: Dtype): number => numel(shape) * DTYPE_BYTES[dtype];

interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(name: string, v: unknown, file: string): Entry {
  const bad = (what: string) =>
    new ModelFileError(
      'corrupt_header',
      `${file}: tensor ${name}: ${what}`,
      'the header is corrupted or not written by a safetensors writer',
    );
  if (!isRecord(v)) throw bad(`header entry is ${JSON.stringify(v)}, not an object {dtype, shape, data_offsets}`);
  for (const k of ['dtype', 'shape', 'data_offsets']) if (!(k in v)) throw bad(`header entry has no "${k}"`);
  const { dtype, shape, data_offsets: offsets } = v;
  if (!isDtype(dtype)) {
    const known = Object.keys(DTYPE_BYTES).join(', ');
    throw new ModelFileError('bad_dtype', `${file}: tensor ${name}: unknown dtype ${JSON.stringify(dtype)} (known: ${known})`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    throw bad(`data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  const need = byteSize(shape, dtype);
  if (end - begin !== need) {
    const held = `data_offsets [${begin}, ${end}] hold ${end - begin} bytes`;
    throw new ModelFileError('bad_offsets', `${file}: tensor ${name}: ${held} but shape ${fmtShape(shape)} ${dtype} needs ${need}`);
  }
  return { name, dtype, shape, begin, end };
}

function parseMetadata(v: unknown, file: string): Record<string, string> {
  if (!isRecord(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    throw new ModelFileError('corrupt_header', `${file}: "${META_KEY}" must map strings to strings (got ${JSON.stringify(v)})`);
  }
  return v as Record<string, string>;
}

/** Parses a whole safetensors file held in memory; tensor bytes are views into `bytes`. */
export function readSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  if (bytes.length < 8) {
    throw new ModelFileError(
      'truncated',
      `${file}: file is ${bytes.length} bytes, shorter than the 8-byte header length`,
      'the file was cut short (re-download or re-save it)',
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) {
    const why = n > BigInt(MAX_HEADER_BYTES) ? 'not a safetensors file, or its first bytes are corrupted' : 'the file was cut short';
    throw new ModelFileError('truncated', `${file}: header length ${n} is beyond the ${bytes.length - 8} bytes that follow it: ${why}`);
  }
  const headerEnd = 8 + Number(n);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, headerEnd));
  } catch {
    throw new ModelFileError('corrupt_header', `${file}: header is not valid UTF-8: corrupted, or not a safetensors file`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    const why = (e as Error).message;
    throw new ModelFileError('corrupt_header', `${file}: header is not valid JSON (${why}): corrupted, or not a safetensors file`);
  }
  if (!isRecord(header)) {
    const got = Array.isArray(header) ? 'an array' : JSON.stringify(header);
    throw new ModelFileError('corrupt_header', `${file}: header must be a JSON object of tensors, got ${got}`);
  }

  let metadata: Record<string, string> | null = null;
  const entries: Entry[] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === META_KEY) metadata = parseMetadata(v, file);
    else entries.push(parseEntry(name, v, file));
  }
  // Header key order is not reliable in JS (integer-like keys sort first), and the data order is
  // what a rewrite must reproduce; the sort is stable, so zero-size tensors keep header order.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);

  const data = bytes.subarray(headerEnd);
  let pos = 0;
  let prev: Entry | null = null;
  for (const e of entries) {
    const at = `${file}: tensor ${e.name}: data_offsets [${e.begin}, ${e.end}]`;
    if (e.end > data.length) {
      const why = 'the file was cut short, or the header is corrupted';
      throw new ModelFileError('truncated', `${at} go past the end of the ${data.length}-byte data buffer: ${why}`);
    }
    if (e.begin < pos) throw new ModelFileError('bad_offsets', `${at} overlap tensor ${prev?.name} [${prev?.begin}, ${prev?.end}]`);
    if (e.begin > pos) {
      const after = prev ? `tensor ${prev.name}` : 'the start of the data';
      const gap = `a gap of ${e.begin - pos} bytes after ${after}`;
      throw new ModelFileError('bad_offsets', `${at} leave ${gap} (safetensors data is contiguous)`);
    }
    pos = e.end;
    prev = e;
  }
  if (pos !== data.length) {
    const described = `the header describes ${pos} of ${data.length} bytes`;
    throw new ModelFileError(
      'bad_offsets',
      `${file}: ${data.length - pos} bytes after the last tensor's data (${described}): corrupted header or extra data`,
    );
  }
  const tensors = entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, bytes: data.subarray(e.begin, e.end) }));
  return { tensors, metadata };
}

/**
 * Serializes tensors in the given order with contiguous offsets. Byte-identical to the reference
 * writer for the same order: compact JSON, `__metadata__` first (only when given), tensor fields
 * in the order dtype, shape, data_offsets, header padded with spaces to a multiple of 8.
 */
export function writeSafetensors(tensors: readonly SafeTensor[], metadata?: Record<string, string>): Uint8Array {
  const parts: string[] = [];
  if (metadata !== undefined) {
    // Built by hand rather than JSON.stringify(obj) so integer-like keys keep their order.
    const fields = Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    parts.push(`${JSON.stringify(META_KEY)}:{${fields.join(',')}}`);
  }
  const seen = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    if (t.name === META_KEY || seen.has(t.name)) {
      throw new Error(`writeSafetensors: tensor name ${JSON.stringify(t.name)} is reserved or repeated`);
    }
    seen.add(t.name);
    if (!isDtype(t.dtype)) throw new Error(`writeSafetensors: tensor ${t.name}: unknown dtype ${String(t.dtype)}`);
    if (!t.shape.every(isCount)) {
      throw new Error(`writeSafetensors: tensor ${t.name}: shape ${fmtShape(t.shape)} is not a list of non-negative integers`);
    }
    const need = byteSize(t.shape, t.dtype);
    if (t.bytes.length !== need) {
      const given = `${t.bytes.length} bytes given`;
      throw new Error(`writeSafetensors: tensor ${t.name}: ${given} but shape ${fmtShape(t.shape)} ${t.dtype} needs ${need}`);
    }
    const info = `{"dtype":${JSON.stringify(t.dtype)},"shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${offset + need}]}`;
    parts.push(`${JSON.stringify(t.name)}:${info}`);
    offset += need;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + n + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let pos = 8 + n;
  for (const t of tensors) {
    out.set(t.bytes, pos);
    pos += t.bytes.length;
  }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** IEEE half -> float32, exact (every half is a float32), including subnormals, infinities and NaN. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals: frac * 2^-14 / 2^10
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A float tensor's values as float32 (F64 rounds to nearest; F16 and BF16 are exact). */
export function toFloat32(t: SafeTensor, file: string): Float32Array {
  const n = numel(t.shape);
  const dv = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const out = new Float32Array(n);
  switch (t.dtype) {
    case 'F32':
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(t.bytes); // copy also fixes alignment
      else for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      return out;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
      return out;
    case 'BF16': {
      // bfloat16 is the top half of a float32: shift the bits into place (both views are native-endian).
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
      return out;
    }
    default:
      throw new ModelFileError(
        'bad_dtype',
        `${file}: tensor ${t.name} has dtype ${t.dtype}, but a float tensor (${FLOAT_DTYPES.join(', ')}) is needed`,
        "the file is not a model's weights, or the tensor is misnamed",
      );
  }
}

/** An F32 tensor holding `data` as little-endian bytes, ready for writeSafetensors. */
export function float32Tensor(name: string, shape: readonly number[], data: Float32Array): SafeTensor {
  if (data.length !== numel(shape)) throw new Error(`float32Tensor: tensor ${name}: ${data.length} values for shape ${fmtShape(shape)}`);
  const bytes = new Uint8Array(4 * data.length);
  if (LITTLE_ENDIAN) bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  else {
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < data.length; i++) dv.setFloat32(4 * i, data[i], true);
  }
  return { name, dtype: 'F32', shape: [...shape], bytes };
}
