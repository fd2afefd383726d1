// Generation and log-prob benchmark on the training benchmark's model (GPT vocab 257, n_positions
// 128, n_embd 256, n_layer 4, n_head 8, random weights; --arch llama: the same sizes in the Llama
// layout with --kv-heads key/value heads): greedy new tokens/s with and without the KV
// cache at batch 1 and 16, and forward log-prob tokens/s. Session creation is excluded (one warm-up
// run per configuration); EOS is disabled so every row generates all its tokens.
//
//   npm run bench:generate -- [--threads 2] [--device cpu] [--prompt 32] [--new 64] [--repeats 3] [--arch gpt2|llama] [--kv-heads 4]
//                             [--kernels fused|plain] [--json]
// --json prints one line of figures (tokens/s) instead of the table (bench/compare.ts reads it).

import { parseArgs } from 'node:util';
import { type DeviceRequest, resolveDevice } from '../src/trainer/runtime/device.js';
import { type ModelConfig, describeConfig } from '../src/trainer/model/config.js';
import { countParams, initParams } from '../src/trainer/model/family.js';
import { gptConfig } from '../src/trainer/model/gpt-config.js';
import { Generator } from '../src/trainer/model/generate.js';
import { llamaConfig } from '../src/trainer/model/llama-config.js';
import { LogprobScorer } from '../src/trainer/model/logprobs.js';
import { Rng } from '../src/trainer/util/rng.js';

const { values: a } = parseArgs({
  options: {
    device: { type: 'string', default: 'cpu' },
    threads: { type: 'string', default: '2' },
    prompt: { type: 'string', default: '32' },
    new: { type: 'string', default: '64' },
    repeats: { type: 'string', default: '3' },
    arch: { type: 'string', default: 'gpt2' },
    'kv-heads': { type: 'string', default: '4' },
    kernels: { type: 'string', default: 'fused' },
    json: { type: 'boolean', default: false },
  },
});

async function best(run: () => Promise<void>, repeats: number): Promise<number> {
  await run(); // warm-up: sessions are created here
  let bestMs = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await run();
    bestMs = Math.min(bestMs, performance.now() - t0);
  }
  return bestMs / 1e3;
}

async function main(): Promise<void> {
  const threads = Number(a.threads);
  const device = await resolveDevice(a.device as DeviceRequest);
  if (device.fallback) console.log(device.fallback);
  const sizes = { vocabSize: 257, nPositions: 128, nEmbd: 256, nLayer: 4, nHead: 8 };
  if (a.arch !== 'gpt2' && a.arch !== 'llama') throw new Error(`--arch ${a.arch}: use gpt2 or llama`);
  const cfg: ModelConfig = a.arch === 'llama' ? llamaConfig({ ...sizes, nKvHead: Number(a['kv-heads']) }) : gptConfig(sizes);
  const params = initParams(cfg, 0);
  const [promptLen, newTokens, repeats] = [Number(a.prompt), Number(a.new), Number(a.repeats)];
  const rng = new Rng(1);
  const prompt = () => Array.from({ length: promptLen }, () => rng.int(256));
  const noEos = { decode: (ids: readonly number[]) => String(ids.length), eosTokenId: null };
  const gen = new Generator(cfg, params, noEos, { provider: device.provider, threads });

  if (a.kernels !== 'fused' && a.kernels !== 'plain') throw new Error(`--kernels ${a.kernels}: use fused or plain`);
  const kernels: 'fused' | 'plain' = a.kernels;
  const figures: Record<string, number> = {};
  const log = (line: string): void => void (a.json || console.log(line));
  log(
    `device          ${device.provider} (threads ${threads})\n` +
      `model           ${describeConfig(cfg)}, ${(countParams(cfg) / 1e6).toFixed(2)}M params\n` +
      `setup           prompt ${promptLen} tokens, ${newTokens} new tokens, ` +
      `greedy; best of ${repeats}; ${kernels} KV-cache graphs`,
  );
  for (const batch of [1, 16]) {
    const prompts = Array.from({ length: batch }, prompt);
    for (const useCache of [true, false]) {
      const request = { maxNewTokens: newTokens, temperature: 0, useCache, kernels };
      const s = await best(async () => void (await gen.generate(prompts, request)), repeats);
      if (useCache) figures[`generate_b${batch}_tokens_per_s`] = (batch * newTokens) / s;
      log(
        `generate        batch ${String(batch).padStart(2)} ${useCache ? 'KV cache   ' : 'no cache   '} ` +
          `${((batch * newTokens) / s).toFixed(0).padStart(7)} new tokens/s`,
      );
    }
  }
  await gen.dispose();

  const rows = Array.from({ length: 256 }, () => ({ prompt: prompt(), response: Array.from({ length: 96 }, () => rng.int(256)) }));
  const scorer = new LogprobScorer(cfg, params);
  const s = await best(
    async () => void (await scorer.score(rows, { batchSize: 16, addEos: false, eosTokenId: null, provider: device.provider, threads })),
    repeats,
  );
  await scorer.dispose();
  const seqTokens = rows.length * (promptLen + 96 - 1);
  figures.logprobs_tokens_per_s = seqTokens / s;
  log(
    `logprobs        ${(seqTokens / s).toFixed(0).padStart(7)} tokens/s forward (${rows.length} rows of ${promptLen}+96 tokens, batch ` +
      `16); ${((rows.length * 96) / s).toFixed(0)} response tokens/s`,
  );
  log(`peak RSS        ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  if (a.json) console.log(JSON.stringify(figures));
}

main().catch((err) => {
  console.error(`bench: error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
