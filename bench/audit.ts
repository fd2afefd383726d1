// Audit throughput on the HH file in ../shared (4,156 training rows after the default split): the
// reference's log-probs of every training response, and the value head (prompt hidden states, then
// out-of-fold fitting, 5 folds x 10 epochs), for the benchmark-size model (GPT 4 x 256, 8 heads,
// n_positions 256, random weights: speed does not depend on them). Caches off. Prints rows/s, peak RSS.
//
//   npm run bench:audit -- [--threads 2] [--max-prompt 128] [--max-response 64]

import path from 'node:path';
import { parseArgs } from 'node:util';
import { RunConfigSchema } from '../src/protocol/config.js';
import { readDataset } from '../src/trainer/data/dataset.js';
import { gptConfig } from '../src/trainer/model/gpt-config.js';
import { initGptParams } from '../src/trainer/model/params.js';
import { byteLevelTokenizer } from '../src/trainer/model/tokenizer.js';
import { localBackend } from '../src/trainer/compute/local.js';
import { type Policy, policyHash } from '../src/trainer/model/policy.js';
import { referenceLogprobs } from '../src/trainer/pipeline/reference.js';
import { promptHidden } from '../src/trainer/pipeline/value.js';
import { tokenizeRows } from '../src/trainer/data/tokenize.js';
import { fitOutOfFold } from '../src/trainer/value/fit.js';

const { values: a } = parseArgs({ options: {
  threads: { type: 'string', default: '2' },
  'max-prompt': { type: 'string', default: '128' },
  'max-response': { type: 'string', default: '64' },
} });
const HH = path.resolve(__dirname, '../../../shared/data/hh-harmless-base-test.jsonl.gz');

async function main(): Promise<void> {
  const threads = Number(a.threads);
  const tok = byteLevelTokenizer();
  const cfg = gptConfig({ vocabSize: tok.vocabSize, nPositions: 256, nEmbd: 256, nLayer: 4, nHead: 8 });
  const params = initGptParams(cfg, 0);
  const ref: Policy = { config: cfg, params, tokenizer: tok, tokenizerJson: tok.toJSON(), hash: policyHash(cfg, params) };
  const { rows } = await readDataset(HH);
  const train = rows.filter((r) => r.split === 'train');
  const { rows: tokd } = tokenizeRows(
    train,
    tok,
    { maxPromptTokens: Number(a['max-prompt']), maxResponseTokens: Number(a['max-response']), nPositions: cfg.nPositions },
  );
  const tokens = tokd.reduce((s, r) => s + r.prompt.length + r.response.length, 0);
  console.log(
    `HH train split: ${tokd.length} rows, ${tokens} tokens (prompts <= ${a['max-prompt']}, responses <= ${a['max-response']} + EOS); ` +
      `model 4x256, threads ${threads}`,
  );

  const compute = localBackend({ threads });
  let t = performance.now();
  await referenceLogprobs(ref, tokd, { cacheDir: null, compute, batchSize: 16 });
  const s = (performance.now() - t) / 1e3;
  console.log(
    `reference log-probs   ${(tokd.length / s).toFixed(0).padStart(6)} rows/s  (${(tokens / s).toFixed(0)} tokens/s, ${s.toFixed(1)} s)`,
  );

  const distinct = [...new Map(tokd.map((r) => [r.prompt.join(','), r.prompt])).values()];
  t = performance.now();
  const h = await promptHidden(compute, ref, distinct, { cacheDir: null });
  const sh = (performance.now() - t) / 1e3;
  const index = new Map(distinct.map((p, i) => [p.join(','), i]));
  const examples = tokd.map((r, i) => {
    const hid = h.hidden[index.get(r.prompt.join(',')) as number];
    return { hidden: hid, length: hid.length / cfg.nEmbd, target: (i % 2) * 0.5 + 0.25, group: r.row.group };
  });
  const value = RunConfigSchema.parse({}).value;
  t = performance.now();
  const oof = await fitOutOfFold(
    examples,
    cfg.nEmbd,
    value.folds,
    { heads: value.heads, epochs: value.epochs, lr: value.lr, batchSize: value.batchSize, seed: 0, range: [0, 1], compute },
  );
  const sf = (performance.now() - t) / 1e3;
  console.log(
    `prompt hidden states  ${(distinct.length / sh).toFixed(0).padStart(6)} prompts/s (${distinct.length} distinct prompts, ` +
      `${sh.toFixed(1)} s)`,
  );
  console.log(
    `value fit (oof 5x10)  ${(tokd.length / sf).toFixed(0).padStart(6)} rows/s  (${sf.toFixed(1)} s; head MSE ${oof.oofMse.toFixed(4)} ` +
      `vs mean ${oof.meanMse.toFixed(4)})`,
  );
  await compute.release();
  console.log(`peak RSS              ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}

main().catch((e) => {
  console.error(`bench: error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
