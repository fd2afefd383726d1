// GPT-2 hyperparameters, named as in Hugging Face's GPT2Config so model folders map one to one.

export interface GptConfig {
  /** The model family (model/config.ts's union is discriminated by it). */
  arch: 'gpt2';
  vocabSize: number;
  /** Maximum sequence length (learned position embeddings). */
  nPositions: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  /** MLP width; GPT-2's null means 4 * nEmbd. */
  nInner: number;
  layerNormEpsilon: number;
}

export function gptConfig(
  c: Partial<Omit<GptConfig, 'arch'>> & Pick<GptConfig, 'vocabSize' | 'nEmbd' | 'nLayer' | 'nHead'>,
): GptConfig {
  const cfg: GptConfig = {
    arch: 'gpt2',
    nPositions: 1024,
    nInner: 4 * c.nEmbd,
    layerNormEpsilon: 1e-5,
    ...c,
  };
  validateGptConfig(cfg);
  return cfg;
}

export function validateGptConfig(cfg: GptConfig): void {
  const positive = ['vocabSize', 'nPositions', 'nEmbd', 'nLayer', 'nHead', 'nInner'] as const;
  for (const k of positive) {
    if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) throw new Error(`model config: ${k} must be a positive integer (got ${cfg[k]})`);
  }
  if (cfg.nEmbd % cfg.nHead !== 0) throw new Error(`model config: nEmbd ${cfg.nEmbd} is not divisible by nHead ${cfg.nHead}`);
  if (!(cfg.layerNormEpsilon > 0)) throw new Error('model config: layerNormEpsilon must be positive');
}

/** Parameter count (tied LM head counted once). */
export function paramCount(cfg: GptConfig): number {
  const { vocabSize: v, nPositions: p, nEmbd: c, nLayer: l, nInner: f } = cfg;
  const block = 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + 2 * c + (c * f + f) + (f * c + c);
  return v * c + p * c + l * block + 2 * c;
}
