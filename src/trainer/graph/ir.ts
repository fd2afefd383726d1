// The graph IR: values, nodes and a Graph that owns them. Builders in ops.ts append nodes in
// topological order (an op can only consume values that already exist), which the autodiff driver
// (grad.ts) relies on. Shapes are static where known; a string dim is symbolic (e.g. "B", "T").
// Serialization to ONNX lives in onnx.ts; nothing here knows protobuf.
// A graph can be a subgraph (a Loop's body, an attribute of type 'graph'): it reads values of the
// enclosing graph through captures (ONNX outer-scope references: the inner value has the outer name).

export type FloatType = 'float32' | 'float64';
/** Reduced-precision float types: tensors inside a graph (mixed precision), never its master weights. Their
 * constants hold the raw 16-bit patterns in a Uint16Array. */
export type HalfType = 'float16' | 'bfloat16';
export type DType = FloatType | HalfType | 'int64' | 'int32' | 'bool';
/** The type the heavy ops (MatMul) of a graph compute in: graph/ops.ts matmul casts float32 operands to it. */
export type ComputeType = 'float32' | HalfType;
export type Dim = number | string;
export type Shape = readonly Dim[];

export type TypedData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;

export type Attr =
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'ints'; value: readonly number[] }
  | { type: 'floats'; value: readonly number[] }
  | { type: 'string'; value: string }
  /** A constant used as an attribute (e.g. ConstantOfShape's value), not as an input. */
  | { type: 'tensor'; value: Value }
  /** A subgraph (a Loop's body); it may read values of the graph holding the node through its captures. */
  | { type: 'graph'; value: Graph };

/** 'outer': a value of the enclosing graph, read by name from a subgraph (Graph.capture). */
export type ValueKind = 'input' | 'constant' | 'node' | 'outer';

/** A value of the enclosing graph read inside a subgraph: `inner` stands for `outer` there. */
export interface Capture {
  readonly inner: Value;
  readonly outer: Value;
}

export class Value {
  constructor(
    readonly graph: Graph,
    readonly id: number,
    public name: string,
    readonly dtype: DType,
    readonly shape: Shape,
    readonly kind: ValueKind,
    readonly node: Node | null = null,
    /** Data of a constant (kept so rules such as Pow can read a constant exponent). */
    readonly data: TypedData | null = null,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  isFloat(): boolean {
    return isFloatType(this.dtype);
  }

  toString(): string {
    return `${this.name}:${this.dtype}[${this.shape.join(',')}]`;
  }
}

export interface Node {
  readonly index: number;
  readonly op: string;
  readonly inputs: readonly Value[];
  readonly outputs: Value[];
  readonly attrs: Readonly<Record<string, Attr>>;
  /** ONNX operator domain; '' is the default ai.onnx domain. */
  readonly domain: string;
}

export interface GraphOptions {
  /** The float type of every float tensor the graph creates (constants, gradients). */
  float?: FloatType;
  /** How Gather (embedding) gradients are formed: ScatterND(add) on CPU, or a one-hot matmul
   * for providers without scatter-add kernels. */
  embeddingGrad?: 'scatter' | 'onehot';
  /** LogSoftmax composed of ReduceMax, Exp, ReduceSum and Log, for providers without its kernel (WebGPU places
   * it on the CPU, copying the logits to the host and back every run). */
  composedLogSoftmax?: boolean;
  /** Mixed precision (float32 graphs only): MatMuls run in this type, cast inside the graph, while parameters,
   * normalization, softmax, the loss and the optimizer stay float32 (as torch autocast). Default float32. */
  compute?: ComputeType;
  name?: string;
}

/** A named graph output. */
export interface GraphOutput {
  readonly name: string;
  readonly value: Value;
}

export class Graph {
  readonly float: FloatType;
  readonly embeddingGrad: 'scatter' | 'onehot';
  readonly composedLogSoftmax: boolean;
  readonly compute: ComputeType;
  readonly name: string;
  readonly inputs: Value[] = [];
  readonly constants: Value[] = [];
  readonly nodes: Node[] = [];
  readonly outputs: GraphOutput[] = [];
  /** Values of the enclosing graph this subgraph reads (empty for a top-level graph). */
  readonly captures: Capture[] = [];
  private nextId = 0;
  private readonly usedNames = new Set<string>();
  /** Names kept free by reserveNames (the outer graph's), which captures may take. */
  private readonly reserved = new Set<string>();
  private readonly scalarCache = new Map<string, Value>();
  private readonly computeCasts = new Map<number, Value>();

  constructor(options: GraphOptions = {}) {
    this.float = options.float ?? 'float32';
    this.embeddingGrad = options.embeddingGrad ?? 'scatter';
    this.composedLogSoftmax = options.composedLogSoftmax ?? false;
    this.compute = options.compute ?? 'float32';
    if (this.compute !== 'float32' && this.float !== 'float32') {
      throw new Error(`graph ${options.name ?? 'alol'}: compute ${this.compute} needs float32 parameters, not ${this.float}`);
    }
    this.name = options.name ?? 'alol';
  }

  /** A fresh, unique value name with the given prefix. */
  uniqueName(prefix: string): string {
    let name = prefix;
    for (let i = 1; this.usedNames.has(name); i++) name = `${prefix}_${i}`;
    this.usedNames.add(name);
    return name;
  }

  /** Every name taken so far (values, inputs, constants). */
  get names(): ReadonlySet<string> {
    return this.usedNames;
  }

  /** Keeps `names` free of this graph's values: a subgraph's names must not shadow the outer graph's (ONNX). */
  reserveNames(names: Iterable<string>): void {
    for (const n of names) {
      this.usedNames.add(n);
      this.reserved.add(n);
    }
  }

  /**
   * `outer`, a value of the enclosing graph, as a value of this subgraph (read by name: an ONNX outer-scope
   * reference, neither an input nor a copy). Capturing the same value twice gives the same inner value.
   */
  capture(outer: Value): Value {
    if (outer.graph === this) throw new Error(`graph ${this.name}: ${outer.name} is its own value, not an outer one`);
    const seen = this.captures.find((c) => c.outer === outer);
    if (seen) return seen.inner;
    if (this.usedNames.has(outer.name) && !this.reserved.has(outer.name)) {
      throw new Error(`graph ${this.name}: capturing ${outer.name} would shadow its own value of that name (hint: reserveNames first)`);
    }
    const inner = new Value(this, this.nextId++, outer.name, outer.dtype, outer.shape, 'outer');
    this.usedNames.add(outer.name);
    this.captures.push({ inner, outer });
    return inner;
  }

  private claimName(name: string): string {
    if (this.usedNames.has(name)) throw new Error(`graph ${this.name}: the name '${name}' is already used`);
    this.usedNames.add(name);
    return name;
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    const v = new Value(this, this.nextId++, this.claimName(name), dtype, shape, 'input');
    this.inputs.push(v);
    return v;
  }

  /** A float input of the graph's float type. */
  floatInput(name: string, shape: Shape): Value {
    return this.input(name, this.float, shape);
  }

  /** A constant; `half` says which 16-bit float a Uint16Array holds. */
  constant(data: TypedData, shape: Shape, name = 'const', half?: HalfType): Value {
    if ((data instanceof Uint16Array) !== (half !== undefined)) {
      throw new Error(`constant ${name}: a Uint16Array holds float16 or bfloat16 bits and needs its type named`);
    }
    const dtype = half ?? dtypeOfData(data);
    const size = shape.reduce<number>((a, d) => a * (d as number), 1);
    if (shape.some((d) => typeof d !== 'number') || size !== data.length) {
      throw new Error(`constant ${name}: data of length ${data.length} does not fit shape [${shape.join(',')}]`);
    }
    const v = new Value(this, this.nextId++, this.uniqueName(name), dtype, shape, 'constant', null, data);
    this.constants.push(v);
    return v;
  }

  /** A float scalar of the graph's float type (deduplicated). */
  scalar(x: number, dtype: DType = this.float): Value {
    const key = `${dtype}:${Object.is(x, -0) ? '-0' : String(x)}`;
    let v = this.scalarCache.get(key);
    if (!v) {
      v = this.constant(typedArrayOf(dtype, [x]), [], 'c', isHalf(dtype) ? dtype : undefined);
      this.scalarCache.set(key, v);
    }
    return v;
  }

  /** `x` cast to the compute type, once per value (an activation read by several MatMuls is cast once). */
  computeCopy(x: Value): Value {
    if (x.dtype === this.compute) return x;
    let c = this.computeCasts.get(x.id);
    if (!c) {
      const code = this.compute === 'float16' ? 10 : 16; // TensorProto.FLOAT16, BFLOAT16
      c = this.addNode('Cast', [x], [{ dtype: this.compute, shape: x.shape }], { to: { type: 'int', value: code } })[0];
      this.computeCasts.set(x.id, c);
    }
    return c;
  }

  /** A 1-D int64 constant (axes, shapes, indices). */
  ints(values: readonly number[], name = 'ints'): Value {
    return this.constant(BigInt64Array.from(values.map((x) => BigInt(x))), [values.length], name);
  }

  /** Appends a node; `outTypes` gives each output's dtype and shape (shape inference is the op builder's job). */
  addNode(
    op: string,
    inputs: readonly Value[],
    outTypes: readonly { dtype: DType; shape: Shape }[],
    attrs: Record<string, Attr> = {},
    domain = '',
  ): Value[] {
    for (const x of inputs) {
      if (x.graph !== this) throw new Error(`${op}: input ${x.name} belongs to another graph`);
    }
    const outputs: Value[] = [];
    const node: Node = { index: this.nodes.length, op, inputs, outputs, attrs, domain };
    for (const t of outTypes) {
      outputs.push(new Value(this, this.nextId++, this.uniqueName(`${op.toLowerCase()}`), t.dtype, t.shape, 'node', node));
    }
    this.nodes.push(node);
    return outputs;
  }

  /** Marks `value` as a graph output called `name`. */
  output(name: string, value: Value): void {
    if (this.outputs.some((out) => out.name === name)) throw new Error(`graph ${this.name}: output '${name}' declared twice`);
    this.outputs.push({ name, value });
  }
}

export function isHalf(dtype: DType): dtype is HalfType {
  return dtype === 'float16' || dtype === 'bfloat16';
}

export function isFloatType(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || isHalf(dtype);
}

/** IEEE binary16 bits of `x`, rounded to nearest even (overflow -> +-Infinity). */
export function float16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++; // a carry into the exponent is still right
  return sign | r;
}

/** bfloat16 bits of `x` (the top half of its float32 bits), rounded to nearest even. */
export function bfloat16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  if (Number.isNaN(x)) return 0x7fc0;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function dtypeOfData(data: TypedData): DType {
  if (data instanceof Uint16Array) throw new Error('dtypeOfData: a Uint16Array may be float16 or bfloat16; name the type');
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  return 'bool';
}

export function typedArrayOf(dtype: DType, values: readonly number[]): TypedData {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int64':
      return BigInt64Array.from(values.map((x) => BigInt(x)));
    case 'int32':
      return Int32Array.from(values);
    case 'bool':
      return Uint8Array.from(values.map((x) => (x ? 1 : 0)));
    case 'float16':
      return Uint16Array.from(values.map(float16Bits));
    case 'bfloat16':
      return Uint16Array.from(values.map(bfloat16Bits));
  }
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Numpy-style broadcast of two static-or-symbolic shapes; throws naming the op on a mismatch. */
export function broadcastShapes(op: string, a: Shape, b: Shape): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw new Error(`${op}: shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`);
  }
  return out;
}

export function normalizeAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** The sum of two dims: a number when both are, else a symbolic name ("P+T"). */
export function addDims(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  return `${a}+${b}`;
}

/** Number of elements of a static shape, or null when a dim is symbolic. */
export function staticSize(shape: Shape): number | null {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') return null;
    n *= d;
  }
  return n;
}
