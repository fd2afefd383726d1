// Serialization of a Graph to an ONNX ModelProto (the bytes a runtime session loads), through the
// `onnx-proto` package's generated protobuf classes. The only module that knows ONNX protobuf.
// Nodes that no output needs (e.g. gradients nobody asked for) are pruned here. A node with a subgraph
// (a Loop's body) serializes it as a GraphProto attribute; the body reads outer values by name.

import { onnx } from 'onnx-proto';
import type { Attr, DType, Graph, Node, Shape, TypedData, Value } from './ir.js';

export const MIN_OPSET = 18;
export const MAX_OPSET = 26;

// ONNX IR version that goes with each opset (onnx.helper.VERSION_TABLE): an older IR version
// than the opset needs is rejected by loaders.
function irVersionFor(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  if (opset <= 23) return 11;
  if (opset <= 24) return 11;
  return 12;
}

const elemType: Record<DType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  float16: onnx.TensorProto.DataType.FLOAT16,
  bfloat16: onnx.TensorProto.DataType.BFLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
};

export interface SerializeOptions {
  opset?: number;
  producerName?: string;
  /** Extra key/value strings stored in the model's metadata_props. */
  metadata?: Record<string, string>;
}

function valueInfo(name: string, dtype: DType, shape: Shape): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: elemType[dtype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function tensorProto(name: string, dtype: DType, shape: Shape, data: TypedData): onnx.ITensorProto {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return { name, dataType: elemType[dtype], dims: shape.map((d) => d as number), rawData: bytes };
}

function attribute(name: string, a: Attr): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case 'tensor':
      return { name, type: T.TENSOR, t: tensorProto(a.value.name, a.value.dtype, a.value.shape, a.value.data as TypedData) };
    case 'graph':
      return { name, type: T.GRAPH, g: graphProto(a.value, `${a.value.name}/`) };
  }
}

/** What a node reads: its inputs and, through its subgraphs' captures, values of its graph read by name. */
export function nodeReads(n: Node): Value[] {
  const reads = [...n.inputs];
  for (const a of Object.values(n.attrs)) if (a.type === 'graph') reads.push(...a.value.captures.map((c) => c.outer));
  return reads;
}

/** Nodes needed to compute the graph's outputs, in topological order. */
export function liveNodes(g: Graph): Node[] {
  const needed = new Set<number>(g.outputs.map((out) => out.value.id));
  const keep: Node[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const node = g.nodes[i];
    if (!node.outputs.some((y) => needed.has(y.id))) continue;
    keep.push(node);
    for (const x of nodeReads(node)) needed.add(x.id);
  }
  return keep.reverse();
}

/** The graph (a model's, or a subgraph) with its live nodes, the constants they read and renames of its outputs. */
function graphProto(g: Graph, nodePrefix = ''): onnx.IGraphProto {
  if (g.outputs.length === 0) throw new Error(`graph ${g.name} has no outputs`);
  const nodes = liveNodes(g);

  // An output named differently from its value gets an Identity node; the same value can be two outputs.
  const renames: onnx.INodeProto[] = [];
  const outputs: onnx.IValueInfoProto[] = [];
  for (const out of g.outputs) {
    if (out.name !== out.value.name) {
      renames.push({ opType: 'Identity', input: [out.value.name], output: [out.name], name: `${nodePrefix}out_${out.name}` });
    }
    outputs.push(valueInfo(out.name, out.value.dtype, out.value.shape));
  }

  const used = new Set<number>();
  for (const n of nodes) for (const x of nodeReads(n)) used.add(x.id);
  for (const out of g.outputs) used.add(out.value.id);

  const graph: onnx.IGraphProto = {
    name: g.name,
    input: g.inputs.map((v) => valueInfo(v.name, v.dtype, v.shape)),
    output: outputs,
    initializer: g.constants.filter((c) => used.has(c.id)).map((c) => tensorProto(c.name, c.dtype, c.shape, c.data as TypedData)),
    node: [
      ...nodes.map((n, i) => ({
        opType: n.op === 'StopGradient' ? 'Identity' : n.op,
        domain: n.domain,
        name: `${nodePrefix}n${i}_${n.op}`,
        input: n.inputs.map((x) => x.name),
        output: n.outputs.map((y) => y.name),
        attribute: Object.entries(n.attrs).map(([k, a]) => attribute(k, a)),
      })),
      ...renames,
    ],
  };
  return graph;
}

/** Operator domains other than the default one, in `g` and its subgraphs. */
function customDomains(g: Graph, into = new Set<string>()): Set<string> {
  for (const n of liveNodes(g)) {
    if (n.domain !== '') into.add(n.domain);
    for (const a of Object.values(n.attrs)) if (a.type === 'graph') customDomains(a.value, into);
  }
  return into;
}

export function toModelProto(g: Graph, options: SerializeOptions = {}): onnx.ModelProto {
  const opset = options.opset ?? MIN_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new Error(`opset ${opset} is not supported (use ${MIN_OPSET}..${MAX_OPSET})`);
  }
  if (g.captures.length > 0) throw new Error(`graph ${g.name} reads outer values (${g.captures[0].outer.name}): it is a subgraph`);
  const graph = graphProto(g);
  const domains = customDomains(g);
  return onnx.ModelProto.create({
    irVersion: irVersionFor(opset),
    producerName: options.producerName ?? 'alol-studio',
    opsetImport: [{ domain: '', version: opset }, ...[...domains].map((domain) => ({ domain, version: 1 }))],
    graph,
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
}

/** The model as bytes, for the runtime's session pool (runtime/pool.ts) to load. */
export function serialize(g: Graph, options: SerializeOptions = {}): Uint8Array {
  return onnx.ModelProto.encode(toModelProto(g, options)).finish();
}
