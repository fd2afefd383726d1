// The PyTorch compute backend (src/trainer/compute/torch/) against everything it must equal: its protocol and
// errors; every loss of the shared table against the golden values written independently in PyTorch
// (test/golden/); the shared fixtures' log-probs, greedy continuations and hidden states; training steps, LoRA and
// checkpoints against the built-in ONNX Runtime engine on the same weights and batches; and a 2-process run under
// torch.distributed (gloo, `python -m torch.distributed.run`) whose gradients equal a 1-process run on the same
// global batch. The worker runs its own GPT-2 / Llama modules here (engine builtin; no transformers on CI).
//
// Needs Debian's python3-torch (`.ci/run` installs it; ALOL_TEST_PYTHON names another interpreter). Without torch
// these tests skip with the reason — unless ALOL_REQUIRE_TORCH=1 (set by .ci/run), where they fail.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { RunConfig } from '../../src/protocol/config.js';
import type { ModelWeights, PolicyTrainer, PolicyTrainerSpec, TrainBatch } from '../../src/trainer/compute/backend.js';
import { OrtBackend } from '../../src/trainer/compute/ort/backend.js';
import { TorchBackend, finishGeneration } from '../../src/trainer/compute/torch/backend.js';
import type { TorchPolicyTrainer } from '../../src/trainer/compute/torch/trainer.js';
import { AlolError } from '../../src/trainer/errors.js';
import { DEFAULT_ADAMW } from '../../src/trainer/graph/optim.js';
import type { ModelConfig } from '../../src/trainer/model/config.js';
import { initParams } from '../../src/trainer/model/family.js';
import { loadModelFolder } from '../../src/trainer/model/folder.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { llamaConfig } from '../../src/trainer/model/llama-config.js';
import { initLoraParams, resolveLora } from '../../src/trainer/model/lora.js';
import { float32Tensor } from '../../src/trainer/model/safetensors.js';
import { loadTokenizer } from '../../src/trainer/model/tokenizer.js';
import { Rng } from '../../src/trainer/util/rng.js';
import { TOL, alolFeeds, alolGolden, baselineFeeds, baselineGolden, baselineSettings, relErr } from '../helpers/golden.js';
import { sharedPath } from '../helpers/shared.js';

const PYTHON = process.env.ALOL_TEST_PYTHON ?? '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
const HAVE_TORCH = probe.status === 0;
const REQUIRED = process.env.ALOL_REQUIRE_TORCH === '1';
const skip = HAVE_TORCH ? false : `no torch for ${PYTHON} (${(probe.stderr || String(probe.error)).trim().split('\n').pop()})`;
if (!HAVE_TORCH && REQUIRED) {
  describe('the PyTorch backend', () => {
    it('has torch (ALOL_REQUIRE_TORCH=1)', () => assert.fail(`${skip}: install python3-torch (apt) or set ALOL_TEST_PYTHON`));
  });
}

type Backend = RunConfig['backend'];
const ONE: Backend = { kind: 'torch', launcher: 'none', processes: 1, fsdp: false, precision: 'float32', quantization: 'none' };
// the worker's own modules (CI has no transformers); ALOL_TEST_TORCH_ENGINE=auto uses transformers where installed
const ENGINE = (process.env.ALOL_TEST_TORCH_ENGINE ?? 'builtin') as 'auto' | 'builtin' | 'transformers';
const torchBackend = (backend: Backend = ONE): TorchBackend =>
  new TorchBackend({ python: PYTHON, backend, device: 'cpu', threads: 1, workDir: null, engine: ENGINE, log: () => undefined });

const gpt2 = gptConfig({ vocabSize: 23, nPositions: 32, nEmbd: 16, nLayer: 2, nHead: 2 });
const qwen2 = llamaConfig({
  vocabSize: 23, nPositions: 32, nEmbd: 16, nLayer: 2, nHead: 4, nKvHead: 2, nInner: 24, modelType: 'qwen2', qkvBias: true,
});

/** A random right-padded batch of `rows` rows (prompt then response, mask on the response), with A-LoL's inputs. */
function randomBatch(cfg: ModelConfig, rows: number, t: number, seed: number): TrainBatch {
  const rng = new Rng(seed);
  const ids = new BigInt64Array(rows * t);
  const targets = new BigInt64Array(rows * t);
  const mask = new Float32Array(rows * t);
  const ref = new Float32Array(rows * t);
  for (let r = 0; r < rows; r++) {
    const len = t - (r % 3); // some padding
    const prompt = 2 + (r % 2);
    for (let j = 0; j < len; j++) {
      ids[r * t + j] = BigInt(rng.int(cfg.vocabSize));
      targets[r * t + j] = BigInt(rng.int(cfg.vocabSize));
      if (j + 1 >= prompt) {
        mask[r * t + j] = 1;
        ref[r * t + j] = -Math.log(cfg.vocabSize) + 0.3 * rng.normal();
      }
    }
  }
  const coef = Float32Array.from({ length: rows }, (_, i) => (i % 4 === 3 ? 0 : 0.2 + 0.3 * i));
  const exampleWeight = new Float32Array(rows).fill(1 / rows);
  return { rows, seqLen: t, ids, targets, mask, refTokenLogp: ref, coef, exampleWeight };
}

const specOf = (variant: 'nll' | 'a_lol' | 'a_lol_seq' | 'dpo', rows: number): PolicyTrainerSpec => ({
  objective: variant === 'nll' ? { kind: 'nll' } : { kind: 'variant', variant, settings: { clipEps: 0.2, klBeta: 0.1, dpoBeta: 0.1 } },
  rows,
  adamw: { ...DEFAULT_ADAMW, weightDecay: 0.05, gradClip: 0.5 },
});

/** Largest |a - b| / max(|b|, floor) over two weights maps. */
function worstDiff(a: ReadonlyMap<string, Float32Array>, b: ReadonlyMap<string, Float32Array>, floor = 1e-2): number {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  let worst = 0;
  for (const [name, x] of a) {
    const y = b.get(name) as Float32Array;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / Math.max(Math.abs(y[i]), floor));
  }
  return worst;
}

/** How far apart two trainers' updates from the same start w0 are: ||(a - w0) - (b - w0)|| / ||b - w0||. */
type Weights = ReadonlyMap<string, Float32Array>;
function updateDiff(a: Weights, b: Weights, w0: Weights): number {
  const moved = (w: ReadonlyMap<string, Float32Array>) =>
    new Map([...w].map(([n, v]) => [n, v.map((z, i) => z - (w0.get(n) as Float32Array)[i])]));
  return normRelDiff(moved(a), moved(b));
}

/** ||a - b|| / ||b|| over all entries of two gradient maps. */
function normRelDiff(a: ReadonlyMap<string, Float32Array>, b: ReadonlyMap<string, Float32Array>): number {
  let d = 0;
  let n = 0;
  for (const [name, y] of b) {
    const x = a.get(name);
    assert.ok(x, `gradient of ${name}`);
    for (let i = 0; i < y.length; i++) {
      d += (x[i] - y[i]) ** 2;
      n += y[i] ** 2;
    }
  }
  return Math.sqrt(d / n);
}

describe('the PyTorch backend', { skip: skip || undefined }, () => {
  let torch: TorchBackend;
  before(() => {
    torch = torchBackend();
  });
  after(() => torch.release());

  describe('the worker protocol', () => {
    it('starts and says its protocol, versions and device', async () => {
      const info = await torch.start();
      assert.equal(info.protocol, 1);
      assert.equal(info.world, 1);
      assert.equal(info.device, 'cpu');
      assert.match(String(info.versions.torch), /^\d+\.\d+/);
    });

    it('refuses an unknown command, an unknown model and a missing argument, and goes on answering', async () => {
      await assert.rejects(torch.request('no/such'), (e: Error) => e instanceof AlolError && /unknown command "no\/such"/.test(e.message));
      await assert.rejects(torch.request('generate', { model: 'm999', prompts: [[1]], maxNewTokens: 1 }), /unknown model "m999"/);
      await assert.rejects(torch.request('model/load', { model: 'x' }), /model\/load: the command lacks "dir"/);
      await assert.rejects(torch.request('model/load', { model: 'x', dir: '/nonexistent' }), /\/nonexistent: no config\.json/);
      assert.equal((await torch.request('hello')).protocol, 1);
    });

    it('a missing interpreter is a clear error naming it and the setting', async () => {
      const b = new TorchBackend({ python: '/no/such/python3', backend: ONE, device: 'cpu', threads: 1, workDir: null });
      await assert.rejects(b.start(), (e: Error) => e instanceof AlolError && /"\/no\/such\/python3" cannot be run/.test(e.message)
        && /alolStudio\.python/.test(e.message));
      await b.release();
    });

    it('a worker that dies fails the next command with a clear error instead of hanging', async () => {
      const b = torchBackend();
      const info = await b.start();
      process.kill(info.pid, 'SIGKILL');
      // the exit reaches the client as an event; every command from then on is refused with the reason
      await assert.rejects(
        (async () => {
          for (;;) await b.request('hello');
        })(),
        (e: Error) => e instanceof AlolError && /the PyTorch worker \(.*\) was killed \(SIGKILL\)/.test(e.message),
      );
      await b.release();
    });
  });

  describe('losses against the golden values (test/golden/, independent PyTorch float64)', () => {
    const check = async (variant: string, settings: object, feeds: Record<string, { data: Float32Array; dims: number[] }>,
      want: { loss: number; mean_weight: number; clip_fraction: number; grad: number[][] }, where: string) => {
      const tensors = Object.entries(feeds).map(([n, f]) =>
        float32Tensor(['kl_logp', 'kl_ref_logp', 'pro_after', 'pro_temp'].includes(n) ? `extra.${n}` : n, f.dims, f.data));
      const { reply, out } = await torch.exchange('loss/eval', { variant, settings }, tensors);
      const grad = out.get('grad') as Float32Array;
      const cmp = (what: string, g: number, w: number) =>
        assert.ok(relErr(g, w) <= TOL, `${where} ${what}: got ${g}, golden ${w} (relative error ${relErr(g, w).toExponential(2)})`);
      cmp('loss', reply.loss as number, want.loss);
      cmp('mean_weight', reply.meanWeight as number, want.mean_weight);
      cmp('clip_fraction', reply.clipFraction as number, want.clip_fraction);
      want.grad.flat().forEach((w, i) => cmp(`d_token_logp[${i}]`, grad[i], w));
    };
    it('every A-LoL variant on every case: loss, d loss / d token_logp, mean weight, clip fraction', async () => {
      let n = 0;
      for (const c of alolGolden().cases) {
        for (const [variant, want] of Object.entries(c.expected)) {
          await check(variant, c.settings, alolFeeds(c, variant as never), want, `${c.name}/${variant}`);
          n++;
        }
      }
      assert.ok(n >= 25, `${n} golden runs`);
    });
    it('every baseline (filtered_bc, rwr, awr, kto, qrpo, pro) with inputs made by the pipeline\'s helpers', async () => {
      const seen = new Set<string>();
      for (const c of baselineGolden().cases) {
        for (const run of c.runs) {
          await check(run.variant, baselineSettings(run), baselineFeeds(c, run), run, `${c.name}/${run.variant} (${run.label})`);
          seen.add(run.variant);
        }
      }
      assert.deepEqual([...seen].sort(), ['awr', 'filtered_bc', 'kto', 'pro', 'qrpo', 'rwr']);
    });
  });

  for (const fixture of ['gpt2-tiny-independent', 'llama-tiny-independent', 'qwen2-tiny-independent']) {
    describe(`the shared fixture ${fixture}`, () => {
      it('response log-probs match expected_logprobs.json (1e-3 per token, 1e-4 relative in sum)', async () => {
        const model = await loadModelFolder(sharedPath('fixtures', fixture, 'model'));
        const tok = loadTokenizer(model.tokenizerJson, `${fixture} tokenizer.json`);
        const expected = JSON.parse(readFileSync(sharedPath('fixtures', fixture, 'expected_logprobs.json'), 'utf8')) as {
          prompt: string; response: string; logprob: number; tokens: number; token_logprobs: number[];
        }[];
        const rows = expected.map((e) => ({ prompt: tok.encode(e.prompt), response: tok.encode(e.response) }));
        const written = torch.modelFoldersWritten;
        const got = await torch.tokenLogprobs(model, rows, { batchSize: 3, addEos: false, eosTokenId: tok.eosTokenId });
        assert.equal(torch.modelFoldersWritten, written, 'the worker read the fixture\'s own folder (no copy written)');
        expected.forEach((e, i) => {
          assert.equal(got[i].tokens, e.tokens, `row ${i}: token count`);
          e.token_logprobs.forEach((lp, k) => assert.ok(Math.abs(lp - got[i].tokenLogprobs[k]) <= 1e-3, `row ${i} token ${k}`));
          assert.ok(Math.abs(got[i].logprob - e.logprob) <= 1e-4 * Math.abs(e.logprob), `row ${i}: ${got[i].logprob} vs ${e.logprob}`);
        });
      });

      it('greedy continuations match expected.json; prompt hidden states match the built-in engine (1e-4)', async () => {
        const model = await loadModelFolder(sharedPath('fixtures', fixture, 'model'));
        const tok = loadTokenizer(model.tokenizerJson, `${fixture} tokenizer.json`);
        const expected = JSON.parse(readFileSync(sharedPath('fixtures', fixture, 'expected.json'), 'utf8')) as {
          prompt: string; max_new_tokens: number; text: string;
        }[];
        const gen = torch.generator(model, tok);
        const prompts = expected.map((e) => tok.encode(e.prompt));
        const out = await gen.generate(prompts, { maxNewTokens: expected[0].max_new_tokens, temperature: 0 });
        assert.deepEqual(out.map((o) => o.text), expected.map((e) => e.text));
        const ort = new OrtBackend({ threads: 1 });
        try {
          const [a, b] = [await torch.promptHidden(model, prompts, 2), await ort.promptHidden(model, prompts, 2)];
          a.forEach((h, i) => {
            assert.equal(h.length, b[i].length);
            h.forEach((x, k) => assert.ok(Math.abs(x - b[i][k]) <= 1e-4 * Math.max(1, Math.abs(b[i][k])), `prompt ${i} [${k}]`));
          });
        } finally {
          await ort.release();
        }
      });
    });
  }

  it('4-bit QLoRA (nf4) where bitsandbytes, transformers or a GPU is missing: the worker refuses to start and says what is missing',
    { skip: spawnSync(PYTHON, ['-c', 'import bitsandbytes, transformers, peft, torch; assert torch.cuda.is_available()']).status === 0
      ? 'this interpreter has all nf4 needs' : undefined }, async () => {
      const b = torchBackend({ ...ONE, quantization: 'nf4' });
      await assert.rejects(b.start(), (e: Error) => e instanceof AlolError
        && /could not start: backend\.quantization "nf4" \(4-bit QLoRA\) needs/.test(e.message)
        && /(cannot import [a-z, ]+ \(pip install|needs a CUDA device)/.test(e.message));
      await b.release();
    });

  it('generation ends at EOS or a stop string, as the built-in generator', () => {
    const detok = { decode: (ids: readonly number[]) => ids.map((i) => String.fromCharCode(97 + i)).join(''), eosTokenId: 9 };
    assert.deepEqual(finishGeneration([0, 1, 9, 2], [9], [], detok), { tokens: [0, 1], text: 'ab', finishReason: 'eos' });
    assert.deepEqual(finishGeneration([0, 1, 2, 3], [9], ['cd'], detok), { tokens: [0, 1, 2, 3], text: 'ab', finishReason: 'stop' });
    assert.deepEqual(finishGeneration([0, 1, 2], [9], ['x'], detok), { tokens: [0, 1, 2], text: 'abc', finishReason: 'length' });
  });

  for (const [name, cfg] of [['GPT-2', gpt2], ['Qwen2 (GQA, biases)', qwen2]] as const) {
    describe(`training ${name} equals the built-in engine on the same weights and batches`, () => {
      const model: ModelWeights = { config: cfg, params: initParams(cfg, 7) };
      const run = async (trainer: PolicyTrainer, variant: string) => {
        const stats = [];
        for (let s = 0; s < 3; s++) {
          // nll: two micro-batches (gradient accumulation)
          const micro = [randomBatch(cfg, 4, 12, 10 + s), ...(variant === 'nll' ? [randomBatch(cfg, 4, 12, 20 + s)] : [])];
          stats.push(await trainer.update(micro, 1e-2));
        }
        return { stats, weights: await trainer.weights(), logp: await trainer.logprobs(randomBatch(cfg, 4, 12, 99)) };
      };
      for (const variant of ['nll', 'a_lol', 'a_lol_seq', 'dpo'] as const) {
        it(`${variant}: losses, gradient norms, importance-weight statistics and weights after 3 updates`, async () => {
          const ort = new OrtBackend({ threads: 1 });
          try {
            const [a, b] = [torch.policyTrainer(model, specOf(variant, 4)), ort.policyTrainer(model, specOf(variant, 4))];
            const [x, y] = [await run(a, variant), await run(b, variant)];
            await a.dispose();
            assert.equal(a.step, 3);
            x.stats.forEach((s, k) => {
              const w = y.stats[k];
              assert.ok(relErr(s.loss, w.loss) < 1e-4, `step ${k + 1} loss ${s.loss} vs ${w.loss}`);
              assert.ok(relErr(s.gradNorm, w.gradNorm) < 1e-4, `step ${k + 1} grad norm ${s.gradNorm} vs ${w.gradNorm}`);
              for (const key of ['mean_weight', 'clip_fraction']) {
                assert.ok(Math.abs((s.extra[key] ?? 0) - (w.extra[key] ?? 0)) < 1e-4, `step ${k + 1} ${key}`);
              }
            });
            if (variant === 'a_lol') assert.ok(y.stats.some((s) => (s.extra.clip_fraction ?? 0) > 0), 'the clip bites (the test sees it)');
            // AdamW divides by sqrt(v): entries whose gradient is at float32 noise level move by noise, so the
            // updates are compared as a whole (measured ~1e-5 on both models)
            const d = updateDiff(x.weights, y.weights, model.params);
            assert.ok(d < 1e-4, `the updates differ by ${d.toExponential(2)} (relative, in norm)`);
            assert.ok(worstDiff(x.weights, model.params) > 1e-3, 'the weights moved');
            x.logp.token.forEach((v, i) => assert.ok(Math.abs(v - y.logp.token[i]) < 1e-4, `log-prob [${i}]`));
          } finally {
            await ort.release();
          }
        });
      }

      it('LoRA: adapters only, equal to the built-in engine; state() then loadState() continues identically', async () => {
        const spec = resolveLora(cfg, { r: 2, alpha: 4, dropout: 0, targets: 'all-linear' });
        const lora = { spec, init: initLoraParams(cfg, spec, 3), seed: 1 };
        const ort = new OrtBackend({ threads: 1 });
        try {
          const trainSpec = { ...specOf('a_lol', 4), lora };
          const [a, b] = [torch.policyTrainer(model, trainSpec), ort.policyTrainer(model, trainSpec)];
          const [x, y] = [await run(a, 'a_lol'), await run(b, 'a_lol')];
          assert.deepEqual([...x.weights.keys()].sort(), [...lora.init.keys()].sort());
          const d = updateDiff(x.weights, y.weights, lora.init);
          assert.ok(d < 1e-4, `the adapters' updates differ by ${d.toExponential(2)} (relative, in norm)`);
          // a checkpoint's state into a fresh trainer: the next update is the same
          const saved = await a.state();
          assert.equal(saved.optimizer.size, 2 * saved.params.size);
          const c = torch.policyTrainer(model, { ...specOf('a_lol', 4), lora });
          await c.loadState(saved, a.step);
          const next = randomBatch(cfg, 4, 12, 50);
          const [sa, sc] = [await a.update([next], 1e-2), await c.update([next], 1e-2)];
          assert.equal(sa.loss, sc.loss);
          assert.equal(worstDiff(await a.weights(), await c.weights()), 0);
          assert.equal(c.step, a.step);
          await a.dispose();
          await c.dispose();
        } finally {
          await ort.release();
        }
      });
    });
  }

  it('LoRA shares its model\'s weights: no second copy; that model stays the reference (adapters off); dispose restores it', async () => {
    const model: ModelWeights = { config: qwen2, params: initParams(qwen2, 11) };
    const rng = new Rng(8);
    const rows = Array.from({ length: 5 }, () => ({ prompt: [1, 2, 3], response: Array.from({ length: 6 }, () => rng.int(23)) }));
    const request = { batchSize: 5, addEos: false, eosTokenId: null };
    const ref = await torch.tokenLogprobs(model, rows, request);
    const copies = async () => (await torch.request('hello')).modelCopies as number;
    const before = await copies();
    const spec = resolveLora(qwen2, { r: 2, alpha: 4, dropout: 0, targets: 'all-linear' });
    const lora = { spec, init: initLoraParams(qwen2, spec, 3), seed: 1 };
    const train = async () => {
      const t = torch.policyTrainer(model, { ...specOf('a_lol', 4), lora }) as TorchPolicyTrainer;
      const first = await t.update([randomBatch(qwen2, 4, 12, 60)], 5e-2);
      await t.update([randomBatch(qwen2, 4, 12, 61)], 5e-2);
      return { t, first };
    };
    const { t, first } = await train();
    assert.equal(await copies(), before, 'the LoRA trainer loaded no copy of the base');
    const during = await torch.tokenLogprobs(model, rows, request);
    const values = (x: typeof ref) => x.map((r) => [...r.tokenLogprobs]);
    assert.deepEqual(values(during), values(ref), 'the reference computes without adapters');
    const batch = randomBatch(qwen2, 4, 12, 62);
    const [policy, base] = [await t.logprobs(batch), await torch.batchLogprobs(await torch.modelHandle(model), batch)];
    assert.ok(policy.seq.some((x, i) => Math.abs(x - base.seq[i]) > 1e-4), 'the policy (adapters on) has moved from the reference');
    await t.dispose();
    const after = await torch.tokenLogprobs(model, rows, request);
    assert.deepEqual(values(after), values(ref));
    // a second LoRA trainer on the restored model starts where the first did
    const again = await train();
    assert.equal(again.first.loss, first.loss);
    assert.equal(again.first.gradNorm, first.gradNorm);
    await again.t.dispose();
  });

  it('an evaluation right after a step reuses the trainer\'s weights in the worker (no folder written)', async () => {
    const model: ModelWeights = { config: gpt2, params: initParams(gpt2, 7) };
    const t = torch.policyTrainer(model, specOf('nll', 4)) as TorchPolicyTrainer;
    await t.update([randomBatch(gpt2, 4, 12, 1)], 1e-2);
    const weights = { config: gpt2, params: await t.weights() };
    assert.equal(await torch.modelHandle(weights), t.handle);
    await t.update([randomBatch(gpt2, 4, 12, 2)], 1e-2);
    const written = torch.modelFoldersWritten;
    assert.notEqual(await torch.modelHandle(weights), t.handle, 'a later step: those weights are no longer the trainer\'s');
    assert.equal(torch.modelFoldersWritten, written + 1, 'weights made here go to the worker as a folder written for it');
    await t.dispose();
  });

  describe('torch.distributed: 2 processes (gloo) equal 1 process on the same global batch', () => {
    let two: TorchBackend;
    before(() => {
      two = torchBackend({ ...ONE, launcher: 'torchrun', processes: 2 });
    });
    after(() => two.release());

    it('the worker reports a world of 2; a second 2-process worker starts beside it (its own rendezvous port)', async () => {
      assert.equal((await two.start()).world, 2);
      const other = torchBackend({ ...ONE, launcher: 'torchrun', processes: 2 });
      try {
        assert.equal((await other.start()).world, 2);
      } finally {
        await other.release();
      }
    });

    for (const variant of ['nll', 'a_lol', 'dpo'] as const) {
      it(`${variant}: gradients within 1e-6 (relative, in norm), then identical updates on both sides`, async () => {
        const model: ModelWeights = { config: qwen2, params: initParams(qwen2, 5) };
        const micro = [randomBatch(qwen2, 6, 12, 31), ...(variant === 'nll' ? [randomBatch(qwen2, 6, 12, 32)] : [])];
        const [a, b] = [
          two.policyTrainer(model, specOf(variant, 6)) as TorchPolicyTrainer,
          torch.policyTrainer(model, specOf(variant, 6)) as TorchPolicyTrainer,
        ];
        const [ga, gb] = [await a.gradients(micro), await b.gradients(micro)];
        const d = normRelDiff(ga.grads, gb.grads);
        assert.ok(d <= 1e-6, `2 processes vs 1: relative gradient difference ${d.toExponential(2)}`);
        assert.ok(relErr(ga.loss, gb.loss) <= 1e-6, `loss ${ga.loss} vs ${gb.loss}`);
        const [sa, sb] = [await a.update(micro, 1e-2), await b.update(micro, 1e-2)];
        assert.ok(relErr(sa.gradNorm, sb.gradNorm) <= 1e-6, `grad norm ${sa.gradNorm} vs ${sb.gradNorm}`);
        const u = updateDiff(await a.weights(), await b.weights(), model.params);
        assert.ok(u <= 1e-5, `the updates differ by ${u.toExponential(2)} (relative, in norm)`);
        await a.dispose();
        await b.dispose();
      });
    }

    it('inference is split over the ranks: log-probs, hidden states and greedy generations equal 1 process', async () => {
      const model: ModelWeights = { config: qwen2, params: initParams(qwen2, 9) };
      const rng = new Rng(4);
      const rows = Array.from({ length: 7 }, (_, i) => ({
        prompt: Array.from({ length: 2 + i }, () => rng.int(23)), response: Array.from({ length: 3 + (i % 3) }, () => rng.int(23)),
      }));
      const request = { batchSize: 5, addEos: false, eosTokenId: null };
      const [a, b] = [await two.tokenLogprobs(model, rows, request), await torch.tokenLogprobs(model, rows, request)];
      a.forEach((r, i) => r.tokenLogprobs.forEach((x, k) => assert.ok(Math.abs(x - b[i].tokenLogprobs[k]) <= 1e-5, `row ${i} token ${k}`)));
      const prompts = rows.map((r) => r.prompt);
      const [ha, hb] = [await two.promptHidden(model, prompts, 5), await torch.promptHidden(model, prompts, 5)];
      ha.forEach((h, i) => h.forEach((x, k) => assert.ok(Math.abs(x - hb[i][k]) <= 1e-5, `hidden ${i} [${k}]`)));
      const detok = { decode: (x: readonly number[]) => x.join(' '), eosTokenId: null };
      const greedy = (c: TorchBackend) => c.generator(model, detok).generate(prompts, { maxNewTokens: 5, temperature: 0 });
      const [ga, gb] = [await greedy(two), await greedy(torch)];
      assert.deepEqual(ga.map((g) => g.tokens), gb.map((g) => g.tokens));
    });

    it('a batch smaller than the process count is refused before any compute', async () => {
      const model: ModelWeights = { config: qwen2, params: initParams(qwen2, 5) };
      const t = two.policyTrainer(model, specOf('nll', 1));
      await assert.rejects(t.update([randomBatch(qwen2, 1, 12, 1)], 1e-2), /1 rows per batch cannot be split over 2 processes/);
    });
  });
});
