// Inlining one graph into another at the IR level: the source's live nodes (those its outputs need) and the
// constants they read are copied into the target, its inputs bound by name to values of the target. Used to
// put a whole step graph, and the no-grad log-prob graph before it, inside a Loop body (graph/loop.ts).
// The copy is node for node (same ops, same attributes, same order), so it computes what the source does.

import { type Attr, type Graph, type Value, formatShape } from './ir.js';
import { liveNodes } from './onnx.js';

function checkBinding(src: Graph, input: Value, bound: Value | undefined, into: Graph): Value {
  if (!bound) throw new Error(`inline ${src.name}: its input '${input.name}' is not bound (hint: pass it in the bindings)`);
  if (bound.graph !== into) throw new Error(`inline ${src.name}: the binding of '${input.name}' belongs to another graph`);
  const sameShape = bound.rank === input.rank && input.shape.every((d, i) => typeof d !== 'number' || d === bound.shape[i]);
  if (bound.dtype !== input.dtype || !sameShape) {
    throw new Error(
      `inline ${src.name}: input '${input.name}' is ${input.dtype}${formatShape(input.shape)}, ` +
        `bound to ${bound.dtype}${formatShape(bound.shape)}`,
    );
  }
  return bound;
}

/**
 * Copies what `src`'s outputs need into `into`, each input of `src` (and each outer value it captures) read from
 * `bindings[name]`; returns `src`'s outputs, by name, as values of `into`. Bindings `src` does not read are ignored.
 */
export function inlineGraph(into: Graph, src: Graph, bindings: Readonly<Record<string, Value>>): Map<string, Value> {
  if (src === into) throw new Error(`inline ${src.name}: a graph cannot be inlined into itself`);
  const map = new Map<number, Value>(); // src value id -> value of `into`
  const nodes = liveNodes(src);
  const read = new Set<number>(src.outputs.map((out) => out.value.id));
  for (const n of nodes) for (const x of n.inputs) read.add(x.id);
  for (const x of [...src.inputs, ...src.captures.map((c) => c.inner)]) {
    if (read.has(x.id)) map.set(x.id, checkBinding(src, x, bindings[x.name], into));
  }
  for (const c of src.constants) {
    if (read.has(c.id)) map.set(c.id, into.constant(c.data as NonNullable<Value['data']>, c.shape, c.name));
  }
  for (const n of nodes) {
    const attrs: Record<string, Attr> = {};
    for (const [k, a] of Object.entries(n.attrs)) {
      if (a.type === 'graph') throw new Error(`inline ${src.name}: node ${n.op} has a subgraph; inlining those is not supported`);
      const data = a.type === 'tensor' ? (a.value.data as NonNullable<Value['data']>) : null;
      attrs[k] = a.type === 'tensor' && data ? { type: 'tensor', value: into.constant(data, a.value.shape, a.value.name) } : a;
    }
    const inputs = n.inputs.map((x) => {
      const y = map.get(x.id);
      if (!y) throw new Error(`inline ${src.name}: ${x.name} is read before it is defined`);
      return y;
    });
    const outs = into.addNode(n.op, inputs, n.outputs.map((y) => ({ dtype: y.dtype, shape: y.shape })), attrs, n.domain);
    n.outputs.forEach((y, i) => map.set(y.id, outs[i]));
  }
  const outputs = new Map<string, Value>();
  for (const out of src.outputs) {
    const v = map.get(out.value.id);
    if (!v) throw new Error(`inline ${src.name}: output ${out.name} was not copied`);
    outputs.set(out.name, v);
  }
  return outputs;
}
