// Llama-family parameters under Hugging Face's names and nn.Linear orientation (weight [out, in]), so
// Llama, Qwen2 and Mistral folders load and save as they are: model.embed_tokens, per layer
// input_layernorm, self_attn.{q,k,v,o}_proj (+ biases where the config has them),
// post_attention_layernorm, mlp.{gate,up,down}_proj, then model.norm and lm_head (untied heads only).

import type { LlamaConfig } from './llama-config.js';
import type { ParamInfo } from './params.js';

export const llamaLayerPrefix = (i: number): string => `model.layers.${i}`;
export const LM_HEAD = 'lm_head.weight';
export const EMBED = 'model.embed_tokens.weight';

/** Every parameter in the order safetensors files of the family list them (embeddings, layers, norm, head). */
export function llamaParamInfos(cfg: LlamaConfig): ParamInfo[] {
  const { vocabSize: v, nEmbd: c, nInner: f, nHead, nKvHead, headDim: hd } = cfg;
  const std = 0.02; // initializer_range, as LlamaPreTrainedModel._init_weights
  const w = (name: string, shape: number[]): ParamInfo => ({ name, shape, decay: true, init: { kind: 'normal', std } });
  const b = (name: string, n: number): ParamInfo => ({ name, shape: [n], decay: false, init: { kind: 'zeros' } });
  const norm = (name: string): ParamInfo => ({ name, shape: [c], decay: false, init: { kind: 'ones' } });
  const proj = (name: string, out: number, inp: number, bias: boolean): ParamInfo[] =>
    bias ? [w(`${name}.weight`, [out, inp]), b(`${name}.bias`, out)] : [w(`${name}.weight`, [out, inp])];
  const out: ParamInfo[] = [w(EMBED, [v, c])];
  for (let i = 0; i < cfg.nLayer; i++) {
    const h = llamaLayerPrefix(i);
    out.push(
      norm(`${h}.input_layernorm.weight`),
      ...proj(`${h}.self_attn.q_proj`, nHead * hd, c, cfg.qkvBias),
      ...proj(`${h}.self_attn.k_proj`, nKvHead * hd, c, cfg.qkvBias),
      ...proj(`${h}.self_attn.v_proj`, nKvHead * hd, c, cfg.qkvBias),
      ...proj(`${h}.self_attn.o_proj`, c, nHead * hd, cfg.oBias),
      norm(`${h}.post_attention_layernorm.weight`),
      ...proj(`${h}.mlp.gate_proj`, f, c, cfg.mlpBias),
      ...proj(`${h}.mlp.up_proj`, f, c, cfg.mlpBias),
      ...proj(`${h}.mlp.down_proj`, c, f, cfg.mlpBias),
    );
  }
  out.push(norm('model.norm.weight'));
  if (!cfg.tieWordEmbeddings) out.push(w(LM_HEAD, [v, c]));
  return out;
}
