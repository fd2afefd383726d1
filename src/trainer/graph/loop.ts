// K optimizer steps in one graph: an ONNX Loop whose body is a whole `update` step graph (optim.ts), inlined.
// The runtime then feeds parameters and AdamW moments once and reads them back once per K steps, which is
// what a provider without device-resident outputs in Node (CUDA) needs to keep them off the bus between steps.
//
// Inputs:  P, adam.m.P, adam.v.P (as the step's), step [] (the first step's number), lr [K],
//          every other step input stacked along a new first axis: ids [K, B, T], mask [K, B, T], coef [K, B], ...
//          except `shared` ones (fed once, read by every step: LoRA's frozen base) and those a pass computes;
//          a pass's inputs renamed to names the step does not take are stacked inputs too (kto: kl_ids [K, B, T']).
// Outputs: new.P, new.adam.m.P, new.adam.v.P (after the K-th step), new.step, and each other step output
//          stacked per step: loss [K], grad_norm [K], clip_coef [K], mean_weight [K], seq_logprob [K, B], ...
//
// Body: (iter, cond, step, P..., moments...) -> (cond, step + 1, new P..., new moments..., per-step outputs...).
// The stacked batch inputs are read in the body as outer-scope references and sliced with Gather(iter): carrying
// them instead would make them loop state, copied from one iteration to the next for nothing.
// A pass (e.g. the no-grad log-prob graph, model/gpt-graphs.ts buildLogprobGraph) is inlined into the body before
// the step, on the body's current parameters, so a step input it feeds (policy_token_logp) is what the trainer
// would compute before that step: the same inference graph, so importance weights are exactly 1 at step 0.

import { Graph, type Value } from './ir.js';
import { inlineGraph } from './inline.js';
import { momentName, newName } from './optim.js';
import * as o from './ops.js';

/** A graph run in each iteration before the step, e.g. the policy's no-grad log-probs. */
export interface LoopPass {
  readonly graph: Graph;
  /** Step input -> the pass output that feeds it (e.g. { policy_token_logp: 'token_logprob' }). */
  readonly feeds: Readonly<Record<string, string>>;
  /**
   * Pass input -> the input it reads, where not the same name (kto's second pass: { ids: 'kl_ids', ... }). A name the
   * step does not take becomes a stacked input of the loop graph.
   */
  readonly inputs?: Readonly<Record<string, string>>;
}

export interface LoopOptions {
  /** Steps per run, K >= 1. */
  steps: number;
  /** Step inputs fed once and read unchanged by every step (LoRA's frozen base weights). */
  shared?: readonly string[];
  /** Graphs inlined before the step in every iteration; their inputs are bound by name like the step's. */
  passes?: readonly LoopPass[];
}

/** The name of the final step counter output (the step inputs' `step` after K updates). */
export const NEXT_STEP = newName('step');

interface Roles {
  /** Parameters and their moments, in the step graph's input order: carried through the loop. */
  state: Value[];
  shared: Value[];
  stacked: Value[];
  fromPass: Set<string>;
}

function rolesOf(step: Graph, opts: LoopOptions): Roles {
  const names = new Set(step.inputs.map((v) => v.name));
  for (const bad of ['grad_scale', 'lr', 'step']) {
    if (bad === 'grad_scale' ? names.has(bad) : !names.has(bad)) {
      throw new Error(
        `buildLoopGraph: ${step.name} is not an 'update' step graph (${bad === 'grad_scale' ? 'it accumulates' : `no '${bad}' input`}); ` +
          'hint: K steps per run take one micro-batch per step (no gradient accumulation)',
      );
    }
  }
  const params = new Set(step.inputs.filter((v) => names.has(momentName('m', v.name))).map((v) => v.name));
  if (params.size === 0) throw new Error(`buildLoopGraph: ${step.name} has no parameter with AdamW moments`);
  const isState = (n: string): boolean =>
    params.has(n) || [...params].some((p) => n === momentName('m', p) || n === momentName('v', p));
  const shared = new Set(opts.shared ?? []);
  for (const n of shared) if (!names.has(n)) throw new Error(`buildLoopGraph: shared input '${n}' is not an input of ${step.name}`);
  const fromPass = new Set<string>();
  for (const pass of opts.passes ?? []) {
    for (const [input, output] of Object.entries(pass.feeds)) {
      if (!names.has(input)) throw new Error(`buildLoopGraph: pass ${pass.graph.name} feeds '${input}', not an input of ${step.name}`);
      if (!pass.graph.outputs.some((out) => out.name === output)) {
        throw new Error(`buildLoopGraph: ${pass.graph.name} has no output '${output}'`);
      }
      fromPass.add(input);
    }
  }
  const rest = step.inputs.filter((v) => !isState(v.name) && !shared.has(v.name) && !fromPass.has(v.name));
  return {
    state: step.inputs.filter((v) => isState(v.name)),
    shared: step.inputs.filter((v) => shared.has(v.name)),
    stacked: rest.filter((v) => v.name !== 'lr' && v.name !== 'step'),
    fromPass,
  };
}

/** A graph running K `update` steps of `step` (any objective) in one ONNX Loop; inputs and outputs at the top. */
export function buildLoopGraph(step: Graph, opts: LoopOptions): Graph {
  const k = opts.steps;
  if (!Number.isInteger(k) || k < 1) throw new Error(`buildLoopGraph: steps must be an integer >= 1 (got ${k})`);
  const roles = rolesOf(step, opts);
  // inputs only passes read (renamed), stacked like the step's batch inputs
  const passOnly = new Map<string, Value>();
  for (const pass of opts.passes ?? []) {
    for (const v of pass.graph.inputs) {
      const name = pass.inputs?.[v.name] ?? v.name;
      const known = step.inputs.find((s) => s.name === name) ?? passOnly.get(name);
      if (!known) passOnly.set(name, v);
      else if (known.dtype !== v.dtype) throw new Error(`buildLoopGraph: '${name}' is ${known.dtype} in one graph, ${v.dtype} in another`);
    }
  }
  const stepIn = step.inputs.find((v) => v.name === 'step') as Value;
  const lrIn = step.inputs.find((v) => v.name === 'lr') as Value;
  const g = new Graph({ float: step.float, name: `${step.name}_x${k}` });

  // outer inputs, in the step graph's order
  const outer = new Map<string, Value>();
  for (const v of step.inputs) {
    if (roles.fromPass.has(v.name)) continue;
    const stacked = v.name === 'lr' || roles.stacked.includes(v);
    outer.set(v.name, g.input(v.name, v.dtype, stacked ? [k, ...v.shape] : v.shape));
  }
  for (const [name, v] of passOnly) outer.set(name, g.input(name, v.dtype, [k, ...v.shape]));

  const body = new Graph({ float: step.float, name: `${step.name}_body` });
  body.reserveNames(g.names);
  const iter = body.input('iter', 'int64', []);
  const condIn = body.input('cond_in', 'bool', []);
  const stepNow = body.input('carried.step', stepIn.dtype, stepIn.shape);
  const bind: Record<string, Value> = { step: stepNow };
  for (const v of roles.state) bind[v.name] = body.input(`carried.${v.name}`, v.dtype, v.shape);
  for (const v of roles.shared) bind[v.name] = body.capture(outer.get(v.name) as Value);
  for (const name of [lrIn.name, ...roles.stacked.map((v) => v.name), ...passOnly.keys()]) {
    bind[name] = o.gather(body.capture(outer.get(name) as Value), iter, 0);
  }
  for (const pass of opts.passes ?? []) {
    const passBind: Record<string, Value> = {};
    for (const v of pass.graph.inputs) passBind[v.name] = bind[pass.inputs?.[v.name] ?? v.name];
    const out = inlineGraph(body, pass.graph, passBind);
    for (const [input, output] of Object.entries(pass.feeds)) bind[input] = out.get(output) as Value;
  }
  const stepOut = inlineGraph(body, step, bind);

  body.output('cond_out', o.identity(condIn));
  body.output('next.step', o.add(stepNow, 1));
  for (const v of roles.state) {
    const next = stepOut.get(newName(v.name));
    if (!next) throw new Error(`buildLoopGraph: ${step.name} has no output ${newName(v.name)}`);
    body.output(`next.${v.name}`, next);
  }
  const perStep = step.outputs.filter((out) => !roles.state.some((v) => out.name === newName(v.name)));
  for (const out of perStep) body.output(`each.${out.name}`, stepOut.get(out.name) as Value);

  g.reserveNames(body.names);
  const tripCount = g.constant(BigInt64Array.of(BigInt(k)), [], 'trip_count');
  const always = g.constant(Uint8Array.of(1), [], 'always');
  const carried = [outer.get('step') as Value, ...roles.state.map((v) => outer.get(v.name) as Value)];
  const outs = g.addNode(
    'Loop',
    [tripCount, always, ...carried],
    [
      ...carried.map((v) => ({ dtype: v.dtype, shape: v.shape })),
      ...perStep.map((out) => ({ dtype: out.value.dtype, shape: [k, ...out.value.shape] })),
    ],
    { body: { type: 'graph', value: body } },
  );
  g.output(NEXT_STEP, outs[0]);
  roles.state.forEach((v, i) => g.output(newName(v.name), outs[1 + i]));
  perStep.forEach((out, i) => g.output(out.name, outs[1 + roles.state.length + i]));
  return g;
}
