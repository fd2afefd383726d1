// The verbs that write a model out of `alol`: export-onnx (one ONNX decoder graph, or a folder
// transformers.js loads) and merge-adapter (a LoRA adapter merged into a full model folder).

import path from 'node:path';
import type { Command } from 'commander';
import { AlolError } from '../errors.js';
import { poolKey, withPool } from '../runtime/pool.js';
import { tensor } from '../runtime/session.js';
import { headSize, kvHeads } from '../model/config.js';
import { exportOnnx } from '../model/export.js';
import { type AdapterFolder, loadModelWithAdapter } from '../model/adapter.js';
import { saveModelFolder } from '../model/folder.js';
import { LogprobScorer } from '../model/logprobs.js';
import { writeFileAtomic } from '../util/atomic.js';
import { ADAPTER_HELP, openModel } from './model-verbs.js';
import { int } from './options.js';

/** Where transformers.js looks for a decoder's graph in a model folder. */
const ONNX_IN_FOLDER = 'onnx/model.onnx';

async function exportModel(flags: { model: string; adapter?: string; out?: string; folder?: string; opset: number }): Promise<void> {
  if (!flags.out === !flags.folder) throw new AlolError('model', 'export-onnx: give one of --out <file.onnx> and --folder <dir>');
  const { model } = await openModel(flags.model, flags.adapter);
  const bytes = exportOnnx(model.config, model.params, flags.opset);
  // Check the file as a user would meet it: a fresh session, logits against the trainer's own graph
  // (both in one pool of their own, released after the check).
  const probe = [...Array(Math.min(8, model.config.nPositions)).keys()].map((i) => (i * 37) % model.config.vocabSize);
  const [hs, nkv] = [headSize(model.config), kvHeads(model.config)];
  const feeds: Record<string, ReturnType<typeof tensor>> = {
    input_ids: tensor('int64', BigInt64Array.from(probe.map(BigInt)), [1, probe.length]),
    attention_mask: tensor('int64', new BigInt64Array(probe.length).fill(1n), [1, probe.length]),
    position_ids: tensor('int64', BigInt64Array.from(probe.map((_, i) => BigInt(i))), [1, probe.length]),
  };
  const noPast = () => tensor('float32', new Float32Array(0), [1, nkv, 0, hs]);
  for (let l = 0; l < model.config.nLayer; l++) for (const k of ['key', 'value']) feeds[`past_key_values.${l}.${k}`] = noPast();
  const { logits, ref } = await withPool({}, async (pool) => {
    const key = poolKey('export-check', model.config, { opset: flags.opset, bytes: bytes.length });
    const session = await pool.get(key, () => bytes);
    const out = (await session.run(feeds)).logits.data as Float32Array;
    const scorer = new LogprobScorer(model.config, model.params, { pool });
    const row = { prompt: probe.slice(0, 1), response: probe.slice(1) };
    const [scored] = await scorer.score([row], { batchSize: 1, addEos: false, eosTokenId: null });
    return { logits: out, ref: scored };
  });
  let fromExport = 0;
  for (let i = 1; i < probe.length; i++) {
    const row = logits.subarray((i - 1) * model.config.vocabSize, i * model.config.vocabSize);
    const max = Math.max(...row);
    fromExport += row[probe[i]] - max - Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
  }
  const diff = Math.abs(fromExport - ref.logprob);
  if (!(diff < 1e-3)) {
    throw new Error(`the exported graph disagrees with the trainer (log-prob ${fromExport} vs ${ref.logprob}); not written`);
  }
  // A folder transformers.js loads as is: the model folder (config, tokenizer files, weights) with onnx/model.onnx.
  if (flags.folder) {
    const m = { config: model.config, params: model.params, tokenizerJson: model.tokenizerJson, extraConfig: model.hfConfig };
    await saveModelFolder(flags.folder, m, { [ONNX_IN_FOLDER]: bytes });
  } else await writeFileAtomic(flags.out as string, bytes);
  const size = `${(bytes.length / 1e6).toFixed(1)} MB, opset ${flags.opset}`;
  const where = flags.folder ? path.join(flags.folder, ONNX_IN_FOLDER) : flags.out;
  console.log(`wrote ${where} (${size}); checked in a fresh session: log-prob difference ${diff.toExponential(1)}`);
}

async function mergeAdapter(flags: { model: string; adapter: string; out: string }): Promise<void> {
  const { model, adapter } = await loadModelWithAdapter(flags.model, flags.adapter);
  const { spec } = adapter as AdapterFolder;
  const m = { config: model.config, params: model.params, tokenizerJson: model.tokenizerJson, tokenizerFiles: model.tokenizerFiles };
  await saveModelFolder(flags.out, { ...m, extraConfig: model.hfConfig });
  const what = `r ${spec.r}, alpha ${spec.alpha}, ${spec.modules.length} projections (${spec.targetNames.join(', ')})`;
  console.log(`wrote ${flags.out}: ${flags.model} with the adapter ${flags.adapter} merged in (${what})`);
}

export function registerExportVerbs(program: Command): void {
  program
    .command('export-onnx')
    .description(
      'write the model as one ONNX forward graph with past key/values (the decoder layout ONNX Runtime and transformers.js use)',
    )
    .requiredOption('--model <dir>', 'model folder')
    .option('--adapter <dir>', ADAPTER_HELP)
    .option('--out <file>', 'ONNX file to write')
    .option('--folder <dir>', `or: a model folder for transformers.js (the model folder's files and ${ONNX_IN_FOLDER})`)
    .option('--opset <n>', 'ONNX opset, 18..26', int(18), 18)
    .action(exportModel);

  program
    .command('merge-adapter')
    .description('write a full model folder: --model with the LoRA adapter merged into its weights (W + alpha/r * B A)')
    .requiredOption('--model <dir>', 'the base model folder the adapter was trained on')
    .requiredOption('--adapter <dir>', 'LoRA adapter folder (PEFT layout: adapter_config.json, adapter_model.safetensors)')
    .requiredOption('--out <dir>', 'model folder to write')
    .action(mergeAdapter);
}
