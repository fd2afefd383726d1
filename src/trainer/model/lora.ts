// LoRA (Hu et al., 2021) as PEFT lays it out. Each targeted projection W (an nn.Linear [out, in] of the
// Llama family, a Conv1D [in, out] of GPT-2) gains y = W x + b + (alpha / r) · B (A (dropout(x))) with
// A [r, in] initialised like PEFT (kaiming_uniform_(a = √5): uniform ±1/√in) and B [out, r] = 0, so at
// step 0 the policy is the base exactly. The base weights stay frozen graph inputs: only A and B are
// parameters of a training step (gradients, AdamW moments), so the base is in memory once and serves the
// reference policy too (adapters off). Names are the base module's path plus `.lora_A.weight` /
// `.lora_B.weight`; PEFT files prefix them with `base_model.model.` (model/adapter.ts).
// The LoRA term of a forward is lora-graph.ts.

import { AlolError } from '../errors.js';
import { Rng } from '../util/rng.js';
import type { ModelConfig } from './config.js';
import { paramInfos } from './family.js';
import { loraAName, loraBName } from './lora-graph.js';
import type { ParamInfo } from './params.js';

export { loraAName, loraBName };

/** `train.lora` as the run config writes it. */
export interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  /** Module names (`q_proj`, `c_attn`, ...) or every projection but the head. */
  targets: readonly string[] | 'all-linear';
}

/** LoRA resolved against one model: the module paths it adapts, in the model's parameter order. */
export interface LoraSpec {
  readonly r: number;
  readonly alpha: number;
  readonly dropout: number;
  /** Full module paths, e.g. `model.layers.0.self_attn.q_proj` or `transformer.h.0.attn.c_attn`. */
  readonly modules: readonly string[];
  /** The short names targeted (what adapter_config.json's target_modules lists). */
  readonly targetNames: readonly string[];
}

/** A projection LoRA can adapt. */
export interface LinearModule {
  /** Module path (the weight's name without `.weight`). */
  readonly path: string;
  /** Its last name component: `q_proj`, `c_attn`, ... */
  readonly name: string;
  readonly in: number;
  readonly out: number;
  /** GPT-2's Conv1D: the weight is [in, out] (PEFT's fan_in_fan_out). */
  readonly conv1d: boolean;
}

const NOT_LINEAR = new Set(['transformer.wte.weight', 'transformer.wpe.weight', 'model.embed_tokens.weight', 'lm_head.weight']);

/** Every projection of the model (rank-2 weights but embeddings and the LM head), in parameter order. */
export function linearModules(cfg: ModelConfig): LinearModule[] {
  const conv1d = cfg.arch !== 'llama';
  return paramInfos(cfg)
    .filter((p) => p.shape.length === 2 && p.name.endsWith('.weight') && !NOT_LINEAR.has(p.name))
    .map((p) => {
      const path = p.name.slice(0, -'.weight'.length);
      const [a, b] = p.shape;
      return { path, name: path.slice(path.lastIndexOf('.') + 1), in: conv1d ? a : b, out: conv1d ? b : a, conv1d };
    });
}

/** The module names LoRA can target in this model, in order of first appearance. */
export const loraTargetNames = (cfg: ModelConfig): string[] => [...new Set(linearModules(cfg).map((m) => m.name))];

export const loraScale = (spec: Pick<LoraSpec, 'alpha' | 'r'>): number => spec.alpha / spec.r;

/**
 * Resolves `settings` against the model. `where` names the config field in errors (e.g. `train.lora`);
 * an unknown target lists the model's module names.
 */
export function resolveLora(cfg: ModelConfig, settings: LoraSettings, where = 'train.lora'): LoraSpec {
  const known = loraTargetNames(cfg);
  if (!Number.isInteger(settings.r) || settings.r < 1) throw new AlolError('config', `${where}.r must be a positive integer`);
  if (!(settings.dropout >= 0 && settings.dropout < 1)) throw new AlolError('config', `${where}.dropout must be in [0, 1)`);
  const targets = settings.targets === 'all-linear' ? known : [...new Set(settings.targets)];
  if (targets.length === 0) throw new AlolError('config', `${where}.targets is empty`, `use "all-linear" or some of: ${known.join(', ')}`);
  const unknown = targets.filter((t) => !known.includes(t));
  if (unknown.length > 0) {
    const which = unknown.map((t) => `'${t}'`).join(', ');
    throw new AlolError(
      'config',
      `${where}.targets: ${which} ${unknown.length === 1 ? 'is not a module' : 'are not modules'} of this model`,
      `this model's projections are ${known.join(', ')} (or "all-linear")`,
    );
  }
  const modules = linearModules(cfg).filter((m) => targets.includes(m.name)).map((m) => m.path);
  const targetNames = known.filter((t) => targets.includes(t));
  return { r: settings.r, alpha: settings.alpha, dropout: settings.dropout, modules, targetNames };
}

/** The adapter's parameters: per module A [r, in] then B [out, r]. Weight decay applies to both, as PEFT's trainers do. */
export function loraParamInfos(cfg: ModelConfig, spec: LoraSpec): ParamInfo[] {
  const byPath = new Map(linearModules(cfg).map((m) => [m.path, m]));
  return spec.modules.flatMap((path) => {
    const m = byPath.get(path);
    if (!m) throw new Error(`LoRA: the model has no projection ${path}`);
    return [
      { name: loraAName(path), shape: [spec.r, m.in], decay: true, init: { kind: 'normal', std: 0 } },
      { name: loraBName(path), shape: [m.out, spec.r], decay: true, init: { kind: 'zeros' } },
    ] satisfies ParamInfo[];
  });
}

/** A fresh adapter: A uniform in ±1/√in (PEFT's kaiming_uniform_(a=√5)), B = 0. Seeded. */
export function initLoraParams(cfg: ModelConfig, spec: LoraSpec, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const info of loraParamInfos(cfg, spec)) {
    const data = new Float32Array(info.shape[0] * info.shape[1]);
    if (info.init.kind !== 'zeros') {
      const bound = 1 / Math.sqrt(info.shape[1]);
      for (let i = 0; i < data.length; i++) data[i] = (2 * rng.next() - 1) * bound;
    }
    out.set(info.name, data);
  }
  return out;
}

/** Trainable parameters of an adapter (A and B of every module). */
export const countLoraParams = (cfg: ModelConfig, spec: LoraSpec): number =>
  loraParamInfos(cfg, spec).reduce((a, p) => a + p.shape[0] * p.shape[1], 0);

/**
 * The base with the adapter merged in: W + (alpha / r) · B A (transposed for Conv1D), computed in float64
 * per element and rounded once. Parameters LoRA does not touch are shared with `base`, not copied.
 */
export function mergeLora(
  cfg: ModelConfig,
  base: ReadonlyMap<string, Float32Array>,
  spec: LoraSpec,
  adapter: ReadonlyMap<string, Float32Array>,
): Map<string, Float32Array> {
  const out = new Map(base);
  const byPath = new Map(linearModules(cfg).map((m) => [m.path, m]));
  const scale = loraScale(spec);
  const r = spec.r;
  for (const path of spec.modules) {
    const m = byPath.get(path);
    const w = base.get(`${path}.weight`);
    const a = adapter.get(loraAName(path));
    const b = adapter.get(loraBName(path));
    if (!m || !w || !a || !b) throw new Error(`LoRA merge: ${path} is missing from the base or the adapter`);
    const merged = new Float32Array(w.length);
    const row = new Float64Array(m.in);
    for (let j = 0; j < m.out; j++) {
      row.fill(0);
      for (let k = 0; k < r; k++) {
        const bjk = b[j * r + k];
        if (bjk === 0) continue;
        const ak = k * m.in;
        for (let i = 0; i < m.in; i++) row[i] += bjk * a[ak + i];
      }
      for (let i = 0; i < m.in; i++) {
        const at = m.conv1d ? i * m.out + j : j * m.in + i; // Conv1D [in, out]; Linear [out, in]
        merged[at] = w[at] + scale * row[i];
      }
    }
    out.set(`${path}.weight`, merged);
  }
  return out;
}
