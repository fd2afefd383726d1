// The model verbs of the `alol` CLI: init-model, pretrain, logprobs, generate (export-onnx and merge-adapter:
// export-verbs.ts).
// Each is a thin layer over src/trainer/model; flags and names are kept stable for later issues.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { readJsonl } from '../data/jsonl.js';
import { AlolError } from '../errors.js';
import { DEFAULT_ADAMW } from '../graph/optim.js';
import type { DeviceRequest } from '../runtime/device.js';
import type { ComputeType } from '../graph/ir.js';
import { loadCheckpoint, saveCheckpoint } from '../model/checkpoint.js';
import { type ModelConfig, describeConfig } from '../model/config.js';
import { countParams, initParams } from '../model/family.js';
import { gptConfig } from '../model/gpt-config.js';
import { llamaConfig } from '../model/llama-config.js';
import { loadModelWithAdapter } from '../model/adapter.js';
import { type ModelFolder, saveModelFolder } from '../model/folder.js';
import { Generator } from '../model/generate.js';
import { DEFAULT_LM, type LmOptions, type LmSnapshot, trainLm } from '../model/lm.js';
import { LogprobScorer } from '../model/logprobs.js';
import type { ScheduleKind } from '../model/schedule.js';
import { folderTokenizer } from '../model/hf-files.js';
import { type TextTokenizer, byteLevelTokenizer } from '../model/tokenizer.js';
import { promptIds, responseIds } from '../data/tokenize.js';
import { writeFileAtomic } from '../util/atomic.js';
import { PRECISION_HELP, collect, device, int, num, oneOf, precision, providerFor } from './options.js';
import { progressBar } from './progress.js';

export const ADAPTER_HELP = 'a LoRA adapter folder (PEFT layout) merged into --model first';

interface RuntimeFlags {
  device: DeviceRequest;
  threads: number;
}

function withRuntime(cmd: Command): Command {
  return cmd
    .option('--device <name>', 'auto | cpu | cuda | webgpu', device, 'auto')
    .option('--threads <n>', 'CPU threads for ONNX Runtime', int(1), 2);
}

/** A model folder, or a base with a LoRA adapter merged in (--adapter, or an adapter folder as --model). */
export async function openModel(dir: string, adapterDir?: string): Promise<{ model: ModelFolder; tokenizer: TextTokenizer }> {
  const { model } = await loadModelWithAdapter(dir, adapterDir);
  return { model, tokenizer: folderTokenizer(model) };
}

interface InitModelFlags {
  out: string;
  arch: 'gpt2' | 'llama';
  layers: number;
  embd: number;
  heads: number;
  kvHeads?: number;
  inner?: number;
  ropeTheta: number;
  tieEmbeddings: boolean;
  positions: number;
  seed: number;
}

/** The config `init-model` writes: GPT-2, or a Llama-layout model (GQA when --kv-heads < --heads). */
export function initConfig(flags: Omit<InitModelFlags, 'out' | 'seed'>, vocabSize: number): ModelConfig {
  const { positions: nPositions, embd: nEmbd, layers: nLayer, heads: nHead } = flags;
  if (flags.arch === 'gpt2') {
    const llamaOnly = (['kvHeads', 'inner'] as const).filter((k) => flags[k] !== undefined);
    if (llamaOnly.length || flags.tieEmbeddings) {
      throw new AlolError('model', 'init-model: --kv-heads, --inner and --tie-embeddings are Llama options', 'add --arch llama');
    }
    return gptConfig({ vocabSize, nPositions, nEmbd, nLayer, nHead });
  }
  if (nEmbd % nHead !== 0) throw new AlolError('model', `init-model: --embd ${nEmbd} is not a multiple of --heads ${nHead}`);
  const nKvHead = flags.kvHeads ?? nHead;
  if (nHead % nKvHead !== 0) throw new AlolError('model', `init-model: --kv-heads ${nKvHead} must divide --heads ${nHead}`);
  return llamaConfig({
    vocabSize, nPositions, nEmbd, nLayer, nHead, nKvHead, ...(flags.inner ? { nInner: flags.inner } : {}),
    ropeTheta: flags.ropeTheta, tieWordEmbeddings: flags.tieEmbeddings,
  });
}

async function initModel(flags: InitModelFlags): Promise<void> {
  const tok = byteLevelTokenizer();
  const cfg = initConfig(flags, tok.vocabSize);
  await saveModelFolder(flags.out, {
    config: cfg,
    params: initParams(cfg, flags.seed),
    tokenizerJson: tok.toJSON(),
    extraConfig: { bos_token_id: tok.eosTokenId, eos_token_id: tok.eosTokenId },
  });
  console.log(`wrote ${flags.out}: ${describeConfig(cfg)}; ${(countParams(cfg) / 1e6).toFixed(2)}M parameters, byte-level tokenizer`);
}

interface PretrainFlags extends RuntimeFlags {
  precision: ComputeType;
  model?: string;
  text: string;
  steps: number;
  out: string;
  batchSize: number;
  seqLen?: number;
  lr: number;
  schedule: ScheduleKind;
  warmup: number;
  gradAccum: number;
  evalEvery: number;
  heldout: number;
  seed: number;
  checkpointEvery: number;
  resume?: string;
}

async function pretrain(flags: PretrainFlags): Promise<void> {
  if (!flags.model && !flags.resume) {
    throw new Error('pretrain needs --model <dir> (a model folder to start from) or --resume <checkpoint>');
  }
  const resumed = flags.resume ? await loadCheckpoint(flags.resume) : null;
  const { model, tokenizer } = resumed
    ? { model: resumed.model, tokenizer: folderTokenizer(resumed.model) }
    : await openModel(flags.model as string);
  const text = await readFile(flags.text, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${flags.text}: ${e.code ?? e.message}`);
  });
  const ids = Int32Array.from(tokenizer.encode(text));
  const cut = Math.floor(ids.length * (1 - flags.heldout));
  const seqLen = flags.seqLen ?? Math.min(128, model.config.nPositions);
  if (cut < seqLen + 2 || ids.length - cut < seqLen + 2) {
    throw new AlolError(
      'data',
      `${flags.text} has ${ids.length} tokens: too few for training and held-out windows of ${seqLen + 1}`,
      'use more text, a smaller --seq-len or another --heldout',
    );
  }
  const opts: LmOptions = {
    ...DEFAULT_LM,
    steps: flags.steps,
    batchSize: flags.batchSize,
    seqLen,
    lr: flags.lr,
    schedule: flags.schedule,
    warmupSteps: flags.warmup,
    gradAccum: flags.gradAccum,
    evalEvery: flags.evalEvery,
    seed: flags.seed,
    adamw: DEFAULT_ADAMW,
    threads: flags.threads,
    provider: await providerFor(flags.device),
    precision: flags.precision,
    checkpointEvery: flags.checkpointEvery,
  };
  const resolved = {
    verb: 'pretrain',
    model: flags.model ?? null,
    resumedFrom: flags.resume ?? null,
    text: flags.text,
    heldout: flags.heldout,
    ...opts,
    provider: opts.provider,
  };
  const save = async (dir: string, s: LmSnapshot): Promise<void> =>
    saveCheckpoint(dir, {
      config: model.config,
      params: s.params,
      tokenizerJson: model.tokenizerJson,
      extraConfig: model.hfConfig,
      tokenizerFiles: model.tokenizerFiles,
      optimizer: s.optimizer,
      state: { step: s.step, rngState: s.rngState, config: resolved },
    });
  opts.onCheckpoint = async (s) => {
    if (s.step === flags.steps) await save(flags.out, s);
    else await save(path.join(`${flags.out}-checkpoints`, `step-${String(s.step).padStart(6, '0')}`), s);
  };
  if (resumed) {
    const { state, optimizer } = resumed;
    opts.resume = { step: state.step, rngState: state.rngState, params: resumed.model.params, optimizer };
  }

  const steps = `${flags.steps} steps of ${flags.batchSize}x${seqLen}${flags.gradAccum > 1 ? `x${flags.gradAccum}` : ''}`;
  const tokens = `${cut} training and ${ids.length - cut} held-out tokens`;
  const params = `${describeConfig(model.config)}; ${(countParams(model.config) / 1e6).toFixed(2)}M parameters`;
  console.log(`pretrain: ${params} on ${opts.provider}; ${tokens}; ${steps}`);
  const bar = progressBar('pretrain', flags.steps, { loss: '-', heldout: '-', 'tok/s': '-' });
  let heldout = '-';
  const result = await trainLm(model.config, model.params, { train: ids.subarray(0, cut), heldout: ids.subarray(cut) }, opts, (e) => {
    if (e.type === 'eval') heldout = e.heldoutLoss.toFixed(3);
    else bar.update(e.step, { loss: e.loss.toFixed(3), heldout, 'tok/s': e.tokensPerSec.toFixed(0) });
  });
  bar.stop();
  console.log(`done: held-out loss ${result.heldoutLoss.toFixed(4)} nats/token; model and training state in ${flags.out}`);
}

const LogprobRow = z.object({ prompt: z.string(), response: z.string(), id: z.union([z.string(), z.number()]).optional() });

interface LogprobsFlags extends RuntimeFlags {
  model: string;
  adapter?: string;
  data: string;
  out: string;
  addEos: boolean;
  batchSize: number;
  chatTemplate: boolean;
}

async function logprobs(flags: LogprobsFlags): Promise<void> {
  const { model, tokenizer } = await openModel(flags.model, flags.adapter);
  const rows: { line: number; id?: string | number; prompt: number[]; response: number[]; dropped: number }[] = [];
  const format = { chatTemplate: flags.chatTemplate };
  for await (const r of readJsonl(flags.data, LogprobRow)) {
    const response = responseIds(tokenizer, r.value.response, format);
    // Left-truncated here (keeping a BOS) rather than by the scorer, which cuts from the very first token.
    const budget = model.config.nPositions + 1 - response.length - (flags.addEos ? 1 : 0);
    const prompt = promptIds(tokenizer, r.value.prompt, format, Math.max(1, budget), { file: flags.data, line: r.line });
    rows.push({ line: r.line, id: r.value.id, prompt: prompt.ids, response, dropped: prompt.dropped });
  }
  const scorer = new LogprobScorer(model.config, model.params);
  const provider = await providerFor(flags.device);
  const bar = progressBar('logprobs', rows.length);
  const t0 = performance.now();
  const scoring = { batchSize: flags.batchSize, addEos: flags.addEos, eosTokenId: tokenizer.eosTokenId, provider, threads: flags.threads };
  const scored = await scorer.score(rows, { ...scoring, onProgress: (d) => bar.update(d) }).catch((e: Error) => {
    throw new Error(`${flags.data}: ${e.message.replace(/^row (\d+)/, (_m, i: string) => `line ${rows[Number(i) - 1].line}`)}`);
  });
  bar.stop();
  await scorer.dispose();
  const seconds = (performance.now() - t0) / 1e3;
  const lines = scored.map((s, i) =>
    JSON.stringify({
      line: rows[i].line,
      ...(rows[i].id !== undefined ? { id: rows[i].id } : {}),
      logprob: s.logprob,
      tokens: s.tokens,
      ...(s.truncatedPromptTokens + rows[i].dropped ? { truncatedPromptTokens: s.truncatedPromptTokens + rows[i].dropped } : {}),
    }),
  );
  await writeFileAtomic(flags.out, lines.length ? `${lines.join('\n')}\n` : '');
  const tokens = scored.reduce((a, s) => a + s.tokens, 0);
  const truncated = scored.filter((s, i) => s.truncatedPromptTokens + rows[i].dropped > 0).length;
  const cut = truncated ? `; ${truncated} prompts left-truncated to fit n_positions ${model.config.nPositions}` : '';
  const counted = `${tokens} response tokens${flags.addEos ? ', EOS included' : ''}`;
  console.log(`scored ${rows.length} rows (${counted}) in ${seconds.toFixed(1)} s; wrote ${flags.out}${cut}`);
}

interface GenerateFlags extends RuntimeFlags {
  model: string;
  adapter?: string;
  prompt: string;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  stop?: string[];
  chatTemplate: boolean;
}

async function generate(flags: GenerateFlags): Promise<void> {
  const { model, tokenizer } = await openModel(flags.model, flags.adapter);
  const gen = new Generator(model.config, model.params, tokenizer, { provider: await providerFor(flags.device), threads: flags.threads });
  const { maxNewTokens, temperature, topP, seed, stop } = flags;
  const prompt = promptIds(tokenizer, flags.prompt, { chatTemplate: flags.chatTemplate }, Infinity).ids;
  const [g] = await gen.generate([prompt], { maxNewTokens, temperature, topP, seed, stop });
  await gen.dispose();
  process.stdout.write(`${g.text}\n`);
}

export function registerModelVerbs(program: Command): void {
  program
    .command('init-model')
    .description('write a randomly initialised model folder (GPT-2, or Llama layout with --arch llama) with a byte-level tokenizer')
    .requiredOption('--out <dir>', 'model folder to write')
    .option(
      '--arch <name>',
      'gpt2 | llama (RMSNorm, rotary positions, SwiGLU, grouped-query attention)',
      oneOf(['gpt2', 'llama'] as const),
      'gpt2',
    )
    .option('--layers <n>', 'transformer blocks', int(1), 4)
    .option('--embd <n>', 'embedding width (hidden_size)', int(1), 256)
    .option('--heads <n>', 'attention heads (must divide --embd)', int(1), 8)
    .option('--kv-heads <n>', 'llama: key/value heads (divides --heads; fewer = grouped-query, 1 = multi-query; default --heads)', int(1))
    .option('--inner <n>', 'llama: SwiGLU width (intermediate_size; default 8/3 embd rounded up to 32)', int(1))
    .option('--rope-theta <x>', 'llama: rotary base (rope_theta)', num(1), 10000)
    .option('--tie-embeddings', 'llama: tie the LM head to the token embedding', false)
    .option('--positions <n>', 'maximum sequence length', int(2), 512)
    .option('--seed <n>', 'initialisation seed', int(0), 0)
    .action(initModel);

  withRuntime(
    program
      .command('pretrain')
      .description(
        'train a model folder on plain text by next-token NLL; the result (with its training state) goes to --out, ' +
          'checkpoints to <out>-checkpoints/',
      )
      .option('--model <dir>', 'starting model folder (required unless --resume)')
      .requiredOption('--text <file>', 'UTF-8 text file')
      .requiredOption('--steps <n>', 'optimizer steps', int(1))
      .requiredOption('--out <dir>', 'model folder to write')
      .option('--batch-size <n>', 'sequences per micro-batch', int(1), 16)
      .option('--seq-len <n>', 'tokens per sequence (default min(128, n_positions))', int(2))
      .option('--lr <x>', 'peak learning rate', num(0), 1e-3)
      .option('--schedule <kind>', 'constant | linear | cosine', oneOf(['constant', 'linear', 'cosine'] as const), 'cosine')
      .option('--warmup <n>', 'linear warmup steps', int(0), 50)
      .option('--grad-accum <n>', 'micro-batches per optimizer step', int(1), 1)
      .option('--eval-every <n>', 'held-out loss every n steps (0: only at the end)', int(0), 100)
      .option('--heldout <fraction>', 'share of the text (its end) kept for held-out loss', num(0.001, 0.5), 0.05)
      .option('--seed <n>', 'batch sampling seed', int(0), 0)
      .option('--checkpoint-every <n>', 'write a checkpoint every n steps (0: only at the end)', int(0), 0)
      .option('--resume <dir>', 'continue from a checkpoint folder (its model replaces --model)')
      .option('--precision <type>', PRECISION_HELP, precision, 'float32'),
  ).action(pretrain);

  withRuntime(
    program
      .command('logprobs')
      .description(
        'for each JSONL row {prompt, response}: the summed log-prob of the response tokens given the prompt (exact text; natural log)',
      )
      .requiredOption('--model <dir>', 'model folder')
      .option('--adapter <dir>', ADAPTER_HELP)
      .requiredOption('--data <file>', 'JSONL (or .jsonl.gz) with prompt and response strings')
      .requiredOption('--out <file>', 'JSONL to write: {line, id?, logprob, tokens}')
      .option('--add-eos', 'append the end-of-text token to every response (as training does)', false)
      .option('--chat-template', "format prompts with the model's chat template (as data.chatTemplate in a run config)", false)
      .option('--batch-size <n>', 'rows per batch', int(1), 16),
  ).action(logprobs);

  withRuntime(
    program
      .command('generate')
      .description('print a continuation of --prompt')
      .requiredOption('--model <dir>', 'model folder')
      .option('--adapter <dir>', ADAPTER_HELP)
      .requiredOption('--prompt <text>', 'the text to continue')
      .option('--max-new-tokens <n>', 'tokens to generate at most', int(1), 64)
      .option('--temperature <t>', '0 = greedy; > 0 samples', num(0), 0)
      .option('--top-p <p>', 'nucleus sampling mass', num(0, 1), 1)
      .option('--seed <n>', 'sampling seed', int(0), 0)
      .option('--stop <text>', 'stop at this string (repeatable)', collect)
      .option('--chat-template', "format the prompt with the model's chat template (as data.chatTemplate in a run config)", false),
  ).action(generate);
}
