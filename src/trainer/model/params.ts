// GPT-2 parameters under Hugging Face's names and orientation (Conv1D: weight [in, out]), so model
// folders load both ways. The LM head is tied to transformer.wte.weight and has no tensor of its own.
// Also what every family's parameter list is made of (ParamInfo) and the seeded init and ORT feeds
// of any such list (family.ts applies them to the Llama family's).

import { type OrtTensor, tensor } from '../runtime/session.js';
import { Rng } from '../util/rng.js';
import type { GptConfig } from './gpt-config.js';

export interface ParamInfo {
  readonly name: string;
  readonly shape: readonly number[];
  /** AdamW weight decay applies (matrices and embeddings, as nanoGPT; not biases or LayerNorm). */
  readonly decay: boolean;
  readonly init: { kind: 'normal'; std: number } | { kind: 'zeros' } | { kind: 'ones' };
}

export const blockPrefix = (i: number): string => `transformer.h.${i}`;

export function gptParamInfos(cfg: GptConfig): ParamInfo[] {
  const { vocabSize: v, nPositions: p, nEmbd: c, nInner: f, nLayer } = cfg;
  const std = 0.02;
  const projStd = 0.02 / Math.sqrt(2 * nLayer); // GPT-2: residual projections scaled by depth
  const w = (name: string, shape: number[], s = std): ParamInfo => ({ name, shape, decay: true, init: { kind: 'normal', std: s } });
  const b = (name: string, n: number): ParamInfo => ({ name, shape: [n], decay: false, init: { kind: 'zeros' } });
  const ln = (name: string): ParamInfo[] => [
    { name: `${name}.weight`, shape: [c], decay: false, init: { kind: 'ones' } },
    b(`${name}.bias`, c),
  ];
  const out: ParamInfo[] = [w('transformer.wte.weight', [v, c]), w('transformer.wpe.weight', [p, c])];
  for (let i = 0; i < nLayer; i++) {
    const h = blockPrefix(i);
    out.push(
      ...ln(`${h}.ln_1`),
      w(`${h}.attn.c_attn.weight`, [c, 3 * c]),
      b(`${h}.attn.c_attn.bias`, 3 * c),
      w(`${h}.attn.c_proj.weight`, [c, c], projStd),
      b(`${h}.attn.c_proj.bias`, c),
      ...ln(`${h}.ln_2`),
      w(`${h}.mlp.c_fc.weight`, [c, f]),
      b(`${h}.mlp.c_fc.bias`, f),
      w(`${h}.mlp.c_proj.weight`, [f, c], projStd),
      b(`${h}.mlp.c_proj.bias`, c),
    );
  }
  out.push(...ln('transformer.ln_f'));
  return out;
}

/** Freshly initialised parameters (seeded), in the order of `infos`. */
export function initFromInfos(infos: readonly ParamInfo[], seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const params = new Map<string, Float32Array>();
  for (const info of infos) {
    const n = info.shape.reduce((a, x) => a * x, 1);
    const data = new Float32Array(n);
    if (info.init.kind === 'ones') data.fill(1);
    else if (info.init.kind === 'normal') for (let i = 0; i < n; i++) data[i] = info.init.std * rng.normal();
    params.set(info.name, data);
  }
  return params;
}

/** Parameters as ORT feeds (no copy), checked against `infos`; `who` names the caller in errors. */
export function feedsFromInfos(
  infos: readonly ParamInfo[],
  params: ReadonlyMap<string, Float32Array>,
  who: string,
): Record<string, OrtTensor> {
  const feeds: Record<string, OrtTensor> = {};
  for (const info of infos) {
    const data = params.get(info.name);
    if (!data) throw new Error(`${who}: parameters lack ${info.name}`);
    feeds[info.name] = tensor('float32', data, info.shape);
  }
  return feeds;
}

/** Freshly initialised GPT parameters (seeded), in the order of gptParamInfos. */
export const initGptParams = (cfg: GptConfig, seed: number): Map<string, Float32Array> => initFromInfos(gptParamInfos(cfg), seed);

/** GPT parameters as ORT feeds (no copy). */
export const gptParamFeeds = (cfg: GptConfig, params: ReadonlyMap<string, Float32Array>, who: string): Record<string, OrtTensor> =>
  feedsFromInfos(gptParamInfos(cfg), params, who);
