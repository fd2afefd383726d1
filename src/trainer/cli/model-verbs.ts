// The model verbs of the `alol` CLI: init-model, pretrain, logprobs, generate, export-onnx.
// Each is a thin layer over src/trainer/model; flags and names are kept stable for later issues.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { readJsonl } from '../data/jsonl.js';
import { DEFAULT_ADAMW } from '../graph/optim.js';
import type { DeviceRequest } from '../runtime/device.js';
import { Session, tensor } from '../runtime/session.js';
import { loadCheckpoint, saveCheckpoint } from '../model/checkpoint.js';
import { gptConfig, paramCount } from '../model/gpt-config.js';
import { exportOnnx } from '../model/export.js';
import { type ModelFolder, loadModelFolder, saveModelFolder } from '../model/folder.js';
import { Generator } from '../model/generate.js';
import { DEFAULT_LM, type LmOptions, type LmSnapshot, trainLm } from '../model/lm.js';
import { LogprobScorer } from '../model/logprobs.js';
import { initGptParams } from '../model/params.js';
import type { ScheduleKind } from '../model/schedule.js';
import { type TextTokenizer, byteLevelTokenizer, loadTokenizer } from '../model/tokenizer.js';
import { writeFileAtomic } from '../util/atomic.js';
import { collect, device, int, num, oneOf, providerFor } from './options.js';
import { progressBar } from './progress.js';

interface RuntimeFlags {
  device: DeviceRequest;
  threads: number;
}

function withRuntime(cmd: Command): Command {
  return cmd.option('--device <name>', 'auto | cpu | cuda | webgpu', device, 'auto').option('--threads <n>', 'CPU threads for ONNX Runtime', int(1), 2);
}

async function openModel(dir: string): Promise<{ model: ModelFolder; tokenizer: TextTokenizer }> {
  const model = await loadModelFolder(dir);
  return { model, tokenizer: loadTokenizer(model.tokenizerJson, path.join(dir, 'tokenizer.json')) };
}

async function initModel(o: { out: string; layers: number; embd: number; heads: number; positions: number; seed: number }): Promise<void> {
  const tok = byteLevelTokenizer();
  const cfg = gptConfig({ vocabSize: tok.vocabSize, nPositions: o.positions, nEmbd: o.embd, nLayer: o.layers, nHead: o.heads });
  await saveModelFolder(o.out, { config: cfg, params: initGptParams(cfg, o.seed), tokenizerJson: tok.toJSON(), extraConfig: { bos_token_id: tok.eosTokenId, eos_token_id: tok.eosTokenId } });
  console.log(`wrote ${o.out}: GPT ${o.layers} layers, embd ${o.embd}, ${o.heads} heads, ${o.positions} positions, ${(paramCount(cfg) / 1e6).toFixed(2)}M parameters, byte-level tokenizer`);
}

interface PretrainFlags extends RuntimeFlags {
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

async function pretrain(o: PretrainFlags): Promise<void> {
  if (!o.model && !o.resume) throw new Error('pretrain needs --model <dir> (a model folder to start from) or --resume <checkpoint>');
  const resumed = o.resume ? await loadCheckpoint(o.resume) : null;
  const { model, tokenizer } = resumed ? { model: resumed.model, tokenizer: loadTokenizer(resumed.model.tokenizerJson, o.resume as string) } : await openModel(o.model as string);
  const text = await readFile(o.text, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${o.text}: ${e.code ?? e.message}`);
  });
  const ids = Int32Array.from(tokenizer.encode(text));
  const cut = Math.floor(ids.length * (1 - o.heldout));
  const seqLen = o.seqLen ?? Math.min(128, model.config.nPositions);
  if (cut < seqLen + 2 || ids.length - cut < seqLen + 2) {
    throw new Error(`${o.text} has ${ids.length} tokens: too few for training and held-out windows of ${seqLen + 1}; hint: use more text, a smaller --seq-len or another --heldout`);
  }
  const opts: LmOptions = {
    ...DEFAULT_LM,
    steps: o.steps,
    batchSize: o.batchSize,
    seqLen,
    lr: o.lr,
    schedule: o.schedule,
    warmupSteps: o.warmup,
    gradAccum: o.gradAccum,
    evalEvery: o.evalEvery,
    seed: o.seed,
    adamw: DEFAULT_ADAMW,
    threads: o.threads,
    provider: await providerFor(o.device),
    checkpointEvery: o.checkpointEvery,
  };
  const resolved = { verb: 'pretrain', model: o.model ?? null, resumedFrom: o.resume ?? null, text: o.text, heldout: o.heldout, ...opts, provider: opts.provider };
  const save = async (dir: string, s: LmSnapshot): Promise<void> =>
    saveCheckpoint(dir, { config: model.config, params: s.params, tokenizerJson: model.tokenizerJson, optimizer: s.optimizer, state: { step: s.step, rngState: s.rngState, config: resolved } });
  opts.onCheckpoint = async (s) => {
    if (s.step === o.steps) await save(o.out, s);
    else await save(path.join(`${o.out}-checkpoints`, `step-${String(s.step).padStart(6, '0')}`), s);
  };
  if (resumed) opts.resume = { step: resumed.state.step, rngState: resumed.state.rngState, params: resumed.model.params, optimizer: resumed.optimizer };

  console.log(`pretrain: ${(paramCount(model.config) / 1e6).toFixed(2)}M parameters on ${opts.provider}; ${cut} training and ${ids.length - cut} held-out tokens; ${o.steps} steps of ${o.batchSize}x${seqLen}${o.gradAccum > 1 ? `x${o.gradAccum}` : ''}`);
  const bar = progressBar('pretrain', o.steps, { loss: '-', heldout: '-', 'tok/s': '-' });
  let heldout = '-';
  const result = await trainLm(model.config, model.params, { train: ids.subarray(0, cut), heldout: ids.subarray(cut) }, opts, (e) => {
    if (e.type === 'eval') heldout = e.heldoutLoss.toFixed(3);
    else bar.update(e.step, { loss: e.loss.toFixed(3), heldout, 'tok/s': e.tokensPerSec.toFixed(0) });
  });
  bar.stop();
  console.log(`done: held-out loss ${result.heldoutLoss.toFixed(4)} nats/token; model and training state in ${o.out}`);
}

const LogprobRow = z.object({ prompt: z.string(), response: z.string(), id: z.union([z.string(), z.number()]).optional() });

async function logprobs(o: RuntimeFlags & { model: string; data: string; out: string; addEos: boolean; batchSize: number }): Promise<void> {
  const { model, tokenizer } = await openModel(o.model);
  const rows: { line: number; id?: string | number; prompt: number[]; response: number[] }[] = [];
  for await (const r of readJsonl(o.data, LogprobRow)) {
    rows.push({ line: r.line, id: r.value.id, prompt: tokenizer.encode(r.value.prompt), response: tokenizer.encode(r.value.response) });
  }
  const scorer = new LogprobScorer(model.config, model.params);
  const provider = await providerFor(o.device);
  const bar = progressBar('logprobs', rows.length);
  const t0 = performance.now();
  const scored = await scorer.score(rows, { batchSize: o.batchSize, addEos: o.addEos, eosTokenId: tokenizer.eosTokenId, provider, threads: o.threads, onProgress: (d) => bar.update(d) }).catch((e: Error) => {
    throw new Error(`${o.data}: ${e.message.replace(/^row (\d+)/, (_m, i: string) => `line ${rows[Number(i) - 1].line}`)}`);
  });
  bar.stop();
  await scorer.dispose();
  const seconds = (performance.now() - t0) / 1e3;
  const lines = scored.map((s, i) => JSON.stringify({ line: rows[i].line, ...(rows[i].id !== undefined ? { id: rows[i].id } : {}), logprob: s.logprob, tokens: s.tokens, ...(s.truncatedPromptTokens ? { truncatedPromptTokens: s.truncatedPromptTokens } : {}) }));
  await writeFileAtomic(o.out, lines.length ? `${lines.join('\n')}\n` : '');
  const tokens = scored.reduce((a, s) => a + s.tokens, 0);
  const truncated = scored.filter((s) => s.truncatedPromptTokens > 0).length;
  console.log(`scored ${rows.length} rows (${tokens} response tokens${o.addEos ? ', EOS included' : ''}) in ${seconds.toFixed(1)} s; wrote ${o.out}${truncated ? `; ${truncated} prompts left-truncated to fit n_positions ${model.config.nPositions}` : ''}`);
}

async function generate(o: RuntimeFlags & { model: string; prompt: string; maxNewTokens: number; temperature: number; topP: number; seed: number; stop?: string[] }): Promise<void> {
  const { model, tokenizer } = await openModel(o.model);
  const gen = new Generator(model.config, model.params, tokenizer, { provider: await providerFor(o.device), threads: o.threads });
  const [g] = await gen.generate([tokenizer.encode(o.prompt)], { maxNewTokens: o.maxNewTokens, temperature: o.temperature, topP: o.topP, seed: o.seed, stop: o.stop });
  await gen.dispose();
  process.stdout.write(`${g.text}\n`);
}

async function exportModel(o: { model: string; out: string; opset: number }): Promise<void> {
  const { model } = await openModel(o.model);
  const bytes = exportOnnx(model.config, model.params, o.opset);
  // Check the file as a user would meet it: a fresh session, logits against the trainer's own graph.
  const probe = [...Array(Math.min(8, model.config.nPositions)).keys()].map((i) => (i * 37) % model.config.vocabSize);
  const session = await Session.create(bytes, 'export-check');
  const hs = model.config.nEmbd / model.config.nHead;
  const feeds: Record<string, ReturnType<typeof tensor>> = {
    input_ids: tensor('int64', BigInt64Array.from(probe.map(BigInt)), [1, probe.length]),
    attention_mask: tensor('int64', new BigInt64Array(probe.length).fill(1n), [1, probe.length]),
    position_ids: tensor('int64', BigInt64Array.from(probe.map((_, i) => BigInt(i))), [1, probe.length]),
  };
  for (let l = 0; l < model.config.nLayer; l++) for (const k of ['key', 'value']) feeds[`past_key_values.${l}.${k}`] = tensor('float32', new Float32Array(0), [1, model.config.nHead, 0, hs]);
  const logits = (await session.run(feeds)).logits.data as Float32Array;
  await session.release();
  const scorer = new LogprobScorer(model.config, model.params);
  const [ref] = await scorer.score([{ prompt: probe.slice(0, 1), response: probe.slice(1) }], { batchSize: 1, addEos: false, eosTokenId: null });
  await scorer.dispose();
  let fromExport = 0;
  for (let i = 1; i < probe.length; i++) {
    const row = logits.subarray((i - 1) * model.config.vocabSize, i * model.config.vocabSize);
    const max = Math.max(...row);
    fromExport += row[probe[i]] - max - Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
  }
  const diff = Math.abs(fromExport - ref.logprob);
  if (!(diff < 1e-3)) throw new Error(`the exported graph disagrees with the trainer (log-prob ${fromExport} vs ${ref.logprob}); not written`);
  await writeFileAtomic(o.out, bytes);
  console.log(`wrote ${o.out} (${(bytes.length / 1e6).toFixed(1)} MB, opset ${o.opset}); checked in a fresh session: log-prob difference ${diff.toExponential(1)}`);
}

export function registerModelVerbs(program: Command): void {
  program
    .command('init-model')
    .description('write a randomly initialised GPT-2 model folder with a byte-level tokenizer')
    .requiredOption('--out <dir>', 'model folder to write')
    .option('--layers <n>', 'transformer blocks', int(1), 4)
    .option('--embd <n>', 'embedding width', int(1), 256)
    .option('--heads <n>', 'attention heads (must divide --embd)', int(1), 8)
    .option('--positions <n>', 'maximum sequence length', int(2), 512)
    .option('--seed <n>', 'initialisation seed', int(0), 0)
    .action(initModel);

  withRuntime(
    program
      .command('pretrain')
      .description(`train a model folder on plain text by next-token NLL; the result (with its training state) goes to --out, checkpoints to <out>-checkpoints/`)
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
      .option('--resume <dir>', 'continue from a checkpoint folder (its model replaces --model)'),
  ).action(pretrain);

  withRuntime(
    program
      .command('logprobs')
      .description('for each JSONL row {prompt, response}: the summed log-prob of the response tokens given the prompt (exact text; natural log)')
      .requiredOption('--model <dir>', 'model folder')
      .requiredOption('--data <file>', 'JSONL (or .jsonl.gz) with prompt and response strings')
      .requiredOption('--out <file>', 'JSONL to write: {line, id?, logprob, tokens}')
      .option('--add-eos', 'append the end-of-text token to every response (as training does)', false)
      .option('--batch-size <n>', 'rows per batch', int(1), 16),
  ).action(logprobs);

  withRuntime(
    program
      .command('generate')
      .description('print a continuation of --prompt')
      .requiredOption('--model <dir>', 'model folder')
      .requiredOption('--prompt <text>', 'the text to continue')
      .option('--max-new-tokens <n>', 'tokens to generate at most', int(1), 64)
      .option('--temperature <t>', '0 = greedy; > 0 samples', num(0), 0)
      .option('--top-p <p>', 'nucleus sampling mass', num(0, 1), 1)
      .option('--seed <n>', 'sampling seed', int(0), 0)
      .option('--stop <text>', 'stop at this string (repeatable)', collect),
  ).action(generate);

  program
    .command('export-onnx')
    .description('write the model as one ONNX forward graph with past key/values (the layout ONNX Runtime and transformers.js use for GPT-2)')
    .requiredOption('--model <dir>', 'model folder')
    .requiredOption('--out <file>', 'ONNX file to write')
    .option('--opset <n>', 'ONNX opset, 18..26', int(18), 18)
    .action(exportModel);
}
