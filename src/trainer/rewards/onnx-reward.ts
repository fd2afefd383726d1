// An `onnx` reward: a sequence classifier from a local folder — model.onnx with inputs input_ids and
// attention_mask (int64 [B, T]) and output logits [B, labels], tokenizer.json, and config.json whose
// id2label names the label; the score is that label's softmax probability, in [0, 1]. Texts are
// right-truncated to the model's length (max_position_embeddings or n_positions, else 512).

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SessionPool, poolKey } from '../runtime/pool.js';
import { type Provider, type Session, tensor } from '../runtime/session.js';
import { type TextTokenizer, loadTokenizer } from '../model/tokenizer.js';

async function readIn(dir: string, name: string): Promise<Buffer> {
  const file = path.join(dir, name);
  return readFile(file).catch((e: NodeJS.ErrnoException) => {
    const missing = 'is missing (the folder needs model.onnx, tokenizer.json and config.json)';
    throw new Error(`onnx reward: ${file} ${e.code === 'ENOENT' ? missing : `cannot be read (${e.code})`}`);
  });
}

export interface OnnxRewardOptions {
  /** Where the session comes from (the run's pool); without one the reward keeps a pool of its own. */
  pool?: SessionPool;
  /** For a pool of its own (a given pool has its own provider and threads). */
  provider?: Provider;
  threads?: number;
}

export class OnnxReward {
  private constructor(
    readonly dir: string,
    private readonly session: Session,
    /** The pool made for this reward alone, released by dispose(); null when the pool was given. */
    private readonly ownPool: SessionPool | null,
    private readonly tokenizer: TextTokenizer,
    readonly labelIndex: number,
    readonly maxLen: number,
    readonly padId: number,
    readonly fingerprint: string,
  ) {}

  static async load(dir: string, label: string, options: OnnxRewardOptions = {}): Promise<OnnxReward> {
    const configFile = path.join(dir, 'config.json');
    const [modelBytes, tokBytes, cfgBytes] = await Promise.all([
      readIn(dir, 'model.onnx'),
      readIn(dir, 'tokenizer.json'),
      readIn(dir, 'config.json'),
    ]);
    let cfg: Record<string, unknown>;
    try {
      cfg = JSON.parse(cfgBytes.toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`onnx reward: ${configFile}: not valid JSON (${(e as Error).message})`);
    }
    const id2label = cfg.id2label;
    if (typeof id2label !== 'object' || id2label === null) throw new Error(`onnx reward: ${configFile} has no id2label mapping`);
    const entries = Object.entries(id2label as Record<string, unknown>);
    const hit = entries.find(([, v]) => v === label);
    if (!hit) {
      const labels = entries.map(([, v]) => String(v)).join(', ');
      throw new Error(`onnx reward: label '${label}' is not in ${configFile} (labels: ${labels})`);
    }
    // The model's own file is the graph (dynamic shapes [B, T]): its path names it, for the time a pool lives.
    const modelFile = path.join(dir, 'model.onnx');
    const key = poolKey('onnx-reward', { file: modelFile, bytes: modelBytes.length });
    const ownPool = options.pool ? null : new SessionPool({ provider: options.provider, threads: options.threads });
    try {
      const session = await (options.pool ?? (ownPool as SessionPool)).get(key, () => modelBytes);
      for (const name of ['input_ids', 'attention_mask']) {
        if (!session.inputNames.includes(name)) {
          throw new Error(`onnx reward: ${modelFile} has no input named '${name}' (inputs: ${session.inputNames.join(', ')})`);
        }
      }
      if (!session.outputNames.includes('logits')) {
        throw new Error(`onnx reward: ${modelFile} has no output named 'logits' (outputs: ${session.outputNames.join(', ')})`);
      }
      const tokenizer = loadTokenizer(JSON.parse(tokBytes.toString('utf8')), path.join(dir, 'tokenizer.json'));
      const maxLen = Number(cfg.max_position_embeddings ?? cfg.n_positions ?? 512);
      const padId = Number(cfg.pad_token_id ?? tokenizer.eosTokenId ?? 0);
      const fingerprint = createHash('sha256').update(modelBytes).update(tokBytes).update(label).digest('hex').slice(0, 16);
      return new OnnxReward(dir, session, ownPool, tokenizer, Number(hit[0]), maxLen, padId, fingerprint);
    } catch (e) {
      await ownPool?.release(); // a given pool keeps what it made: its owner releases it
      throw e;
    }
  }

  /** Probability of the label for each text. */
  async score(texts: readonly string[]): Promise<number[]> {
    if (texts.length === 0) return [];
    const encoded = texts.map((t) => {
      const ids = this.tokenizer.encode(t).slice(0, this.maxLen);
      return ids.length ? ids : [this.padId]; // an empty text still needs one token
    });
    const b = encoded.length;
    const t = Math.max(...encoded.map((e) => e.length));
    const ids = new BigInt64Array(b * t).fill(BigInt(this.padId));
    const mask = new BigInt64Array(b * t);
    encoded.forEach((e, r) => e.forEach((id, j) => {
      ids[r * t + j] = BigInt(id);
      mask[r * t + j] = 1n;
    }));
    const out = await this.session.run({
      input_ids: tensor('int64', ids, [b, t]),
      attention_mask: tensor('int64', mask, [b, t]),
    });
    const logits = out.logits;
    const labels = logits.dims[logits.dims.length - 1];
    if (logits.dims.length !== 2 || logits.dims[0] !== b || this.labelIndex >= labels) {
      throw new Error(`onnx reward: ${this.dir}: logits have shape [${logits.dims.join(', ')}], expected [${b}, >${this.labelIndex}]`);
    }
    const data = logits.data as Float32Array;
    return encoded.map((_, r) => {
      const row = data.subarray(r * labels, (r + 1) * labels);
      const max = Math.max(...row);
      const z = row.reduce((a, x) => a + Math.exp(x - max), 0);
      return Math.exp(row[this.labelIndex] - max) / z;
    });
  }

  /** Releases the session when its pool is the reward's own (a given pool is its owner's to release). */
  async dispose(): Promise<void> {
    await this.ownPool?.release();
  }
}
