// A model folder's weights: `model.safetensors`, or shards listed by `model.safetensors.index.json`
// (its weight_map: tensor name -> shard file), read into float32 parameters under the family's names
// (family.ts paramInfos) and checked against the config: every parameter present with its shape, no
// stray tensors. Every error names the file (the shard that holds the tensor) and the tensor or key.

import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ModelConfig } from './config.js';
import { paramInfos } from './family.js';
import { EMBED, LM_HEAD } from './llama-params.js';
import { ModelFileError, readSafetensors, toFloat32, type SafeTensor } from './safetensors.js';

export const WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';

/** A tensor and the file it was read from (errors name that file). */
export interface StoredTensor {
  tensor: SafeTensor;
  file: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

async function readIn(file: string, hint: string, key?: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw new ModelFileError('missing_file', `${file} is missing${key ? ` (it holds ${key})` : ''}`, hint);
  }
}

const exists = (file: string): Promise<boolean> => stat(file).then(() => true, () => false);

/**
 * Every tensor of the folder, by name: from model.safetensors when present, else from the shards the
 * index names (each shard read once; a tensor the index places in a shard that lacks it is an error).
 */
export async function readWeightTensors(dir: string, hint: string): Promise<{ tensors: Map<string, StoredTensor>; where: string }> {
  const single = path.join(dir, WEIGHTS_FILE);
  const indexFile = path.join(dir, WEIGHTS_INDEX_FILE);
  const out = new Map<string, StoredTensor>();
  if ((await exists(single)) || !(await exists(indexFile))) {
    for (const t of readSafetensors(await readIn(single, hint), single).tensors) out.set(t.name, { tensor: t, file: single });
    return { tensors: out, where: single };
  }
  let index: unknown;
  try {
    index = JSON.parse((await readFile(indexFile)).toString('utf8'));
  } catch (e) {
    throw new ModelFileError('bad_config', `${indexFile}: not valid JSON (${(e as Error).message})`);
  }
  const map = isRecord(index) ? index.weight_map : undefined;
  if (!isRecord(map) || !Object.values(map).every((f) => typeof f === 'string')) {
    throw new ModelFileError('bad_config', `${indexFile}: weight_map must map tensor names to shard file names`);
  }
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(map as Record<string, string>)) {
    if (path.basename(shard) !== shard) {
      throw new ModelFileError('bad_config', `${indexFile}: weight_map.${name}: ${shard} is not a file name`);
    }
    byShard.set(shard, [...(byShard.get(shard) ?? []), name]);
  }
  for (const [shard, names] of byShard) {
    const file = path.join(dir, shard);
    const bytes = await readIn(file, `${WEIGHTS_INDEX_FILE} lists this shard; copy every shard of the model`, names[0]);
    const tensors = new Map(readSafetensors(bytes, file).tensors.map((t) => [t.name, t]));
    for (const name of names) {
      const t = tensors.get(name);
      if (!t) throw new ModelFileError('missing_tensor', `${file}: tensor ${name} is missing (${indexFile} places it in ${shard})`);
      out.set(name, { tensor: t, file });
    }
    for (const name of tensors.keys()) {
      if (!names.includes(name)) {
        throw new ModelFileError('unexpected_tensor', `${file}: tensor ${name} is not in ${indexFile}'s weight_map`);
      }
    }
  }
  return { tensors: out, where: indexFile };
}

function allClose(a: Float32Array, b: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= 1e-6 + 1e-5 * Math.abs(b[i]))) return false;
  return true;
}

// HF's GPT2Attention registers the causal mask as buffers; old checkpoints saved them. Not weights.
const GPT_ATTN_BUFFER = /^transformer\.h\.\d+\.attn\.(bias|masked_bias)$/;
// Old Llama checkpoints saved the rotary inverse frequencies as a buffer. Not weights either.
const ROTARY_BUFFER = /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/;

/** Stored names mapped onto the family's, and a tied head's copy split off (checked against the embedding). */
function canonical(
  cfg: ModelConfig,
  stored: ReadonlyMap<string, StoredTensor>,
): { byName: Map<string, StoredTensor>; head: StoredTensor | null } {
  const byName = new Map<string, StoredTensor>();
  let head: StoredTensor | null = null;
  for (const [raw, st] of stored) {
    if (cfg.arch === 'gpt2') {
      if (raw === LM_HEAD) {
        head = st;
        continue;
      }
      // The original `gpt2` upload stores GPT2Model's names (h.0..., wte.weight) without the prefix.
      const name = raw.startsWith('transformer.') ? raw : `transformer.${raw}`;
      if (GPT_ATTN_BUFFER.test(name)) continue;
      if (byName.has(name)) {
        const twice = `${st.file}: tensor ${name} is stored twice (with and without the "transformer." prefix)`;
        throw new ModelFileError('unexpected_tensor', twice);
      }
      byName.set(name, st);
    } else {
      if (ROTARY_BUFFER.test(raw)) continue;
      if (raw === LM_HEAD && cfg.tieWordEmbeddings) {
        head = st;
        continue;
      }
      byName.set(raw, st);
    }
  }
  return { byName, head };
}

/** Float32 parameters from the folder's tensors, checked against the config's parameter list. */
export function paramsFromTensors(cfg: ModelConfig, stored: ReadonlyMap<string, StoredTensor>, where: string): Map<string, Float32Array> {
  const { byName, head } = canonical(cfg, stored);
  const sizes =
    cfg.arch === 'gpt2' ? `n_layer ${cfg.nLayer}, n_embd ${cfg.nEmbd}` : `num_hidden_layers ${cfg.nLayer}, hidden_size ${cfg.nEmbd}`;
  const family = cfg.arch === 'gpt2' ? 'GPT-2' : `${cfg.modelType} model`;
  const params = new Map<string, Float32Array>();
  const expected = new Set<string>();
  for (const info of paramInfos(cfg)) {
    expected.add(info.name);
    const st = byName.get(info.name);
    if (!st) {
      throw new ModelFileError(
        'missing_tensor',
        `${where}: tensor ${info.name} (shape [${info.shape.join(',')}]) is missing`,
        `config.json and the weights must describe the same ${family} (${sizes})`,
      );
    }
    const t = st.tensor;
    if (t.shape.length !== info.shape.length || t.shape.some((d, i) => d !== info.shape[i])) {
      const shapes = `has shape [${t.shape.join(',')}] but config.json implies [${info.shape.join(',')}]`;
      throw new ModelFileError('wrong_shape', `${st.file}: tensor ${t.name} ${shapes}`);
    }
    params.set(info.name, toFloat32(t, st.file));
  }
  const unexpected = [...byName.keys()].filter((n) => !expected.has(n));
  if (unexpected.length > 0) {
    const list = unexpected.slice(0, 5).join(', ') + (unexpected.length > 5 ? `, ... (${unexpected.length} in all)` : '');
    const file = (byName.get(unexpected[0]) as StoredTensor).file;
    const what =
      cfg.arch === 'gpt2' ? `GPT2LMHeadModel weights with n_layer ${cfg.nLayer}` : `${cfg.modelType} causal-LM weights (${sizes})`;
    throw new ModelFileError('unexpected_tensor', `${file}: unexpected tensor ${list}`, `only ${what} are supported`);
  }
  if (head) {
    const embedName = cfg.arch === 'gpt2' ? 'transformer.wte.weight' : EMBED;
    const embed = params.get(embedName) as Float32Array;
    const t = head.tensor;
    const sameShape = t.shape.length === 2 && t.shape[0] === cfg.vocabSize && t.shape[1] === cfg.nEmbd;
    if (!(sameShape && allClose(toFloat32(t, head.file), embed))) {
      const why =
        cfg.arch === 'gpt2'
          ? 'untied LM heads are not supported (the model ties its output layer to the token embedding)'
          : 'config.json says tie_word_embeddings true; set it false for a model with its own head';
      throw new ModelFileError('unexpected_tensor', `${head.file}: tensor ${LM_HEAD} differs from ${embedName}: ${why}`);
    }
  }
  return params;
}
